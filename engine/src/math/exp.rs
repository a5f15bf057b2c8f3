//! e^x: a Cody-Waite reduction by ln 2, a minimax polynomial, and the scaling by 2^n.

use super::*;

/// e^(hi + lo) reduced: (t, n, y) with t = hi + lo and e^t = y 2^n, y in [0.7, 1.42]; `lo`
/// carries the low-order part of an argument that does not fit in one f32 (used by `pow`).
#[inline(always)]
pub(super) fn exp_reduced<V: Vector>(hi: V, lo: V) -> (V, V, V) {
    let t = hi + lo;
    let n = (t * V::splat(LOG2_E)).round_ties_even();
    // hi - n ln2 is nearly exact because hi is close to n * LN2_HI (Sterbenz).
    let r = n.mul_neg_add(V::splat(LN2_HI), hi);
    let r = r + lo;
    let r = n.mul_neg_add(V::splat(LN2_LO), r);
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
    (t, n, p.mul_add(r * r, r) + V::one())
}

/// Whether e^t stays clear of the ends of the f32 range on every lane (false for NaN).
#[inline(always)]
pub(super) fn exp_in_range<V: Vector>(t: V) -> bool {
    t.abs().simd_lt(V::splat(87.0)).all()
}

/// y 2^n for 2^n normal, built directly from its exponent bits. `n` is a small integer
/// (callers have checked the range), so the plain conversion needs no NaN or overflow care.
#[inline(always)]
pub(super) fn times_pow2<V: Vector>(y: V, n: V) -> V {
    y * V::from_bits((n.fast_round_int() + V::Int::splat(127)).shift_left::<23>())
}

/// e^(hi + lo) (see [`exp_reduced`]); `exp` calls it with `lo = 0`.
#[inline(always)]
pub(super) fn exp_hilo<V: Vector>(hi: V, lo: V) -> V {
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
pub(super) fn exp_limits<V: Vector>(t: V, y: V, n: V) -> V {
    let y = scale_by_pow2(y, n);
    // Far outside the finite range the reduction above is meaningless; pin the limits.
    let y = t
        .simd_gt(V::splat(100.0))
        .select(V::splat(f32::INFINITY), y);
    let y = t.simd_lt(V::splat(-110.0)).select(V::zero(), y);
    // NaN propagates through every step above except the two selects, which test false.
    t.is_nan().select(t, y)
}

/// e^x.
#[inline(always)]
pub fn exp<V: Vector>(x: V) -> V {
    exp_hilo(x, V::zero())
}
