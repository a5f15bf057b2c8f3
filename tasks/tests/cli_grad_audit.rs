//! `nalm grad-audit` as a user runs it.

mod common;
use common::nalm;

#[test]
fn audits_every_unit_and_agrees() {
    let (code, out, err) = nalm(&["grad-audit", "--module", "all", "--input-size", "2"]);
    assert_eq!(code, 0, "{err}\n{out}");
    for name in [
        "realnpu",
        "npu",
        "nru",
        "nru-sepsign",
        "nmru",
        "sign-nmru",
        "gated-sign-nmru",
        "nau",
        "nmu",
        "nac",
        "mnac",
        "nalu",
    ] {
        assert!(
            out.contains(&format!("== {name} (2 -> 1)")),
            "{name} missing"
        );
    }
    assert!(out.contains("range 8 U[10,20]") && out.contains("(kink)"));
    assert!(out.contains("tape, closed form and finite differences agree"));
    assert!(!out.contains("FAIL"));
}

#[test]
fn audits_a_chosen_point_as_csv() {
    let (code, out, err) = nalm(&[
        "grad-audit",
        "--module",
        "nru",
        "--input-size",
        "2",
        "--x",
        "1.5,2",
        "--w",
        "1,-1",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // the two weights, then the two inputs of the one sample
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("module,inputs,outputs,point,param,tape_f32"));
    // y = 1.5 / 2 = t: the data term vanishes. The W regulariser is 0 at |w| = 1 (a kink);
    // z contributes -sgn(w) xbar^2 / 2 * 0.5 and Lp 0.25 sgn(w):
    // W[0] = -(1.5^2) / 2 * 0.5 + 0.25 = -0.3125, W[1] = (2^2) / 2 * 0.5 - 0.25 = 0.75.
    assert!(
        lines[1].contains("nru,2,1,") && lines[1].contains(",W[0],-3.125e-1,"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(",W[1],7.5e-1,"), "{}", lines[2]);
    // the input gradients are the data term's, 0 where the output hits its target
    assert!(lines[3].contains(",\"x[0,0]\",0e0,"), "{}", lines[3]);
    assert!(
        lines[4].contains(",\"x[0,1]\",") && lines[4].ends_with(",true"),
        "{}",
        lines[4]
    );
}

#[test]
fn a_preset_is_audited_with_its_own_loss_terms_and_coefficients() {
    // the NRU preset at iteration 0: no W regulariser yet (its window starts later), so at the
    // gold point of a batch whose targets are met every gradient is the z term's or 0
    let (code, out, err) = nalm(&[
        "grad-audit",
        "--preset",
        "nru",
        "--input-size",
        "2",
        "--iteration",
        "0",
        "--x=1.5,-2",
        "--w=1,-1",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(out.lines().skip(1).all(|l| l.ends_with(",true")), "{out}");
    // with a torch-current convention flag the command still runs and agrees
    let (code, _, err) = nalm(&[
        "grad-audit",
        "--preset",
        "realnpu-modified",
        "--input-size",
        "2",
        "--conventions",
        "torch-current",
        "--x=1.5,2",
        "--w=1,-1,1,1",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = nalm(&["grad-audit", "--preset", "nope", "--input-size", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("--preset"), "{err}");
}

#[test]
fn bad_arguments_exit_with_code_2_and_name_the_flag() {
    let (code, _, err) = nalm(&["grad-audit", "--module", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("--module"), "{err}");
    let (code, _, err) = nalm(&[
        "grad-audit",
        "--module",
        "nru",
        "--input-size",
        "2",
        "--w",
        "1,2,3",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--w") && err.contains("2 parameters"), "{err}");
    let (code, _, err) = nalm(&[
        "grad-audit",
        "--module",
        "nru",
        "--input-size",
        "2",
        "--x",
        "1",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--x"), "{err}");
}
