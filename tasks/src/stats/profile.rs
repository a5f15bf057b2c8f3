//! One-dimensional tools for maximum likelihood with profile-likelihood intervals:
//! golden-section minimisation and the interval where the profile deviance stays below
//! the chi-square(1) 95% quantile.

/// The chi-square quantile of 0.95 with one degree of freedom: a 95% profile-likelihood
/// interval holds every value whose deviance is at most this.
pub const CHI2_95: f64 = 3.841_458_820_694_124;

/// The minimiser of a unimodal `f` on [lo, hi] by golden-section search.
pub fn golden_min(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..200 {
        if fa <= fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = f(b);
        }
        if hi - lo <= 1e-13 * (lo.abs() + hi.abs()) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The point between `inside` (deviance below the critical value) and `outside` (above it)
/// where the deviance crosses it, by bisection.
fn crossing(deviance: &impl Fn(f64) -> f64, mut inside: f64, mut outside: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (inside + outside);
        if mid == inside || mid == outside {
            break;
        }
        if deviance(mid) <= CHI2_95 {
            inside = mid;
        } else {
            outside = mid;
        }
    }
    0.5 * (inside + outside)
}

/// The 95% profile-likelihood interval around the estimate `best` of a parameter allowed on
/// [lower_bound, upper_bound] (the upper bound may be infinite): each end is the parameter
/// bound itself when the deviance never reaches the critical value before it.
pub fn interval(
    deviance: impl Fn(f64) -> f64,
    best: f64,
    lower_bound: f64,
    upper_bound: f64,
) -> (f64, f64) {
    let lower = if deviance(lower_bound) <= CHI2_95 {
        lower_bound
    } else {
        crossing(&deviance, best, lower_bound)
    };
    let upper = if upper_bound.is_finite() {
        if deviance(upper_bound) <= CHI2_95 {
            upper_bound
        } else {
            crossing(&deviance, best, upper_bound)
        }
    } else {
        let mut step = best.abs().max(1e-12);
        let mut outside = best + step;
        while deviance(outside) <= CHI2_95 && outside.is_finite() {
            step *= 2.0;
            outside = best + step;
        }
        crossing(&deviance, best, outside)
    };
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_section_finds_a_parabola_minimum() {
        let m = golden_min(|x| (x - 1.25).powi(2) + 3.0, -10.0, 10.0);
        assert!((m - 1.25).abs() < 1e-7);
    }

    #[test]
    fn normal_mean_interval_is_the_wald_interval() {
        // for a normal mean with known sd the deviance is ((mu - m) / se)^2
        let (m, se) = (4.0, 0.5);
        let (lo, hi) = interval(
            |mu| ((mu - m) / se).powi(2),
            m,
            f64::NEG_INFINITY.max(-1e9),
            f64::INFINITY,
        );
        let half = CHI2_95.sqrt() * se;
        assert!(
            (lo - (m - half)).abs() < 1e-9 && (hi - (m + half)).abs() < 1e-9,
            "{lo} {hi}"
        );
        // a bound inside the interval ends it
        let (lo, _) = interval(|mu| ((mu - m) / se).powi(2), m, 3.5, f64::INFINITY);
        assert_eq!(lo, 3.5);
    }
}
