//! ln x: the exponent and the mantissa, and a minimax polynomial in the mantissa.

use super::*;

/// Splits a positive normal x into x = 2^e * m with m in [sqrt(1/2), sqrt(2)) and returns
/// (e, f, tail) with ln m = f + tail, f = m - 1 exact and |tail| <= 0.06.
#[inline(always)]
pub(super) fn ln_parts_normal(x: f32x8) -> (f32x8, f32x8, f32x8) {
    // Subtracting the bits of sqrt(1/2) moves the exponent boundary to sqrt(1/2): the
    // exponent field of the difference is e, and its mantissa bits plus those of sqrt(1/2)
    // are m in [sqrt(1/2), sqrt(2)), with x = m 2^e.
    let offset = i32x8::splat(SQRT_HALF.to_bits() as i32);
    let shifted = as_i32(x.to_bits()) - offset;
    let e = f32x8::from_i32x8(shifted >> 23);
    let m = from_i32_bits((shifted & i32x8::splat(0x007f_ffff)) + offset);
    let f = m - f32x8::ONE;
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
    let tail = (p * f).mul_add(z, z * f32x8::splat(-0.5));
    (e, f, tail)
}

/// [`ln_parts_normal`] for any finite positive x, subnormals scaled up first. Garbage for
/// x <= 0, infinities and NaN; callers select those themselves.
#[inline(always)]
pub(super) fn ln_parts(x: f32x8) -> (f32x8, f32x8, f32x8) {
    let subnormal = x.simd_lt(f32x8::MIN_POSITIVE);
    let (e, f, tail) = ln_parts_normal(subnormal.select(x * f32x8::splat(8_388_608.0), x));
    (
        e - subnormal.select(f32x8::splat(23.0), f32x8::ZERO),
        f,
        tail,
    )
}

/// Whether every lane is a positive normal number.
#[inline(always)]
pub(super) fn all_normal_positive(x: f32x8) -> bool {
    (x.simd_ge(f32x8::MIN_POSITIVE) & x.simd_le(f32x8::MAX)).all()
}

/// Natural logarithm: -inf at ±0, NaN below zero, +inf at +inf.
#[inline]
pub fn ln(x: f32x8) -> f32x8 {
    if all_normal_positive(x) {
        let (e, f, tail) = ln_parts_normal(x);
        return ln_from_parts(e, f, tail);
    }
    std::hint::cold_path();
    ln_general(x)
}

#[inline(always)]
pub(super) fn ln_general(x: f32x8) -> f32x8 {
    let (e, f, tail) = ln_parts(x);
    ln_special_values(x, ln_from_parts(e, f, tail))
}

/// ln x = e ln 2 + f + tail, the large and small parts of ln 2 added last and first.
#[inline(always)]
pub(super) fn ln_from_parts(e: f32x8, f: f32x8, tail: f32x8) -> f32x8 {
    let y = e.mul_add(f32x8::splat(LN2_LO), tail);
    let y = f + y;
    e.mul_add(f32x8::splat(LN2_HI), y)
}

#[inline(always)]
pub(super) fn ln_special_values(x: f32x8, y: f32x8) -> f32x8 {
    let y = x.simd_eq(f32x8::INFINITY).select(f32x8::INFINITY, y);
    let y = x.simd_eq(f32x8::ZERO).select(f32x8::NEG_INFINITY, y);
    // x < 0 and NaN both give NaN.
    (x.simd_lt(f32x8::ZERO) | x.is_nan()).select(f32x8::NAN, y)
}
