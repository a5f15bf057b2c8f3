//! The `nalm` command line: one file per subcommand.

pub mod grad_audit;
pub mod grad_stability;
pub mod info;
pub mod landscape;
pub mod merge;
pub mod mnist;
pub mod report;
pub mod sweep;
pub mod train;

use clap::{Parser, Subcommand};

/// Neural arithmetic logic modules: train, sweep and audit thousands of tiny division
/// networks on the CPU.
#[derive(Debug, Parser)]
#[command(name = "nalm", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare every parameter and input gradient four ways: tape, closed form (f32 and
    /// f64) and f64 finite differences, at points from the nine ranges and at singular
    /// points.
    GradAudit(grad_audit::Args),
    /// Measure how healthy each division model's gradients are across the study's input
    /// settings: non-finite, exploding and vanishing shares, f32 error, worst points.
    GradStability(grad_stability::Args),
    /// A model's training loss over one or two of its parameters, with contour lines, the
    /// gold solution and the paths of real training runs.
    Landscape(landscape::Args),
    /// Train one unit on the single module task and score it as the study does.
    Train(Box<train::Args>),
    /// Run an experiment of the study (default: in2) on all cores, or one shard of it.
    Sweep(sweep::Args),
    /// Combine the results of a sweep's shards into one directory.
    Merge(merge::Args),
    /// Statistics, tables and the figure of a sweep's results.
    Report(report::Args),
    /// Train a head on a CNN that reads two MNIST digits, to output their quotient.
    Mnist(mnist::Args),
    /// The version, the CPU and the SIMD path in use: what a measurement should quote.
    Info(info::Args),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::GradAudit(args) => grad_audit::run(&args),
        Command::GradStability(args) => grad_stability::run(&args),
        Command::Landscape(args) => landscape::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Mnist(args) => mnist::run(&args),
        Command::Info(args) => info::run(&args),
    }
}

/// The most worker threads a command takes.
pub const MAX_THREADS: usize = 1024;

/// A `--threads` value: 1 to [`MAX_THREADS`] (leave the flag out for one per core).
pub fn threads(text: &str) -> Result<usize, String> {
    if whole::<usize>(text)? == 0 {
        return Err("must be at least 1 (leave --threads out for one per core)".into());
    }
    count::<MAX_THREADS>(text)
}

/// A whole-number flag value, with a message that says what is wrong (a negative number, a
/// word, a number too large for the setting).
pub fn whole<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!(
            "'{text}' is negative: give a whole number, 0 or more"
        ));
    }
    let n: u64 = t
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number (0 to {})", u64::MAX))?;
    T::try_from(n).map_err(|_| format!("{n} is too large for this setting"))
}

/// A count flag's value: a whole number from 1 to `MAX` (sizes whose memory or time grows
/// with them are bounded before anything is allocated).
pub fn count<const MAX: usize>(text: &str) -> Result<usize, String> {
    match whole::<usize>(text)? {
        0 => Err("must be at least 1".into()),
        n if n > MAX => Err(format!("at most {MAX}, got {n}")),
        n => Ok(n),
    }
}
