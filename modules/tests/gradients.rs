//! Tape == closed form, and closed form == f64 finite differences, for every unit at random
//! points of all nine interpolation ranges and at its singular points.

use modules::audit::{PointAudit, audit_coefficients, audit_point, standard_points};
use modules::{ObjectiveSpec, Unit};

fn describe(audit: &PointAudit) -> String {
    let mut lines = vec![format!(
        "{}: loss tape {} closed {} ({})",
        audit.label,
        audit.loss_tape,
        audit.loss_closed.value,
        if audit.loss_ok { "ok" } else { "MISMATCH" }
    )];
    for e in audit.entries.iter().filter(|e| !e.passed()) {
        lines.push(format!(
            "  {}: tape {:e} closed f32 {:e} closed f64 {:e} (tol {:e}) fd {:e} ok: tape {} f32 {}",
            e.param,
            e.tape,
            e.closed_f32,
            e.closed_f64,
            e.tolerance,
            e.fd,
            e.tape_ok,
            e.closed_f32_ok
        ));
        for t in e.terms.iter().filter(|t| !t.ok) {
            lines.push(format!(
                "    term {}: closed {:e} fd central {:e} left {:e} right {:e} (err {:e}, tol {:e})",
                t.term, t.closed, t.fd.central, t.fd.left, t.fd.right, t.fd.error, t.tolerance
            ));
        }
    }
    lines.join("\n")
}

fn audit_unit(name: &str, inputs: usize, outputs: usize) {
    let unit = Unit::by_name(name, inputs, outputs).unwrap();
    let mut rng = rand_pcg::Pcg32::new(inputs as u64 * 1000 + outputs as u64, 7);
    let spec = ObjectiveSpec::everything();
    let coefficients = audit_coefficients();
    let points = standard_points(&unit, 8, &mut rng);
    let audits: Vec<PointAudit> = points
        .iter()
        .map(|p| audit_point(&unit, &spec, &coefficients, p))
        .collect();
    // Every comparison is a real one: finite values, finite tolerances (except at the
    // singular points, where the audit checks that every evaluation is non-finite alike).
    for (audit, _) in audits.iter().zip(&points).filter(|(_, p)| !p.singular) {
        assert!(
            audit.loss_closed.value.is_finite(),
            "{name}: {} has a non-finite loss",
            audit.label
        );
        for e in &audit.entries {
            assert!(
                e.closed_f64.is_finite() && e.tolerance.is_finite(),
                "{name}: {} {}",
                audit.label,
                e.param
            );
        }
    }
    let failures: Vec<String> = audits
        .iter()
        .filter(|a| !a.passed())
        .map(describe)
        .collect();
    assert!(
        failures.is_empty(),
        "{name} ({inputs} -> {outputs}):\n{}",
        failures.join("\n")
    );
}

macro_rules! unit_tests {
    ($($test:ident: $name:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                audit_unit($name, 2, 1);
                audit_unit($name, 10, 1);
                audit_unit($name, 3, 2);
            }
        )*
    };
}

unit_tests! {
    real_npu: "realnpu",
    npu: "npu",
    nru: "nru",
    nru_separate_sign: "nru-sepsign",
    nmru: "nmru",
    sign_nmru: "sign-nmru",
    gated_sign_nmru: "gated-sign-nmru",
    nau: "nau",
    nmu: "nmu",
    nac: "nac",
    mnac: "mnac",
    nalu: "nalu",
}

#[test]
fn the_audit_rejects_a_wrong_gradient() {
    // Over the random points of the nine ranges, a gradient off by one part in a thousand is
    // outside the f32 tolerance almost everywhere; only genuinely ill-conditioned elements
    // (a tanh(1000 w) close to saturation) may hide it.
    let mut detected = 0;
    let mut total = 0;
    for name in ["nru", "sign-nmru", "realnpu"] {
        let unit = Unit::by_name(name, 2, 1).unwrap();
        let mut rng = rand_pcg::Pcg32::new(3, 7);
        for point in &standard_points(&unit, 8, &mut rng)[..9] {
            let audit = audit_point(
                &unit,
                &ObjectiveSpec::everything(),
                &audit_coefficients(),
                point,
            );
            for e in &audit.entries {
                let wrong = f64::from(e.tape) * (1.0 + 1e-3);
                total += 1;
                if (wrong - e.closed_f64).abs() > e.tolerance {
                    detected += 1;
                }
            }
        }
    }
    assert!(
        detected * 10 >= total * 9,
        "only {detected} of {total} wrong gradients detected"
    );
}

#[test]
fn both_derivative_conventions_agree_between_tape_and_closed_form() {
    use engine::Conventions;
    for conventions in Conventions::ALL {
        let spec = ObjectiveSpec {
            conventions,
            ..ObjectiveSpec::everything()
        };
        for name in [
            "realnpu",
            "npu",
            "nmru",
            "gated-sign-nmru",
            "nru",
            "nau",
            "nmu",
        ] {
            let unit = Unit::by_name(name, 2, 1).unwrap();
            let mut rng = rand_pcg::Pcg32::new(11, 7);
            for point in standard_points(&unit, 8, &mut rng) {
                let audit = audit_point(&unit, &spec, &audit_coefficients(), &point);
                assert!(
                    audit.passed(),
                    "{name} ({conventions}):\n{}",
                    describe(&audit)
                );
            }
        }
    }
}

#[test]
fn a_gate_on_its_clamp_bound_learns_except_in_current_pytorch() {
    use engine::Conventions;
    // Real NPU, W = (1, -1), gates exactly at 1 (where the projection leaves them): the
    // data term's gradient reaches the gates through clamp(g, 0, 1) only if the bound passes
    let unit = Unit::by_name("realnpu", 2, 1).unwrap();
    let point = modules::audit::Point {
        label: "gates at 1".into(),
        params: vec![1.0, -1.0, 1.0, 1.0],
        x: vec![1.5, 1.25, 1.8, 1.1],
        t: vec![1.0, 1.0],
        singular: false,
    };
    let gate_gradients = |conventions| {
        let spec = ObjectiveSpec {
            conventions,
            ..ObjectiveSpec::data_only()
        };
        let audit = audit_point(&unit, &spec, &audit_coefficients(), &point);
        assert!(audit.passed(), "{}", describe(&audit));
        [audit.entries[2].tape, audit.entries[3].tape]
    };
    let paper = gate_gradients(Conventions::Paper);
    assert!(paper.iter().all(|g| g.abs() > 1e-3), "{paper:?}");
    assert_eq!(gate_gradients(Conventions::TorchCurrent), [0.0, 0.0]);
}

#[test]
fn the_regularised_out_of_bounds_mode_of_the_nru_and_nmru_family() {
    use modules::penalty::RegShape;
    use modules::units::OobMode;
    for name in ["nru", "nru-sepsign", "nmru", "sign-nmru", "gated-sign-nmru"] {
        for shape in [RegShape::Linear, RegShape::Squared] {
            let mut unit = Unit::by_name(name, 2, 1).unwrap();
            match &mut unit {
                Unit::Nru(u) => u.oob = OobMode::Regularized(shape),
                Unit::Nmru(u) => u.oob = OobMode::Regularized(shape),
                _ => unreachable!(),
            }
            let mut rng = rand_pcg::Pcg32::new(5, 7);
            let mut points = standard_points(&unit, 8, &mut rng);
            // weights beyond the clamp: the forward pass reads the bound, the W-OOB term pulls
            let mut outside = points[6].clone();
            outside.label = "weights outside the range".into();
            for (k, w) in outside.params.iter_mut().enumerate() {
                *w = if k % 2 == 0 { 1.3 } else { -0.4 };
            }
            points.push(outside);
            for point in &points {
                let audit = audit_point(
                    &unit,
                    &ObjectiveSpec::everything(),
                    &audit_coefficients(),
                    point,
                );
                assert!(audit.passed(), "{name} {shape:?}:\n{}", describe(&audit));
            }
            // no projection of W, and the sparsity error of the clamped weights
            let mut params = vec![1.3f32; unit.param_len()];
            unit.project(&mut params);
            assert_eq!(params[0], 1.3, "{name}: W is not projected");
            assert_eq!(unit.sparsity(&[1.3; 8][..unit.param_len()]), 0.0, "{name}");
        }
    }
}
