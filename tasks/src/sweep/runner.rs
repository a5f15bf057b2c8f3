//! Runs a plan on a thread pool: finished runs are appended as they come, finished runs
//! already in the directory are skipped, and a progress bar shows the pace and the tally.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::plan::{Plan, PlannedRun, by_data};
use super::shard::Shard;
use super::store::{self, Appender, Collection, Manifest, StoreError, StoredRun};
use crate::train::{Run, RunError, train_together};

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run '{key}': {source}")]
    Run { key: String, source: RunError },
    #[error(
        "run '{key}' in {path} was made with other settings than this sweep plans; use another --out, or remove the old results"
    )]
    Changed { key: String, path: String },
    #[error("cannot start the thread pool: {0}")]
    Pool(String),
}

/// How to run a sweep.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Worker threads (0: one per core).
    pub threads: usize,
    pub shard: Shard,
    /// How to show progress.
    pub progress: Display,
}

/// How a sweep shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// A live bar (for a terminal).
    Bar,
    /// A line on stderr at every tenth of the runs (for logs, such as a cluster job's).
    Lines,
    Off,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Runs of this shard.
    pub planned: usize,
    /// Of those, already finished before this invocation.
    pub skipped: usize,
    /// Finished now.
    pub finished: usize,
    pub solved: usize,
    pub seconds: f64,
}

/// Runs this shard's runs of `plan` that `dir` does not hold yet.
pub fn run(plan: &Plan, dir: &Path, options: Options) -> Result<Outcome, SweepError> {
    std::fs::create_dir_all(dir).map_err(store::io(dir))?;
    store::write_manifest(dir, Manifest::of(plan))?;
    let shard = (options.shard.count > 1).then_some((options.shard.index, options.shard.count));
    let path = store::results_file(dir, shard);
    let mut appender = Appender::open(&path)?;
    let done: Collection = Collection::of_dir(dir)?;

    let mine: Vec<&PlannedRun> = plan
        .shard_positions(options.shard)
        .into_iter()
        .map(|i| &plan.runs[i])
        .collect();
    let mut pending = Vec::new();
    for run in &mine {
        match done.runs.get(&run.key) {
            Some((stored, file)) if stored.record.settings != run.settings => {
                return Err(SweepError::Changed {
                    key: run.key.to_string(),
                    path: file.display().to_string(),
                });
            }
            Some(_) => {}
            None => pending.push(*run),
        }
    }
    let mut outcome = Outcome {
        planned: mine.len(),
        skipped: mine.len() - pending.len(),
        ..Outcome::default()
    };

    let bar = progress_bar(
        pending.len() as u64,
        options.progress == Display::Bar,
        "{bar:30} {pos}/{len} runs  {per_sec}  ETA {eta}  {msg}",
    );
    let tenth = pending.len().div_ceil(10).max(1);
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| SweepError::Pool(e.to_string()))?;
    let (tx, rx) = mpsc::channel::<Result<StoredRun, SweepError>>();
    let tasks = side_by_side(&pending, pool.current_num_threads());
    let mut failure = None;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pool.install(|| {
                tasks
                    .par_iter()
                    .with_max_len(1)
                    .for_each_with(tx, |tx, runs| {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        match train(runs) {
                            Ok(stored) => {
                                for s in stored {
                                    let _ = tx.send(Ok(s));
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(e));
                            }
                        }
                    })
            })
        });
        for message in rx {
            let result = message.and_then(|stored| {
                appender.append(&stored)?;
                Ok(stored)
            });
            match result {
                Ok(stored) => {
                    outcome.finished += 1;
                    outcome.solved += usize::from(stored.record.verdict.solved);
                    bar.set_message(format!("solved {}/{}", outcome.solved, outcome.finished));
                    bar.inc(1);
                    if options.progress == Display::Lines
                        && (outcome.finished.is_multiple_of(tenth)
                            || outcome.finished == pending.len())
                    {
                        let seconds = start.elapsed().as_secs_f64();
                        let rate = outcome.finished as f64 / seconds.max(1e-9);
                        eprintln!(
                            "{}/{} runs, {rate:.1} runs/s, {:.0} s left, solved {}/{}",
                            outcome.finished,
                            pending.len(),
                            (pending.len() - outcome.finished) as f64 / rate,
                            outcome.solved,
                            outcome.finished
                        );
                    }
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
        }
    });
    bar.finish_and_clear();
    appender.sync()?;
    outcome.seconds = start.elapsed().as_secs_f64();
    match failure {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// The pending runs as tasks of runs that share their training batches (trained side by
/// side); groups are halved while there are fewer than two tasks per thread, so that every
/// core has work. How runs are grouped changes the speed only, never a result.
fn side_by_side<'a>(pending: &[&'a PlannedRun], threads: usize) -> Vec<Vec<&'a PlannedRun>> {
    let mut tasks = by_data(pending.iter(), |run| **run, |run| &run.settings);
    while tasks.len() < 2 * threads {
        let Some(largest) = (0..tasks.len())
            .filter(|&t| tasks[t].len() > 1)
            .max_by_key(|&t| tasks[t].len())
        else {
            break;
        };
        let half = tasks[largest].len() / 2;
        let rest = tasks[largest].split_off(half);
        tasks.push(rest);
    }
    tasks
}

/// Trains a task's runs side by side.
fn train(runs: &[&PlannedRun]) -> Result<Vec<StoredRun>, SweepError> {
    let prepared = runs
        .iter()
        .map(|run| {
            Run::prepare(&run.settings).map_err(|source| SweepError::Run {
                key: run.key.to_string(),
                source,
            })
        })
        .collect::<Result<Vec<Run>, SweepError>>()?;
    Ok(runs
        .iter()
        .zip(train_together(prepared))
        .map(|(run, record)| StoredRun {
            key: run.key.clone(),
            record,
        })
        .collect())
}

/// A live bar over `total` items (hidden unless `shown`), in indicatif's `template`.
pub fn progress_bar(total: u64, shown: bool, template: &str) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
