//! The MNIST study (`tasks/docs/mnist-task.md` section 8): every head on every fold, each run seeded by its fold,
//! in a sweep directory like `nalm sweep`'s (the manifest, append-only records, shards and
//! SLURM arrays, `nalm merge`, `nalm report`), with a checkpoint per unfinished run so that a
//! killed study loses at most the epochs since each run's last checkpoint.
//!
//! Runs go side by side, each on its share of the threads: a run's results do not depend on
//! its thread count, so how the runs are dealt changes the speed only.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::checkpoint::{self, CheckpointError};
use super::folds;
use super::idx::Mnist;
use super::network::Head;
use super::preset::Preset;
use super::run::{Progress, Record, Settings, State, resume};
use crate::results::ShowProgress;
use crate::results::progress::progress_bar;
use crate::results::{
    self, Appender, Collection, Manifest, RunKey, RunKind, StoreError, StoredRun,
};
use crate::sweep::Shard;

/// One run of the study.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyRun {
    pub key: RunKey,
    pub settings: Settings,
}

/// Heads x folds, in the order the report shows them (heads, then folds).
#[derive(Clone, Debug)]
pub struct Study {
    pub name: String,
    pub heads: Vec<Head>,
    pub folds: Vec<usize>,
    pub runs: Vec<StudyRun>,
}

/// How a fold is named in keys and reports.
pub fn fold_label(fold: usize) -> String {
    format!("fold {fold}")
}

impl Study {
    /// Every head of `heads` on every fold of `folds` under `preset`, seeded by the fold as in
    /// the paper, each run's settings then changed by `adjust`.
    pub fn new(
        preset: &Preset,
        heads: &[Head],
        folds: &[usize],
        adjust: impl Fn(&mut Settings),
    ) -> Study {
        let mut runs = Vec::new();
        for &head in heads {
            for &fold in folds {
                let mut settings = preset.settings(head.name(), fold, fold as u64);
                adjust(&mut settings);
                let key = RunKey {
                    model: head.label().to_string(),
                    setting: fold_label(fold),
                    seed: settings.seed as u32,
                };
                runs.push(StudyRun { key, settings });
            }
        }
        Study {
            name: format!("mnist-{}", preset.name),
            heads: heads.to_vec(),
            folds: folds.to_vec(),
            runs,
        }
    }

    pub fn manifest(&self) -> Manifest {
        Manifest::new(
            self.name.clone(),
            RunKind::Mnist,
            self.heads.iter().map(|h| h.label().to_string()).collect(),
            self.folds.iter().map(|&f| fold_label(f)).collect(),
            self.runs.iter().map(|r| r.key.clone()).collect(),
        )
    }

    /// The positions of shard `shard`'s runs: every N-th run (the runs cost about the same).
    pub fn shard_positions(&self, shard: Shard) -> Vec<usize> {
        (0..self.runs.len()).filter(|&i| shard.has(i)).collect()
    }
}

/// How to run a study.
#[derive(Clone, Copy, Debug)]
pub struct StudyOptions {
    /// Threads in all (0: one per core).
    pub threads: usize,
    /// Runs side by side (0: as many as threads, at most the runs left).
    pub jobs: usize,
    pub shard: Shard,
    pub progress: ShowProgress,
    /// Epochs between two checkpoints of a run.
    pub checkpoint_every: usize,
}

/// What a study invocation did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StudyOutcome {
    /// Runs of this shard.
    pub planned: usize,
    /// Of those, finished before this invocation.
    pub skipped: usize,
    /// Of those left, the ones continued from a checkpoint.
    pub resumed: usize,
    /// Finished now.
    pub finished: usize,
    /// Of those, the ones whose head went NaN.
    pub failed: usize,
    pub seconds: f64,
}

/// Why a study stopped.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "run '{key}' in {path} was made with other settings than this study plans ({differences}); use another --out, or remove the old results"
    )]
    Changed {
        key: String,
        path: String,
        differences: String,
    },
    #[error(
        "{path}: a checkpoint of run '{key}' with other settings than this study plans ({differences}); remove it, or use another --out"
    )]
    StaleCheckpoint {
        key: String,
        path: String,
        differences: String,
    },
    #[error("cannot start a thread pool: {0}")]
    Pool(String),
}

/// The settings in which `stored` differs from `planned`, as "name: stored, planned here".
fn differences(stored: &Settings, planned: &Settings) -> String {
    let fields = |s: &Settings| match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (fields(stored), fields(planned));
    new.iter()
        .filter(|(name, value)| old.get(*name) != Some(value))
        .map(|(name, value)| {
            let before = old.get(name).map_or("none".to_string(), |v| v.to_string());
            format!("{name}: {before} there, {value} here")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where the checkpoint of a run lives in the study's directory.
pub fn checkpoint_path(dir: &Path, settings: &Settings) -> PathBuf {
    dir.join("checkpoints").join(format!(
        "{}-fold{}-seed{}.ckpt",
        settings.head, settings.fold, settings.seed
    ))
}

/// A run still to do, and the epoch it starts from.
struct Pending<'a> {
    run: &'a StudyRun,
    checkpoint: PathBuf,
    from_epoch: Option<usize>,
    batches_left: u64,
}

/// Runs this shard's runs of `study` that `dir` does not hold yet, continuing those with a
/// checkpoint.
pub fn run(
    study: &Study,
    mnist: &Mnist,
    dir: &Path,
    options: StudyOptions,
) -> Result<StudyOutcome, StudyError> {
    let io = results::io;
    let checkpoints = dir.join("checkpoints");
    std::fs::create_dir_all(&checkpoints).map_err(io(&checkpoints))?;
    let shard = options.shard;
    let slice = (shard.count > 1).then_some((shard.index, shard.count));
    let _lock = results::lock(dir, slice)?;
    results::write_manifest(dir, study.manifest())?;
    let results = results::results_file(dir, slice);
    let mut appender = Appender::open(&results)?;
    let done = Collection::<Record>::of_dir(dir)?;

    let mine = study.shard_positions(shard);
    let mut pending = Vec::new();
    for &i in &mine {
        let run = &study.runs[i];
        let checkpoint = checkpoint_path(dir, &run.settings);
        match done.runs.get(&run.key) {
            Some((stored, file)) if stored.record.settings != run.settings => {
                return Err(StudyError::Changed {
                    key: run.key.to_string(),
                    path: file.display().to_string(),
                    differences: differences(&stored.record.settings, &run.settings),
                });
            }
            Some(_) => {
                // finished, but killed before its checkpoint was removed
                if checkpoint.exists() {
                    std::fs::remove_file(&checkpoint).map_err(io(&checkpoint))?;
                }
            }
            None => {
                let from_epoch = if checkpoint.exists() {
                    match checkpoint::load(&checkpoint) {
                        Ok(state) if state.settings != run.settings => {
                            return Err(StudyError::StaleCheckpoint {
                                key: run.key.to_string(),
                                path: checkpoint.display().to_string(),
                                differences: differences(&state.settings, &run.settings),
                            });
                        }
                        Ok(state) => Some(state.epoch),
                        Err(e) if e.is_damaged() => {
                            eprintln!("warning: {e}; run '{}' starts over", run.key);
                            std::fs::remove_file(&checkpoint).map_err(io(&checkpoint))?;
                            None
                        }
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    None
                };
                let s = &run.settings;
                let epochs_left = s.epochs.saturating_sub(from_epoch.unwrap_or(0));
                let batches_left = (epochs_left * batches_per_epoch(s)) as u64;
                pending.push(Pending {
                    run,
                    checkpoint,
                    from_epoch,
                    batches_left,
                });
            }
        }
    }
    let mut outcome = StudyOutcome {
        planned: mine.len(),
        skipped: mine.len() - pending.len(),
        resumed: pending.iter().filter(|p| p.from_epoch.is_some()).count(),
        ..StudyOutcome::default()
    };
    let start = Instant::now();
    if pending.is_empty() {
        return Ok(outcome);
    }

    let threads = if options.threads == 0 {
        rayon::current_num_threads()
    } else {
        options.threads
    };
    let jobs = match options.jobs {
        0 => threads,
        n => n,
    }
    .clamp(1, pending.len());
    // the threads dealt to the jobs, the first ones taking what does not divide evenly
    let shares: Vec<usize> = (0..jobs)
        .map(|j| (threads / jobs + usize::from(j < threads % jobs)).max(1))
        .collect();

    let total: u64 = pending.iter().map(|p| p.batches_left).sum();
    let bar = progress_bar(
        total,
        options.progress == ShowProgress::Bar,
        "{bar:30} {pos}/{len} batches  ETA {eta}  {msg}",
    );
    let batches_done = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let every = options.checkpoint_every.max(1);
    let (tx, rx) = mpsc::channel::<Result<Option<(usize, Record)>, StudyError>>();
    let mut failure = None;
    std::thread::scope(|scope| {
        for &share in &shares {
            let tx = tx.clone();
            let (pending, next, stop, bar, batches_done) =
                (&pending, &next, &stop, &bar, &batches_done);
            scope.spawn(move || {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(share).build() {
                    Ok(pool) => pool,
                    Err(e) => {
                        let _ = tx.send(Err(StudyError::Pool(e.to_string())));
                        return;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = pending.get(i) else { break };
                    let on_batch = || {
                        bar.inc(1);
                        batches_done.fetch_add(1, Ordering::Relaxed);
                    };
                    let result = pool
                        .install(|| train_one(job, mnist, every, stop, on_batch, options.progress));
                    if tx.send(result.map(|r| r.map(|r| (i, r)))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for message in rx {
            let result = message.and_then(|finished| {
                let Some((i, record)) = finished else {
                    return Ok(None);
                };
                let job = &pending[i];
                outcome.failed += usize::from(record.failed);
                appender.append(&StoredRun {
                    key: job.run.key.clone(),
                    record,
                })?;
                if job.checkpoint.exists() {
                    std::fs::remove_file(&job.checkpoint).map_err(io(&job.checkpoint))?;
                }
                Ok(Some(i))
            });
            match result {
                Ok(Some(i)) => {
                    outcome.finished += 1;
                    bar.set_message(format!("{}/{} runs", outcome.finished, pending.len()));
                    if options.progress == ShowProgress::Lines {
                        let seconds = start.elapsed().as_secs_f64();
                        let done = batches_done.load(Ordering::Relaxed).max(1);
                        let left = seconds / done as f64 * total.saturating_sub(done) as f64;
                        eprintln!(
                            "{}/{} runs: {} done, {seconds:.0} s so far, about {left:.0} s left",
                            outcome.finished,
                            pending.len(),
                            pending[i].run.key
                        );
                    }
                }
                Ok(None) => {}
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

/// Training batches in one epoch of a run.
fn batches_per_epoch(settings: &Settings) -> usize {
    let pairs = folds::split(settings.fold).0.len();
    (pairs * settings.samples_per_pair).div_ceil(settings.batch_size.max(1))
}

/// Trains one run from its checkpoint (or its start), saving a checkpoint every `every`
/// epochs; stops early, saved, when `stop` is raised. The record when the run finished.
fn train_one(
    job: &Pending<'_>,
    mnist: &Mnist,
    every: usize,
    stop: &AtomicBool,
    on_batch: impl Fn() + Sync,
    display: ShowProgress,
) -> Result<Option<Record>, StudyError> {
    let mut state = match job.from_epoch {
        Some(_) => checkpoint::load(&job.checkpoint)?,
        None => State::new(&job.run.settings),
    };
    let epochs = job.run.settings.epochs;
    let tenth = epochs.div_ceil(10).max(1);
    let mut saved = Ok(());
    resume(
        &mut state,
        mnist,
        |p| match p {
            Progress::Batch(..) => on_batch(),
            Progress::Logged(row) => {
                if display == ShowProgress::Lines
                    && row.epoch > 0
                    && row.epoch.is_multiple_of(tenth)
                {
                    eprintln!(
                        "  {}: epoch {}/{epochs}, test 5 d.p. {:.1}%",
                        job.run.key, row.epoch, row.test.output_5dp_accuracy
                    );
                }
            }
        },
        |state| {
            let stopping = stop.load(Ordering::Relaxed);
            if stopping || state.epoch.is_multiple_of(every) {
                saved = checkpoint::save(&job.checkpoint, state);
            }
            if stopping || saved.is_err() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    );
    saved?;
    Ok(state.finished().then(|| state.record()))
}
