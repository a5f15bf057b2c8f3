//! Scoring a run exactly as the study does (`tasks/docs/single-module-study.md` 4-5):
//! the validation and test MSE of the logged rows, model selection, success against the
//! threshold, solved-at and the sparsity error.

pub mod evaluator;
pub mod float;
pub mod gold;
pub mod threshold;
pub mod verdict;

pub use evaluator::Evaluator;
pub use gold::{Formula, gold_params};
pub use threshold::{Threshold, ThresholdError, ThresholdSource};
pub use verdict::{Row, Verdict};
