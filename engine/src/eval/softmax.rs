//! Softmax over groups of features, lane by lane: `y_k = exp(x_k - m) / sum_j exp(x_j - m)`
//! with m the group's maximum, and PyTorch's backward `dx = y (g - sum_j y_j g_j)`.

use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen};
use crate::Real;
use crate::layout::{Layout, Loc};

pub(super) fn forward(group: usize, x: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let chunks = layout.chunks;
    Box::new(move |a: &mut Fwd| {
        let (src, dst) = a.rows.split_at_mut(out.offset);
        for j in 0..out.features / group {
            let x = &src[x.offset + j * group * chunks..][..group * chunks];
            let y = &mut dst[j * group * chunks..][..group * chunks];
            for c in 0..chunks {
                let mut m = x[c];
                for k in 1..group {
                    m = m.maximum(x[k * chunks + c]);
                }
                let mut sum = f32x8::ZERO;
                for k in 0..group {
                    let e = (x[k * chunks + c] - m).exp();
                    y[k * chunks + c] = e;
                    sum += e;
                }
                for k in 0..group {
                    y[k * chunks + c] /= sum;
                }
            }
        }
    })
}

pub(super) fn backward(
    group: usize,
    x: Loc,
    out: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    let chunks = layout.chunks;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.rows.split_at_mut(out.offset);
        for j in 0..out.features / group {
            let y = &seen.rows[out.offset + j * group * chunks..][..group * chunks];
            let g = &own[j * group * chunks..][..group * chunks];
            let t = &mut before[x.offset + j * group * chunks..][..group * chunks];
            for c in 0..chunks {
                let mut dot = f32x8::ZERO;
                for k in 0..group {
                    dot += g[k * chunks + c] * y[k * chunks + c];
                }
                for k in 0..group {
                    let at = k * chunks + c;
                    let share = y[at] * (g[at] - dot);
                    t[at] = if store { share } else { t[at] + share };
                }
            }
        }
    })
}
