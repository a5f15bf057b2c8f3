//! ln x: the exponent and the mantissa, and a minimax polynomial in the mantissa.

use super::*;

/// Splits a positive normal x into x = 2^e * m with m in [sqrt(1/2), sqrt(2)) and returns
/// (e, f, tail) with ln m = f + tail, f = m - 1 exact and |tail| <= 0.06.
#[inline(always)]
pub(super) fn ln_parts_normal<V: Vector>(x: V) -> (V, V, V) {
    // Subtracting the bits of sqrt(1/2) moves the exponent boundary to sqrt(1/2): the
    // exponent field of the difference is e, and its mantissa bits plus those of sqrt(1/2)
    // are m in [sqrt(1/2), sqrt(2)), with x = m 2^e.
    let offset = V::Int::splat(SQRT_HALF.to_bits() as i32);
    let shifted = x.to_bits() - offset;
    let e = V::from_int(shifted.shift_right::<23>());
    let m = V::from_bits((shifted & V::Int::splat(0x007f_ffff)) + offset);
    let f = m - V::one();
    let z = f * f;
    let p = estrin(
        f,
        &[
            7.037_683_6e-2,
            -1.151_461e-1,
            1.167_699_9e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_8e-1,
            2.000_071_4e-1,
            -2.499_999_4e-1,
            3.333_333_1e-1,
        ],
    );
    let tail = (p * f).mul_add(z, z * V::splat(-0.5));
    (e, f, tail)
}

/// [`ln_parts_normal`] for any finite positive x, subnormals scaled up first. Garbage for
/// x <= 0, infinities and NaN; callers select those themselves.
#[inline(always)]
pub(super) fn ln_parts<V: Vector>(x: V) -> (V, V, V) {
    let subnormal = x.simd_lt(V::splat(f32::MIN_POSITIVE));
    let (e, f, tail) = ln_parts_normal(subnormal.select(x * V::splat(8_388_608.0), x));
    (e - subnormal.select(V::splat(23.0), V::zero()), f, tail)
}

/// Whether every lane is a positive normal number.
#[inline(always)]
pub(super) fn all_normal_positive<V: Vector>(x: V) -> bool {
    (x.simd_ge(V::splat(f32::MIN_POSITIVE)) & x.simd_le(V::splat(f32::MAX))).all()
}

/// Natural logarithm: -inf at ±0, NaN below zero, +inf at +inf.
#[inline(always)]
pub fn ln<V: Vector>(x: V) -> V {
    if all_normal_positive(x) {
        let (e, f, tail) = ln_parts_normal(x);
        return ln_from_parts(e, f, tail);
    }
    std::hint::cold_path();
    ln_general(x)
}

#[inline(always)]
pub(super) fn ln_general<V: Vector>(x: V) -> V {
    let (e, f, tail) = ln_parts(x);
    ln_special_values(x, ln_from_parts(e, f, tail))
}

/// ln x = e ln 2 + f + tail, the large and small parts of ln 2 added last and first.
#[inline(always)]
pub(super) fn ln_from_parts<V: Vector>(e: V, f: V, tail: V) -> V {
    let y = e.mul_add(V::splat(LN2_LO), tail);
    let y = f + y;
    e.mul_add(V::splat(LN2_HI), y)
}

#[inline(always)]
pub(super) fn ln_special_values<V: Vector>(x: V, y: V) -> V {
    let y = x
        .simd_eq(V::splat(f32::INFINITY))
        .select(V::splat(f32::INFINITY), y);
    let y = x.simd_eq(V::zero()).select(V::splat(f32::NEG_INFINITY), y);
    // x < 0 and NaN both give NaN.
    (x.simd_lt(V::zero()) | x.is_nan()).select(V::splat(f32::NAN), y)
}
