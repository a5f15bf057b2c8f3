//! Inverted dropout: each element times its mask factor (`1 / (1 - rate)` or 0), the same
//! factor forward and backward (see [`crate::dropout`]); features in parallel for large
//! tensors.

use rayon::prelude::*;
use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, PARALLEL, Seen};
use crate::dropout::Mask;
use crate::layout::{Layout, Loc};

/// Features per piece when the work is split between threads.
const FEATURES_PER_PIECE: usize = 256;

/// Runs `row(f, out row, in row)` for every feature, in parallel when the tensor is large.
fn per_feature(
    out: &mut [f32x8],
    input: &[f32x8],
    chunks: usize,
    large: bool,
    row: impl Fn(usize, &mut [f32x8], &[f32x8]) + Sync,
) {
    let piece = FEATURES_PER_PIECE * chunks;
    let run = |p: usize, out: &mut [f32x8], input: &[f32x8]| {
        for (i, (o, x)) in out.chunks_mut(chunks).zip(input.chunks(chunks)).enumerate() {
            row(p * FEATURES_PER_PIECE + i, o, x);
        }
    };
    if large {
        out.par_chunks_mut(piece)
            .zip(input.par_chunks(piece))
            .enumerate()
            .for_each(|(p, (o, x))| run(p, o, x));
    } else {
        for (p, (o, x)) in out.chunks_mut(piece).zip(input.chunks(piece)).enumerate() {
            run(p, o, x);
        }
    }
}

pub(super) fn forward(node: usize, rate: f32, x: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let chunks = layout.chunks;
    let large = out.len(chunks) >= PARALLEL;
    Box::new(move |a: &mut Fwd| {
        let mask = Mask::new(a.noise_seed, node, rate);
        let (src, dst) = a.rows.split_at_mut(out.offset);
        per_feature(
            &mut dst[..out.len(chunks)],
            &src[x.range(chunks)],
            chunks,
            large,
            |f, y, x| {
                let key = mask.feature_key(f);
                for c in 0..chunks {
                    y[c] = x[c] * mask.factors(key, c);
                }
            },
        );
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
    let large = out.len(chunks) >= PARALLEL;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let mask = Mask::new(seen.noise_seed, node, rate);
        let (before, own) = grads.rows.split_at_mut(out.offset);
        per_feature(
            &mut before[x.range(chunks)],
            &own[..out.len(chunks)],
            chunks,
            large,
            |f, t, g| {
                let key = mask.feature_key(f);
                for c in 0..chunks {
                    let share = g[c] * mask.factors(key, c);
                    t[c] = if store { share } else { t[c] + share };
                }
            },
        );
    })
}
