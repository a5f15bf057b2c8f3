//! sin and cos: a Cody-Waite reduction by pi / 2 in three parts, and their polynomials.

use super::*;

/// π/2 in three parts for the Cody-Waite reduction of sine and cosine.
pub(super) const PIO2_1: f32 = 1.570_796_4;
pub(super) const PIO2_2: f32 = -4.371_139e-8;
pub(super) const PIO2_3: f32 = -1.715_124_5e-15;
/// Beyond this |x| the three-part reduction loses accuracy; such lanes go through f64.
pub(super) const TRIG_REDUCTION_LIMIT: f32 = 65_536.0;

/// sin(x) and cos(x) together (the backward pass of one needs the other).
#[inline(always)]
pub fn sin_cos<V: Vector>(x: V) -> (V, V) {
    let q = (x * V::splat(std::f32::consts::FRAC_2_PI)).round_ties_even();
    let r = q.mul_neg_add(V::splat(PIO2_1), x);
    let r = q.mul_neg_add(V::splat(PIO2_2), r);
    let r = q.mul_neg_add(V::splat(PIO2_3), r);
    let z = r * r;
    let s = estrin(z, &[-1.951_529_6e-4, 8.332_161e-3, -1.666_665_5e-1]);
    let sin_r = (s * z).mul_add(r, r);
    let c = estrin(z, &[2.443_315_7e-5, -1.388_731_6e-3, 4.166_664_6e-2]);
    let cos_r = (c * z).mul_add(z, z.mul_neg_add(V::splat(0.5), V::one()));

    // Quadrant k = q mod 4: sin x = (sin r, cos r, -sin r, -cos r)[k], cos x = sin(x + π/2).
    let k = q.round_int();
    let swap = (k & V::Int::splat(1)).simd_eq(V::Int::splat(1));
    let sin_negative = V::from_bits((k & V::Int::splat(2)).shift_left::<30>());
    let cos_negative = V::from_bits(((k + V::Int::splat(1)) & V::Int::splat(2)).shift_left::<30>());
    let sin = swap.select(cos_r, sin_r) ^ sin_negative;
    let cos = swap.select(sin_r, cos_r) ^ cos_negative;

    let far = x.abs().simd_gt(V::splat(TRIG_REDUCTION_LIMIT)) & !x.is_inf();
    let (sin, cos) = if far.any() {
        std::hint::cold_path();
        sin_cos_far(x, far, sin, cos)
    } else {
        (sin, cos)
    };
    // Infinities give NaN; NaN stays NaN through the arithmetic already.
    let inf = x.is_inf();
    (
        inf.select(V::splat(f32::NAN), sin),
        inf.select(V::splat(f32::NAN), cos),
    )
}

/// Lanes with huge arguments, rounded from the f64 library functions (cold path).
#[inline(always)]
pub(super) fn sin_cos_far<V: Vector>(x: V, far: V::Mask, sin: V, cos: V) -> (V, V) {
    const MOST: usize = 16;
    let (mut xs, mut s, mut c) = ([0.0f32; MOST], [0.0f32; MOST], [0.0f32; MOST]);
    x.write_lanes(&mut xs);
    sin.write_lanes(&mut s);
    cos.write_lanes(&mut c);
    for lane in 0..V::LANES {
        if far.bits() >> lane & 1 == 1 {
            let (sl, cl) = f64::from(xs[lane]).sin_cos();
            s[lane] = sl as f32;
            c[lane] = cl as f32;
        }
    }
    (V::from_lanes(&s), V::from_lanes(&c))
}

/// sin(x).
#[inline(always)]
pub fn sin<V: Vector>(x: V) -> V {
    sin_cos(x).0
}

/// cos(x).
#[inline(always)]
pub fn cos<V: Vector>(x: V) -> V {
    sin_cos(x).1
}
