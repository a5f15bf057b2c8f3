//! The backward pass: gradients of the tape's output, in reverse tape order.
//!
//! Each op adds its inputs' gradient contributions with `+=`, so a node used several times
//! receives all of them. Only nodes on a path from a parameter (or an input recorded with
//! gradients) to the output are visited, and only their differentiable inputs receive
//! anything: `sign`, `round`, indicators and `detach` stop upstream values, NaN included.
//! Nothing is skipped because a gradient happens to be zero (`0 * inf` must stay NaN).

use wide::f32x8;

use crate::Real;
use crate::access::{GradSplit, Src, View, ViewMut, batch_sum, split_grads_at_node, view};
use crate::buffers::{Grads, Layout, Slot, Values};
use crate::forward::Dense;
use crate::ops::{BinaryKernel, UnaryKernel, with_binary_kernel, with_unary_kernel};
use crate::tape::{Node, Op, Tape};

/// Fills `grads` with the gradient of the tape's output (a single unbatched value) with
/// respect to every node that needs one, from the forward values in `values`.
///
/// Allocates nothing.
///
/// # Panics
/// If the buffers belong to another tape or batch size, or the output is not a single
/// unbatched value.
pub fn backward(tape: &Tape, values: &Values, grads: &mut Grads) {
    values.layout.check(tape);
    grads.layout.check(tape);
    assert_eq!(
        values.layout.batch, grads.layout.batch,
        "values and gradients differ in batch size"
    );
    let output = tape.output();
    let out_node = tape.node(output);
    assert!(
        !out_node.shape.batched && out_node.shape.features == 1,
        "backward: the output must be a single unbatched value"
    );
    let Grads {
        layout,
        rows,
        flat,
        scratch,
    } = grads;
    for (index, node) in tape.nodes.iter().enumerate() {
        if node.needs_grad {
            match layout.slots[index] {
                Slot::Rows { offset, features } => {
                    rows[offset..offset + features * layout.chunks].fill(f32x8::ZERO)
                }
                Slot::Flat { offset, len } => flat[offset..offset + len].fill(0.0),
            }
        }
    }
    if !out_node.needs_grad {
        return;
    }
    if let Slot::Flat { offset, .. } = layout.slots[output.index()] {
        flat[offset] = 1.0;
    }
    for (index, node) in tape.nodes.iter().enumerate().rev() {
        if !node.needs_grad || !node.op.is_differentiable() {
            continue;
        }
        let split = split_grads_at_node(layout, rows, flat, index);
        node_backward(tape, node, index, values, split, scratch);
    }
}

fn node_backward(
    tape: &Tape,
    node: &Node,
    index: usize,
    values: &Values,
    mut grads: GradSplit<'_>,
    scratch: &mut [f32x8],
) {
    let layout: &Layout = &values.layout;
    let chunks = layout.chunks;
    let value = |node: u32| view(layout, &values.rows, &values.flat, node);
    let needs = |k: usize| tape.nodes[node.inputs[k] as usize].needs_grad;
    let out = value(index as u32);
    let g = grads.own;
    match &node.op {
        Op::Unary(op) => with_unary_kernel!(*op, k => {
            let gx = grads.input(node.inputs[0]);
            unary(k, value(node.inputs[0]), out, g, gx)
        }),
        Op::Binary(op) => with_binary_kernel!(*op, k => {
            let (a, b) = (value(node.inputs[0]), value(node.inputs[1]));
            for side in 0..2 {
                if needs(side) {
                    let target = grads.input(node.inputs[side]);
                    binary(k, side, a, b, out, g, target, layout);
                }
            }
        }),
        Op::SumFeatures { group } => {
            let group = *group;
            match (g, grads.input(node.inputs[0])) {
                (View::Rows(g), ViewMut::Rows(gx)) => spread_groups(g, gx, chunks, group),
                (View::Flat(g), ViewMut::Flat(gx)) => spread_groups(g, gx, 1, group),
                _ => unreachable!(),
            }
        }
        Op::ProdFeatures { group } => {
            let group = *group;
            let x = value(node.inputs[0]);
            match (x, g, grads.input(node.inputs[0])) {
                (View::Rows(x), View::Rows(g), ViewMut::Rows(gx)) => {
                    product_grad(x, g, gx, chunks, group, scratch)
                }
                (View::Flat(x), View::Flat(g), ViewMut::Flat(gx)) => {
                    product_grad_flat(x, g, gx, group, flat_scratch(scratch, group))
                }
                _ => unreachable!(),
            }
        }
        Op::MeanBatch => {
            let g = g.flat();
            let ViewMut::Rows(gx) = grads.input(node.inputs[0]) else {
                unreachable!()
            };
            let batch = layout.batch as f32;
            for (row, &gf) in gx.chunks_exact_mut(chunks).zip(g) {
                let share = f32x8::splat(gf / batch);
                for v in row {
                    *v += share;
                }
            }
        }
        Op::MeanAll | Op::SumAll => {
            let g = g.flat()[0];
            let gx = grads.input(node.inputs[0]);
            let count = match &gx {
                ViewMut::Rows(r) => r.len() / chunks * layout.batch,
                ViewMut::Flat(f) => f.len(),
            };
            let share = if node.op == Op::MeanAll {
                g / count as f32
            } else {
                g
            };
            add_everywhere(gx, share);
        }
        Op::Norm2 => {
            let g = g.flat()[0];
            let norm = out.flat()[0];
            let scale = g / norm;
            match (value(node.inputs[0]), grads.input(node.inputs[0])) {
                (View::Rows(x), ViewMut::Rows(gx)) => {
                    let scale = f32x8::splat(scale);
                    for (gx, &x) in gx.iter_mut().zip(x) {
                        // torch: 0 where the norm is 0
                        *gx += if norm == 0.0 { f32x8::ZERO } else { x * scale };
                    }
                }
                (View::Flat(x), ViewMut::Flat(gx)) => {
                    for (gx, &x) in gx.iter_mut().zip(x) {
                        *gx += if norm == 0.0 { 0.0 } else { x * scale };
                    }
                }
                _ => unreachable!(),
            }
        }
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
            let (x, w) = (value(node.inputs[0]), value(node.inputs[1]).flat());
            if needs(0) {
                match (g, grads.input(node.inputs[0])) {
                    (View::Rows(g), ViewMut::Rows(gx)) => {
                        dense_grad_input(&dense, g, w, gx, chunks)
                    }
                    (View::Flat(g), ViewMut::Flat(gx)) => dense_grad_input(&dense, g, w, gx, 1),
                    _ => unreachable!(),
                }
            }
            if needs(1) {
                let ViewMut::Flat(gw) = grads.input(node.inputs[1]) else {
                    unreachable!()
                };
                dense_grad_weight(&dense, g, x, gw, layout);
            }
        }
        Op::Concat => {
            let mut at = 0;
            for (k, &input) in node.inputs.iter().enumerate() {
                let width = value(input);
                let len = match width {
                    View::Rows(r) => r.len(),
                    View::Flat(f) => f.len(),
                };
                if needs(k) {
                    match (g, grads.input(input)) {
                        (View::Rows(g), ViewMut::Rows(gx)) => add_slice(gx, &g[at..at + len]),
                        (View::Flat(g), ViewMut::Flat(gx)) => add_slice(gx, &g[at..at + len]),
                        _ => unreachable!(),
                    }
                }
                at += len;
            }
        }
        Op::Tile { .. } => match (g, grads.input(node.inputs[0])) {
            (View::Rows(g), ViewMut::Rows(gx)) => {
                let len = gx.len();
                for copy in g.chunks_exact(len) {
                    add_slice(gx, copy);
                }
            }
            (View::Flat(g), ViewMut::Flat(gx)) => {
                let len = gx.len();
                for copy in g.chunks_exact(len) {
                    add_slice(gx, copy);
                }
            }
            _ => unreachable!(),
        },
        Op::Mse => {
            let g = g.flat()[0];
            let (y, t) = (value(node.inputs[0]), value(node.inputs[1]));
            let count = match y {
                View::Rows(r) => r.len() / chunks * layout.batch,
                View::Flat(f) => f.len(),
            };
            // PyTorch: grad_input = (input - target) * (2 / numel) * grad, the factor
            // formed in double precision.
            let norm = (2.0 / count as f64) as f32;
            for side in 0..2 {
                if !needs(side) {
                    continue;
                }
                let sign = if side == 0 { 1.0 } else { -1.0 };
                match (y, t, grads.input(node.inputs[side])) {
                    (View::Rows(y), View::Rows(t), ViewMut::Rows(gx)) => {
                        let (norm, g, sign) =
                            (f32x8::splat(norm), f32x8::splat(g), f32x8::splat(sign));
                        for ((gx, &y), &t) in gx.iter_mut().zip(y).zip(t) {
                            *gx += sign * (((y - t) * norm) * g);
                        }
                    }
                    (View::Flat(y), View::Flat(t), ViewMut::Flat(gx)) => {
                        for ((gx, &y), &t) in gx.iter_mut().zip(y).zip(t) {
                            *gx += sign * (((y - t) * norm) * g);
                        }
                    }
                    _ => unreachable!(),
                }
            }
        }
        Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!(),
    }
}

fn unary<K: UnaryKernel>(k: K, x: View<'_>, y: View<'_>, g: View<'_>, gx: ViewMut<'_>) {
    match (x, y, g, gx) {
        (View::Rows(x), View::Rows(y), View::Rows(g), ViewMut::Rows(gx)) => {
            for (((gx, &x), &y), &g) in gx.iter_mut().zip(x).zip(y).zip(g) {
                *gx += k.grad(x, y, g);
            }
        }
        (View::Flat(x), View::Flat(y), View::Flat(g), ViewMut::Flat(gx)) => {
            for (((gx, &x), &y), &g) in gx.iter_mut().zip(x).zip(y).zip(g) {
                *gx += k.grad(x, y, g);
            }
        }
        _ => unreachable!("unary op changes batchedness"),
    }
}

/// Lane values of an operand: its own row, or one broadcast value.
trait Operand: Copy {
    fn at(self, c: usize) -> f32x8;
}

impl Operand for &[f32x8] {
    #[inline(always)]
    fn at(self, c: usize) -> f32x8 {
        self[c]
    }
}

impl Operand for f32x8 {
    #[inline(always)]
    fn at(self, _c: usize) -> f32x8 {
        self
    }
}

#[inline(always)]
fn side_grad<K: BinaryKernel, L: Real>(k: K, side: usize, a: L, b: L, y: L, g: L) -> L {
    if side == 0 {
        k.grad_a(a, b, y, g)
    } else {
        k.grad_b(a, b, y, g)
    }
}

/// Gradient of a binary op's input `side` (0 = a, 1 = b).
#[allow(clippy::too_many_arguments)]
fn binary<K: BinaryKernel>(
    k: K,
    side: usize,
    a: View<'_>,
    b: View<'_>,
    y: View<'_>,
    g: View<'_>,
    target: ViewMut<'_>,
    layout: &Layout,
) {
    let chunks = layout.chunks;
    let target_features = match &target {
        ViewMut::Rows(r) => r.len() / chunks,
        ViewMut::Flat(f) => f.len(),
    };
    match (y, g) {
        (View::Rows(y), View::Rows(g)) => {
            let mut target = target;
            for (f, (y, g)) in y
                .chunks_exact(chunks)
                .zip(g.chunks_exact(chunks))
                .enumerate()
            {
                let tf = if target_features == 1 { 0 } else { f };
                let sink = match &mut target {
                    ViewMut::Rows(r) => Sink::Row(&mut r[tf * chunks..(tf + 1) * chunks]),
                    ViewMut::Flat(v) => Sink::Sum(&mut v[tf], &layout.lane_mask),
                };
                match (a.batched_src(f, chunks), b.batched_src(f, chunks)) {
                    (Src::Row(a), Src::Row(b)) => binary_lanes(k, side, a, b, y, g, sink),
                    (Src::Row(a), Src::Splat(b)) => binary_lanes(k, side, a, b, y, g, sink),
                    (Src::Splat(a), Src::Row(b)) => binary_lanes(k, side, a, b, y, g, sink),
                    (Src::Splat(a), Src::Splat(b)) => binary_lanes(k, side, a, b, y, g, sink),
                }
            }
        }
        (View::Flat(y), View::Flat(g)) => {
            let ViewMut::Flat(target) = target else {
                unreachable!()
            };
            for (f, (&y, &g)) in y.iter().zip(g).enumerate() {
                let tf = if target_features == 1 { 0 } else { f };
                target[tf] += side_grad(k, side, a.scalar(f), b.scalar(f), y, g);
            }
        }
        _ => unreachable!(),
    }
}

/// Where a row of gradient contributions goes: into a batched input's row, or summed over the
/// real samples into one value of an unbatched (broadcast) input.
enum Sink<'a> {
    Row(&'a mut [f32x8]),
    Sum(&'a mut f32, &'a [f32x8]),
}

#[inline(always)]
fn binary_lanes<K: BinaryKernel, A: Operand, B: Operand>(
    k: K,
    side: usize,
    a: A,
    b: B,
    y: &[f32x8],
    g: &[f32x8],
    sink: Sink<'_>,
) {
    match sink {
        Sink::Row(row) => {
            for (c, ((t, &y), &g)) in row.iter_mut().zip(y).zip(g).enumerate() {
                *t += side_grad(k, side, a.at(c), b.at(c), y, g);
            }
        }
        Sink::Sum(total, mask) => {
            let mut acc = f32x8::ZERO;
            for (c, ((&m, &y), &g)) in mask.iter().zip(y).zip(g).enumerate() {
                acc += side_grad(k, side, a.at(c), b.at(c), y, g) & m;
            }
            *total += acc.reduce_add();
        }
    }
}

/// Each output gradient goes to every member of its group.
fn spread_groups<L: Real>(g: &[L], gx: &mut [L], width: usize, group: usize) {
    for (j, gj) in g.chunks_exact(width).enumerate() {
        for member in gx[j * group * width..(j + 1) * group * width].chunks_exact_mut(width) {
            for (t, &v) in member.iter_mut().zip(gj) {
                *t = *t + v;
            }
        }
    }
}

/// Gradient of a grouped product: factor k receives g times the product of the other factors,
/// formed as (product of those before k) * (product of those after k).
fn product_grad(
    x: &[f32x8],
    g: &[f32x8],
    gx: &mut [f32x8],
    chunks: usize,
    group: usize,
    scratch: &mut [f32x8],
) {
    let suffix = &mut scratch[..group * chunks];
    for (j, gj) in g.chunks_exact(chunks).enumerate() {
        let members = &x[j * group * chunks..(j + 1) * group * chunks];
        let targets = &mut gx[j * group * chunks..(j + 1) * group * chunks];
        // suffix[k] = x[k+1] * ... * x[group-1]
        suffix[(group - 1) * chunks..].fill(f32x8::ONE);
        for k in (0..group - 1).rev() {
            let (head, tail) = suffix.split_at_mut((k + 1) * chunks);
            let next = &members[(k + 1) * chunks..(k + 2) * chunks];
            for ((s, &t), &x) in head[k * chunks..].iter_mut().zip(&tail[..chunks]).zip(next) {
                *s = t * x;
            }
        }
        for (c, &gc) in gj.iter().enumerate() {
            let mut prefix = f32x8::ONE;
            for k in 0..group {
                let at = k * chunks + c;
                targets[at] += gc * (prefix * suffix[at]);
                prefix *= members[at];
            }
        }
    }
}

/// Scratch space for the unbatched product gradient, reusing the f32x8 scratch arena.
fn flat_scratch(scratch: &mut [f32x8], group: usize) -> &mut [f32] {
    &mut wide::bytemuck::cast_slice_mut::<f32x8, f32>(scratch)[..group]
}

fn product_grad_flat(x: &[f32], g: &[f32], gx: &mut [f32], group: usize, suffix: &mut [f32]) {
    for (j, &gj) in g.iter().enumerate() {
        let members = &x[j * group..(j + 1) * group];
        let targets = &mut gx[j * group..(j + 1) * group];
        suffix[group - 1] = 1.0;
        for k in (0..group - 1).rev() {
            suffix[k] = suffix[k + 1] * members[k + 1];
        }
        let mut prefix = 1.0;
        for k in 0..group {
            targets[k] += gj * (prefix * suffix[k]);
            prefix *= members[k];
        }
    }
}

fn add_everywhere(gx: ViewMut<'_>, share: f32) {
    match gx {
        ViewMut::Rows(r) => {
            let share = f32x8::splat(share);
            for v in r {
                *v += share;
            }
        }
        ViewMut::Flat(f) => {
            for v in f {
                *v += share;
            }
        }
    }
}

fn add_slice<L: Real>(target: &mut [L], source: &[L]) {
    for (t, &s) in target.iter_mut().zip(source) {
        *t = *t + s;
    }
}

/// dx_i += sum_o g_o w_io.
fn dense_grad_input<L: Real>(dense: &Dense, g: &[L], w: &[f32], gx: &mut [L], width: usize) {
    for (i, gxi) in gx.chunks_exact_mut(width).enumerate() {
        for (o, go) in g.chunks_exact(width).enumerate() {
            let wio = L::splat(w[dense.weight_index(i, o)]);
            for (t, &g) in gxi.iter_mut().zip(go) {
                *t = *t + g * wio;
            }
        }
    }
}

/// dw_io += sum over the batch of g_o x_i.
fn dense_grad_weight(dense: &Dense, g: View<'_>, x: View<'_>, gw: &mut [f32], layout: &Layout) {
    for o in 0..dense.outputs {
        for i in 0..dense.inputs {
            let contribution = match (g, x) {
                (View::Rows(g), View::Rows(x)) => {
                    let (go, xi) = (&g[o * layout.chunks..], &x[i * layout.chunks..]);
                    batch_sum(&layout.lane_mask, |c| go[c] * xi[c])
                }
                (View::Flat(g), View::Flat(x)) => g[o] * x[i],
                _ => unreachable!(),
            };
            gw[dense.weight_index(i, o)] += contribution;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Graph, Shape, forward};

    /// Padding lanes (past the batch in the last chunk) may hold anything, NaN included,
    /// without reaching any reduction over the batch.
    #[test]
    fn padding_lanes_never_leak_into_batch_reductions() {
        let graph = Graph::new();
        let x = graph.input(Shape::batched(2));
        let t = graph.input(Shape::batched(1));
        let w = graph.param("w", 2);
        let y = x.matmul(w, crate::WeightLayout::OutIn).ln();
        let loss = y.mse(t) + (x * w).mean_batch().sum_all() + x.mean_all();
        let tape = graph.finish(loss);
        let run = |padding: f32| {
            let mut values = Values::new(&tape, 13);
            values.params_mut().copy_from_slice(&[0.5, 1.5]);
            for f in 0..2 {
                values.feature_mut(x.id(), f).copy_from_slice(&[
                    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0,
                ]);
            }
            values.feature_mut(t.id(), 0).fill(0.25);
            // lanes 13..16 of every input row
            let Slot::Rows { offset, features } = values.layout.slot(x.id()) else {
                panic!()
            };
            for f in 0..features {
                let mut lanes = values.rows[offset + f * 2 + 1].to_array();
                lanes[5..].fill(padding);
                values.rows[offset + f * 2 + 1] = f32x8::from(lanes);
            }
            forward(&tape, &mut values);
            let mut grads = Grads::new(&tape, 13);
            backward(&tape, &values, &mut grads);
            (values.scalar(tape.output()), grads.params().to_vec())
        };
        let (clean_loss, clean_grads) = run(0.0);
        let (dirty_loss, dirty_grads) = run(f32::NAN);
        assert!(clean_loss.is_finite());
        assert_eq!(clean_loss.to_bits(), dirty_loss.to_bits());
        assert_eq!(clean_grads, dirty_grads);
    }
}
