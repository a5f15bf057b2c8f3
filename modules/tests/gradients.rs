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
    let audits: Vec<PointAudit> = standard_points(&unit, 8, &mut rng)
        .iter()
        .map(|p| audit_point(&unit, &spec, &coefficients, p))
        .collect();
    // Every comparison is a real one: finite values, finite tolerances.
    for audit in &audits {
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
