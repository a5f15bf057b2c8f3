//! Random small tapes, for the cargo-fuzz target (`fuzz/`) and the seeded property test.
//!
//! [`random_case`] reads decisions from a byte string: batch size, leaves, then a chain of ops
//! drawn from the whole op set with operands of compatible shapes, reduced to one loss.
//! [`check_case`] evaluates the tape in f32 and compares every value and every gradient with
//! the [`Tracked`] reference (f64 plus a rounding bound). Elements whose bound is infinite
//! are counted as inconclusive, not compared: f32 overflowed there, or a decision (a sign,
//! a `less` threshold, a clamp bound, a ln of a value that may round negative) was within
//! rounding error and f32 may legitimately have taken the other side.

use crate::gradcheck::{TOLERANCE_FACTOR, agrees};
use crate::reference::Reference;
use crate::{
    Grads, Graph, Op, Program, Shape, Tape, Tracked, Values, Var, WeightLayout, backward, forward,
};

/// A stream of decisions from fuzzer bytes (zeros once exhausted).
pub struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        let v = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        v % n.max(1)
    }

    /// A leaf value: a special value or a number spread over several magnitudes.
    fn value(&mut self) -> f32 {
        const SPECIAL: [f32; 12] = [
            0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-3, -1e-3, 10.0, -10.0, 0.1,
        ];
        let kind = self.byte();
        if kind < 64 {
            SPECIAL[kind as usize % SPECIAL.len()]
        } else {
            let mantissa = u16::from_le_bytes([self.byte(), self.byte()]) as f32 / 65536.0;
            let scale = [0.01f32, 0.3, 1.0, 3.0, 30.0][self.byte() as usize % 5];
            (2.0 * mantissa - 1.0) * scale
        }
    }
}

/// A random tape with its leaves filled in.
pub struct Case {
    pub tape: Tape,
    pub params: Vec<f32>,
    pub values: Values,
}

impl Case {
    /// The case's values on a program for SIMD `path` (the leaves copied): every path gives
    /// the same bits. An error if the CPU lacks the path.
    pub fn values_on(&self, path: crate::simd::Path) -> Result<Values, crate::simd::Unavailable> {
        let mut values = Values::new(&Program::on_path(&self.tape, self.values.batch(), path)?);
        for (index, node) in self.tape.nodes().iter().enumerate() {
            if matches!(node.op, Op::Input) && node.shape.batched {
                let id = self.tape.id_at(index);
                for f in 0..node.shape.features {
                    values
                        .feature_mut(id, f)
                        .copy_from_slice(self.values.feature(id, f));
                }
            }
        }
        Ok(values)
    }
}

/// Builds a random tape from `bytes` (None if the decisions lead to no differentiable loss).
pub fn random_case(bytes: &mut Bytes<'_>) -> Option<Case> {
    let graph = Graph::new();
    let batch = 1 + bytes.below(19);
    let features = 1 + bytes.below(4);
    let mut vars: Vec<Var<'_>> = vec![
        graph.input_with_grad(Shape::batched(features)),
        graph.param("p", features),
        graph.param("q", 1),
    ];
    if bytes.below(2) == 0 {
        vars.push(graph.input(Shape::batched(features)));
    }
    let steps = 1 + bytes.below(10);
    for _ in 0..steps {
        let a = vars[bytes.below(vars.len())];
        let fa = a.shape().features;
        let compatible: Vec<Var<'_>> = vars
            .iter()
            .copied()
            .filter(|v| {
                let f = v.shape().features;
                f == fa || f == 1 || fa == 1
            })
            .collect();
        let b = compatible[bytes.below(compatible.len())];
        let next = match bytes.below(34) {
            0 => -a,
            1 => a.abs(),
            2 => a.sign() * a,
            3 => a.ln(),
            4 => a.exp(),
            5 => a.sin(),
            6 => a.cos(),
            7 => a.tanh(),
            8 => a.sigmoid(),
            9 => a.relu(),
            10 => a.round() + a,
            11 => a.recip(),
            12 => a.square(),
            13 => a.sqrt(),
            14 => a.clamp(-1.0, 1.0),
            15 => a.less(0.25) * a,
            16 => a + b,
            17 => a - b,
            18 => a * b,
            19 => a / b,
            20 => a.abs().pow(b),
            21 => a.min(b),
            22 => a.max(b),
            23 if fa > 1 => a.prod_features(fa),
            24 if fa > 1 => a.sum_features(fa),
            25 if a.shape().batched => a.mean_batch(),
            26 => a.mean_all(),
            27 => a.norm2(),
            28 => {
                let w = graph.param("w", fa * 2);
                a.matmul(
                    w,
                    if bytes.below(2) == 0 {
                        WeightLayout::InOut
                    } else {
                        WeightLayout::OutIn
                    },
                )
            }
            29 if a.shape().batched == b.shape().batched => graph.concat(&[a, b]),
            30 => a.tile(2),
            31 => a.gated(b),
            32 => a.signed_pow(b),
            33 => a.gated_nmu(b),
            _ => a.sum_all(),
        };
        vars.push(next);
    }
    let last = vars[vars.len() - 1];
    let loss = if last.shape().batched || last.shape().features > 1 {
        last.mean_all()
    } else {
        last
    };
    let loss = loss + vars[bytes.below(vars.len())].sum_all() * 0.5;
    let tape = graph.finish(loss);
    if !tape.node(tape.output()).needs_grad {
        return None;
    }
    let mut values = Values::new(&Program::new(&tape, batch));
    let mut params = vec![0.0; tape.param_len()];
    for (index, node) in tape.nodes().iter().enumerate() {
        let id = tape.id_at(index);
        match node.op {
            Op::Input if node.shape.batched => {
                for f in 0..node.shape.features {
                    for v in values.feature_mut(id, f) {
                        *v = bytes.value();
                    }
                }
            }
            Op::Param { index } => {
                for v in &mut params[tape.params()[index].range.clone()] {
                    *v = bytes.value();
                }
            }
            _ => {}
        }
    }
    Some(Case {
        tape,
        params,
        values,
    })
}

/// Every element compared and every element skipped as unstable.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub compared: usize,
    /// Elements whose bound is infinite (f32 overflow, or a comparison f32 may decide the
    /// other way).
    pub inconclusive: usize,
}

/// The first value or gradient of a case where the f32 tape and the tracked reference
/// disagree.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "node {node} ({op}) {what} [sample {sample}, feature {feature}]: f32 {got:e}, reference {want:e} (bound {bound:e})"
)]
pub struct Disagreement {
    pub node: usize,
    /// The node's op, as its debug form.
    pub op: String,
    /// "value" or "gradient".
    pub what: &'static str,
    pub sample: usize,
    pub feature: usize,
    pub got: f32,
    pub want: f64,
    pub bound: f64,
}

/// Compares the f32 tape with the tracked reference at `case`'s point; Err is the first
/// disagreement.
pub fn check_case(case: &Case) -> Result<CheckReport, Disagreement> {
    let (tape, params, values) = (&case.tape, &case.params, &case.values);
    let mut fast = values.clone();
    forward(params, &mut fast);
    let mut grads = Grads::new(values.program());
    // stale contents must not leak into the result: every slot is either cleared or
    // overwritten by its first writer
    grads.fill(f32::NAN);
    backward(params, &fast, &mut grads);

    let mut exact = Reference::from_values(tape, params, values, |v| Tracked::exact(f64::from(v)));
    exact.forward(tape);
    exact.backward(tape);

    let batch = values.batch();
    let mut report = CheckReport::default();
    for (index, node) in tape.nodes().iter().enumerate() {
        let id = tape.id_at(index);
        let leaf = matches!(node.op, Op::Input | Op::Param { .. } | Op::Const { .. });
        let check_value = node.live && !leaf;
        let check_grad = node.needs_grad;
        for element in 0..exact.value(id).len() {
            let (b, f) = if node.shape.batched {
                (element % batch, element / batch)
            } else {
                (0, element)
            };
            let mut compare =
                |what: &'static str, got: f32, pick: &dyn Fn(&Reference<Tracked>) -> Tracked| {
                    let want = pick(&exact);
                    // a bound beyond the f32 range says nothing about an f32 value
                    if !want.bound.is_finite() || want.absolute_error() > f64::from(f32::MAX) {
                        report.inconclusive += 1;
                        return Ok(());
                    }
                    report.compared += 1;
                    if agrees(got, want) {
                        Ok(())
                    } else {
                        Err(Disagreement {
                            node: index,
                            op: format!("{:?}", node.op),
                            what,
                            sample: b,
                            feature: f,
                            got,
                            want: want.value,
                            bound: TOLERANCE_FACTOR * want.absolute_error(),
                        })
                    }
                };
            if check_value {
                compare("value", fast.get(id, b, f), &|r| r.value(id)[element])?;
            }
            if check_grad {
                compare("gradient", grads.get(id, b, f), &|r| r.grad(id)[element])?;
            }
        }
    }
    Ok(report)
}
