//! The convolution's forward and backward steps: matrix products whose image operands are
//! packed in place from the batched rows (see [`im2col`](super::im2col)).
//!
//! With the batch as the innermost axis, the output rows of all filters form one matrix
//! (filters x positions and samples), the product of the weights and the input's patches.
//! The bias starts each output row. The input gradient is the full correlation of the output
//! gradient with the same weights, one product written straight into the input's rows; the
//! weight gradient is the output gradient times the patches, summed over the real samples.

use wide::f32x8;

use super::im2col::{PaddedPatches, Patches, PatchesT, SampleRows, TransposedFilters};
use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen, batch_sum};
use crate::gemm::{Init, MatMut, MatRef, product};
use crate::layout::{Layout, Loc};
use crate::tape::Conv2d;

/// The f32 values of a batched slot.
fn floats(rows: &[f32x8]) -> &[f32] {
    wide::bytemuck::cast_slice(rows)
}

fn floats_mut(rows: &mut [f32x8]) -> &mut [f32] {
    wide::bytemuck::cast_slice_mut(rows)
}

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
        product(
            a.work,
            1.0,
            &MatRef::row_major(weights, m, conv.patch()),
            &Patches {
                x: input,
                conv,
                bpad,
            },
            Init::RowBias(bias),
            MatMut::row_major(y, m, n),
        );
    })
}

/// dX: the full correlation of dY with the weights, stored (`store`) or added.
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
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.rows.split_at_mut(out.offset);
        let dy = floats(&own[..out.len(chunks)]);
        let dx = floats_mut(&mut before[x.range(chunks)]);
        let weights = &w.source(seen.flat, seen.params)[w.range(1)];
        let input = conv.input;
        product(
            grads.work,
            1.0,
            &TransposedFilters { w: weights, conv },
            &PaddedPatches { dy, conv, bpad },
            Init::Beta(if store { 0.0 } else { 1.0 }),
            MatMut::row_major(dx, input.channels, input.height * input.width * bpad),
        );
    })
}

/// dW += dY times the patches, over the real samples.
pub(super) fn weight_grad(conv: Conv2d, x: Loc, w: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let (chunks, batch) = (layout.chunks, layout.batch);
    let bpad = 8 * chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let dy = floats(&grads.rows[out.range(chunks)]);
        let input = floats(&seen.rows[x.range(chunks)]);
        let dw = &mut w.source_mut(grads.flat, grads.params)[w.range(1)];
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

/// dBias[f] += the sum of dY over filter f's positions and real samples.
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
