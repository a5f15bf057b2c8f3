//! The reference evaluator: the same tape, element by element, in a wider number type.
//!
//! Written as plain loops with no SIMD, no lanes and no shared arithmetic with the fast
//! evaluator: it shares the per-element op formulas of [`crate::ops`] and two definitions, the
//! max-pool scan and the dropout mask. Products over features use the direct product of the
//! other factors; sums are bounded for any order of their terms. With `L = f64` it is the oracle for finite differences
//! and tests; with `L = Tracked` it also bounds the rounding error an f32 evaluation makes,
//! which sets conditioning-aware tolerances.
//!
//! Layout: node `n` holds `features * batch` values indexed `f * batch + b` if batched, else
//! `features` values.

mod layers;

use crate::Real;
use crate::buffers::Values;
use crate::ops::{binary_grads, binary_value, unary_grad, unary_value};
use crate::tape::{Conv2d, NodeId, Op, Tape, UnaryOp, WeightLayout};

/// Forward values and gradients of one tape in number type `L`.
#[derive(Clone, Debug)]
pub struct Reference<L> {
    batch: usize,
    /// The dropout masks' seed, as in the f32 buffers.
    noise_seed: u64,
    values: Vec<Vec<L>>,
    grads: Vec<Vec<L>>,
}

impl<L: Real> Reference<L> {
    /// Buffers for `tape` whose parameters are copied from `params` and whose inputs and
    /// constants are copied from the f32 `values` (each f32 converted exactly by `lift`).
    pub fn from_values(
        tape: &Tape,
        params: &[f32],
        values: &Values,
        lift: impl Fn(f32) -> L,
    ) -> Self {
        let batch = values.batch();
        let mut reference = Reference {
            batch,
            noise_seed: values.noise_seed(),
            values: Vec::with_capacity(tape.nodes().len()),
            grads: Vec::with_capacity(tape.nodes().len()),
        };
        for (index, node) in tape.nodes().iter().enumerate() {
            let len = node.shape.features * if node.shape.batched { batch } else { 1 };
            let id = tape.id_at(index);
            let data = match node.op {
                Op::Param { index } => params[tape.params()[index].range.clone()]
                    .iter()
                    .map(|&v| lift(v))
                    .collect(),
                Op::Input | Op::Const { .. } => {
                    let mut data = Vec::with_capacity(len);
                    for f in 0..node.shape.features {
                        if node.shape.batched {
                            data.extend(values.feature(id, f).iter().map(|&v| lift(v)));
                        } else {
                            data.push(lift(values.flat(id)[f]));
                        }
                    }
                    data
                }
                _ => vec![L::zero(); len],
            };
            reference.values.push(data);
            reference.grads.push(vec![L::zero(); len]);
        }
        reference
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// All values of a node (layout in the module docs).
    pub fn value(&self, id: NodeId) -> &[L] {
        &self.values[id.index()]
    }

    /// Mutable values of a node (to perturb a parameter or an input).
    pub fn value_mut(&mut self, id: NodeId) -> &mut [L] {
        &mut self.values[id.index()]
    }

    /// The gradient of the output with respect to a node, after [`Self::backward`].
    pub fn grad(&self, id: NodeId) -> &[L] {
        &self.grads[id.index()]
    }

    /// The single value of the tape's output.
    pub fn output(&self, tape: &Tape) -> L {
        self.values[tape.output().index()][0]
    }

    /// Element (sample `b`, feature `f`) of node `n`, broadcasting unbatched and one-feature
    /// tensors.
    fn at(&self, tape: &Tape, n: u32, b: usize, f: usize) -> L {
        let node = &tape.nodes()[n as usize];
        let f = if node.shape.features == 1 { 0 } else { f };
        let b = if node.shape.batched { b } else { 0 };
        self.values[n as usize][f * if node.shape.batched { self.batch } else { 1 } + b]
    }

    fn index(&self, tape: &Tape, n: u32, b: usize, f: usize) -> usize {
        let node = &tape.nodes()[n as usize];
        let f = if node.shape.features == 1 { 0 } else { f };
        if node.shape.batched {
            f * self.batch + b
        } else {
            f
        }
    }

    fn samples(&self, batched: bool) -> usize {
        if batched { self.batch } else { 1 }
    }

    /// Evaluates every computed node.
    pub fn forward(&mut self, tape: &Tape) {
        for (index, node) in tape.nodes().iter().enumerate() {
            let features = node.shape.features;
            let samples = self.samples(node.shape.batched);
            let inputs = &node.inputs;
            let mut out = vec![L::zero(); features * samples];
            match &node.op {
                Op::Input | Op::Param { .. } | Op::Const { .. } => continue,
                Op::Unary(op) => {
                    for (o, &v) in out.iter_mut().zip(&self.values[inputs[0] as usize]) {
                        *o = unary_value(*op, v);
                    }
                }
                Op::Binary(op) => {
                    for f in 0..features {
                        for b in 0..samples {
                            let (x, y) = (
                                self.at(tape, inputs[0], b, f),
                                self.at(tape, inputs[1], b, f),
                            );
                            out[f * samples + b] = binary_value(*op, x, y);
                        }
                    }
                }
                Op::SumFeatures { group } | Op::ProdFeatures { group } => {
                    let product = matches!(node.op, Op::ProdFeatures { .. });
                    for j in 0..features {
                        for b in 0..samples {
                            let mut acc = self.at(tape, inputs[0], b, j * group);
                            for k in 1..*group {
                                let v = self.at(tape, inputs[0], b, j * group + k);
                                acc = if product { acc * v } else { acc + v };
                            }
                            out[j * samples + b] = acc;
                        }
                    }
                }
                Op::MeanBatch => {
                    for (f, o) in out.iter_mut().enumerate() {
                        let terms: Vec<L> = (0..self.batch)
                            .map(|b| self.at(tape, inputs[0], b, f))
                            .collect();
                        *o = L::sum_unordered(&terms) / L::from_f64(self.batch as f64);
                    }
                }
                Op::MeanAll | Op::SumAll | Op::Norm2 => {
                    let x = &self.values[inputs[0] as usize];
                    let terms: Vec<L> = x
                        .iter()
                        .map(|&v| if node.op == Op::Norm2 { v * v } else { v })
                        .collect();
                    let sum = L::sum_unordered(&terms);
                    out[0] = match node.op {
                        Op::MeanAll => sum / L::from_f64(x.len() as f64),
                        Op::Norm2 => sum.sqrt(),
                        _ => sum,
                    };
                }
                Op::Matmul {
                    inputs: n_in,
                    outputs: _,
                    layout,
                } => {
                    let w = &self.values[inputs[1] as usize];
                    for o in 0..features {
                        for b in 0..samples {
                            let mut acc = self.at(tape, inputs[0], b, 0)
                                * w[weight_index(*layout, *n_in, features, 0, o)];
                            for i in 1..*n_in {
                                let x = self.at(tape, inputs[0], b, i);
                                acc =
                                    x.mul_add(w[weight_index(*layout, *n_in, features, i, o)], acc);
                            }
                            out[o * samples + b] = acc;
                        }
                    }
                }
                Op::Concat => {
                    out.clear();
                    for &input in inputs {
                        out.extend_from_slice(&self.values[input as usize]);
                    }
                }
                Op::Tile { times } => {
                    out.clear();
                    for _ in 0..*times {
                        out.extend_from_slice(&self.values[inputs[0] as usize]);
                    }
                }
                Op::Mse => {
                    let (y, t) = (
                        &self.values[inputs[0] as usize],
                        &self.values[inputs[1] as usize],
                    );
                    let terms: Vec<L> = y.iter().zip(t).map(|(&y, &t)| (y - t) * (y - t)).collect();
                    let sum = L::sum_unordered(&terms);
                    out[0] = sum / L::from_f64(y.len() as f64);
                }
                Op::Conv2d(conv) => {
                    let [x, w, bias] = [0, 1, 2].map(|k| &self.values[inputs[k] as usize]);
                    out = conv_values(*conv, [x, w, bias], self.batch);
                    if conv.pool {
                        out = layers::pool_forward(conv.output(), &out, self.batch);
                    }
                }
                Op::MaxPool2(image) => {
                    out =
                        layers::pool_forward(*image, &self.values[inputs[0] as usize], self.batch);
                }
                Op::Dropout { rate } => {
                    let factors = layers::dropout_factors(
                        self.noise_seed,
                        index,
                        *rate,
                        features,
                        self.batch,
                    );
                    let x = &self.values[inputs[0] as usize];
                    for ((o, &x), &factor) in out.iter_mut().zip(x).zip(&factors) {
                        *o = x * L::splat(factor);
                    }
                }
                Op::Softmax { group } => {
                    out = layers::softmax_forward(
                        *group,
                        &self.values[inputs[0] as usize],
                        self.batch,
                    );
                }
                Op::Window(window) => {
                    let x = &self.values[inputs[0] as usize];
                    for (from, to) in layers::window_features(*window) {
                        for b in 0..self.batch {
                            out[to * self.batch + b] = x[from * self.batch + b];
                        }
                    }
                }
            }
            self.values[index] = out;
        }
    }

    /// Gradients of the output (a single unbatched value) with respect to every node.
    ///
    /// Every contribution to a node's gradient is collected first and summed when the node
    /// is reached with [`Real::sum_unordered`]: the fast evaluator adds them in another
    /// order (lanes, then steps), and a tracked bound must hold for every order.
    pub fn backward(&mut self, tape: &Tape) {
        let mut pending: Vec<Vec<Vec<L>>> = self
            .values
            .iter()
            .map(|v| vec![Vec::new(); v.len()])
            .collect();
        pending[tape.output().index()][0].push(L::one());
        for (index, node) in tape.nodes().iter().enumerate().rev() {
            let g: Vec<L> = pending[index]
                .iter()
                .map(|terms| L::sum_unordered(terms))
                .collect();
            self.grads[index] = g.clone();
            if !node.needs_grad || !node.op.is_differentiable() {
                continue;
            }
            let inputs = &node.inputs;
            let needs = |k: usize| tape.nodes()[inputs[k] as usize].needs_grad;
            let samples = self.samples(node.shape.batched);
            let features = node.shape.features;
            let out = &self.values[index];
            // Adds `value` to the gradient of input `k` at sample `b`, feature `f`.
            let mut add = |k: usize, b: usize, f: usize, value: L| {
                let at = self.index(tape, inputs[k], b, f);
                pending[inputs[k] as usize][at].push(value);
            };
            match &node.op {
                Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!(),
                Op::Unary(op) => {
                    for f in 0..features {
                        for b in 0..samples {
                            let (x, at) = (self.at(tape, inputs[0], b, f), f * samples + b);
                            add(0, b, f, unary_grad(*op, x, out[at], g[at]));
                        }
                    }
                }
                Op::Binary(op) => {
                    for f in 0..features {
                        for b in 0..samples {
                            let at = f * samples + b;
                            let (x, y) = (
                                self.at(tape, inputs[0], b, f),
                                self.at(tape, inputs[1], b, f),
                            );
                            let (ga, gb) = binary_grads(*op, x, y, out[at], g[at]);
                            for (side, contribution) in [(0, ga), (1, gb)] {
                                if needs(side) {
                                    add(side, b, f, contribution);
                                }
                            }
                        }
                    }
                }
                Op::SumFeatures { group } | Op::ProdFeatures { group } => {
                    let product = matches!(node.op, Op::ProdFeatures { .. });
                    for j in 0..features {
                        for b in 0..samples {
                            for k in 0..*group {
                                let mut others = L::one();
                                if product {
                                    for l in (0..*group).filter(|&l| l != k) {
                                        others =
                                            others * self.at(tape, inputs[0], b, j * group + l);
                                    }
                                }
                                add(0, b, j * group + k, g[j * samples + b] * others);
                            }
                        }
                    }
                }
                Op::MeanBatch => {
                    let batch = L::from_f64(self.batch as f64);
                    for (f, &gf) in g.iter().enumerate() {
                        for b in 0..self.batch {
                            add(0, b, f, gf / batch);
                        }
                    }
                }
                Op::MeanAll | Op::SumAll | Op::Norm2 => {
                    let input = &tape.nodes()[inputs[0] as usize];
                    let (n_features, n_samples) =
                        (input.shape.features, self.samples(input.shape.batched));
                    let count = L::from_f64((n_features * n_samples) as f64);
                    for f in 0..n_features {
                        for b in 0..n_samples {
                            let x = self.at(tape, inputs[0], b, f);
                            let contribution = match node.op {
                                Op::MeanAll => g[0] / count,
                                Op::SumAll => g[0],
                                _ => L::select(
                                    out[0].equal(L::zero()),
                                    L::zero(),
                                    x * (g[0] / out[0]),
                                ),
                            };
                            add(0, b, f, contribution);
                        }
                    }
                }
                Op::Matmul {
                    inputs: n_in,
                    layout,
                    ..
                } => {
                    let (n_in, layout) = (*n_in, *layout);
                    for o in 0..features {
                        for b in 0..samples {
                            let go = g[o * samples + b];
                            for i in 0..n_in {
                                let wi = weight_index(layout, n_in, features, i, o);
                                if needs(0) {
                                    add(0, b, i, go * self.values[inputs[1] as usize][wi]);
                                }
                                if needs(1) {
                                    // the weight is unbatched: element wi whatever the sample
                                    add(1, 0, wi, go * self.at(tape, inputs[0], b, i));
                                }
                            }
                        }
                    }
                }
                Op::Concat => {
                    let mut at = 0;
                    for (k, &input) in inputs.iter().enumerate() {
                        let len = self.values[input as usize].len();
                        if needs(k) {
                            for (e, &v) in g[at..at + len].iter().enumerate() {
                                pending[input as usize][e].push(v);
                            }
                        }
                        at += len;
                    }
                }
                Op::Tile { .. } => {
                    let len = self.values[inputs[0] as usize].len();
                    for (e, &v) in g.iter().enumerate() {
                        pending[inputs[0] as usize][e % len].push(v);
                    }
                }
                Op::Mse => {
                    let (y, t) = (
                        &self.values[inputs[0] as usize],
                        &self.values[inputs[1] as usize],
                    );
                    let norm = L::from_f64(2.0 / y.len() as f64);
                    for side in 0..2 {
                        if !needs(side) {
                            continue;
                        }
                        for e in 0..y.len() {
                            let d = ((y[e] - t[e]) * norm) * g[0];
                            pending[inputs[side] as usize][e].push(if side == 0 { d } else { -d });
                        }
                    }
                }
                Op::Conv2d(conv) => {
                    let [x, w, bias] = [0, 1, 2].map(|k| &self.values[inputs[k] as usize]);
                    // a carried pool's and ReLU's gradients first, on the values before them
                    let (y, g) = if conv.pool {
                        let y = conv_values(*conv, [x, w, bias], self.batch);
                        let mut full = vec![L::zero(); y.len()];
                        for (at, v) in layers::pool_backward(conv.output(), &y, &g, self.batch) {
                            full[at] = v;
                        }
                        (y, full)
                    } else {
                        (out.clone(), g.clone())
                    };
                    let g: Vec<L> = if conv.relu {
                        (y.iter().zip(&g))
                            .map(|(&y, &g)| unary_grad(UnaryOp::Relu, y, y, g))
                            .collect()
                    } else {
                        g
                    };
                    let parts = layers::conv_backward(*conv, x, w, &g, self.batch);
                    for (k, part) in parts.into_iter().enumerate() {
                        if needs(k) {
                            for (at, v) in part {
                                pending[inputs[k] as usize][at].push(v);
                            }
                        }
                    }
                }
                Op::MaxPool2(image) => {
                    let x = &self.values[inputs[0] as usize];
                    for (at, v) in layers::pool_backward(*image, x, &g, self.batch) {
                        pending[inputs[0] as usize][at].push(v);
                    }
                }
                Op::Dropout { rate } => {
                    let factors = layers::dropout_factors(
                        self.noise_seed,
                        index,
                        *rate,
                        features,
                        self.batch,
                    );
                    for (at, (&g, &factor)) in g.iter().zip(&factors).enumerate() {
                        pending[inputs[0] as usize][at].push(g * L::splat(factor));
                    }
                }
                Op::Softmax { group } => {
                    for (at, v) in layers::softmax_backward(*group, out, &g, self.batch) {
                        pending[inputs[0] as usize][at].push(v);
                    }
                }
                Op::Window(window) => {
                    for (from, to) in layers::window_features(*window) {
                        for b in 0..self.batch {
                            pending[inputs[0] as usize][from * self.batch + b]
                                .push(g[to * self.batch + b]);
                        }
                    }
                }
            }
        }
    }
}

fn weight_index(layout: WeightLayout, inputs: usize, outputs: usize, i: usize, o: usize) -> usize {
    match layout {
        WeightLayout::InOut => i * outputs + o,
        WeightLayout::OutIn => o * inputs + i,
    }
}

/// A convolution's values before any pooling: through its ReLU if it carries one.
fn conv_values<L: Real>(conv: Conv2d, [x, w, bias]: [&[L]; 3], batch: usize) -> Vec<L> {
    let mut y = layers::conv_forward(conv, x, w, bias, batch);
    if conv.relu {
        for y in &mut y {
            *y = unary_value(UnaryOp::Relu, *y);
        }
    }
    y
}
