//! Every function gives the same bits at 16 lanes as at 8, lane by lane, on the fast paths
//! (whole vectors of ordinary arguments) and the general ones alike (a NaN the same NaN, up
//! to its sign and payload): the condition of `NALM_SIMD=avx512` giving the same records as
//! the build's own path.

use wide::f32x8;

use super::*;
use crate::simd::avx512::F32x16;
use crate::simd::width::{Avx512, Width};

/// Arguments in blocks of 16: ordinary ones (every lane normal and moderate, the fast
/// paths), random bit patterns (NaN payloads, infinities, subnormals), and blocks whose two
/// halves differ in kind, so a 16-lane vector takes the general path where one 8-lane half
/// took the fast one.
fn arguments(seed: u64, ordinary: impl Fn(f32) -> f32) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut unit = move || (next() >> 40) as f32 / (1u64 << 24) as f32;
    let mut values = Vec::new();
    for block in 0..3000 {
        for lane in 0..16 {
            let u = unit();
            let random_bits = match block % 3 {
                0 => false,
                1 => true,
                _ => lane >= 8,
            };
            values.push(if random_bits {
                f32::from_bits((u * u32::MAX as f32) as u32 ^ (block * 16 + lane) as u32)
            } else {
                ordinary(u)
            });
        }
    }
    values
}

/// The bits of `f` over `x` (and `y`) at 8 lanes and at 16, which must agree.
macro_rules! same_bits {
    ($what:expr, $x:expr, $y:expr, |$a:ident, $b:ident| $f:expr) => {{
        let (xs, ys): (&[f32], &[f32]) = (&$x, &$y);
        let mut eight = vec![0.0f32; xs.len()];
        for (k, out) in eight.chunks_mut(8).enumerate() {
            let ($a, $b) = (
                f32x8::from_lanes(&xs[k * 8..]),
                f32x8::from_lanes(&ys[k * 8..]),
            );
            let y: f32x8 = $f;
            y.write_lanes(out);
        }
        let mut sixteen = vec![0.0f32; xs.len()];
        Avx512::run(
            #[inline(always)]
            || {
                for (k, out) in sixteen.chunks_mut(16).enumerate() {
                    let ($a, $b) = (
                        F32x16::from_lanes(&xs[k * 16..]),
                        F32x16::from_lanes(&ys[k * 16..]),
                    );
                    let y: F32x16 = $f;
                    y.write_lanes(out);
                }
            },
        );
        // NaN as NaN: its sign and payload are not part of the result (x86 passes on the
        // first NaN operand, and the compiler may swap the operands of an addition)
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let differ = (0..xs.len())
            .filter(|&i| !same(eight[i], sixteen[i]))
            .collect::<Vec<_>>();
        assert!(
            differ.is_empty(),
            "{}: {} of {} lanes differ, first at {:e} ({:e}): {:#x} at 8 lanes, {:#x} at 16",
            $what,
            differ.len(),
            xs.len(),
            xs[differ[0]],
            ys[differ[0]],
            eight[differ[0]].to_bits(),
            sixteen[differ[0]].to_bits(),
        );
    }};
}

fn avx512() -> bool {
    let here = crate::simd::runnable().contains(&crate::simd::AVX512);
    if !here {
        eprintln!("skipped: this CPU lacks AVX-512, so only the 8-lane path runs here");
    }
    here
}

#[test]
fn every_function_gives_the_same_bits_at_16_lanes() {
    if !avx512() {
        return;
    }
    let wide_range = arguments(1, |u| (u - 0.5) * 200.0);
    let positive = arguments(2, |u| (u * 30.0 - 15.0).exp());
    let exponents = arguments(3, |u| (u - 0.5) * 8.0);
    let none = vec![0.0; wide_range.len()];
    same_bits!("exp", wide_range, none, |x, _y| exp(x));
    same_bits!("ln", positive, none, |x, _y| ln(x));
    same_bits!("ln of anything", wide_range, none, |x, _y| ln(x));
    same_bits!("sin", wide_range, none, |x, _y| sin(x));
    same_bits!("cos", wide_range, none, |x, _y| cos(x));
    same_bits!("tanh", wide_range, none, |x, _y| tanh(x));
    same_bits!("sigmoid", wide_range, none, |x, _y| sigmoid(x));
    same_bits!("pow", positive, exponents, |x, y| pow(x, y));
    same_bits!("pow, any base", wide_range, exponents, |x, y| pow(x, y));
    same_bits!("ln of pow_and_ln", positive, exponents, |x, y| pow_and_ln(
        x, y
    )
    .1);
    same_bits!("pow of pow_and_ln_pair", positive, exponents, |x, y| {
        pow_and_ln_pair([x, -x], [y, -y])[0].0
    });
    same_bits!("ln of pow_and_ln_pair", positive, exponents, |x, y| {
        pow_and_ln_pair([x, -x], [y, -y])[1].1
    });
}

#[test]
fn rows_with_one_exponent_give_the_same_bits_at_16_lanes() {
    if !avx512() {
        return;
    }
    let bases = arguments(4, |u| (u * 20.0 - 10.0).exp());
    for exponent in [1.0f32, -1.0, 0.0, 0.37, -2.5, 80.0, f32::INFINITY, f32::NAN] {
        let mut eight = (
            vec![f32x8::ZERO; bases.len() / 8],
            vec![f32x8::ZERO; bases.len() / 8],
        );
        let base8 = |c: usize| f32x8::from_lanes(&bases[c * 8..]);
        pow_and_ln_row(base8, exponent, &mut eight.0, &mut eight.1);
        let mut sixteen = (vec![0.0f32; bases.len()], vec![0.0f32; bases.len()]);
        Avx512::run(
            #[inline(always)]
            || {
                let base16 = |c: usize| F32x16::from_lanes(&bases[c * 16..]);
                let n = bases.len() / 16;
                let zero = F32x16::zero();
                let (mut powers, mut logs) = (vec![zero; n], vec![zero; n]);
                pow_and_ln_row(base16, exponent, &mut powers, &mut logs);
                for c in 0..n {
                    powers[c].write_lanes(&mut sixteen.0[c * 16..]);
                    logs[c].write_lanes(&mut sixteen.1[c * 16..]);
                }
            },
        );
        // NaN as NaN, as above
        let canonical = |v: f32| if v.is_nan() { f32::NAN } else { v }.to_bits();
        let bits = |v: &[f32x8]| -> Vec<u32> {
            v.iter().flat_map(|v| v.to_array()).map(canonical).collect()
        };
        let bits16 = |v: &[f32]| -> Vec<u32> { v.iter().map(|&v| canonical(v)).collect() };
        assert_eq!(
            bits(&eight.0),
            bits16(&sixteen.0),
            "powers, exponent {exponent}"
        );
        assert_eq!(
            bits(&eight.1),
            bits16(&sixteen.1),
            "logs, exponent {exponent}"
        );
    }
}
