//! Success rates: the point estimate k/n with the 95% Wilson score interval, without
//! continuity correction (E. B. Wilson, 1927).

use serde::{Deserialize, Serialize};

/// The standard normal quantile of 0.975 in full (`tasks/docs/single-module-study.md` 4.6 prints it as 1.959963985; the
/// check values' ninth digits need the full quantile).
pub const Z95: f64 = 1.959_963_984_540_054;

/// A point estimate and its interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The success rate of `k` solved runs out of `n`, with its 95% Wilson interval (None for
/// n = 0).
pub fn wilson(k: usize, n: usize) -> Option<Interval> {
    if n == 0 || k > n {
        return None;
    }
    let n_runs = n;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt() / denominator;
    // at k = 0 and k = n one end is exactly 0 or 1; rounding would leave it a hair inside
    Some(Interval {
        point: p,
        lower: if k == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        upper: if k == n_runs {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_studys_check_values() {
        // `tasks/docs/single-module-study.md` 4.6: k of n = 25 -> [lower, upper]
        for (k, point, lower, upper) in [
            (20, 0.8, 0.608690496, 0.911394153),
            (0, 0.0, 0.0, 0.133192251),
            (25, 1.0, 0.866807749, 1.0),
            (1, 0.04, 0.007096234, 0.195440637),
            (12, 0.48, 0.300312860, 0.665014830),
        ] {
            let w = wilson(k, 25).unwrap();
            assert_eq!(w.point, point);
            assert!((w.lower - lower).abs() < 5e-10, "k={k}: lower {}", w.lower);
            assert!((w.upper - upper).abs() < 5e-10, "k={k}: upper {}", w.upper);
        }
        assert_eq!(wilson(25, 25).unwrap().upper, 1.0);
        assert_eq!(wilson(0, 25).unwrap().lower, 0.0);
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(3, 2), None);
    }
}
