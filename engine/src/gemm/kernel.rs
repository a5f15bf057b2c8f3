//! The AVX2/FMA micro-kernel: one MR x NR tile of C from packed panels of A and B.

use std::arch::x86_64::{
    __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

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

/// `c[i][j] = start(i, j)`, then `c[i][j] = fma(a[k][i], b[k][j], c[i][j])` for k = 0, 1, ...
/// in order: a fused multiply-add chain per element, for the first `8 * NV` columns of the
/// tile (a narrower tile serves the last columns of C without computing padding).
///
/// `a` is a packed panel of `kc` groups of MR values, `b` of `kc` groups of NR values; row i
/// of the tile starts at `c + i * rs` and holds `8 * NV` contiguous values.
///
/// # Safety
/// `a` and `b` must be valid for reading `kc * MR` and `kc * NR` values, and the tile of C
/// (MR rows of `8 * NV` values, `rs` apart) valid for reading and writing.
#[inline(never)]
pub(crate) unsafe fn tile<const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    start: Start,
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
        for (i, row) in acc.iter().enumerate() {
            for (v, lane) in row.iter().enumerate() {
                _mm256_storeu_ps(c.add(i * rs + 8 * v), *lane);
            }
        }
    }
}
