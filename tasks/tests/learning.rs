//! Short real training runs: each main module learns a / b on an easy range, from its
//! random initialisation to (close to) its gold solution.

use tasks::evaluate::{Formula, gold_params};
use tasks::train::preset::Preset;
use tasks::train::{Progress, Run, RunRecord, Settings, train_together};

fn learns(preset: &str, input_size: usize, seed: u32) {
    let mut s = Preset::by_name(preset).unwrap().settings(Some(input_size));
    s.seed = seed;
    s.max_iterations = 6_000;
    s.log_interval = 200;
    s.interpolation_range = "[1,2]".parse().unwrap();
    s.extrapolation_range = "[2,6]".parse().unwrap();
    let case = format!("{preset} in{input_size} seed {seed}");

    let run = Run::prepare(&s).unwrap();
    let mut losses = Vec::new();
    let record = run.train(&mut |p: &Progress| losses.push(p.loss));
    assert!(!record.diverged, "{case}");
    assert_eq!(record.history.len(), 31, "{case}");
    assert!(losses.iter().skip(1).all(|l| l.is_finite()), "{case}");

    // the loss on held-out data falls by orders of magnitude, the chosen unit extrapolates
    let first = record.history[0];
    let chosen = record.verdict.chosen;
    assert!(
        chosen.valid_mse < first.valid_mse * 1e-6,
        "{case}: validation MSE {} -> {}",
        first.valid_mse,
        chosen.valid_mse
    );
    assert!(
        first.test_mse > 1e-3,
        "{case}: untrained test MSE {}",
        first.test_mse
    );
    assert!(
        record.verdict.solved,
        "{case}: test MSE {}",
        chosen.test_mse
    );

    // the weights approach the gold solution (operands at the seed's positions)
    let data = tasks::data::TaskData::new(&s.task_spec(), seed).unwrap();
    let unit = s.unit().unwrap();
    let gold = gold_params(&unit, &Formula::of(&data).unwrap()).unwrap();
    let learned: Vec<f32> = record
        .chosen_params
        .iter()
        .flat_map(|t| t.values.iter().copied())
        .collect();
    let near = |got: f32, want: f32, what: &str| {
        assert!(
            (got - want).abs() < 0.02,
            "{case}: {what} = {got} (gold {want})"
        );
    };
    let n = input_size;
    match unit.name() {
        // an input is ignored through a closed gate or a zero weight
        "realnpu" => {
            for i in 0..n {
                if gold[n + i] != 0.0 {
                    near(learned[n + i], gold[n + i], &format!("g[{i}]"));
                    near(learned[i], gold[i], &format!("W[{i}]"));
                } else {
                    let ignored = learned[i].abs().min(learned[n + i].abs());
                    near(ignored, 0.0, &format!("min(|W[{i}]|, |g[{i}]|)"));
                }
            }
        }
        // selecting both x_i and 1/x_i cancels: compare the net exponent of each input
        "sign-nmru" => {
            for (i, &w) in learned[..2 * n].iter().enumerate() {
                near(w, w.round().clamp(0.0, 1.0), &format!("W[{i}] (discrete)"));
            }
            for i in 0..n {
                let net = |w: &[f32]| w[i] - w[n + i];
                near(net(&learned), net(&gold), &format!("net exponent of x{i}"));
            }
        }
        _ => {
            for (i, (&l, &g)) in learned.iter().zip(&gold).enumerate() {
                near(l, g, &format!("W[{i}]"));
            }
        }
    }
}

#[test]
fn nru_learns_division() {
    for (size, seed) in [(2, 0), (2, 1), (10, 0), (10, 3)] {
        learns("nru", size, seed);
    }
}

#[test]
fn nmru_learns_division() {
    for (size, seed) in [(2, 0), (2, 1), (10, 0), (10, 3)] {
        learns("nmru", size, seed);
    }
}

#[test]
fn real_npu_learns_division() {
    for (size, seed) in [(2, 0), (2, 1), (10, 0), (10, 3)] {
        learns("realnpu-modified", size, seed);
    }
}

#[test]
fn runs_trained_together_equal_runs_trained_alone() {
    // three models on one data stream, one of which stops early
    let mut settings: Vec<Settings> = ["nru", "nmru", "realnpu-modified"]
        .iter()
        .map(|p| {
            let mut s = Preset::by_name(p).unwrap().settings(Some(2));
            s.interpolation_range = "[-2,2]".parse().unwrap();
            s.extrapolation_range = "[[-6,-2],[2,6]]".parse().unwrap();
            s.seed = 7;
            s.max_iterations = 3000;
            s
        })
        .collect();
    settings[1].max_iterations = 2000;
    let alone: Vec<RunRecord> = settings
        .iter()
        .map(|s| Run::prepare(s).unwrap().train(&mut |_| {}))
        .collect();
    let together = train_together(settings.iter().map(|s| Run::prepare(s).unwrap()).collect());
    assert_eq!(together.len(), 3);
    for (a, b) in alone.iter().zip(&together) {
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap(),
            "{}",
            a.settings.layer_type
        );
    }
    assert_eq!(together[1].updates, 2001);
}
