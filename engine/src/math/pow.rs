//! x^y as e^(y ln x) with an error-free product, the IEEE special cases of pow, and rows of
//! powers sharing their logarithms.

use super::*;

/// base^exponent with the C99 `powf` special cases (pow(x, 0) = 1, pow(1, y) = 1, a negative
/// base needs an integer exponent, signed zeros and infinities), as PyTorch's `pow` does.
///
/// The product exponent * ln|base| is carried in two f32 parts, so the error stays near that
/// of `exp` alone (tested for |exponent| <= 4 over bases from 1e-6 to 1e6).
#[inline(always)]
pub fn pow<V: Vector>(base: V, exponent: V) -> V {
    pow_and_ln(base, exponent).0
}

/// (base^exponent, ln(base)): the power and the logarithm it was computed from, which the
/// exponent's derivative base^e ln(base) needs. ln(base) has the special values of [`ln()`].
#[inline(always)]
pub fn pow_and_ln<V: Vector>(base: V, exponent: V) -> (V, V) {
    // The common case: a positive normal base and a finite exponent.
    if all_normal_positive(base) & exponent.abs().simd_le(V::splat(f32::MAX)).all() {
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
pub(super) fn unit_power<V: Vector>(base: V, exponent: V) -> Option<V> {
    let one = exponent.simd_eq(V::one());
    let minus_one = exponent.simd_eq(-V::one());
    (one | minus_one)
        .all()
        .then(|| one.select(base, V::one() / base))
}

/// base^1 = base and base^-1 = 1 / base, correctly rounded (as the C library gives them):
/// a unit whose weights reached the discrete values ±1 computes exact products and
/// quotients. Exponent rows are usually uniform, so the branch is well predicted.
#[inline(always)]
pub(super) fn exact_at_unit_exponents<V: Vector>(base: V, exponent: V, power: V) -> V {
    let one = exponent.simd_eq(V::one());
    let minus_one = exponent.simd_eq(-V::one());
    if (one | minus_one).any() {
        one.select(base, minus_one.select(V::one() / base, power))
    } else {
        power
    }
}

#[inline(always)]
pub(super) fn pow_and_ln_general<V: Vector>(base: V, exponent: V) -> (V, V) {
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
pub(super) fn power_argument<V: Vector>(e: V, f: V, tail: V, exponent: V) -> (V, V) {
    let big = e * V::splat(LN2_HI);
    let hi = exponent * big;
    let hi_error = exponent.mul_sub(big, hi);
    let mid = exponent * f;
    let mid_error = exponent.mul_sub(f, mid);
    let sum = hi + mid;
    let virtual_mid = sum - hi;
    let sum_error = (hi - (sum - virtual_mid)) + (mid - virtual_mid);
    let small = e.mul_add(V::splat(LN2_LO), tail);
    (
        sum,
        exponent.mul_add(small, sum_error + hi_error + mid_error),
    )
}

/// e^(exponent ln a) from the parts of ln a.
#[inline(always)]
pub(super) fn power_from_parts<V: Vector>(e: V, f: V, tail: V, exponent: V) -> V {
    let (hi, lo) = power_argument(e, f, tail, exponent);
    exp_hilo(hi, lo)
}

/// [`pow_and_ln`] of two independent vectors at once: on the common path the two long
/// dependency chains are interleaved, which roughly doubles the throughput of this
/// latency-bound function.
#[inline(always)]
pub fn pow_and_ln_pair<V: Vector>(bases: [V; 2], exponents: [V; 2]) -> [(V, V); 2] {
    let ordinary = |b: V, e: V| all_normal_positive(b) & e.abs().simd_le(V::splat(f32::MAX)).all();
    if ordinary(bases[0], exponents[0]) && ordinary(bases[1], exponents[1]) {
        // arrays' `map` is not inlined, so written out: every call here must inline into
        // the width's code (see `simd/width.rs`)
        let parts = [ln_parts_normal(bases[0]), ln_parts_normal(bases[1])];
        let logs = || {
            let log = |(e, f, tail)| ln_from_parts(e, f, tail);
            [log(parts[0]), log(parts[1])]
        };
        if let (Some(y0), Some(y1)) = (
            unit_power(bases[0], exponents[0]),
            unit_power(bases[1], exponents[1]),
        ) {
            let logs = logs();
            return [(y0, logs[0]), (y1, logs[1])];
        }
        let (h0, l0) = power_argument(parts[0].0, parts[0].1, parts[0].2, exponents[0]);
        let (h1, l1) = power_argument(parts[1].0, parts[1].1, parts[1].2, exponents[1]);
        let ((t0, n0, y0), (t1, n1, y1)) = (exp_reduced(h0, l0), exp_reduced(h1, l1));
        if exp_in_range(t0) && exp_in_range(t1) {
            let logs = logs();
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
#[inline(always)]
pub fn pow_and_ln_row<V: Vector>(
    base: impl Fn(usize) -> V,
    exponent: f32,
    powers: &mut [V],
    logs: &mut [V],
) {
    let n = powers.len().min(logs.len());
    let (powers, logs) = (&mut powers[..n], &mut logs[..n]);
    let e = V::splat(exponent);
    if exponent == 1.0 || exponent == -1.0 {
        for (c, (p, l)) in powers.iter_mut().zip(logs.iter_mut()).enumerate() {
            let b = base(c);
            *l = ln(b);
            *p = if exponent == 1.0 { b } else { V::one() / b };
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
pub(super) fn ordinary_row<V: Vector>(
    base: &impl Fn(usize) -> V,
    exponent: V,
    powers: &mut [V],
    logs: &mut [V],
) -> bool {
    const BLOCK: usize = 16;
    let n = powers.len().min(logs.len());
    let (mut hi, mut lo) = ([V::zero(); BLOCK], [V::zero(); BLOCK]);
    let mut normal = V::zero().simd_eq(V::zero());
    let mut largest = V::zero();
    let mut start = 0;
    while start < n {
        let len = BLOCK.min(n - start);
        for k in 0..len {
            let b = base(start + k);
            normal =
                normal & b.simd_ge(V::splat(f32::MIN_POSITIVE)) & b.simd_le(V::splat(f32::MAX));
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
    normal.all() && largest.simd_lt(V::splat(86.0)).all()
}

#[cold]
#[inline(never)]
pub(super) fn pow_special_values<V: Vector>(base: V, exponent: V, magnitude: V) -> V {
    let a = base.abs();
    let integer = exponent.round_ties_even().simd_eq(exponent);
    let half = exponent * V::splat(0.5);
    let odd = integer & half.round_ties_even().simd_ne(half);
    let negative = base.is_sign_negative();
    let flip = negative & odd;
    let signed = |v: V| flip.select(-v, v);

    let mut y = signed(magnitude);
    y = (base.simd_lt(V::zero()) & !integer).select(V::splat(f32::NAN), y);
    let towards_zero = exponent.simd_lt(V::zero());
    y = a.simd_eq(V::zero()).select(
        signed(towards_zero.select(V::splat(f32::INFINITY), V::zero())),
        y,
    );
    y = a.simd_eq(V::splat(f32::INFINITY)).select(
        signed(towards_zero.select(V::zero(), V::splat(f32::INFINITY))),
        y,
    );
    let above_one = a.simd_gt(V::one());
    let below_one = a.simd_lt(V::one());
    let grows = |big: V, small: V| above_one.select(big, below_one.select(small, V::one()));
    y = exponent
        .simd_eq(V::splat(f32::INFINITY))
        .select(grows(V::splat(f32::INFINITY), V::zero()), y);
    y = exponent
        .simd_eq(V::splat(f32::NEG_INFINITY))
        .select(grows(V::zero(), V::splat(f32::INFINITY)), y);
    y = (base.is_nan() | exponent.is_nan()).select(V::splat(f32::NAN), y);
    (exponent.simd_eq(V::zero()) | base.simd_eq(V::one())).select(V::one(), y)
}
