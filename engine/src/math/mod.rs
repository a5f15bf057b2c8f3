//! Vector transcendentals on f32 lanes, generic over the width ([`Vector`]), written here so that their accuracy is ours to
//! state and test (the `wide` versions are documented as version dependent and lose subnormals).
//!
//! Every function works lane by lane, uses fused multiply-adds, and handles the IEEE special
//! values (NaN, infinities, signed zeros, subnormals) like the C library does. Measured maximum
//! errors against the f64 library functions, measured over every f32 of the argument ranges
//! the engine uses, are asserted by `engine/tests/ulp.rs` and listed in the README: at most
//! 1.6 ulp for exp, ln, sin, cos, tanh and pow, 2.4 ulp for the sigmoid.
//!
//! The polynomial coefficients are the single-precision minimax fits of the Cephes library
//! (S. L. Moshier), evaluated by Estrin's scheme; range reductions are Cody-Waite with fused
//! multiply-adds.

// The coefficients are kept digit for digit as published, beyond f32 precision.
#![allow(clippy::excessive_precision)]

use crate::simd::vector::{IntVector, Mask, Vector};

mod exp;
mod ln;
mod pow;
mod tanh;
mod trig;

pub use exp::*;
pub use ln::*;
pub use pow::*;
pub use tanh::*;
pub use trig::*;

pub(super) const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for every |n| < 2^15.
pub(super) const LN2_HI: f32 = 0.693_359_4;
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
pub(super) const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// A polynomial by Estrin's scheme; coefficients from the highest degree down. Terms are
/// paired, (c0 + c1 x) + x^2 (c2 + c3 x) + ..., recursively in x^2, x^4, ..., so the chain of
/// dependent fused multiply-adds is about log2(degree) long instead of degree: these
/// functions are latency bound, and the shorter chains let consecutive vectors overlap.
#[inline(always)]
pub(super) fn estrin<V: Vector>(x: V, coefficients: &[f32]) -> V {
    let n = coefficients.len();
    debug_assert!((1..=16).contains(&n));
    let coefficient = |k: usize| V::splat(coefficients[n - 1 - k]);
    let mut terms = [V::zero(); 8];
    let mut len = 0;
    let mut k = 0;
    while k < n {
        terms[len] = if k + 1 < n {
            coefficient(k + 1).mul_add(x, coefficient(k))
        } else {
            coefficient(k)
        };
        len += 1;
        k += 2;
    }
    let mut power = x * x;
    while len > 1 {
        let mut next = 0;
        let mut j = 0;
        while j < len {
            terms[next] = if j + 1 < len {
                terms[j + 1].mul_add(power, terms[j])
            } else {
                terms[j]
            };
            next += 1;
            j += 2;
        }
        len = next;
        if len > 1 {
            power = power * power;
        }
    }
    terms[0]
}

/// 2^n for integer-valued `n` in [-252, 254], as two normal factors so that products with a
/// value near 1 round once, correctly, into the subnormal range or up to infinity.
#[inline(always)]
pub(super) fn scale_by_pow2<V: Vector>(y: V, n: V) -> V {
    let n = n.fast_max(V::splat(-252.0)).fast_min(V::splat(254.0));
    let n = n.round_int();
    let half = n.shift_right::<1>();
    let rest = n - half;
    let bias = V::Int::splat(127);
    let s1 = V::from_bits((half + bias).shift_left::<23>());
    let s2 = V::from_bits((rest + bias).shift_left::<23>());
    y * s1 * s2
}

#[cfg(all(test, target_arch = "x86_64"))]
mod widths;

#[cfg(test)]
mod tests {
    use super::*;
    use wide::f32x8;

    fn lane(f: impl Fn(f32x8) -> f32x8, x: f32) -> f32 {
        f(f32x8::splat(x)).to_array()[0]
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn exp_special_values_and_limits() {
        assert_eq!(lane(exp, 0.0), 1.0);
        assert_eq!(lane(exp, f32::INFINITY), f32::INFINITY);
        assert_eq!(lane(exp, f32::NEG_INFINITY), 0.0);
        assert!(lane(exp, f32::NAN).is_nan());
        // ln(f32::MAX) = 88.72284: the last finite result and the first overflow.
        assert!(lane(exp, 88.72283).is_finite());
        assert_eq!(lane(exp, 88.7229), f32::INFINITY);
        assert_eq!(lane(exp, 1e30), f32::INFINITY);
        // Subnormal results: e^-100 = 3.720076e-44 is 26.5 * 2^-149, rounds to 27 * 2^-149
        // (the exact value 26.55 is closer to 27 than 26).
        assert_eq!(lane(exp, -100.0), 27.0 * f32::from_bits(1));
        assert_eq!(lane(exp, -104.0), 0.0);
        assert_eq!(lane(exp, -1e30), 0.0);
    }

    #[test]
    fn ln_special_values_and_subnormals() {
        assert_eq!(lane(ln, 1.0), 0.0);
        assert_eq!(lane(ln, 0.0), f32::NEG_INFINITY);
        assert_eq!(lane(ln, -0.0), f32::NEG_INFINITY);
        assert!(lane(ln, -1.0).is_nan());
        assert!(lane(ln, f32::NAN).is_nan());
        assert_eq!(lane(ln, f32::INFINITY), f32::INFINITY);
        assert!(lane(ln, f32::NEG_INFINITY).is_nan());
        // the smallest subnormal: ln(2^-149) = -149 ln 2 = -103.27893
        assert_eq!(
            lane(ln, f32::from_bits(1)),
            (-149.0f64 * std::f64::consts::LN_2) as f32
        );
    }

    #[test]
    fn pow_special_values_match_the_c_library() {
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            2.0,
            -2.0,
            3.0,
            -3.0,
            0.3,
            -2.5,
            1e-40,
            1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        for &b in &specials {
            for &e in &specials {
                let got = pow(f32x8::splat(b), f32x8::splat(e)).to_array()[0];
                let want = b.powf(e);
                let close =
                    same(got, want) || (got - want).abs() <= 2.0 * f32::EPSILON * want.abs();
                assert!(close, "pow({b}, {e}) = {got}, C library {want}");
            }
        }
    }

    #[test]
    fn rows_with_one_exponent_equal_the_vector_function() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            2.0,
            -2.5,
            1e-40,
            f32::INFINITY,
            f32::NAN,
        ];
        for exponent in [
            1.0f32,
            -1.0,
            0.0,
            0.37,
            -0.999,
            3.0,
            80.0,
            -200.0,
            f32::INFINITY,
            f32::NAN,
        ] {
            // 37: blocks of 16 and a partial one
            for len in [0usize, 1, 2, 5, 16, 37] {
                let bases: Vec<f32x8> = (0..len)
                    .map(|c| {
                        f32x8::from(std::array::from_fn::<f32, 8, _>(|l| {
                            let r = next();
                            if c == 3 && l == 2 {
                                specials[(r % specials.len() as u64) as usize]
                            } else {
                                (r >> 40) as f32 / (1u64 << 20) as f32 * 8.0 + 1e-3
                            }
                        }))
                    })
                    .collect();
                let (mut powers, mut logs) = (vec![f32x8::ZERO; len], vec![f32x8::ZERO; len]);
                pow_and_ln_row(|c| bases[c], exponent, &mut powers, &mut logs);
                for c in 0..len {
                    let (p, l) = pow_and_ln(bases[c], f32x8::splat(exponent));
                    for lane in 0..8 {
                        let (got, want) = (powers[c].to_array()[lane], p.to_array()[lane]);
                        assert!(same(got, want), "pow e {exponent} c {c}: {got} vs {want}");
                        let (got, want) = (logs[c].to_array()[lane], l.to_array()[lane]);
                        assert!(same(got, want), "ln e {exponent} c {c}: {got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn unit_exponents_are_exact() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // any finite f32 bit pattern, either sign
            let b = f32::from_bits(rng as u32 & 0xff7f_ffff);
            for e in [1.0f32, -1.0] {
                let want = if e == 1.0 { b } else { 1.0 / b };
                let got = lane(|x| pow(x, f32x8::splat(e)), b);
                assert!(same(got, want), "pow({b}, {e}) = {got}, want {want}");
                let [(pair, _), _] = pow_and_ln_pair([f32x8::splat(b); 2], [f32x8::splat(e); 2]);
                assert!(same(pair.to_array()[0], want), "pair pow({b}, {e})");
            }
        }
    }

    #[test]
    fn sign_base_powers_used_by_the_separate_sign_nru() {
        // s^round(w) with s in {-1, 0, 1}: 0^0 = 1, 0^-1 = +inf, (-1)^(+-1) = -1, (+-1)^0 = 1
        let p = |b: f32, e: f32| lane(|x| pow(x, f32x8::splat(e)), b);
        assert_eq!(p(0.0, 0.0), 1.0);
        assert_eq!(p(0.0, -1.0), f32::INFINITY);
        assert_eq!(p(0.0, 1.0), 0.0);
        assert_eq!(p(-1.0, 1.0), -1.0);
        assert_eq!(p(-1.0, -1.0), -1.0);
        assert_eq!(p(-1.0, 0.0), 1.0);
        assert_eq!(p(1.0, -1.0), 1.0);
    }

    #[test]
    fn trig_at_pi32() {
        // cos(PI32) rounds to exactly -1; sin(PI32) = -8.742278e-8 (PI32 - pi = 8.742278e-8).
        let pi32 = std::f32::consts::PI;
        assert_eq!(lane(cos, pi32), -1.0);
        assert_eq!(lane(sin, pi32), -8.742278e-8);
        assert_eq!(lane(sin, 0.0), 0.0);
        assert_eq!(lane(cos, 0.0), 1.0);
        assert!(lane(sin, f32::INFINITY).is_nan());
        // beyond the reduction limit the f64 path takes over
        assert_eq!(lane(sin, 1e6), (1e6f64).sin() as f32);
    }

    #[test]
    fn tanh_saturates_where_the_nru_expects() {
        // NRU: tanh(1000 w) is exactly 1 in f32 for |w| >= about 0.00901.
        assert_eq!(lane(tanh, 9.02), 1.0);
        assert_eq!(lane(tanh, -9.02), -1.0);
        assert!(lane(tanh, 8.9) < 1.0);
        assert_eq!(lane(tanh, 0.0), 0.0);
        assert_eq!(lane(tanh, f32::INFINITY), 1.0);
        assert!(lane(tanh, f32::NAN).is_nan());
        assert_eq!(lane(sigmoid, f32::NEG_INFINITY), 0.0);
        assert_eq!(lane(sigmoid, f32::INFINITY), 1.0);
    }
}
