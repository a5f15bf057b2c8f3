//! Dense products of a few features, `y_o = sum_i x_i w_io` per sample (the arithmetic
//! units' weights): written out at the vector width, in input order with fused
//! multiply-adds; large ones (the CNN's dense layers) go to the matrix product (`dense.rs`).

use super::{
    BackwardStep, Bwd, Dense, ForwardStep, Fwd, Seen, batch_sum, lanes, lanes_mut, vectors,
};
use crate::Real;
use crate::layout::{Layout, Loc};
use crate::simd::width::Width;

/// The product's forward step.
pub(super) fn forward<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
) -> ForwardStep {
    if super::dense::is_large(&dense, out) {
        return super::dense::forward(dense, x, w, out, layout);
    }
    if !out.batched {
        return Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.flat.split_at_mut(out.offset);
            let (x, w) = (
                &x.source(src, a.params)[x.offset..],
                &w.source(src, a.params)[w.offset..],
            );
            product(&dense, x, w, dst, 1)
        });
    }
    let (x, offset) = (vectors::<W::V>(x.offset), vectors::<W::V>(out.offset));
    let chunks = vectors::<W::V>(layout.chunks);
    Box::new(move |a: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let (src, dst) = lanes_mut::<W::V>(a.rows).split_at_mut(offset);
                let w = &w.source(a.flat, a.params)[w.offset..];
                product(&dense, &src[x..], w, dst, chunks)
            },
        )
    })
}

/// dx_i += sum_o g_o w_io (the first output's term stored when the step overwrites).
pub(super) fn input_grad<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    if super::dense::is_large(&dense, out) {
        super::dense::input_grad(dense, x, w, out, layout, store)
    } else {
        input_grad_small::<W>(dense, x, w, out, layout.chunks, store)
    }
}

/// dw_io += sum over the batch of g_o x_i.
pub(super) fn weight_grad<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
) -> BackwardStep {
    if super::dense::is_large(&dense, out) {
        super::dense::weight_grad(dense, x, w, out, layout)
    } else {
        weight_grad_small::<W>(dense, x, w, out, layout)
    }
}

/// `y_o = sum_i x_i w_io`, accumulated in input order with fused multiply-adds.
#[inline(always)]
fn product<L: Real>(dense: &Dense, x: &[L], w: &[f32], y: &mut [L], width: usize) {
    for o in 0..dense.outputs {
        let y = &mut y[o * width..][..width];
        for i in 0..dense.inputs {
            let x = &x[i * width..][..width];
            let wio = L::splat(w[dense.weight_index(i, o)]);
            if i == 0 {
                for c in 0..width {
                    y[c] = x[c] * wio;
                }
            } else {
                for c in 0..width {
                    y[c] = x[c].mul_add(wio, y[c]);
                }
            }
        }
    }
}

/// dx_i += sum_o g_o w_io (the first output's term stored when the step overwrites).
fn input_grad_small<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    // not forced inline: forced, the 8-lane iteration of the NMRU and NRU ran 2 to 4 %
    // slower (AMD EPYC Zen 4); the compiler inlines it into the 16-lane step all the same
    // (engine/README.md, "One source for every width", says how to check)
    #[inline]
    fn run<L: Real>(dense: &Dense, g: &[L], w: &[f32], t: &mut [L], width: usize, store: bool) {
        for i in 0..dense.inputs {
            let t = &mut t[i * width..][..width];
            for o in 0..dense.outputs {
                let g = &g[o * width..][..width];
                let wio = L::splat(w[dense.weight_index(i, o)]);
                if store && o == 0 {
                    for c in 0..width {
                        t[c] = g[c] * wio;
                    }
                } else {
                    for c in 0..width {
                        t[c] = t[c] + g[c] * wio;
                    }
                }
            }
        }
    }
    if out.batched {
        let (offset, x) = (vectors::<W::V>(out.offset), vectors::<W::V>(x.offset));
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(offset);
                    run(
                        &dense,
                        own,
                        &w.source(seen.flat, seen.params)[w.offset..],
                        &mut before[x..],
                        chunks,
                        store,
                    )
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            run(
                &dense,
                own,
                &w.source(seen.flat, seen.params)[w.offset..],
                &mut x.source_mut(before, grads.params)[x.offset..],
                1,
                false,
            )
        })
    }
}

/// dw_io += sum over the batch of g_o x_i.
fn weight_grad_small<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
) -> BackwardStep {
    let (chunks, mask) = (layout.chunks, layout.lane_mask.clone());
    if out.batched {
        let (offset, x) = (vectors::<W::V>(out.offset), vectors::<W::V>(x.offset));
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let dw = &mut w.source_mut(grads.flat, grads.params)[w.offset..];
                    let (rows, values) = (lanes::<W::V>(grads.rows), lanes::<W::V>(seen.rows));
                    for o in 0..dense.outputs {
                        let g = &rows[offset + o * chunks..][..chunks];
                        for i in 0..dense.inputs {
                            let x = &values[x + i * chunks..][..chunks];
                            dw[dense.weight_index(i, o)] += batch_sum(
                                &mask,
                                #[inline(always)]
                                |c| g[c] * x[c],
                            );
                        }
                    }
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            let dw = &mut w.source_mut(before, grads.params)[w.offset..];
            let x = &x.source(seen.flat, seen.params)[x.offset..];
            for o in 0..dense.outputs {
                for i in 0..dense.inputs {
                    dw[dense.weight_index(i, o)] += own[o] * x[i];
                }
            }
        })
    }
}
