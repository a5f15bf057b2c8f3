//! sin and cos: a Cody-Waite reduction by pi / 2 in three parts, and their polynomials.

use super::*;

/// π/2 in three parts for the Cody-Waite reduction of sine and cosine.
pub(super) const PIO2_1: f32 = 1.570_796_4;
pub(super) const PIO2_2: f32 = -4.371_139e-8;
pub(super) const PIO2_3: f32 = -1.715_124_5e-15;
/// Beyond this |x| the three-part reduction loses accuracy; such lanes go through f64.
pub(super) const TRIG_REDUCTION_LIMIT: f32 = 65_536.0;

/// sin(x) and cos(x) together (the backward pass of one needs the other).
#[inline]
pub fn sin_cos(x: f32x8) -> (f32x8, f32x8) {
    let q = (x * f32x8::splat(std::f32::consts::FRAC_2_PI)).round_ties_even();
    let r = q.mul_neg_add(f32x8::splat(PIO2_1), x);
    let r = q.mul_neg_add(f32x8::splat(PIO2_2), r);
    let r = q.mul_neg_add(f32x8::splat(PIO2_3), r);
    let z = r * r;
    let s = estrin(z, &[-1.951_529_6e-4, 8.332_161e-3, -1.666_665_5e-1]);
    let sin_r = (s * z).mul_add(r, r);
    let c = estrin(z, &[2.443_315_7e-5, -1.388_731_6e-3, 4.166_664_6e-2]);
    let cos_r = (c * z).mul_add(z, z.mul_neg_add(f32x8::HALF, f32x8::ONE));

    // Quadrant k = q mod 4: sin x = (sin r, cos r, -sin r, -cos r)[k], cos x = sin(x + π/2).
    let k = q.round_int();
    let swap = from_i32_bits((k & i32x8::ONE).simd_eq(i32x8::ONE));
    let sin_negative = from_i32_bits((k & i32x8::splat(2)) << 30);
    let cos_negative = from_i32_bits(((k + i32x8::ONE) & i32x8::splat(2)) << 30);
    let sin = swap.select(cos_r, sin_r) ^ sin_negative;
    let cos = swap.select(sin_r, cos_r) ^ cos_negative;

    let far = x.abs().simd_gt(f32x8::splat(TRIG_REDUCTION_LIMIT)) & !x.is_inf();
    let (sin, cos) = if far.any() {
        std::hint::cold_path();
        sin_cos_far(x, far, sin, cos)
    } else {
        (sin, cos)
    };
    // Infinities give NaN; NaN stays NaN through the arithmetic already.
    let inf = x.is_inf();
    (inf.select(f32x8::NAN, sin), inf.select(f32x8::NAN, cos))
}

/// Lanes with huge arguments, rounded from the f64 library functions (cold path).
#[inline(always)]
pub(super) fn sin_cos_far(x: f32x8, far: f32x8, sin: f32x8, cos: f32x8) -> (f32x8, f32x8) {
    let xs = x.to_array();
    let far = far.to_array();
    let mut s = sin.to_array();
    let mut c = cos.to_array();
    for lane in 0..8 {
        if far[lane] != 0.0 {
            let (sl, cl) = f64::from(xs[lane]).sin_cos();
            s[lane] = sl as f32;
            c[lane] = cl as f32;
        }
    }
    (f32x8::from(s), f32x8::from(c))
}

/// sin(x).
#[inline]
pub fn sin(x: f32x8) -> f32x8 {
    sin_cos(x).0
}

/// cos(x).
#[inline]
pub fn cos(x: f32x8) -> f32x8 {
    sin_cos(x).1
}
