//! e^x: a Cody-Waite reduction by ln 2, a minimax polynomial, and the scaling by 2^n.

use super::*;

/// e^(hi + lo) reduced: (t, n, y) with t = hi + lo and e^t = y 2^n, y in [0.7, 1.42]; `lo`
/// carries the low-order part of an argument that does not fit in one f32 (used by `pow`).
#[inline(always)]
pub(super) fn exp_reduced(hi: f32x8, lo: f32x8) -> (f32x8, f32x8, f32x8) {
    let t = hi + lo;
    let n = (t * f32x8::splat(LOG2_E)).round_ties_even();
    // hi - n ln2 is nearly exact because hi is close to n * LN2_HI (Sterbenz).
    let r = n.mul_neg_add(f32x8::splat(LN2_HI), hi);
    let r = r + lo;
    let r = n.mul_neg_add(f32x8::splat(LN2_LO), r);
    // e^r = 1 + r + r^2 p(r) on |r| <= ln2 / 2.
    let p = estrin(
        r,
        &[
            1.987_569_1e-4,
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5.000_000_1e-1,
        ],
    );
    (t, n, p.mul_add(r * r, r) + f32x8::ONE)
}

/// Whether e^t stays clear of the ends of the f32 range on every lane (false for NaN).
#[inline(always)]
pub(super) fn exp_in_range(t: f32x8) -> bool {
    t.abs().simd_lt(f32x8::splat(87.0)).all()
}

/// y 2^n for 2^n normal, built directly from its exponent bits. `n` is a small integer
/// (callers have checked the range), so the plain conversion needs no NaN or overflow care.
#[inline(always)]
pub(super) fn times_pow2(y: f32x8, n: f32x8) -> f32x8 {
    y * from_i32_bits((n.fast_round_int() + i32x8::splat(127)) << 23)
}

/// e^(hi + lo) (see [`exp_reduced`]); `exp` calls it with `lo = 0`.
#[inline(always)]
pub(super) fn exp_hilo(hi: f32x8, lo: f32x8) -> f32x8 {
    let (t, n, y) = exp_reduced(hi, lo);
    if exp_in_range(t) {
        times_pow2(y, n)
    } else {
        std::hint::cold_path();
        exp_limits(t, y, n)
    }
}

/// e^t = y 2^n near and beyond the ends of the f32 range (subnormal results, overflow), and
/// NaN.
#[inline(always)]
pub(super) fn exp_limits(t: f32x8, y: f32x8, n: f32x8) -> f32x8 {
    let y = scale_by_pow2(y, n);
    // Far outside the finite range the reduction above is meaningless; pin the limits.
    let y = t.simd_gt(f32x8::splat(100.0)).select(f32x8::INFINITY, y);
    let y = t.simd_lt(f32x8::splat(-110.0)).select(f32x8::ZERO, y);
    // NaN propagates through every step above except the two selects, which test false.
    t.is_nan().select(t, y)
}

/// e^x.
#[inline]
pub fn exp(x: f32x8) -> f32x8 {
    exp_hilo(x, f32x8::ZERO)
}
