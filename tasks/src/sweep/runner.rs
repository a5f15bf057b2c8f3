//! Runs a plan on a thread pool: finished runs are appended as they come, finished runs
//! already in the directory are skipped, and a progress bar shows the pace and the tally.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::plan::{Plan, PlannedRun};
use super::shard::Shard;
use super::store::{self, Appender, Collection, StoreError, StoredRun};
use crate::train::{Run, RunError};

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
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
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
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    store::write_manifest(dir, plan)?;
    let shard = (options.shard.count > 1).then_some((options.shard.index, options.shard.count));
    let path = store::results_file(dir, shard);
    let mut appender = Appender::open(&path)?;
    let done = Collection::of_dir(dir)?;

    let mine: Vec<&PlannedRun> = plan
        .runs
        .iter()
        .enumerate()
        .filter(|(i, _)| options.shard.has(*i))
        .map(|(_, r)| r)
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

    let bar = progress_bar(pending.len(), options.progress);
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| SweepError::Pool(e.to_string()))?;
    let (tx, rx) = mpsc::channel::<Result<StoredRun, SweepError>>();
    let mut failure = None;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pool.install(|| {
                pending
                    .par_iter()
                    .with_max_len(1)
                    .for_each_with(tx, |tx, run| {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let _ = tx.send(train(run));
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

fn train(run: &PlannedRun) -> Result<StoredRun, SweepError> {
    let prepared = Run::prepare(&run.settings).map_err(|source| SweepError::Run {
        key: run.key.to_string(),
        source,
    })?;
    Ok(StoredRun {
        key: run.key.clone(),
        record: prepared.train(&mut |_| {}),
    })
}

fn progress_bar(total: usize, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {per_sec}  ETA {eta}  {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
