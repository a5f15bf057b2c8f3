//! The convolution's forward and backward steps, all matrix products over the batched rows.
//!
//! With the batch as the innermost axis, the output rows of all filters form one matrix
//! (filters x positions and samples):
//! * forward: the weights times the input's patches, packed in place
//!   ([`im2col`](super::im2col)), each output row starting from its bias, through the ReLU
//!   (if the convolution carries one) as the product stores it;
//! * input gradient: `W^T dY` per block of output positions (a product on plain views, whose
//!   B operand packs by copying runs), each column row then added into the input's rows;
//! * weight gradient: dot products of the output gradient's rows with the input's rows, both
//!   contiguous over (position, sample) (packed operands when padding lanes must be left out);
//! * bias gradient: sums of the output gradient's rows.

use super::im2col::{Patches, PatchesT, SampleRows};
use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen, batch_sum};
use super::{PARALLEL, floats, floats_mut};
use crate::gemm::{DotRuns, Finish, Init, MatMut, MatRef, accumulate, product, product_then};
use crate::layout::{Layout, Loc};
use crate::tape::Conv2d;

/// Output rows (filters) and columns (positions x padded batch) of the forward product.
fn output_matrix(conv: Conv2d, bpad: usize) -> (usize, usize) {
    let out = conv.output();
    (conv.filters, out.height * out.width * bpad)
}

pub(super) fn forward(
    conv: Conv2d,
    x: Loc,
    w: Loc,
    bias: Loc,
    out: Loc,
    layout: &Layout,
) -> ForwardStep {
    let chunks = layout.chunks;
    let bpad = 8 * chunks;
    Box::new(move |a: &mut Fwd| {
        let (src, dst) = a.rows.split_at_mut(out.offset);
        let input = floats(&src[x.range(chunks)]);
        let y = floats_mut(&mut dst[..out.len(chunks)]);
        let weights = &w.source(a.flat, a.params)[w.range(1)];
        let bias = &bias.source(a.flat, a.params)[bias.range(1)];
        let (m, n) = output_matrix(conv, bpad);
        product_then(
            a.work,
            1.0,
            &MatRef::row_major(weights, m, conv.patch()),
            &Patches {
                x: input,
                conv,
                bpad,
            },
            Init::RowBias(bias),
            if conv.relu {
                Finish::Relu
            } else {
                Finish::Store
            },
            MatMut::row_major(y, m, n),
        );
    })
}

/// Values of one block of the input gradient's columns: the block of `patch x positions`
/// rows the product writes and the scatter reads stays in L2.
const COLUMN_BLOCK: usize = 1 << 17;

/// dX, stored (`store`) or added: for each block of output positions (within one output
/// row), the columns `dCol = W^T dY` (patch x (positions, samples)) as one product on plain
/// operands, then each column row `(c, ky, kx)` added into the input's row `c, oy + ky` at
/// column `kx` (col2im). Channels are split between threads for the adds; every element of dX
/// receives its terms in the same order (output row, block, ky, kx) whatever the split.
pub(super) fn input_grad(
    conv: Conv2d,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    let chunks = layout.chunks;
    let bpad = 8 * chunks;
    let (input, out_image, k) = (conv.input, conv.output(), conv.kernel);
    let (patch, area) = (conv.patch(), k * k);
    let row = out_image.width * bpad;
    let plane = out_image.height * row;
    let in_plane = input.height * input.width * bpad;
    // output positions per block
    let block = (COLUMN_BLOCK / (patch * bpad)).clamp(1, out_image.width);
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        use rayon::prelude::*;
        let (before, own) = grads.rows.split_at_mut(out.offset);
        let dy = floats(&own[..out.len(chunks)]);
        let dx = floats_mut(&mut before[x.range(chunks)]);
        let weights = &w.source(seen.flat, seen.params)[w.range(1)];
        let w_t = MatRef::row_major(weights, conv.filters, patch).t();
        // channels in parallel when the input is large (each owns its plane of dX)
        let large = dx.len() >= 8 * PARALLEL;
        let per_channel = |dx: &mut [f32], work: &(dyn Fn(usize, &mut [f32]) + Sync)| {
            if large {
                dx.par_chunks_mut(in_plane)
                    .enumerate()
                    .for_each(|(c, p)| work(c, p));
            } else {
                dx.chunks_mut(in_plane)
                    .enumerate()
                    .for_each(|(c, p)| work(c, p));
            }
        };
        if store {
            per_channel(dx, &|_, plane| plane.fill(0.0));
        }
        let columns: &mut [f32] =
            wide::bytemuck::cast_slice_mut(grads.columns.take((patch * block * bpad).div_ceil(8)));
        for oy in 0..out_image.height {
            for ox0 in (0..out_image.width).step_by(block) {
                let width = block.min(out_image.width - ox0) * bpad;
                let start = oy * row + ox0 * bpad;
                let dy_block = MatRef::new(&dy[start..], conv.filters, width, plane, 1);
                let cols = &mut columns[..patch * width];
                product(
                    grads.work,
                    1.0,
                    &w_t,
                    &dy_block,
                    Init::Beta(0.0),
                    MatMut::row_major(cols, patch, width),
                );
                let cols = &*cols;
                per_channel(dx, &|c, dx| {
                    for spot in 0..area {
                        let (ky, kx) = (spot / k, spot % k);
                        let from = &cols[(c * area + spot) * width..][..width];
                        let at = ((oy + ky) * input.width + ox0 + kx) * bpad;
                        for (t, &v) in dx[at..at + width].iter_mut().zip(from) {
                            *t += v;
                        }
                    }
                });
            }
        }
    })
}

/// dW += dY times the patches, over the real samples: dot products of rows when the batch
/// fills its vectors (no padding lanes to leave out), else a product of masked packings.
pub(super) fn weight_grad(conv: Conv2d, x: Loc, w: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let (chunks, batch) = (layout.chunks, layout.batch);
    let bpad = 8 * chunks;
    let by_dots = weight_grad_by_dots(layout);
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let dy = floats(&grads.rows[out.range(chunks)]);
        let input = floats(&seen.rows[x.range(chunks)]);
        let dw = &mut w.source_mut(grads.flat, grads.params)[w.range(1)];
        if by_dots {
            return weight_grad_dots(conv, dy, input, dw, bpad);
        }
        let out_image = conv.output();
        product(
            grads.work,
            1.0,
            &SampleRows {
                dy,
                rows: conv.filters,
                positions: out_image.height * out_image.width,
                bpad,
                batch,
            },
            &PatchesT {
                x: input,
                conv,
                bpad,
                batch,
            },
            Init::Beta(1.0),
            MatMut::row_major(dw, conv.filters, conv.patch()),
        );
    })
}

/// Whether the weight gradient is [`weight_grad_dots`]: the batch fills its vectors.
pub(super) fn weight_grad_by_dots(layout: &Layout) -> bool {
    layout.batch == 8 * layout.chunks
}

/// The weight gradient as sums of dot products over the output rows,
/// `dW[f][(c, ky, kx)] += sum over oy of dY[f, oy, ..] . X[c, oy + ky, kx + ..]`, both rows
/// contiguous in (position, sample).
pub(super) fn weight_grad_dots(conv: Conv2d, dy: &[f32], x: &[f32], dw: &mut [f32], bpad: usize) {
    let rows = WeightGradRuns { conv, dy, x, bpad };
    accumulate(&rows, MatMut::row_major(dw, conv.filters, conv.patch()));
}

/// The runs of [`weight_grad_dots`]: run `oy` pairs filter f's output row oy with patch value
/// (c, ky, kx)'s input row oy + ky shifted by kx.
struct WeightGradRuns<'a> {
    conv: Conv2d,
    dy: &'a [f32],
    x: &'a [f32],
    bpad: usize,
}

impl DotRuns for WeightGradRuns<'_> {
    fn shape(&self) -> (usize, usize) {
        (self.conv.filters, self.conv.patch())
    }

    fn runs(&self) -> (usize, usize) {
        let out = self.conv.output();
        (out.height, out.width * self.bpad)
    }

    fn a(&self, f: usize, oy: usize, start: usize, len: usize) -> &[f32] {
        let out = self.conv.output();
        let row = out.width * self.bpad;
        &self.dy[f * out.height * row + oy * row + start..][..len]
    }

    fn b(&self, j: usize, oy: usize, start: usize, len: usize) -> &[f32] {
        let (input, k) = (self.conv.input, self.conv.kernel);
        let (c, ky, kx) = (j / (k * k), j / k % k, j % k);
        let at = ((c * input.height + oy + ky) * input.width + kx) * self.bpad + start;
        &self.x[at..][..len]
    }
}

/// dBias\[f\] += the sum of dY over filter f's positions and real samples.
pub(super) fn bias_grad(conv: Conv2d, bias: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let (chunks, mask) = (layout.chunks, layout.lane_mask.clone());
    let out_image = conv.output();
    let positions = out_image.height * out_image.width;
    Box::new(move |_: &Seen, grads: &mut Bwd| {
        let dbias = &mut bias.source_mut(grads.flat, grads.params)[bias.range(1)];
        for (f, total) in dbias.iter_mut().enumerate() {
            let rows = &grads.rows[out.offset + f * positions * chunks..][..positions * chunks];
            let mut sum = 0.0;
            for row in rows.chunks_exact(chunks) {
                sum += batch_sum(&mask, |c| row[c]);
            }
            *total += sum;
        }
    })
}
