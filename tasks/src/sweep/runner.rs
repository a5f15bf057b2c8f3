//! Runs a plan on a thread pool: finished runs are appended as they come, finished runs
//! already in the directory are skipped, and a progress bar shows the pace and the tally.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::plan::{Plan, PlannedRun, by_data, data_cost, deal, run_cost};
use super::shard::Shard;
use crate::results::progress::progress_bar;
use crate::results::{self, Appender, Collection, ShowProgress, StoreError, StoredRun};
use crate::train::{Run, RunError, RunRecord, Settings, train_together, training_key};

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
    pub progress: ShowProgress,
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
    /// Of those, recorded from a run that another part plans or holds with the same
    /// settings but for the preset's name (trained once, for both).
    pub shared: usize,
    pub solved: usize,
    /// Wall time of the invocation.
    pub seconds: f64,
    /// Time the workers spent on these runs (the sum over threads).
    pub cpu_seconds: f64,
}

/// One experiment of a job: its plan and the directory its results go to.
pub struct Part<'a> {
    pub plan: &'a Plan,
    pub dir: PathBuf,
}

/// Runs this shard's runs of `plan` that `dir` does not hold yet.
pub fn run(plan: &Plan, dir: &Path, options: Options) -> Result<Outcome, SweepError> {
    let part = Part {
        plan,
        dir: dir.to_path_buf(),
    };
    let (mut outcomes, seconds) = run_parts(&[part], options)?;
    let mut outcome = outcomes.remove(0);
    outcome.seconds = seconds;
    Ok(outcome)
}

/// Planned runs with the same [`training_key`]: one training gives each its record.
#[derive(Clone)]
struct Training<'a> {
    /// The runs, each with its part; the first is the one trained.
    runs: Vec<(usize, &'a PlannedRun)>,
}

impl Training<'_> {
    fn settings(&self) -> &Settings {
        &self.runs[0].1.settings
    }
}

/// A cohort: trainings that share their training batches, the unit of work of one thread.
struct Cohort<'a> {
    trainings: Vec<Training<'a>>,
    /// Estimated cost of each training, with its share of drawing the data (microseconds).
    costs: Vec<f64>,
}

/// A finished cohort's records, one per training, or why it failed.
struct Finished {
    cohort: usize,
    records: Result<Vec<RunRecord>, SweepError>,
    seconds: f64,
}

/// Runs this shard's runs of every part that its directory does not hold yet, on one pool:
/// the most costly groups of runs first, so that no core idles at the end of an experiment.
/// A run that several parts plan (the same settings but for the preset's name) is trained
/// once and recorded in each, and one whose twin another part already holds takes a copy
/// of that record. Returns each part's outcome and the wall time.
pub fn run_parts(parts: &[Part], options: Options) -> Result<(Vec<Outcome>, f64), SweepError> {
    let plans: Vec<&Plan> = parts.iter().map(|p| p.plan).collect();
    let dealt = deal(&plans, options.shard);
    let shard = (options.shard.count > 1).then_some((options.shard.index, options.shard.count));
    let mut appenders = Vec::new();
    let mut locks = Vec::new();
    let mut outcomes = Vec::new();
    let mut stored = Vec::new();
    let mut pending = Vec::new();
    for (p, (part, mine)) in parts.iter().zip(&dealt).enumerate() {
        let dir = &part.dir;
        std::fs::create_dir_all(dir).map_err(results::io(dir))?;
        locks.push(results::lock(dir, shard)?);
        results::write_manifest(dir, part.plan.manifest())?;
        appenders.push(Appender::open(&results::results_file(dir, shard))?);
        let done: Collection = Collection::of_dir(dir)?;
        let mut skipped = 0;
        for run in mine.iter().map(|&i| &part.plan.runs[i]) {
            match done.runs.get(&run.key) {
                Some((stored, file)) if stored.record.settings != run.settings => {
                    return Err(SweepError::Changed {
                        key: run.key.to_string(),
                        path: file.display().to_string(),
                    });
                }
                Some(_) => skipped += 1,
                None => pending.push((p, run)),
            }
        }
        outcomes.push(Outcome {
            planned: mine.len(),
            skipped,
            ..Outcome::default()
        });
        stored.push(done);
    }
    let twins: HashMap<String, &RunRecord> = stored
        .iter()
        .flat_map(|done| done.runs.values())
        .map(|(run, _)| (training_key(&run.record.settings), &run.record))
        .collect();
    let mut trainings: Vec<Training> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (p, run) in pending {
        let key = training_key(&run.settings);
        if let Some(&record) = twins.get(&key) {
            record_run(
                &mut appenders[p],
                &mut outcomes[p],
                run,
                record.clone(),
                true,
            )?;
            continue;
        }
        match by_key.entry(key) {
            Entry::Occupied(t) => trainings[*t.get()].runs.push((p, run)),
            Entry::Vacant(t) => {
                t.insert(trainings.len());
                trainings.push(Training {
                    runs: vec![(p, run)],
                });
            }
        }
    }
    // the stored records are not needed while training
    drop(twins);
    drop(stored);
    let mut cohorts: Vec<Cohort> = by_data(trainings.iter(), |t| (*t).clone(), |t| t.settings())
        .into_iter()
        .map(|trainings| {
            let data = data_cost(trainings[0].settings()) / trainings.len() as f64;
            let costs = trainings
                .iter()
                .map(|t| run_cost(t.settings()) + data)
                .collect();
            Cohort { trainings, costs }
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| SweepError::Pool(e.to_string()))?;
    let threads = pool.current_num_threads();
    split_for(&mut cohorts, threads);
    // the most costly first: the cheap ones fill the gaps at the end
    cohorts.sort_by(|a, b| total(b).total_cmp(&total(a)));

    let pending: usize = trainings.iter().map(|t| t.runs.len()).sum();
    let work: f64 = cohorts.iter().map(total).sum();
    let bar = progress_bar(
        work.ceil() as u64,
        options.progress == ShowProgress::Bar,
        "{bar:30} {percent:>3}%  ETA {eta}  {msg}",
    );
    let mut tally = Tally::default();
    bar.set_message(tally.line(pending));
    let tenth = work / 10.0;
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Finished>();
    let mut failure = None;
    std::thread::scope(|scope| {
        let cohorts = &cohorts;
        let (stop, next) = (&stop, &next);
        scope.spawn(move || {
            pool.scope(|workers| {
                for _ in 0..threads {
                    let tx = tx.clone();
                    workers.spawn(move |_| {
                        // each worker takes the next cohort in order, until none is left
                        while !stop.load(Ordering::Relaxed) {
                            let cohort = next.fetch_add(1, Ordering::Relaxed);
                            let Some(trainings) = cohorts.get(cohort).map(|t| &t.trainings) else {
                                break;
                            };
                            let began = Instant::now();
                            let records = train(trainings);
                            let seconds = began.elapsed().as_secs_f64();
                            if tx
                                .send(Finished {
                                    cohort,
                                    records,
                                    seconds,
                                })
                                .is_err()
                            {
                                break;
                            }
                        }
                    });
                }
            });
            drop(tx);
        });
        let mut reported = 0.0;
        for finished in rx {
            let cohort = &cohorts[finished.cohort];
            let per_cost = finished.seconds / total(cohort);
            let appended = finished.records.and_then(|records| {
                for ((training, record), &cost) in
                    cohort.trainings.iter().zip(records).zip(&cohort.costs)
                {
                    // the cohort's time, shared by estimated cost, counts for the part of
                    // each training's first run
                    outcomes[training.runs[0].0].cpu_seconds += per_cost * cost;
                    for (k, &(p, run)) in training.runs.iter().enumerate() {
                        let solved = record.verdict.solved;
                        record_run(
                            &mut appenders[p],
                            &mut outcomes[p],
                            run,
                            record.clone(),
                            k > 0,
                        )?;
                        tally.add(solved, if k == 0 { cost } else { 0.0 });
                    }
                    bar.inc(cost as u64);
                }
                Ok(())
            });
            if let Err(e) = appended {
                stop.store(true, Ordering::Relaxed);
                failure.get_or_insert(e);
                continue;
            }
            bar.set_message(tally.line(pending));
            if options.progress == ShowProgress::Lines
                && (tally.work - reported >= tenth || tally.runs == pending)
            {
                reported = tally.work;
                let seconds = start.elapsed().as_secs_f64();
                // (the sums of costs can end a hair below zero: no "-0 s left")
                let left = seconds * (work - tally.work) / tally.work.max(1e-9);
                let left = if left > 0.0 { left } else { 0.0 };
                eprintln!(
                    "{:.0}% of the work, {}, {left:.0} s left",
                    100.0 * tally.work / work.max(1e-9),
                    tally.line(pending)
                );
            }
        }
    });
    bar.finish_and_clear();
    for appender in &mut appenders {
        appender.sync()?;
    }
    drop(locks);
    match failure {
        Some(e) => Err(e),
        None => Ok((outcomes, start.elapsed().as_secs_f64())),
    }
}

/// Appends `record`, trained for `run` or for its twin (`shared`), as `run`'s.
fn record_run(
    appender: &mut Appender,
    outcome: &mut Outcome,
    run: &PlannedRun,
    record: RunRecord,
    shared: bool,
) -> Result<(), SweepError> {
    let stored = StoredRun {
        key: run.key.clone(),
        record: record.relabelled(&run.settings),
    };
    appender.append(&stored)?;
    outcome.finished += 1;
    outcome.shared += usize::from(shared);
    outcome.solved += usize::from(stored.record.verdict.solved);
    Ok(())
}

/// The runs finished so far in this invocation.
#[derive(Default)]
struct Tally {
    runs: usize,
    solved: usize,
    /// Their estimated cost.
    work: f64,
}

impl Tally {
    fn add(&mut self, solved: bool, cost: f64) {
        self.runs += 1;
        self.solved += usize::from(solved);
        self.work += cost;
    }

    fn line(&self, pending: usize) -> String {
        format!(
            "{}/{pending} runs, solved {}/{}",
            self.runs, self.solved, self.runs
        )
    }
}

fn total(cohort: &Cohort) -> f64 {
    cohort.costs.iter().sum()
}

/// Halves the largest cohorts while there are fewer than two per thread, so that every core
/// has work. How runs are grouped changes the speed only, never a result.
fn split_for(cohorts: &mut Vec<Cohort>, threads: usize) {
    while cohorts.len() < 2 * threads {
        let Some(largest) = (0..cohorts.len())
            .filter(|&t| cohorts[t].trainings.len() > 1)
            .max_by_key(|&t| cohorts[t].trainings.len())
        else {
            break;
        };
        let half = cohorts[largest].trainings.len() / 2;
        let trainings = cohorts[largest].trainings.split_off(half);
        let costs = cohorts[largest].costs.split_off(half);
        cohorts.push(Cohort { trainings, costs });
    }
}

/// Trains a cohort's trainings side by side: one record each.
fn train(trainings: &[Training]) -> Result<Vec<RunRecord>, SweepError> {
    let mut prepared: Vec<Run> = Vec::with_capacity(trainings.len());
    for t in trainings {
        // one copy of the data for the cohort: its runs draw the same
        let run = Run::prepare_sharing(t.settings(), prepared.first().map(Run::data));
        prepared.push(run.map_err(|source| SweepError::Run {
            key: t.runs[0].1.key.to_string(),
            source,
        })?);
    }
    Ok(train_together(prepared))
}
