//! Input a hostile or careless user gives: each class gets a clean error (exit code 2 before
//! any work, or a message naming what is wrong), never a panic, an abort or silent garbage.

mod common;
use common::{Scratch, nalm};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use proptest::prelude::*;

fn scratch(name: &str) -> Scratch {
    Scratch::dir("hostile", name)
}

/// The command failed cleanly: a non-zero exit code that is not a panic's (101) or an
/// abort's (134), with `needle` in its message.
fn refused(args: &[&str], needle: &str) -> String {
    let started = Instant::now();
    let (code, out, err) = nalm(args);
    assert!(
        code != 0 && code != 101 && code != 134 && code != -1,
        "{args:?}: exit {code}\n{out}\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in:\n{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{args:?}: refused only after {:?}",
        started.elapsed()
    );
    err
}

#[test]
fn a_target_that_is_not_real_is_refused_before_training() {
    let err = refused(
        &[
            "train",
            "--max-iterations",
            "0",
            "--operation",
            "root",
            "--interpolation-range",
            "[-2,-1]",
            "--extrapolation-range",
            "[-6,-2]",
        ],
        "square root",
    );
    assert!(err.contains("--interpolation-range"), "{err}");
}

#[test]
fn ranges_beyond_f32_are_refused() {
    for range in ["[1e39,1e40]", "[-1e308,1e308]"] {
        refused(
            &[
                "train",
                "--preset",
                "nru",
                "--interpolation-range",
                range,
                "--max-iterations",
                "0",
            ],
            "largest f32",
        );
    }
}

#[test]
fn sizes_bounded_by_memory_are_checked_before_allocating() {
    refused(&["train", "--input-size", "100000000"], "at most 10000");
    refused(&["train", "--input-size", "4294967296"], "at most 10000");
    refused(&["train", "--batch-size", "4000000000"], "--batch-size");
    refused(
        &["sweep", "in2", "--dry-run", "--seeds", "0-4294967295"],
        "at most 100000",
    );
    refused(
        &["sweep", "in2", "--dry-run", "--threads", "100000"],
        "at most 1024",
    );
    refused(
        &["sweep", "in2", "--dry-run", "--threads", "0"],
        "at least 1",
    );
    // the same class in the other commands
    refused(
        &["grad-stability", "--points", "4000000000000"],
        "at most 10000000",
    );
    refused(
        &["grad-audit", "--module", "nru", "--input-size", "100000000"],
        "at most 1000",
    );
    refused(
        &["mnist", "--head", "div", "--samples-per-pair", "4000000000"],
        "at most 100000",
    );
    refused(
        &["landscape", "--preset", "nru", "--samples", "0"],
        "at least 1",
    );
    // replayed runs keep their own settings: flags that would change them are refused
    for flag in [
        &["--input-size", "10"][..],
        &["--set", "learning-rate=0.1"],
        &["--conventions", "torch-current"],
    ] {
        let mut args = vec!["grad-stability", "--from", "results/in2"];
        args.extend(flag);
        refused(&args, "cannot be used with");
    }
}

#[test]
fn numbers_say_what_is_wrong_with_them() {
    refused(&["train", "--input-size", "-3"], "negative");
    refused(&["train", "--max-iterations", "ten"], "not a whole number");
    refused(&["sweep", "in2", "--dry-run", "--seeds", "-3"], "negative");
    refused(&["train", "--learning-rate", "1e300"], "largest f32");
    refused(&["train", "--regualizer", "-1"], "0 or more");
    refused(
        &[
            "train",
            "--interpolation-range",
            "[[1,3],[2,4]]",
            "--max-iterations",
            "0",
        ],
        "overlap",
    );
    refused(
        &["mnist", "--regulariser", "40-30"],
        "ends before it starts",
    );
    refused(&["mnist", "--regulariser", "thirty"], "START-END");
    refused(&["mnist", "--regulariser=-5-10"], "START-END");
    refused(&["mnist", "--select-last", "0"], "at least 1");
    refused(&["mnist", "--subnormals", "sometimes"], "flush or keep");
    refused(&["mnist", "--conv", "im2col"], "direct or fast");
}

#[test]
fn a_run_identity_cannot_be_set() {
    refused(&["sweep", "in2", "--dry-run", "--set", "seed=3"], "--seeds");
}

#[test]
fn output_paths_are_checked_before_training() {
    let dir = scratch("outputs");
    let missing = dir.join("no/such/folder/run.json");
    let err = refused(
        &[
            "train",
            "--preset",
            "nru",
            "--input-size",
            "10",
            "--out",
            missing.to_str().unwrap(),
        ],
        "--out",
    );
    assert!(err.contains("does not exist"), "{err}");
    let same = dir.join("run.json");
    refused(
        &[
            "train",
            "--preset",
            "nru",
            "--out",
            same.to_str().unwrap(),
            "--csv",
            same.to_str().unwrap(),
        ],
        "--csv",
    );
    refused(
        &["train", "--preset", "nru", "--out", dir.to_str().unwrap()],
        "folder",
    );
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    refused(
        &[
            "sweep",
            "in2",
            "--seeds",
            "0",
            "--out",
            file.to_str().unwrap(),
        ],
        "is a file",
    );
    // nothing half-written is left behind
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains("probe"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn half_a_slurm_environment_is_an_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(["sweep", "in2", "--dry-run"])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0));
    assert!(err.contains("SLURM_ARRAY_TASK_COUNT"), "{err}");
}

/// A short sweep of one model, setting and two seeds into `dir`, with extra arguments.
fn short_sweep(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "sweep",
        "in2",
        "--model",
        "nru",
        "--setting",
        "U[1,2]",
        "--seeds",
        "0-1",
        "--set",
        "max-iterations=1000",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    nalm(&args)
}

/// The records of a results file, one JSON value per line.
fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_records(path: &Path, records: &[serde_json::Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_results_folder_refuses_records_that_do_not_belong() {
    let dir = scratch("foreign");
    let in2 = dir.join("in2");
    assert_eq!(short_sweep(&in2, &[]).0, 0);
    assert_eq!(nalm(&["report", in2.to_str().unwrap()]).0, 0);
    let runs = in2.join("runs.jsonl");
    let clean = records(&runs);

    // a seed the sweep does not plan
    let mut foreign = clean.clone();
    let mut extra = clean[0].clone();
    extra["seed"] = 7.into();
    extra["record"]["settings"]["seed"] = 7.into();
    foreign.push(extra);
    write_records(&runs, &foreign);
    let err = refused(&["report", in2.to_str().unwrap()], "seed 7");
    assert!(err.contains("not a run of the sweep 'in2'"), "{err}");

    // a run made with other settings (10 inputs in an in2 folder)
    let mut other = clean.clone();
    other[0]["record"]["settings"]["input-size"] = 10.into();
    write_records(&runs, &other);
    refused(
        &["report", in2.to_str().unwrap()],
        "input-size: 10 instead of 2",
    );
    write_records(&runs, &clean);

    // shards run with different --set values do not merge
    let (a, b) = (dir.join("a"), dir.join("b"));
    assert_eq!(short_sweep(&a, &["--shard", "1/2"]).0, 0);
    assert_eq!(
        short_sweep(&b, &["--shard", "2/2", "--set", "learning-rate=0.5"]).0,
        0
    );
    let merged = dir.join("merged");
    refused(
        &[
            "merge",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
        "learning-rate",
    );
    // and one sweep folder refuses a second sweep with other changes
    refused(
        &[
            "sweep",
            "in2",
            "--model",
            "nru",
            "--seeds",
            "0",
            "--set",
            "learning-rate=0.5",
            "--out",
            a.to_str().unwrap(),
        ],
        "choose another --out",
    );
    // an empty folder is not a merge
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(
        &[
            "merge",
            empty.to_str().unwrap(),
            "--out",
            dir.join("m2").to_str().unwrap(),
        ],
        "nothing to merge",
    );
}

#[test]
fn two_sweeps_on_one_folder_do_not_run_the_same_runs() {
    let lock = scratch("lock");
    let dir = lock.join("in2");
    let args = [
        "sweep",
        "in2",
        "--model",
        "nru",
        "--seeds",
        "0-24",
        "--quiet",
        "--threads",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ];
    let mut first = Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // wait until the first holds the folder
    let started = Instant::now();
    while !dir.join("sweep.json").exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    refused(&args, "another nalm sweep");
    // a shard of the same folder is refused too
    let mut shard = args.to_vec();
    shard.extend(["--shard", "1/2"]);
    refused(&shard, "another nalm sweep");
    // killed, the first leaves no lock behind: the folder can be resumed at once
    first.kill().unwrap();
    first.wait().unwrap();
    let mut short = args.to_vec();
    short[5] = "0-1";
    let (code, _, err) = nalm(&short);
    assert_eq!(code, 0, "{err}");
}

/// `nalm train`'s flags as a parser of their own.
#[derive(Parser)]
struct Train {
    #[command(flatten)]
    args: tasks::cli::train::Args,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random flag values and range strings give settings or a clean error, never a panic.
    #[test]
    fn the_settings_parser_never_panics(
        flag in prop::sample::select(vec![
            "--input-size", "--batch-size", "--max-iterations", "--seed", "--learning-rate",
            "--regualizer", "--interpolation-range", "--extrapolation-range", "--num-subsets",
            "--subset-ratio", "--overlap-ratio", "--log-interval", "--regualizer-scaling-start",
            "--clip-grad-norm", "--operation", "--layer-type", "--sample-distribution",
        ]),
        value in prop_oneof![
            "-?[0-9]{0,25}(\\.[0-9]{0,5})?(e-?[0-9]{1,4})?",
            "\\[\\[?-?[0-9e.]{0,8},-?[0-9e.]{0,8}\\]?(,\\[-?[0-9e.]{0,8},-?[0-9e.]{0,8}\\])?(,\\[\\])?\\]",
            "[a-z \\[\\],.-]{0,12}",
            Just("nan".to_string()),
            Just("inf".to_string()),
            Just("1e39".to_string()),
        ],
        range in "\\[-?[0-9]{1,3}(\\.[0-9])?,-?[0-9]{1,3}\\]",
    ) {
        let args = ["nalm", "--preset", "nru", "--interpolation-range", &range, flag, &value];
        if let Ok(parsed) = Train::try_parse_from(args)
            && let Ok(settings) = parsed.args.settings()
        {
            let _ = settings.validate();
        }
    }
}
