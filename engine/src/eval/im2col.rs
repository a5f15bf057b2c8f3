//! A convolution's operands as matrices packed straight from the batched rows, with no
//! im2col matrix in memory.
//!
//! A batched tensor of images stores feature `(c, y, x)` as one row of `bpad` lanes (the
//! batch, padded to whole vectors), so a matrix whose columns run over (position, sample)
//! has contiguous runs: all samples of all positions of one output row. The views below map
//! the product's rows, depth and columns onto those runs:
//!
//! | product | A | B |
//! |---|---|---|
//! | forward `Y = W X` | filters x patch: the weights | [`Patches`]: patch x (position, sample) |
//! | weight gradient `dW` | [`SampleRows`] of dY: filters x (position, sample) | [`PatchesT`]: (position, sample) x patch |
//!
//! (The weight gradient uses these only when the batch leaves padding lanes; otherwise it is
//! computed as dot products of the rows themselves, and the input gradient is a product on
//! plain views followed by a scatter: see `conv.rs`.)
//!
//! The weight gradient sums over the samples, so its depth leaves out the padding lanes:
//! both of its operands pack them as zeros, whatever the rows hold there.

use wide::f32x8;

use crate::gemm::{MR, NR, PackA, PackB, panel, panel_len, put_transposed};
use crate::layout::lane_mask;
use crate::tape::Conv2d;

/// Writes `run` into the packed panels of width W at depth `k` (of `kc`), starting at column
/// `col` of the block.
#[inline(always)]
fn put_run<const W: usize>(dst: &mut [f32], kc: usize, k: usize, col: usize, run: &[f32]) {
    let stride = panel_len(kc, W);
    let (mut q, lane) = (col / W, col % W);
    let mut run = run;
    if lane != 0 {
        // the end of a partly filled group
        let take = (W - lane).min(run.len());
        panel(dst, q, kc, W)[k * W + lane..][..take].copy_from_slice(&run[..take]);
        run = &run[take..];
        q += 1;
    }
    // whole groups, one panel apart
    let mut at = q * stride + k * W;
    let mut groups = run.chunks_exact(W);
    for group in &mut groups {
        let to: &mut [f32; W] = (&mut dst[at..at + W]).try_into().expect("a whole group");
        *to = group.try_into().expect("a whole group");
        at += stride;
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        dst[at..at + rest.len()].copy_from_slice(rest);
    }
}

/// Zeros for the columns of the last panel past the block's `nc`, at every depth.
fn zero_tail<const W: usize>(dst: &mut [f32], kc: usize, nc: usize) {
    let used = nc % W;
    if used != 0 {
        let last = panel(dst, nc / W, kc, W);
        for k in 0..kc {
            last[k * W + used..][..W - used].fill(0.0);
        }
    }
}

/// The forward product's B: row `(c, ky, kx)`, column `(oy, ox, b)` holds input
/// `x[c, oy + ky, ox + kx, b]`.
pub(crate) struct Patches<'a> {
    pub x: &'a [f32],
    pub conv: Conv2d,
    pub bpad: usize,
}

impl PackB for Patches<'_> {
    fn depth(&self) -> usize {
        self.conv.patch()
    }

    fn cols(&self) -> usize {
        let out = self.conv.output();
        out.height * out.width * self.bpad
    }

    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
        let (input, out, kk) = (self.conv.input, self.conv.output(), self.conv.kernel);
        let row = out.width * self.bpad;
        for k in 0..kc {
            let d = p0 + k;
            let (c, ky, kx) = (d / (kk * kk), d / kk % kk, d % kk);
            let base = ((c * input.height + ky) * input.width + kx) * self.bpad;
            let mut j = j0;
            while j < j0 + nc {
                // one output row's columns are one run of the input
                let oy = j / row;
                let end = ((oy + 1) * row).min(j0 + nc);
                let from = base + oy * input.width * self.bpad + (j - oy * row);
                put_run::<NR>(dst, kc, k, j - j0, &self.x[from..from + (end - j)]);
                j = end;
            }
        }
        zero_tail::<NR>(dst, kc, nc);
    }
}

/// Eight values of one line of a packed-by-transposition operand: `data[at..at + 8]`, with
/// the lanes at or past the batch zeroed when the eight samples start at `b0`.
#[inline(always)]
fn masked8(data: &[f32], at: usize, b0: usize, batch: usize) -> [f32; 8] {
    let v: [f32; 8] = data[at..at + 8].try_into().expect("eight values");
    if b0 + 8 <= batch {
        v
    } else {
        (f32x8::from(v) & lane_mask(batch - b0.min(batch), 0)).to_array()
    }
}

/// The weight gradient's A: the output gradient's rows (one per filter), depth `(p, b)`,
/// padding lanes as zeros.
pub(crate) struct SampleRows<'a> {
    pub dy: &'a [f32],
    pub rows: usize,
    pub positions: usize,
    pub bpad: usize,
    pub batch: usize,
}

impl PackA for SampleRows<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn depth(&self) -> usize {
        self.positions * self.bpad
    }

    fn pack_a(&self, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
        debug_assert!(p0.is_multiple_of(8) && kc.is_multiple_of(8));
        let depth = self.depth();
        for q in 0..mc.div_ceil(MR) {
            let out = panel(dst, q, kc, MR);
            for k0 in (0..kc).step_by(8) {
                let d = p0 + k0;
                let b0 = d % self.bpad;
                let line = |r: usize| {
                    let row = i0 + q * MR + r;
                    if row < i0 + mc {
                        masked8(self.dy, row * depth + d, b0, self.batch)
                    } else {
                        [0.0; 8]
                    }
                };
                put_transposed::<MR>(line, out, k0);
            }
        }
    }
}

/// The weight gradient's B: depth `(oy, ox, b)`, column `(c, ky, kx)` holds input
/// `x[c, oy + ky, ox + kx, b]`, padding lanes as zeros.
pub(crate) struct PatchesT<'a> {
    pub x: &'a [f32],
    pub conv: Conv2d,
    pub bpad: usize,
    pub batch: usize,
}

impl PackB for PatchesT<'_> {
    fn depth(&self) -> usize {
        let out = self.conv.output();
        out.height * out.width * self.bpad
    }

    fn cols(&self) -> usize {
        self.conv.patch()
    }

    fn pack_b(&self, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
        debug_assert!(p0.is_multiple_of(8) && kc.is_multiple_of(8));
        let (input, out, kk, bpad) = (
            self.conv.input,
            self.conv.output(),
            self.conv.kernel,
            self.bpad,
        );
        for q in 0..nc.div_ceil(NR) {
            let panel_out = panel(dst, q, kc, NR);
            // each column's offset in the input, from (c, ky, kx)
            let offsets: [Option<usize>; NR] = std::array::from_fn(|l| {
                let col = j0 + q * NR + l;
                (col < j0 + nc).then(|| {
                    let (c, ky, kx) = (col / (kk * kk), col / kk % kk, col % kk);
                    ((c * input.height + ky) * input.width + kx) * bpad
                })
            });
            for k0 in (0..kc).step_by(8) {
                let d = p0 + k0;
                let (p, b0) = (d / bpad, d % bpad);
                let (oy, ox) = (p / out.width, p % out.width);
                let shift = (oy * input.width + ox) * bpad + b0;
                let line = |l: usize| match offsets[l] {
                    Some(base) => masked8(self.x, base + shift, b0, self.batch),
                    None => [0.0; 8],
                };
                put_transposed::<NR>(line, panel_out, k0);
            }
        }
    }
}
