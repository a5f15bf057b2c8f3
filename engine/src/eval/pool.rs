//! 2 x 2 max-pooling with stride 2, lane by lane over the batch, channel by channel (in
//! parallel for large tensors).
//!
//! The maximum follows PyTorch's scan of the block (top left, top right, bottom left, bottom
//! right): a value replaces the running maximum when it is larger or NaN. The backward pass
//! repeats the scan and sends the gradient to the element the scan ended on.

use rayon::prelude::*;
use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, PARALLEL, Seen};
use crate::Real;
use crate::layout::{Layout, Loc};
use crate::tape::Image;

/// PyTorch's scan of one block, in any number type: a value replaces the running maximum
/// when it is larger or NaN. Returns the maximum and, per element, one where the scan ended
/// on it (else zero).
#[inline(always)]
pub(crate) fn scan<L: Real>(v: [L; 4]) -> (L, [L; 4]) {
    let (zero, one) = (L::zero(), L::one());
    let mut m = v[0];
    let mut chosen = [one, zero, zero, zero];
    for j in 1..4 {
        let replaces = v[j].gt(m) | v[j].is_nan();
        for earlier in &mut chosen[..j] {
            *earlier = L::select(replaces, zero, *earlier);
        }
        chosen[j] = L::select(replaces, one, zero);
        m = L::select(replaces, v[j], m);
    }
    (m, chosen)
}

/// The features of block (oy, ox) within one channel's plane.
#[inline(always)]
pub(super) fn block(input: Image, oy: usize, ox: usize) -> [usize; 4] {
    let top = 2 * oy * input.width + 2 * ox;
    [top, top + 1, top + input.width, top + input.width + 1]
}

/// Runs `work(c, the rows of c in out)` for every channel, in parallel when the tensor is
/// large.
fn per_channel(
    out: &mut [f32x8],
    per_channel: usize,
    large: bool,
    work: impl Fn(usize, &mut [f32x8]) + Sync,
) {
    if large {
        out.par_chunks_mut(per_channel)
            .enumerate()
            .for_each(|(c, o)| work(c, o));
    } else {
        for (c, o) in out.chunks_mut(per_channel).enumerate() {
            work(c, o);
        }
    }
}

pub(super) fn forward(input: Image, x: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let chunks = layout.chunks;
    let (oh, ow) = (input.height / 2, input.width / 2);
    let large = x.len(chunks) >= PARALLEL;
    let plane = input.height * input.width * chunks;
    Box::new(move |a: &mut Fwd| {
        let (src, dst) = a.rows.split_at_mut(out.offset);
        let (x, y) = (&src[x.range(chunks)], &mut dst[..out.len(chunks)]);
        per_channel(y, oh * ow * chunks, large, |c, y| {
            let x = &x[c * plane..][..plane];
            for oy in 0..oh {
                for ox in 0..ow {
                    let rows = block(input, oy, ox).map(|f| &x[f * chunks..][..chunks]);
                    let y = &mut y[(oy * ow + ox) * chunks..][..chunks];
                    for k in 0..chunks {
                        y[k] = scan(rows.map(|row| row[k])).0;
                    }
                }
            }
        });
    })
}

pub(super) fn backward(
    input: Image,
    x: Loc,
    out: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    let chunks = layout.chunks;
    let (oh, ow) = (input.height / 2, input.width / 2);
    let large = x.len(chunks) >= PARALLEL;
    let plane = input.height * input.width * chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.rows.split_at_mut(out.offset);
        let dx = &mut before[x.range(chunks)];
        let xv = &seen.rows[x.range(chunks)];
        let g = &own[..out.len(chunks)];
        let out_plane = oh * ow * chunks;
        per_channel(dx, plane, large, |c, dx| {
            let (xv, g) = (&xv[c * plane..][..plane], &g[c * out_plane..][..out_plane]);
            if store {
                // an odd last row or column is in no block
                dx.fill(f32x8::ZERO);
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    let features = block(input, oy, ox);
                    let g = &g[(oy * ow + ox) * chunks..][..chunks];
                    for k in 0..chunks {
                        let (_, chosen) = scan(features.map(|f| xv[f * chunks + k]));
                        for (j, &f) in features.iter().enumerate() {
                            // a select, so a NaN gradient reaches only the chosen element
                            let share =
                                f32x8::select(chosen[j].equal(f32x8::ONE), g[k], f32x8::ZERO);
                            let t = &mut dx[f * chunks + k];
                            *t = if store { share } else { *t + share };
                        }
                    }
                }
            }
        });
    })
}
