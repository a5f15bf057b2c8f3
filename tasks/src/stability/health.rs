//! The health of a set of gradient entries: how many are non-finite, exploding or vanishing,
//! how large they are, and how far the f32 tape is from the f64 closed form.

use serde::Serialize;

use crate::stats::sample::quantile;

/// |g| above this counts as exploding.
pub const EXPLODING: f64 = 1e6;
/// |g| below this (zero included) counts as vanishing.
pub const VANISHING: f64 = 1e-12;

/// Counts and quantiles over gradient entries (f32 tape against f64 closed form).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Health {
    pub entries: usize,
    /// f32 entries that are NaN or infinite.
    pub non_finite: usize,
    /// Of those, the entries whose f64 value is finite: lost to f32 (overflow, or a
    /// convention the two evaluations do not share).
    pub f32_only: usize,
    /// Finite f32 entries with |g| > [`EXPLODING`].
    pub exploding: usize,
    /// f32 entries with |g| < [`VANISHING`].
    pub vanishing: usize,
    /// Quantiles p1, p50, p99 of |g| over the finite f32 entries (NaN if none).
    pub magnitude: [f64; 3],
    /// Quantiles p50, p99 and the maximum of |g32 - g64| / |g64| over the entries finite in
    /// both (0 where both are 0; NaN if none).
    pub relative_error: [f64; 3],
}

impl Health {
    /// Share of entries that are non-finite, in percent.
    pub fn non_finite_percent(&self) -> f64 {
        percent(self.non_finite, self.entries)
    }
    pub fn exploding_percent(&self) -> f64 {
        percent(self.exploding, self.entries)
    }
    pub fn vanishing_percent(&self) -> f64 {
        percent(self.vanishing, self.entries)
    }
}

fn percent(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    }
}

/// The relative error of an f32 gradient against its f64 value, for entries finite in both.
pub fn relative_error(g32: f32, g64: f64) -> f64 {
    let g32 = f64::from(g32);
    if g32 == g64 {
        0.0
    } else {
        (g32 - g64).abs() / g64.abs().max(f64::from(f32::MIN_POSITIVE))
    }
}

/// Collects entries one at a time.
#[derive(Clone, Debug, Default)]
pub struct HealthCounter {
    entries: usize,
    non_finite: usize,
    f32_only: usize,
    exploding: usize,
    vanishing: usize,
    magnitudes: Vec<f64>,
    errors: Vec<f64>,
}

impl HealthCounter {
    pub fn add(&mut self, g32: f32, g64: f64) {
        self.entries += 1;
        if !g32.is_finite() {
            self.non_finite += 1;
            if g64.is_finite() {
                self.f32_only += 1;
            }
            return;
        }
        let magnitude = f64::from(g32.abs());
        self.magnitudes.push(magnitude);
        if magnitude > EXPLODING {
            self.exploding += 1;
        }
        if magnitude < VANISHING {
            self.vanishing += 1;
        }
        if g64.is_finite() {
            self.errors.push(relative_error(g32, g64));
        }
    }

    pub fn finish(mut self) -> Health {
        let quantiles = |values: &mut Vec<f64>, ps: [f64; 3]| {
            if values.is_empty() {
                return [f64::NAN; 3];
            }
            values.sort_by(f64::total_cmp);
            ps.map(|p| quantile(values, p))
        };
        Health {
            entries: self.entries,
            non_finite: self.non_finite,
            f32_only: self.f32_only,
            exploding: self.exploding,
            vanishing: self.vanishing,
            magnitude: quantiles(&mut self.magnitudes, [0.01, 0.5, 0.99]),
            relative_error: quantiles(&mut self.errors, [0.5, 0.99, 1.0]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_classified_and_summarised() {
        let mut c = HealthCounter::default();
        c.add(f32::NAN, f64::NAN);
        c.add(f32::INFINITY, 3e38 * 10.0);
        c.add(2e7, 2e7);
        c.add(0.0, 0.0);
        c.add(1.0, 1.0 + 1e-7);
        let h = c.finish();
        assert_eq!(
            (
                h.entries,
                h.non_finite,
                h.f32_only,
                h.exploding,
                h.vanishing
            ),
            (5, 2, 1, 1, 1)
        );
        assert_eq!(h.non_finite_percent(), 40.0);
        // |g| over the finite entries 0, 1, 2e7: p50 = 1
        assert_eq!(h.magnitude[1], 1.0);
        // errors 0, 0, 1e-7 / (1 + 1e-7): the maximum
        assert!((h.relative_error[2] - 1e-7 / (1.0 + 1e-7)).abs() < 1e-15);
        assert!(HealthCounter::default().finish().magnitude[0].is_nan());
    }
}
