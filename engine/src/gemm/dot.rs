//! Products of rows that are both contiguous along the depth, `C[i][j] += sum_k a_i[k] b_j[k]`,
//! as dot products: no packing, no transposition.
//!
//! This is the shape of a convolution's weight gradient, where the output gradient's rows and
//! the input's rows both run over (position, sample): packing them for the outer-product
//! kernel would transpose every value. A tile of R rows of A and S rows of B keeps R x S
//! accumulators of eight lanes, reads R + S vectors per step of eight, and adds its lanes at
//! the end.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};

use wide::f32x8;

use super::driver::{Init, Out, parts, start_all};
use super::kernel::Finish;
use super::{MatMut, MatRef};
use crate::Workspace;
#[cfg(target_arch = "x86_64")]
use crate::simd;

/// Rows of A per tile.
pub(crate) const DR: usize = 3;
/// Rows of B per tile: 3 x 4 accumulators, 3 + 4 loads per 12 multiply-adds (an even number:
/// the 16-lane path pairs them).
pub(crate) const DS: usize = 4;
const _: () = assert!(DS.is_multiple_of(2));

/// `out[r][s] = sum over v of a[r][v] b[s][v]` for rows of `len` values (a multiple of 8):
/// eight partial sums per product, each a fused multiply-add chain in order of v, then added
/// pairwise (lanes 0+4, 1+5, ... then again) in a fixed order. The same bits on every path.
///
/// # Panics
/// If a row is shorter than `len` or `len` is not a multiple of 8.
pub(crate) fn dot_tile(a: [&[f32]; DR], b: [&[f32]; DS], len: usize) -> [[f32; DS]; DR] {
    assert!(len.is_multiple_of(8), "rows of {len} values");
    assert!(
        a.iter().chain(&b).all(|row| row.len() >= len),
        "a row shorter than {len}"
    );
    let (pa, pb) = (a.map(<[f32]>::as_ptr), b.map(<[f32]>::as_ptr));
    // SAFETY: every row holds at least `len` values (checked above); AVX2 and FMA are enabled
    // for the crate, and the AVX-512 path is active only on a CPU that has it.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        if simd::active() == simd::AVX512 {
            return dot_tile16(pa, pb, len);
        }
        dot_tile8(pa, pb, len)
    }
}

/// The eight chains' lanes of one product added in the fixed order.
#[inline(always)]
fn add_lanes(l: &[f32]) -> f32 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// [`dot_tile`] on 8-lane vectors: a vector of eight chains per product.
///
/// # Safety
/// Every row holds at least `len` values, a multiple of 8.
#[cfg(target_arch = "x86_64")]
unsafe fn dot_tile8(pa: [*const f32; DR], pb: [*const f32; DS], len: usize) -> [[f32; DS]; DR] {
    // SAFETY: the caller's.
    unsafe {
        let mut acc: [[__m256; DS]; DR] = [[_mm256_setzero_ps(); DS]; DR];
        for v in (0..len).step_by(8) {
            // 12 accumulators, 3 A vectors and one B vector at a time: 16 registers
            let av: [__m256; DR] = std::array::from_fn(|r| _mm256_loadu_ps(pa[r].add(v)));
            for s in 0..DS {
                let bs = _mm256_loadu_ps(pb[s].add(v));
                for (row, &ar) in acc.iter_mut().zip(&av) {
                    row[s] = _mm256_fmadd_ps(ar, bs, row[s]);
                }
            }
        }
        acc.map(|row| {
            row.map(|lanes| {
                let mut l = [0.0f32; 8];
                _mm256_storeu_ps(l.as_mut_ptr(), lanes);
                add_lanes(&l)
            })
        })
    }
}

/// [`dot_tile8`] on `wide`'s portable vectors: the kernel off x86-64, and its cross-check on
/// it.
///
/// # Safety
/// Every row holds at least `len` values, a multiple of 8.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
unsafe fn dot_tile8_portable(
    pa: [*const f32; DR],
    pb: [*const f32; DS],
    len: usize,
) -> [[f32; DS]; DR] {
    // SAFETY: the caller's; unaligned loads of eight values.
    unsafe {
        let load = |p: *const f32| p.cast::<f32x8>().read_unaligned();
        let mut acc: [[f32x8; DS]; DR] = [[f32x8::ZERO; DS]; DR];
        for v in (0..len).step_by(8) {
            // 12 accumulators, 3 A vectors and one B vector at a time: 16 registers
            let av: [f32x8; DR] = std::array::from_fn(|r| load(pa[r].add(v)));
            for s in 0..DS {
                let bs = load(pb[s].add(v));
                for (row, &ar) in acc.iter_mut().zip(&av) {
                    row[s] = ar.mul_add(bs, row[s]);
                }
            }
        }
        acc.map(|row| row.map(|lanes| add_lanes(&lanes.to_array())))
    }
}

/// [`dot_tile`] on 16-lane vectors: the eight chains of two products (B rows s and s + 1)
/// share a vector, each half exactly the 8-lane path's vector, so the bits are the same.
///
/// # Safety
/// Every row holds at least `len` values, a multiple of 8, and the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_tile16(pa: [*const f32; DR], pb: [*const f32; DS], len: usize) -> [[f32; DS]; DR] {
    use std::arch::x86_64::{
        __m512, _mm256_castps_pd, _mm512_broadcast_f64x4, _mm512_castpd_ps, _mm512_castps_pd,
        _mm512_castps256_ps512, _mm512_fmadd_ps, _mm512_insertf64x4, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };
    const PAIRS: usize = DS / 2;
    // SAFETY: the caller's.
    unsafe {
        let mut acc: [[__m512; PAIRS]; DR] = [[_mm512_setzero_ps(); PAIRS]; DR];
        for v in (0..len).step_by(8) {
            // each A row's eight depths in both halves; B rows s and s + 1 side by side
            let av: [__m512; DR] = std::array::from_fn(|r| {
                _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(
                    pa[r].add(v),
                ))))
            });
            for p in 0..PAIRS {
                let low = _mm512_castps256_ps512(_mm256_loadu_ps(pb[2 * p].add(v)));
                let high = _mm256_castps_pd(_mm256_loadu_ps(pb[2 * p + 1].add(v)));
                let bs = _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castps_pd(low), high));
                for (row, &ar) in acc.iter_mut().zip(&av) {
                    row[p] = _mm512_fmadd_ps(ar, bs, row[p]);
                }
            }
        }
        acc.map(|row| {
            let mut out = [0.0f32; DS];
            for (p, &lanes) in row.iter().enumerate() {
                let mut l = [0.0f32; 16];
                _mm512_storeu_ps(l.as_mut_ptr(), lanes);
                out[2 * p] = add_lanes(&l[..8]);
                out[2 * p + 1] = add_lanes(&l[8..]);
            }
            out
        })
    }
}

/// Depth values per piece: a block of A's rows stays in L2 and the B rows of a tile in L1.
pub(crate) const DOT_PIECE: usize = 1024;
/// Rows of A per block of a piece.
const ROWS: usize = 96;

/// Rows that pad a tile past the last row or column.
pub(crate) static ZEROS: [f32; DOT_PIECE] = [0.0; DOT_PIECE];

/// Whether `C = A B` is better computed as dot products: A's rows and B's columns contiguous
/// and the depth long against the output (a weight gradient over a whole batch of positions).
pub(super) fn suits(a: &MatRef<'_>, b: &MatRef<'_>) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    a.cs == 1 && b.rs == 1 && k >= 4096 && k >= 8 * m.max(n)
}

/// How many parts of whole groups of columns an `m x k x n` product is split into.
pub(super) fn parts_of(m: usize, k: usize, n: usize) -> usize {
    parts(m * n * k, n.div_ceil(DS))
}

/// `C = alpha A B + init` as dot products of A's rows and B's columns, in pieces of the
/// depth: each element starts from `init` and adds `alpha` times each piece's dot product in
/// order. Parts of the columns run on the rayon pool; each copies the block of A's rows it
/// reads for a piece into its own space in `work` (rows a power of two apart would all fall
/// in the same cache sets).
pub(super) fn products(
    work: &mut Workspace,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    init: Init<'_>,
    c: MatMut<'_>,
) {
    use rayon::prelude::*;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let out = Out::of(c);
    start_all(&init, Finish::Store, out, m, n);
    let groups = n.div_ceil(DS);
    let parts = parts_of(m, k, n);
    let per_part = groups.div_ceil(parts);
    let whole = k / 8 * 8;
    // each part copies the blocks of A it reads into its own space
    let space: &mut [f32] = wide::bytemuck::cast_slice_mut(work.take(parts * ROWS * DOT_PIECE / 8));
    let run = |(part, block): (usize, &mut [f32])| {
        let columns = (part * per_part * DS).min(n)..((part + 1) * per_part * DS).min(n);
        for start in (0..whole).step_by(DOT_PIECE) {
            let len = DOT_PIECE.min(whole - start);
            for i_block in (0..m).step_by(ROWS) {
                let rows = ROWS.min(m - i_block);
                for (r, copy) in block.chunks_exact_mut(len).take(rows).enumerate() {
                    copy.copy_from_slice(&a.data[(i_block + r) * a.rs + start..][..len]);
                }
                for j0 in columns.clone().step_by(DS) {
                    let bs: [&[f32]; DS] = std::array::from_fn(|s| {
                        let j = j0 + s;
                        if j < columns.end {
                            &b.data[j * b.cs + start..][..len]
                        } else {
                            &ZEROS[..len]
                        }
                    });
                    for r0 in (0..rows).step_by(DR) {
                        let a_rows: [&[f32]; DR] = std::array::from_fn(|r| {
                            if r0 + r < rows {
                                &block[(r0 + r) * len..][..len]
                            } else {
                                &ZEROS[..len]
                            }
                        });
                        let sums = dot_tile(a_rows, bs, len);
                        for (r, sums) in sums.iter().enumerate().take(rows - r0) {
                            for (s, &sum) in sums.iter().enumerate().take(columns.end - j0) {
                                // SAFETY: an element of C that only this part writes (its
                                // columns).
                                unsafe { out.add(i_block + r0 + r, j0 + s, alpha * sum) };
                            }
                        }
                    }
                }
            }
        }
    };
    if parts == 1 {
        run((0, space));
    } else {
        space
            .par_chunks_mut(ROWS * DOT_PIECE)
            .enumerate()
            .for_each(run);
    }
    // a depth that is not a multiple of eight ends element by element
    if whole < k {
        for i in 0..m {
            for j in 0..n {
                let sum = (whole..k).fold(0.0f32, |acc, p| a.get(i, p).mul_add(b.get(p, j), acc));
                // SAFETY: as above.
                unsafe { out.add(i, j, alpha * sum) };
            }
        }
    }
}

/// Rows for sums of dot products over runs, `C[i][j] += sum over runs r of a(i, r) . b(j, r)`,
/// each run's rows contiguous: a convolution's weight gradient, whose runs are the output
/// rows (positions of a row times the batch) of the output gradient and of the input.
pub(crate) trait DotRuns: Sync {
    /// C's rows and columns.
    fn shape(&self) -> (usize, usize);
    /// How many runs, and their common length (a multiple of 8).
    fn runs(&self) -> (usize, usize);
    /// Row `i` of A in `run`, from value `start`, `len` values.
    fn a(&self, i: usize, run: usize, start: usize, len: usize) -> &[f32];
    /// Row `j` of B in `run`, from value `start`, `len` values.
    fn b(&self, j: usize, run: usize, start: usize, len: usize) -> &[f32];
}

/// `C += ` the sums of `rows`' dot products: each element adds its runs in order, each run
/// in pieces of [`DOT_PIECE`] in order, each piece as [`dot_tile`] sums it. Parts of the
/// columns run on the rayon pool; the bits do not depend on the split.
///
/// # Panics
/// If C is not the shape `rows` gives, or a run's length is not a multiple of 8.
pub(crate) fn accumulate(rows: &impl DotRuns, c: MatMut<'_>) {
    use rayon::prelude::*;
    let ((m, n), (runs, run_len)) = (rows.shape(), rows.runs());
    assert!(
        c.rows == m && c.cols == n,
        "C is {} x {}, the sums {m} x {n}",
        c.rows,
        c.cols
    );
    assert!(run_len.is_multiple_of(8), "runs of {run_len} values");
    let out = Out::of(c);
    let groups = n.div_ceil(DS);
    let parts = parts(m * n * runs * run_len, groups);
    let per_part = groups.div_ceil(parts);
    let run = |part: usize| {
        let columns = (part * per_part * DS).min(n)..((part + 1) * per_part * DS).min(n);
        for r in 0..runs {
            for start in (0..run_len).step_by(DOT_PIECE) {
                let len = DOT_PIECE.min(run_len - start);
                for j0 in columns.clone().step_by(DS) {
                    let b: [&[f32]; DS] = std::array::from_fn(|s| {
                        let j = j0 + s;
                        if j < columns.end {
                            rows.b(j, r, start, len)
                        } else {
                            &ZEROS[..len]
                        }
                    });
                    for i0 in (0..m).step_by(DR) {
                        let a: [&[f32]; DR] = std::array::from_fn(|i| {
                            if i0 + i < m {
                                rows.a(i0 + i, r, start, len)
                            } else {
                                &ZEROS[..len]
                            }
                        });
                        let sums = dot_tile(a, b, len);
                        for (i, sums) in sums.iter().enumerate().take(m - i0) {
                            for (s, &sum) in sums.iter().enumerate().take(columns.end - j0) {
                                // SAFETY: an element of C (i < m, j < n, checked above) in a
                                // column only this part writes.
                                unsafe { out.add(i0 + i, j0 + s, sum) };
                            }
                        }
                    }
                }
            }
        }
    };
    if parts == 1 {
        run(0);
    } else {
        (0..parts).into_par_iter().for_each(run);
    }
}

#[cfg(not(target_arch = "x86_64"))]
use dot_tile8_portable as dot_tile8;

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented order on scalars: eight chains, lane l taking v = l, l + 8, ...
    fn chains(a: &[f32], b: &[f32], len: usize) -> f32 {
        let mut lanes = [0.0f32; 8];
        for v in (0..len).step_by(8) {
            for (l, lane) in lanes.iter_mut().enumerate() {
                *lane = a[v + l].mul_add(b[v + l], *lane);
            }
        }
        add_lanes(&lanes)
    }

    #[test]
    fn every_path_gives_each_product_the_documented_bits() {
        let len = 200;
        let mut state = 7u32;
        let rows: Vec<Vec<f32>> = (0..DR + DS)
            .map(|_| {
                (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                    })
                    .collect()
            })
            .collect();
        let pa: [*const f32; DR] = std::array::from_fn(|r| rows[r].as_ptr());
        let pb: [*const f32; DS] = std::array::from_fn(|s| rows[DR + s].as_ptr());
        let want: [[f32; DS]; DR] =
            std::array::from_fn(|r| std::array::from_fn(|s| chains(&rows[r], &rows[DR + s], len)));
        let bits = |out: [[f32; DS]; DR]| out.map(|row| row.map(f32::to_bits));
        // SAFETY: rows of `len` values; AVX2 and FMA enabled for the crate.
        assert_eq!(bits(unsafe { dot_tile8(pa, pb, len) }), bits(want));
        // SAFETY: as above.
        assert_eq!(bits(unsafe { dot_tile8_portable(pa, pb, len) }), bits(want));
        #[cfg(target_arch = "x86_64")]
        if simd::runnable().contains(&simd::AVX512) {
            // SAFETY: as above, on a CPU with AVX-512F.
            assert_eq!(bits(unsafe { dot_tile16(pa, pb, len) }), bits(want));
        } else {
            println!("no AVX-512 on this CPU: its dot products are not checked");
        }
    }
}
