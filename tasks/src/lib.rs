//! Datasets, training loops, evaluation, sweeps and reports of the single module task, and
//! the `nalm` command-line tool built on them.

pub mod cli;
pub mod data;
pub mod evaluate;
pub mod mnist;
pub mod report;
pub mod results;
pub mod stability;
pub mod stats;
pub mod sweep;
pub mod train;
