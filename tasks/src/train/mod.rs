//! Training: a compiled model and its update step.

mod model;

pub use model::{Model, OptimizerKind};
