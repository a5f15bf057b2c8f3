//! The ReLU a convolution may carry ([`Conv2d::relu`](crate::tape::Conv2d)): Winograd's
//! output transform applies it as it writes each tile; after a direct convolution it is one
//! pass over the output. Backward, the output's gradient is masked in place (zero where the
//! output is not positive, as [`UnaryOp::Relu`](crate::tape::UnaryOp)'s gradient) before the
//! convolution's own steps read it, so they need not know of it; the bias gradient, a sum of
//! the masked gradient, is taken in the same pass.

use rayon::prelude::*;
use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, SPLIT_PIECE, Seen, batch_sum};
use crate::layout::{Layout, Loc};
use crate::ops::{Relu, UnaryKernel};

/// `step`, then the ReLU over its output in place.
pub(super) fn then_relu(step: ForwardStep, out: Loc, chunks: usize) -> ForwardStep {
    Box::new(move |a: &mut Fwd| {
        step(a);
        update(&mut a.rows[out.range(chunks)], |_, y| Relu.value(y));
    })
}

/// dY = dY where Y > 0, else 0, in place.
pub(super) fn mask_grad(out: Loc, chunks: usize) -> BackwardStep {
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let y = &seen.rows[out.range(chunks)];
        update(&mut grads.rows[out.range(chunks)], |c, g| {
            Relu.grad(y[c], y[c], g)
        });
    })
}

/// [`mask_grad`], and dBias\[f\] += the sum of filter f's masked gradient over its positions
/// and real samples, added up as it is masked (the order of `conv::bias_grad`, which would
/// otherwise read it all again): filters in parallel.
pub(super) fn mask_grad_and_bias(
    filters: usize,
    bias: Loc,
    out: Loc,
    layout: &Layout,
) -> BackwardStep {
    let (chunks, lanes) = (layout.chunks, layout.lane_mask.clone());
    let per_filter = out.features / filters * chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let y = &seen.rows[out.range(chunks)];
        let g = &mut grads.rows[out.range(chunks)];
        let dbias = &mut bias.source_mut(grads.flat, grads.params)[bias.range(1)];
        g.par_chunks_mut(per_filter)
            .zip(y.par_chunks(per_filter))
            .zip(dbias.par_iter_mut())
            .for_each(|((g, y), total)| {
                let mut sum = 0.0;
                for (g, y) in g.chunks_exact_mut(chunks).zip(y.chunks_exact(chunks)) {
                    for (g, &y) in g.iter_mut().zip(y) {
                        *g = Relu.grad(y, y, *g);
                    }
                    sum += batch_sum(&lanes, |c| g[c]);
                }
                *total += sum;
            });
    })
}

/// `v[c] = f(c, v[c])` for every vector, in pieces between threads.
fn update(v: &mut [f32x8], f: impl Fn(usize, f32x8) -> f32x8 + Sync) {
    v.par_chunks_mut(SPLIT_PIECE)
        .enumerate()
        .for_each(|(i, piece)| {
            for (c, v) in piece.iter_mut().enumerate() {
                *v = f(i * SPLIT_PIECE + c, *v);
            }
        });
}
