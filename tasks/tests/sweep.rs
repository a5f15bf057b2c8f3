//! Sweeps as users run them: invariance to threads and shards, resuming after a kill,
//! merging shard outputs, and clear errors for malformed files.

mod common;
use common::{Scratch, nalm};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tasks::results::ShowProgress;
use tasks::results::{Collection, RunKey};
use tasks::sweep::{Options, Shard, file, runner};

/// Two models x two settings x three seeds, short runs.
const SMALL: &str = r#"
name = "small"
seeds = "0-2"

[[model]]
label = "nru"
preset = "nru"
set = { max-iterations = 3000, regualizer-scaling-start = 1000, regualizer-scaling-end = 2000 }

[[model]]
label = "nmru"
preset = "nmru"
set = { max-iterations = 3000 }

[[setting]]
label = "U[1,2]"
interpolation-range = "[1,2]"
extrapolation-range = "[2,6]"

[[setting]]
label = "U[-2,2]"
interpolation-range = "[-2,2]"
extrapolation-range = "[[-6,-2],[2,6]]"
"#;

fn scratch(name: &str) -> Scratch {
    Scratch::dir("sweep", name)
}

/// Every stored run of a directory, as JSON values by key.
fn contents(dir: &Path) -> BTreeMap<RunKey, Value> {
    Collection::<tasks::train::RunRecord>::of_dir(dir)
        .unwrap()
        .runs
        .into_iter()
        .map(|(k, (run, _))| (k, serde_json::to_value(&run.record).unwrap()))
        .collect()
}

fn options(threads: usize, shard: Shard) -> Options {
    Options {
        threads,
        shard,
        progress: ShowProgress::Off,
    }
}

#[test]
fn results_do_not_depend_on_threads_or_shards() {
    let plan = file::parse(SMALL).unwrap();
    let one = scratch("one-thread");
    let outcome = runner::run(&plan, &one, options(1, Shard::WHOLE)).unwrap();
    assert_eq!((outcome.planned, outcome.finished), (12, 12));
    let two = scratch("two-threads");
    runner::run(&plan, &two, options(2, Shard::WHOLE)).unwrap();
    let sharded = scratch("shards");
    for index in 1..=3 {
        let shard = Shard { index, count: 3 };
        let o = runner::run(&plan, &sharded, options(2, shard)).unwrap();
        assert_eq!(o.finished, 4, "shard {shard}");
    }
    let (a, b, c) = (contents(&one), contents(&two), contents(&sharded));
    assert_eq!(a.len(), 12);
    assert!(a == b, "one thread and two threads differ");
    assert!(a == c, "whole and sharded differ");
    // the runs learn something: the NRU solves U[1,2] at every seed
    let solved = a
        .iter()
        .filter(|(k, v)| {
            k.model == "nru" && k.setting == "U[1,2]" && v["verdict"]["solved"] == true
        })
        .count();
    assert_eq!(solved, 3);
    // running again finds everything done
    let again = runner::run(&plan, &one, options(2, Shard::WHOLE)).unwrap();
    assert_eq!((again.skipped, again.finished), (12, 0));
}

#[test]
fn a_study_of_several_sweeps_gives_each_sweeps_own_records() {
    let small = file::parse(SMALL).unwrap();
    let other = file::parse(
        &SMALL
            .replace("name = \"small\"", "name = \"other\"")
            .replace("seeds = \"0-2\"", "seeds = \"3-4\""),
    )
    .unwrap();
    let alone = scratch("study-alone");
    runner::run(&small, &alone.join("small"), options(1, Shard::WHOLE)).unwrap();
    runner::run(&other, &alone.join("other"), options(1, Shard::WHOLE)).unwrap();
    let parts = |root: &Path| {
        [&small, &other].map(|plan| runner::Part {
            plan,
            dir: root.join(&plan.name),
        })
    };
    let together = scratch("study-together");
    let (outcomes, _) = runner::run_parts(&parts(&together), options(2, Shard::WHOLE)).unwrap();
    assert_eq!(outcomes[0].finished, 12);
    assert_eq!(outcomes[1].finished, 8);
    let sharded = scratch("study-sharded");
    let mut finished = 0;
    for index in 1..=3 {
        let shard = Shard { index, count: 3 };
        let (o, _) = runner::run_parts(&parts(&sharded), options(1, shard)).unwrap();
        finished += o.iter().map(|o| o.finished).sum::<usize>();
    }
    assert_eq!(finished, 20, "the shards together run every run once");
    for name in ["small", "other"] {
        let expected = contents(&alone.join(name));
        assert!(!expected.is_empty());
        assert!(
            expected == contents(&together.join(name)),
            "{name}: together"
        );
        assert!(expected == contents(&sharded.join(name)), "{name}: sharded");
    }
}

#[test]
fn a_run_two_sweeps_share_is_trained_once_and_recorded_in_both() {
    let small = file::parse(SMALL).unwrap();
    // the same grid under another model label over seeds 2-4: seed 2's four runs are small's
    let other = file::parse(
        &SMALL
            .replace("name = \"small\"", "name = \"other\"")
            .replace("seeds = \"0-2\"", "seeds = \"2-4\"")
            .replace("label = \"nru\"", "label = \"nru again\""),
    )
    .unwrap();
    let alone = scratch("shared-alone");
    runner::run(&other, &alone.join("other"), options(1, Shard::WHOLE)).unwrap();
    let expected = contents(&alone.join("other"));
    assert_eq!(expected.len(), 12);
    let parts = |root: &Path| {
        [&small, &other].map(|plan| runner::Part {
            plan,
            dir: root.join(&plan.name),
        })
    };
    let together = scratch("shared-together");
    let (outcomes, _) = runner::run_parts(&parts(&together), options(2, Shard::WHOLE)).unwrap();
    assert_eq!((outcomes[0].finished, outcomes[0].shared), (12, 0));
    assert_eq!((outcomes[1].finished, outcomes[1].shared), (12, 4));
    assert!(expected == contents(&together.join("other")));
    // a run whose twin is already stored takes a copy of its record
    let resumed = scratch("shared-resumed");
    runner::run(&small, &resumed.join("small"), options(1, Shard::WHOLE)).unwrap();
    let (outcomes, _) = runner::run_parts(&parts(&resumed), options(1, Shard::WHOLE)).unwrap();
    assert_eq!(outcomes[0].skipped, 12);
    assert_eq!((outcomes[1].finished, outcomes[1].shared), (12, 4));
    assert!(expected == contents(&resumed.join("other")));
}

#[test]
fn a_killed_sweep_resumes_and_loses_nothing() {
    let dir = scratch("killed");
    let sweep_file = dir.join("long.toml");
    // longer runs so that the kill lands mid-sweep
    std::fs::write(&sweep_file, SMALL.replace("3000", "40000")).unwrap();
    let out = dir.join("out");
    let args = [
        "sweep",
        sweep_file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
        "--quiet",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let results = out.join("runs.jsonl");
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&results)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 2 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = contents(&out);
    assert!(
        (2..12).contains(&before.len()),
        "the kill should land mid-sweep: {} runs stored",
        before.len()
    );
    // a torn line, as a kill in the middle of a write would leave
    let mut bytes = std::fs::read(&results).unwrap();
    bytes.extend_from_slice(b"{\"model\":\"nru\",\"setting\":\"U[1");
    std::fs::write(&results, bytes).unwrap();

    let (code, _, stderr) = nalm(&args);
    assert_eq!(code, 0, "{stderr}");
    let after = contents(&out);
    assert_eq!(after.len(), 12);
    for (key, value) in &before {
        assert_eq!(&after[key], value, "{key} changed on resume");
    }
    // every line parses now, the torn one is gone, and each run is stored once
    let text = std::fs::read_to_string(&results).unwrap();
    assert_eq!(text.lines().count(), 12);
    assert!(text.ends_with('\n'));

    // the resumed results equal an uninterrupted sweep's
    let plan = file::load(&sweep_file).unwrap();
    let fresh = scratch("uninterrupted");
    runner::run(&plan, &fresh, options(2, Shard::WHOLE)).unwrap();
    assert!(
        contents(&fresh) == after,
        "resumed sweep differs from a fresh one"
    );
}

#[test]
fn merge_folds_duplicates_reports_gaps_and_rejects_conflicts() {
    let dir = scratch("merge");
    let sweep_file = dir.join("small.toml");
    std::fs::write(&sweep_file, SMALL).unwrap();
    let shard = |k: &str, extra: &[&str]| {
        let out = dir.join(format!("shard-{}", k.replace('/', "-")));
        let mut args = vec![
            "sweep",
            sweep_file.to_str().unwrap(),
            "--shard",
            k,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let (code, _, stderr) = nalm(&args);
        assert_eq!(code, 0, "{stderr}");
        out
    };
    let first = shard("1/2", &[]);
    let second = shard("2/2", &[]);
    // the second shard's node died after three of its six runs
    let second_file = second.join("runs-2-of-2.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&second_file)
        .unwrap()
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&second_file, kept.concat()).unwrap();
    let merged = dir.join("merged");
    let (code, stdout, stderr) = nalm(&[
        "merge",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        first.join("runs-1-of-2.jsonl").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "missing runs give exit code 1: {stdout}{stderr}");
    assert!(stdout.contains("6 identical duplicates folded"), "{stdout}");
    assert!(stdout.contains("3 planned runs are missing"), "{stdout}");
    assert_eq!(contents(&merged).len(), 9);

    // a report of the merged directory counts the gaps
    let (code, stdout, stderr) = nalm(&["report", merged.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("3 planned runs have no result yet"),
        "{stdout}"
    );
    assert!(merged.join("report/figure.svg").exists());

    // a duplicate that disagrees is refused, naming the run
    let text = std::fs::read_to_string(first.join("runs-1-of-2.jsonl")).unwrap();
    let line = text.lines().next().unwrap();
    let mut record: Value = serde_json::from_str(line).unwrap();
    record["record"]["updates"] = Value::from(7);
    let forged = dir.join("forged.jsonl");
    std::fs::write(&forged, format!("{record}\n")).unwrap();
    let (code, _, stderr) = nalm(&[
        "merge",
        first.to_str().unwrap(),
        forged.to_str().unwrap(),
        "--out",
        dir.join("conflict").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("stored twice with different results"),
        "{stderr}"
    );
}

#[test]
fn malformed_files_are_named_with_their_line() {
    let dir = scratch("malformed");
    let bad_sweep = dir.join("bad.toml");
    std::fs::write(
        &bad_sweep,
        SMALL.replace("max-iterations = 3000 }", "max-iterations = -3 }"),
    )
    .unwrap();
    let (code, _, stderr) = nalm(&["sweep", bad_sweep.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.toml:10: model 'nmru'"), "{stderr}");

    let results = dir.join("out");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("runs.jsonl"), "{\"model\": 1}\nnot json\n").unwrap();
    let (code, _, stderr) = nalm(&["report", results.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("runs.jsonl:1: malformed run record"),
        "{stderr}"
    );

    let (code, _, stderr) = nalm(&["sweep", "no-such-experiment", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("neither an experiment"), "{stderr}");
}

#[test]
fn dry_run_lists_each_run_of_the_shard() {
    let (code, stdout, _) = nalm(&["sweep", "in2", "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 900);
    assert!(stdout.contains("nru / U[1,2] / seed 24  nalm train --preset nru --input-size 2"));
    let (_, stdout, _) = nalm(&[
        "sweep",
        "in2",
        "--dry-run",
        "--shard",
        "2/4",
        "--model",
        "nru",
    ]);
    // positions 1, 5, ..., 221 of the 225 NRU runs
    assert_eq!(stdout.lines().count(), 56);
}

#[test]
fn the_whole_study_runs_from_one_command_and_checks_the_claims() {
    let dir = scratch("study");
    let out = dir.to_str().unwrap();
    let short = ["--seeds", "0", "--set", "max-iterations=300", "--out", out];
    let (code, listing, err) = nalm(&[&["sweep", "all", "--dry-run"][..], &short].concat());
    assert_eq!(code, 0, "{err}");
    // one seed of every experiment: 16,500 / 25 runs
    assert_eq!(listing.lines().count(), 660);
    let (code, _, err) = nalm(&[&["sweep", "all", "--quiet"][..], &short].concat());
    assert_eq!(code, 0, "{err}");
    let study: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("study.json")).unwrap()).unwrap();
    let experiments = study["experiments"].as_array().unwrap();
    assert_eq!(experiments.len(), 20);
    for e in experiments {
        let sub = dir.join(e.as_str().unwrap());
        assert!(!contents(&sub).is_empty(), "{}", sub.display());
    }
    let (code, printed, err) = nalm(&["report", out]);
    assert_eq!(code, 0, "{err}");
    let index = std::fs::read_to_string(dir.join("report/index.md")).unwrap();
    assert!(
        index.contains("660 of 660 planned runs finished"),
        "{index}"
    );
    let verdicts = ["supported", "partly supported", "not supported", "no data"];
    for k in 1..=5 {
        let line = printed
            .lines()
            .find(|l| l.starts_with(&format!("claim {k}: ")))
            .unwrap_or_else(|| panic!("claim {k} in:\n{printed}"));
        assert!(verdicts.iter().any(|v| line.contains(v)), "{line}");
    }
    assert!(dir.join("in10/report/figure.png").exists());
    // run again: everything is done
    let (code, _, err) = nalm(&[&["sweep", "all"][..], &short].concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 runs finished"), "{err}");

    // two shards in separate folders, merged experiment by experiment, equal the whole
    let shards = scratch("study-shards");
    for k in ["1/2", "2/2"] {
        let part = shards.join(k.replace('/', "-of-"));
        let args = [
            "sweep",
            "all",
            "--quiet",
            "--seeds",
            "0",
            "--set",
            "max-iterations=300",
            "--shard",
            k,
            "--out",
            part.to_str().unwrap(),
        ];
        let (code, _, err) = nalm(&args);
        assert_eq!(code, 0, "{err}");
    }
    let merged = shards.join("merged");
    let (code, printed, err) = nalm(&[
        "merge",
        shards.join("1-of-2").to_str().unwrap(),
        shards.join("2-of-2").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{printed}{err}");
    for e in experiments {
        let name = e.as_str().unwrap();
        assert!(
            contents(&dir.join(name)) == contents(&merged.join(name)),
            "{name}: merged shards differ from the whole"
        );
    }
}
