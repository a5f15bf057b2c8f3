//! Which node of a tape first went non-finite: the answer to "which function gave us the
//! NaN?".
//!
//! After a forward and a backward pass, [`first_non_finite`] walks the values in evaluation
//! order, then the gradients in the order the backward pass forms them (last node first),
//! and reports the first NaN or infinity with the node's op, its label (what it is in the
//! unit's formula, see [`Var::label`](crate::Var::label)) and the values of its inputs at the
//! same sample: enough to replay that one function by hand. It reads the buffers only, so
//! training pays nothing for it until something goes wrong.

use crate::buffers::{Grads, Values};
use crate::tape::{NodeId, Op, Tape};

/// Where a non-finite number appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// A node's value in the forward pass.
    Forward,
    /// The gradient of the loss with respect to a node, in the backward pass.
    Backward,
}

/// One input of the node that went non-finite, at the same sample and feature.
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    pub node: usize,
    pub op: String,
    pub label: Option<String>,
    /// Its value (at the same sample; its first value when its shape differs).
    pub value: f32,
}

/// The first non-finite number of a pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub pass: Pass,
    /// The node's index in the tape.
    pub node: usize,
    /// The op, as the tape records it (e.g. `Binary(SignedPow)`).
    pub op: String,
    /// What the node is in the unit's formula, when the model labelled it.
    pub label: Option<String>,
    /// Sample (0 for an unbatched node) and feature of the first non-finite element.
    pub sample: usize,
    pub feature: usize,
    /// The non-finite value or gradient.
    pub value: f32,
    /// The node's value there (for a gradient finding: the forward value it was taken at).
    pub node_value: f32,
    pub inputs: Vec<Operand>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.pass {
            Pass::Forward => "value",
            Pass::Backward => "gradient",
        };
        write!(f, "{what} {} of node {} {}", self.value, self.node, self.op)?;
        if let Some(label) = &self.label {
            write!(f, " ({label})")?;
        }
        write!(f, " at sample {}, feature {}", self.sample, self.feature)?;
        if self.pass == Pass::Backward {
            write!(f, ", its value {}", self.node_value)?;
        }
        let inputs: Vec<String> = self
            .inputs
            .iter()
            .map(|i| match &i.label {
                Some(l) => format!("{} = {} (node {} {})", l, i.value, i.node, i.op),
                None => format!("node {} {} = {}", i.node, i.op, i.value),
            })
            .collect();
        if !inputs.is_empty() {
            write!(f, "; inputs: {}", inputs.join(", "))?;
        }
        Ok(())
    }
}

/// A node's value at (sample, feature), parameters read from `params`; a tensor broadcast
/// over the batch or the features reads its single row or value.
fn value_at(tape: &Tape, params: &[f32], values: &Values, id: NodeId, b: usize, f: usize) -> f32 {
    let node = tape.node(id);
    let f = if node.shape.features == 1 { 0 } else { f };
    match node.op {
        Op::Param { index } => params[tape.params()[index].range.start + f],
        _ if node.shape.batched => values.feature(id, f.min(node.shape.features - 1))[b],
        _ => values.flat(id)[f.min(node.shape.features - 1)],
    }
}

/// The first non-finite element of a node: (sample, feature, value).
fn first_in(
    shape: crate::Shape,
    batch: usize,
    read: impl Fn(usize, usize) -> f32,
) -> Option<(usize, usize, f32)> {
    let samples = if shape.batched { batch } else { 1 };
    (0..shape.features)
        .flat_map(|f| (0..samples).map(move |b| (b, f)))
        .map(|(b, f)| (b, f, read(b, f)))
        .find(|(_, _, v)| !v.is_finite())
}

/// The first non-finite value (in evaluation order) or, if every value is finite, the first
/// non-finite gradient (in the order the backward pass forms them) of the last passes over
/// `values` and `grads`, or None if every number is finite.
pub fn first_non_finite(
    tape: &Tape,
    params: &[f32],
    values: &Values,
    grads: Option<&Grads>,
) -> Option<Finding> {
    let batch = values.batch();
    let describe = |pass, index: usize, (b, f, value): (usize, usize, f32)| {
        let id = tape.id_at(index);
        let node = tape.node(id);
        let inputs = node
            .inputs
            .iter()
            .map(|&i| {
                let input = tape.id_at(i as usize);
                Operand {
                    node: i as usize,
                    op: format!("{:?}", tape.node(input).op),
                    label: tape.label(input).map(str::to_string),
                    value: value_at(tape, params, values, input, b, f),
                }
            })
            .collect();
        Finding {
            pass,
            node: index,
            op: format!("{:?}", node.op),
            label: tape.label(id).map(str::to_string),
            sample: b,
            feature: f,
            value,
            node_value: value_at(tape, params, values, id, b, f),
            inputs,
        }
    };
    for (index, node) in tape.nodes().iter().enumerate() {
        if !node.live {
            continue;
        }
        let id = tape.id_at(index);
        let found = first_in(node.shape, batch, |b, f| {
            value_at(tape, params, values, id, b, f)
        });
        if let Some(found) = found {
            return Some(describe(Pass::Forward, index, found));
        }
    }
    let grads = grads?;
    for (index, node) in tape.nodes().iter().enumerate().rev() {
        if !node.needs_grad {
            continue;
        }
        let id = tape.id_at(index);
        let found = first_in(node.shape, batch, |b, f| {
            if node.shape.batched {
                grads.feature(id, f)[b]
            } else {
                grads.flat(id)[f]
            }
        });
        if let Some(found) = found {
            return Some(describe(Pass::Backward, index, found));
        }
    }
    None
}
