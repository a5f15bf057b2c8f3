//! `nalm mnist`: one run of the MNIST task, with a progress bar, a summary and optional
//! JSON and CSV records; or, with `--all`, the study of heads x folds.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use engine::Subnormals;

use crate::mnist::checkpoint;
use crate::mnist::folds::FOLDS;
use crate::mnist::idx::Mnist;
use crate::mnist::metrics::Metrics;
use crate::mnist::network::Head;
use crate::mnist::preset::{PRESETS, Preset};
use crate::mnist::run::{Conv, Progress, Record, Settings, State, resume};
use crate::mnist::study::{Study, StudyOptions};
use crate::results::ShowProgress;
use crate::results::progress::progress_bar;
use crate::results::{self, write_atomically};
use crate::sweep::Shard;
use crate::sweep::plan::parse_seeds;

fn preset_help() -> String {
    let mut text = String::from("The schedule (explicit flags override it):");
    for p in PRESETS {
        text.push_str(&format!("\n  {:<8} {}", p.name, p.about));
    }
    text.push_str("\n\nWhy:");
    for p in PRESETS {
        text.push_str(&format!("\n  {:<8} {}", p.name, p.why));
    }
    text
}

/// Train a head on the shared CNN encoder to output the quotient of two MNIST digits, and
/// report the paper's metrics (`tasks/docs/mnist-task.md`); with --all, the study: every head on
/// every fold, resumable and shardable like `nalm sweep`, then its report.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The head: div, mlp, realnpu, nru, nmru [default: div, the paper's baseline]. With
    /// --all: only these (repeat, or separate by commas) [default: all five].
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub head: Vec<String>,
    /// The fold of held-out pairs, 0..9 [default: 0]. With --all: a list such as 0-9 or
    /// 0,3,5-7 [default: all ten].
    #[arg(long, value_name = "N|LIST")]
    pub fold: Option<String>,
    /// The run's seed [default: the fold, as in the paper].
    #[arg(long, conflicts_with = "all")]
    pub seed: Option<u64>,
    #[arg(long, value_name = "NAME", default_value = "quick", long_help = preset_help())]
    pub preset: String,
    /// Epochs 0..=N (the last one evaluated, not trained).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, value_parser = super::count::<100_000>)]
    pub samples_per_pair: Option<usize>,
    /// Evaluate every N epochs (and at the last).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// The regulariser ramp: s(epoch) is 0 up to epoch START and 1 from END on, linear in
    /// between, as START-END (whole or fractional epochs; the paper's is 30-40).
    #[arg(long, value_name = "START-END", value_parser = ramp)]
    pub regulariser: Option<(f64, f64)>,
    /// The reported epoch is the best (training 5 d.p. accuracy) of the last N logged.
    #[arg(long, value_name = "N", value_parser = super::count::<100_000>)]
    pub select_last: Option<usize>,
    /// What the run's threads do with results below the normal f32 range (2^-126): flush
    /// them to zero, or keep them (IEEE gradual underflow). On many Intel CPUs every
    /// instruction that meets a subnormal takes a microcode assist, and a head whose digit
    /// readings saturate fills the backward pass with them: kept, such a run slows down about
    /// ten times there, for differences below 1e-38.
    #[arg(long, value_name = "flush|keep", default_value = "flush", value_parser = subnormals)]
    pub subnormals: Subnormals,
    /// How the encoder's second convolution is computed: fast (Winograd's F(4x4, 3x3), about
    /// a quarter of the multiplications; its rounding is bounded in engine/README.md, "The
    /// CNN path") or direct (matrix products of the weights and the patches, as before
    /// fast convolutions existed). The record says which ("conv": "winograd" or "direct").
    #[arg(long, value_name = "fast|direct", default_value = Conv::DEFAULT.flag(), value_parser = conv)]
    pub conv: Conv,
    /// A folder holding the four MNIST files to read instead of the copy built into nalm
    /// (or set NALM_MNIST_DIR).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Threads [default: all cores].
    #[arg(long, value_name = "N", value_parser = super::threads)]
    pub threads: Option<usize>,
    /// Write the run record (settings, history, chosen epoch, head parameters) as JSON.
    /// With --all: the study's directory [default: results/mnist-<preset>].
    #[arg(long, value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
    /// Write the history (one row per logged epoch, every metric) as CSV.
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub csv: Option<PathBuf>,
    /// Save the run's state to FILE after every `--checkpoint-every` epochs. (A study keeps
    /// its checkpoints in DIR/checkpoints.)
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub checkpoint: Option<PathBuf>,
    /// Epochs between two checkpoints.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Continue the run saved in the `--checkpoint` file (its settings must be this
    /// command's); the record equals the one of a run never stopped.
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// Run the study: every head (of --head) on every fold (of --fold), each seeded by its
    /// fold, records appended to --out as runs finish; the same command resumes it.
    #[arg(long)]
    pub all: bool,
    /// With --all: run only the K-th of N slices (1-based). Inside a SLURM job array the
    /// slice comes from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "K/N", requires = "all")]
    pub shard: Option<Shard>,
    /// With --all: runs side by side, sharing the threads [default: one per thread].
    #[arg(long, value_name = "N", requires = "all")]
    pub jobs: Option<usize>,
    /// With --all: print the runs this invocation would do and exit.
    #[arg(long, requires = "all")]
    pub dry_run: bool,
    /// No progress bar (and with --all, no report at the end).
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let Some(preset) = Preset::by_name(&args.preset) else {
        bail!("--preset {}: not a preset (quick, paper)", args.preset);
    };
    let mut heads = Vec::new();
    for name in &args.head {
        let Some(head) = Head::by_name(name.trim()) else {
            bail!("--head {name}: not a head (div, mlp, realnpu, nru, nmru)");
        };
        if !heads.contains(&head) {
            heads.push(head);
        }
    }
    let folds = match &args.fold {
        None => Vec::new(),
        Some(text) => {
            let folds = parse_seeds(text).map_err(|e| anyhow::anyhow!("--fold {text}: {e}"))?;
            if let Some(bad) = folds.iter().find(|&&f| f as usize >= FOLDS) {
                bail!("--fold {bad}: folds are 0..9");
            }
            folds.into_iter().map(|f| f as usize).collect()
        }
    };
    if let Some(0) = args.samples_per_pair {
        bail!("--samples-per-pair must be at least 1");
    }
    let adjust = |settings: &mut Settings| {
        if let Some(epochs) = args.epochs {
            settings.epochs = epochs;
        }
        if let Some(n) = args.samples_per_pair {
            settings.samples_per_pair = n;
        }
        if let Some(n) = args.eval_every {
            settings.eval_every = n.max(1);
        }
        if let Some((start, end)) = args.regulariser {
            settings.regulariser_start = start;
            settings.regulariser_end = end;
        }
        if let Some(n) = args.select_last {
            settings.select_last = n;
        }
        settings.subnormals = args.subnormals;
        settings.conv = args.conv;
    };
    if args.all {
        let heads = if heads.is_empty() {
            Head::ALL.to_vec()
        } else {
            heads
        };
        let folds = if folds.is_empty() {
            (0..FOLDS).collect()
        } else {
            folds
        };
        return study(args, Study::new(&preset, &heads, &folds, adjust));
    }
    let head = match heads[..] {
        [] => Head::Div,
        [head] => head,
        _ => {
            bail!("--head: name one head (div, mlp, realnpu, nru, nmru), or run several with --all")
        }
    };
    let [fold] = folds[..] else {
        if folds.len() > 1 {
            bail!("--fold: one fold for a single run, or several with --all");
        }
        return single(args, &preset, head, 0, adjust);
    };
    single(args, &preset, head, fold, adjust)
}

/// One run, with a progress bar, a summary, its record and history, and its checkpoints.
fn single(
    args: &Args,
    preset: &Preset,
    head: Head,
    fold: usize,
    adjust: impl Fn(&mut Settings),
) -> anyhow::Result<i32> {
    let mut settings = preset.settings(head.name(), fold, args.seed.unwrap_or(fold as u64));
    adjust(&mut settings);
    // what cannot be written is said now, not after hours of training
    for (flag, path) in [("--out", &args.out), ("--csv", &args.csv)] {
        if let Some(path) = path {
            results::check_writable(path).with_context(|| flag)?;
        }
    }
    let mut state = if args.resume {
        let path = args.checkpoint.as_ref().expect("required by clap");
        let state = checkpoint::load(path)?;
        if state.settings != settings {
            bail!(
                "--resume: {} holds a run of {:?}, not of {:?}",
                path.display(),
                state.settings,
                settings
            );
        }
        state
    } else {
        let state = State::new(&settings);
        if let Some(path) = &args.checkpoint {
            checkpoint::save(path, &state)?;
        }
        state
    };
    let source = Mnist::locate(args.data.as_deref());
    let mnist =
        Mnist::from_source(&source).with_context(|| format!("the MNIST files ({source})"))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("a thread pool")?;
    let bar = progress_bar(
        1,
        !args.quiet && std::io::stderr().is_terminal(),
        "{bar:30} {pos}/{len} batches, {elapsed} (ETA {eta}) {msg}",
    );
    let every = args.checkpoint_every.max(1);
    let mut saved = Ok(());
    pool.install(|| {
        let progress = |p: Progress<'_>| match p {
            Progress::Batch(done, total) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            Progress::Logged(row) => {
                let line = format!(
                    "epoch {:>4}: test 5 d.p. {:5.1}%, digits read {:5.1}% {:5.1}% (as 9 / digit {:5.1}% {:5.1}%), loss {}",
                    row.epoch,
                    row.test.output_5dp_accuracy,
                    row.test.label1_rounded_accuracy,
                    row.test.label2_rounded_accuracy,
                    row.test.label1_mirror_rounded_accuracy,
                    row.test.label2_mirror_rounded_accuracy,
                    // the loss of the pass before this evaluation: none before the first
                    if row.epoch == 0 {
                        "-".to_string()
                    } else {
                        format!("{:.4}", row.loss)
                    }
                );
                bar.set_message(line.clone());
                if args.quiet || !std::io::stderr().is_terminal() {
                    eprintln!("{line}");
                }
            }
        };
        resume(&mut state, &mnist, progress, |state| {
            if let Some(path) = &args.checkpoint
                && state.epoch.is_multiple_of(every)
            {
                saved = checkpoint::save(path, state);
                if saved.is_err() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })
    });
    bar.finish_and_clear();
    saved?;
    let record = state.record();
    summary(&record);
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&record)?;
        write_atomically(out, &json).with_context(|| format!("--out {}", out.display()))?;
    }
    if let Some(path) = &args.csv {
        write_atomically(path, history_csv(&record)?.as_bytes())
            .with_context(|| format!("--csv {}", path.display()))?;
    }
    Ok(if record.failed { 1 } else { 0 })
}

/// The study: heads x folds into a sweep directory, then its report.
fn study(args: &Args, study: Study) -> anyhow::Result<i32> {
    let shard = match args.shard {
        Some(shard) => shard,
        None => Shard::from_slurm(|name| std::env::var(name).ok())
            .map_err(|e| anyhow::anyhow!("SLURM job array: {e}"))?
            .unwrap_or(Shard::WHOLE),
    };
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for i in study.shard_positions(shard) {
            let run = &study.runs[i];
            let s = &run.settings;
            writeln!(
                out,
                "{i:>3}  {}  nalm mnist --head {} --fold {} --preset {} --epochs {} --samples-per-pair {} --eval-every {} --regulariser {}-{} --select-last {}{}{}",
                run.key,
                s.head,
                s.fold,
                args.preset,
                s.epochs,
                s.samples_per_pair,
                s.eval_every,
                s.regulariser_start,
                s.regulariser_end,
                s.select_last,
                if s.subnormals == Subnormals::Keep {
                    " --subnormals keep"
                } else {
                    ""
                },
                if s.conv == Conv::DEFAULT {
                    String::new()
                } else {
                    format!(" --conv {}", s.conv.flag())
                }
            )?;
        }
        return Ok(0);
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&study.name));
    let mnist =
        Mnist::from_source(&Mnist::locate(args.data.as_deref())).context("the MNIST files")?;
    let terminal = std::io::stderr().is_terminal();
    let options = StudyOptions {
        threads: args.threads.unwrap_or(0),
        jobs: args.jobs.unwrap_or(0),
        shard,
        progress: match (args.quiet, terminal) {
            (true, _) => ShowProgress::Off,
            (false, true) => ShowProgress::Bar,
            (false, false) => ShowProgress::Lines,
        },
        checkpoint_every: args.checkpoint_every,
    };
    if !args.quiet {
        eprintln!(
            "study '{}': {} runs{}, results in {}",
            study.name,
            study.runs.len(),
            if shard.count > 1 {
                format!(", shard {shard}")
            } else {
                String::new()
            },
            dir.display()
        );
    }
    let outcome = crate::mnist::study::run(&study, &mnist, &dir, options)?;
    if !args.quiet {
        eprintln!(
            "{} runs finished in {:.0} s ({} failed, {} continued from a checkpoint); {} were already done",
            outcome.finished, outcome.seconds, outcome.failed, outcome.resumed, outcome.skipped
        );
        if shard.count > 1 {
            eprintln!(
                "shard {shard} done; when every shard is, `nalm report {}` (or `nalm merge` shard directories first)",
                dir.display()
            );
        } else {
            super::report::report(&dir, None)?;
        }
    }
    Ok(0)
}

fn ramp(text: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{text}: two epochs as START-END, such as 30-40");
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let epoch = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|e| e.is_finite() && *e >= 0.0)
    };
    match (epoch(start), epoch(end)) {
        (Some(start), Some(end)) if start <= end => Ok((start, end)),
        (Some(_), Some(_)) => Err(format!("{text}: the ramp ends before it starts")),
        _ => Err(bad()),
    }
}

fn conv(text: &str) -> Result<Conv, String> {
    match text {
        "direct" => Ok(Conv::Direct),
        "fast" | "winograd" => Ok(Conv::Winograd),
        _ => Err("direct or fast".into()),
    }
}

fn subnormals(text: &str) -> Result<Subnormals, String> {
    match text {
        "flush" => Ok(Subnormals::Flush),
        "keep" => Ok(Subnormals::Keep),
        _ => Err("flush or keep".into()),
    }
}

fn summary(record: &Record) {
    let s = &record.settings;
    println!(
        "{} on fold {} (seed {}), {} samples per pair, epochs 0..{}{}: {:.0} s",
        s.head,
        s.fold,
        s.seed,
        s.samples_per_pair,
        s.epochs,
        if s.conv == Conv::Winograd {
            ", Winograd conv2"
        } else {
            ""
        },
        record.seconds
    );
    if record.failed {
        println!("failed: the head's parameters became NaN");
        return;
    }
    if let Some(row) = record.chosen.map(|i| &record.history[i]) {
        println!(
            "chosen epoch {} (best training 5 d.p. accuracy of the last {}):",
            row.epoch, s.select_last
        );
        for (split, m) in [("train", &row.train), ("test", &row.test)] {
            println!(
                "  {split:<5}  4 d.p. {:6.2}%  5 d.p. {:6.2}%  labels {:6.2}% {:6.2}%  rounded {:6.2}% {:6.2}%  MSE {:.3e}",
                m.output_4dp_accuracy,
                m.output_5dp_accuracy,
                m.label1_accuracy,
                m.label2_accuracy,
                m.label1_rounded_accuracy,
                m.label2_rounded_accuracy,
                m.output_mse
            );
        }
        println!(
            "learned (test split): {}",
            crate::report::mnist::learned::Solution::of(&row.test).describe()
        );
    }
    // a learned arithmetic head has a handful of parameters; the MLP's 66,817 stay in the
    // record
    match record.head_params.len() {
        0 => {}
        n if n <= 8 => println!("head parameters: {:?}", record.head_params),
        n => println!("head parameters: {n} values (in the record written by --out)"),
    }
}

/// The history as CSV: epoch, loss, then every metric of the training and the test split.
fn history_csv(record: &Record) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["epoch".to_owned(), "loss".to_owned()];
    for split in ["train", "test"] {
        header.extend(Metrics::NAMES.iter().map(|n| format!("{split}_{n}")));
    }
    writer.write_record(&header)?;
    for row in &record.history {
        let mut fields = vec![row.epoch.to_string(), row.loss.to_string()];
        for m in [&row.train, &row.test] {
            fields.extend(m.values().iter().map(|v| v.to_string()));
        }
        writer.write_record(&fields)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}
