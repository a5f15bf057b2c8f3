//! Forward steps: each node's value from its inputs.

use wide::f32x8;

use super::operand::{Operand, Row, flat_index, with_operand};
use super::{Dense, ForwardStep, Fwd, PARALLEL, batch_sum, fill_pieces, lanes, lanes_mut, vectors};
use crate::Real;
use crate::layout::{Layout, Loc, pick, with_param};
use crate::ops::{BinaryKernel, UnaryKernel, with_binary_kernel, with_unary_kernel};
use crate::simd::vector::Vector;
use crate::simd::width::Width;
use crate::tape::{BinaryOp, Op, Tape, UnaryOp};

/// The forward step of node `index`.
pub(crate) fn step<W: Width>(tape: &Tape, index: usize, layout: &Layout) -> ForwardStep {
    let node = &tape.nodes[index];
    let out = layout.locs[index];
    let input = |k: usize| layout.locs[node.inputs[k] as usize];
    let (chunks, batch) = (layout.chunks, layout.batch);
    match &node.op {
        Op::Unary(op @ (UnaryOp::Sin | UnaryOp::Cos)) if out.batched => {
            trig::<W>(*op == UnaryOp::Sin, input(0), out, chunks)
        }
        Op::Unary(op) => with_unary_kernel!(*op, k => unary::<W, _>(k, input(0), out, chunks)),
        Op::Binary(BinaryOp::Pow) => power::<W, false>(input(0), input(1), out, chunks),
        Op::Binary(BinaryOp::SignedPow) => power::<W, true>(input(0), input(1), out, chunks),
        Op::Binary(op) => {
            with_binary_kernel!(*op, k => binary::<W, _>(k, input(0), input(1), out, chunks))
        }
        Op::SumFeatures { group } => fold::<W, Plus>(input(0), out, *group, chunks),
        Op::ProdFeatures { group } => fold::<W, Times>(input(0), out, *group, chunks),
        Op::MeanBatch => {
            let (x, mask) = (input(0), layout.lane_mask.clone());
            let (x, chunks) = (vectors::<W::V>(x.offset), vectors::<W::V>(chunks));
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
        Op::MeanAll => {
            let count = (input(0).features * if input(0).batched { batch } else { 1 }) as f32;
            total::<W, false>(input(0), out, layout, move |sum| sum / count)
        }
        Op::SumAll => total::<W, false>(input(0), out, layout, |sum| sum),
        Op::Norm2 => total::<W, true>(input(0), out, layout, |sum| sum.sqrt()),
        Op::Matmul {
            inputs,
            outputs,
            layout: w_layout,
        } => {
            let dense = Dense {
                inputs: *inputs,
                outputs: *outputs,
                layout: *w_layout,
            };
            let (x, w) = (input(0), input(1));
            if super::dense::is_large(&dense, out) {
                super::dense::forward(dense, x, w, out, layout)
            } else if out.batched {
                let (x, offset) = (vectors::<W::V>(x.offset), vectors::<W::V>(out.offset));
                let chunks = vectors::<W::V>(chunks);
                Box::new(move |a: &mut Fwd| {
                    W::run(
                        #[inline(always)]
                        || {
                            let (src, dst) = lanes_mut::<W::V>(a.rows).split_at_mut(offset);
                            let w = &w.source(a.flat, a.params)[w.offset..];
                            matmul(&dense, &src[x..], w, dst, chunks)
                        },
                    )
                })
            } else {
                Box::new(move |a: &mut Fwd| {
                    let (src, dst) = a.flat.split_at_mut(out.offset);
                    let (x, w) = (
                        &x.source(src, a.params)[x.offset..],
                        &w.source(src, a.params)[w.offset..],
                    );
                    matmul(&dense, x, w, dst, 1)
                })
            }
        }
        Op::Concat => {
            let parts: Vec<Loc> = (0..node.inputs.len()).map(input).collect();
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
        Op::Tile { times } => {
            let (x, times) = (input(0), *times);
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
        Op::Mse => {
            let (y, t) = (input(0), input(1));
            let count = (y.features * if y.batched { batch } else { 1 }) as f32;
            if y.batched {
                let mask = layout.lane_mask.clone();
                let (yo, to) = (vectors::<W::V>(y.offset), vectors::<W::V>(t.offset));
                let chunks = vectors::<W::V>(chunks);
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
            } else {
                Box::new(move |a: &mut Fwd| {
                    let (yv, tv) = (y.source(a.flat, a.params), t.source(a.flat, a.params));
                    let mut sum = 0.0;
                    for f in 0..y.features {
                        let d = yv[y.offset + f] - tv[t.offset + f];
                        sum += d * d;
                    }
                    a.flat[out.offset] = sum / count;
                })
            }
        }
        Op::Conv2d(conv) => super::conv::forward(*conv, input(0), input(1), input(2), out, layout),
        Op::MaxPool2(image) => super::pool::forward(*image, input(0), out, layout),
        Op::Dropout { rate } => super::dropout::forward(index, *rate, input(0), out, layout),
        Op::Softmax { group } => super::softmax::forward(*group, input(0), out, layout),
        Op::Window(window) => super::window::forward(*window, input(0), out, layout),
        Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!("leaves are not computed"),
    }
}

fn unary<W: Width, K: UnaryKernel>(k: K, x: Loc, out: Loc, chunks: usize) -> ForwardStep {
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
        with_param!(x, P => unary_flat::<K, P>(k, x, out, len))
    }
}

fn unary_flat<K: UnaryKernel, const P: bool>(k: K, x: Loc, out: Loc, len: usize) -> ForwardStep {
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
fn trig<W: Width>(sine: bool, x: Loc, out: Loc, chunks: usize) -> ForwardStep {
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

fn binary<W: Width, K: BinaryKernel>(k: K, a: Loc, b: Loc, out: Loc, chunks: usize) -> ForwardStep {
    if !out.batched {
        return with_param!(a, PA => with_param!(b, PB => binary_flat::<K, PA, PB>(k, a, b, out)));
    }
    with_operand!(a, out.features, a => with_operand!(b, out.features, b => binary_rows::<W, _, _, _>(k, a, b, out, chunks)))
}

fn binary_flat<K: BinaryKernel, const PA: bool, const PB: bool>(
    k: K,
    a: Loc,
    b: Loc,
    out: Loc,
) -> ForwardStep {
    Box::new(move |arenas: &mut Fwd| {
        let (src, dst) = arenas.flat.split_at_mut(out.offset);
        let (av, bv) = (
            pick::<PA>(src, arenas.params),
            pick::<PB>(src, arenas.params),
        );
        for (f, y) in dst[..out.features].iter_mut().enumerate() {
            *y = k.value(av[flat_index(a, f)], bv[flat_index(b, f)]);
        }
    })
}

fn binary_rows<W: Width, K: BinaryKernel, A: Operand, B: Operand>(
    k: K,
    a: A,
    b: B,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    let (offset, chunks) = (vectors::<W::V>(out.offset), vectors::<W::V>(chunks));
    Box::new(move |arenas: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let (src, dst) = lanes_mut::<W::V>(arenas.rows).split_at_mut(offset);
                let (flat, params) = (&*arenas.flat, arenas.params);
                for f in 0..out.features {
                    let (a, b) = (
                        a.row(src, flat, params, f, chunks),
                        b.row(src, flat, params, f, chunks),
                    );
                    let y = &mut dst[f * chunks..][..chunks];
                    for c in 0..chunks {
                        y[c] = k.value(a.at(c), b.at(c));
                    }
                }
            },
        )
    })
}

/// base^exponent, or when `SIGNED` sgn(base) |base|^exponent, keeping ln|base| (ln(base)
/// when unsigned) in the node's auxiliary slot for the backward pass.
fn power<W: Width, const SIGNED: bool>(a: Loc, b: Loc, out: Loc, chunks: usize) -> ForwardStep {
    if !out.batched {
        return Box::new(move |arenas: &mut Fwd| {
            let (src, dst) = arenas.flat.split_at_mut(out.offset);
            let (av, bv) = (a.source(src, arenas.params), b.source(src, arenas.params));
            let (y, logs) = dst.split_at_mut(out.features);
            for f in 0..out.features {
                let (base, exponent) = (
                    f32x8::splat(av[flat_index(a, f)]),
                    f32x8::splat(bv[flat_index(b, f)]),
                );
                let (value, log) = if SIGNED {
                    let (power, log) = crate::math::pow_and_ln(base.abs(), exponent);
                    (base.sgn() * power, log)
                } else {
                    crate::math::pow_and_ln(base, exponent)
                };
                (y[f], logs[f]) = (value.to_array()[0], log.to_array()[0]);
            }
        });
    }
    with_operand!(a, out.features, a => with_operand!(b, out.features, b => power_rows::<W, _, _, SIGNED>(a, b, out, chunks)))
}

/// The rows of [`power`]; a signed power takes the powers of |base| and multiplies each row
/// by sgn(base) once it is done.
fn power_rows<W: Width, A: Operand, B: Operand, const SIGNED: bool>(
    a: A,
    b: B,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    let (offset, len) = (
        vectors::<W::V>(out.offset),
        vectors::<W::V>(out.len(chunks)),
    );
    let chunks = vectors::<W::V>(chunks);
    Box::new(move |arenas: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let (src, dst) = lanes_mut::<W::V>(arenas.rows).split_at_mut(offset);
                let (flat, params) = (&*arenas.flat, arenas.params);
                let (y, logs) = dst.split_at_mut(len);
                for f in 0..out.features {
                    let uniform = b.uniform(flat, params, f);
                    let (a, b) = (
                        a.row(src, flat, params, f, chunks),
                        b.row(src, flat, params, f, chunks),
                    );
                    let (y, logs) = (
                        &mut y[f * chunks..][..chunks],
                        &mut logs[f * chunks..][..chunks],
                    );
                    power_row::<W::V, SIGNED>(a, b, uniform, y, logs);
                }
            },
        )
    })
}

/// One row of [`power_rows`].
#[inline(always)]
fn power_row<V: Vector, const SIGNED: bool>(
    a: impl Row<V>,
    b: impl Row<V>,
    uniform: Option<f32>,
    y: &mut [V],
    logs: &mut [V],
) {
    let chunks = y.len();
    // |base| for a signed power
    #[inline(always)]
    fn base<V: Vector, const SIGNED: bool>(a: impl Row<V>, c: usize) -> V {
        if SIGNED {
            Vector::abs(a.at(c))
        } else {
            a.at(c)
        }
    }
    // an unbatched exponent (a weight broadcast over the batch) is settled per row
    if let Some(exponent) = uniform {
        crate::math::pow_and_ln_row(
            #[inline(always)]
            |c| base::<V, SIGNED>(a, c),
            exponent,
            y,
            logs,
        );
    } else {
        // two vectors at a time: pow is latency-bound, interleaving doubles throughput
        let mut c = 0;
        while c + 2 <= chunks {
            let [p0, p1] = crate::math::pow_and_ln_pair(
                [base::<V, SIGNED>(a, c), base::<V, SIGNED>(a, c + 1)],
                [b.at(c), b.at(c + 1)],
            );
            (y[c], logs[c]) = p0;
            (y[c + 1], logs[c + 1]) = p1;
            c += 2;
        }
        if c < chunks {
            (y[c], logs[c]) = crate::math::pow_and_ln(base::<V, SIGNED>(a, c), b.at(c));
        }
    }
    if SIGNED {
        for (c, y) in y.iter_mut().enumerate() {
            *y = a.at(c).sgn() * *y;
        }
    }
}

/// An associative combination of features (sum or product).
trait Combine: 'static {
    fn combine<L: Real>(a: L, b: L) -> L;
}

struct Plus;
struct Times;

impl Combine for Plus {
    #[inline(always)]
    fn combine<L: Real>(a: L, b: L) -> L {
        a + b
    }
}

impl Combine for Times {
    #[inline(always)]
    fn combine<L: Real>(a: L, b: L) -> L {
        a * b
    }
}

fn fold<W: Width, C: Combine>(x: Loc, out: Loc, group: usize, chunks: usize) -> ForwardStep {
    if out.batched {
        let (x, offset) = (vectors::<W::V>(x.offset), vectors::<W::V>(out.offset));
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |a: &mut Fwd| {
            W::run(
                #[inline(always)]
                || {
                    let (src, dst) = lanes_mut::<W::V>(a.rows).split_at_mut(offset);
                    fold_groups::<C, W::V>(&src[x..], dst, chunks, out.features, group)
                },
            )
        })
    } else {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.flat.split_at_mut(out.offset);
            let x = &x.source(src, a.params)[x.offset..];
            fold_groups::<C, f32>(x, dst, 1, out.features, group)
        })
    }
}

/// `y_j = x_{j g} ∘ x_{j g + 1} ∘ ... ∘ x_{j g + g - 1}`, left to right, per lane.
#[inline(always)]
fn fold_groups<C: Combine, L: Real>(
    x: &[L],
    y: &mut [L],
    width: usize,
    outputs: usize,
    group: usize,
) {
    for j in 0..outputs {
        let y = &mut y[j * width..][..width];
        let members = &x[j * group * width..][..group * width];
        y.copy_from_slice(&members[..width]);
        for k in 1..group {
            let member = &members[k * width..][..width];
            for c in 0..width {
                y[c] = C::combine(y[c], member[c]);
            }
        }
    }
}

/// A reduction of every real element to one value: `finish(sum of term(element))`, the
/// term the element or (`SQUARE`) its square.
fn total<W: Width, const SQUARE: bool>(
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

/// `y_o = sum_i x_i w_io`, accumulated in input order with fused multiply-adds.
#[inline(always)]
fn matmul<L: Real>(dense: &Dense, x: &[L], w: &[f32], y: &mut [L], width: usize) {
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
