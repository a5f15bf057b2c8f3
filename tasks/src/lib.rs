//! The study built on the engine and the modules: the single-module study's data, training
//! loop, evaluation and sweeps; the MNIST arithmetic task; the gradient stability lab; the
//! statistics and reports of both; the results folders they write; and the `nalm`
//! command-line tool.

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
