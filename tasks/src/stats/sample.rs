//! Plain sample statistics and the Student-t fallback interval.

use super::special::student_t_quantile;
use super::{Estimate, Method};

/// Sample mean.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n - 1 in the denominator; 0 for fewer than two values).
pub fn sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

/// Standard error of the mean: sd / sqrt(n) (0 for fewer than two values).
pub fn se(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    sd(values) / (values.len() as f64).sqrt()
}

/// The `p`-quantile of sorted values, interpolating linearly between order statistics (the
/// definition of numpy's and R's defaults).
///
/// # Panics
/// If there are no values.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let at = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (below, fraction) = (at.floor() as usize, at - at.floor());
    match sorted.get(below + 1) {
        Some(next) if fraction > 0.0 => sorted[below] + fraction * (next - sorted[below]),
        _ => sorted[below],
    }
}

/// The sample mean with its 95% t interval clipped to [lower, upper]; a single value has no
/// interval, no value no estimate.
pub fn t_estimate(values: &[f64], lower: f64, upper: f64) -> Option<Estimate> {
    let m = match values.len() {
        0 => return None,
        1 => {
            return Some(Estimate {
                point: values[0],
                interval: None,
                method: Method::Single,
            });
        }
        _ => mean(values),
    };
    let n = values.len() as f64;
    let half = student_t_quantile(0.975, n - 1.0) * sd(values) / n.sqrt();
    Some(Estimate {
        point: m,
        interval: Some(((m - half).max(lower), (m + half).min(upper))),
        method: Method::TInterval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_of_a_small_sample() {
        // mean 2, sd 1, n 3: half-width t(0.975, 2) / sqrt(3) = 2.484138...
        let e = t_estimate(&[1.0, 2.0, 3.0], 0.0, f64::INFINITY).unwrap();
        assert_eq!(e.point, 2.0);
        let (lo, hi) = e.interval.unwrap();
        assert!((hi - 2.0 - 2.484_137_711_750_33).abs() < 1e-9, "{hi}");
        assert_eq!(lo, 0.0, "clipped below at the bound");
        assert_eq!(t_estimate(&[7.0], 0.0, 1.0).unwrap().interval, None);
        assert_eq!(t_estimate(&[], 0.0, 1.0), None);
    }

    #[test]
    fn standard_error_and_quantiles_are_the_textbook_ones() {
        // sd of 2, 4, 4, 4, 5, 5, 7, 9 with n - 1: sqrt(32 / 7)
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((sd(&values) - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert!((se(&values) - (32.0f64 / 7.0).sqrt() / 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(se(&[3.0]), 0.0);
        // numpy.quantile([2, 4, 4, 4, 5, 5, 7, 9], [0, .25, .5, .75, .9, 1])
        let expected = [2.0, 4.0, 4.5, 5.5, 7.6, 9.0];
        for (p, want) in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0].into_iter().zip(expected) {
            assert!((quantile(&values, p) - want).abs() < 1e-12, "{p}");
        }
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
    }
}
