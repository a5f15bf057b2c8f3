//! `nalm landscape`: a model's training loss over one or two of its parameters.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use engine::Conventions;

use super::sweep::changes;
use crate::data::TaskData;
use crate::evaluate::{Formula, gold_params};
use crate::results::write_atomically;
use crate::results::{Collection, StoredRun};
use crate::stability::lab::LabModel;
use crate::stability::landscape::{Axis, evaluate};
use crate::stability::landscape_figure::{Path2, draw};
use crate::sweep::experiments::study_settings;
use crate::train::Run;
use crate::train::apply;

/// Evaluate a model's training loss (and optionally its gradient norm) over a line or a
/// plane of its parameters, the others held at the gold solution (or --base); write
/// landscape.csv and landscape.svg (a heat map with contour lines, the gold solution and,
/// with --from, the paths of real training runs).
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The model: a study preset.
    #[arg(long, value_name = "NAME", default_value = "nru")]
    pub preset: String,
    /// Inputs of the unit.
    #[arg(long = "input-size", default_value_t = 2, value_parser = super::count::<{ crate::train::settings::MAX_INPUT_SIZE }>)]
    pub input_size: usize,
    /// The input setting, by its label as `nalm sweep` shows it.
    #[arg(long, value_name = "LABEL", default_value = "U[1,2]")]
    pub setting: String,
    /// Change a setting of the model, by its `nalm train` flag name (repeat for several).
    #[arg(long, value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The parameter along x, e.g. W[0], with its range FROM:TO.
    #[arg(long, value_name = "NAME[i]=FROM:TO", default_value = "W[0]=-1.5:1.5")]
    pub x: String,
    /// The parameter along y, likewise; without it, a line.
    #[arg(long, value_name = "NAME[i]=FROM:TO")]
    pub y: Option<String>,
    /// Values along each axis.
    #[arg(long, default_value_t = 81)]
    pub steps: usize,
    /// The other parameters, flattened in the order `nalm grad-audit` shows [default: the
    /// gold solution].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub base: Option<Vec<f32>>,
    /// Training samples the loss averages over.
    #[arg(long, default_value_t = 1024, value_parser = super::count::<1_000_000>)]
    pub samples: usize,
    /// The training iteration whose loss coefficients are used (regularisers ramp in).
    #[arg(long, default_value_t = 0)]
    pub iteration: u64,
    /// Also the norm of the loss gradient over every parameter.
    #[arg(long)]
    pub gradient_norm: bool,
    /// Draw the paths of this sweep's runs of the model in the setting (replayed).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// With --from: the model's label in the sweep [default: the preset's name].
    #[arg(long, value_name = "LABEL")]
    pub model: Option<String>,
    /// With --from: at most this many runs, lowest seeds first.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "landscape")]
    pub out: PathBuf,
}

/// `NAME[i]=FROM:TO`.
fn axis_spec(text: &str, flag: &str) -> anyhow::Result<(String, f32, f32)> {
    let parsed = text.split_once('=').and_then(|(name, range)| {
        let (from, to) = range.split_once(':')?;
        Some((
            name.trim().to_string(),
            from.trim().parse().ok()?,
            to.trim().parse().ok()?,
        ))
    });
    parsed.with_context(|| format!("{flag}: '{text}' is not NAME[i]=FROM:TO"))
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.steps < 2 || args.steps > 1001 {
        bail!("--steps: between 2 and 1001");
    }
    if args.samples == 0 {
        bail!("--samples: must be at least 1");
    }
    let mut settings = LabModel::new(
        &args.preset,
        args.input_size,
        &changes(&args.set)?,
        Conventions::Paper,
    )
    .map_err(|e| anyhow::anyhow!("--preset {}: {e}", args.preset))?
    .settings;
    let setting = study_settings()
        .into_iter()
        .find(|s| s.label == args.setting)
        .with_context(|| format!("--setting: no setting '{}'", args.setting))?;
    apply(&mut settings, &setting.changes).map_err(|e| anyhow::anyhow!("--setting: {e}"))?;
    settings.validate()?;
    let unit = settings.unit()?;

    let data = TaskData::new(&settings.task_spec(), settings.seed)?;
    let gold = Formula::of(&data).and_then(|f| gold_params(&unit, &f));
    let base = match (&args.base, &gold) {
        (Some(b), _) => b.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => bail!(
            "--base: {} has no gold solution here; give one",
            unit.name()
        ),
    };
    let (name, from, to) = axis_spec(&args.x, "--x")?;
    let x =
        Axis::parse(&unit, &name, from, to, args.steps).map_err(|e| anyhow::anyhow!("--x: {e}"))?;
    let y = match &args.y {
        Some(text) => {
            let (name, from, to) = axis_spec(text, "--y")?;
            let y = Axis::parse(&unit, &name, from, to, args.steps)
                .map_err(|e| anyhow::anyhow!("--y: {e}"))?;
            if y.index == x.index {
                bail!("--y: the same parameter as --x");
            }
            Some(y)
        }
        None => None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out: cannot create {}", args.out.display()))?;

    let trajectories = match &args.from {
        Some(dir) => trajectories(
            dir,
            args.model.as_deref().unwrap_or(&args.preset),
            &args.setting,
            args.runs,
            x.index,
            y.as_ref().map(|y| y.index),
        )?,
        None => Vec::new(),
    };
    let land = evaluate(
        &settings,
        &base,
        x.clone(),
        y.clone(),
        args.samples,
        args.iteration,
        args.gradient_norm,
    )
    .map_err(|e| anyhow::anyhow!(e))?;

    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![x.name.clone()];
    if let Some(y) = &y {
        header.push(y.name.clone());
    }
    header.push("loss".into());
    if args.gradient_norm {
        header.push("gradient_norm".into());
    }
    w.write_record(&header)?;
    let (nx, ny) = land.shape();
    for j in 0..ny {
        for i in 0..nx {
            let k = j * nx + i;
            let mut row = vec![x.value(i).to_string()];
            if let Some(y) = &y {
                row.push(y.value(j).to_string());
            }
            row.push(land.loss[k].to_string());
            if let Some(norms) = &land.gradient_norm {
                row.push(norms[k].to_string());
            }
            w.write_record(&row)?;
        }
    }
    write_atomically(&args.out.join("landscape.csv"), &w.into_inner()?)?;
    let gold_point = gold.as_ref().map(|g| {
        (
            f64::from(g[x.index]),
            y.as_ref().map_or(0.0, |y| f64::from(g[y.index])),
        )
    });
    let title = format!(
        "{} ({} inputs), {}: training loss at iteration {}",
        args.preset, args.input_size, args.setting, args.iteration
    );
    let figure = args.out.join("landscape.svg");
    draw(&figure, &title, &land, gold_point, &trajectories)
        .map_err(|e| anyhow::anyhow!("{}: {e}", figure.display()))?;

    let (best, loss) = land
        .loss
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .expect("a grid has points");
    let mut out = std::io::stdout().lock();
    let at = match &y {
        Some(y) => format!(
            "{} = {}, {} = {}",
            x.name,
            x.value(best % nx),
            y.name,
            y.value(best / nx)
        ),
        None => format!("{} = {}", x.name, x.value(best)),
    };
    writeln!(out, "lowest loss {loss:.6e} at {at}")?;
    if let Some(g) = gold_point {
        writeln!(out, "gold solution at ({}, {})", g.0, g.1)?;
    }
    writeln!(
        out,
        "wrote landscape.csv and landscape.svg to {}{}",
        args.out.display(),
        if trajectories.is_empty() {
            String::new()
        } else {
            format!(" ({} trajectories)", trajectories.len())
        }
    )?;
    Ok(0)
}

/// The paths of a sweep's runs of `model` in `setting`, replayed, projected onto the axes.
fn trajectories(
    dir: &std::path::Path,
    model: &str,
    setting: &str,
    runs: usize,
    x: usize,
    y: Option<usize>,
) -> anyhow::Result<Vec<Path2>> {
    let results: Collection = Collection::of_dir(dir)?;
    let mut chosen: Vec<&StoredRun> = results
        .runs
        .values()
        .map(|(run, _)| run)
        .filter(|r| r.key.model == model && r.key.setting == setting)
        .collect();
    if chosen.is_empty() {
        bail!(
            "--from: {} has no run of model '{model}' in setting '{setting}'",
            dir.display()
        );
    }
    chosen.sort_by_key(|r| r.key.seed);
    chosen.truncate(runs);
    chosen
        .into_iter()
        .map(|r| {
            let run = Run::prepare(&r.record.settings)?;
            let (_, path) = run.train_with_trajectory(&mut |_| {});
            Ok(path
                .iter()
                .map(|(_, p)| (f64::from(p[x]), y.map_or(0.0, |y| f64::from(p[y]))))
                .collect())
        })
        .collect()
}
