//! Sweeps: the study's experiments as grids of runs, run on every core or sliced across a
//! cluster, with results appended as runs finish so that a sweep resumes where it stopped.

pub mod experiments;
pub mod file;
pub mod plan;
pub mod runner;
pub mod shard;
pub mod verify;

pub use experiments::{EXPERIMENTS, Experiment};
pub use plan::{Grid, Plan, PlannedRun};
pub use runner::{Options, Outcome, SweepError};
pub use shard::Shard;
