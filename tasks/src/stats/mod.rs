//! The study's group statistics (`tasks/docs/single-module-study.md` 4.6): success rate
//! (Wilson), solved-at (gamma profile likelihood) and sparsity error (the reference's beta
//! fit), each with its fallback for small or constant samples; and the paired comparison of
//! two models' success rates the claims use (4.8).

pub mod beta;
pub mod density;
pub mod gamma;
pub mod paired;
pub mod profile;
pub mod sample;
pub mod special;
pub mod wilson;

use serde::{Deserialize, Serialize};

pub use beta::sparsity_estimate;
pub use gamma::solved_at_estimate;
pub use paired::{PairedDifference, stratified_paired_difference};
pub use wilson::{Interval, wilson};

/// How an estimate was formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Maximum likelihood with a 95% profile-likelihood interval.
    ProfileLikelihood,
    /// Sample mean with a 95% Student-t interval (too few or too constant values to fit).
    TInterval,
    /// A single value: no interval.
    Single,
}

/// A point estimate, its 95% interval when one exists, and how both were formed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub point: f64,
    pub interval: Option<(f64, f64)>,
    pub method: Method,
}
