//! `nalm sweep`: run an experiment of the study (or a sweep file) on every core, or one
//! shard of it on a cluster node; resume where a previous invocation stopped.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use serde_json::Value;

use super::report;
use crate::results::ShowProgress;
use crate::results::{self, StudyManifest};
use crate::sweep::plan::{Plan, deal, parse_seeds};
use crate::sweep::runner::Part;
use crate::sweep::{EXPERIMENTS, Experiment, Options, Outcome, Shard, file, runner};
use crate::train::{Changes, apply};

fn experiments_help() -> String {
    let mut text = String::from(
        "A named experiment of the study, `all` for every one of them (each in its own subdirectory of --out, default results/study), or a sweep file (TOML; see the README):",
    );
    for e in EXPERIMENTS {
        text.push_str(&format!("\n  {:<16} {}", e.name, e.about));
    }
    text
}

/// Run an experiment of the study: every (model, setting, seed) run on all cores, results
/// appended as runs finish; the same command resumes an interrupted sweep.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[arg(value_name = "EXPERIMENT|FILE", default_value = "in2", long_help = experiments_help(), help = "A named experiment (see --list), `all` for the whole study, or a sweep file [default: in2]")]
    pub sweep: String,
    /// Directory of the results [default: results/<sweep name>, results/study for `all`].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// List the experiments and exit.
    #[arg(long)]
    pub list: bool,
    /// Print one line per run that would execute (after filters and shard) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N", value_parser = super::threads)]
    pub threads: Option<usize>,
    /// Run only the K-th of N deterministic slices (1-based). Inside a SLURM job array the
    /// slice comes from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Only this model (repeat for several).
    #[arg(long, value_name = "LABEL")]
    pub model: Vec<String>,
    /// Only this setting, e.g. 'U[1,2]' (repeat for several).
    #[arg(long, value_name = "LABEL")]
    pub setting: Vec<String>,
    /// Only these seeds, e.g. 0-24 or 0,3,5-7.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub seeds: Option<String>,
    /// Change a setting of every run, by its `nalm train` flag name, e.g.
    /// --set max-iterations=5000 (repeat for several). Changed runs are different runs:
    /// use a fresh --out.
    #[arg(long, value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// No progress (a bar on a terminal, a line per tenth of the runs otherwise) and no
    /// report at the end.
    #[arg(long)]
    pub quiet: bool,
}

/// The plan of a named experiment or a sweep file.
fn load(name: &str) -> anyhow::Result<Plan> {
    if let Some(e) = Experiment::by_name(name) {
        return Ok(e.grid().plan()?);
    }
    let path = Path::new(name);
    if path.exists() {
        return Ok(file::load(path)?);
    }
    let names: Vec<&str> = EXPERIMENTS.iter().map(|e| e.name).collect();
    bail!(
        "'{name}' is neither an experiment ({}) nor a sweep file",
        names.join(", ")
    )
}

/// `NAME=VALUE` pairs as changes; values are read as JSON when they parse, else as text.
pub(super) fn changes(pairs: &[String]) -> anyhow::Result<Changes> {
    let mut changes = Changes::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--set: '{pair}' is not NAME=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        changes.insert(name.trim().trim_start_matches("--").to_string(), value);
    }
    Ok(changes)
}

fn shard(args: &Args) -> anyhow::Result<Shard> {
    if let Some(s) = args.shard {
        return Ok(s);
    }
    let from_slurm = Shard::from_slurm(|name| std::env::var(name).ok())
        .map_err(|e| anyhow::anyhow!("SLURM job array: {e}"))?;
    Ok(from_slurm.unwrap_or(Shard::WHOLE))
}

/// The sweep name that runs every experiment of the study.
pub const STUDY: &str = "all";

/// `plan` with the seed filter and the `--set` changes of `args` applied.
fn narrowed(mut plan: Plan, args: &Args) -> anyhow::Result<Plan> {
    let seeds = args
        .seeds
        .as_deref()
        .map(parse_seeds)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--seeds: {e}"))?;
    plan.filter(&args.model, &args.setting, seeds.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let extra = changes(&args.set)?;
    plan.changes.extend(extra.clone());
    for run in &mut plan.runs {
        apply(&mut run.settings, &extra).map_err(|e| anyhow::anyhow!("--set: {e}"))?;
        run.settings
            .validate()
            .map_err(|e| anyhow::anyhow!("--set: run '{}': {e}", run.key))?;
    }
    if plan.runs.is_empty() {
        bail!("the filters leave no run");
    }
    Ok(plan)
}

/// `--out`, or `results/NAME`; a file in its place is refused before any work.
fn results_dir(args: &Args, name: &str) -> anyhow::Result<PathBuf> {
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(name));
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--out: {} is a file; name a folder for the results",
            dir.display()
        );
    }
    Ok(dir)
}

/// How progress is shown, from `--quiet` and whether stderr is a terminal.
fn options(args: &Args, shard: Shard) -> Options {
    Options {
        threads: args.threads.unwrap_or(0),
        shard,
        progress: match (args.quiet, std::io::stderr().is_terminal()) {
            (true, _) => ShowProgress::Off,
            (false, true) => ShowProgress::Bar,
            (false, false) => ShowProgress::Lines,
        },
    }
}

fn workers(options: &Options) -> usize {
    if options.threads == 0 {
        rayon::current_num_threads()
    } else {
        options.threads
    }
}

fn shard_note(shard: Shard) -> String {
    if shard.count > 1 {
        format!(", shard {shard}")
    } else {
        String::new()
    }
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.list {
        let mut out = std::io::stdout().lock();
        for e in EXPERIMENTS {
            let runs = e.grid().plan().map(|p| p.runs.len()).unwrap_or(0);
            writeln!(out, "{:<18} {:>5} runs  {}", e.name, runs, e.about)?;
        }
        return Ok(0);
    }
    if args.sweep == STUDY {
        return study(args);
    }
    let plan = narrowed(load(&args.sweep)?, args)?;
    let shard = shard(args)?;
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for i in plan.shard_positions(shard) {
            writeln!(out, "{i:>5}  {}", describe(&plan.runs[i]))?;
        }
        return Ok(0);
    }
    let dir = results_dir(args, &plan.name)?;
    let options = options(args, shard);
    if !args.quiet {
        eprintln!(
            "sweep '{}': {} runs{}, {} threads, results in {}",
            plan.name,
            plan.runs.len(),
            shard_note(shard),
            workers(&options),
            dir.display()
        );
    }
    let outcome = runner::run(&plan, &dir, options)?;
    if !args.quiet {
        eprintln!(
            "{} runs finished in {:.1} s ({:.1} runs/s), {} solved; {} were already done",
            outcome.finished,
            outcome.seconds,
            outcome.finished as f64 / outcome.seconds.max(1e-9),
            outcome.solved,
            outcome.skipped
        );
        if shard.count > 1 {
            eprintln!(
                "shard {shard} done; when every shard is, `nalm report {}` (or `nalm merge` shard directories first)",
                dir.display()
            );
        } else {
            report::report(&dir, None)?;
        }
    }
    Ok(0)
}

/// `nalm sweep all`: every experiment of the study on one pool, each experiment's results in
/// its own subdirectory of `--out`, then the study's report.
fn study(args: &Args) -> anyhow::Result<i32> {
    if !args.model.is_empty() || !args.setting.is_empty() {
        bail!(
            "--model and --setting choose within one experiment; the whole study takes --seeds and --set"
        );
    }
    let plans = EXPERIMENTS
        .iter()
        .map(|e| narrowed(e.grid().plan()?, args))
        .collect::<anyhow::Result<Vec<Plan>>>()?;
    let shard = shard(args)?;
    if args.dry_run {
        let refs: Vec<&Plan> = plans.iter().collect();
        let mut out = std::io::stdout().lock();
        for (plan, positions) in plans.iter().zip(deal(&refs, shard)) {
            for i in positions {
                writeln!(out, "{:<18} {i:>5}  {}", plan.name, describe(&plan.runs[i]))?;
            }
        }
        return Ok(0);
    }
    let dir = results_dir(args, "study")?;
    results::write_study(
        &dir,
        StudyManifest {
            experiments: plans.iter().map(|p| p.name.clone()).collect(),
        },
    )?;
    let parts: Vec<Part> = plans
        .iter()
        .map(|plan| Part {
            plan,
            dir: dir.join(&plan.name),
        })
        .collect();
    let options = options(args, shard);
    let total: usize = plans.iter().map(|p| p.runs.len()).sum();
    if !args.quiet {
        eprintln!(
            "the study: {} experiments, {total} runs{}, {} threads, results in {}",
            plans.len(),
            shard_note(shard),
            workers(&options),
            dir.display()
        );
    }
    let (outcomes, seconds) = runner::run_parts(&parts, options)?;
    if !args.quiet {
        eprintln!("{}", timing_table(&plans, &outcomes, seconds));
        if shard.count > 1 {
            eprintln!(
                "shard {shard} done; when every shard is, `nalm report {}`",
                dir.display()
            );
        } else {
            report::report(&dir, None)?;
        }
    }
    Ok(0)
}

/// Per experiment: runs, solved, runs shared with another experiment, and the core time its
/// runs took (a shared run's counts for the first experiment that plans it); then the wall
/// time.
fn timing_table(plans: &[Plan], outcomes: &[Outcome], seconds: f64) -> String {
    let mut text = format!(
        "{:<18} {:>6} {:>6} {:>7} {:>7} {:>10}\n",
        "experiment", "runs", "done", "solved", "shared", "core s"
    );
    for (plan, o) in plans.iter().zip(outcomes) {
        text.push_str(&format!(
            "{:<18} {:>6} {:>6} {:>7} {:>7} {:>10.1}\n",
            plan.name, o.planned, o.finished, o.solved, o.shared, o.cpu_seconds
        ));
    }
    let finished: usize = outcomes.iter().map(|o| o.finished).sum();
    let shared: usize = outcomes.iter().map(|o| o.shared).sum();
    let skipped: usize = outcomes.iter().map(|o| o.skipped).sum();
    let core: f64 = outcomes.iter().map(|o| o.cpu_seconds).sum();
    text.push_str(&format!(
        "{finished} runs finished in {seconds:.1} s wall ({core:.1} core s), {} trained and {shared} shared with an identical run of another experiment; {skipped} were already done",
        finished - shared
    ));
    text
}

/// One run as a line: its key and the `nalm train` command that repeats it.
fn describe(run: &crate::sweep::PlannedRun) -> String {
    let s = &run.settings;
    let preset = s.preset.as_deref().unwrap_or("");
    let base = crate::train::preset::Preset::by_name(preset)
        .map(|p| p.settings(Some(s.input_size)))
        .unwrap_or_default();
    let (Ok(Value::Object(now)), Ok(Value::Object(was))) =
        (serde_json::to_value(s), serde_json::to_value(&base))
    else {
        unreachable!("settings serialise to objects");
    };
    let mut command = format!("nalm train --preset {preset} --input-size {}", s.input_size);
    for (name, value) in &now {
        if was.get(name) == Some(value) || name == "preset" || name == "input-size" {
            continue;
        }
        match value {
            Value::Bool(true) => command.push_str(&format!(" --{name}")),
            Value::Bool(false) => command.push_str(&format!(" --no-{name}")),
            Value::Null => {}
            Value::String(text) if text.contains([' ', '[', '(']) => {
                command.push_str(&format!(" --{name} '{text}'"))
            }
            Value::String(text) => command.push_str(&format!(" --{name} {text}")),
            other => command.push_str(&format!(" --{name} {other}")),
        }
    }
    format!("{}  {}", run.key, command)
}
