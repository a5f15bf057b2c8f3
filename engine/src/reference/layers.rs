//! The reference evaluator's image and softmax ops: plain loops over (feature, sample) in a
//! wide number type, written from the definitions in `tape.rs` and sharing nothing with the
//! fast path but the pooling scan and the dropout mask (both definitions, not arithmetic).
//!
//! Values are indexed `feature * batch + sample`. Each backward function returns, per input,
//! the contributions `(element, value)` to add to its gradient.

use crate::Real;
use crate::dropout::Mask;
use crate::eval::pool::scan;
use crate::tape::{Conv2d, Image, Window};

/// One input's gradient contributions.
pub(super) type Contributions<L> = Vec<(usize, L)>;

pub(super) fn conv_forward<L: Real>(
    conv: Conv2d,
    x: &[L],
    w: &[L],
    bias: &[L],
    batch: usize,
) -> Vec<L> {
    let (input, out, k) = (conv.input, conv.output(), conv.kernel);
    let mut y = Vec::with_capacity(out.features() * batch);
    let mut terms = Vec::with_capacity(conv.patch() + 1);
    for f in 0..conv.filters {
        for oy in 0..out.height {
            for ox in 0..out.width {
                for b in 0..batch {
                    terms.clear();
                    terms.push(bias[f]);
                    for c in 0..input.channels {
                        for ky in 0..k {
                            for kx in 0..k {
                                let weight = w[((f * input.channels + c) * k + ky) * k + kx];
                                let at = (c * input.height + oy + ky) * input.width + ox + kx;
                                terms.push(weight * x[at * batch + b]);
                            }
                        }
                    }
                    y.push(L::sum_unordered(&terms));
                }
            }
        }
    }
    y
}

/// Contributions to (input, weights, bias): each element's terms summed (in any order's
/// bound) into one contribution.
pub(super) fn conv_backward<L: Real>(
    conv: Conv2d,
    x: &[L],
    w: &[L],
    g: &[L],
    batch: usize,
) -> [Contributions<L>; 3] {
    let (input, out, k) = (conv.input, conv.output(), conv.kernel);
    let weight =
        |f: usize, c: usize, ky: usize, kx: usize| w[((f * input.channels + c) * k + ky) * k + kx];
    let grad = |f: usize, oy: usize, ox: usize, b: usize| {
        g[((f * out.height + oy) * out.width + ox) * batch + b]
    };
    let mut terms = Vec::new();
    let mut dx = Vec::with_capacity(input.features() * batch);
    for c in 0..input.channels {
        for y in 0..input.height {
            for x0 in 0..input.width {
                for b in 0..batch {
                    terms.clear();
                    for f in 0..conv.filters {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (oy, ox) = (y.wrapping_sub(ky), x0.wrapping_sub(kx));
                                if oy < out.height && ox < out.width {
                                    terms.push(grad(f, oy, ox, b) * weight(f, c, ky, kx));
                                }
                            }
                        }
                    }
                    let at = ((c * input.height + y) * input.width + x0) * batch + b;
                    dx.push((at, L::sum_unordered(&terms)));
                }
            }
        }
    }
    let mut dw = Vec::with_capacity(conv.filters * conv.patch());
    for f in 0..conv.filters {
        for c in 0..input.channels {
            for ky in 0..k {
                for kx in 0..k {
                    terms.clear();
                    for oy in 0..out.height {
                        for ox in 0..out.width {
                            for b in 0..batch {
                                let at = ((c * input.height + oy + ky) * input.width + ox + kx)
                                    * batch
                                    + b;
                                terms.push(grad(f, oy, ox, b) * x[at]);
                            }
                        }
                    }
                    dw.push((
                        ((f * input.channels + c) * k + ky) * k + kx,
                        L::sum_unordered(&terms),
                    ));
                }
            }
        }
    }
    let db = (0..conv.filters)
        .map(|f| {
            let start = f * out.height * out.width * batch;
            (
                f,
                L::sum_unordered(&g[start..start + out.height * out.width * batch]),
            )
        })
        .collect();
    [dx, dw, db]
}

/// The input elements of pooling block (c, oy, ox) for sample b.
fn pool_block(input: Image, c: usize, oy: usize, ox: usize, b: usize, batch: usize) -> [usize; 4] {
    let top = (c * input.height + 2 * oy) * input.width + 2 * ox;
    [top, top + 1, top + input.width, top + input.width + 1].map(|f| f * batch + b)
}

pub(super) fn pool_forward<L: Real>(input: Image, x: &[L], batch: usize) -> Vec<L> {
    let (oh, ow) = (input.height / 2, input.width / 2);
    let mut y = Vec::with_capacity(input.channels * oh * ow * batch);
    for c in 0..input.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                for b in 0..batch {
                    y.push(scan(pool_block(input, c, oy, ox, b, batch).map(|i| x[i])).0);
                }
            }
        }
    }
    y
}

pub(super) fn pool_backward<L: Real>(
    input: Image,
    x: &[L],
    g: &[L],
    batch: usize,
) -> Contributions<L> {
    let (oh, ow) = (input.height / 2, input.width / 2);
    let mut dx = Vec::new();
    for c in 0..input.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                for b in 0..batch {
                    let block = pool_block(input, c, oy, ox, b, batch);
                    let (_, chosen) = scan(block.map(|i| x[i]));
                    let gy = g[((c * oh + oy) * ow + ox) * batch + b];
                    for (i, pick) in block.into_iter().zip(chosen) {
                        dx.push((i, L::select(pick.equal(L::one()), gy, L::zero())));
                    }
                }
            }
        }
    }
    dx
}

/// Each element's dropout factor (`1 / (1 - rate)` or 0).
pub(super) fn dropout_factors(
    seed: u64,
    node: usize,
    rate: f32,
    features: usize,
    batch: usize,
) -> Vec<f32> {
    let mask = Mask::new(seed, node, rate);
    let mut factors = Vec::with_capacity(features * batch);
    for f in 0..features {
        let key = mask.feature_key(f);
        factors.extend((0..batch).map(|b| if mask.keeps(key, b) { mask.scale } else { 0.0 }));
    }
    factors
}

pub(super) fn softmax_forward<L: Real>(group: usize, x: &[L], batch: usize) -> Vec<L> {
    let mut y = vec![L::zero(); x.len()];
    for start in (0..x.len() / batch).step_by(group) {
        for b in 0..batch {
            let at = |k: usize| (start + k) * batch + b;
            let m = (1..group).fold(x[at(0)], |m, k| m.maximum(x[at(k)]));
            let e: Vec<L> = (0..group).map(|k| (x[at(k)] - m).exp()).collect();
            let sum = L::sum_unordered(&e);
            for (k, &e) in e.iter().enumerate() {
                y[at(k)] = e / sum;
            }
        }
    }
    y
}

pub(super) fn softmax_backward<L: Real>(
    group: usize,
    y: &[L],
    g: &[L],
    batch: usize,
) -> Contributions<L> {
    let mut dx = Vec::with_capacity(y.len());
    for start in (0..y.len() / batch).step_by(group) {
        for b in 0..batch {
            let at = |k: usize| (start + k) * batch + b;
            let products: Vec<L> = (0..group).map(|k| y[at(k)] * g[at(k)]).collect();
            let dot = L::sum_unordered(&products);
            for k in 0..group {
                dx.push((at(k), y[at(k)] * (g[at(k)] - dot)));
            }
        }
    }
    dx
}

/// (input feature, output feature) of every element of a window.
pub(super) fn window_features(window: Window) -> Vec<(usize, usize)> {
    let input = window.input;
    let mut pairs = Vec::new();
    for c in 0..input.channels {
        for y in 0..window.height {
            for x in 0..window.width {
                let from = (c * input.height + window.top + y) * input.width + window.left + x;
                pairs.push((from, (c * window.height + y) * window.width + x));
            }
        }
    }
    pairs
}
