//! The MNIST study as users run it: the same records whatever the jobs, threads and shards,
//! shards merged back, a killed study continued from its checkpoints, stale checkpoints and
//! changed settings refused, and the report's statistics and figures.

mod common;
use common::nalm;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tasks::mnist::checkpoint;
use tasks::mnist::idx::{Mnist, default_dir};
use tasks::mnist::network::Head;
use tasks::mnist::preset::QUICK;
use tasks::mnist::run::{Conv, Record, State, resume};
use tasks::mnist::study::{Study, StudyError, StudyOptions, checkpoint_path, run};
use tasks::report::mnist::learned::Solution;
use tasks::results::ShowProgress;
use tasks::results::{Collection, RunKey};
use tasks::sweep::Shard;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nalm-mnist-study-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every stored run of a directory without its timings, as JSON by key.
fn contents(dir: &Path) -> BTreeMap<RunKey, serde_json::Value> {
    Collection::<Record>::of_dir(dir)
        .unwrap()
        .runs
        .into_iter()
        .map(|(k, (run, _))| (k, serde_json::to_value(run.record.untimed()).unwrap()))
        .collect()
}

/// A whole study on one thread, quiet, saving every epoch.
const ONE_THREAD: StudyOptions = StudyOptions {
    threads: 1,
    jobs: 0,
    shard: Shard::WHOLE,
    progress: ShowProgress::Off,
    checkpoint_every: 1,
};

/// Two heads on two folds, a few samples per pair, short.
const TINY: [&str; 11] = [
    "mnist",
    "--all",
    "--head",
    "div,nmru",
    "--fold",
    "0,1",
    "--epochs",
    "5",
    "--samples-per-pair",
    "2",
    "--quiet",
];

fn study(out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<&str> = TINY.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    nalm(&args)
}

#[test]
fn records_do_not_depend_on_jobs_threads_or_shards_and_a_killed_study_loses_nothing() {
    let dir = scratch("invariance");
    let whole = dir.join("whole");
    let (code, _, stderr) = study(&whole, &["--threads", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let reference = contents(&whole);
    assert_eq!(reference.len(), 4);
    assert!(
        whole
            .join("checkpoints")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "cleaned up"
    );

    // two shards, one run at a time on one thread, merged
    for k in ["1/2", "2/2"] {
        let out = dir.join(format!("shard{}", &k[..1]));
        let (code, _, stderr) = study(&out, &["--shard", k, "--jobs", "1", "--threads", "1"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(contents(&out).len(), 2);
    }
    let merged = dir.join("merged");
    let (code, stdout, stderr) = nalm(&[
        "merge",
        dir.join("shard1").to_str().unwrap(),
        dir.join("shard2").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(contents(&merged), reference);

    // a study killed in the middle of its runs continues them from their checkpoints
    let killed = dir.join("killed");
    let mut args: Vec<&str> = TINY.to_vec();
    args.extend(["--out", killed.to_str().unwrap(), "--jobs", "1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoints = killed.join("checkpoints");
    let started = Instant::now();
    let saved = || {
        checkpoints.read_dir().is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "ckpt")))
        })
    };
    while !saved() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(contents(&killed).len() < 4, "killed before the end");
    // not quiet: the summary says what was continued
    let again: Vec<&str> = TINY
        .iter()
        .copied()
        .filter(|a| *a != "--quiet")
        .chain(["--out", killed.to_str().unwrap(), "--jobs", "2"])
        .collect();
    let (code, _, stderr) = nalm(&again);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("continued from a checkpoint"), "{stderr}");
    assert!(!stderr.contains(" 0 continued"), "{stderr}");
    assert_eq!(contents(&killed), reference);

    // again: nothing left to do
    let (code, _, stderr) = study(&whole, &[]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stale_checkpoints_and_changed_settings_are_refused_by_name() {
    let mnist = Mnist::load(&default_dir()).unwrap();
    let shrink = |epochs: usize| {
        move |s: &mut tasks::mnist::run::Settings| {
            s.epochs = epochs;
            s.samples_per_pair = 2;
        }
    };
    let three = Study::new(&QUICK, &[Head::Nru], &[2], shrink(3));
    let options = ONE_THREAD;
    let dir = scratch("refusals");
    // a checkpoint of the same run with another schedule
    let four = Study::new(&QUICK, &[Head::Nru], &[2], shrink(4));
    let path = checkpoint_path(&dir, &three.runs[0].settings);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut state = State::new(&four.runs[0].settings);
    resume(&mut state, &mnist, |_| {}, |_| ControlFlow::Break(()));
    checkpoint::save(&path, &state).unwrap();
    match run(&three, &mnist, &dir, options) {
        Err(e @ StudyError::StaleCheckpoint { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            // the setting that differs, named
            assert!(e.to_string().contains("epochs: 4 there, 3 here"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // without it the run finishes; then the same folder refuses a changed schedule
    std::fs::remove_file(&path).unwrap();
    let outcome = run(&three, &mnist, &dir, options).unwrap();
    assert_eq!((outcome.finished, outcome.resumed), (1, 0));
    match run(&four, &mnist, &dir, options) {
        Err(e @ StudyError::Changed { .. }) => {
            assert!(e.to_string().contains("NRU"), "{e}");
            assert!(e.to_string().contains("epochs: 3 there, 4 here"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Lengths to cut a checkpoint of `len` bytes to: every length through the header and the
/// start of the state, every length of its last 4 KiB, and 400 spread between (every length
/// of a 14 MB file would take hours to decode).
fn cut_lengths(len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..4096.min(len)).collect();
    cuts.extend((1..400).map(|i| 4096 + (len.saturating_sub(8192)) * i / 400));
    cuts.extend(len.saturating_sub(4096)..len);
    cuts.retain(|&c| c < len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Whether two states are the same bit for bit (they hold NaN, so not by `==`).
fn same_state(a: &State, b: &State) -> bool {
    let bytes = |s: &State| bincode::serde::encode_to_vec(s, bincode::config::standard()).unwrap();
    bytes(a) == bytes(b)
}

#[test]
fn a_damaged_checkpoint_is_refused_at_any_length_or_change_and_its_run_starts_over() {
    let mnist = Mnist::load(&default_dir()).unwrap();
    let study = Study::new(&QUICK, &[Head::Nru], &[2], |s| {
        s.epochs = 2;
        s.samples_per_pair = 2;
        // what the formats before the convolution method held
        s.conv = Conv::Direct;
    });
    let settings = &study.runs[0].settings;
    let mut state = State::new(settings);
    resume(&mut state, &mnist, |_| {}, |_| ControlFlow::Break(()));
    assert_eq!(state.epoch, 1);
    let dir = scratch("damaged");
    let path = checkpoint_path(&dir, settings);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    checkpoint::save(&path, &state).unwrap();
    let whole = std::fs::read(&path).unwrap();
    assert!(same_state(&checkpoint::load(&path).unwrap(), &state));

    // cut short anywhere, or one byte changed anywhere: refused as damaged
    for cut in cut_lengths(whole.len()) {
        match checkpoint::decode(&whole[..cut], "cut".into()) {
            Err(e) => assert!(e.is_damaged(), "{cut} bytes: {e}"),
            Ok(_) => panic!(
                "a checkpoint cut to {cut} of {} bytes was read",
                whole.len()
            ),
        }
    }
    for at in [0, 9, 12, 20, 60, whole.len() / 2, whole.len() - 1] {
        let mut changed = whole.clone();
        changed[at] ^= 0x10;
        let Err(e) = checkpoint::decode(&changed, "changed".into()) else {
            panic!("a checkpoint with byte {at} changed was read");
        };
        // the version's byte changed is another format, not damage
        assert_eq!(e.is_damaged(), at != 9, "byte {at}: {e}");
    }
    // the formats before the convolution method (the settings' last field, `Some(Direct)`:
    // two bytes at the end of the settings, which lead the body) and before digests are
    // still read, as runs with direct convolutions
    let body = &whole[12 + 8 + 32..];
    let settings =
        bincode::serde::encode_to_vec(&state.settings, bincode::config::standard()).unwrap();
    assert_eq!(&settings[settings.len() - 2..], &[1, 0]);
    assert_eq!(&body[..settings.len()], &settings[..]);
    let before_4: Vec<u8> = [&body[..settings.len() - 2], &body[settings.len()..]].concat();
    let mut version_2 = whole[..8].to_vec();
    version_2.extend(2u32.to_le_bytes());
    version_2.extend(&before_4);
    assert!(same_state(
        &checkpoint::decode(&version_2, "v2".into()).unwrap(),
        &state
    ));
    let mut version_3 = whole[..8].to_vec();
    version_3.extend(3u32.to_le_bytes());
    version_3.extend((before_4.len() as u64).to_le_bytes());
    version_3.extend(<sha2::Sha256 as sha2::Digest>::digest(&before_4));
    version_3.extend(&before_4);
    assert!(same_state(
        &checkpoint::decode(&version_3, "v3".into()).unwrap(),
        &state
    ));
    // a format-4 body under an older version number is refused, not misread
    let mut mislabelled = version_3[..12].to_vec();
    mislabelled.extend(&whole[12..]);
    assert!(checkpoint::decode(&mislabelled, "mislabelled".into()).is_err());

    // a study finding its run's checkpoint damaged warns, starts the run over and gives the
    // record of an undisturbed run
    std::fs::write(&path, &whole[..whole.len() / 3]).unwrap();
    let options = ONE_THREAD;
    let outcome = run(&study, &mnist, &dir, options).unwrap();
    assert_eq!((outcome.finished, outcome.resumed), (1, 0));
    let clean = scratch("undamaged");
    run(&study, &mnist, &clean, options).unwrap();
    assert_eq!(contents(&dir), contents(&clean));
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&clean).unwrap();
}

#[test]
fn the_report_gives_each_heads_statistics_the_claims_what_each_run_learned_and_three_figures() {
    let dir = scratch("report");
    let (code, _, stderr) = study(&dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = nalm(&["report", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("DIV") && stdout.contains("NMRU"),
        "{stdout}"
    );

    // each head's rounded first-digit test accuracy: the mean, sd and se of its runs at
    // their chosen epochs (a statistic that differs between the runs, so a wrong sd shows)
    let runs = Collection::<Record>::of_dir(&dir).unwrap();
    let summary = std::fs::read_to_string(dir.join("report/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 2 * 2 * 6);
    for head in ["DIV", "NMRU"] {
        let values: Vec<f64> = runs
            .runs
            .values()
            .filter(|(r, _)| r.key.model == head)
            .map(|(r, _)| {
                r.record.history[r.record.chosen.unwrap()]
                    .test
                    .label1_rounded_accuracy
            })
            .collect();
        assert_eq!(values.len(), 2);
        assert!(
            (values[0] - values[1]).abs() > 1e-6 * values[0].abs(),
            "{values:?}"
        );
        let mean = (values[0] + values[1]) / 2.0;
        let sd = (values[0] - values[1]).abs() / 2f64.sqrt();
        let line = summary
            .lines()
            .find(|l| l.starts_with(&format!("{head},test,label1_rounded_accuracy,")))
            .unwrap();
        let fields: Vec<f64> = line
            .split(',')
            .skip(4)
            .map(|v| v.parse().unwrap())
            .collect();
        assert!((fields[0] - mean).abs() < 1e-9, "{line} vs {mean}");
        assert!((fields[1] - sd).abs() < 1e-9, "{line} vs {sd}");
        assert!((fields[2] - sd / 2f64.sqrt()).abs() < 1e-9, "{line}");
    }
    let folds = std::fs::read_to_string(dir.join("report/folds.csv")).unwrap();
    assert_eq!(folds.lines().count(), 1 + 4);
    for figure in ["accuracy", "violin", "curves"] {
        let svg =
            std::fs::read_to_string(dir.join("report").join(format!("{figure}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{figure}");
        assert_eq!(
            ["DIV", "NMRU"].iter().filter(|h| svg.contains(*h)).count(),
            2,
            "{figure}"
        );
        let png = std::fs::read(dir.join("report").join(format!("{figure}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{figure}");
    }
    let markdown = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(markdown.contains("samples per pair"), "{markdown}");
    // the NMRU judged against DIV, fold by fold, with a verdict
    let claim = markdown
        .lines()
        .find(|l| l.starts_with("1. **The NMRU learns inside the network"))
        .unwrap_or_else(|| panic!("{markdown}"));
    assert!(claim.contains("— *"), "{claim}");
    // fold by fold, DIV is the yardstick only where its own encoder reads the digits
    let folds_line = markdown
        .lines()
        .find(|l| l.contains("- learns the digits and reaches DIV on "))
        .unwrap_or_else(|| panic!("{markdown}"));
    let mut judged = 0;
    for (run, _) in runs.runs.values().filter(|(r, _)| r.key.model == "DIV") {
        let test = &run.record.history[run.record.chosen.unwrap()].test;
        let yardstick = tasks::report::mnist::learned::digits_read_either_code(test) >= 50.0;
        let fold = format!("fold {} ", run.record.settings.fold);
        let (_, each) = folds_line.split_once(" folds: ").unwrap();
        let segment = each
            .split("; ")
            .find(|s| s.starts_with(&fold))
            .unwrap_or_else(|| panic!("{fold} in {folds_line}"));
        assert_eq!(segment.contains("against DIV's"), yardstick, "{segment}");
        assert_eq!(segment.contains("no yardstick"), !yardstick, "{segment}");
        judged += 1;
    }
    assert_eq!(judged, 2);
    assert!(stdout.contains("claim 1: "), "{stdout}");
    // a row per run of what it learned: the solution its chosen epoch's test readings show
    let learned: Vec<&str> = markdown
        .lines()
        .skip_while(|l| !l.starts_with("## What each run learned"))
        .filter(|l| l.starts_with("| DIV |") || l.starts_with("| NMRU |"))
        .collect();
    assert_eq!(learned.len(), 4, "{markdown}");
    for (run, _) in runs.runs.values() {
        let record = &run.record;
        let chosen = &record.history[record.chosen.unwrap()];
        let row = format!(
            "| {} | {} | {} |",
            run.key.model, record.settings.fold, chosen.epoch
        );
        let line = learned
            .iter()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("{row} in {learned:?}"));
        assert!(
            line.ends_with(&format!("| {} |", Solution::of(&chosen.test).describe())),
            "{line}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
