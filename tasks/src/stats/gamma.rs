//! Solved-at iterations: the reference's gamma fit (stable-nalu's R export with `bbmle`),
//! reproduced with its numerics.
//!
//! The model is a gamma in its mean mu and variance v (shape mu^2/v, rate mu/v), mu >= 0,
//! v >= 1e-5, fitted by L-BFGS-B from (sample mean, sample variance). Solved-at values are
//! thousands of iterations, so the likelihood is nearly flat in v at that scale, and the
//! reference's numerics behave in two ways we reproduce:
//!
//! * the fit stops at its start when the first gradient step lowers the negative
//!   log-likelihood by less than L-BFGS-B's relative tolerance (1e7 machine epsilons);
//!   otherwise it reaches the maximum-likelihood estimate;
//! * the profile over mu never moves v from the fit: every profile point holds v fixed.
//!
//! The interval holds every mu whose deviance with v held at the fit is at most the
//! chi-square(1) quantile of 0.95, found exactly (bbmle reads the same crossings off a spline
//! through a coarse grid; the two agree to about 1e-4). The point is the fitted mu (the sample
//! mean). Samples with fewer than two values or a standard deviation at most 1e-5 get the
//! sample mean with its t interval, clipped below at 0.

use super::profile::interval;
use super::sample::{mean, sd, t_estimate};
use super::special::{digamma, ln_gamma};
use super::{Estimate, Method};

const MIN_VARIANCE: f64 = 1e-5;
/// L-BFGS-B's default stopping tolerance: factr times the machine epsilon.
const RELATIVE_TOLERANCE: f64 = 1e7 * f64::EPSILON;

/// The sample through its sufficient statistics.
struct Sample {
    n: f64,
    sum: f64,
    sum_ln: f64,
}

impl Sample {
    /// Negative log-likelihood at mean `mu` and variance `v`.
    fn nll(&self, mu: f64, v: f64) -> f64 {
        let (shape, rate) = (mu * mu / v, mu / v);
        -(self.n * (shape * rate.ln() - ln_gamma(shape)) + (shape - 1.0) * self.sum_ln
            - rate * self.sum)
    }

    /// Gradient of the negative log-likelihood in (mu, v).
    fn gradient(&self, mu: f64, v: f64) -> [f64; 2] {
        let (shape, rate) = (mu * mu / v, mu / v);
        let d_shape = -(self.n * (rate.ln() - digamma(shape)) + self.sum_ln);
        let d_rate = -(self.n * shape / rate - self.sum);
        [
            d_shape * 2.0 * mu / v + d_rate / v,
            -d_shape * mu * mu / (v * v) - d_rate * mu / (v * v),
        ]
    }

    /// The maximum-likelihood variance at the sample mean: the shape k solves
    /// ln k - digamma(k) = ln(mean) - mean(ln x) (the left side falls from infinity to 0).
    fn best_variance(&self) -> f64 {
        let mu = self.sum / self.n;
        let c = mu.ln() - self.sum_ln / self.n;
        let (mut lo, mut hi) = (-40.0f64, 40.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let k = mid.exp();
            if k.ln() - digamma(k) > c {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (mu * mu / (0.5 * (lo + hi)).exp()).max(MIN_VARIANCE)
    }
}

/// The solved-at estimate of a group's solved runs (None when there are none).
pub fn solved_at_estimate(values: &[f64]) -> Option<Estimate> {
    if values.len() < 2 || sd(values) <= 1e-5 || values.iter().any(|v| *v <= 0.0) {
        // (a run solved at row 0 has no gamma likelihood; the t interval still describes it)
        return t_estimate(values, 0.0, f64::INFINITY);
    }
    let sample = Sample {
        n: values.len() as f64,
        sum: values.iter().sum(),
        sum_ln: values.iter().map(|v| v.ln()).sum(),
    };
    let mu = mean(values);
    let start_v = sd(values).powi(2);
    // the optimiser's first step is the negative gradient
    let g = sample.gradient(mu, start_v);
    let (f0, f1) = (
        sample.nll(mu, start_v),
        sample.nll((mu - g[0]).max(0.0), (start_v - g[1]).max(MIN_VARIANCE)),
    );
    let stalled = f0 - f1 <= RELATIVE_TOLERANCE * f0.abs().max(f1.abs()).max(1.0);
    let v = if stalled {
        start_v
    } else {
        sample.best_variance()
    };
    let floor = sample.nll(mu, v);
    let deviance = |at: f64| 2.0 * (sample.nll(at, v) - floor);
    Some(Estimate {
        point: mu,
        interval: Some(interval(deviance, mu, mu * 1e-12, f64::INFINITY)),
        method: Method::ProfileLikelihood,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[f64], point: f64, lower: f64, upper: f64) {
        let e = solved_at_estimate(values).unwrap();
        let (lo, hi) = e.interval.unwrap();
        // the reference reads the ends off a spline through a coarse grid whose spacing
        // comes from a finite-difference Hessian; the exact crossings agree to 1.5e-4
        let close = |a: f64, b: f64| (a - b).abs() <= 1.5e-4 * b;
        assert!((e.point - point).abs() < 0.005, "point {}", e.point);
        assert!(close(lo, lower), "lower {lo}");
        assert!(close(hi, upper), "upper {hi}");
    }

    #[test]
    fn the_studys_check_values() {
        check(
            &[
                10000.0, 10000.0, 9000.0, 19000.0, 11000.0, 15000.0, 11000.0, 22000.0, 28000.0,
                14000.0, 14000.0, 3000.0, 30000.0, 21000.0, 13000.0,
            ],
            15333.33,
            12057.14,
            18177.02,
        );
        check(&[2000.0, 3000.0], 2500.0, 1755.27, 3127.94);
        let constant = solved_at_estimate(&[5000.0; 3]).unwrap();
        assert_eq!(constant.point, 5000.0);
        assert_eq!(constant.interval, Some((5000.0, 5000.0)));
        assert_eq!(constant.method, Method::TInterval);
    }

    #[test]
    fn one_value_has_no_interval_and_none_no_estimate() {
        assert_eq!(solved_at_estimate(&[4000.0]).unwrap().interval, None);
        assert_eq!(solved_at_estimate(&[]), None);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let s = Sample {
            n: 3.0,
            sum: 6000.0,
            sum_ln: [1000f64, 2000.0, 3000.0].iter().map(|v| v.ln()).sum(),
        };
        let (mu, v) = (2100.0, 9.0e5);
        let g = s.gradient(mu, v);
        let dm = (s.nll(mu + 1e-2, v) - s.nll(mu - 1e-2, v)) / 2e-2;
        let dv = (s.nll(mu, v + 10.0) - s.nll(mu, v - 10.0)) / 20.0;
        assert!((g[0] - dm).abs() < 1e-6 * dm.abs().max(1e-9), "{g:?} {dm}");
        assert!((g[1] - dv).abs() < 1e-5 * dv.abs().max(1e-12), "{g:?} {dv}");
    }
}
