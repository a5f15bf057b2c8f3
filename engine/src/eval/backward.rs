//! Backward steps: each node's contribution to its inputs' gradients, built by its op
//! family's file.
//!
//! A step reads the forward values and the node's own gradient and adds into an input's
//! gradient slot, which lies before the node's slot when both share an arena.

use super::binary::{SideA, SideB};
use super::power::Exponent;
use super::{BackwardStep, Dense};
use super::{binary, copy, features, matmul, reduce, unary};
use crate::layout::{Layout, Loc};
use crate::ops::{with_binary_kernel, with_unary_kernel};
use crate::simd::width::Width;
use crate::tape::{BinaryOp, ConvMethod, Op, Tape, UnaryOp};

/// Which gradient slots the backward pass overwrites before anything adds to them. The
/// first step to reach a batched slot, if it writes all of it, stores instead of adding,
/// and the slot needs no clearing beforehand. Claims are made in execution order.
pub(crate) struct FirstWrites {
    reached: Vec<bool>,
    /// Per node: its first writer overwrites it whole.
    pub overwritten: Vec<bool>,
}

impl FirstWrites {
    pub fn new(nodes: usize) -> FirstWrites {
        FirstWrites {
            reached: vec![false; nodes],
            overwritten: vec![false; nodes],
        }
    }

    /// Records a step writing to `node`'s gradient (all of it when `whole`) and returns
    /// whether it may store rather than add.
    fn claim(&mut self, node: usize, loc: Loc, whole: bool) -> bool {
        let store = !self.reached[node] && whole && loc.batched;
        self.reached[node] = true;
        self.overwritten[node] |= store;
        store
    }
}

/// The backward steps of node `index`, one per input that needs a gradient (none for leaves).
pub(crate) fn steps<W: Width>(
    tape: &Tape,
    index: usize,
    layout: &Layout,
    first: &mut FirstWrites,
) -> Vec<BackwardStep> {
    let node = &tape.nodes[index];
    let out = layout.locs[index];
    let input = |k: usize| layout.locs[node.inputs[k] as usize];
    let needs = |k: usize| tape.nodes[node.inputs[k] as usize].needs_grad;
    let mut claim = |k: usize, whole: bool| first.claim(node.inputs[k] as usize, input(k), whole);
    let (chunks, batch) = (layout.chunks, layout.batch);
    let mut steps: Vec<BackwardStep> = Vec::new();
    match &node.op {
        Op::Unary(op @ (UnaryOp::Sin | UnaryOp::Cos)) if out.batched => {
            let store = claim(0, true);
            steps.push(unary::trig_backward::<W>(
                *op == UnaryOp::Sin,
                input(0),
                out,
                chunks,
                store,
            ))
        }
        Op::Unary(op) => {
            let store = claim(0, true);
            with_unary_kernel!(*op, k => steps.push(unary::backward::<W, _>(k, input(0), out, chunks, store)))
        }
        Op::Binary(op) => {
            let (a, b) = (input(0), input(1));
            // a batched operand with the output's features has rows of its own: written whole
            let own = |l: Loc| l.batched && l.features == out.features;
            if needs(0) {
                let store = claim(0, out.batched && own(a));
                steps.push(
                    with_binary_kernel!(*op, k => binary::backward::<W, _>(SideA(k), a, b, out, out, a, layout, store)),
                );
            }
            if needs(1) {
                let store = claim(1, out.batched && own(b));
                steps.push(if matches!(op, BinaryOp::Pow | BinaryOp::SignedPow) {
                    // the exponent's gradient reads the saved ln|base| from the auxiliary slot
                    binary::backward::<W, _>(Exponent, a, b, out, out.aux(chunks), b, layout, store)
                } else {
                    with_binary_kernel!(*op, k => binary::backward::<W, _>(SideB(k), a, b, out, out, b, layout, store))
                });
            }
        }
        Op::SumFeatures { group } => {
            let store = claim(0, true);
            steps.push(features::sum_backward::<W>(
                input(0),
                out,
                *group,
                chunks,
                store,
            ))
        }
        Op::ProdFeatures { group } => {
            let store = claim(0, true);
            steps.push(features::product_backward::<W>(
                input(0),
                out,
                *group,
                chunks,
                store,
            ))
        }
        Op::MeanBatch => {
            claim(0, false);
            steps.push(reduce::mean_batch_backward::<W>(input(0), out, layout));
        }
        Op::MeanAll | Op::SumAll => {
            claim(0, false);
            let x = input(0);
            let count = if node.op == Op::MeanAll {
                x.features * if x.batched { batch } else { 1 }
            } else {
                1
            };
            steps.push(reduce::total_backward::<W>(x, out, count, chunks));
        }
        Op::Norm2 => {
            claim(0, false);
            steps.push(reduce::norm_backward::<W>(input(0), out, chunks));
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
            let (x, w) = (input(0), input(1));
            if needs(0) {
                let store = claim(0, *outputs > 0);
                steps.push(matmul::input_grad::<W>(dense, x, w, out, layout, store));
            }
            if needs(1) {
                claim(1, false);
                steps.push(matmul::weight_grad::<W>(dense, x, w, out, layout));
            }
        }
        Op::Concat => {
            let mut at = 0;
            for k in 0..node.inputs.len() {
                let part = input(k);
                if needs(k) {
                    let store = claim(k, true);
                    steps.push(copy::backward(part, out, at, 1, chunks, store));
                }
                at += part.len(chunks);
            }
        }
        Op::Tile { times } => {
            claim(0, false);
            steps.push(copy::backward(input(0), out, 0, *times, chunks, false))
        }
        Op::Mse => {
            let (y, t) = (input(0), input(1));
            // PyTorch: grad_input = (input - target) * (2 / numel) * grad, the factor
            // formed in double precision.
            let norm = (2.0 / (y.features * if y.batched { batch } else { 1 }) as f64) as f32;
            for (side, target) in [(0, y), (1, t)] {
                if needs(side) {
                    let sign = if side == 0 { 1.0 } else { -1.0 };
                    let store = claim(side, true);
                    steps.push(reduce::mse_backward::<W>(
                        y, t, target, out, norm, sign, chunks, store,
                    ));
                }
            }
        }
        Op::Conv2d(conv) => {
            let (x, w, bias) = (input(0), input(1), input(2));
            let winograd = conv.method == ConvMethod::Winograd;
            // a carried pool rebuilds the output's gradient first (through a carried ReLU's
            // mask), a carried ReLU alone masks it: either sums the bias gradient as it goes
            let bias_first = (conv.relu || conv.pool) && needs(2);
            if bias_first {
                claim(2, false);
            }
            let first_bias = bias_first.then_some(bias);
            // a direct convolution's ReLU mask, bias and weight gradients in one step (filter
            // group by filter group) where the weight gradient is the dots' kind
            let fused = bias_first
                && conv.relu
                && !conv.pool
                && !winograd
                && needs(1)
                && super::conv::weight_grad_by_dots(layout);
            // the slot of the output's gradient the convolution's steps read
            let dy = if !(0..3).any(&needs) {
                out
            } else if conv.pool && winograd {
                // Winograd's steps rebuild the output's gradient tile by tile (the ReLU's mask
                // in the choices)
                if let Some(bias) = first_bias {
                    steps.push(super::conv_pool::pooled_bias_grad(*conv, bias, out, layout));
                }
                out
            } else if conv.pool {
                steps.push(super::conv_pool::unpool_grad(
                    *conv, first_bias, out, layout,
                ));
                super::conv_pool::before_pool(*conv, out, chunks)
            } else if conv.relu {
                steps.push(match first_bias {
                    Some(bias) if fused => {
                        claim(1, false);
                        super::conv_relu::mask_grad_bias_and_weights(
                            *conv,
                            (x, w, bias),
                            out,
                            layout,
                        )
                    }
                    Some(bias) => {
                        super::conv_relu::mask_grad_and_bias(conv.filters, bias, out, layout)
                    }
                    None => super::conv_relu::mask_grad(out, chunks),
                });
                out
            } else {
                out
            };
            if needs(0) {
                let store = claim(0, true);
                steps.push(if winograd {
                    super::winograd::input_grad(*conv, x, w, dy, layout, store)
                } else {
                    super::conv::input_grad(*conv, x, w, dy, layout, store)
                });
            }
            if needs(1) && !fused {
                claim(1, false);
                steps.push(if winograd {
                    super::winograd::weight_grad(*conv, x, w, dy, layout)
                } else {
                    super::conv::weight_grad(*conv, x, w, dy, layout)
                });
            }
            if needs(2) && !bias_first {
                claim(2, false);
                steps.push(super::conv::bias_grad(*conv, bias, dy, layout));
            }
        }
        Op::MaxPool2(image) => {
            let store = claim(0, true);
            steps.push(super::pool::backward(*image, input(0), out, layout, store));
        }
        Op::Dropout { rate } => {
            let store = claim(0, true);
            steps.push(super::dropout::backward(
                index,
                *rate,
                input(0),
                out,
                layout,
                store,
            ));
        }
        Op::Softmax { group } => {
            let store = claim(0, true);
            steps.push(super::softmax::backward(
                *group,
                input(0),
                out,
                layout,
                store,
            ));
        }
        Op::Window(window) => {
            claim(0, false);
            steps.push(super::window::backward(*window, input(0), out, layout));
        }
        Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!("leaves have no backward"),
    }
    steps
}
