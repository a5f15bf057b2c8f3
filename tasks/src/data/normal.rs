//! The standard normal distribution function and its inverse, as SciPy computes them
//! (`scipy.special.ndtr` and `ndtri`, both from S. L. Moshier's Cephes library), so that
//! truncated-normal data equal the reference's to the last bit.
//!
//! Polynomials are evaluated exactly as Cephes' `polevl`/`p1evl` do (Horner, separate
//! multiply and add, no fused multiply-add), and the library `exp`, `ln` and `sqrt` are those
//! of the platform, as in SciPy. The constants are written digit for digit as published.

#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

use wide::f64x4;

/// 1/sqrt(2).
const SQRT1_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// ln(2^1022): below exp(-MAXLOG), erfc underflows.
const MAXLOG: f64 = 7.08396418532264106224e2;
/// sqrt(2 pi).
const S2PI: f64 = 2.50662827463100050242e0;
/// exp(-2), the boundary of ndtri's central region.
const EXP_MINUS_2: f64 = 0.13533528323661269189;

// erfc for 1 <= x < 8 and x >= 8, erf for |x| <= 1 (Cephes ndtr.c).
const ERFC_P: [f64; 9] = [
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
];
const ERFC_Q: [f64; 8] = [
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
];
const ERFC_R: [f64; 6] = [
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
];
const ERFC_S: [f64; 6] = [
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
];
const ERF_T: [f64; 5] = [
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
];
const ERF_U: [f64; 5] = [
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
];

// ndtri for the central region, and the tails with z = sqrt(-2 ln y) in [2, 8) and
// [8, 64) (Cephes ndtri.c).
const NDTRI_P0: [f64; 5] = [
    -5.99633501014107895267e1,
    9.80010754185999661536e1,
    -5.66762857469070293439e1,
    1.39312609387279679503e1,
    -1.23916583867381258016e0,
];
const NDTRI_Q0: [f64; 8] = [
    1.95448858338141759834e0,
    4.67627912898881538453e0,
    8.63602421390890590575e1,
    -2.25462687854119370527e2,
    2.00260212380060660359e2,
    -8.20372256168333339912e1,
    1.59056225126211695515e1,
    -1.18331621121330003142e0,
];
const NDTRI_P1: [f64; 9] = [
    4.05544892305962419923e0,
    3.15251094599893866154e1,
    5.71628192246421288162e1,
    4.40805073893200834700e1,
    1.46849561928858024014e1,
    2.18663306850790267539e0,
    -1.40256079171354495875e-1,
    -3.50424626827848203418e-2,
    -8.57456785154685413611e-4,
];
const NDTRI_Q1: [f64; 8] = [
    1.57799883256466749731e1,
    4.53907635128879210584e1,
    4.13172038254672030440e1,
    1.50425385692907503408e1,
    2.50464946208309415979e0,
    -1.42182922854787788574e-1,
    -3.80806407691578277194e-2,
    -9.33259480895457427372e-4,
];
const NDTRI_P2: [f64; 9] = [
    3.23774891776946035970e0,
    6.91522889068984211695e0,
    3.93881025292474443415e0,
    1.33303460815807542389e0,
    2.01485389549179081538e-1,
    1.23716634817820021358e-2,
    3.01581553508235416007e-4,
    2.65806974686737550832e-6,
    6.23974539184983293730e-9,
];
const NDTRI_Q2: [f64; 8] = [
    6.02427039364742014255e0,
    3.67983563856160859403e0,
    1.37702099489081330271e0,
    2.16236993594496635890e-1,
    1.34204006088543189037e-2,
    3.28014464682127739104e-4,
    2.89247864745380683936e-6,
    6.79019408009981274425e-9,
];

/// c[0] x^n + ... + c[n] by Horner's rule (Cephes `polevl`).
fn polevl(x: f64, c: &[f64]) -> f64 {
    c[1..].iter().fold(c[0], |acc, &k| acc * x + k)
}

/// x^n + c[0] x^(n-1) + ... + c[n-1] (Cephes `p1evl`: leading coefficient 1).
fn p1evl(x: f64, c: &[f64]) -> f64 {
    c[1..].iter().fold(x + c[0], |acc, &k| acc * x + k)
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return -erf(-x);
    }
    if x > 1.0 {
        return 1.0 - erfc(x);
    }
    let z = x * x;
    x * polevl(z, &ERF_T) / p1evl(z, &ERF_U)
}

/// The complementary error function 1 - erf(x), accurate in the tails.
pub fn erfc(a: f64) -> f64 {
    if a.is_nan() {
        return a;
    }
    let x = a.abs();
    if x < 1.0 {
        return 1.0 - erf(a);
    }
    let z = -a * a;
    let underflow = if a < 0.0 { 2.0 } else { 0.0 };
    if z < -MAXLOG {
        return underflow;
    }
    let z = z.exp();
    let (p, q) = if x < 8.0 {
        (polevl(x, &ERFC_P), p1evl(x, &ERFC_Q))
    } else {
        (polevl(x, &ERFC_R), p1evl(x, &ERFC_S))
    };
    let mut y = (z * p) / q;
    if a < 0.0 {
        y = 2.0 - y;
    }
    if y == 0.0 { underflow } else { y }
}

/// The standard normal distribution function Φ(a).
pub fn ndtr(a: f64) -> f64 {
    if a.is_nan() {
        return a;
    }
    let x = a * SQRT1_2;
    let z = x.abs();
    if z < SQRT1_2 {
        0.5 + 0.5 * erf(x)
    } else {
        let y = 0.5 * erfc(z);
        if x > 0.0 { 1.0 - y } else { y }
    }
}

/// [`polevl`] on four lanes (separate multiply and add, so each lane rounds as the scalar).
fn polevl4(x: f64x4, c: &[f64]) -> f64x4 {
    c[1..]
        .iter()
        .fold(f64x4::splat(c[0]), |acc, &k| acc * x + f64x4::splat(k))
}

/// [`p1evl`] on four lanes.
fn p1evl4(x: f64x4, c: &[f64]) -> f64x4 {
    c[1..]
        .iter()
        .fold(x + f64x4::splat(c[0]), |acc, &k| acc * x + f64x4::splat(k))
}

/// [`ndtri`] of every value in place, bit for bit, four lanes at a time: the central region
/// (where most values of a truncated normal fall) straight away, and the tails gathered
/// four at a time from a window of values. The tails take the platform's `ln` lane by lane,
/// as the scalar does, and the rest of their arithmetic on four lanes.
pub fn ndtri_in_place(values: &mut [f64]) {
    const WINDOW: usize = 256;
    for window in values.chunks_mut(WINDOW) {
        let mut tails = [0u16; WINDOW];
        let mut count = 0;
        // sixteen values a step: four independent chains through each polynomial overlap
        let mut sixteens = window.chunks_exact_mut(16);
        for (k, sixteen) in (&mut sixteens).enumerate() {
            let y: [f64x4; 4] = std::array::from_fn(|v| {
                f64x4::from([0, 1, 2, 3].map(|lane| sixteen[4 * v + lane]))
            });
            let x = ndtri_central(y);
            for (v, (four, x)) in sixteen.chunks_exact_mut(4).zip(x).enumerate() {
                let central = y[v].simd_gt(f64x4::splat(EXP_MINUS_2))
                    & y[v].simd_le(f64x4::splat(1.0 - EXP_MINUS_2));
                let mask = central.to_bitmask();
                // every lane is written; a tail's is listed and overwritten below
                for (lane, (value, x)) in four.iter_mut().zip(x.to_array()).enumerate() {
                    tails[count] = (16 * k + 4 * v + lane) as u16;
                    count += usize::from(mask & (1 << lane) == 0);
                    if mask & (1 << lane) != 0 {
                        *value = x;
                    }
                }
            }
        }
        for v in sixteens.into_remainder() {
            *v = ndtri(*v);
        }
        let mut gathered = tails[..count].chunks_exact(4);
        for at in &mut gathered {
            let y0 = [0, 1, 2, 3].map(|lane| window[usize::from(at[lane])]);
            let x = ndtri_tails4(y0);
            for (&i, x) in at.iter().zip(x) {
                window[usize::from(i)] = x;
            }
        }
        for &i in gathered.remainder() {
            window[usize::from(i)] = ndtri(window[usize::from(i)]);
        }
    }
}

/// The central region's formula of [`ndtri`] on four vectors at once, each lane rounded as
/// the scalar rounds it (garbage outside that region).
#[inline(always)]
fn ndtri_central(y: [f64x4; 4]) -> [f64x4; 4] {
    let c = y.map(|y| y - f64x4::HALF);
    let c2 = c.map(|c| c * c);
    let mut p = [f64x4::splat(NDTRI_P0[0]); 4];
    for &k in &NDTRI_P0[1..] {
        for (p, c2) in p.iter_mut().zip(c2) {
            *p = *p * c2 + f64x4::splat(k);
        }
    }
    let mut q = c2.map(|c2| c2 + f64x4::splat(NDTRI_Q0[0]));
    for &k in &NDTRI_Q0[1..] {
        for (q, c2) in q.iter_mut().zip(c2) {
            *q = *q * c2 + f64x4::splat(k);
        }
    }
    std::array::from_fn(|v| (c[v] + c[v] * (c2[v] * p[v] / q[v])) * f64x4::splat(S2PI))
}

/// [`ndtri`] of four values outside the central region, bit for bit; lanes at 0, 1 or
/// outside [0, 1] go one at a time.
fn ndtri_tails4(y0: [f64; 4]) -> [f64; 4] {
    if !y0.iter().all(|&y| y > 0.0 && y < 1.0) {
        return y0.map(ndtri);
    }
    let y = f64x4::from(y0);
    let upper = y.simd_gt(f64x4::splat(1.0 - EXP_MINUS_2));
    let y = upper.select(f64x4::ONE - y, y);
    let ln = |v: f64x4| f64x4::from(v.to_array().map(f64::ln));
    let x = (f64x4::splat(-2.0) * ln(y)).sqrt();
    let x0 = x - ln(x) / x;
    let z = f64x4::ONE / x;
    let near = z * polevl4(z, &NDTRI_P1) / p1evl4(z, &NDTRI_Q1);
    let far = z * polevl4(z, &NDTRI_P2) / p1evl4(z, &NDTRI_Q2);
    let x = x0 - x.simd_lt(f64x4::splat(8.0)).select(near, far);
    upper.select(x, -x).to_array()
}

/// The inverse of Φ: the x with Φ(x) = y0 (±infinity at 0 and 1, NaN outside [0, 1]).
pub fn ndtri(y0: f64) -> f64 {
    if y0 == 0.0 {
        return f64::NEG_INFINITY;
    }
    if y0 == 1.0 {
        return f64::INFINITY;
    }
    if !(0.0..=1.0).contains(&y0) {
        return f64::NAN;
    }
    let mut y = y0;
    let mut negate = true;
    if y > 1.0 - EXP_MINUS_2 {
        y = 1.0 - y;
        negate = false;
    }
    if y > EXP_MINUS_2 {
        let y = y - 0.5;
        let y2 = y * y;
        let x = y + y * (y2 * polevl(y2, &NDTRI_P0) / p1evl(y2, &NDTRI_Q0));
        return x * S2PI;
    }
    let x = (-2.0 * y.ln()).sqrt();
    let x0 = x - x.ln() / x;
    let z = 1.0 / x;
    let x1 = if x < 8.0 {
        z * polevl(z, &NDTRI_P1) / p1evl(z, &NDTRI_Q1)
    } else {
        z * polevl(z, &NDTRI_P2) / p1evl(z, &NDTRI_Q2)
    };
    let x = x0 - x1;
    if negate { -x } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_scipy() {
        // scipy.special.ndtr / ndtri, printed with repr()
        assert_eq!(ndtr(0.0), 0.5);
        assert_eq!(ndtr(1.96), 0.9750021048517795);
        assert_eq!(ndtr(-3.0), 0.0013498980316300933);
        assert_eq!(ndtri(0.5), 0.0);
        assert_eq!(ndtri(0.975), 1.959963984540054);
        assert_eq!(ndtri(1e-10), -6.361340902404056);
        assert_eq!(ndtri(0.0), f64::NEG_INFINITY);
        assert!(ndtri(1.5).is_nan());
    }

    #[test]
    fn values_in_place_equal_one_at_a_time() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values: Vec<f64> = (0..40_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        let edges = [
            0.0,
            1.0,
            EXP_MINUS_2,
            1.0 - EXP_MINUS_2,
            0.5,
            1e-300,
            -0.5,
            1.5,
        ];
        values.extend(
            edges
                .iter()
                .flat_map(|&e| [e, f64::from_bits(e.to_bits() + 1)]),
        );
        values.extend([f64::NAN, 0.3, 0.9, 1e-20]);
        // tails near and far (x beyond 8), in every mix with the centre
        values.extend([1e-3, 1e-15, 1e-30, 1.0 - 1e-3, 1.0 - 1e-15, 0.05, 0.95]);
        let mut lanes = values.clone();
        ndtri_in_place(&mut lanes);
        for (&y, x) in values.iter().zip(lanes) {
            assert_eq!(x.to_bits(), ndtri(y).to_bits(), "{y:e}");
        }
    }

    #[test]
    fn inverse_round_trips() {
        for k in 1..1000 {
            let p = k as f64 / 1000.0;
            assert!((ndtr(ndtri(p)) - p).abs() < 1e-14, "{p}");
        }
        for p in [1e-300, 1e-100, 1e-20, 1e-14, 1e-5] {
            assert!(((ndtr(ndtri(p)) - p) / p).abs() < 1e-12, "{p}");
        }
    }
}
