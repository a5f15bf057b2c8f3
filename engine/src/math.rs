//! Vector transcendentals on eight f32 lanes, written here so that their accuracy is ours to
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

use wide::{f32x8, i32x8, u32x8};

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for every |n| < 2^15.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// A polynomial by Estrin's scheme; coefficients from the highest degree down. Terms are
/// paired, (c0 + c1 x) + x^2 (c2 + c3 x) + ..., recursively in x^2, x^4, ..., so the chain of
/// dependent fused multiply-adds is about log2(degree) long instead of degree: these
/// functions are latency bound, and the shorter chains let consecutive vectors overlap.
#[inline(always)]
fn estrin(x: f32x8, coefficients: &[f32]) -> f32x8 {
    let n = coefficients.len();
    debug_assert!((1..=16).contains(&n));
    let coefficient = |k: usize| f32x8::splat(coefficients[n - 1 - k]);
    let mut terms = [f32x8::ZERO; 8];
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

#[inline(always)]
fn as_i32(v: u32x8) -> i32x8 {
    wide::bytemuck::cast(v)
}

#[inline(always)]
fn from_i32_bits(v: i32x8) -> f32x8 {
    f32x8::from_bits(wide::bytemuck::cast(v))
}

/// 2^n for integer-valued `n` in [-252, 254], as two normal factors so that products with a
/// value near 1 round once, correctly, into the subnormal range or up to infinity.
#[inline(always)]
fn scale_by_pow2(y: f32x8, n: f32x8) -> f32x8 {
    let n = n
        .fast_max(f32x8::splat(-252.0))
        .fast_min(f32x8::splat(254.0));
    let n = n.round_int();
    let half = n >> 1;
    let rest = n - half;
    let bias = i32x8::splat(127);
    let s1 = from_i32_bits((half + bias) << 23);
    let s2 = from_i32_bits((rest + bias) << 23);
    y * s1 * s2
}

/// e^(hi + lo) reduced: (t, n, y) with t = hi + lo and e^t = y 2^n, y in [0.7, 1.42]; `lo`
/// carries the low-order part of an argument that does not fit in one f32 (used by `pow`).
#[inline(always)]
fn exp_reduced(hi: f32x8, lo: f32x8) -> (f32x8, f32x8, f32x8) {
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
fn exp_in_range(t: f32x8) -> bool {
    t.abs().simd_lt(f32x8::splat(87.0)).all()
}

/// y 2^n for 2^n normal, built directly from its exponent bits. `n` is a small integer
/// (callers have checked the range), so the plain conversion needs no NaN or overflow care.
#[inline(always)]
fn times_pow2(y: f32x8, n: f32x8) -> f32x8 {
    y * from_i32_bits((n.fast_round_int() + i32x8::splat(127)) << 23)
}

/// e^(hi + lo) (see [`exp_reduced`]); `exp` calls it with `lo = 0`.
#[inline(always)]
fn exp_hilo(hi: f32x8, lo: f32x8) -> f32x8 {
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
fn exp_limits(t: f32x8, y: f32x8, n: f32x8) -> f32x8 {
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

/// Splits a positive normal x into x = 2^e * m with m in [sqrt(1/2), sqrt(2)) and returns
/// (e, f, tail) with ln m = f + tail, f = m - 1 exact and |tail| <= 0.06.
#[inline(always)]
fn ln_parts_normal(x: f32x8) -> (f32x8, f32x8, f32x8) {
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
fn ln_parts(x: f32x8) -> (f32x8, f32x8, f32x8) {
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
fn all_normal_positive(x: f32x8) -> bool {
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
fn ln_general(x: f32x8) -> f32x8 {
    let (e, f, tail) = ln_parts(x);
    ln_special_values(x, ln_from_parts(e, f, tail))
}

/// ln x = e ln 2 + f + tail, the large and small parts of ln 2 added last and first.
#[inline(always)]
fn ln_from_parts(e: f32x8, f: f32x8, tail: f32x8) -> f32x8 {
    let y = e.mul_add(f32x8::splat(LN2_LO), tail);
    let y = f + y;
    e.mul_add(f32x8::splat(LN2_HI), y)
}

#[inline(always)]
fn ln_special_values(x: f32x8, y: f32x8) -> f32x8 {
    let y = x.simd_eq(f32x8::INFINITY).select(f32x8::INFINITY, y);
    let y = x.simd_eq(f32x8::ZERO).select(f32x8::NEG_INFINITY, y);
    // x < 0 and NaN both give NaN.
    (x.simd_lt(f32x8::ZERO) | x.is_nan()).select(f32x8::NAN, y)
}

/// base^exponent with the C99 `powf` special cases (pow(x, 0) = 1, pow(1, y) = 1, a negative
/// base needs an integer exponent, signed zeros and infinities), as PyTorch's `pow` does.
///
/// The product exponent * ln|base| is carried in two f32 parts, so the error stays near that
/// of `exp` alone (tested for |exponent| <= 4 over bases from 1e-6 to 1e6).
#[inline]
pub fn pow(base: f32x8, exponent: f32x8) -> f32x8 {
    pow_and_ln(base, exponent).0
}

/// (base^exponent, ln(base)): the power and the logarithm it was computed from, which the
/// exponent's derivative base^e ln(base) needs. ln(base) has the special values of [`ln`].
#[inline]
pub fn pow_and_ln(base: f32x8, exponent: f32x8) -> (f32x8, f32x8) {
    // The common case: a positive normal base and a finite exponent.
    if all_normal_positive(base) & exponent.abs().simd_le(f32x8::MAX).all() {
        let (e, f, tail) = ln_parts_normal(base);
        let ln = ln_from_parts(e, f, tail);
        if let Some(y) = unit_power(base, exponent) {
            return (y, ln);
        }
        return (
            exact_at_unit_exponents(base, exponent, power_from_parts(e, f, tail, exponent)),
            ln,
        );
    }
    std::hint::cold_path();
    pow_and_ln_general(base, exponent)
}

/// base^±1 without the exponential when every lane's exponent is ±1 (a converged NRU).
#[inline(always)]
fn unit_power(base: f32x8, exponent: f32x8) -> Option<f32x8> {
    let one = exponent.simd_eq(f32x8::ONE);
    let minus_one = exponent.simd_eq(-f32x8::ONE);
    (one | minus_one)
        .all()
        .then(|| one.select(base, f32x8::ONE / base))
}

/// base^1 = base and base^-1 = 1 / base, correctly rounded (as the C library gives them):
/// a unit whose weights reached the discrete values ±1 computes exact products and
/// quotients. Exponent rows are usually uniform, so the branch is well predicted.
#[inline(always)]
fn exact_at_unit_exponents(base: f32x8, exponent: f32x8, power: f32x8) -> f32x8 {
    let one = exponent.simd_eq(f32x8::ONE);
    let minus_one = exponent.simd_eq(-f32x8::ONE);
    if (one | minus_one).any() {
        one.select(base, minus_one.select(f32x8::ONE / base, power))
    } else {
        power
    }
}

#[inline(always)]
fn pow_and_ln_general(base: f32x8, exponent: f32x8) -> (f32x8, f32x8) {
    let (e, f, tail) = ln_parts(base.abs());
    let power = power_from_parts(e, f, tail, exponent);
    (
        exact_at_unit_exponents(base, exponent, pow_special_values(base, exponent, power)),
        ln_special_values(base, ln_from_parts(e, f, tail)),
    )
}

/// exponent * ln a as an unevaluated sum hi + lo, from the parts of
/// ln a = e LN2_HI + f + (tail + e LN2_LO): the two large products are split exactly by fused
/// multiply-adds and added with an exact two-sum, so the argument keeps about 40 bits.
#[inline(always)]
fn power_argument(e: f32x8, f: f32x8, tail: f32x8, exponent: f32x8) -> (f32x8, f32x8) {
    let big = e * f32x8::splat(LN2_HI);
    let hi = exponent * big;
    let hi_error = exponent.mul_sub(big, hi);
    let mid = exponent * f;
    let mid_error = exponent.mul_sub(f, mid);
    let sum = hi + mid;
    let virtual_mid = sum - hi;
    let sum_error = (hi - (sum - virtual_mid)) + (mid - virtual_mid);
    let small = e.mul_add(f32x8::splat(LN2_LO), tail);
    (
        sum,
        exponent.mul_add(small, sum_error + hi_error + mid_error),
    )
}

/// e^(exponent ln a) from the parts of ln a.
#[inline(always)]
fn power_from_parts(e: f32x8, f: f32x8, tail: f32x8, exponent: f32x8) -> f32x8 {
    let (hi, lo) = power_argument(e, f, tail, exponent);
    exp_hilo(hi, lo)
}

/// [`pow_and_ln`] of two independent vectors at once: on the common path the two long
/// dependency chains are interleaved, which roughly doubles the throughput of this
/// latency-bound function.
#[inline]
pub fn pow_and_ln_pair(bases: [f32x8; 2], exponents: [f32x8; 2]) -> [(f32x8, f32x8); 2] {
    let ordinary = |b: f32x8, e: f32x8| all_normal_positive(b) & e.abs().simd_le(f32x8::MAX).all();
    if ordinary(bases[0], exponents[0]) && ordinary(bases[1], exponents[1]) {
        let parts = bases.map(ln_parts_normal);
        if let (Some(y0), Some(y1)) = (
            unit_power(bases[0], exponents[0]),
            unit_power(bases[1], exponents[1]),
        ) {
            let logs = parts.map(|(e, f, tail)| ln_from_parts(e, f, tail));
            return [(y0, logs[0]), (y1, logs[1])];
        }
        let (h0, l0) = power_argument(parts[0].0, parts[0].1, parts[0].2, exponents[0]);
        let (h1, l1) = power_argument(parts[1].0, parts[1].1, parts[1].2, exponents[1]);
        let ((t0, n0, y0), (t1, n1, y1)) = (exp_reduced(h0, l0), exp_reduced(h1, l1));
        if exp_in_range(t0) && exp_in_range(t1) {
            let logs = parts.map(|(e, f, tail)| ln_from_parts(e, f, tail));
            return [
                (
                    exact_at_unit_exponents(bases[0], exponents[0], times_pow2(y0, n0)),
                    logs[0],
                ),
                (
                    exact_at_unit_exponents(bases[1], exponents[1], times_pow2(y1, n1)),
                    logs[1],
                ),
            ];
        }
    }
    [
        pow_and_ln(bases[0], exponents[0]),
        pow_and_ln(bases[1], exponents[1]),
    ]
}

/// [`pow_and_ln`] of a row of bases (`base(c)` for c < `powers.len()`) with one exponent
/// for every lane, as when a weight is broadcast over the batch: the exponent's special
/// cases (±1, non-finite) are settled once for the row instead of per vector, and ordinary
/// rows run without a branch per vector (see `ordinary_row`). The results are those of
/// [`pow_and_ln`].
pub fn pow_and_ln_row(
    base: impl Fn(usize) -> f32x8,
    exponent: f32,
    powers: &mut [f32x8],
    logs: &mut [f32x8],
) {
    let n = powers.len().min(logs.len());
    let (powers, logs) = (&mut powers[..n], &mut logs[..n]);
    let e = f32x8::splat(exponent);
    if exponent == 1.0 || exponent == -1.0 {
        for (c, (p, l)) in powers.iter_mut().zip(logs.iter_mut()).enumerate() {
            let b = base(c);
            *l = ln(b);
            *p = if exponent == 1.0 { b } else { f32x8::ONE / b };
        }
        return;
    }
    if exponent.is_finite() && ordinary_row(&base, e, powers, logs) {
        return;
    }
    for k in 0..n {
        (powers[k], logs[k]) = pow_and_ln(base(k), e);
    }
}

/// The common case of [`pow_and_ln_row`]: every base a positive normal number and every
/// power well inside the normal range. It runs in two passes over blocks of vectors, ln and
/// the product first, then the exponential, so that the long dependency chains of
/// neighbouring vectors overlap instead of each one waiting on the last. The check comes
/// after the arithmetic: on `false` the outputs hold garbage, and the caller recomputes the
/// row with the general code (which gives the same values on ordinary lanes).
#[inline(always)]
fn ordinary_row(
    base: &impl Fn(usize) -> f32x8,
    exponent: f32x8,
    powers: &mut [f32x8],
    logs: &mut [f32x8],
) -> bool {
    const BLOCK: usize = 16;
    let n = powers.len().min(logs.len());
    let (mut hi, mut lo) = ([f32x8::ZERO; BLOCK], [f32x8::ZERO; BLOCK]);
    let mut normal = f32x8::ZERO.simd_eq(f32x8::ZERO);
    let mut largest = f32x8::ZERO;
    let mut start = 0;
    while start < n {
        let len = BLOCK.min(n - start);
        for k in 0..len {
            let b = base(start + k);
            normal = normal & b.simd_ge(f32x8::MIN_POSITIVE) & b.simd_le(f32x8::MAX);
            let (e, f, tail) = ln_parts_normal(b);
            (hi[k], lo[k]) = power_argument(e, f, tail, exponent);
            largest = largest.fast_max(hi[k].abs());
            logs[start + k] = ln_from_parts(e, f, tail);
        }
        for k in 0..len {
            let (_, m, y) = exp_reduced(hi[k], lo[k]);
            powers[start + k] = times_pow2(y, m);
        }
        start += len;
    }
    // |hi| < 86 keeps |hi + lo| clear of 87, the limit of `exp_in_range`
    normal.all() && largest.simd_lt(f32x8::splat(86.0)).all()
}

#[cold]
#[inline(never)]
fn pow_special_values(base: f32x8, exponent: f32x8, magnitude: f32x8) -> f32x8 {
    let a = base.abs();
    let integer = exponent.round_ties_even().simd_eq(exponent);
    let half = exponent * f32x8::HALF;
    let odd = integer & half.round_ties_even().simd_ne(half);
    let negative = base.is_sign_negative();
    let flip = negative & odd;
    let signed = |v: f32x8| flip.select(-v, v);

    let mut y = signed(magnitude);
    y = (base.simd_lt(f32x8::ZERO) & !integer).select(f32x8::NAN, y);
    let towards_zero = exponent.simd_lt(f32x8::ZERO);
    y = a
        .simd_eq(f32x8::ZERO)
        .select(signed(towards_zero.select(f32x8::INFINITY, f32x8::ZERO)), y);
    y = a
        .simd_eq(f32x8::INFINITY)
        .select(signed(towards_zero.select(f32x8::ZERO, f32x8::INFINITY)), y);
    let above_one = a.simd_gt(f32x8::ONE);
    let below_one = a.simd_lt(f32x8::ONE);
    let grows =
        |big: f32x8, small: f32x8| above_one.select(big, below_one.select(small, f32x8::ONE));
    y = exponent
        .simd_eq(f32x8::INFINITY)
        .select(grows(f32x8::INFINITY, f32x8::ZERO), y);
    y = exponent
        .simd_eq(f32x8::NEG_INFINITY)
        .select(grows(f32x8::ZERO, f32x8::INFINITY), y);
    y = (base.is_nan() | exponent.is_nan()).select(f32x8::NAN, y);
    (exponent.simd_eq(f32x8::ZERO) | base.simd_eq(f32x8::ONE)).select(f32x8::ONE, y)
}

/// π/2 in three parts for the Cody-Waite reduction of sine and cosine.
const PIO2_1: f32 = 1.570_796_4;
const PIO2_2: f32 = -4.371_139e-8;
const PIO2_3: f32 = -1.715_124_5e-15;
/// Beyond this |x| the three-part reduction loses accuracy; such lanes go through f64.
const TRIG_REDUCTION_LIMIT: f32 = 65_536.0;

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
fn sin_cos_far(x: f32x8, far: f32x8, sin: f32x8, cos: f32x8) -> (f32x8, f32x8) {
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

/// tanh(x); exactly ±1 once |x| exceeds about 9.01, as in the C library.
#[inline]
pub fn tanh(x: f32x8) -> f32x8 {
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
    let large = (f32x8::ONE - f32x8::splat(2.0) / (e + f32x8::ONE)).copysign(x);
    let y = a.simd_lt(f32x8::splat(0.625)).select(small, large);
    x.is_nan().select(x, y)
}

/// The logistic function 1 / (1 + e^-x), computed from e = e^-|x| as 1 / (1 + e) for
/// x >= 0 and e / (1 + e) for x < 0, so tiny results keep their precision down into the
/// subnormal range instead of flushing to 0.
#[inline]
pub fn sigmoid(x: f32x8) -> f32x8 {
    let e = exp(-x.abs());
    let numerator = x.simd_lt(f32x8::ZERO).select(e, f32x8::ONE);
    numerator / (f32x8::ONE + e)
}

#[cfg(test)]
mod tests {
    use super::*;

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
