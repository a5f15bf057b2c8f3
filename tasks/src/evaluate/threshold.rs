//! The success threshold of a run (`tasks/docs/single-module-study.md` 5): 1e-5 on the
//! test MSE for the study's extrapolation ranges; for division by small numbers, the MSE of
//! the module's gold solution on the test set plus 2^-23, regenerated here.

use modules::Unit;
use serde::{Deserialize, Serialize};

use super::evaluator::Evaluator;
use super::gold::{Formula, gold_params};
use crate::data::{Range, TaskData};

/// The threshold of the range and distribution experiments.
pub const STANDARD_THRESHOLD: f64 = 1e-5;

/// Extrapolation ranges the study gives the standard threshold, by plot label.
pub const STANDARD_RANGES: [&str; 15] = [
    "U[-40,-20]",
    "U[-6,-2]",
    "U[-6.1,-1.2]",
    "U[-2,-0.2]",
    "U[-6,-2] & U[2,6]",
    "U[0.2,2]",
    "U[2,6]",
    "U[1.2,6]",
    "U[20,40]",
    "U[100,1000]",
    "U[2,6] & U[-6,-2]",
    "U[-15,-5]",
    "U[5,15]",
    "U[-100,-50] & U[50,100]",
    "U[-200,-100] & U[100,200]",
];

/// Upper ends of the division-by-small ranges [0, hi].
pub const SMALL_RANGE_ENDS: [f64; 5] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];

/// Where a threshold comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdSource {
    /// The study's fixed 1e-5.
    Standard,
    /// Gold-solution MSE plus 2^-23 (division by small numbers).
    Gold,
    /// Given on the command line.
    User,
}

/// A bound on the test MSE: below it (or at it, when `inclusive`) a run is solved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub value: f64,
    pub inclusive: bool,
    pub source: ThresholdSource,
}

/// Why no threshold could be set.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error(
        "--extrapolation-range: no success threshold is known for {0} (the study defines 1e-5 for {list}); give one with --threshold",
        list = STANDARD_RANGES.join(", ")
    )]
    UnknownRange(String),
    #[error(
        "--layer-type: division by small numbers needs the unit's gold solution for its threshold, and {0} has none for this task; give one with --threshold"
    )]
    NoGold(&'static str),
}

impl Threshold {
    /// Whether a test MSE counts as solved (NaN never does).
    pub fn passes(&self, mse: f32) -> bool {
        let mse = f64::from(mse);
        if self.inclusive {
            mse <= self.value
        } else {
            mse < self.value
        }
    }

    /// A threshold given by the user (strict, like the standard one).
    pub fn user(value: f64) -> Threshold {
        Threshold {
            value,
            inclusive: false,
            source: ThresholdSource::User,
        }
    }

    /// The study's threshold for `unit` on `data`: the gold rule when both ranges are the
    /// same division-by-small interval, else 1e-5 for the study's extrapolation ranges.
    pub fn for_task(
        unit: &Unit,
        data: &TaskData,
        evaluator: &mut Evaluator,
    ) -> Result<Threshold, ThresholdError> {
        if is_small_range(&data.spec.interpolation)
            && data.spec.interpolation == data.spec.extrapolation
        {
            let gold = Formula::of(data)
                .and_then(|f| gold_params(unit, &f))
                .ok_or(ThresholdError::NoGold(unit.name()))?;
            let mse = evaluator.test_mse(&gold);
            return Ok(Threshold {
                value: f64::from(mse + f32::EPSILON),
                inclusive: true,
                source: ThresholdSource::Gold,
            });
        }
        let label = data.spec.extrapolation.label();
        if STANDARD_RANGES.contains(&label.as_str()) {
            Ok(Threshold {
                value: STANDARD_THRESHOLD,
                inclusive: false,
                source: ThresholdSource::Standard,
            })
        } else {
            Err(ThresholdError::UnknownRange(label))
        }
    }
}

/// Whether `range` is one of the division-by-small intervals [0, 10^-k], k = 0..4.
pub fn is_small_range(range: &Range) -> bool {
    matches!(range, Range::Single(i) if i.lo == 0.0 && SMALL_RANGE_ENDS.contains(&i.hi))
}
