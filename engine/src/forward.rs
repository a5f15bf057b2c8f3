//! The forward pass: every node's value from its inputs, in tape order.

use wide::f32x8;

use crate::Real;
use crate::access::{Before, Src, View, ViewMut, batch_sum, split_at_node};
use crate::buffers::Values;
use crate::ops::{BinaryKernel, UnaryKernel, with_binary_kernel, with_unary_kernel};
use crate::tape::{Op, Tape, WeightLayout};

/// Computes every node of `tape` from the inputs, parameters and constants in `values`.
///
/// Allocates nothing. Inputs must have been written (see [`Values::feature_mut`] and
/// [`Values::flat_mut`]); parameters live in [`Values::params_mut`].
///
/// # Panics
/// If `values` was created for another tape.
pub fn forward(tape: &Tape, values: &mut Values) {
    values.layout.check(tape);
    let Values { layout, rows, flat } = values;
    let chunks = layout.chunks;
    for (index, node) in tape.nodes.iter().enumerate() {
        if matches!(node.op, Op::Input | Op::Param { .. } | Op::Const { .. }) {
            continue;
        }
        let (before, out) = split_at_node(layout, rows, flat, index);
        let input = |k: usize| before.view(node.inputs[k]);
        match &node.op {
            Op::Unary(op) => with_unary_kernel!(*op, k => unary(k, input(0), out)),
            Op::Binary(op) => {
                with_binary_kernel!(*op, k => binary(k, input(0), input(1), out, chunks))
            }
            Op::SumFeatures { group } => fold_features::<Plus>(input(0), out, *group, chunks),
            Op::ProdFeatures { group } => fold_features::<Times>(input(0), out, *group, chunks),
            Op::MeanBatch => {
                let x = input(0).rows();
                let y = flat_out(out);
                let batch = layout.batch as f32;
                for (y, row) in y.iter_mut().zip(x.chunks_exact(chunks)) {
                    *y = batch_sum(&layout.lane_mask, |c| row[c]) / batch;
                }
            }
            Op::MeanAll => {
                let (sum, count) = total(input(0), &before, |v| v, |v| v);
                flat_out(out)[0] = sum / count as f32;
            }
            Op::SumAll => flat_out(out)[0] = total(input(0), &before, |v| v, |v| v).0,
            Op::Norm2 => {
                let (sum, _) = total(input(0), &before, |v| v * v, |v| v * v);
                flat_out(out)[0] = sum.sqrt();
            }
            Op::Matmul {
                inputs,
                outputs,
                layout: w_layout,
            } => {
                let w = input(1).flat();
                let shape = Dense {
                    inputs: *inputs,
                    outputs: *outputs,
                    layout: *w_layout,
                };
                match (input(0), out) {
                    (View::Rows(x), ViewMut::Rows(y)) => shape.forward(x, w, y, chunks),
                    (View::Flat(x), ViewMut::Flat(y)) => shape.forward(x, w, y, 1),
                    _ => unreachable!("matmul changes batchedness"),
                }
            }
            Op::Concat => match out {
                ViewMut::Rows(y) => concat(node.inputs.iter().map(|&i| before.view(i).rows()), y),
                ViewMut::Flat(y) => concat(node.inputs.iter().map(|&i| before.view(i).flat()), y),
            },
            Op::Tile { .. } => match (input(0), out) {
                (View::Rows(x), ViewMut::Rows(y)) => tile(x, y),
                (View::Flat(x), ViewMut::Flat(y)) => tile(x, y),
                _ => unreachable!("tile changes batchedness"),
            },
            Op::Mse => {
                let (y, t) = (input(0), input(1));
                let (sum, count) = match (y, t) {
                    (View::Rows(y), View::Rows(t)) => {
                        let sum = y
                            .chunks_exact(chunks)
                            .zip(t.chunks_exact(chunks))
                            .map(|(y, t)| {
                                batch_sum(&layout.lane_mask, |c| {
                                    let d = y[c] - t[c];
                                    d * d
                                })
                            })
                            .fold(0.0, |acc, s| acc + s);
                        (sum, y.len() / chunks * layout.batch)
                    }
                    (View::Flat(y), View::Flat(t)) => {
                        let sum = y
                            .iter()
                            .zip(t)
                            .fold(0.0, |acc, (&y, &t)| acc + (y - t) * (y - t));
                        (sum, y.len())
                    }
                    _ => unreachable!("mse of mixed batchedness"),
                };
                flat_out(out)[0] = sum / count as f32;
            }
            Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!(),
        }
    }
}

fn flat_out(out: ViewMut<'_>) -> &mut [f32] {
    match out {
        ViewMut::Flat(y) => y,
        ViewMut::Rows(_) => unreachable!("reduction into a batched node"),
    }
}

/// Sum of `term(element)` over every real element of a tensor, and the element count.
fn total(
    x: View<'_>,
    before: &Before<'_>,
    term_rows: impl Fn(f32x8) -> f32x8,
    term_flat: impl Fn(f32) -> f32,
) -> (f32, usize) {
    let layout = before.layout;
    match x {
        View::Rows(rows) => {
            let sum = rows
                .chunks_exact(layout.chunks)
                .map(|row| batch_sum(&layout.lane_mask, |c| term_rows(row[c])))
                .fold(0.0, |acc, s| acc + s);
            (sum, rows.len() / layout.chunks * layout.batch)
        }
        View::Flat(values) => (
            values.iter().fold(0.0, |acc, &v| acc + term_flat(v)),
            values.len(),
        ),
    }
}

fn unary<K: UnaryKernel>(k: K, x: View<'_>, out: ViewMut<'_>) {
    match (x, out) {
        (View::Rows(x), ViewMut::Rows(y)) => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = k.value(x);
            }
        }
        (View::Flat(x), ViewMut::Flat(y)) => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = k.value(x);
            }
        }
        _ => unreachable!("unary op changes batchedness"),
    }
}

fn binary<K: BinaryKernel>(k: K, a: View<'_>, b: View<'_>, out: ViewMut<'_>, chunks: usize) {
    match out {
        ViewMut::Rows(y) => {
            for (f, y) in y.chunks_exact_mut(chunks).enumerate() {
                match (a.batched_src(f, chunks), b.batched_src(f, chunks)) {
                    (Src::Row(a), Src::Row(b)) => {
                        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
                            *y = k.value(a, b);
                        }
                    }
                    (Src::Row(a), Src::Splat(b)) => {
                        for (y, &a) in y.iter_mut().zip(a) {
                            *y = k.value(a, b);
                        }
                    }
                    (Src::Splat(a), Src::Row(b)) => {
                        for (y, &b) in y.iter_mut().zip(b) {
                            *y = k.value(a, b);
                        }
                    }
                    (Src::Splat(a), Src::Splat(b)) => y.fill(k.value(a, b)),
                }
            }
        }
        ViewMut::Flat(y) => {
            for (f, y) in y.iter_mut().enumerate() {
                *y = k.value(a.scalar(f), b.scalar(f));
            }
        }
    }
}

/// An associative combination of features (sum or product).
pub(crate) trait Combine {
    fn combine<L: Real>(a: L, b: L) -> L;
}

pub(crate) struct Plus;
pub(crate) struct Times;

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

fn fold_features<C: Combine>(x: View<'_>, out: ViewMut<'_>, group: usize, chunks: usize) {
    match (x, out) {
        (View::Rows(x), ViewMut::Rows(y)) => fold_groups::<C, f32x8>(x, y, chunks, group),
        (View::Flat(x), ViewMut::Flat(y)) => fold_groups::<C, f32>(x, y, 1, group),
        _ => unreachable!("feature reduction changes batchedness"),
    }
}

/// `y_j = x_{j g} ∘ x_{j g + 1} ∘ ... ∘ x_{j g + g - 1}`, left to right, per lane.
fn fold_groups<C: Combine, L: Real>(x: &[L], y: &mut [L], width: usize, group: usize) {
    for (j, yj) in y.chunks_exact_mut(width).enumerate() {
        let members = &x[j * group * width..(j + 1) * group * width];
        yj.copy_from_slice(&members[..width]);
        for member in members.chunks_exact(width).skip(1) {
            for (acc, &v) in yj.iter_mut().zip(member) {
                *acc = C::combine(*acc, v);
            }
        }
    }
}

/// Geometry of a dense product `[.., inputs] x [inputs, outputs]`.
#[derive(Clone, Copy)]
pub(crate) struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub layout: WeightLayout,
}

impl Dense {
    #[inline]
    pub fn weight_index(&self, i: usize, o: usize) -> usize {
        match self.layout {
            WeightLayout::InOut => i * self.outputs + o,
            WeightLayout::OutIn => o * self.inputs + i,
        }
    }

    /// `y_o = sum_i x_i w_io`, accumulated in input order with fused multiply-adds.
    fn forward<L: Real>(&self, x: &[L], w: &[f32], y: &mut [L], width: usize) {
        for (o, yo) in y.chunks_exact_mut(width).enumerate() {
            for (i, xi) in x.chunks_exact(width).enumerate() {
                let wio = L::splat(w[self.weight_index(i, o)]);
                if i == 0 {
                    for (y, &x) in yo.iter_mut().zip(xi) {
                        *y = x * wio;
                    }
                } else {
                    for (y, &x) in yo.iter_mut().zip(xi) {
                        *y = x.mul_add(wio, *y);
                    }
                }
            }
        }
    }
}

fn concat<'a, L: Copy + 'a>(parts: impl Iterator<Item = &'a [L]>, y: &mut [L]) {
    let mut at = 0;
    for part in parts {
        y[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
}

fn tile<L: Copy>(x: &[L], y: &mut [L]) {
    for copy in y.chunks_exact_mut(x.len()) {
        copy.copy_from_slice(x);
    }
}
