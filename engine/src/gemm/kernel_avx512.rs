//! The 16-lane micro-kernel: an 8 x 48 tile of C (or its first 16 or 32 columns) from two
//! MR-row panels of A and two NR-column panels of B, packed as for the 8-lane kernel, on
//! AVX-512.
//!
//! Each element is the same fused multiply-add chain in the order of k as in the 8-lane
//! kernel (`kernel.rs`), so the two give the same bits; the wider tile only puts more
//! independent chains in flight: 24 accumulators of 16 lanes (of the 32 registers), three
//! vectors of B and one broadcast of A, so each step of k loads 3 vectors of B (the middle one
//! joined from the two panels) and 8 values of A for 24 multiply-adds.

use std::arch::x86_64::*;

use super::kernel::{Finish, MR, NR, Start};

/// Rows of the tile: two panels of A.
pub(crate) const MR2: usize = 2 * MR;
/// Columns of the tile: two panels of B, three 16-lane vectors.
pub(crate) const NR2: usize = 2 * NR;

/// `c[i][j] = start(i, j)`, then `c[i][j] = fma(a[k][i], b[k][j], c[i][j])` for k = 0, 1, ...
/// in order, over the first `16 * NV` columns of the 8 x 48 tile (a narrower tile serves the
/// last 16 or 32 columns of C at full width). Rows 0 to 3 come from the A panel `a[0]` and
/// start as `start[0]` says, rows 4 to 7 from `a[1]` and `start[1]`; columns 0 to 23 come from
/// the B panel `b[0]`, 24 to 47 from `b[1]` (not read when `NV` is 1). The tile is stored as
/// `finish` says.
///
/// # Safety
/// The CPU has AVX-512F; the A panels are valid for reading `kc * MR` values each and the B
/// panels `kc * NR` (`b[1]` only for `NV` > 1); the tile of C (8 rows of `16 * NV` contiguous
/// values, `rs` apart, from `c`) is valid for reading and writing.
#[target_feature(enable = "avx512f")]
#[inline(never)]
pub(crate) unsafe fn tile16<const NV: usize>(
    kc: usize,
    a: [*const f32; 2],
    b: [*const f32; 2],
    c: *mut f32,
    rs: usize,
    (start, finish): ([Start; 2], Finish),
) {
    const { assert!(NV >= 1 && NV <= 3) };
    let row = |i: usize| c.wrapping_add(i * rs);
    // SAFETY: the caller guarantees the CPU, the panels and the tile.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR2];
        for (half, start) in start.iter().enumerate() {
            for r in 0..MR {
                let i = half * MR + r;
                match *start {
                    Start::Zero => {}
                    Start::Load => {
                        for (v, lane) in acc[i].iter_mut().enumerate() {
                            *lane = _mm512_loadu_ps(row(i).add(16 * v));
                        }
                    }
                    Start::Scale(beta) => {
                        let beta = _mm512_set1_ps(beta);
                        for (v, lane) in acc[i].iter_mut().enumerate() {
                            *lane = _mm512_mul_ps(_mm512_loadu_ps(row(i).add(16 * v)), beta);
                        }
                    }
                    Start::Rows(values) => acc[i] = [_mm512_set1_ps(values[r]); NV],
                }
            }
        }
        let ([mut a0, mut a1], [mut b0, mut b1]) = (a, b);
        for _ in 0..kc {
            // columns 0..16 and 32..48 lie in one panel each; 16..32 straddle the two
            let mut bv = [_mm512_loadu_ps(b0); NV];
            if NV > 1 {
                let low = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(b0.add(16))));
                let high = _mm256_castps_pd(_mm256_loadu_ps(b1));
                bv[1] = _mm512_castpd_ps(_mm512_insertf64x4::<1>(low, high));
            }
            if NV > 2 {
                bv[2] = _mm512_loadu_ps(b1.add(8));
            }
            for (i, lanes) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(if i < MR { *a0.add(i) } else { *a1.add(i - MR) });
                for (lane, &bj) in lanes.iter_mut().zip(&bv) {
                    *lane = _mm512_fmadd_ps(ai, bj, *lane);
                }
            }
            a0 = a0.add(MR);
            a1 = a1.add(MR);
            b0 = b0.add(NR);
            b1 = b1.wrapping_add(NR);
        }
        // max(0, v) is v where v is a NaN or a zero of either sign (the second operand)
        let relu = finish == Finish::Relu;
        for (i, lanes) in acc.iter().enumerate() {
            for (v, &lane) in lanes.iter().enumerate() {
                let lane = if relu {
                    _mm512_max_ps(_mm512_setzero_ps(), lane)
                } else {
                    lane
                };
                _mm512_storeu_ps(row(i).add(16 * v), lane);
            }
        }
    }
}
