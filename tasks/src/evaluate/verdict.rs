//! One run's logged rows and their verdict: model selection, success, solved-at, sparsity.

use serde::{Deserialize, Serialize};

use super::threshold::Threshold;

/// One logged iteration: the parameters after `step` updates, scored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub step: u64,
    #[serde(with = "super::float")]
    pub valid_mse: f32,
    #[serde(with = "super::float")]
    pub test_mse: f32,
    #[serde(with = "super::float")]
    pub sparsity: f32,
    /// The sparsity error of the clamped gate, for units with one (the Real NPU and NPU).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::float::option"
    )]
    pub gate_sparsity: Option<f32>,
}

/// The study's reading of a run's rows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The chosen row: the first with the least validation MSE (NaN rows ignored; the last
    /// row if every validation MSE is NaN).
    pub chosen: Row,
    /// The chosen row's test MSE passes the threshold.
    pub solved: bool,
    /// Step of the first row whose test MSE passes, whatever row is chosen.
    pub solved_at: Option<u64>,
}

impl Verdict {
    /// The verdict on `rows` (None if there are none).
    pub fn of(rows: &[Row], threshold: &Threshold) -> Option<Verdict> {
        let mut chosen = *rows.last()?;
        let mut best = f32::INFINITY;
        let mut found = false;
        for row in rows {
            // strictly smaller keeps the first of equal minima
            if !row.valid_mse.is_nan() && (!found || row.valid_mse < best) {
                best = row.valid_mse;
                chosen = *row;
                found = true;
            }
        }
        Some(Verdict {
            chosen,
            solved: threshold.passes(chosen.test_mse),
            solved_at: rows
                .iter()
                .find(|r| threshold.passes(r.test_mse))
                .map(|r| r.step),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::ThresholdSource;

    fn row(step: u64, valid_mse: f32, test_mse: f32) -> Row {
        Row {
            step,
            valid_mse,
            test_mse,
            sparsity: step as f32 / 1e6,
            gate_sparsity: None,
        }
    }

    const STRICT: Threshold = Threshold {
        value: 1e-5,
        inclusive: false,
        source: ThresholdSource::Standard,
    };

    #[test]
    fn first_minimum_is_chosen_and_nan_rows_are_ignored() {
        let rows = [
            row(0, 3.0, 9.0),
            row(1000, f32::NAN, 0.0),
            row(2000, 1.0, 2e-5),
            row(3000, 1.0, 1e-6),
            row(4000, 2.0, 1e-6),
        ];
        let v = Verdict::of(&rows, &STRICT).unwrap();
        assert_eq!(v.chosen.step, 2000);
        assert!(!v.solved);
        // solved-at looks at every row, NaN validation or not
        assert_eq!(v.solved_at, Some(1000));
    }

    #[test]
    fn all_nan_takes_the_last_row() {
        let rows = [row(0, f32::NAN, 1.0), row(1000, f32::NAN, 1e-7)];
        let v = Verdict::of(&rows, &STRICT).unwrap();
        assert_eq!(v.chosen.step, 1000);
        assert!(v.solved);
        assert!(Verdict::of(&[], &STRICT).is_none());
    }

    #[test]
    fn threshold_boundaries() {
        let at = 1e-5f64 as f32;
        assert!(!STRICT.passes(f32::NAN));
        assert!(STRICT.passes(9.9e-6));
        // compared in f64, as the study's analysis reads the f32 logs: 1e-5 rounded to f32
        // lies just below 1e-5 and passes, the next f32 does not
        assert!(f64::from(at) < 1e-5);
        assert!(STRICT.passes(at));
        assert!(!STRICT.passes(f32::from_bits(at.to_bits() + 1)));
        let inclusive = Threshold {
            value: f64::from(at),
            inclusive: true,
            source: ThresholdSource::Gold,
        };
        assert!(inclusive.passes(at));
        assert!(!inclusive.passes(f32::from_bits(at.to_bits() + 1)));
    }
}
