//! `nalm mnist`: one run of the MNIST task, with a progress bar, a summary and optional
//! JSON and CSV records.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};

use crate::mnist::checkpoint;
use crate::mnist::idx::{Mnist, default_dir};
use crate::mnist::network::Head;
use crate::mnist::preset::{PRESETS, Preset};
use crate::mnist::run::{Progress, Record, State, resume};
use crate::sweep::store::write_atomically;

fn preset_help() -> String {
    let mut text = String::from("The schedule (explicit flags override it):");
    for p in PRESETS {
        text.push_str(&format!("\n  {:<8} {}", p.name, p.about));
    }
    text
}

/// Train a head on the shared CNN encoder to output the quotient of two MNIST digits, and
/// report the paper's metrics (spec mnist-task.md).
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The head: div, mlp, realnpu, nru, nmru.
    #[arg(long, value_name = "NAME")]
    pub head: String,
    /// The fold of held-out pairs, 0..9.
    #[arg(long, default_value_t = 0)]
    pub fold: usize,
    /// The run's seed [default: the fold, as in the paper].
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_name = "NAME", default_value = "quick", long_help = preset_help())]
    pub preset: String,
    /// Epochs 0..=N (the last one evaluated, not trained).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub samples_per_pair: Option<usize>,
    /// Evaluate every N epochs (and at the last).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// The folder of the MNIST files [default: the repository's tasks/data/mnist].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the run record (settings, history, chosen epoch, head parameters) as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the history (one row per logged epoch, every metric) as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Save the run's state to FILE after every `--checkpoint-every` epochs.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Epochs between two checkpoints.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Continue the run saved in the `--checkpoint` file (its settings must be this
    /// command's); the record equals the one of a run never stopped.
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let Some(head) = Head::by_name(&args.head) else {
        bail!(
            "--head {}: not a head (div, mlp, realnpu, nru, nmru)",
            args.head
        );
    };
    let Some(preset) = Preset::by_name(&args.preset) else {
        bail!("--preset {}: not a preset (quick, paper)", args.preset);
    };
    if args.fold >= crate::mnist::folds::FOLDS {
        bail!("--fold {}: folds are 0..9", args.fold);
    }
    let mut settings = preset.settings(
        head.name(),
        args.fold,
        args.seed.unwrap_or(args.fold as u64),
    );
    if let Some(epochs) = args.epochs {
        settings.epochs = epochs;
    }
    if let Some(n) = args.samples_per_pair {
        if n == 0 {
            bail!("--samples-per-pair must be at least 1");
        }
        settings.samples_per_pair = n;
    }
    if let Some(n) = args.eval_every {
        settings.eval_every = n.max(1);
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
        // a checkpoint that cannot be written is said now, not after hours of training
        if let Some(path) = &args.checkpoint {
            checkpoint::save(path, &state)?;
        }
        state
    };
    let dir = args.data.clone().unwrap_or_else(default_dir);
    let mnist = Mnist::load(&dir).context("the MNIST files")?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("a thread pool")?;
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(1)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} batches, {elapsed} (ETA {eta}) {msg}")
            .expect("a template"),
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
                    "epoch {:>4}: test 5 d.p. {:5.1}%, labels {:5.1}% {:5.1}% (rounded), loss {}",
                    row.epoch,
                    row.test.output_5dp_accuracy,
                    row.test.label1_rounded_accuracy,
                    row.test.label2_rounded_accuracy,
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
                && saved.is_ok()
            {
                saved = checkpoint::save(path, state);
            }
        })
    });
    bar.finish_and_clear();
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
    saved?;
    Ok(if record.failed { 1 } else { 0 })
}

fn summary(record: &Record) {
    let s = &record.settings;
    println!(
        "{} on fold {} (seed {}), {} samples per pair, epochs 0..{}: {:.0} s",
        s.head, s.fold, s.seed, s.samples_per_pair, s.epochs, record.seconds
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
    }
    println!("head parameters: {:?}", record.head_params);
}

/// The history as CSV: epoch, loss, then every metric of the training and the test split.
fn history_csv(record: &Record) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let names = [
        "output_mse",
        "label1_mse",
        "label2_mse",
        "output_accuracy",
        "label1_accuracy",
        "label2_accuracy",
        "output_rounded_accuracy",
        "label1_rounded_accuracy",
        "label2_rounded_accuracy",
        "output_4dp_accuracy",
        "output_5dp_accuracy",
    ];
    let mut header = vec!["epoch".to_owned(), "loss".to_owned()];
    for split in ["train", "test"] {
        header.extend(names.iter().map(|n| format!("{split}_{n}")));
    }
    writer.write_record(&header)?;
    for row in &record.history {
        let mut fields = vec![row.epoch.to_string(), row.loss.to_string()];
        for m in [&row.train, &row.test] {
            fields.extend(
                [
                    m.output_mse,
                    m.label1_mse,
                    m.label2_mse,
                    m.output_accuracy,
                    m.label1_accuracy,
                    m.label2_accuracy,
                    m.output_rounded_accuracy,
                    m.label1_rounded_accuracy,
                    m.label2_rounded_accuracy,
                    m.output_4dp_accuracy,
                    m.output_5dp_accuracy,
                ]
                .iter()
                .map(|v| v.to_string()),
            );
        }
        writer.write_record(&fields)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}
