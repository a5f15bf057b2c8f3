//! The MNIST arithmetic task (`tasks/docs/mnist-task.md`): two digits side by side, a
//! CNN that reads each, and an arithmetic head that divides them, trained as one graph.

pub mod checkpoint;
pub mod dataset;
pub mod evaluation;
pub mod folds;
pub mod idx;
pub mod metrics;
pub mod network;
pub mod preset;
pub mod run;
pub mod study;
