//! Packing: copying a block of an operand into the panel order the micro-kernel reads.
//!
//! A block of A (`mc x kc`) becomes panels of MR rows, each `kc` groups of MR values (one
//! group per k); a block of B (`kc x nc`) becomes panels of NR columns, each `kc` groups of NR
//! values. Rows or columns past the block's edge are zero in the last panel, so the kernel
//! always runs whole tiles.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256, _MM_HINT_T0, _mm_prefetch, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps,
    _mm256_storeu_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps,
};

use super::MatRef;
use super::kernel::{MR, NR};

/// Values between the starts of two packed panels: `width * kc` plus one cache line, so that
/// the same depth of consecutive panels never falls in the same cache set (panels of 384 x 24
/// values are exactly nine 4 KiB pages apart otherwise).
pub(crate) fn panel_len(kc: usize, width: usize) -> usize {
    width * kc + 16
}

/// Panel `q` of a packed block.
#[inline(always)]
pub(crate) fn panel(dst: &mut [f32], q: usize, kc: usize, width: usize) -> &mut [f32] {
    &mut dst[q * panel_len(kc, width)..][..width * kc]
}

/// A left operand (`rows x depth`) that can pack blocks of itself into MR-row panels.
pub(crate) trait PackA: Sync {
    fn rows(&self) -> usize;
    fn depth(&self) -> usize;
    /// Packs rows `i0..i0 + mc` and depths `p0..p0 + kc` into `mc.div_ceil(MR)` panels of
    /// `dst` (see [`panel`]).
    fn pack_a(&self, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]);
    /// The operand's values where its rows are contiguous, `(values, row stride)` with
    /// element (i, k) at `i * stride + k`: the 16-lane kernel reads them in place, eight
    /// streams along the depth. (Rows strided along the depth, a transposed weight matrix,
    /// are packed: a tile's walk down one column of 9,216-value rows lands every line in
    /// the same L1 set.)
    fn a_in_place(&self) -> Option<(&[f32], usize)> {
        None
    }
}

/// A right operand (`depth x cols`) that can pack blocks of itself into NR-column panels.
pub(crate) trait PackB: Sync {
    fn depth(&self) -> usize;
    fn cols(&self) -> usize;
    /// Packs depths `p0..p0 + kc` and columns `j0..j0 + nc` into `nc.div_ceil(NR)` panels
    /// of `dst` (see [`panel`]).
    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]);
    /// The operand's values where its rows are contiguous, `(values, row stride)` with
    /// element (k, j) at `k * stride + j`: the 16-lane kernel reads them in place.
    fn b_in_place(&self) -> Option<(&[f32], usize)> {
        None
    }
}

/// Packs `lines` lines (rows of A or columns of B) of a strided matrix into panels of `W`
/// lines: line `l` at depth `k` is `data[base + l * line_stride + k * depth_stride]`.
#[allow(clippy::too_many_arguments)]
fn pack_lines<const W: usize>(
    data: &[f32],
    base: usize,
    lines: usize,
    line_stride: usize,
    depth_stride: usize,
    kc: usize,
    dst: &mut [f32],
) {
    let panels = lines.div_ceil(W);
    if line_stride == 1 {
        // the lines are contiguous at each depth: read the operand in order, one depth's
        // run after the other (a stream the prefetcher follows), and spread each run over
        // the panels
        let whole = lines / W;
        for k in 0..kc {
            // runs a few depths ahead start loading (a run may be short and far from the
            // last, where the hardware prefetcher has nothing to follow)
            let ahead = base + (k + 8) * depth_stride;
            for at in (ahead..ahead + lines).step_by(16) {
                prefetch(data, at);
            }
            let run = &data[base + k * depth_stride..][..lines];
            for q in 0..panels {
                let to = &mut panel(dst, q, kc, W)[k * W..][..W];
                if q < whole {
                    copy::<W>(&run[q * W..][..W], to);
                } else {
                    let rest = lines - q * W;
                    to[..rest].copy_from_slice(&run[q * W..]);
                    to[rest..].fill(0.0);
                }
            }
        }
        return;
    }
    for q in 0..panels {
        let first = base + q * W * line_stride;
        let here = W.min(lines - q * W);
        // the next panel's lines start loading while this one is transposed
        if q + 1 < panels && depth_stride == 1 {
            for l in 0..W.min(lines - (q + 1) * W) {
                let line = first + (W + l) * line_stride;
                for at in (line..line + kc).step_by(16) {
                    prefetch(data, at);
                }
            }
        }
        let out = panel(dst, q, kc, W);
        if depth_stride == 1 && here == W {
            transpose_lines::<W>(data, first, line_stride, kc, out);
        } else {
            for (k, group) in out.chunks_exact_mut(W).enumerate() {
                for (l, v) in group.iter_mut().enumerate() {
                    *v = if l < here {
                        data[first + l * line_stride + k * depth_stride]
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// Asks for the cache line holding `data[at]` (if it exists) to be loaded.
#[inline(always)]
fn prefetch(data: &[f32], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < data.len() {
        // SAFETY: a prefetch of an address inside `data`; prefetches never fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().add(at).cast()) };
    }
    // elsewhere the hardware prefetcher is left to it
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

/// `dst = src` for W values, as whole-array moves (a slice copy of unknown length would
/// call memcpy for every group).
#[inline(always)]
fn copy<const W: usize>(src: &[f32], dst: &mut [f32]) {
    let src: &[f32; W] = src.try_into().expect("W values");
    let dst: &mut [f32; W] = dst.try_into().expect("W values");
    *dst = *src;
}

/// `out[k * W + l] = data[first + l * stride + k]`: W lines that are contiguous along the
/// depth, transposed eight depths at a time.
fn transpose_lines<const W: usize>(
    data: &[f32],
    first: usize,
    stride: usize,
    kc: usize,
    out: &mut [f32],
) {
    let last = first + (W - 1) * stride + kc;
    assert!(
        last <= data.len() && out.len() == W * kc,
        "panel outside its operand"
    );
    let full = kc / 8 * 8;
    if W == 4 {
        // four lines (an A panel): eight depths are four whole vectors of the panel
        for k in (0..full).step_by(8) {
            let rows: [[f32; 8]; 4] = std::array::from_fn(|l| {
                let from = first + l * stride + k;
                data[from..from + 8].try_into().expect("eight values")
            });
            out[k * 4..k * 4 + 32].copy_from_slice(&transpose4x8(rows));
        }
    } else {
        // eight lines at a time through all the depths: eight streams of the operand
        for g in (0..W).step_by(8) {
            let lanes = 8.min(W - g);
            for k in (0..full).step_by(8) {
                let block: [[f32; 8]; 8] = std::array::from_fn(|l| {
                    let from = first + (g + l.min(lanes - 1)) * stride + k;
                    data[from..from + 8].try_into().expect("eight values")
                });
                put_block::<W>(block, lanes, g, out, k);
            }
        }
    }
    for k in full..kc {
        for l in 0..W {
            out[k * W + l] = data[first + l * stride + k];
        }
    }
}

/// Transposes W lines of eight depths each (`line(l)` = the eight values of line l) into
/// eight groups of W at `out[k0 * W ..]`, eight lines at a time.
#[inline(always)]
pub(crate) fn put_transposed<const W: usize>(
    line: impl Fn(usize) -> [f32; 8],
    out: &mut [f32],
    k0: usize,
) {
    for g in (0..W).step_by(8) {
        let lanes = 8.min(W - g);
        let block: [[f32; 8]; 8] =
            std::array::from_fn(|l| if l < lanes { line(g + l) } else { [0.0; 8] });
        put_block::<W>(block, lanes, g, out, k0);
    }
}

/// Writes the transpose of eight lines of eight depths (the first `lanes` lines meant) as
/// lanes `g..g + lanes` of eight groups of W at `out[k0 * W ..]`.
#[inline(always)]
fn put_block<const W: usize>(
    block: [[f32; 8]; 8],
    lanes: usize,
    g: usize,
    out: &mut [f32],
    k0: usize,
) {
    let columns = transpose8(block);
    for (d, column) in columns.iter().enumerate() {
        out[(k0 + d) * W + g..][..lanes].copy_from_slice(&column[..lanes]);
    }
}

/// Four lines of eight depths as eight groups of four (depth-major).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose4x8(rows: [[f32; 8]; 4]) -> [f32; 32] {
    // SAFETY: loads and stores of whole local arrays; AVX is enabled for the crate.
    unsafe {
        let r: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(rows[i].as_ptr()));
        // pairs of lines, then quadruples of depths 0-3 | 4-7 within each half
        let (t0, t1) = (
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
        );
        let (t2, t3) = (
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
        );
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2); // depths 0 | 4
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2); // depths 1 | 5
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3); // depths 2 | 6
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3); // depths 3 | 7
        let v = [
            _mm256_permute2f128_ps::<0x20>(s0, s1),
            _mm256_permute2f128_ps::<0x20>(s2, s3),
            _mm256_permute2f128_ps::<0x31>(s0, s1),
            _mm256_permute2f128_ps::<0x31>(s2, s3),
        ];
        let mut out = [0.0f32; 32];
        for (i, v) in v.iter().enumerate() {
            _mm256_storeu_ps(out[8 * i..].as_mut_ptr(), *v);
        }
        out
    }
}

/// The transpose of an 8 x 8 block.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose8(rows: [[f32; 8]; 8]) -> [[f32; 8]; 8] {
    // SAFETY: loads and stores of whole local arrays; AVX is enabled for the crate.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(rows[i].as_ptr()));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let c = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        let mut out = [[0.0f32; 8]; 8];
        for (o, v) in out.iter_mut().zip(c) {
            _mm256_storeu_ps(o.as_mut_ptr(), v);
        }
        out
    }
}

impl PackA for MatRef<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn depth(&self) -> usize {
        self.cols
    }

    fn pack_a(&self, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
        let base = i0 * self.rs + p0 * self.cs;
        pack_lines::<MR>(self.data, base, mc, self.rs, self.cs, kc, dst);
    }

    fn a_in_place(&self) -> Option<(&[f32], usize)> {
        (self.cs == 1).then_some((self.data, self.rs))
    }
}

impl PackB for MatRef<'_> {
    fn depth(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
        let base = p0 * self.rs + j0 * self.cs;
        pack_lines::<NR>(self.data, base, nc, self.cs, self.rs, kc, dst);
    }

    fn b_in_place(&self) -> Option<(&[f32], usize)> {
        (self.cs == 1).then_some((self.data, self.rs))
    }
}

/// [`transpose4x8`] element by element, off x86-64 (a pure data movement: the same values).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[cfg_attr(not(target_arch = "x86_64"), inline(always))]
fn transpose4x8_portable(rows: [[f32; 8]; 4]) -> [f32; 32] {
    std::array::from_fn(|at| rows[at % 4][at / 4])
}

/// [`transpose8`] element by element, off x86-64.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[cfg_attr(not(target_arch = "x86_64"), inline(always))]
fn transpose8_portable(rows: [[f32; 8]; 8]) -> [[f32; 8]; 8] {
    std::array::from_fn(|i| std::array::from_fn(|j| rows[j][i]))
}

#[cfg(not(target_arch = "x86_64"))]
use {transpose4x8_portable as transpose4x8, transpose8_portable as transpose8};

#[cfg(all(test, target_arch = "x86_64"))]
mod portable_tests {
    use super::*;

    #[test]
    fn the_portable_transposes_move_the_values_as_the_intrinsics_do() {
        let rows8: [[f32; 8]; 8] =
            std::array::from_fn(|i| std::array::from_fn(|j| (8 * i + j) as f32));
        assert_eq!(transpose8(rows8), transpose8_portable(rows8));
        let rows4: [[f32; 8]; 4] = std::array::from_fn(|i| rows8[i]);
        assert_eq!(transpose4x8(rows4), transpose4x8_portable(rows4));
    }
}
