//! tanh and the logistic sigmoid, from e^x.

use super::*;

/// tanh(x); exactly ±1 once |x| exceeds about 9.01, as in the C library.
#[inline(always)]
pub fn tanh<V: Vector>(x: V) -> V {
    let a = x.abs();
    let z = x * x;
    let p = estrin(
        z,
        &[
            -5.704_988_7e-3,
            2.063_908_9e-2,
            -5.373_971_6e-2,
            1.333_144_2e-1,
            -3.333_328_2e-1,
        ],
    );
    let small = (p * z).mul_add(x, x);
    let e = exp(a + a);
    let large = (V::one() - V::splat(2.0) / (e + V::one())).copysign(x);
    let y = a.simd_lt(V::splat(0.625)).select(small, large);
    x.is_nan().select(x, y)
}

/// The logistic function 1 / (1 + e^-x), computed from e = e^-|x| as 1 / (1 + e) for
/// x >= 0 and e / (1 + e) for x < 0, so tiny results keep their precision down into the
/// subnormal range instead of flushing to 0.
#[inline(always)]
pub fn sigmoid<V: Vector>(x: V) -> V {
    let e = exp(-x.abs());
    let numerator = x.simd_lt(V::zero()).select(e, V::one());
    numerator / (V::one() + e)
}
