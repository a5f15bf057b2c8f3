//! The ReLU a convolution may carry ([`Conv2d::relu`](crate::tape::Conv2d)): forward, each
//! path applies it as it writes its output (Winograd's output transform tile by tile, the
//! direct path's matrix product as it stores C). Backward, without a pool, the output's
//! gradient is masked in place (zero where the output is not positive, as
//! [`UnaryOp::Relu`](crate::tape::UnaryOp)'s gradient) before the convolution's own steps read
//! it, so they need not know of it; the bias gradient, a sum of the masked gradient, is taken
//! in the same pass, and for a direct convolution whose batch fills its vectors the weight
//! gradient too. (With a pool, the mask is in the pool's choices: [`super::conv_pool`].)

use rayon::prelude::*;
use wide::f32x8;

use super::{BackwardStep, Bwd, SPLIT_PIECE, Seen, batch_sum, conv, floats};
use crate::gemm::DR;
use crate::layout::{Layout, Loc};
use crate::ops::{Relu, UnaryKernel};
use crate::tape::Conv2d;

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
            .for_each(|((g, y), total)| *total += mask_filter(g, y, chunks, &lanes));
    })
}

/// [`mask_grad_and_bias`] and dW += the masked gradient times the patches
/// ([`conv::weight_grad_dots`]), a few filters at a time: each group's weight gradient reads
/// the rows its mask has just written while they are still in cache, where two steps would
/// read the whole gradient from memory twice. Only for a batch that fills its vectors
/// ([`conv::weight_grad_by_dots`]). Every element of dW and dBias is the same chain as the two
/// steps' (a dot product's chains do not depend on the rows it shares a tile with).
pub(super) fn mask_grad_bias_and_weights(
    conv: Conv2d,
    (x, w, bias): (Loc, Loc, Loc),
    out: Loc,
    layout: &Layout,
) -> BackwardStep {
    assert!(
        conv::weight_grad_by_dots(layout),
        "a batch with padding lanes"
    );
    let (chunks, lanes) = (layout.chunks, layout.lane_mask.clone());
    let per_filter = out.features / conv.filters * chunks;
    let patch = conv.patch();
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let y = &seen.rows[out.range(chunks)];
        let input = floats(&seen.rows[x.range(chunks)]);
        let g = &mut grads.rows[out.range(chunks)];
        let (dw, dbias) = two_params_mut((w, bias), grads.flat, grads.params);
        // filters in groups as tall as a dot tile: a group's rows of the gradient (a few
        // hundred KB) stay in L2 from the mask to the products
        g.par_chunks_mut(DR * per_filter)
            .zip(y.par_chunks(DR * per_filter))
            .zip(dw.par_chunks_mut(DR * patch))
            .zip(dbias.par_chunks_mut(DR))
            .for_each(|(((g, y), dw), dbias)| {
                for ((g, y), total) in g
                    .chunks_mut(per_filter)
                    .zip(y.chunks(per_filter))
                    .zip(dbias.iter_mut())
                {
                    *total += mask_filter(g, y, chunks, &lanes);
                }
                let conv = Conv2d {
                    filters: dbias.len(),
                    ..conv
                };
                conv::weight_grad_dots(conv, floats(g), input, dw, 8 * chunks);
            });
    })
}

/// Masks one filter's gradient `g` (output `y`) in place, rows of `chunks` vectors, and
/// returns the sum of the masked gradient over the real lanes, row by row.
fn mask_filter(g: &mut [f32x8], y: &[f32x8], chunks: usize, lanes: &[f32x8]) -> f32 {
    let mut sum = 0.0;
    for (g, y) in g.chunks_exact_mut(chunks).zip(y.chunks_exact(chunks)) {
        for (g, &y) in g.iter_mut().zip(y) {
            *g = Relu.grad(y, y, *g);
        }
        sum += batch_sum(lanes, |c| g[c]);
    }
    sum
}

/// The slices of two distinct parameter (or flat) slots `a` and `b`, both writable.
fn two_params_mut<'a>(
    (a, b): (Loc, Loc),
    flat: &'a mut [f32],
    params: &'a mut [f32],
) -> (&'a mut [f32], &'a mut [f32]) {
    match (a.param, b.param) {
        (true, false) => (&mut params[a.range(1)], &mut flat[b.range(1)]),
        (false, true) => (&mut flat[a.range(1)], &mut params[b.range(1)]),
        (same, _) => {
            let both = if same { params } else { flat };
            let [a, b] = both
                .get_disjoint_mut([a.range(1), b.range(1)])
                .expect("two slots overlap");
            (a, b)
        }
    }
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
