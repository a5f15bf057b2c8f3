//! Inverted dropout: each element times its mask factor (`1 / (1 - rate)` or 0), the same
//! factor forward and backward (see [`crate::dropout`]).

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen};
use crate::dropout::Mask;
use crate::layout::{Layout, Loc};

pub(super) fn forward(node: usize, rate: f32, x: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let chunks = layout.chunks;
    Box::new(move |a: &mut Fwd| {
        let mask = Mask::new(a.noise_seed, node, rate);
        let (src, dst) = a.rows.split_at_mut(out.offset);
        for f in 0..out.features {
            let key = mask.feature_key(f);
            let x = &src[x.offset + f * chunks..][..chunks];
            let y = &mut dst[f * chunks..][..chunks];
            for c in 0..chunks {
                y[c] = x[c] * mask.factors(key, c);
            }
        }
    })
}

pub(super) fn backward(
    node: usize,
    rate: f32,
    x: Loc,
    out: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    let chunks = layout.chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let mask = Mask::new(seen.noise_seed, node, rate);
        let (before, own) = grads.rows.split_at_mut(out.offset);
        for f in 0..out.features {
            let key = mask.feature_key(f);
            let g = &own[f * chunks..][..chunks];
            let t = &mut before[x.offset + f * chunks..][..chunks];
            for c in 0..chunks {
                let share = g[c] * mask.factors(key, c);
                t[c] = if store { share } else { t[c] + share };
            }
        }
    })
}
