//! `nalm grad-stability`: the health of every division model's gradients over the study's
//! input settings (see [`crate::stability`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;

use super::sweep::changes;
use crate::report::tables::aligned;
use crate::results::write_atomically;
use crate::results::{Collection, StoredRun};
use crate::stability::lab::{LabModel, Snapshot, replay_command};
use crate::stability::{Cell, CellPlan, DEFAULT_MODELS, ParamSource, heatmap, measure_all};
use crate::sweep::experiments::study_settings;
use crate::train::Run;

/// Sample points of every (model, setting) cell and measure the gradients of the training
/// loss w.r.t. every parameter and input, on the f32 tape and in f64: the share of
/// non-finite, exploding (|g| > 1e6) and vanishing (|g| < 1e-12) entries, |g| quantiles, the
/// f32 error, and the worst points as `nalm grad-audit` commands that replay them.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Models: study presets, comma separated [default: realnpu-baseline, realnpu-modified,
    /// npu-modified, nru, nru-sepsign, nmru, nmru-vanilla, nmru-gated].
    #[arg(long, value_delimiter = ',', value_name = "PRESETS")]
    pub model: Vec<String>,
    /// Only this setting, by its label as `nalm sweep` shows it, e.g. 'U[1,2]' (repeat for
    /// several) [default: the 9 ranges, the mixed-sign settings M1-M4, the 6 distributions
    /// and the 5 division-by-small ranges].
    #[arg(long, value_name = "LABEL")]
    pub setting: Vec<String>,
    /// Inputs of the unit (the study's 2 or 10).
    #[arg(long = "input-size", default_value_t = 2, value_parser = super::count::<{ crate::train::settings::MAX_INPUT_SIZE }>, conflicts_with = "from")]
    pub input_size: usize,
    /// Points per cell: one training sample and one draw of the initial parameters each.
    #[arg(long, default_value_t = 10_000, value_parser = super::count::<10_000_000>)]
    pub points: usize,
    /// Seed of the samples and the parameter draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Change a setting of every model, by its `nalm train` flag name (repeat for several).
    #[arg(long, value_name = "NAME=VALUE", conflicts_with = "from")]
    pub set: Vec<String>,
    /// Derivative conventions at clamp bounds and min/max ties: paper (modules/README.md 1),
    /// torch-current (PyTorch 2.x) or torch-legacy (PyTorch before 1.10).
    #[arg(long, default_value_t = engine::Conventions::Paper, conflicts_with = "from")]
    pub conventions: engine::Conventions,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N", value_parser = super::threads)]
    pub threads: Option<usize>,
    /// Worst points printed (the worst of each cell, worst cells first).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub worst: usize,
    /// Write cells.csv, worst.csv and heatmap.svg into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Take the parameters along real training runs instead: the runs of this sweep
    /// directory, replayed, their parameters at every logged row (with that iteration's loss
    /// coefficients); one cell per (model, setting) of the sweep. --model and --setting
    /// then select the sweep's model and setting labels; the runs' own settings stand, so
    /// --input-size, --set and --conventions are refused.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// With --from: runs replayed per cell, lowest seeds first.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: usize,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.points == 0 {
        bail!("--points: must be at least 1");
    }
    if args.input_size == 0 {
        bail!("--input-size: must be at least 1");
    }
    let extra = changes(&args.set)?;
    let started = Instant::now();
    let (models, plans) = match &args.from {
        Some(dir) => from_sweep(dir, args)?,
        None => from_presets(args, &extra)?,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let cells = pool
        .install(|| measure_all(&plans, args.points, args.seed))
        .map_err(|e| anyhow::anyhow!(e))?;
    let seconds = started.elapsed().as_secs_f64();
    report(args, &models, &plans, &cells, seconds)
}

/// The cells of the study's presets at initialisation.
fn from_presets(
    args: &Args,
    extra: &crate::train::Changes,
) -> anyhow::Result<(Vec<LabModel>, Vec<CellPlan>)> {
    let names: Vec<String> = if args.model.is_empty() {
        DEFAULT_MODELS.iter().map(|s| s.to_string()).collect()
    } else {
        args.model.clone()
    };
    let models = names
        .iter()
        .map(|name| {
            LabModel::new(name, args.input_size, extra, args.conventions)
                .map_err(|e| anyhow::anyhow!("--model {name}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut settings = study_settings();
    if !args.setting.is_empty() {
        for wanted in &args.setting {
            if !settings.iter().any(|s| &s.label == wanted) {
                let labels: Vec<&str> = settings.iter().map(|s| s.label.as_str()).collect();
                bail!(
                    "--setting: no setting '{wanted}' (settings: {})",
                    labels.join(", ")
                );
            }
        }
        settings.retain(|s| args.setting.contains(&s.label));
    }
    let plans: Vec<CellPlan> = models
        .iter()
        .flat_map(|model| {
            settings.iter().map(|setting| CellPlan {
                model: model.clone(),
                setting: setting.clone(),
                params: ParamSource::Init,
            })
        })
        .collect();
    Ok((models, plans))
}

/// The cells of a sweep directory: per (model, setting), the parameters of up to
/// `--runs` of its runs at every logged row, replayed.
fn from_sweep(dir: &Path, args: &Args) -> anyhow::Result<(Vec<LabModel>, Vec<CellPlan>)> {
    let results: Collection = Collection::of_dir(dir)?;
    let mut groups: Vec<((String, String), Vec<&StoredRun>)> = Vec::new();
    for (run, _) in results.runs.values() {
        let key = (run.key.model.clone(), run.key.setting.clone());
        if (!args.model.is_empty() && !args.model.contains(&key.0))
            || (!args.setting.is_empty() && !args.setting.contains(&key.1))
        {
            continue;
        }
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, runs)) => runs.push(run),
            None => groups.push((key, vec![run])),
        }
    }
    if groups.is_empty() {
        bail!(
            "--from: {} has no finished runs to replay (after the filters)",
            dir.display()
        );
    }
    let mut models: Vec<LabModel> = Vec::new();
    let mut plans = Vec::new();
    for ((model, setting), mut runs) in groups {
        runs.sort_by_key(|r| r.key.seed);
        runs.truncate(args.runs.max(1));
        let mut snapshots = Vec::new();
        for run in &runs {
            let (_, path) = Run::prepare(&run.record.settings)?.train_with_trajectory(&mut |_| {});
            snapshots.extend(path.into_iter().map(|(iteration, params)| Snapshot {
                seed: run.key.seed,
                iteration,
                params,
            }));
        }
        let lab = LabModel::of_run(&model, &runs[0].record.settings)
            .map_err(|e| anyhow::anyhow!("--from: {e}"))?;
        if !models.iter().any(|m| m.label == model) {
            models.push(lab.clone());
        }
        plans.push(CellPlan {
            model: lab,
            setting: crate::sweep::plan::Setting {
                label: setting,
                changes: Default::default(),
            },
            params: ParamSource::Trajectory(snapshots),
        });
    }
    Ok((models, plans))
}

fn report(
    args: &Args,
    models: &[LabModel],
    plans: &[CellPlan],
    cells: &[Cell],
    seconds: f64,
) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    write!(out, "{}", table(cells))?;
    // what the cells used: the arguments', or with --from the replayed runs' own
    let used = |of: fn(&LabModel) -> String| {
        let mut seen: Vec<String> = models.iter().map(of).collect();
        seen.sort();
        seen.dedup();
        seen.join(" and ")
    };
    writeln!(
        out,
        "\n{} cells x {} points ({} inputs, {} conventions, seed {}) in {seconds:.1} s",
        cells.len(),
        args.points,
        used(|m| m.settings.input_size.to_string()),
        used(|m| m.settings.conventions.to_string()),
        args.seed
    )?;
    write!(out, "{}", worst_cases(models, cells, args.worst))?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out: cannot create {}", dir.display()))?;
        let title = if args.from.is_some() {
            "Gradient health of the division models along training"
        } else {
            "Gradient health of the division models at initialisation"
        };
        write_outputs(dir, title, models, &settings_labels(plans), cells)?;
        writeln!(
            out,
            "wrote cells.csv, worst.csv and heatmap.svg to {}",
            dir.display()
        )?;
    }
    Ok(0)
}

fn settings_labels(plans: &[CellPlan]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for p in plans {
        if !labels.contains(&p.setting.label) {
            labels.push(p.setting.label.clone());
        }
    }
    labels
}

fn percent(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v < 0.01 {
        format!("{v:.0e}")
    } else {
        format!("{v:.2}")
    }
}

fn sci(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.1e}")
    }
}

/// One row per cell.
pub fn table(cells: &[Cell]) -> String {
    let mut rows = vec![
        [
            "model",
            "setting",
            "non-finite %",
            "f32 only",
            "exploding %",
            "vanishing %",
            "|g| p1",
            "|g| p50",
            "|g| p99",
            "rel err p50",
            "rel err p99",
            "x non-finite %",
            "x |g| p99",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in cells {
        let p = &c.params;
        rows.push(vec![
            c.model.clone(),
            c.setting.clone(),
            percent(p.non_finite_percent()),
            p.f32_only.to_string(),
            percent(p.exploding_percent()),
            percent(p.vanishing_percent()),
            sci(p.magnitude[0]),
            sci(p.magnitude[1]),
            sci(p.magnitude[2]),
            sci(p.relative_error[0]),
            sci(p.relative_error[1]),
            percent(c.inputs.non_finite_percent()),
            sci(c.inputs.magnitude[2]),
        ]);
    }
    aligned(&rows)
}

/// The worst point of each cell that has one, worst first, with its replay command.
fn worst_cases(models: &[LabModel], cells: &[Cell], shown: usize) -> String {
    let mut ranked: Vec<(&Cell, &crate::stability::Worst)> = cells
        .iter()
        .filter_map(|c| c.worst.first().map(|w| (c, w)))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.severity
            .partial_cmp(&a.1.severity)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut text = String::new();
    if shown > 0 && !ranked.is_empty() {
        text.push_str("\nworst points (replay each with the command below it):\n");
    }
    for (cell, worst) in ranked.into_iter().take(shown) {
        let model = models
            .iter()
            .find(|m| m.label == cell.model)
            .expect("cells come from the models");
        text.push_str(&format!(
            "  {} / {}: {}\n    {}\n",
            cell.model,
            cell.setting,
            worst.severity.describe(),
            replay_command(model, worst)
        ));
    }
    text
}

fn write_outputs(
    dir: &Path,
    title: &str,
    models: &[LabModel],
    settings: &[String],
    cells: &[Cell],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "model",
        "setting",
        "points",
        "points_non_finite",
        "of",
        "entries",
        "non_finite",
        "f32_only_non_finite",
        "exploding",
        "vanishing",
        "abs_p1",
        "abs_p50",
        "abs_p99",
        "rel_error_p50",
        "rel_error_p99",
        "rel_error_max",
    ])?;
    for c in cells {
        for (of, h) in [("params", &c.params), ("inputs", &c.inputs)] {
            w.write_record([
                c.model.clone(),
                c.setting.clone(),
                c.points.to_string(),
                c.points_non_finite.to_string(),
                of.to_string(),
                h.entries.to_string(),
                h.non_finite.to_string(),
                h.f32_only.to_string(),
                h.exploding.to_string(),
                h.vanishing.to_string(),
                format!("{:e}", h.magnitude[0]),
                format!("{:e}", h.magnitude[1]),
                format!("{:e}", h.magnitude[2]),
                format!("{:e}", h.relative_error[0]),
                format!("{:e}", h.relative_error[1]),
                format!("{:e}", h.relative_error[2]),
            ])?;
        }
    }
    write_atomically(&dir.join("cells.csv"), &w.into_inner()?)?;

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "model",
        "setting",
        "rank",
        "severity",
        "iteration",
        "x",
        "t",
        "params",
        "grad_f32",
        "grad_f64",
        "replay",
    ])?;
    let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(" ");
    for c in cells {
        let model = models
            .iter()
            .find(|m| m.label == c.model)
            .expect("cells come from the models");
        for (rank, worst) in c.worst.iter().enumerate() {
            w.write_record([
                c.model.clone(),
                c.setting.clone(),
                (rank + 1).to_string(),
                worst.severity.describe(),
                worst.iteration.to_string(),
                list(&mut worst.x.iter().map(|v| format!("{v:?}"))),
                format!("{:?}", worst.t),
                list(&mut worst.params.iter().map(|v| format!("{v:?}"))),
                list(&mut worst.f32.iter().map(|v| format!("{v:e}"))),
                list(&mut worst.f64.iter().map(|v| format!("{v:e}"))),
                replay_command(model, worst),
            ])?;
        }
    }
    write_atomically(&dir.join("worst.csv"), &w.into_inner()?)?;

    let labels: Vec<String> = models.iter().map(|m| m.label.clone()).collect();
    heatmap::draw(&dir.join("heatmap.svg"), title, &labels, settings, cells)
        .map_err(|e| anyhow::anyhow!("heatmap.svg: {e}"))?;
    Ok(())
}
