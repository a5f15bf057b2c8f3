//! Dense products large enough for the matrix product: `Y = W X` with the batch as the
//! columns, `dX = W^T dY`, and `dW += dY X^T` summed over the real samples (the product's
//! depth stops at the batch, so padding lanes are never read).
//!
//! Small products (the arithmetic units' 2 to 10 inputs) keep the row kernels of
//! `forward.rs` and `backward.rs`, whose rounding the study's records rely on.

use super::{BackwardStep, Bwd, Dense, ForwardStep, Fwd, Seen, floats, floats_mut};
use crate::gemm::{Init, MatMut, MatRef, product};
use crate::layout::{Layout, Loc};
use crate::tape::WeightLayout;

/// Weights from which a dense product goes through the matrix product.
const LARGE: usize = 4096;

/// Whether a dense product is computed by the matrix product.
pub(super) fn is_large(dense: &Dense, out: Loc) -> bool {
    out.batched && dense.inputs * dense.outputs >= LARGE
}

/// The weights as an `outputs x inputs` matrix.
fn weights(w: &[f32], dense: Dense) -> MatRef<'_> {
    match dense.layout {
        WeightLayout::OutIn => MatRef::row_major(w, dense.outputs, dense.inputs),
        WeightLayout::InOut => MatRef::row_major(w, dense.inputs, dense.outputs).t(),
    }
}

pub(super) fn forward(dense: Dense, x: Loc, w: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let chunks = layout.chunks;
    let bpad = 8 * chunks;
    Box::new(move |a: &mut Fwd| {
        let (src, dst) = a.rows.split_at_mut(out.offset);
        let x = MatRef::row_major(floats(&src[x.range(chunks)]), dense.inputs, bpad);
        let w = weights(&w.source(a.flat, a.params)[w.range(1)], dense);
        let y = MatMut::row_major(floats_mut(&mut dst[..out.len(chunks)]), dense.outputs, bpad);
        product(a.work, 1.0, &w, &x, Init::Beta(0.0), y);
    })
}

pub(super) fn input_grad(
    dense: Dense,
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
        let dy = MatRef::row_major(floats(&own[..out.len(chunks)]), dense.outputs, bpad);
        let w = weights(&w.source(seen.flat, seen.params)[w.range(1)], dense);
        let dx = MatMut::row_major(floats_mut(&mut before[x.range(chunks)]), dense.inputs, bpad);
        let init = Init::Beta(if store { 0.0 } else { 1.0 });
        product(grads.work, 1.0, &w.t(), &dy, init, dx);
    })
}

pub(super) fn weight_grad(dense: Dense, x: Loc, w: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let (chunks, batch) = (layout.chunks, layout.batch);
    let bpad = 8 * chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        // rows of features, columns of the real samples only
        let dy = MatRef::new(
            floats(&grads.rows[out.range(chunks)]),
            dense.outputs,
            batch,
            bpad,
            1,
        );
        let x = MatRef::new(
            floats(&seen.rows[x.range(chunks)]),
            dense.inputs,
            batch,
            bpad,
            1,
        );
        let dw = &mut w.source_mut(grads.flat, grads.params)[w.range(1)];
        match dense.layout {
            WeightLayout::OutIn => {
                let c = MatMut::row_major(dw, dense.outputs, dense.inputs);
                product(grads.work, 1.0, &dy, &x.t(), Init::Beta(1.0), c)
            }
            WeightLayout::InOut => {
                let c = MatMut::row_major(dw, dense.inputs, dense.outputs);
                product(grads.work, 1.0, &x, &dy.t(), Init::Beta(1.0), c)
            }
        }
    })
}
