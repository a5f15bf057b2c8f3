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

/// Where the kernel reads A: eight values (the tile's rows) per step of k.
pub(crate) trait AValues: Copy {
    /// Row `i`'s value at the current depth, in every lane.
    ///
    /// # Safety
    /// The CPU has AVX-512F, and the value exists.
    unsafe fn broadcast(&self, i: usize) -> __m512;
    /// Moves to the next depth.
    fn step(&mut self);
}

/// Two MR-row panels of A: rows 0 to 3 from the first, 4 to 7 from the second.
#[derive(Clone, Copy)]
pub(crate) struct PackedA(pub [*const f32; 2]);

impl AValues for PackedA {
    #[inline(always)]
    unsafe fn broadcast(&self, i: usize) -> __m512 {
        let [a0, a1] = self.0;
        // SAFETY: as the caller guarantees.
        unsafe { _mm512_set1_ps(if i < MR { *a0.add(i) } else { *a1.add(i - MR) }) }
    }

    #[inline(always)]
    fn step(&mut self) {
        let [a0, a1] = self.0;
        self.0 = [a0.wrapping_add(MR), a1.wrapping_add(MR)];
    }
}

/// A as it lies, unpacked: row i at depth k from `a + i * row + k` (a weight matrix whose
/// rows are contiguous).
#[derive(Clone, Copy)]
pub(crate) struct InPlaceA {
    pub a: *const f32,
    pub row: usize,
}

impl AValues for InPlaceA {
    #[inline(always)]
    unsafe fn broadcast(&self, i: usize) -> __m512 {
        // SAFETY: as the caller guarantees.
        unsafe { _mm512_set1_ps(*self.a.add(i * self.row)) }
    }

    #[inline(always)]
    fn step(&mut self) {
        self.a = self.a.wrapping_add(1);
    }
}

/// Where the kernel reads B: three vectors of 16 columns per step of k.
pub(crate) trait BVectors: Copy {
    /// The first `NV` vectors of the current depth.
    ///
    /// # Safety
    /// The CPU has AVX-512F, and the current depth's values exist.
    unsafe fn load<const NV: usize>(&self) -> [__m512; NV];
    /// Moves to the next depth.
    fn step(&mut self);
}

/// Two NR-column panels of B, packed as for the 8-lane kernel: columns 0 to 23 from the
/// first, 24 to 47 from the second (not read when `NV` is 1).
#[derive(Clone, Copy)]
pub(crate) struct PackedB(pub [*const f32; 2]);

impl BVectors for PackedB {
    #[inline(always)]
    unsafe fn load<const NV: usize>(&self) -> [__m512; NV] {
        let [b0, b1] = self.0;
        // SAFETY: as the caller guarantees.
        unsafe {
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
            bv
        }
    }

    #[inline(always)]
    fn step(&mut self) {
        let [b0, b1] = self.0;
        self.0 = [b0.wrapping_add(NR), b1.wrapping_add(NR)];
    }
}

/// B as it lies, unpacked: row k of the tile's columns from `b + k * stride`, contiguous
/// (a dense layer's activations, whose rows are the batch: no packing copy).
#[derive(Clone, Copy)]
pub(crate) struct InPlaceB {
    pub b: *const f32,
    pub stride: usize,
}

impl BVectors for InPlaceB {
    #[inline(always)]
    unsafe fn load<const NV: usize>(&self) -> [__m512; NV] {
        // SAFETY: as the caller guarantees.
        unsafe {
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, lane) in bv.iter_mut().enumerate() {
                *lane = _mm512_loadu_ps(self.b.add(16 * v));
            }
            bv
        }
    }

    #[inline(always)]
    fn step(&mut self) {
        self.b = self.b.wrapping_add(self.stride);
    }
}

/// `c[i][j] = start(i, j)`, then `c[i][j] = fma(a[k][i], b[k][j], c[i][j])` for k = 0, 1, ...
/// in order, over the first `16 * NV` columns of the 8 x 48 tile (a narrower tile serves the
/// last 16 or 32 columns of C at full width), A's rows and B's vectors read from `a` and `b`
/// (packed or in place: the same chains either way). Rows 0 to 3 start as `start[0]` says,
/// rows 4 to 7 as `start[1]`. The tile is stored as `finish` says.
///
/// # Safety
/// The CPU has AVX-512F; `a` is valid for reading `kc` depths of 8 rows and `b` `kc` depths
/// of `16 * NV` columns; the tile of C (8 rows of `16 * NV` contiguous values, `rs` apart,
/// from `c`) is valid for reading and writing.
#[target_feature(enable = "avx512f")]
#[inline(never)]
pub(crate) unsafe fn tile16<const NV: usize, A: AValues, B: BVectors>(
    kc: usize,
    mut a: A,
    mut b: B,
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
        for _ in 0..kc {
            let bv = b.load::<NV>();
            for (i, lanes) in acc.iter_mut().enumerate() {
                let ai = a.broadcast(i);
                for (lane, &bj) in lanes.iter_mut().zip(&bv) {
                    *lane = _mm512_fmadd_ps(ai, bj, *lane);
                }
            }
            a.step();
            b.step();
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
