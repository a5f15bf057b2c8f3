//! Elementwise functions of one tensor ([`UnaryOp`](crate::tape::UnaryOp)): each value from
//! its kernel, and each gradient from the input, the saved output and the upstream gradient
//! (kernels in `ops.rs`). Sine and cosine come from one evaluation and keep each other in the
//! node's auxiliary slot for the backward pass.

use rayon::prelude::*;

use super::{
    BackwardStep, Bwd, ForwardStep, Fwd, PARALLEL, SPLIT_PIECE, Seen, fill_pieces, lanes,
    lanes_mut, vectors, write_row,
};
use crate::layout::{Loc, pick, pick_mut, with_param};
use crate::ops::UnaryKernel;
use crate::simd::width::Width;

pub(super) fn forward<W: Width, K: UnaryKernel>(
    k: K,
    x: Loc,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    let len = out.len(chunks);
    if out.batched && len >= PARALLEL {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.rows.split_at_mut(out.offset);
            let x = &src[x.offset..][..len];
            fill_pieces(&mut dst[..len], |c| k.value(x[c]));
        })
    } else if out.batched {
        let (x, out, len) = (
            vectors::<W::V>(x.offset),
            vectors::<W::V>(out.offset),
            vectors::<W::V>(len),
        );
        Box::new(move |a: &mut Fwd| {
            W::run(
                #[inline(always)]
                || {
                    let (src, dst) = lanes_mut::<W::V>(a.rows).split_at_mut(out);
                    let (x, y) = (&src[x..][..len], &mut dst[..len]);
                    for c in 0..len {
                        y[c] = k.value(x[c]);
                    }
                },
            )
        })
    } else {
        with_param!(x, P => forward_flat::<K, P>(k, x, out, len))
    }
}

fn forward_flat<K: UnaryKernel, const P: bool>(k: K, x: Loc, out: Loc, len: usize) -> ForwardStep {
    Box::new(move |a: &mut Fwd| {
        let (src, dst) = a.flat.split_at_mut(out.offset);
        let (x, y) = (
            &pick::<P>(src, a.params)[x.offset..][..len],
            &mut dst[..len],
        );
        for c in 0..len {
            y[c] = k.value(x[c]);
        }
    })
}

/// Sine or cosine, keeping the other in the auxiliary slot for the backward pass.
pub(super) fn trig_forward<W: Width>(sine: bool, x: Loc, out: Loc, chunks: usize) -> ForwardStep {
    let (x, out, len) = (
        vectors::<W::V>(x.offset),
        vectors::<W::V>(out.offset),
        vectors::<W::V>(out.len(chunks)),
    );
    Box::new(move |a: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let (src, dst) = lanes_mut::<W::V>(a.rows).split_at_mut(out);
                let (y, other) = dst[..2 * len].split_at_mut(len);
                for (c, &x) in src[x..][..len].iter().enumerate() {
                    let (s, co) = crate::math::sin_cos(x);
                    (y[c], other[c]) = if sine { (s, co) } else { (co, s) };
                }
            },
        )
    })
}

pub(super) fn backward<W: Width, K: UnaryKernel>(
    k: K,
    x: Loc,
    out: Loc,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    let len = out.len(chunks);
    if out.batched && len >= PARALLEL {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.rows.split_at_mut(out.offset);
            let (t, g) = (&mut before[x.offset..][..len], &own[..len]);
            let (x, y) = (
                &seen.rows[x.offset..][..len],
                &seen.rows[out.offset..][..len],
            );
            if store {
                fill_pieces(t, |c| k.grad(x[c], y[c], g[c]));
            } else {
                t.par_chunks_mut(SPLIT_PIECE)
                    .enumerate()
                    .for_each(|(i, t)| {
                        let start = i * SPLIT_PIECE;
                        for (c, t) in t.iter_mut().enumerate() {
                            let at = start + c;
                            *t += k.grad(x[at], y[at], g[at]);
                        }
                    });
            }
        })
    } else if out.batched {
        let (x, out, len) = (
            vectors::<W::V>(x.offset),
            vectors::<W::V>(out.offset),
            vectors::<W::V>(len),
        );
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(out);
                    let (t, g) = (&mut before[x..][..len], &own[..len]);
                    let values = lanes::<W::V>(seen.rows);
                    let (x, y) = (&values[x..][..len], &values[out..][..len]);
                    write_row(
                        t,
                        store,
                        #[inline(always)]
                        |c| k.grad(x[c], y[c], g[c]),
                    );
                },
            )
        })
    } else {
        with_param!(x, P => backward_flat::<K, P>(k, x, out, len))
    }
}

fn backward_flat<K: UnaryKernel, const P: bool>(
    k: K,
    x: Loc,
    out: Loc,
    len: usize,
) -> BackwardStep {
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.flat.split_at_mut(out.offset);
        let t = &mut pick_mut::<P>(before, grads.params)[x.offset..][..len];
        let g = &own[..len];
        let (x, y) = (
            &pick::<P>(seen.flat, seen.params)[x.offset..][..len],
            &seen.flat[out.offset..][..len],
        );
        for c in 0..len {
            t[c] += k.grad(x[c], y[c], g[c]);
        }
    })
}

/// sin' = cos and cos' = -sin, from the other function saved by the forward pass.
pub(super) fn trig_backward<W: Width>(
    sine: bool,
    x: Loc,
    out: Loc,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    let len = vectors::<W::V>(out.len(chunks));
    let other = vectors::<W::V>(out.aux(chunks).offset);
    let (x, out) = (vectors::<W::V>(x.offset), vectors::<W::V>(out.offset));
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        W::run(
            #[inline(always)]
            || {
                let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(out);
                let (t, g) = (&mut before[x..][..len], &own[..len]);
                let other = &lanes::<W::V>(seen.rows)[other..][..len];
                if sine {
                    write_row(
                        t,
                        store,
                        #[inline(always)]
                        |c| g[c] * other[c],
                    );
                } else {
                    write_row(
                        t,
                        store,
                        #[inline(always)]
                        |c| g[c] * -other[c],
                    );
                }
            },
        )
    })
}
