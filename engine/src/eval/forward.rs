//! Forward steps: each node's value from its inputs, built by its op family's file.

use super::{Dense, ForwardStep};
use super::{binary, copy, features, matmul, power, reduce, unary};
use crate::layout::{Layout, Loc};
use crate::ops::{with_binary_kernel, with_unary_kernel};
use crate::simd::width::Width;
use crate::tape::{BinaryOp, ConvMethod, Op, Tape, UnaryOp};

/// The forward step of node `index`, its elementwise work at width `W`.
pub(crate) fn step<W: Width>(tape: &Tape, index: usize, layout: &Layout) -> ForwardStep {
    let node = &tape.nodes[index];
    let out = layout.locs[index];
    let input = |k: usize| layout.locs[node.inputs[k] as usize];
    let (chunks, batch) = (layout.chunks, layout.batch);
    match &node.op {
        Op::Unary(op @ (UnaryOp::Sin | UnaryOp::Cos)) if out.batched => {
            unary::trig_forward::<W>(*op == UnaryOp::Sin, input(0), out, chunks)
        }
        Op::Unary(op) => {
            with_unary_kernel!(*op, k => unary::forward::<W, _>(k, input(0), out, chunks))
        }
        Op::Binary(BinaryOp::Pow) => power::forward::<W, false>(input(0), input(1), out, chunks),
        Op::Binary(BinaryOp::SignedPow) => {
            power::forward::<W, true>(input(0), input(1), out, chunks)
        }
        Op::Binary(op) => {
            with_binary_kernel!(*op, k => binary::forward::<W, _>(k, input(0), input(1), out, chunks))
        }
        Op::SumFeatures { group } => features::sum_forward::<W>(input(0), out, *group, chunks),
        Op::ProdFeatures { group } => features::product_forward::<W>(input(0), out, *group, chunks),
        Op::MeanBatch => reduce::mean_batch_forward::<W>(input(0), out, layout),
        Op::MeanAll => {
            let count = (input(0).features * if input(0).batched { batch } else { 1 }) as f32;
            reduce::total_forward::<W, false>(input(0), out, layout, move |sum| sum / count)
        }
        Op::SumAll => reduce::total_forward::<W, false>(input(0), out, layout, |sum| sum),
        Op::Norm2 => reduce::total_forward::<W, true>(input(0), out, layout, |sum| sum.sqrt()),
        Op::Mse => reduce::mse_forward::<W>(input(0), input(1), out, layout),
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
            matmul::forward::<W>(dense, input(0), input(1), out, layout)
        }
        Op::Concat => {
            let parts: Vec<Loc> = (0..node.inputs.len()).map(input).collect();
            copy::concat_forward(parts, out, chunks)
        }
        Op::Tile { times } => copy::tile_forward(input(0), out, *times, chunks),
        Op::Conv2d(conv) => match conv.method {
            ConvMethod::Direct => {
                // a pooled convolution's whole output goes to its auxiliary slot
                let y = if conv.pool {
                    super::conv_pool::before_pool(*conv, out, chunks)
                } else {
                    out
                };
                // the ReLU, if any, as the product stores the output
                let mut step = super::conv::forward(*conv, input(0), input(1), input(2), y, layout);
                if conv.pool {
                    step = super::conv_pool::then_pool(step, *conv, out, chunks);
                }
                step
            }
            // its output transform applies the ReLU and the pooling
            ConvMethod::Winograd => {
                super::winograd::forward(*conv, input(0), input(1), input(2), out, layout)
            }
        },
        Op::MaxPool2(image) => super::pool::forward(*image, input(0), out, layout),
        Op::Dropout { rate } => super::dropout::forward(index, *rate, input(0), out, layout),
        Op::Softmax { group } => super::softmax::forward(*group, input(0), out, layout),
        Op::Window(window) => super::window::forward(*window, input(0), out, layout),
        Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!("leaves are not computed"),
    }
}
