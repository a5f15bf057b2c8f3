//! A tape compiled for one batch size, shared by every buffer made for it.
//!
//! Compiling resolves each node into a step: a closure with its operands' locations, shapes,
//! broadcast kinds and kernel settled, so running a pass is a loop over ready-made steps whose
//! work is only the arithmetic. (Dispatching on the op and its operands for every node of
//! every iteration cost more than the arithmetic itself for tensors of 2 to 20 features.)
//! [`Values`](crate::Values) and [`Grads`](crate::Grads) made from one program share it.

use std::ops::Range;
use std::sync::Arc;

use crate::eval::{BackwardStep, FirstWrites, ForwardStep, backward_steps, forward_step};
use crate::layout::{Layout, Loc};
use crate::simd::vector::Vector;
use crate::simd::width::Width;
use crate::simd::{self, Path};
use crate::tape::{Op, Tape};

/// The forward and backward passes of one tape at one batch size.
pub struct Program {
    pub(crate) layout: Layout,
    pub(crate) forward: Vec<ForwardStep>,
    /// In reverse tape order.
    pub(crate) backward: Vec<BackwardStep>,
    /// The node of each forward and each backward step (for [`crate::profile`]).
    pub(crate) forward_nodes: Vec<usize>,
    pub(crate) backward_nodes: Vec<usize>,
    /// Gradient slots cleared before each backward pass (those no step overwrites first).
    pub(crate) zero_rows: Vec<Range<usize>>,
    pub(crate) zero_flat: Vec<Range<usize>>,
    pub(crate) zero_params: Vec<Range<usize>>,
    /// The output's slot.
    pub(crate) output: Loc,
    /// Whether the output depends on anything differentiable (else its gradient is all 0).
    pub(crate) seeded: bool,
    /// Constant nodes: flat offset and values, written when values are created.
    pub(crate) constants: Vec<(usize, Vec<f32>)>,
}

impl Program {
    /// Compiles `tape` for batches of `batch` samples, on the SIMD path in use
    /// ([`simd::active`]).
    ///
    /// # Panics
    /// If `batch` is 0.
    pub fn new(tape: &Tape, batch: usize) -> Arc<Program> {
        Program::build(tape, batch, simd::active())
    }

    /// [`Program::new`] on a given SIMD path (to compare the paths, whose results are the
    /// same bit for bit); an error if the CPU lacks it.
    pub fn on_path(
        tape: &Tape,
        batch: usize,
        path: Path,
    ) -> Result<Arc<Program>, simd::Unavailable> {
        Ok(Program::build(tape, batch, simd::available(path)?))
    }

    fn build(tape: &Tape, batch: usize, path: Path) -> Arc<Program> {
        match path.lanes {
            #[cfg(target_arch = "x86_64")]
            16 if !has_cnn_layers(tape) => Program::build_at::<simd::width::Avx512>(tape, batch),
            _ => Program::build_at::<simd::width::Built>(tape, batch),
        }
    }

    /// The program with its elementwise steps at width `W`.
    fn build_at<W: Width>(tape: &Tape, batch: usize) -> Arc<Program> {
        let layout = Layout::new(tape, batch, W::V::LANES);
        let computed = |op: &Op| !matches!(op, Op::Input | Op::Param { .. } | Op::Const { .. });
        let forward_nodes: Vec<usize> = tape
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.live && computed(&node.op))
            .map(|(index, _)| index)
            .collect();
        let forward = forward_nodes
            .iter()
            .map(|&index| forward_step::<W>(tape, index, &layout))
            .collect();
        let (mut backward, mut backward_nodes) = (Vec::new(), Vec::new());
        let mut first = FirstWrites::new(tape.nodes.len());
        for (index, node) in tape.nodes.iter().enumerate().rev() {
            if node.needs_grad && node.op.is_differentiable() {
                let steps = backward_steps::<W>(tape, index, &layout, &mut first);
                backward_nodes.extend(std::iter::repeat_n(index, steps.len()));
                backward.extend(steps);
            }
        }
        let (mut zero_rows, mut zero_flat, mut zero_params) = (Vec::new(), Vec::new(), Vec::new());
        for (index, (node, loc)) in tape.nodes.iter().zip(&layout.locs).enumerate() {
            // every parameter's gradient is written by every pass: 0 for one the loss's
            // gradient never reaches (read only by stop-gradients, or not at all)
            if (node.needs_grad || loc.param) && !first.overwritten[index] {
                let ranges: &mut Vec<Range<usize>> = match (loc.batched, loc.param) {
                    (true, _) => &mut zero_rows,
                    (false, true) => &mut zero_params,
                    (false, false) => &mut zero_flat,
                };
                let range = loc.range(layout.chunks);
                match ranges.last_mut() {
                    Some(last) if last.end == range.start => last.end = range.end,
                    _ => ranges.push(range),
                }
            }
        }
        let seeded = tape.node(tape.output).needs_grad;
        let output = layout.locs[tape.output.index()];
        let constants = tape
            .nodes
            .iter()
            .zip(&layout.locs)
            .filter_map(|(node, loc)| match &node.op {
                Op::Const { values } => Some((loc.offset, values.clone())),
                _ => None,
            })
            .collect();
        Arc::new(Program {
            layout,
            forward,
            backward,
            forward_nodes,
            backward_nodes,
            zero_rows,
            zero_flat,
            zero_params,
            output,
            seeded,
            constants,
        })
    }

    /// The lanes of the vectors its elementwise steps compute with.
    pub fn lanes(&self) -> usize {
        self.layout.lanes
    }

    /// Samples per batch.
    pub fn batch(&self) -> usize {
        self.layout.batch
    }

    /// Length of the parameter vector (and of its gradient).
    pub fn param_len(&self) -> usize {
        self.layout.param_len
    }

    /// Whether this program was compiled from `tape`.
    pub fn is_for(&self, tape: &Tape) -> bool {
        self.layout.tape == tape.id
    }
}

/// Whether `tape` holds CNN layers. Their work depends on the padded batch (a convolution's
/// blocks and its choice of product), which a 16-lane layout rounds up further: their tapes
/// keep the 8-lane layout on every path, and reach 16 lanes through the matrix product.
#[cfg(target_arch = "x86_64")]
fn has_cnn_layers(tape: &Tape) -> bool {
    tape.nodes.iter().any(|node| {
        matches!(
            node.op,
            Op::Conv2d(_)
                | Op::MaxPool2(_)
                | Op::Dropout { .. }
                | Op::Softmax { .. }
                | Op::Window(_)
        )
    })
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("batch", &self.layout.batch)
            .field("forward_steps", &self.forward.len())
            .field("backward_steps", &self.backward.len())
            .field("row_vectors", &self.layout.rows_len)
            .field("flat_values", &self.layout.flat_len)
            .field("params", &self.layout.param_len)
            .finish()
    }
}
