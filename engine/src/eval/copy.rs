//! Concatenation and tiling of features: copies forward, and each input's gradient is the sum
//! of its copies' gradients.

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen};
use crate::Real;
use crate::layout::Loc;

/// The parts' features one after the other.
pub(super) fn concat_forward(parts: Vec<Loc>, out: Loc, chunks: usize) -> ForwardStep {
    if out.batched {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.rows.split_at_mut(out.offset);
            concat(&parts, src, &[], dst, chunks)
        })
    } else {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.flat.split_at_mut(out.offset);
            concat(&parts, src, a.params, dst, 1)
        })
    }
}

/// `times` copies of the input's features.
pub(super) fn tile_forward(x: Loc, out: Loc, times: usize, chunks: usize) -> ForwardStep {
    if out.batched {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.rows.split_at_mut(out.offset);
            tile(&src[x.range(chunks)], dst, times)
        })
    } else {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.flat.split_at_mut(out.offset);
            tile(&x.source(src, a.params)[x.range(1)], dst, times)
        })
    }
}

/// The parts one after the other (unbatched parts may be parameters, read from `params`).
fn concat<L: Copy>(parts: &[Loc], src: &[L], params: &[L], dst: &mut [L], width: usize) {
    let mut at = 0;
    for part in parts {
        let len = part.len(width);
        let from = if part.param { params } else { src };
        dst[at..at + len].copy_from_slice(&from[part.offset..][..len]);
        at += len;
    }
}

fn tile<L: Copy>(x: &[L], y: &mut [L], times: usize) {
    for copy in 0..times {
        y[copy * x.len()..][..x.len()].copy_from_slice(x);
    }
}

/// The input at `x` receives the gradient of `copies` copies of itself, the first starting
/// `at` units into the node's gradient (concat: one copy at its position; tile: all).
pub(super) fn backward(
    x: Loc,
    out: Loc,
    at: usize,
    copies: usize,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    fn run<L: Real>(t: &mut [L], g: &[L], copies: usize) {
        let len = t.len();
        for copy in 0..copies {
            let g = &g[copy * len..][..len];
            for c in 0..len {
                t[c] = t[c] + g[c];
            }
        }
    }
    if out.batched {
        Box::new(move |_: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.rows.split_at_mut(out.offset);
            let t = &mut before[x.range(chunks)];
            if store {
                let len = t.len();
                t.copy_from_slice(&own[at..][..len]);
            } else {
                run(t, &own[at..], copies)
            }
        })
    } else {
        Box::new(move |_: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            run(
                &mut x.source_mut(before, grads.params)[x.range(1)],
                &own[at..],
                copies,
            )
        })
    }
}
