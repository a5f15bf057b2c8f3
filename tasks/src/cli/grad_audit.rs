//! `nalm grad-audit`: every gradient of a unit's training objective, four ways.
//!
//! For each unit and input size, at a random batch from each of the nine interpolation
//! ranges and at the unit's singular points (or at one point given with `--x` / `--w`),
//! prints per parameter element and per input: the f32 tape gradient, the closed-form
//! gradient in f32 and f64, the f64 finite-difference derivative, their relative errors
//! against the f64 closed form, and the tolerance. With `--preset` the objective is a study
//! configuration's, with its loss coefficients at `--iteration`: the gradient its training
//! sees (how `nalm grad-stability` prints its worst points). The tolerance of the f32 results is the closed form's own f32
//! rounding bound (see `engine::Tracked`); finite differences are judged term by term, and at
//! a kink accept only the one-sided derivatives or their mean. Exit code 1 on any
//! disagreement, 2 on bad arguments.

use std::io::Write;

use anyhow::{Context, bail};
use clap::ValueEnum;
use modules::audit::{
    Entry, Point, PointAudit, audit_coefficients, audit_point, division_targets, standard_points,
};
use modules::{Coefficients, ObjectiveSpec, Unit};
use rand_core::Rng;

use super::sweep::changes;
use crate::stability::lab::LabModel;
use crate::train::run::coefficients_at;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for the terminal.
    Table,
    /// One row per gradient element, with a header.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Unit to audit (realnpu, npu, nru, nru-sepsign, nmru, sign-nmru, gated-sign-nmru, nau,
    /// nmu, nac, mnac, nalu) or `all`, with every regulariser weighted 0.5 and the L1 term
    /// 0.25.
    #[arg(long, default_value = "all", conflicts_with = "preset")]
    pub module: String,
    /// Audit a study configuration instead (`nalm train --preset`): its unit options, its
    /// loss terms and their coefficients at `--iteration`. Needs one --input-size.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// With --preset: change a setting, by its `nalm train` flag name (repeat for several).
    #[arg(long, value_name = "NAME=VALUE", requires = "preset")]
    pub set: Vec<String>,
    /// With --preset: the training iteration whose loss coefficients are used.
    #[arg(long, default_value_t = 0, requires = "preset")]
    pub iteration: u64,
    /// Input sizes to audit, comma separated.
    #[arg(long = "input-size", value_delimiter = ',', default_values_t = [2, 10], value_parser = super::count::<1_000>)]
    pub input_sizes: Vec<usize>,
    /// Number of outputs of the unit.
    #[arg(long, default_value_t = 1, value_parser = super::count::<1_000>)]
    pub outputs: usize,
    /// Audit one sample with these inputs (comma separated) instead of the standard points.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub x: Option<Vec<f32>>,
    /// Targets for `--x` (one per output); default x0 / x1, or 1 / x0 with one input.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub t: Option<Vec<f32>>,
    /// All parameters, flattened tensor after tensor in the order the table shows; without
    /// `--x` the nine ranges are audited at these parameters.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub w: Option<Vec<f32>>,
    /// Samples per random batch.
    #[arg(long, default_value_t = 8, value_parser = super::count::<100_000>)]
    pub batch: usize,
    /// Seed of the random points.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Audit the data term only (no regularisers, no L1 term).
    #[arg(long)]
    pub data_only: bool,
    /// Print only the points and gradients that disagree.
    #[arg(long)]
    pub failures_only: bool,
    /// Derivative conventions at clamp bounds and min/max ties: paper (modules/README.md 1),
    /// torch-current (PyTorch 2.x) or torch-legacy (PyTorch before 1.10).
    #[arg(long, default_value_t = engine::Conventions::Paper)]
    pub conventions: engine::Conventions,
}

/// One audited configuration.
struct Audit {
    unit: Unit,
    points: Vec<PointAudit>,
}

/// What is audited: a unit, its objective and the objective's coefficients.
struct Objective {
    unit: Unit,
    spec: ObjectiveSpec,
    coefficients: Coefficients,
}

/// The objectives `args` name: every unit of `--module` at every input size, or the one
/// study configuration of `--preset`.
fn objectives(args: &Args) -> anyhow::Result<Vec<Objective>> {
    if let Some(name) = &args.preset {
        let [inputs] = args.input_sizes[..] else {
            bail!(
                "--input-size: give exactly one input size with --preset (got {:?})",
                args.input_sizes
            );
        };
        // (the lab's models are built the same way, so its replays audit its very objective)
        let settings = LabModel::new(name, inputs, &changes(&args.set)?, args.conventions)
            .map_err(|e| anyhow::anyhow!("--preset {name}: {e}"))?
            .settings;
        let unit = settings.unit()?;
        if args.outputs != 1 {
            bail!("--outputs: a study configuration has one output");
        }
        let mut spec = settings.objective();
        if args.data_only {
            spec = ObjectiveSpec {
                conventions: spec.conventions,
                ..ObjectiveSpec::data_only()
            };
        }
        if spec.criterion != modules::objective::Criterion::Mse {
            bail!(
                "--preset: the {} criterion has no closed form to audit against",
                spec.criterion
            );
        }
        return Ok(vec![Objective {
            unit,
            spec,
            coefficients: coefficients_at(&settings, args.iteration),
        }]);
    }
    let spec = ObjectiveSpec {
        conventions: args.conventions,
        ..if args.data_only {
            ObjectiveSpec::data_only()
        } else {
            ObjectiveSpec::everything()
        }
    };
    let mut all = Vec::new();
    for name in unit_names(&args.module)? {
        for &inputs in &args.input_sizes {
            all.push(Objective {
                unit: Unit::by_name(name, inputs, args.outputs).expect("names were checked"),
                spec: spec.clone(),
                coefficients: audit_coefficients(),
            });
        }
    }
    Ok(all)
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.batch == 0 {
        bail!("--batch: must be at least 1");
    }
    if args.outputs == 0 {
        bail!("--outputs: must be at least 1");
    }
    if args.input_sizes.is_empty() || args.input_sizes.contains(&0) {
        bail!("--input-size: sizes must be at least 1");
    }
    if args.x.is_some() && args.input_sizes.len() != 1 {
        bail!(
            "--x: give exactly one --input-size with --x (got {:?})",
            args.input_sizes
        );
    }
    let mut audits = Vec::new();
    for objective in objectives(args)? {
        let points = points_for(&objective.unit, args)?;
        audits.push(Audit {
            points: audit_all(
                &objective.unit,
                &objective.spec,
                &objective.coefficients,
                &points,
            ),
            unit: objective.unit,
        });
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Table => print_table(&mut out, &audits, args.failures_only)?,
        Format::Csv => print_csv(&mut out, &audits, args.failures_only)?,
    }
    let failed: usize = audits
        .iter()
        .flat_map(|a| &a.points)
        .filter(|p| !p.passed())
        .count();
    if args.format == Format::Table {
        let compared: usize = audits
            .iter()
            .flat_map(|a| &a.points)
            .map(|p| p.entries.len())
            .sum();
        let points: usize = audits.iter().map(|a| a.points.len()).sum();
        if failed == 0 {
            writeln!(
                out,
                "\n{compared} gradients at {points} points: tape, closed form and finite differences agree"
            )?;
        } else {
            writeln!(
                out,
                "\n{failed} of {points} points have disagreements (marked FAIL)"
            )?;
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

fn unit_names(module: &str) -> anyhow::Result<Vec<&'static str>> {
    if module == "all" {
        return Ok(Unit::NAMES.to_vec());
    }
    match Unit::NAMES.iter().find(|&&n| n == module) {
        Some(&name) => Ok(vec![name]),
        None => bail!(
            "--module: unknown unit {module:?}; expected one of {} or all",
            Unit::NAMES.join(", ")
        ),
    }
}

fn points_for(unit: &Unit, args: &Args) -> anyhow::Result<Vec<Point>> {
    let mut rng = rand_pcg::Pcg32::new(args.seed, unit.inputs() as u64);
    if let Some(w) = &args.w
        && w.len() != unit.param_len()
    {
        let layout: Vec<String> = unit
            .params()
            .iter()
            .map(|p| format!("{} ({})", p.name, p.len))
            .collect();
        bail!(
            "--w: {} has {} parameters ({}), got {}",
            unit.name(),
            unit.param_len(),
            layout.join(", "),
            w.len()
        );
    }
    let params = |rng: &mut dyn Rng| match &args.w {
        Some(w) => w.clone(),
        None => {
            let mut p = vec![0.0; unit.param_len()];
            unit.init(rng, &mut p);
            p
        }
    };
    if let Some(x) = &args.x {
        if x.len() != unit.inputs() {
            bail!(
                "--x: {} inputs given, the unit has {}",
                x.len(),
                unit.inputs()
            );
        }
        let t = match &args.t {
            Some(t) if t.len() != unit.outputs() => {
                bail!(
                    "--t: {} targets given, the unit has {} outputs",
                    t.len(),
                    unit.outputs()
                )
            }
            Some(t) => t.clone(),
            None => division_targets(x, unit.inputs(), unit.outputs()),
        };
        return Ok(vec![Point {
            label: format!("x = {x:?}"),
            params: params(&mut rng),
            x: x.clone(),
            t,
            singular: false,
        }]);
    }
    if args.t.is_some() {
        bail!("--t: only meaningful together with --x");
    }
    let mut points = standard_points(unit, args.batch, &mut rng);
    if args.w.is_some() {
        // the ranges at the given parameters; singular points fix their own parameters
        points.truncate(modules::audit::INTERPOLATION_RANGES.len());
        for point in &mut points {
            point.params = params(&mut rng);
        }
    }
    Ok(points)
}

fn audit_all(
    unit: &Unit,
    spec: &ObjectiveSpec,
    coefficients: &Coefficients,
    points: &[Point],
) -> Vec<PointAudit> {
    points
        .iter()
        .map(|p| audit_point(unit, spec, coefficients, p))
        .collect()
}

fn status(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAIL" }
}

fn print_table(out: &mut impl Write, audits: &[Audit], failures_only: bool) -> anyhow::Result<()> {
    for audit in audits {
        let unit = &audit.unit;
        let layout: Vec<String> = unit
            .params()
            .iter()
            .map(|p| format!("{}[{}]", p.name, p.len))
            .collect();
        writeln!(
            out,
            "\n== {} ({} -> {}), parameters {} ==",
            unit.name(),
            unit.inputs(),
            unit.outputs(),
            layout.join(" ")
        )?;
        for point in &audit.points {
            if failures_only && point.passed() {
                continue;
            }
            writeln!(
                out,
                "-- {}: loss tape {:.7e} closed {:.7e} {}",
                point.label,
                point.loss_tape,
                point.loss_closed.value,
                status(point.loss_ok)
            )?;
            if point.singular {
                writeln!(
                    out,
                    "   (a singular point: NaN and infinities are expected, and tape and closed \
                     form must agree on each; at x = -EPS the NMRU's input gradient is a signed \
                     infinity, the product of the other factors, where the reference's \
                     output / factor gives NaN)"
                )?;
            }
            writeln!(
                out,
                "   {:<10} {:>15} {:>15} {:>22} {:>22} {:>9} {:>9} {:>9} {:>9}  status",
                "gradient",
                "tape f32",
                "closed f32",
                "closed f64",
                "finite diff f64",
                "rel tape",
                "rel f32",
                "rel fd",
                "tol"
            )?;
            for e in point
                .entries
                .iter()
                .filter(|e| !failures_only || !e.passed())
            {
                writeln!(
                    out,
                    "   {:<10} {:>15.7e} {:>15.7e} {:>22.14e} {:>22.14e} {:>9.1e} {:>9.1e} {:>9.1e} {:>9.1e}  {}{}",
                    e.param,
                    e.tape,
                    e.closed_f32,
                    e.closed_f64,
                    e.fd,
                    e.tape_relative_error(),
                    e.closed_f32_relative_error(),
                    e.fd_relative_error(),
                    relative_tolerance(e),
                    status(e.passed()),
                    if e.on_kink() { " (kink)" } else { "" }
                )?;
                if !e.fd_ok() {
                    for t in e.terms.iter().filter(|t| !t.ok) {
                        writeln!(
                            out,
                            "      term {}: closed {:.10e}, finite differences central {:.10e} left {:.10e} right {:.10e}",
                            t.term, t.closed, t.fd.central, t.fd.left, t.fd.right
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The f32 tolerance relative to the f64 closed form.
fn relative_tolerance(e: &Entry) -> f64 {
    e.tolerance / e.closed_f64.abs().max(f64::MIN_POSITIVE)
}

fn print_csv(out: &mut impl Write, audits: &[Audit], failures_only: bool) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "module",
        "inputs",
        "outputs",
        "point",
        "param",
        "tape_f32",
        "closed_f32",
        "closed_f64",
        "finite_difference_f64",
        "rel_error_tape",
        "rel_error_closed_f32",
        "rel_error_finite_difference",
        "tolerance_f32",
        "kink",
        "pass",
    ])?;
    for audit in audits {
        for point in &audit.points {
            for e in point
                .entries
                .iter()
                .filter(|e| !failures_only || !e.passed())
            {
                writer.write_record([
                    audit.unit.name().to_owned(),
                    audit.unit.inputs().to_string(),
                    audit.unit.outputs().to_string(),
                    point.label.clone(),
                    e.param.clone(),
                    format!("{:e}", e.tape),
                    format!("{:e}", e.closed_f32),
                    format!("{:e}", e.closed_f64),
                    format!("{:e}", e.fd),
                    format!("{:e}", e.tape_relative_error()),
                    format!("{:e}", e.closed_f32_relative_error()),
                    format!("{:e}", e.fd_relative_error()),
                    format!("{:e}", e.tolerance),
                    e.on_kink().to_string(),
                    e.passed().to_string(),
                ])?;
            }
        }
    }
    writer.flush().context("writing CSV")?;
    Ok(())
}
