//! `nalm train`: one run from a preset and flags, with a progress line, a summary and an
//! optional JSON record.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args as ClapArgs;
use modules::objective::Criterion;
use modules::penalty::{Lp, RegShape};
use modules::units::{NpuClip, NpuInit, NpuWReg, NruMode};

use crate::data::{Distribution, Operation, Range};
use crate::results::{check_writable, write_atomically};
use crate::train::preset::{PRESETS, Preset};
use crate::train::schedule::ScaleType;
use crate::train::settings::{LAYER_TYPES, OobChoice, OptimizerName, Scaling};
use crate::train::{Progress, Run, RunRecord, Settings};

/// "<what>. [default: <reference default>]".
fn help(what: &str, default: impl std::fmt::Display) -> String {
    format!("{what} [default: {default}]")
}

fn defaults() -> Settings {
    Settings::default()
}

fn preset_help() -> String {
    let mut text = String::from(
        "Start from one of the study's configurations (flags given explicitly override it):",
    );
    for p in PRESETS {
        text.push_str(&format!("\n  {:<22} {}", p.name, p.about));
    }
    text
}

/// Train one unit on the single module task; every setting is a flag named as in the
/// reference (bmistry4/nalm-division), defaults are the reference's.
#[derive(Debug, ClapArgs)]
#[command(next_help_heading = "Run")]
pub struct Args {
    #[arg(long, value_name = "NAME", long_help = preset_help(), help = "Start from a study configuration (see --help)")]
    pub preset: Option<String>,

    /// Write the run record (settings, history, verdict, parameters) as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the history rows (step, valid_mse, test_mse, sparsity) as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,

    // the unit
    #[arg(long, value_name = "NAME", help_heading = "Unit", help = help(&format!("Unit: {}", LAYER_TYPES.join(", ")), defaults().layer_type))]
    pub layer_type: Option<String>,
    #[arg(long, value_name = "MODE", help_heading = "Unit", help = help("NRU sign handling: div, div-sepSign", defaults().nru_div_mode))]
    pub nru_div_mode: Option<NruMode>,
    #[arg(long, value_name = "WHICH", help_heading = "Unit", help = help("(Real) NPU parameters clamped after each step: none, w, g, wg, wig", defaults().npu_clip))]
    pub npu_clip: Option<NpuClip>,
    #[arg(long = "npu-Wr-init", alias = "npu-wr-init", value_name = "INIT", help_heading = "Unit", help = help("(Real) NPU W initialisation: xavier-uniform, xavier-uniform-constrained", defaults().npu_wr_init))]
    pub npu_wr_init: Option<NpuInit>,
    #[arg(long, value_name = "TYPE", help_heading = "Unit", help = help("Real NPU W-NPU regulariser: W (free at -1, 1) or bias (free at -1, 0, 1)", defaults().realnpu_reg_type))]
    pub realnpu_reg_type: Option<NpuWReg>,
    #[arg(long, alias = "regularizer-shape", value_name = "SHAPE", help_heading = "Unit", help = help("Shape of the W and OOB regularisers: linear, squared, none", defaults().regualizer_shape))]
    pub regualizer_shape: Option<RegShape>,
    #[arg(long, value_name = "MODE", help_heading = "Unit", help = help("NAU, NMU, NRU and NMRU weights out of range: clip (clamped after each step) or regualized (clamped in the forward pass, W-OOB regulariser)", defaults().oob_mode))]
    pub oob_mode: Option<OobChoice>,
    /// NALU: a learned bias in the gate [default: off].
    #[arg(long, help_heading = "Unit")]
    pub nalu_bias: bool,
    /// NALU: separate NAC weights for the multiplicative path [default: off].
    #[arg(long, help_heading = "Unit")]
    pub nalu_two_nac: bool,

    // the task
    #[arg(long, value_name = "OP", help_heading = "Task", help = help("Target: add, sub, mul, div, reciprocal, squared, root (presets: div)", defaults().operation))]
    pub operation: Option<Operation>,
    #[arg(long, value_parser = super::whole::<usize>, allow_negative_numbers = true, value_name = "N", help_heading = "Task", help = help("Number of inputs (presets: 2; above 2 they use the study's input size 10 settings)", defaults().input_size))]
    pub input_size: Option<usize>,
    #[arg(long, allow_negative_numbers = true, value_name = "RATIO", help_heading = "Task", help = help("Operand subset size as a fraction of the input size (presets: 0.1 above 2 inputs)", defaults().subset_ratio))]
    pub subset_ratio: Option<f64>,
    #[arg(long, allow_negative_numbers = true, value_name = "RATIO", help_heading = "Task", help = help("Overlap of consecutive subsets as a fraction of their size", defaults().overlap_ratio))]
    pub overlap_ratio: Option<f64>,
    #[arg(long, value_parser = super::whole::<usize>, allow_negative_numbers = true, value_name = "K", help_heading = "Task", help = help("Number of operand subsets", defaults().num_subsets))]
    pub num_subsets: Option<usize>,
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true, help_heading = "Task", help = help("Training and validation range: [lo,hi], union [[l0,h0],[l1,h1]] or split [[l0,h0],[l1,h1],[]]", defaults().interpolation_range))]
    pub interpolation_range: Option<Range>,
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true, help_heading = "Task", help = help("Test range, same notation", defaults().extrapolation_range))]
    pub extrapolation_range: Option<Range>,
    #[arg(long, value_name = "WORDS", num_args = 1..=5, allow_negative_numbers = true, help_heading = "Task", help = help("Input distribution: uniform | truncated-normal M_I S_I M_E S_E | exponential SCALE | benford", defaults().sample_distribution))]
    pub sample_distribution: Option<Vec<String>>,

    // training
    #[arg(long, value_parser = super::whole::<u32>, allow_negative_numbers = true, value_name = "SEED", help_heading = "Training", help = help("Run seed: operand position, training stream and initialisation", defaults().seed))]
    pub seed: Option<u32>,
    #[arg(long, value_parser = super::whole::<u64>, allow_negative_numbers = true, value_name = "N", help_heading = "Training", help = help("Last iteration; N + 1 updates are made (presets: 50000, 100000 above 2 inputs)", defaults().max_iterations))]
    pub max_iterations: Option<u64>,
    #[arg(long, value_parser = super::whole::<usize>, allow_negative_numbers = true, value_name = "B", help_heading = "Training", help = help("Training samples per iteration", defaults().batch_size))]
    pub batch_size: Option<usize>,
    #[arg(long, value_name = "NAME", help_heading = "Training", help = help("Optimiser: adam, sgd", defaults().optimizer))]
    pub optimizer: Option<OptimizerName>,
    #[arg(long, allow_negative_numbers = true, value_name = "LR", help_heading = "Training", help = help("Learning rate", defaults().learning_rate))]
    pub learning_rate: Option<f64>,
    /// Clip the global gradient norm to this value [default: no clipping].
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "C",
        help_heading = "Training"
    )]
    pub clip_grad_norm: Option<f64>,
    #[arg(long, value_name = "LOSS", help_heading = "Training", help = help("Data term: mse, pcc, mape, pcc-mse (unlike the reference, really trained on)", defaults().train_criterion))]
    pub train_criterion: Option<Criterion>,
    #[arg(long, value_parser = super::whole::<u64>, allow_negative_numbers = true, value_name = "I", help_heading = "Training", help = help("pcc-mse: first iteration trained on MSE", defaults().pcc2mse_iteration))]
    pub pcc2mse_iteration: Option<u64>,
    #[arg(long, value_parser = super::whole::<u64>, allow_negative_numbers = true, value_name = "I", help_heading = "Training", help = help("Iterations between evaluations", defaults().log_interval))]
    pub log_interval: Option<u64>,

    // the loss
    #[arg(long, allow_negative_numbers = true, alias = "regularizer", value_name = "LAMBDA", help_heading = "Regularisers", help = help("Weight of the unit's W regulariser (times the window s_W)", defaults().regualizer))]
    pub regualizer: Option<f64>,
    #[arg(long, allow_negative_numbers = true, alias = "regularizer-z", value_name = "LAMBDA", help_heading = "Regularisers", help = help("Weight of the z regulariser", defaults().regualizer_z))]
    pub regualizer_z: Option<f64>,
    #[arg(long, allow_negative_numbers = true, alias = "regularizer-oob", value_name = "LAMBDA", help_heading = "Regularisers", help = help("Weight of the W-OOB regulariser", defaults().regualizer_oob))]
    pub regualizer_oob: Option<f64>,
    #[arg(long, alias = "regularizer-scaling", value_name = "KIND", help_heading = "Regularisers", help = help("Window s_W: linear (between start and end) or exp", defaults().regualizer_scaling))]
    pub regualizer_scaling: Option<Scaling>,
    #[arg(long, value_parser = super::whole::<u64>, allow_negative_numbers = true, alias = "regularizer-scaling-start", value_name = "I", help_heading = "Regularisers", help = help("First iteration of the linear window", defaults().regualizer_scaling_start))]
    pub regualizer_scaling_start: Option<u64>,
    #[arg(long, value_parser = super::whole::<u64>, allow_negative_numbers = true, alias = "regularizer-scaling-end", value_name = "I", help_heading = "Regularisers", help = help("Iteration where the linear window reaches 1", defaults().regualizer_scaling_end))]
    pub regualizer_scaling_end: Option<u64>,
    #[arg(long, value_name = "TYPE", help_heading = "Regularisers", help = help("Scaling of W-NPU and g-NPU: heim (beta) or madsen (window)", defaults().reg_scale_type))]
    pub reg_scale_type: Option<ScaleType>,
    #[arg(long, allow_negative_numbers = true, alias = "regularizer-beta-start", value_name = "BETA", help_heading = "Regularisers", help = help("Initial beta", defaults().regualizer_beta_start))]
    pub regualizer_beta_start: Option<f64>,
    #[arg(long, allow_negative_numbers = true, alias = "regularizer-beta-end", value_name = "BETA", help_heading = "Regularisers", help = help("Final beta", defaults().regualizer_beta_end))]
    pub regualizer_beta_end: Option<f64>,
    #[arg(long, value_parser = super::whole::<u64>, allow_negative_numbers = true, alias = "regularizer-beta-step", value_name = "I", help_heading = "Regularisers", help = help("Iterations between beta moves", defaults().regualizer_beta_step))]
    pub regualizer_beta_step: Option<u64>,
    #[arg(long, value_parser = super::whole::<u32>, allow_negative_numbers = true, alias = "regularizer-beta-growth", value_name = "G", help_heading = "Regularisers", help = help("Factor of one beta move", defaults().regualizer_beta_growth))]
    pub regualizer_beta_growth: Option<u32>,
    /// Add the Lp term over all parameters, weighted by beta [default: off].
    #[arg(
        long,
        alias = "regularizer-l1",
        help_heading = "Regularisers",
        overrides_with = "no_regualizer_l1"
    )]
    pub regualizer_l1: bool,
    /// Remove the Lp term (when a preset adds it).
    #[arg(long, alias = "no-regularizer-l1", help_heading = "Regularisers")]
    pub no_regualizer_l1: bool,
    #[arg(long, value_name = "P", help_heading = "Regularisers", help = help("Norm of the Lp term: 1 or 2", defaults().lp_norm))]
    pub lp_norm: Option<Lp>,
    #[arg(long, allow_negative_numbers = true, alias = "regularizer-npu-w", value_name = "LAMBDA", help_heading = "Regularisers", help = help("Weight of the (Real) NPU W-NPU regulariser", defaults().regualizer_npu_w))]
    pub regualizer_npu_w: Option<f64>,
    #[arg(long, allow_negative_numbers = true, alias = "regularizer-gate", value_name = "LAMBDA", help_heading = "Regularisers", help = help("Weight of the gate regulariser g-NPU", defaults().regualizer_gate))]
    pub regualizer_gate: Option<f64>,

    /// Success threshold on the test MSE [default: the study's, 1e-5 or the gold-solution
    /// rule for division by small numbers].
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "MSE",
        help_heading = "Scoring"
    )]
    pub threshold: Option<f64>,

    /// Derivative conventions at clamp bounds and min/max ties: paper (gradient 1 at a
    /// clamp's bounds, ties split half/half; `modules/README.md` 1), torch-current (PyTorch 2.x: 0 at
    /// the bounds, ties split) or torch-legacy (PyTorch before 1.10: 1 at the bounds, ties
    /// all to the first argument) [default: paper].
    #[arg(long, value_name = "NAME", help_heading = "Engine")]
    pub conventions: Option<engine::Conventions>,
}

/// Usage errors found after parsing (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Args {
    /// The settings: reference defaults, then the preset, then the explicit flags.
    pub fn settings(&self) -> Result<Settings, UsageError> {
        let mut s = match &self.preset {
            Some(name) => Preset::by_name(name)
                .ok_or_else(|| {
                    UsageError(format!(
                        "--preset: unknown preset '{name}' (expected one of: {})",
                        PRESETS
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?
                .settings(self.input_size),
            None => Settings::default(),
        };
        macro_rules! over {
            ($($field:ident),+) => {
                $(if let Some(v) = &self.$field {
                    s.$field = v.clone();
                })+
            };
        }
        over!(
            layer_type,
            nru_div_mode,
            npu_clip,
            npu_wr_init,
            realnpu_reg_type,
            regualizer_shape,
            oob_mode,
            operation,
            input_size,
            subset_ratio,
            overlap_ratio,
            num_subsets,
            interpolation_range,
            extrapolation_range,
            seed,
            max_iterations,
            batch_size,
            optimizer,
            learning_rate,
            train_criterion,
            pcc2mse_iteration,
            log_interval,
            regualizer,
            regualizer_z,
            regualizer_oob,
            regualizer_scaling,
            regualizer_scaling_start,
            regualizer_scaling_end,
            reg_scale_type,
            regualizer_beta_start,
            regualizer_beta_end,
            regualizer_beta_step,
            regualizer_beta_growth,
            lp_norm,
            regualizer_npu_w,
            regualizer_gate,
            conventions
        );
        if let Some(words) = &self.sample_distribution {
            s.sample_distribution = words
                .join(" ")
                .parse::<Distribution>()
                .map_err(|e| UsageError(format!("--sample-distribution: {e}")))?;
        }
        if self.clip_grad_norm.is_some() {
            s.clip_grad_norm = self.clip_grad_norm;
        }
        if self.threshold.is_some() {
            s.threshold = self.threshold;
        }
        s.nalu_bias |= self.nalu_bias;
        s.nalu_two_nac |= self.nalu_two_nac;
        if self.regualizer_l1 {
            s.regualizer_l1 = true;
        }
        if self.no_regualizer_l1 {
            s.regualizer_l1 = false;
        }
        Ok(s)
    }
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    if args.preset.is_none() && args.layer_type.is_none() {
        eprintln!(
            "note: no --preset or --layer-type: training the reference's default, a NALU on \
             addition (for division: --preset nru, nmru, realnpu-modified or realnpu-baseline)"
        );
    }
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    if let Err(e) = check_outputs(args) {
        eprintln!("error: {e}");
        return Ok(2);
    }
    let run = match Run::prepare(&settings) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let show = !args.quiet && std::io::stderr().is_terminal();
    let started = Instant::now();
    let record = run.train(&mut |p: &Progress| {
        if show {
            progress_line(p);
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    if show {
        eprintln!();
    }
    print!("{}", summary(&record, seconds));
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&record)?;
        write_atomically(path, text.as_bytes())?;
    }
    if let Some(path) = &args.csv {
        write_atomically(path, &history_csv(&record)?)?;
    }
    Ok(0)
}

/// `--out` and `--csv` can be written, before any training: a run must not be lost to a
/// typo in a path.
fn check_outputs(args: &Args) -> Result<(), String> {
    if let (Some(out), Some(csv)) = (&args.out, &args.csv)
        && out == csv
    {
        return Err(format!(
            "--out and --csv both name {}; give each its own file",
            out.display()
        ));
    }
    for (flag, path) in [("--out", &args.out), ("--csv", &args.csv)] {
        if let Some(path) = path {
            check_writable(path).map_err(|e| format!("{flag}: {e}"))?;
        }
    }
    Ok(())
}

fn progress_line(p: &Progress) {
    let r = &p.row;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\rstep {:>7}/{}  loss {:<11.4e} valid {:<11.4e} test {:<11.4e} sparsity {:.3e}",
        r.step, p.max_iterations, p.loss, r.valid_mse, r.test_mse, r.sparsity
    );
    let _ = err.flush();
}

/// The human summary printed at the end of a run.
pub fn summary(record: &RunRecord, seconds: f64) -> String {
    let s = &record.settings;
    let v = &record.verdict;
    let t = &record.threshold;
    let mut out = String::new();
    let preset = s
        .preset
        .as_deref()
        .map(|p| format!(", preset {p}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "{} on {} with {} inputs, {} -> {}, seed {}{preset}\n",
        s.layer_type,
        s.operation,
        s.input_size,
        s.interpolation_range,
        s.extrapolation_range,
        s.seed
    ));
    out.push_str(&format!(
        "{} updates in {:.3} s ({:.2} us per iteration, evaluations included){}\n",
        record.updates,
        seconds,
        seconds * 1e6 / record.updates.max(1) as f64,
        if record.diverged {
            "; DIVERGED (parameters became NaN)"
        } else {
            ""
        }
    ));
    out.push_str(&format!(
        "chosen step {}: interpolation MSE {:.6e}, extrapolation MSE {:.6e}\n",
        v.chosen.step, v.chosen.valid_mse, v.chosen.test_mse
    ));
    let bound = format!(
        "test MSE {} {:e}",
        if t.inclusive { "<=" } else { "<" },
        t.value
    );
    out.push_str(&format!(
        "solved: {} ({bound}); first solved at: {}\n",
        if v.solved { "yes" } else { "no" },
        v.solved_at
            .map(|i| format!("step {i}"))
            .unwrap_or_else(|| "never".into())
    ));
    out.push_str(&format!("sparsity error: {:.6e}", v.chosen.sparsity));
    if let Some(gate) = v.chosen.gate_sparsity {
        out.push_str(&format!(" (gate: {gate:.6e})"));
    }
    out.push('\n');
    if let Some(f) = &record.first_non_finite {
        out.push_str(&format!(
            "first non-finite gradient at iteration {}: {}\n",
            f.iteration, f.summary
        ));
        if let Some(replay) = &f.replay {
            out.push_str(&format!("  replay that sample: {replay}\n"));
        }
    }
    if s.conventions != engine::Conventions::Paper {
        out.push_str(&format!("derivative conventions: {}\n", s.conventions));
    }
    for tensor in &record.chosen_params {
        out.push_str(&format!(
            "{} at the chosen step = {}\n",
            tensor.name,
            by_input(&tensor.values, s.input_size, &record.operands)
        ));
    }
    out
}

/// A parameter tensor's values; above two inputs, each named by the input it reads (x3, or
/// 1/x3 for an NMRU's reciprocals) with the operands marked, so that a user sees which
/// weights select a and b among the distractors.
fn by_input(values: &[f32], inputs: usize, operands: &[[usize; 2]]) -> String {
    let plain: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
    if inputs <= 2 || !(values.len() == inputs || values.len() == 2 * inputs) {
        return format!("[{}]", plain.join(", "));
    }
    let role = |i: usize| {
        let names = ["a", "b", "c", "d"];
        operands
            .iter()
            .position(|&[start, end]| (start..end).contains(&i))
            .map(|k| format!(" ({})", names.get(k).copied().unwrap_or("operand")))
            .unwrap_or_default()
    };
    let named: Vec<String> = plain
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let i = k % inputs;
            let input = if k < inputs {
                format!("x{i}")
            } else {
                format!("1/x{i}")
            };
            format!("{input}{} {v}", role(i))
        })
        .collect();
    format!("[{}]", named.join(", "))
}

fn history_csv(record: &RunRecord) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["step", "valid_mse", "test_mse", "sparsity"])?;
    for r in &record.history {
        w.write_record([
            r.step.to_string(),
            r.valid_mse.to_string(),
            r.test_mse.to_string(),
            r.sparsity.to_string(),
        ])?;
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::by_input;

    #[test]
    fn weights_of_ten_inputs_are_named_by_input_with_the_operands_marked() {
        let w = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0];
        let text = by_input(&w, 10, &[[3, 4], [7, 8]]);
        assert!(text.contains("x3 (a) 1.000000"), "{text}");
        assert!(text.contains("x7 (b) -1.000000"), "{text}");
        assert!(text.starts_with("[x0 0.000000, x1 0.000000"), "{text}");
        let nmru = by_input(&[0.5; 20], 10, &[[3, 4], [7, 8]]);
        assert!(nmru.contains("1/x7 (b) 0.500000"), "{nmru}");
        assert_eq!(
            by_input(&[1.0, -1.0], 2, &[[0, 1], [1, 2]]),
            "[1.000000, -1.000000]"
        );
    }
}
