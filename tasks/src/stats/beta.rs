//! Sparsity errors: the reference's beta fit, kept as the figure-compatible statistic.
//!
//! The reference fits a beta distribution with parameters (2 mu w, (1 - 2 mu) w) for
//! mu in [0, 0.5] and w >= 1e-5, meaning to model the doubled values on [0, 1], but
//! evaluates the density at the raw values. Its fitted mu is therefore about half the
//! sample mean. We reproduce that fit (point = fitted mu, interval = 95% profile
//! likelihood on mu) and report the plain sample mean beside it. Samples with fewer than two
//! values, a standard deviation at most 1e-10, or a fit that fails get the sample mean with
//! its t interval clipped to [0, 0.5] (not halved), as the reference falls back.

use super::profile::{golden_min, interval};
use super::sample::{sd, t_estimate};
use super::special::{digamma, ln_gamma};
use super::{Estimate, Method};

const MIN_PRECISION: f64 = 1e-5;
/// Values are clamped to [EDGE, 0.5 - EDGE] before fitting.
const EDGE: f64 = 1e-16;

struct Sample {
    n: f64,
    sum_ln: f64,
    sum_ln_complement: f64,
}

impl Sample {
    /// Negative log-likelihood of beta(2 mu w, (1 - 2 mu) w) at the raw values.
    fn nll(&self, mu: f64, w: f64) -> f64 {
        let (a, b) = (2.0 * mu * w, (1.0 - 2.0 * mu) * w);
        let ln_beta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
        -((a - 1.0) * self.sum_ln + (b - 1.0) * self.sum_ln_complement - self.n * ln_beta)
    }

    /// d nll / dw at fixed mu (increasing in w: the likelihood is concave in the precision).
    fn slope(&self, mu: f64, w: f64) -> f64 {
        let (share_a, share_b) = (2.0 * mu, 1.0 - 2.0 * mu);
        let (a, b) = (share_a * w, share_b * w);
        -(share_a * self.sum_ln + share_b * self.sum_ln_complement
            - self.n * (share_a * digamma(a) + share_b * digamma(b) - digamma(w)))
    }

    /// The precision that minimises the likelihood at `mu`, on [1e-5, 1e12].
    fn best_precision(&self, mu: f64) -> f64 {
        let (mut lo, mut hi) = (MIN_PRECISION.ln(), 1e12f64.ln());
        if self.slope(mu, lo.exp()) >= 0.0 {
            return MIN_PRECISION;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.slope(mu, mid.exp()) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (0.5 * (lo + hi)).exp()
    }

    fn profile(&self, mu: f64) -> f64 {
        self.nll(mu, self.best_precision(mu))
    }
}

/// The reference's sparsity estimate of a group's solved runs (None when there are none).
pub fn sparsity_estimate(values: &[f64]) -> Option<Estimate> {
    let clamped: Vec<f64> = values.iter().map(|v| v.clamp(EDGE, 0.5 - EDGE)).collect();
    let fallback = || t_estimate(&clamped, 0.0, 0.5);
    if clamped.len() < 2 || sd(&clamped) <= 1e-10 {
        return fallback();
    }
    let sample = Sample {
        n: clamped.len() as f64,
        sum_ln: clamped.iter().map(|v| v.ln()).sum(),
        sum_ln_complement: clamped.iter().map(|v| (1.0 - v).ln()).sum(),
    };
    // mu spans orders of magnitude: search its logarithm, first on a grid, then polished
    let objective = |log_mu: f64| sample.profile(log_mu.exp());
    let (lowest, highest) = ((EDGE / 2.0).ln(), (0.5 - EDGE).ln());
    let steps = 200;
    let grid = |i: usize| lowest + (highest - lowest) * i as f64 / steps as f64;
    let start = (0..=steps)
        .min_by(|&i, &j| objective(grid(i)).total_cmp(&objective(grid(j))))
        .expect("a non-empty grid");
    let log_best = golden_min(
        objective,
        grid(start.saturating_sub(1)),
        grid((start + 1).min(steps)),
    );
    let best = log_best.exp();
    let floor = sample.profile(best);
    if !floor.is_finite() {
        return fallback();
    }
    let deviance = |mu: f64| 2.0 * (sample.profile(mu) - floor);
    Some(Estimate {
        point: best,
        interval: Some(interval(deviance, best, EDGE / 2.0, 0.5 - EDGE)),
        method: Method::ProfileLikelihood,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sample::mean;

    #[test]
    fn the_studys_check_value_is_about_half_the_mean() {
        let values = [
            0.01, 0.02, 0.015, 0.03, 0.005, 0.012, 0.018, 0.025, 0.008, 0.011,
        ];
        assert!((mean(&values) - 0.0154).abs() < 1e-12);
        let e = sparsity_estimate(&values).unwrap();
        let (lo, hi) = e.interval.unwrap();
        // the reference's L-BFGS-B stops short of the optimum: agreement to 4e-4
        let close = |a: f64, b: f64| (a - b).abs() <= 4e-4 * b;
        assert!(close(e.point, 0.007697), "point {}", e.point);
        assert!(close(lo, 0.005614), "lower {lo}");
        assert!(close(hi, 0.010932), "upper {hi}");
        assert_eq!(e.method, Method::ProfileLikelihood);
    }

    #[test]
    fn constant_or_single_samples_fall_back_to_the_plain_mean() {
        let e = sparsity_estimate(&[0.02; 4]).unwrap();
        assert_eq!((e.point, e.method), (0.02, Method::TInterval));
        assert_eq!(e.interval, Some((0.02, 0.02)));
        assert_eq!(sparsity_estimate(&[0.3]).unwrap().method, Method::Single);
        assert_eq!(sparsity_estimate(&[]), None);
    }
}
