//! The micro-kernel: one MR x NR tile of C from packed panels of A and B, on 8-lane vectors:
//! AVX2 intrinsics on x86-64, `wide`'s portable vectors elsewhere (pairs of NEON registers on
//! aarch64). Both are the same fused multiply-add chains, bit for bit (tested below).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_mul_ps,
    _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};
use wide::f32x8;

use crate::ops::{Relu, UnaryKernel};

/// Rows of a tile (one broadcast of A each).
pub(crate) const MR: usize = 4;
/// Columns of a tile, three vectors of eight: 12 accumulators, three B vectors and one
/// broadcast of A fill the 16 vector registers, and each step of k loads 3 + 4 values for 12
/// multiply-adds.
pub(crate) const NR: usize = 24;

/// How a tile's accumulators start before the products are added.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// From zero; C is not read.
    Zero,
    /// From C as it is.
    Load,
    /// From C times a factor.
    Scale(f32),
    /// From one value per row (a bias), broadcast over the columns; C is not read.
    Rows([f32; MR]),
}

/// What a tile's accumulators go through as they are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Stored as they are.
    Store,
    /// Through a ReLU, `v < 0 ? 0 : v` (keeping a NaN and the sign of a zero: the bits of
    /// [`UnaryOp::Relu`](crate::tape::UnaryOp)), so that a layer's activation costs no pass
    /// of its own over the output. Only the last depth block of a product applies it.
    Relu,
}

/// `c[i][j] = start(i, j)`, then `c[i][j] = fma(a[k][i], b[k][j], c[i][j])` for k = 0, 1, ...
/// in order: a fused multiply-add chain per element, for the first `8 * NV` columns of the
/// tile (a narrower tile serves the last columns of C without computing padding), stored as
/// `finish` says.
///
/// `a` is a packed panel of `kc` groups of MR values, `b` of `kc` groups of NR values; row i
/// of the tile starts at `c + i * rs` and holds `8 * NV` contiguous values.
///
/// # Safety
/// `a` and `b` must be valid for reading `kc * MR` and `kc * NR` values, and the tile of C
/// (MR rows of `8 * NV` values, `rs` apart) valid for reading and writing.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
pub(crate) unsafe fn tile<const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    (start, finish): (Start, Finish),
) {
    // SAFETY: the caller guarantees the panels and the tile; AVX2 and FMA are enabled for the
    // whole crate (lib.rs refuses to build without them).
    unsafe {
        let mut acc: [[__m256; NV]; MR] = [[_mm256_setzero_ps(); NV]; MR];
        match start {
            Start::Zero => {}
            Start::Load => {
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, lane) in row.iter_mut().enumerate() {
                        *lane = _mm256_loadu_ps(c.add(i * rs + 8 * v));
                    }
                }
            }
            Start::Scale(beta) => {
                let beta = _mm256_set1_ps(beta);
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, lane) in row.iter_mut().enumerate() {
                        *lane = _mm256_mul_ps(_mm256_loadu_ps(c.add(i * rs + 8 * v)), beta);
                    }
                }
            }
            Start::Rows(values) => {
                for (row, &value) in acc.iter_mut().zip(&values) {
                    *row = [_mm256_set1_ps(value); NV];
                }
            }
        }
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let bv: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(b.add(8 * v)));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i));
                for (lane, &bj) in row.iter_mut().zip(&bv) {
                    *lane = _mm256_fmadd_ps(ai, bj, *lane);
                }
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        // max(0, v) is v where v is a NaN or a zero of either sign (the second operand)
        let relu = finish == Finish::Relu;
        for (i, row) in acc.iter().enumerate() {
            for (v, &lane) in row.iter().enumerate() {
                let lane = if relu {
                    _mm256_max_ps(_mm256_setzero_ps(), lane)
                } else {
                    lane
                };
                _mm256_storeu_ps(c.add(i * rs + 8 * v), lane);
            }
        }
    }
}

/// [`tile`] on `wide`'s portable vectors: the kernel off x86-64, and its cross-check on it.
///
/// `c[i][j] = start(i, j)`, then `c[i][j] = fma(a[k][i], b[k][j], c[i][j])` for k = 0, 1, ...
/// in order: a fused multiply-add chain per element, for the first `8 * NV` columns of the
/// tile (a narrower tile serves the last columns of C without computing padding), stored as
/// `finish` says.
///
/// `a` is a packed panel of `kc` groups of MR values, `b` of `kc` groups of NR values; row i
/// of the tile starts at `c + i * rs` and holds `8 * NV` contiguous values.
///
/// # Safety
/// `a` and `b` must be valid for reading `kc * MR` and `kc * NR` values, and the tile of C
/// (MR rows of `8 * NV` values, `rs` apart) valid for reading and writing.
#[cfg_attr(not(target_arch = "x86_64"), inline(never))]
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) unsafe fn tile_portable<const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    (start, finish): (Start, Finish),
) {
    // SAFETY: the caller guarantees the panels and the tile; unaligned loads and stores of
    // eight values.
    unsafe {
        let load = |p: *const f32| p.cast::<f32x8>().read_unaligned();
        let mut acc: [[f32x8; NV]; MR] = [[f32x8::ZERO; NV]; MR];
        match start {
            Start::Zero => {}
            Start::Load => {
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, lane) in row.iter_mut().enumerate() {
                        *lane = load(c.add(i * rs + 8 * v));
                    }
                }
            }
            Start::Scale(beta) => {
                let beta = f32x8::splat(beta);
                for (i, row) in acc.iter_mut().enumerate() {
                    for (v, lane) in row.iter_mut().enumerate() {
                        *lane = load(c.add(i * rs + 8 * v)) * beta;
                    }
                }
            }
            Start::Rows(values) => {
                for (row, &value) in acc.iter_mut().zip(&values) {
                    *row = [f32x8::splat(value); NV];
                }
            }
        }
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let bv: [f32x8; NV] = std::array::from_fn(|v| load(b.add(8 * v)));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = f32x8::splat(*a.add(i));
                for (lane, &bj) in row.iter_mut().zip(&bv) {
                    *lane = ai.mul_add(bj, *lane);
                }
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        let relu = finish == Finish::Relu;
        for (i, row) in acc.iter().enumerate() {
            for (v, &lane) in row.iter().enumerate() {
                let lane = if relu { Relu.value(lane) } else { lane };
                c.add(i * rs + 8 * v).cast::<f32x8>().write_unaligned(lane);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use tile_portable as tile;

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn the_portable_kernel_gives_the_intrinsics_bits() {
        let kc = 37;
        let mut state = 3u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let a: Vec<f32> = (0..kc * MR).map(|_| next()).collect();
        let b: Vec<f32> = (0..kc * NR).map(|_| next()).collect();
        let c0: Vec<f32> = (0..MR * NR).map(|_| next()).collect();
        let starts = [
            Start::Zero,
            Start::Load,
            Start::Scale(0.7),
            Start::Rows([0.5, -1.0, 2.0, 0.25]),
        ];
        for (start, finish) in starts
            .into_iter()
            .flat_map(|s| [(s, Finish::Store), (s, Finish::Relu)])
        {
            let (mut x, mut y) = (c0.clone(), c0.clone());
            // SAFETY: panels of kc * MR and kc * NR values, tiles of MR rows of NR values.
            unsafe {
                tile::<3>(
                    kc,
                    a.as_ptr(),
                    b.as_ptr(),
                    x.as_mut_ptr(),
                    NR,
                    (start, finish),
                );
                tile_portable::<3>(
                    kc,
                    a.as_ptr(),
                    b.as_ptr(),
                    y.as_mut_ptr(),
                    NR,
                    (start, finish),
                );
            }
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&y), "{start:?} {finish:?}");
        }
    }

    #[test]
    fn the_relu_finish_zeroes_negatives_and_keeps_nan_and_the_sign_of_zero() {
        let starts = [-0.0, f32::NAN, -2.5, 3.0];
        let expected = [-0.0, f32::NAN, 0.0, 3.0];
        let (a, b) = ([0.0; MR], [0.0; NR]);
        let (mut x, mut y) = ([1.0; MR * NR], [1.0; MR * NR]);
        let ends = (Start::Rows(starts), Finish::Relu);
        // SAFETY: no depth reads no panel values; tiles of MR rows of NR values.
        unsafe {
            tile::<3>(0, a.as_ptr(), b.as_ptr(), x.as_mut_ptr(), NR, ends);
            tile_portable::<3>(0, a.as_ptr(), b.as_ptr(), y.as_mut_ptr(), NR, ends);
        }
        for (i, want) in expected.iter().enumerate() {
            for tile in [&x, &y] {
                for v in &tile[i * NR..][..NR] {
                    assert_eq!(v.to_bits(), want.to_bits(), "row {i}: {v} for {want}");
                }
            }
        }
    }
}
