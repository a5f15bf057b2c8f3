//! A rectangle of every channel of an image: each of its rows is a run of whole feature rows.

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen};
use crate::layout::{Layout, Loc};
use crate::tape::Window;

/// (input feature, output feature) of the first feature of every run, and the run length.
fn runs(window: Window) -> (Vec<(usize, usize)>, usize) {
    let input = window.input;
    let mut starts = Vec::with_capacity(input.channels * window.height);
    for c in 0..input.channels {
        for y in 0..window.height {
            let from = (c * input.height + window.top + y) * input.width + window.left;
            starts.push((from, (c * window.height + y) * window.width));
        }
    }
    (starts, window.width)
}

pub(super) fn forward(window: Window, x: Loc, out: Loc, layout: &Layout) -> ForwardStep {
    let chunks = layout.chunks;
    let (starts, width) = runs(window);
    Box::new(move |a: &mut Fwd| {
        let (src, dst) = a.rows.split_at_mut(out.offset);
        for &(from, to) in &starts {
            dst[to * chunks..][..width * chunks]
                .copy_from_slice(&src[x.offset + from * chunks..][..width * chunks]);
        }
    })
}

pub(super) fn backward(window: Window, x: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let chunks = layout.chunks;
    let (starts, width) = runs(window);
    Box::new(move |_: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.rows.split_at_mut(out.offset);
        for &(from, to) in &starts {
            let t = &mut before[x.offset + from * chunks..][..width * chunks];
            for (t, &g) in t.iter_mut().zip(&own[to * chunks..][..width * chunks]) {
                *t += g;
            }
        }
    })
}
