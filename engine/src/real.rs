//! The number types the engine computes with, behind one trait.
//!
//! Every op is written once, generic over [`Real`], and runs on:
//! * a [`Vector`]: 8 or 16 samples of a batch at once (the training path), [`f32x8`] or the
//!   AVX-512 width;
//! * `f32`: one value of an unbatched tensor (parameters, regularisers, the loss);
//! * `f64`: the reference evaluator, used as the oracle in tests and audits;
//! * [`Tracked`](crate::Tracked): f64 plus a running bound on f32 rounding error, which turns
//!   conditioning into test tolerances.
//!
//! The f32 transcendentals evaluate the same vector code as `f32x8` on a splatted lane, so a
//! value computed on its own is bit-identical to the same value computed inside a batch.

use std::fmt::Debug;
use std::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Not, Sub};

use wide::f32x8;

use crate::math;
use crate::simd::vector::Vector;

/// Arithmetic, comparisons and elementary functions, lane by lane.
///
/// Semantics follow IEEE 754 and PyTorch: `minimum`/`maximum` propagate NaN, `sgn(0) = 0`,
/// `sgn(NaN) = NaN`, `round_even` rounds half to even.
pub trait Real:
    Copy
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// A lane-wise boolean.
    type Mask: Copy
        + BitAnd<Output = Self::Mask>
        + BitOr<Output = Self::Mask>
        + Not<Output = Self::Mask>;

    /// Every lane equal to `v` (exactly representable in all implementors).
    fn splat(v: f32) -> Self;
    /// Every lane equal to `v`, rounded to the implementor's precision.
    fn from_f64(v: f64) -> Self;
    fn lt(self, rhs: Self) -> Self::Mask;
    fn le(self, rhs: Self) -> Self::Mask;
    fn gt(self, rhs: Self) -> Self::Mask;
    fn ge(self, rhs: Self) -> Self::Mask;
    fn equal(self, rhs: Self) -> Self::Mask;
    fn is_nan(self) -> Self::Mask;
    /// `if_true` where the mask is set, else `if_false`.
    fn select(mask: Self::Mask, if_true: Self, if_false: Self) -> Self;
    /// self * a + b with a single rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn abs(self) -> Self;
    /// -1, 0 or +1 (NaN stays NaN).
    fn sgn(self) -> Self;
    fn round_even(self) -> Self;
    fn sqrt(self) -> Self;
    fn ln(self) -> Self;
    fn exp(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tanh(self) -> Self;
    fn sigmoid(self) -> Self;
    fn pow(self, exponent: Self) -> Self;
    /// Smaller value; NaN if either is NaN.
    fn minimum(self, rhs: Self) -> Self;
    /// Larger value; NaN if either is NaN.
    fn maximum(self, rhs: Self) -> Self;

    fn zero() -> Self {
        Self::splat(0.0)
    }
    /// The sum of `terms` in an order the caller does not fix (an evaluator may
    /// reassociate): implementors that bound rounding must bound every order.
    fn sum_unordered(terms: &[Self]) -> Self {
        terms.iter().fold(Self::zero(), |acc, &t| acc + t)
    }
    fn one() -> Self {
        Self::splat(1.0)
    }
}

/// Every vector width: lanes of a batch at once (the training path).
impl<V: Vector> Real for V {
    type Mask = V::Mask;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        V::splat(v)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        V::splat(v as f32)
    }
    #[inline(always)]
    fn lt(self, rhs: Self) -> V::Mask {
        self.simd_lt(rhs)
    }
    #[inline(always)]
    fn le(self, rhs: Self) -> V::Mask {
        self.simd_le(rhs)
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> V::Mask {
        self.simd_gt(rhs)
    }
    #[inline(always)]
    fn ge(self, rhs: Self) -> V::Mask {
        self.simd_ge(rhs)
    }
    #[inline(always)]
    fn equal(self, rhs: Self) -> V::Mask {
        self.simd_eq(rhs)
    }
    #[inline(always)]
    fn is_nan(self) -> V::Mask {
        Vector::is_nan(self)
    }
    #[inline(always)]
    fn select(mask: V::Mask, if_true: Self, if_false: Self) -> Self {
        V::select(mask, if_true, if_false)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Vector::mul_add(self, a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Vector::abs(self)
    }
    #[inline(always)]
    fn sgn(self) -> Self {
        let one = V::one().copysign(self);
        let s = V::select(self.simd_eq(V::zero()), V::zero(), one);
        V::select(Vector::is_nan(self), self, s)
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Vector::sqrt(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        math::ln(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        math::exp(self)
    }
    #[inline(always)]
    fn sin(self) -> Self {
        math::sin(self)
    }
    #[inline(always)]
    fn cos(self) -> Self {
        math::cos(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        math::tanh(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        math::sigmoid(self)
    }
    #[inline(always)]
    fn pow(self, exponent: Self) -> Self {
        math::pow(self, exponent)
    }
    #[inline(always)]
    fn minimum(self, rhs: Self) -> Self {
        let nan = Vector::is_nan(self) | Vector::is_nan(rhs);
        V::select(nan, self + rhs, self.fast_min(rhs))
    }
    #[inline(always)]
    fn maximum(self, rhs: Self) -> Self {
        let nan = Vector::is_nan(self) | Vector::is_nan(rhs);
        V::select(nan, self + rhs, self.fast_max(rhs))
    }
}

/// Runs a vector function on one value (lane 0 of a splat).
#[inline(always)]
fn lane0(v: f32, f: impl Fn(f32x8) -> f32x8) -> f32 {
    f(f32x8::splat(v)).to_array()[0]
}

impl Real for f32 {
    type Mask = bool;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn lt(self, rhs: Self) -> bool {
        self < rhs
    }
    #[inline(always)]
    fn le(self, rhs: Self) -> bool {
        self <= rhs
    }
    #[inline(always)]
    fn gt(self, rhs: Self) -> bool {
        self > rhs
    }
    #[inline(always)]
    fn ge(self, rhs: Self) -> bool {
        self >= rhs
    }
    #[inline(always)]
    fn equal(self, rhs: Self) -> bool {
        self == rhs
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline(always)]
    fn select(mask: bool, if_true: Self, if_false: Self) -> Self {
        if mask { if_true } else { if_false }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn sgn(self) -> Self {
        if f32::is_nan(self) {
            self
        } else if self == 0.0 {
            0.0
        } else {
            f32::signum(self)
        }
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        f32::round_ties_even(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        lane0(self, math::ln)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        lane0(self, math::exp)
    }
    #[inline(always)]
    fn sin(self) -> Self {
        lane0(self, math::sin)
    }
    #[inline(always)]
    fn cos(self) -> Self {
        lane0(self, math::cos)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        lane0(self, math::tanh)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        lane0(self, math::sigmoid)
    }
    #[inline(always)]
    fn pow(self, exponent: Self) -> Self {
        math::pow(f32x8::splat(self), f32x8::splat(exponent)).to_array()[0]
    }
    #[inline(always)]
    fn minimum(self, rhs: Self) -> Self {
        // Same choice as the vector instruction, down to the sign of equal zeros.
        if f32::is_nan(self) || f32::is_nan(rhs) {
            self + rhs
        } else if self < rhs {
            self
        } else {
            rhs
        }
    }
    #[inline(always)]
    fn maximum(self, rhs: Self) -> Self {
        if f32::is_nan(self) || f32::is_nan(rhs) {
            self + rhs
        } else if self > rhs {
            self
        } else {
            rhs
        }
    }
}

impl Real for f64 {
    type Mask = bool;

    fn splat(v: f32) -> Self {
        f64::from(v)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn lt(self, rhs: Self) -> bool {
        self < rhs
    }
    fn le(self, rhs: Self) -> bool {
        self <= rhs
    }
    fn gt(self, rhs: Self) -> bool {
        self > rhs
    }
    fn ge(self, rhs: Self) -> bool {
        self >= rhs
    }
    fn equal(self, rhs: Self) -> bool {
        self == rhs
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn select(mask: bool, if_true: Self, if_false: Self) -> Self {
        if mask { if_true } else { if_false }
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn sgn(self) -> Self {
        if f64::is_nan(self) {
            self
        } else if self == 0.0 {
            0.0
        } else {
            f64::signum(self)
        }
    }
    fn round_even(self) -> Self {
        f64::round_ties_even(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn sin(self) -> Self {
        f64::sin(self)
    }
    fn cos(self) -> Self {
        f64::cos(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + f64::exp(-self))
    }
    fn pow(self, exponent: Self) -> Self {
        f64::powf(self, exponent)
    }
    fn minimum(self, rhs: Self) -> Self {
        // Same choice as the vector instruction, down to the sign of equal zeros.
        if f64::is_nan(self) || f64::is_nan(rhs) {
            self + rhs
        } else if self < rhs {
            self
        } else {
            rhs
        }
    }
    fn maximum(self, rhs: Self) -> Self {
        if f64::is_nan(self) || f64::is_nan(rhs) {
            self + rhs
        } else if self > rhs {
            self
        } else {
            rhs
        }
    }
}
