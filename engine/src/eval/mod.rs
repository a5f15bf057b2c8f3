//! Evaluating a tape: the forward and backward passes over [`Values`] and [`Grads`].
//!
//! When buffers are created, every node is compiled into a [`Plan`] step: a closure with its
//! operands' locations, shapes, broadcast kinds and kernel resolved, so running a pass is a
//! loop over ready-made steps whose work is only the arithmetic. (Dispatching on the op and
//! its operands for every node of every iteration cost more than the arithmetic itself for
//! tensors of 2 to 20 features.)

// Kernels index rows cut to exactly `chunks` vectors with a shared chunk index, the form in
// which the compiler drops every bounds check and which reads the same for every operand kind.
#![allow(clippy::needless_range_loop)]

mod backward;
mod forward;
pub(crate) mod operand;

use std::ops::Range;

use wide::f32x8;

use crate::buffers::{Grads, Layout, Values};
use crate::tape::{Op, Tape};

/// One node's forward work: reads earlier slots of the arenas (rows, flat), writes its own.
pub(crate) type ForwardStep = Box<dyn Fn(&mut [f32x8], &mut [f32]) + Send + Sync>;

/// One node's backward work for one input: reads the forward values (rows, flat) and the
/// node's gradient, adds to the input's gradient (gradient rows, flat, and scratch space).
pub(crate) type BackwardStep =
    Box<dyn Fn(&[f32x8], &[f32], &mut [f32x8], &mut [f32], &mut [f32x8]) + Send + Sync>;

/// A tape compiled for one layout.
pub(crate) struct Plan {
    forward: Vec<ForwardStep>,
    /// In reverse tape order.
    backward: Vec<BackwardStep>,
    /// Gradient slots cleared before each backward pass (those no step overwrites first).
    zero_rows: Vec<Range<usize>>,
    zero_flat: Vec<Range<usize>>,
    /// Flat offset of the output's gradient, if the output depends on anything trainable.
    seed: Option<usize>,
}

impl Plan {
    pub fn new(tape: &Tape, layout: &Layout) -> Plan {
        let computed = |op: &Op| !matches!(op, Op::Input | Op::Param { .. } | Op::Const { .. });
        let forward = tape
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.live && computed(&node.op))
            .map(|(index, _)| forward::step(tape, index, layout))
            .collect();
        let mut backward = Vec::new();
        let mut first = backward::FirstWrites::new(tape.nodes.len());
        for (index, node) in tape.nodes.iter().enumerate().rev() {
            if node.needs_grad && node.op.is_differentiable() {
                backward.extend(backward::steps(tape, index, layout, &mut first));
            }
        }
        let (mut zero_rows, mut zero_flat) =
            (Vec::<Range<usize>>::new(), Vec::<Range<usize>>::new());
        for (index, (node, loc)) in tape.nodes.iter().zip(&layout.locs).enumerate() {
            if node.needs_grad && !first.overwritten[index] {
                let ranges = if loc.batched {
                    &mut zero_rows
                } else {
                    &mut zero_flat
                };
                let range = loc.range(layout.chunks);
                match ranges.last_mut() {
                    Some(last) if last.end == range.start => last.end = range.end,
                    _ => ranges.push(range),
                }
            }
        }
        let output = tape.node(tape.output);
        let seed = output
            .needs_grad
            .then(|| layout.locs[tape.output.index()].offset);
        Plan {
            forward,
            backward,
            zero_rows,
            zero_flat,
            seed,
        }
    }
}

/// Computes every node of `tape` the output depends on, from the inputs, parameters and
/// constants in `values`.
///
/// Allocates nothing. Inputs must have been written (see [`Values::feature_mut`] and
/// [`Values::flat_mut`]); parameters live in [`Values::params_mut`].
///
/// # Panics
/// If `values` was created for another tape.
pub fn forward(tape: &Tape, values: &mut Values) {
    values.layout.check(tape);
    let Values {
        plan, rows, flat, ..
    } = values;
    for step in &plan.forward {
        step(rows, flat);
    }
}

/// Fills `grads` with the gradient of the tape's output (a single unbatched value) with
/// respect to every node that needs one, from the forward values in `values`.
///
/// Each op adds its inputs' gradient contributions with `+=`, so a node used several times
/// receives all of them. Only nodes on a path from a parameter (or an input recorded with
/// gradients) to the output are visited, and only their differentiable inputs receive
/// anything: `sign`, `round`, indicators and `detach` stop upstream values, NaN included.
/// Nothing is skipped because a gradient happens to be zero (`0 * inf` must stay NaN).
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
    let output = tape.node(tape.output);
    assert!(
        !output.shape.batched && output.shape.features == 1,
        "backward: the output must be a single unbatched value"
    );
    let Grads {
        plan,
        rows,
        flat,
        scratch,
        ..
    } = grads;
    for range in &plan.zero_rows {
        rows[range.clone()].fill(f32x8::ZERO);
    }
    for range in &plan.zero_flat {
        flat[range.clone()].fill(0.0);
    }
    let Some(seed) = plan.seed else { return };
    flat[seed] = 1.0;
    for step in &plan.backward {
        step(&values.rows, &values.flat, rows, flat, scratch);
    }
}

/// Sum of `term(c)` over the chunks of a row, padding lanes masked out.
#[inline(always)]
pub(crate) fn batch_sum(lane_mask: &[f32x8], term: impl Fn(usize) -> f32x8) -> f32 {
    let mut acc = f32x8::ZERO;
    for (c, &mask) in lane_mask.iter().enumerate() {
        acc += term(c) & mask;
    }
    acc.reduce_add()
}

/// Geometry of a dense product `[.., inputs] x [inputs, outputs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub layout: crate::tape::WeightLayout,
}

impl Dense {
    #[inline(always)]
    pub fn weight_index(&self, i: usize, o: usize) -> usize {
        match self.layout {
            crate::tape::WeightLayout::InOut => i * self.outputs + o,
            crate::tape::WeightLayout::OutIn => o * self.inputs + i,
        }
    }
}

#[cfg(test)]
mod tests;
