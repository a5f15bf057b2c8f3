//! An f64 value that carries a first-order bound on the rounding error the same computation
//! would make in f32 (running error analysis, as in Higham's "Accuracy and Stability of
//! Numerical Algorithms", ch. 3).
//!
//! `bound` is in units of the f32 unit roundoff u = 2^-24: the f32 result of the computation is
//! expected within about `u * bound` of the exact result. Each operation adds its own rounding
//! (`|result|` for a correctly rounded one, more for the transcendentals) to the errors of its
//! inputs propagated through its derivative. A subtraction of nearly equal values therefore
//! keeps the large bound of its operands while its value becomes small; that is exactly the
//! loss of accuracy a fixed relative tolerance cannot see. Tests and audits compare f32 results
//! with f64 oracles against `TOLERANCE_FACTOR * u * bound`.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::Real;

/// Rounding error of our vector transcendentals, in units of u (2 ulp = 4 u, tested in
/// `engine/tests/ulp.rs`).
const TRANSCENDENTAL_ROUNDING: f64 = 4.0;

/// An f64 value with a bound on its f32 rounding error.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Tracked {
    /// The value, computed in f64.
    pub value: f64,
    /// Error bound of the f32 computation, in units of u = 2^-24.
    pub bound: f64,
}

impl Tracked {
    /// An exactly known value (an f32 input, parameter or constant).
    pub fn exact(value: f64) -> Self {
        Tracked { value, bound: 0.0 }
    }

    /// The bound as an absolute error, `u * bound`.
    pub fn absolute_error(self) -> f64 {
        self.bound * f64::from(f32::EPSILON) / 2.0
    }

    /// `value` rounded once (a correctly rounded basic operation) after input errors
    /// `propagated`. Exact inputs with an f32-representable result round to themselves.
    fn rounded(value: f64, propagated: f64) -> Self {
        let exact = propagated == 0.0 && f64::from(value as f32) == value;
        Tracked {
            value,
            bound: if exact { 0.0 } else { propagated + value.abs() },
        }
    }

    /// `value` from one transcendental evaluation after input errors `propagated`.
    fn transcendental(value: f64, propagated: f64) -> Self {
        Tracked {
            value,
            bound: propagated + TRANSCENDENTAL_ROUNDING * value.abs(),
        }
    }

    /// Propagation through a smooth unary function with derivative `slope`.
    fn through(self, value: f64, slope: f64) -> Self {
        Self::transcendental(value, slope.abs() * self.bound)
    }
}

/// Where the exact |value| rounds to 1 in f32, our tanh and sigmoid return exactly ±1 (see
/// `math.rs`), so their own error is the distance of the exact value from 1, not a few ulp.
/// Without this, derivatives such as 1 - tanh(1000 w)^2 of a saturated tanh would carry the
/// bound of a non-saturated one.
fn saturating(general: Tracked, magnitude: f64, propagated: f64) -> Tracked {
    // Far beyond f32 resolution: the f32 result is exactly ±1 and so, in effect, is the
    // exact value.
    const NEGLIGIBLE: f64 = 1e-60;
    if (magnitude as f32) == 1.0 {
        let own = (1.0 - magnitude) / (f64::from(f32::EPSILON) / 2.0);
        let bound = propagated + own;
        Tracked {
            value: general.value,
            bound: if bound < NEGLIGIBLE { 0.0 } else { bound },
        }
    } else {
        general
    }
}

impl Add for Tracked {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self::rounded(self.value + rhs.value, self.bound + rhs.bound)
    }
}

impl Sub for Tracked {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self::rounded(self.value - rhs.value, self.bound + rhs.bound)
    }
}

impl Mul for Tracked {
    type Output = Self;
    fn mul(self, rhs: Self) -> Self {
        Self::rounded(
            self.value * rhs.value,
            self.bound * rhs.value.abs() + self.value.abs() * rhs.bound,
        )
    }
}

impl Div for Tracked {
    type Output = Self;
    fn div(self, rhs: Self) -> Self {
        let value = self.value / rhs.value;
        Self::rounded(
            value,
            (self.bound + value.abs() * rhs.bound) / rhs.value.abs(),
        )
    }
}

impl Neg for Tracked {
    type Output = Self;
    fn neg(self) -> Self {
        Tracked {
            value: -self.value,
            bound: self.bound,
        }
    }
}

impl Real for Tracked {
    type Mask = bool;

    fn splat(v: f32) -> Self {
        Self::exact(f64::from(v))
    }
    fn from_f64(v: f64) -> Self {
        if f64::from(v as f32) == v {
            Self::exact(v)
        } else {
            Self::rounded(v, 0.0)
        }
    }
    fn lt(self, rhs: Self) -> bool {
        self.value < rhs.value
    }
    fn le(self, rhs: Self) -> bool {
        self.value <= rhs.value
    }
    fn gt(self, rhs: Self) -> bool {
        self.value > rhs.value
    }
    fn ge(self, rhs: Self) -> bool {
        self.value >= rhs.value
    }
    fn equal(self, rhs: Self) -> bool {
        self.value == rhs.value
    }
    fn is_nan(self) -> bool {
        self.value.is_nan()
    }
    fn select(mask: bool, if_true: Self, if_false: Self) -> Self {
        if mask { if_true } else { if_false }
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        Self::rounded(
            self.value.mul_add(a.value, b.value),
            self.bound * a.value.abs() + self.value.abs() * a.bound + b.bound,
        )
    }
    fn abs(self) -> Self {
        Tracked {
            value: self.value.abs(),
            bound: self.bound,
        }
    }
    fn sgn(self) -> Self {
        Self::exact(Real::sgn(self.value))
    }
    fn round_even(self) -> Self {
        Self::exact(self.value.round_ties_even())
    }
    fn sqrt(self) -> Self {
        let value = self.value.sqrt();
        Self::rounded(value, self.bound / (2.0 * value))
    }
    fn ln(self) -> Self {
        self.through(self.value.ln(), 1.0 / self.value)
    }
    fn exp(self) -> Self {
        let value = self.value.exp();
        self.through(value, value)
    }
    fn sin(self) -> Self {
        self.through(self.value.sin(), self.value.cos())
    }
    fn cos(self) -> Self {
        self.through(self.value.cos(), self.value.sin())
    }
    fn tanh(self) -> Self {
        let value = self.value.tanh();
        let slope = 1.0 - value * value;
        saturating(
            self.through(value, slope),
            value.abs(),
            slope.abs() * self.bound,
        )
    }
    fn sigmoid(self) -> Self {
        let value = Real::sigmoid(self.value);
        let slope = value * (1.0 - value);
        saturating(self.through(value, slope), value, slope.abs() * self.bound)
    }
    fn pow(self, exponent: Self) -> Self {
        let value = self.value.powf(exponent.value);
        let d_base = if exponent.value == 0.0 {
            0.0
        } else {
            exponent.value * self.value.powf(exponent.value - 1.0)
        };
        let d_exponent = if self.value == 0.0 {
            0.0
        } else {
            value * self.value.abs().ln()
        };
        Self::transcendental(
            value,
            d_base.abs() * self.bound + d_exponent.abs() * exponent.bound,
        )
    }
    fn minimum(self, rhs: Self) -> Self {
        if self.value.is_nan() || rhs.value.is_nan() {
            self + rhs
        } else if self.value < rhs.value {
            self
        } else {
            rhs
        }
    }
    fn maximum(self, rhs: Self) -> Self {
        if self.value.is_nan() || rhs.value.is_nan() {
            self + rhs
        } else if self.value > rhs.value {
            self
        } else {
            rhs
        }
    }
}
