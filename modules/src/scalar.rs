//! Scalars the closed-form gradients are written over: f32, f64 and `engine::Tracked`.

use engine::{ClampBounds, Conventions, Real, Ties};

/// A scalar number type whose comparisons convert to plain booleans.
pub trait Scalar: Real<Mask: Into<bool>> {
    /// The value as f64.
    fn to_f64(self) -> f64;
}

impl Scalar for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Scalar for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl Scalar for engine::Tracked {
    fn to_f64(self) -> f64 {
        self.value
    }
}

/// Whether clamp(v, lo, hi) passes the gradient at `v`: strictly inside always, on a bound
/// as `conventions` say.
pub fn clamp_passes<S: Scalar>(v: S, lo: S, hi: S, conventions: Conventions) -> bool {
    match conventions.clamp_bounds() {
        ClampBounds::Pass => v.ge(lo).into() && v.le(hi).into(),
        ClampBounds::Block => v.gt(lo).into() && v.lt(hi).into(),
    }
}

/// The derivative of min(a, b) (or max) at a tie a = b, as the sum of the two arguments'
/// derivatives weighted by their shares under `conventions`.
pub fn at_tie<S: Scalar>(first: S, second: S, conventions: Conventions) -> S {
    match conventions.ties() {
        Ties::Split => S::splat(0.5) * (first + second),
        Ties::First => first,
    }
}

/// Products of all but one factor, for every factor: `out[k] = prod_{l != k} f[l]`, formed
/// explicitly left to right (no division, so zero factors need no special case).
pub fn products_of_others<S: Scalar>(factors: &[S]) -> Vec<S> {
    (0..factors.len())
        .map(|k| {
            factors
                .iter()
                .enumerate()
                .filter(|&(l, _)| l != k)
                .fold(S::one(), |acc, (_, &f)| acc * f)
        })
        .collect()
}

/// The product of all factors, left to right.
pub fn product<S: Scalar>(factors: &[S]) -> S {
    factors.iter().fold(S::one(), |acc, &f| acc * f)
}
