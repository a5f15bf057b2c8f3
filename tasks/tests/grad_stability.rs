//! The gradient stability lab: singular cases are found, well-conditioned ones are clean,
//! and a printed worst point replays through `nalm grad-audit` to the same numbers.

use engine::Tracked;
use engine::gradcheck::{agrees, fd_tolerance};
use modules::objective::closed_form_gradient;
use serde_json::json;
use tasks::stability::lab::{LabModel, measure, replay_command};
use tasks::stability::{CellPlan, ParamSource, Probe};
use tasks::sweep::plan::Setting;
use tasks::train::Changes;
use tasks::train::run::coefficients_at;

fn model(preset: &str) -> LabModel {
    LabModel::new(preset, 2, &Changes::new(), engine::Conventions::Paper).unwrap()
}

fn probe(preset: &str) -> (LabModel, Probe) {
    let m = model(preset);
    let unit = m.settings.unit().unwrap();
    let probe = Probe::new(
        unit,
        m.settings.objective(),
        coefficients_at(&m.settings, 0),
    )
    .unwrap();
    (m, probe)
}

fn setting(label: &str, range: &str) -> Setting {
    let Some(changes) = json!({"interpolation-range": range, "extrapolation-range": range})
        .as_object()
        .cloned()
    else {
        unreachable!()
    };
    Setting {
        label: label.into(),
        changes,
    }
}

/// `a` and `b` hold the same values, NaN matching NaN and zeros matching by sign.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan())
}

#[test]
fn the_nru_input_gradient_at_zero_is_nan_on_the_tape_and_in_f64() {
    let (_, mut p) = probe("nru");
    // W = (0.3, -0.7): a power in (0, 1) at x = 0 has an infinite slope times a zero factor
    let g = p.gradients(&[0.3, -0.7], &[0.0, 1.5], 0.0);
    // the output is 0 (= the target), so the parameters' gradients are zeros; the input at
    // 0 gets NaN and the other a zero (the tape's carries the sign of its product)
    assert!(
        same_bits(&g.f32, &[0.0, 0.0, f32::NAN, -0.0]),
        "tape: {:?}",
        g.f32
    );
    let f64_as_f32: Vec<f32> = g.f64.iter().map(|&v| v as f32).collect();
    assert!(
        same_bits(&f64_as_f32, &[0.0, 0.0, f32::NAN, 0.0]),
        "closed form: {:?}",
        g.f64
    );
}

#[test]
fn the_nmru_reciprocal_at_minus_eps_gives_a_signed_infinite_input_gradient() {
    let (_, mut p) = probe("nmru");
    let w = [0.6, 0.3, 0.6, 0.3];
    let g = p.gradients(&w, &[-engine::EPS, 1.5], 1.0);
    // 1 / (x + EPS) is infinite: the output is infinite, the parameters' gradients NaN, and
    // the input's gradient, formed as the product of the other factors, -inf on the tape and
    // in the closed form alike (the reference code, dividing the output by the infinite
    // factor, gets NaN there: `modules/src/units/nmru.rs`)
    let nan = f32::NAN;
    let pinned = [nan, nan, nan, nan, f32::NEG_INFINITY, nan];
    assert!(same_bits(&g.f32, &pinned), "tape: {:?}", g.f32);
    let f64_as_f32: Vec<f32> = g.f64.iter().map(|&v| v as f32).collect();
    assert!(same_bits(&f64_as_f32, &pinned), "closed form: {:?}", g.f64);
}

#[test]
fn the_real_npu_with_open_gates_explodes_near_zero() {
    let (_, mut p) = probe("realnpu-modified");
    // W = (-1, 1) divides by the first input; with the gates at 1 it reads |x| + EPS, so at
    // x = 1e-7 the output is about 1.3e7 and d/dx ln(|x| + EPS) = 1 / (|x| + EPS) about 8e6
    let g = p.gradients(&[-1.0, 1.0, 1.0, 1.0], &[1e-7, 1.5], 0.0);
    let largest = g.f32.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(largest > 1e6, "{:?}", g.f32);
}

#[test]
fn a_cell_near_zero_reports_what_a_well_conditioned_cell_does_not() {
    let nru = model("nru");
    let cell = |s: Setting| {
        measure(
            &CellPlan {
                model: nru.clone(),
                setting: s,
                params: ParamSource::Init,
            },
            2000,
            0,
        )
        .unwrap()
    };
    let calm = cell(setting("U[1,2]", "[1,2]"));
    assert_eq!(calm.points, 2000);
    assert_eq!(calm.params.entries, 4000);
    assert_eq!(calm.inputs.entries, 4000);
    assert_eq!(calm.params.non_finite + calm.inputs.non_finite, 0);
    assert_eq!(calm.params.exploding, 0);
    assert!(calm.params.relative_error[2] < 1e-3, "{:?}", calm.params);
    // near 0 the NRU's factors |x|^w with w < 0 grow without bound
    let small = cell(setting("U[0,1e-4]", "[0,1e-4]"));
    let troubled = |h: &tasks::stability::Health| h.exploding + h.non_finite;
    assert!(
        troubled(&small.params) + troubled(&small.inputs) > 0,
        "{:?}",
        small.params
    );
    assert!(small.worst[0].severity > calm.worst[0].severity);
}

#[test]
fn well_conditioned_gradients_agree_within_the_tracked_rounding_bound() {
    for preset in ["nru", "nmru", "realnpu-modified", "realnpu-baseline"] {
        let m = model(preset);
        let unit = m.settings.unit().unwrap();
        let spec = m.settings.objective();
        let coefficients = coefficients_at(&m.settings, 0);
        let mut probe = Probe::new(unit.clone(), spec.clone(), coefficients.clone()).unwrap();
        let mut rng = <rand_pcg::Pcg64Mcg as rand_core::SeedableRng>::seed_from_u64(5);
        let mut params = vec![0.0; unit.param_len()];
        for k in 0..50 {
            unit.init(&mut rng, &mut params);
            let x = [1.0 + k as f32 / 50.0, 1.9 - k as f32 / 100.0];
            let t = x[0] / x[1];
            let g = probe.gradients(&params, &x, t);
            let (fd, loss) = probe.finite_differences(&params, &x, t);
            assert_eq!(fd.len(), g.f64.len());
            let lift = |v: &[f32]| v.iter().map(|&v| Tracked::exact(f64::from(v))).collect();
            let lifted: (Vec<Tracked>, Vec<Tracked>) = (lift(&params), lift(&x));
            let exact = closed_form_gradient(
                &unit,
                &spec,
                &lifted.0,
                &lifted.1,
                &[Tracked::exact(f64::from(t))],
                &coefficients,
            );
            let tracked: Vec<Tracked> = exact.params.into_iter().chain(exact.x).collect();
            for (j, (&got, &want)) in g.f32.iter().zip(&tracked).enumerate() {
                assert!(
                    agrees(got, want),
                    "{preset} point {k} entry {j}: tape {got}, closed form {} +- {}",
                    want.value,
                    want.absolute_error()
                );
                // the f64 closed form against finite differences of the f64 reference
                // evaluation, which shares no formula with it
                let (closed, d) = (g.f64[j], fd[j]);
                assert!(
                    d.admits(closed, fd_tolerance(&d, closed, loss)),
                    "{preset} point {k} entry {j}: f64 closed form {closed}, finite differences {d:?}"
                );
            }
        }
    }
}

/// The tape column of a `nalm grad-audit --format csv` run.
fn audited_tape_gradients(command: &str) -> Vec<f32> {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["nalm", "grad-audit"], "{command}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(&words[1..])
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let tape = headers.iter().position(|h| h == "tape_f32").unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[tape].parse::<f32>().unwrap())
        .collect()
}

#[test]
fn a_worst_point_replays_through_grad_audit_to_the_same_numbers() {
    for (preset, range) in [("nru", "[0,1e-2]"), ("realnpu-baseline", "[-0.2,-0.1]")] {
        let m = model(preset);
        let cell = measure(
            &CellPlan {
                model: m.clone(),
                setting: setting(range, range),
                params: ParamSource::Init,
            },
            300,
            3,
        )
        .unwrap();
        let worst = &cell.worst[0];
        let command = replay_command(&m, worst);
        let replayed = audited_tape_gradients(&command);
        assert_eq!(replayed.len(), worst.f32.len(), "{command}");
        for (j, (&a, &b)) in replayed.iter().zip(&worst.f32).enumerate() {
            assert!(
                a == b || (a.is_nan() && b.is_nan()),
                "{command}: entry {j} replays as {a}, the lab measured {b}"
            );
        }
    }
}
