//! The 2 x 2 max-pool a convolution may carry ([`Conv2d::pool`](crate::tape::Conv2d)).
//!
//! The node's slot holds the pooled images; its auxiliary slot holds, first, the scan's
//! choice in every block (a code 0..3: top left, top right, bottom left, bottom right, as an
//! f32 per lane; -1, no element, where a carried ReLU cut the block's maximum to zero), then
//! room for the convolution's whole output. Forward, Winograd's output transform pools each
//! tile itself and leaves that room untouched; a direct convolution writes its output there
//! and one pass pools it.
//!
//! Backward, the output's gradient is the pooled gradient sent to each block's chosen
//! element (zero elsewhere), as a pool node and a ReLU'd convolution would make it: the
//! ReLU's mask is in the choices. For a direct convolution one pass writes it whole into that
//! room of the gradient arena, where the convolution's steps read it; Winograd's steps build
//! each tile of it from the pooled gradient and the choices, so it is never written (a pass
//! of its own sums the bias gradient). Either sums the bias gradient in the order of the
//! whole output's.

use rayon::prelude::*;
use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen, batch_sum, batch_sums, floats_mut};
use crate::layout::{Layout, Loc};
use crate::tape::Conv2d;
use crate::{Real, Workspace};

/// The slot of the choices: the pooled shape, right after the node's values.
pub(super) fn choices(out: Loc, chunks: usize) -> Loc {
    out.aux(chunks)
}

/// The slot of the convolution's whole output, after the choices: its values (direct method)
/// or, in the gradient arena, its gradient.
pub(super) fn before_pool(conv: Conv2d, out: Loc, chunks: usize) -> Loc {
    Loc {
        offset: choices(out, chunks).aux(chunks).offset,
        features: conv.output().features(),
        ..out
    }
}

/// The maximum of a block (top left, top right, bottom left, bottom right) by
/// [`super::pool::scan`], and the code of the element the scan ended on; after a ReLU
/// (`relu`), -1 where the maximum is not positive (zero or NaN): the ReLU's gradient is zero
/// there, so no element receives the block's gradient.
#[inline(always)]
pub(super) fn pool_block<L: Real>(block: [L; 4], relu: bool) -> (L, L) {
    let (max, chosen) = super::pool::scan(block);
    let code = chosen[1] + chosen[2] * L::splat(2.0) + chosen[3] * L::splat(3.0);
    if relu {
        return (max, L::select(max.gt(L::zero()), code, L::splat(-1.0)));
    }
    (max, code)
}

/// `step` (a direct convolution writing its whole output into [`before_pool`]), then the
/// pooling of that output into the node's values and choices: filters in parallel.
pub(super) fn then_pool(step: ForwardStep, conv: Conv2d, out: Loc, chunks: usize) -> ForwardStep {
    let (image, pooled) = (conv.output(), conv.result());
    let plane = pooled.height * pooled.width * chunks;
    Box::new(move |a: &mut Fwd| {
        step(a);
        let all = &mut a.rows[out.offset..before_pool(conv, out, chunks).range(chunks).end];
        let (values, full) = all.split_at_mut(2 * out.len(chunks));
        let (values, codes) = values.split_at_mut(out.len(chunks));
        values
            .par_chunks_mut(plane)
            .zip(codes.par_chunks_mut(plane))
            .zip(full.par_chunks(image.height * image.width * chunks))
            .for_each(|((values, codes), full)| {
                for oy in 0..pooled.height {
                    for ox in 0..pooled.width {
                        let rows = super::pool::block(image, oy, ox);
                        let at = (oy * pooled.width + ox) * chunks;
                        for h in 0..chunks {
                            let block = rows.map(|r| full[r * chunks + h]);
                            (values[at + h], codes[at + h]) = pool_block(block, conv.relu);
                        }
                    }
                }
            });
    })
}

/// The convolution's output gradient rebuilt into [`before_pool`] of the gradient arena from
/// the pooled gradient and the choices (which carry the ReLU's mask), and with `bias`,
/// dBias\[f\] += its sum over filter f's positions and real samples in the order of
/// `conv::bias_grad`: filters in parallel.
pub(super) fn unpool_grad(
    conv: Conv2d,
    bias: Option<Loc>,
    out: Loc,
    layout: &Layout,
) -> BackwardStep {
    let (chunks, lanes) = (layout.chunks, layout.lane_mask.clone());
    let (image, pooled) = (conv.output(), conv.result());
    let plane = pooled.height * pooled.width * chunks;
    let full = before_pool(conv, out, chunks);
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let codes = &seen.rows[choices(out, chunks).range(chunks)];
        let (before, dy) = grads.rows.split_at_mut(full.offset);
        let (g, dy) = (&before[out.range(chunks)], &mut dy[..full.len(chunks)]);
        let sums = filter_sums(grads.work, conv.filters);
        dy.par_chunks_mut(image.height * image.width * chunks)
            .zip(sums.par_iter_mut())
            .enumerate()
            .for_each(|(f, (dy, sum))| {
                let at = f * plane;
                let (codes, g) = (&codes[at..][..plane], &g[at..][..plane]);
                for (y, rows) in dy.chunks_exact_mut(image.width * chunks).enumerate() {
                    for (x, row) in rows.chunks_exact_mut(chunks).enumerate() {
                        let (oy, ox) = (y / 2, x / 2);
                        if oy < pooled.height && ox < pooled.width {
                            let code = f32x8::splat((2 * (y % 2) + x % 2) as f32);
                            let at = (oy * pooled.width + ox) * chunks;
                            for (h, d) in row.iter_mut().enumerate() {
                                *d = unpooled(g[at + h], codes[at + h], code);
                            }
                        } else {
                            // an odd last row or column is in no block
                            row.fill(f32x8::ZERO);
                        }
                        if bias.is_some() {
                            *sum += batch_sum(&lanes, |c| row[c]);
                        }
                    }
                }
            });
        add_bias_grad(bias, (grads.flat, grads.params), sums);
    })
}

/// dBias\[f\] += the sum of the convolution's output gradient over filter f's positions and
/// real samples, in the order of `conv::bias_grad`, read off the pooled gradient and the
/// choices ([`unpooled`]): the first backward step of a Winograd convolution with a pool,
/// whose steps rebuild the output's gradient tile by tile. Filters in parallel.
pub(super) fn pooled_bias_grad(conv: Conv2d, bias: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let (chunks, lanes) = (layout.chunks, layout.lane_mask.clone());
    let pooled = conv.result();
    let plane = pooled.height * pooled.width * chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let codes = &seen.rows[choices(out, chunks).range(chunks)];
        let g = &grads.rows[out.range(chunks)];
        let sums = filter_sums(grads.work, conv.filters);
        g.par_chunks(plane)
            .zip(codes.par_chunks(plane))
            .zip(sums.par_iter_mut())
            .for_each(|((g, codes), sum)| {
                // the whole output's positions in order, those in no block adding nothing;
                // a row's positions summed four at a time (two blocks), the sums added in order
                for y in 0..2 * pooled.height {
                    // a block's two elements in row y: codes 2 (y % 2) and 2 (y % 2) + 1
                    let left = f32x8::splat((2 * (y % 2)) as f32);
                    let right = f32x8::splat((2 * (y % 2) + 1) as f32);
                    let pair = |at: usize, c: usize| {
                        let (g, chosen) = (g[at + c], codes[at + c]);
                        [unpooled(g, chosen, left), unpooled(g, chosen, right)]
                    };
                    let row = y / 2 * pooled.width;
                    let whole = pooled.width - pooled.width % 2;
                    for ox in (0..whole).step_by(2) {
                        let (at, next) = ((row + ox) * chunks, (row + ox + 1) * chunks);
                        let sums = batch_sums(&lanes, |c| {
                            let ([a, b], [d, e]) = (pair(at, c), pair(next, c));
                            [a, b, d, e]
                        });
                        for s in sums {
                            *sum += s;
                        }
                    }
                    if whole < pooled.width {
                        let at = (row + whole) * chunks;
                        for s in batch_sums(&lanes, |c| pair(at, c)) {
                            *sum += s;
                        }
                    }
                }
            });
        add_bias_grad(Some(bias), (grads.flat, grads.params), sums);
    })
}

/// One zero per filter, in the step's working space (a pass allocates nothing).
fn filter_sums(work: &mut Workspace, filters: usize) -> &mut [f32] {
    let sums = &mut floats_mut(work.take(filters.div_ceil(8)))[..filters];
    sums.fill(0.0);
    sums
}

/// dBias\[f\] += `sums[f]`, with a bias.
fn add_bias_grad(bias: Option<Loc>, (flat, params): (&mut [f32], &mut [f32]), sums: &[f32]) {
    if let Some(bias) = bias {
        let dbias = &mut bias.source_mut(flat, params)[bias.range(1)];
        for (total, sum) in dbias.iter_mut().zip(sums) {
            *total += sum;
        }
    }
}

/// The output's gradient at the element of code `code` in a block whose (masked) pooled
/// gradient is `g` and choice `chosen`.
#[inline(always)]
pub(super) fn unpooled<L: Real>(g: L, chosen: L, code: L) -> L {
    L::select(chosen.equal(code), g, L::splat(0.0))
}
