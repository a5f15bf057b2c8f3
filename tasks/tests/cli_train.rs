//! `nalm train` as a user runs it.

mod common;
use common::{Scratch, nalm};

use std::path::Path;

use tasks::train::RunRecord;

fn scratch(name: &str) -> Scratch {
    Scratch::file("cli-train", name)
}

fn read_record(path: &Path) -> RunRecord {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_short_nru_run_writes_its_record_and_summary() {
    let out = scratch("nru.json");
    let csv = scratch("nru.csv");
    let (code, stdout, stderr) = nalm(&[
        "train",
        "--preset",
        "nru",
        "--interpolation-range",
        "[1,2]",
        "--extrapolation-range",
        "[2,6]",
        "--seed",
        "0",
        "--max-iterations",
        "3000",
        "--out",
        out.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("solved: yes"), "{stdout}");
    assert!(
        stdout.contains("W at the chosen step = [1.000000, -1.000000]"),
        "{stdout}"
    );

    let record = read_record(&out);
    assert_eq!(record.settings.preset.as_deref(), Some("nru"));
    assert_eq!(record.settings.learning_rate, 1.0);
    assert_eq!(record.updates, 3001);
    let steps: Vec<u64> = record.history.iter().map(|r| r.step).collect();
    assert_eq!(steps, vec![0, 1000, 2000, 3000]);
    assert!(record.verdict.solved && !record.diverged);
    assert_eq!(record.train_seed, 2_357_136_044);
    assert_eq!(record.final_params[0].name, "W");

    let table = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(table.lines().count(), 5);
    assert!(table.starts_with("step,valid_mse,test_mse,sparsity\n0,"));
}

#[test]
fn the_same_command_gives_the_same_record() {
    let run = |name: &str| {
        let out = scratch(name);
        let (code, _, stderr) = nalm(&[
            "train",
            "--preset",
            "realnpu-modified",
            "--input-size",
            "10",
            "--seed",
            "3",
            "--max-iterations",
            "2000",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        std::fs::read(&out).unwrap()
    };
    assert_eq!(run("a.json"), run("b.json"));
}

#[test]
fn flags_override_the_preset_and_the_spelling_alias_works() {
    let out = scratch("override.json");
    let (code, _, stderr) = nalm(&[
        "train",
        "--preset",
        "nmru",
        "--input-size",
        "10",
        "--learning-rate",
        "0.05",
        "--regularizer-scaling-start",
        "100",
        "--regualizer-scaling-end",
        "200",
        "--sample-distribution",
        "truncated-normal",
        "-1",
        "3",
        "-10",
        "3",
        "--interpolation-range",
        "[-5,10]",
        "--extrapolation-range",
        "[-15,-5]",
        "--max-iterations",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let s = read_record(&out).settings;
    assert_eq!(s.learning_rate, 0.05);
    assert_eq!(
        (s.regualizer_scaling_start, s.regualizer_scaling_end),
        (100, 200)
    );
    assert_eq!(s.max_iterations, 10);
    // the rest stays the preset's
    assert_eq!(s.clip_grad_norm, Some(1.0));
    assert_eq!(s.subset_ratio, 0.1);
    assert_eq!(
        s.sample_distribution.to_string(),
        "truncated-normal -1 3 -10 3"
    );
}

#[test]
fn bad_input_is_rejected_before_training_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--interpolation-range", "[1,2"], "--interpolation-range"),
        (&["--interpolation-range", "[2,1]"], "--interpolation-range"),
        (
            &["--extrapolation-range", "[[-6,-2],[2,7]]"],
            "--extrapolation-range",
        ),
        (&["--extrapolation-range", "[2,7]"], "--extrapolation-range"),
        (&["--preset", "nrux"], "--preset"),
        (&["--layer-type", "lstm"], "--layer-type"),
        (&["--input-size", "1"], "--subset-ratio"),
        (
            &["--input-size", "3", "--subset-ratio", "0.9"],
            "--subset-ratio",
        ),
        (&["--npu-clip", "all"], "--npu-clip"),
        (&["--learning-rate", "-1"], "--learning-rate"),
        (&["--sample-distribution", "gamma"], "--sample-distribution"),
        (
            &["--sample-distribution", "truncated-normal", "1", "2"],
            "--sample-distribution",
        ),
        (&["--seed", "-3"], "--seed"),
    ];
    for (flags, named) in cases {
        let mut args = vec!["train", "--preset", "nru", "--max-iterations", "10"];
        if flags[0] == "--preset" {
            args.truncate(1);
            args.extend(["--max-iterations", "10"]);
        }
        args.extend_from_slice(flags);
        let (code, stdout, stderr) = nalm(&args);
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{flags:?} should name {named}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty(), "{flags:?} trained: {stdout}");
    }
}

#[test]
fn help_explains_every_flag_with_its_default() {
    let (code, help, _) = nalm(&["train", "--help"]);
    assert_eq!(code, 0);
    for (flag, default) in [
        ("--learning-rate", "[default: 0.001]"),
        ("--regualizer-scaling-start", "[default: 1000000]"),
        ("--regualizer-scaling-end", "[default: 2000000]"),
        ("--interpolation-range", "[default: [1,2]]"),
        ("--npu-Wr-init", "[default: xavier-uniform]"),
        ("--regualizer-beta-start", "[default: 0.00001]"),
        ("--layer-type", "[default: nalu]"),
    ] {
        let line = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(flag))
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(line.contains(default), "{flag}: {line}");
    }
    for p in [
        "nru",
        "nmru",
        "realnpu-modified",
        "realnpu-baseline",
        "nmru-gated",
    ] {
        assert!(help.contains(p), "preset {p} missing from --help");
    }
}
