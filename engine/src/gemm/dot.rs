//! Products of rows that are both contiguous along the depth, `C[i][j] += sum_k a_i[k] b_j[k]`,
//! as dot products: no packing, no transposition.
//!
//! This is the shape of a convolution's weight gradient, where the output gradient's rows and
//! the input's rows both run over (position, sample): packing them for the outer-product
//! kernel would transpose every value. A tile of R rows of A and S rows of B keeps R x S
//! accumulators of eight lanes, reads R + S vectors per step of eight, and adds its lanes at
//! the end.

use std::arch::x86_64::{
    __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};

/// Rows of A per tile.
pub(crate) const DR: usize = 3;
/// Rows of B per tile: 3 x 4 accumulators, 3 + 4 loads per 12 multiply-adds.
pub(crate) const DS: usize = 4;

/// `out[r][s] = sum over v of a[r][v] b[s][v]` for rows of `len` values (a multiple of 8):
/// eight partial sums per product, each a fused multiply-add chain in order of v, then added
/// pairwise (lanes 0+4, 1+5, ... then again) in a fixed order.
///
/// # Panics
/// If a row is shorter than `len` or `len` is not a multiple of 8.
pub(crate) fn dot_tile(a: [&[f32]; DR], b: [&[f32]; DS], len: usize) -> [[f32; DS]; DR] {
    assert!(len.is_multiple_of(8), "rows of {len} values");
    assert!(
        a.iter().chain(&b).all(|row| row.len() >= len),
        "a row shorter than {len}"
    );
    // SAFETY: every row holds at least `len` values (checked above); AVX2 and FMA are enabled
    // for the crate.
    unsafe {
        let mut acc: [[__m256; DS]; DR] = [[_mm256_setzero_ps(); DS]; DR];
        let (pa, pb) = (a.map(<[f32]>::as_ptr), b.map(<[f32]>::as_ptr));
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
                ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_dot_products_are_exact() {
        let len = 48;
        let rows: Vec<Vec<f32>> = (0..7)
            .map(|r| {
                (0..len)
                    .map(|v| ((r * 31 + v * 7) % 9) as f32 - 4.0)
                    .collect()
            })
            .collect();
        let a = [&rows[0][..], &rows[1][..], &rows[2][..]];
        let b = [&rows[3][..], &rows[4][..], &rows[5][..], &rows[6][..]];
        let out = dot_tile(a, b, len);
        for r in 0..DR {
            for s in 0..DS {
                let want: f32 = (0..len).map(|v| a[r][v] * b[s][v]).sum();
                assert_eq!(out[r][s], want, "({r}, {s})");
            }
        }
    }
}
