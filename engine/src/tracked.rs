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

use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

use crate::Real;

/// Rounding error of our vector transcendentals, in units of u (at most 2.4 ulp = 4.8 u,
/// measured over every f32 in `engine/tests/ulp.rs`).
const TRANSCENDENTAL_ROUNDING: f64 = 5.0;

/// The bounds are computed in f64 themselves: where a decision hinges on a value against its
/// bound (an operand within its error of zero), this relative slack absorbs their rounding.
const BOUND_SLACK: f64 = 1.0 + 1e-9;

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

    /// The bound relative to the value (0 for an exact value, infinite at an inexact zero).
    pub fn relative_error(self) -> f64 {
        if self.bound == 0.0 {
            0.0
        } else {
            self.absolute_error() / self.value.abs()
        }
    }

    /// `value` rounded once (a correctly rounded basic operation) after input errors
    /// `propagated`. Exact inputs with an f32-representable result round to themselves.
    fn rounded(value: f64, propagated: f64) -> Self {
        let exact = propagated == 0.0 && f64::from(value as f32) == value;
        let bound = if exact {
            0.0
        } else {
            propagated + own_rounding(value, 1.0)
        };
        Tracked { value, bound }
    }

    /// `value` from one transcendental evaluation after input errors `propagated`.
    fn transcendental(value: f64, propagated: f64) -> Self {
        Tracked {
            value,
            bound: propagated + own_rounding(value, TRANSCENDENTAL_ROUNDING),
        }
    }

    /// This value, or an unbounded one if `operand` may have the other sign (or be zero) in
    /// f32: the operand is within its rounding error of zero, where the function (a
    /// division, a logarithm, a root, a power) has a pole or leaves its domain.
    fn unless_near_zero(self, operand: Tracked) -> Self {
        if operand.bound > 0.0 && operand.value.abs() <= operand.absolute_error() * BOUND_SLACK {
            Tracked {
                value: self.value,
                bound: f64::INFINITY,
            }
        } else {
            self
        }
    }

    /// The smaller or larger of two values (`self` when `first`). Where f32 may order the
    /// two differently (they are within their errors of each other), the f32 result is still
    /// within the larger of the two errors, as min and max move by no more than their
    /// operands do.
    fn extreme(self, rhs: Tracked, first: bool) -> Tracked {
        let chosen = if first { self } else { rhs };
        let apart = (self.value - rhs.value).abs() > self.absolute_error() + rhs.absolute_error();
        Tracked {
            value: chosen.value,
            bound: if apart {
                chosen.bound
            } else if self.bound.is_nan() || rhs.bound.is_nan() {
                // an operand that cannot be judged leaves the result unjudged
                f64::NAN
            } else {
                self.bound.max(rhs.bound)
            },
        }
    }

    /// The second-order term of a product's error, e_a e_b in units of u: negligible unless a
    /// factor is within a few errors of zero (the square of a cancelled difference, say).
    fn cross(self, rhs: Tracked) -> f64 {
        if self.bound == 0.0 || rhs.bound == 0.0 {
            0.0
        } else {
            self.bound * rhs.bound * f64::from(f32::EPSILON) / 2.0
        }
    }

    /// Propagation through a smooth unary function with derivative `slope`.
    fn through(self, value: f64, slope: f64) -> Self {
        Self::transcendental(value, slope.abs() * self.bound)
    }
}

/// One rounding of `value` to f32 by an operation accurate to `units` half-ulps, in units
/// of u: relative for normal results, plus the absolute spacing of the subnormal range, and
/// unbounded where f32 overflows (the f32 result is infinite; nothing can be compared).
fn own_rounding(value: f64, units: f64) -> f64 {
    /// The smallest normal f32, 2^-126: rounding into the subnormal range loses
    /// 2^-150 = u 2^-126 at most.
    const SUBNORMAL_SPACING: f64 = 1.175_494_350_822_287_5e-38;
    if value.abs() > f64::from(f32::MAX) {
        f64::INFINITY
    } else {
        units * (value.abs() + SUBNORMAL_SPACING)
    }
}

/// Where the exact |value| rounds to 1 in f32, our tanh and sigmoid return exactly ±1 (see
/// `math/tanh.rs`), so their own error is the distance of the exact value from 1, not a few ulp.
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

/// The outcome of comparing tracked values, and whether an f32 evaluation is certain to
/// reach the same outcome (the operands are further apart than their rounding errors, or
/// exact). A select on an uncertain decision between different values cannot be judged: its
/// result gets an infinite bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub value: bool,
    pub certain: bool,
}

impl Decision {
    fn compare(a: Tracked, b: Tracked, value: bool) -> Decision {
        let exact = a.bound == 0.0 && b.bound == 0.0;
        let apart = (a.value - b.value).abs() > a.absolute_error() + b.absolute_error();
        // NaN compares false in f32 too, but only an operand whose f32 value is known to be
        // within its bound of the reference is known to be NaN there.
        let judged = a.bound.is_finite() && b.bound.is_finite();
        let certain = exact || (judged && (apart || a.value.is_nan() || b.value.is_nan()));
        Decision { value, certain }
    }
}

impl From<Decision> for bool {
    fn from(d: Decision) -> bool {
        d.value
    }
}

impl BitAnd for Decision {
    type Output = Decision;
    fn bitand(self, rhs: Decision) -> Decision {
        let certainly_false = (self.certain && !self.value) || (rhs.certain && !rhs.value);
        Decision {
            value: self.value && rhs.value,
            certain: certainly_false || (self.certain && rhs.certain),
        }
    }
}

impl BitOr for Decision {
    type Output = Decision;
    fn bitor(self, rhs: Decision) -> Decision {
        let certainly_true = (self.certain && self.value) || (rhs.certain && rhs.value);
        Decision {
            value: self.value || rhs.value,
            certain: certainly_true || (self.certain && rhs.certain),
        }
    }
}

impl Not for Decision {
    type Output = Decision;
    fn not(self) -> Decision {
        Decision {
            value: !self.value,
            certain: self.certain,
        }
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
            self.bound * rhs.value.abs() + self.value.abs() * rhs.bound + self.cross(rhs),
        )
    }
}

impl Div for Tracked {
    type Output = Self;
    fn div(self, rhs: Self) -> Self {
        let value = self.value / rhs.value;
        // |a'/r' - a/r| <= (e_a + |a/r| e_r) / (|r| - e_r): the first-order bound with the
        // divisor at the near end of its interval, which matters when it is close to zero
        let margin = rhs.value.abs() - rhs.absolute_error() * BOUND_SLACK;
        let bound = if margin > 0.0 {
            (self.bound + value.abs() * rhs.bound) / margin
        } else {
            f64::INFINITY
        };
        Self::rounded(value, bound)
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
    type Mask = Decision;

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
    fn lt(self, rhs: Self) -> Decision {
        Decision::compare(self, rhs, self.value < rhs.value)
    }
    fn le(self, rhs: Self) -> Decision {
        Decision::compare(self, rhs, self.value <= rhs.value)
    }
    fn gt(self, rhs: Self) -> Decision {
        Decision::compare(self, rhs, self.value > rhs.value)
    }
    fn ge(self, rhs: Self) -> Decision {
        Decision::compare(self, rhs, self.value >= rhs.value)
    }
    fn equal(self, rhs: Self) -> Decision {
        Decision::compare(self, rhs, self.value == rhs.value)
    }
    fn is_nan(self) -> Decision {
        Decision {
            value: self.value.is_nan(),
            certain: true,
        }
    }
    fn select(mask: Decision, if_true: Self, if_false: Self) -> Self {
        let chosen = if mask.value { if_true } else { if_false };
        if mask.certain || if_true == if_false {
            chosen
        } else {
            // f32 may have decided the other way: nothing can be said about the result
            Tracked {
                value: chosen.value,
                bound: f64::INFINITY,
            }
        }
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        Self::rounded(
            self.value.mul_add(a.value, b.value),
            self.bound * a.value.abs() + self.value.abs() * a.bound + self.cross(a) + b.bound,
        )
    }
    fn abs(self) -> Self {
        Tracked {
            value: self.value.abs(),
            bound: self.bound,
        }
    }
    fn sgn(self) -> Self {
        let value = Real::sgn(self.value);
        // the sign jumps at 0: an operand within its error of 0 may have either sign in f32
        let certain = self.bound == 0.0 || self.value.abs() > self.absolute_error();
        Tracked {
            value,
            bound: if certain { 0.0 } else { f64::INFINITY },
        }
    }
    fn round_even(self) -> Self {
        let value = self.value.round_ties_even();
        let to_half = ((self.value - self.value.floor()) - 0.5).abs();
        let certain = self.bound == 0.0 || to_half > self.absolute_error();
        Tracked {
            value,
            bound: if certain { 0.0 } else { f64::INFINITY },
        }
    }
    fn sqrt(self) -> Self {
        let value = self.value.sqrt();
        // Steep near zero, where a first-order bound understates: the change over the
        // operand's whole error interval instead (below zero, f32 gives NaN).
        let error = self.absolute_error();
        let spread = if error.is_finite() {
            (value - (self.value - error).max(0.0).sqrt()).max((self.value + error).sqrt() - value)
        } else {
            error
        };
        Self::rounded(value, spread / (f64::from(f32::EPSILON) / 2.0)).unless_near_zero(self)
    }
    fn ln(self) -> Self {
        // an operand within its error of zero may be 0 in f32 (underflow): ln is -inf there
        self.through(self.value.ln(), 1.0 / self.value)
            .unless_near_zero(self)
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
        // The first-order bound holds while the argument e ln|b| moves by much less than 1;
        // beyond that (a huge exponent on an inexact base near 1, say) it is not judged.
        let argument_error = self.relative_error() * exponent.value.abs()
            + if exponent.bound == 0.0 {
                0.0
            } else {
                self.value.abs().ln().abs() * exponent.absolute_error()
            };
        if argument_error.is_nan() || argument_error > 1e-3 {
            return Tracked {
                value,
                bound: f64::INFINITY,
            };
        }
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
        .unless_near_zero(self)
    }
    fn sum_unordered(terms: &[Self]) -> Self {
        // Any order of n - 1 additions rounds partial sums each at most the sum of all |terms|.
        let value: f64 = terms.iter().map(|t| t.value).sum();
        let magnitude: f64 = terms.iter().map(|t| t.value.abs()).sum();
        let propagated: f64 = terms.iter().map(|t| t.bound).sum();
        let additions = terms.len().saturating_sub(1) as f64;
        // a partial sum may overflow f32 even where the total (a mean, say) would not
        let bound = if magnitude > f64::from(f32::MAX) {
            f64::INFINITY
        } else {
            propagated + additions * (magnitude + 1.175_494_350_822_287_5e-38)
        };
        Tracked { value, bound }
    }
    fn minimum(self, rhs: Self) -> Self {
        if self.value.is_nan() || rhs.value.is_nan() {
            self + rhs
        } else {
            self.extreme(rhs, self.value < rhs.value)
        }
    }
    fn maximum(self, rhs: Self) -> Self {
        if self.value.is_nan() || rhs.value.is_nan() {
            self + rhs
        } else {
            self.extreme(rhs, self.value > rhs.value)
        }
    }
}
