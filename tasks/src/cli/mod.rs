//! The `nalm` command line: one file per subcommand.

pub mod grad_audit;
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
    /// Compare every parameter gradient four ways: tape, closed form (f32 and f64) and f64
    /// finite differences, at points from the nine ranges and at singular points.
    GradAudit(grad_audit::Args),
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
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::GradAudit(args) => grad_audit::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Mnist(args) => mnist::run(&args),
    }
}
