//! Reductions: the batch mean of each feature, the mean, sum or Euclidean norm of a whole
//! tensor, and the mean squared error; every sum over the batch in the canonical order of
//! [`batch_sum`], whatever the width.

use super::{
    BackwardStep, Bwd, ForwardStep, Fwd, Seen, batch_sum, lanes, lanes_mut, vectors, write_row,
};
use crate::Real;
use crate::layout::{Layout, Loc};
use crate::simd::vector::Vector;
use crate::simd::width::Width;

/// The row-arena range of the batched slot `x`, in vectors of `V`.
fn vector_range<V: Vector>(x: Loc, chunks: usize) -> std::ops::Range<usize> {
    vectors::<V>(x.offset)..vectors::<V>(x.offset + x.len(chunks))
}

/// The mean over the batch of each feature.
pub(super) fn mean_batch_forward<W: Width>(x: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let (mask, batch) = (layout.lane_mask.clone(), layout.batch);
    let (x, chunks) = (vectors::<W::V>(x.offset), vectors::<W::V>(layout.chunks));
    Box::new(move |a: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let rows = lanes::<W::V>(a.rows);
                for f in 0..out.features {
                    let row = &rows[x + f * chunks..][..chunks];
                    a.flat[out.offset + f] = batch_sum(
                        &mask,
                        #[inline(always)]
                        |c| row[c],
                    ) / batch as f32;
                }
            },
        )
    })
}

/// Every sample of feature f receives the mean's gradient over the batch size.
pub(super) fn mean_batch_backward<W: Width>(x: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let batch = layout.batch;
    let (x, chunks) = (vectors::<W::V>(x.offset), vectors::<W::V>(layout.chunks));
    Box::new(move |_: &Seen, grads: &mut Bwd| {
        W::run(
            #[inline(always)]
            || {
                let rows = lanes_mut::<W::V>(grads.rows);
                for f in 0..out.features {
                    let share = <W::V as Vector>::splat(grads.flat[out.offset + f] / batch as f32);
                    for v in &mut rows[x + f * chunks..][..chunks] {
                        *v += share;
                    }
                }
            },
        )
    })
}

/// Every element receives the total's gradient, divided by `count` (1 for a sum, the
/// number of elements for a mean).
pub(super) fn total_backward<W: Width>(
    x: Loc,
    out: Loc,
    count: usize,
    chunks: usize,
) -> BackwardStep {
    let range = vector_range::<W::V>(x, chunks);
    Box::new(move |_: &Seen, grads: &mut Bwd| {
        let share = grads.flat[out.offset] / count as f32;
        if x.batched {
            W::run(
                #[inline(always)]
                || {
                    let share = <W::V as Vector>::splat(share);
                    for v in &mut lanes_mut::<W::V>(grads.rows)[range.clone()] {
                        *v += share;
                    }
                },
            )
        } else {
            let (before, _) = grads.flat.split_at_mut(out.offset);
            for v in &mut x.source_mut(before, grads.params)[x.range(1)] {
                *v += share;
            }
        }
    })
}

/// d |x| / dx = x / |x|, and 0 where the norm is 0 (PyTorch).
pub(super) fn norm_backward<W: Width>(x: Loc, out: Loc, chunks: usize) -> BackwardStep {
    let range = vector_range::<W::V>(x, chunks);
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let norm = seen.flat[out.offset];
        let scale = if norm == 0.0 {
            0.0
        } else {
            grads.flat[out.offset] / norm
        };
        if x.batched {
            W::run(
                #[inline(always)]
                || {
                    let scale = <W::V as Vector>::splat(scale);
                    let (t, x) = (
                        &mut lanes_mut::<W::V>(grads.rows)[range.clone()],
                        &lanes::<W::V>(seen.rows)[range.clone()],
                    );
                    for (t, &x) in t.iter_mut().zip(x) {
                        *t += x * scale;
                    }
                },
            )
        } else {
            let (before, _) = grads.flat.split_at_mut(out.offset);
            let t = &mut x.source_mut(before, grads.params)[x.range(1)];
            for (t, &x) in t
                .iter_mut()
                .zip(&x.source(seen.flat, seen.params)[x.range(1)])
            {
                *t += x * scale;
            }
        }
    })
}

/// The mean of (y - t)^2 over every element.
pub(super) fn mse_forward<W: Width>(y: Loc, t: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let count = (y.features * if y.batched { layout.batch } else { 1 }) as f32;
    if !y.batched {
        return Box::new(move |a: &mut Fwd| {
            let (yv, tv) = (y.source(a.flat, a.params), t.source(a.flat, a.params));
            let mut sum = 0.0;
            for f in 0..y.features {
                let d = yv[y.offset + f] - tv[t.offset + f];
                sum += d * d;
            }
            a.flat[out.offset] = sum / count;
        });
    }
    let mask = layout.lane_mask.clone();
    let (yo, to) = (vectors::<W::V>(y.offset), vectors::<W::V>(t.offset));
    let chunks = vectors::<W::V>(layout.chunks);
    Box::new(move |a: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let rows = lanes::<W::V>(a.rows);
                let mut sum = 0.0;
                for f in 0..y.features {
                    let (yf, tf) = (
                        &rows[yo + f * chunks..][..chunks],
                        &rows[to + f * chunks..][..chunks],
                    );
                    sum += batch_sum(
                        &mask,
                        #[inline(always)]
                        |c| {
                            let d = yf[c] - tf[c];
                            d * d
                        },
                    );
                }
                a.flat[out.offset] = sum / count;
            },
        )
    })
}

/// A reduction of every real element to one value: `finish(sum of term(element))`, the
/// term the element or (`SQUARE`) its square.
pub(super) fn total_forward<W: Width, const SQUARE: bool>(
    x: Loc,
    out: Loc,
    layout: &Layout,
    finish: impl Fn(f32) -> f32 + Send + Sync + 'static,
) -> ForwardStep {
    #[inline(always)]
    fn term<L: Real, const SQUARE: bool>(v: L) -> L {
        if SQUARE { v * v } else { v }
    }
    let mask = layout.lane_mask.clone();
    if x.batched {
        let (offset, chunks) = (vectors::<W::V>(x.offset), vectors::<W::V>(layout.chunks));
        Box::new(move |a: &mut Fwd| {
            W::run(
                #[inline(always)]
                || {
                    let rows = lanes::<W::V>(a.rows);
                    let mut sum = 0.0;
                    for f in 0..x.features {
                        let row = &rows[offset + f * chunks..][..chunks];
                        sum += batch_sum(
                            &mask,
                            #[inline(always)]
                            |c| term::<_, SQUARE>(row[c]),
                        );
                    }
                    a.flat[out.offset] = finish(sum);
                },
            )
        })
    } else {
        Box::new(move |a: &mut Fwd| {
            let sum = x.source(a.flat, a.params)[x.range(1)]
                .iter()
                .fold(0.0, |acc, &v| acc + term::<f32, SQUARE>(v));
            a.flat[out.offset] = finish(sum);
        })
    }
}

/// d mse / d y = (y - t) * norm * g, and the negative for t.
#[allow(clippy::too_many_arguments)]
pub(super) fn mse_backward<W: Width>(
    y: Loc,
    t: Loc,
    target: Loc,
    out: Loc,
    norm: f32,
    sign: f32,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    if y.batched {
        let len = vectors::<W::V>(y.len(chunks));
        let (yo, to, target) = (
            vectors::<W::V>(y.offset),
            vectors::<W::V>(t.offset),
            vectors::<W::V>(target.offset),
        );
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (norm, g, sign) = (
                        <W::V as Vector>::splat(norm),
                        <W::V as Vector>::splat(grads.flat[out.offset]),
                        <W::V as Vector>::splat(sign),
                    );
                    let values = lanes::<W::V>(seen.rows);
                    let (yv, tv, dst) = (
                        &values[yo..][..len],
                        &values[to..][..len],
                        &mut lanes_mut::<W::V>(grads.rows)[target..][..len],
                    );
                    write_row(
                        dst,
                        store,
                        #[inline(always)]
                        |c| sign * (((yv[c] - tv[c]) * norm) * g),
                    );
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            let dst = target.source_mut(before, grads.params);
            let (yv, tv) = (
                y.source(seen.flat, seen.params),
                t.source(seen.flat, seen.params),
            );
            let g = own[0];
            for f in 0..y.features {
                dst[target.offset + f] +=
                    sign * (((yv[y.offset + f] - tv[t.offset + f]) * norm) * g);
            }
        })
    }
}
