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
    assert_eq!(lines.len(), 3, "{out}");
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
