//! Recording a tape with ordinary expressions: `let f = s * p * a + (1.0 - a);`.
//!
//! A [`Graph`] collects nodes; a [`Var`] is a handle to one of them that supports the
//! arithmetic operators and the elementwise functions. Shapes are checked as each node is
//! recorded; a mismatch is a bug in the model code and panics with the op's name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::conventions::Conventions;
use crate::tape::{
    BinaryOp, Conv2d, ConvMethod, Image, Node, NodeId, Op, ParamInfo, Shape, Tape, UnaryOp,
    WeightLayout, Window, next_tape_id,
};

/// A tape under construction.
pub struct Graph {
    id: u32,
    nodes: RefCell<Vec<Node>>,
    params: RefCell<Vec<ParamInfo>>,
    /// Scalar constants by bit pattern, so `x * 2.0` twice records one constant.
    scalars: RefCell<HashMap<u32, NodeId>>,
    /// The derivative conventions clamps, minima and maxima are recorded with.
    conventions: Conventions,
    /// What nodes are in the model's formula, by node index (see [`Var::label`]).
    labels: RefCell<HashMap<u32, String>>,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

/// A node of a [`Graph`] being built.
#[derive(Clone, Copy)]
pub struct Var<'g> {
    graph: &'g Graph,
    id: NodeId,
}

impl std::fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var({}, {:?})", self.id.index, self.shape())
    }
}

impl Graph {
    /// A graph with the documented derivative conventions ([`Conventions::Paper`]).
    pub fn new() -> Self {
        Self::with_conventions(Conventions::Paper)
    }

    /// A graph whose clamps, minima and maxima follow `conventions` at their bounds and ties.
    pub fn with_conventions(conventions: Conventions) -> Self {
        Graph {
            id: next_tape_id(),
            nodes: RefCell::new(Vec::new()),
            params: RefCell::new(Vec::new()),
            scalars: RefCell::new(HashMap::new()),
            conventions,
            labels: RefCell::new(HashMap::new()),
        }
    }

    /// The derivative conventions of this graph.
    pub fn conventions(&self) -> Conventions {
        self.conventions
    }

    fn push(&self, op: Op, inputs: &[NodeId], shape: Shape) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        for input in inputs {
            assert_eq!(input.tape, self.id, "{op:?}: input from another graph");
        }
        let needs_grad = match op {
            Op::Param { .. } => true,
            _ => op.is_differentiable() && inputs.iter().any(|i| nodes[i.index()].needs_grad),
        };
        let id = NodeId {
            tape: self.id,
            index: u32::try_from(nodes.len()).expect("tape too long"),
        };
        nodes.push(Node {
            op,
            inputs: inputs.iter().map(|i| i.index).collect(),
            shape,
            needs_grad,
            live: true,
        });
        Var { graph: self, id }
    }

    fn shape_of(&self, id: NodeId) -> Shape {
        self.nodes.borrow()[id.index()].shape
    }

    /// Data set by the caller before every forward pass; no gradient is computed for it.
    pub fn input(&self, shape: Shape) -> Var<'_> {
        self.push(Op::Input, &[], shape)
    }

    /// Data whose gradient is wanted too (for input-gradient audits and stacked models).
    pub fn input_with_grad(&self, shape: Shape) -> Var<'_> {
        let v = self.push(Op::Input, &[], shape);
        self.nodes.borrow_mut()[v.id.index()].needs_grad = true;
        v
    }

    /// Parameter values declared so far: where the next parameter will start.
    pub fn param_len(&self) -> usize {
        self.params.borrow().last().map_or(0, |p| p.range.end)
    }

    /// A trainable unbatched tensor. Parameters are laid out in declaration order in the
    /// parameter vector (see [`ParamInfo::range`](crate::ParamInfo::range)).
    pub fn param(&self, name: &str, features: usize) -> Var<'_> {
        let params = self.params.borrow();
        let start = params.last().map_or(0, |p| p.range.end);
        let shape = Shape::unbatched(features);
        let index = params.len();
        drop(params);
        let v = self.push(Op::Param { index }, &[], shape);
        self.params.borrow_mut().push(ParamInfo {
            node: v.id,
            name: name.to_owned(),
            shape,
            range: start..start + features,
        });
        v
    }

    /// Fixed unbatched values.
    pub fn constant(&self, values: &[f32]) -> Var<'_> {
        assert!(!values.is_empty(), "constant: no values");
        self.push(
            Op::Const {
                values: values.to_vec(),
            },
            &[],
            Shape::unbatched(values.len()),
        )
    }

    /// One fixed value (recorded once per distinct value).
    pub fn scalar(&self, value: f32) -> Var<'_> {
        if let Some(&id) = self.scalars.borrow().get(&value.to_bits()) {
            return Var { graph: self, id };
        }
        let v = self.constant(&[value]);
        self.scalars.borrow_mut().insert(value.to_bits(), v.id);
        v
    }

    /// The features of `parts`, one after the other (all batched or all unbatched).
    pub fn concat<'g>(&'g self, parts: &[Var<'g>]) -> Var<'g> {
        assert!(!parts.is_empty(), "concat: no parts");
        let batched = parts[0].shape().batched;
        assert!(
            parts.iter().all(|p| p.shape().batched == batched),
            "concat: mixing batched and unbatched parts"
        );
        let features = parts.iter().map(|p| p.shape().features).sum();
        let ids: Vec<NodeId> = parts.iter().map(|p| p.id).collect();
        self.push(Op::Concat, &ids, Shape { batched, features })
    }

    /// Freezes the graph into a tape whose backward pass differentiates `output`.
    ///
    /// Nodes the output does not depend on are kept in the tape but are neither evaluated nor
    /// differentiated.
    pub fn finish(&self, output: Var<'_>) -> Tape {
        assert_eq!(output.id.tape, self.id, "finish: output from another graph");
        let mut nodes = self.nodes.borrow().clone();
        let mut feeds_output = vec![false; nodes.len()];
        // the output's gradient reaches a node only through differentiable ops: a node read
        // only by a stop-gradient (a detached batch mean, an indicator) gets no backward
        // step, so its zero gradient never meets an infinite local derivative (0 x inf)
        let mut reached = vec![false; nodes.len()];
        feeds_output[output.id.index()] = true;
        reached[output.id.index()] = true;
        for index in (0..nodes.len()).rev() {
            let passes = reached[index] && nodes[index].op.is_differentiable();
            if feeds_output[index] {
                for &input in &nodes[index].inputs {
                    feeds_output[input as usize] = true;
                    reached[input as usize] |= passes;
                }
            }
        }
        for ((node, feeds), reached) in nodes.iter_mut().zip(feeds_output).zip(reached) {
            node.needs_grad &= reached;
            node.live = feeds;
        }
        Tape {
            id: self.id,
            nodes,
            params: self.params.borrow().clone(),
            output: output.id,
            conventions: self.conventions,
            labels: self.labels.borrow().clone(),
        }
    }
}

impl<'g> Var<'g> {
    /// Names what this node is in the model's formula (e.g. `1/(x + EPS)`), for diagnoses
    /// of non-finite values ([`crate::diagnose`]); changes nothing else.
    pub fn label(self, text: &str) -> Var<'g> {
        self.graph
            .labels
            .borrow_mut()
            .insert(self.id.index, text.to_string());
        self
    }

    /// The node this handle refers to.
    pub fn id(self) -> NodeId {
        self.id
    }

    pub fn shape(self) -> Shape {
        self.graph.shape_of(self.id)
    }

    /// The graph this node belongs to.
    pub fn graph(self) -> &'g Graph {
        self.graph
    }

    fn unary(self, op: UnaryOp) -> Var<'g> {
        self.graph.push(Op::Unary(op), &[self.id], self.shape())
    }

    fn binary(self, op: BinaryOp, rhs: Var<'g>) -> Var<'g> {
        let (a, b) = (self.shape(), rhs.shape());
        let features = if a.features == b.features || b.features == 1 {
            a.features
        } else if a.features == 1 {
            b.features
        } else {
            panic!(
                "{op:?}: feature counts {} and {} do not broadcast",
                a.features, b.features
            )
        };
        let shape = Shape {
            batched: a.batched || b.batched,
            features,
        };
        self.graph.push(Op::Binary(op), &[self.id, rhs.id], shape)
    }

    fn reduce(self, op: Op, shape: Shape) -> Var<'g> {
        self.graph.push(op, &[self.id], shape)
    }

    pub fn abs(self) -> Var<'g> {
        self.unary(UnaryOp::Abs)
    }
    pub fn sign(self) -> Var<'g> {
        self.unary(UnaryOp::Sign)
    }
    pub fn ln(self) -> Var<'g> {
        self.unary(UnaryOp::Ln)
    }
    pub fn exp(self) -> Var<'g> {
        self.unary(UnaryOp::Exp)
    }
    pub fn sin(self) -> Var<'g> {
        self.unary(UnaryOp::Sin)
    }
    pub fn cos(self) -> Var<'g> {
        self.unary(UnaryOp::Cos)
    }
    pub fn tanh(self) -> Var<'g> {
        self.unary(UnaryOp::Tanh)
    }
    pub fn sigmoid(self) -> Var<'g> {
        self.unary(UnaryOp::Sigmoid)
    }
    pub fn relu(self) -> Var<'g> {
        self.unary(UnaryOp::Relu)
    }
    pub fn round(self) -> Var<'g> {
        self.unary(UnaryOp::Round)
    }
    pub fn recip(self) -> Var<'g> {
        self.unary(UnaryOp::Recip)
    }
    pub fn square(self) -> Var<'g> {
        self.unary(UnaryOp::Square)
    }
    pub fn sqrt(self) -> Var<'g> {
        self.unary(UnaryOp::Sqrt)
    }
    pub fn detach(self) -> Var<'g> {
        self.unary(UnaryOp::Detach)
    }
    pub fn clamp(self, lo: f32, hi: f32) -> Var<'g> {
        assert!(lo <= hi, "clamp: lo {lo} > hi {hi}");
        let bounds = self.graph.conventions.clamp_bounds();
        self.unary(UnaryOp::Clamp { lo, hi, bounds })
    }
    /// The indicator `[self < threshold]` (no gradient).
    pub fn less(self, threshold: f32) -> Var<'g> {
        self.unary(UnaryOp::Less { threshold })
    }
    pub fn pow(self, exponent: Var<'g>) -> Var<'g> {
        self.binary(BinaryOp::Pow, exponent)
    }
    /// sgn(self) |self|^exponent: the values of `self.sign() * self.abs().pow(exponent)` in
    /// one pass forward and backward.
    pub fn signed_pow(self, exponent: Var<'g>) -> Var<'g> {
        self.binary(BinaryOp::SignedPow, exponent)
    }
    pub fn min(self, rhs: Var<'g>) -> Var<'g> {
        self.binary(BinaryOp::Min(self.graph.conventions.ties()), rhs)
    }
    pub fn max(self, rhs: Var<'g>) -> Var<'g> {
        self.binary(BinaryOp::Max(self.graph.conventions.ties()), rhs)
    }
    /// `self * gate + (1 - gate)`: the gate blends between self (gate 1) and 1 (gate 0).
    /// The same values as the three ops written out, in one pass forward and backward.
    pub fn gated(self, gate: Var<'g>) -> Var<'g> {
        self.binary(BinaryOp::Gated, gate)
    }
    /// `gate * self + 1 - gate`, the NMU's factor, rounded left to right as written: the
    /// values of the three ops, in one pass forward and backward.
    pub fn gated_nmu(self, gate: Var<'g>) -> Var<'g> {
        self.binary(BinaryOp::GatedNmu, gate)
    }

    /// Sum of each consecutive group of `group` features.
    pub fn sum_features(self, group: usize) -> Var<'g> {
        let s = self.shape();
        assert!(
            group > 0 && s.features.is_multiple_of(group),
            "sum_features: {} features, group {group}",
            s.features
        );
        self.reduce(
            Op::SumFeatures { group },
            Shape {
                features: s.features / group,
                ..s
            },
        )
    }

    /// Product of each consecutive group of `group` features.
    pub fn prod_features(self, group: usize) -> Var<'g> {
        let s = self.shape();
        assert!(
            group > 0 && s.features.is_multiple_of(group),
            "prod_features: {} features, group {group}",
            s.features
        );
        self.reduce(
            Op::ProdFeatures { group },
            Shape {
                features: s.features / group,
                ..s
            },
        )
    }

    /// Mean over the batch, per feature.
    pub fn mean_batch(self) -> Var<'g> {
        let s = self.shape();
        assert!(s.batched, "mean_batch: tensor is not batched");
        self.reduce(Op::MeanBatch, Shape::unbatched(s.features))
    }

    /// Mean of every element.
    pub fn mean_all(self) -> Var<'g> {
        self.reduce(Op::MeanAll, Shape::scalar())
    }

    /// Sum of every element.
    pub fn sum_all(self) -> Var<'g> {
        self.reduce(Op::SumAll, Shape::scalar())
    }

    /// Euclidean norm of every element.
    pub fn norm2(self) -> Var<'g> {
        self.reduce(Op::Norm2, Shape::scalar())
    }

    /// `self [.., in] x weight [in, out]` with an unbatched weight stored as `layout`.
    pub fn matmul(self, weight: Var<'g>, layout: WeightLayout) -> Var<'g> {
        let (x, w) = (self.shape(), weight.shape());
        assert!(!w.batched, "matmul: the weight must be unbatched");
        assert!(
            x.features > 0 && w.features % x.features == 0,
            "matmul: {} weights do not fit {} inputs",
            w.features,
            x.features
        );
        let outputs = w.features / x.features;
        let op = Op::Matmul {
            inputs: x.features,
            outputs,
            layout,
        };
        self.graph.push(
            op,
            &[self.id, weight.id],
            Shape {
                features: outputs,
                ..x
            },
        )
    }

    /// The features repeated `times` times.
    pub fn tile(self, times: usize) -> Var<'g> {
        let s = self.shape();
        assert!(times > 0, "tile: zero times");
        self.reduce(
            Op::Tile { times },
            Shape {
                features: s.features * times,
                ..s
            },
        )
    }

    /// A valid, stride-1 2-D convolution of the images `self` (laid out as `input`) with
    /// `weight` (`filters x channels x kernel x kernel`) plus one `bias` per filter.
    pub fn conv2d(
        self,
        weight: Var<'g>,
        bias: Var<'g>,
        input: Image,
        filters: usize,
        kernel: usize,
    ) -> Var<'g> {
        self.conv2d_by(ConvMethod::Direct, weight, bias, input, filters, kernel)
    }

    /// [`Var::conv2d`] computed by `method` ([`ConvMethod::Winograd`] needs a 3 x 3 kernel).
    pub fn conv2d_by(
        self,
        method: ConvMethod,
        weight: Var<'g>,
        bias: Var<'g>,
        input: Image,
        filters: usize,
        kernel: usize,
    ) -> Var<'g> {
        self.convolve(Conv2d::new(input, filters, kernel).by(method), weight, bias)
    }

    /// The convolution `conv` of the images `self` with `weight` and `bias`, as
    /// [`Var::conv2d`], computed and followed (or not) by a ReLU and a max-pool as `conv`
    /// says: e.g.
    /// `x.convolve(Conv2d::new(image, 64, 3).by(ConvMethod::Winograd).with_relu(), w, b)`.
    pub fn convolve(self, conv: Conv2d, weight: Var<'g>, bias: Var<'g>) -> Var<'g> {
        let Conv2d {
            input,
            filters,
            kernel,
            method,
            ..
        } = conv;
        assert!(
            method != ConvMethod::Winograd || kernel == 3,
            "conv2d: Winograd's F(4x4, 3x3) needs a 3 x 3 kernel, not {kernel} x {kernel}"
        );
        let x = self.shape();
        assert!(
            x.batched && x.features == input.features(),
            "conv2d: the input has {} features, the images {}",
            x.features,
            input.features()
        );
        assert!(
            kernel > 0 && kernel <= input.height && kernel <= input.width,
            "conv2d: a {kernel} x {kernel} kernel on {} x {} images",
            input.height,
            input.width
        );
        assert!(
            input.channels > 0 && filters > 0,
            "conv2d: {} channels, {filters} filters",
            input.channels
        );
        let out = conv.output();
        assert!(
            !conv.pool || (out.height >= 2 && out.width >= 2),
            "conv2d: pooling {} x {} outputs",
            out.height,
            out.width
        );
        assert_eq!(
            weight.shape(),
            Shape::unbatched(filters * conv.patch()),
            "conv2d: weight shape"
        );
        assert_eq!(
            bias.shape(),
            Shape::unbatched(filters),
            "conv2d: bias shape"
        );
        self.graph.push(
            Op::Conv2d(conv),
            &[self.id, weight.id, bias.id],
            Shape::batched(conv.result().features()),
        )
    }

    /// The maximum of every 2 x 2 block (stride 2) of the images `self`, laid out as `input`.
    pub fn max_pool2(self, input: Image) -> Var<'g> {
        let x = self.shape();
        assert!(
            x.batched && x.features == input.features(),
            "max_pool2: the input has {} features, the images {}",
            x.features,
            input.features()
        );
        assert!(
            input.height >= 2 && input.width >= 2,
            "max_pool2: images under 2 x 2"
        );
        let out = Image::new(input.channels, input.height / 2, input.width / 2);
        self.reduce(Op::MaxPool2(input), Shape::batched(out.features()))
    }

    /// Inverted dropout of a batched tensor: elements zeroed with probability `rate`, the
    /// others scaled by `1 / (1 - rate)`. A training-mode op: record an evaluation tape
    /// without it.
    pub fn dropout(self, rate: f32) -> Var<'g> {
        assert!(self.shape().batched, "dropout: the tensor is not batched");
        assert!(
            (0.0..1.0).contains(&rate),
            "dropout: rate {rate} outside [0, 1)"
        );
        self.reduce(Op::Dropout { rate }, self.shape())
    }

    /// Softmax over each consecutive group of `group` features.
    pub fn softmax(self, group: usize) -> Var<'g> {
        let s = self.shape();
        assert!(s.batched, "softmax: the tensor is not batched");
        assert!(
            group > 0 && s.features.is_multiple_of(group),
            "softmax: {} features, group {group}",
            s.features
        );
        self.reduce(Op::Softmax { group }, s)
    }

    /// The expected value of `values` under the softmax of each group of `values.len()`
    /// features: a differentiable arg-max (`values` 1..9 read digits as numbers).
    pub fn soft_argmax(self, values: &[f32]) -> Var<'g> {
        let group = values.len();
        let groups = self.shape().features / group.max(1);
        let weights = self.graph.constant(&values.repeat(groups));
        (self.softmax(group) * weights).sum_features(group)
    }

    /// Rows `top..top + height` and columns `left..left + width` of every channel of the
    /// images `self`, laid out as `input`.
    pub fn window(
        self,
        input: Image,
        top: usize,
        left: usize,
        height: usize,
        width: usize,
    ) -> Var<'g> {
        let window = Window {
            input,
            top,
            left,
            height,
            width,
        };
        let x = self.shape();
        assert!(
            x.batched && x.features == input.features(),
            "window: the input has {} features, the images {}",
            x.features,
            input.features()
        );
        assert!(
            height > 0 && width > 0 && top + height <= input.height && left + width <= input.width,
            "window: rows {top}..{} and columns {left}..{} of {} x {} images",
            top + height,
            left + width,
            input.height,
            input.width
        );
        self.reduce(
            Op::Window(window),
            Shape::batched(window.output().features()),
        )
    }

    /// Features `start..start + len` of a batched tensor.
    pub fn slice(self, start: usize, len: usize) -> Var<'g> {
        let features = self.shape().features;
        self.window(Image::new(1, 1, features), 0, start, 1, len)
    }

    /// Mean squared error against `target` (same shape).
    pub fn mse(self, target: Var<'g>) -> Var<'g> {
        assert_eq!(self.shape(), target.shape(), "mse: shapes differ");
        self.graph
            .push(Op::Mse, &[self.id, target.id], Shape::scalar())
    }
}

macro_rules! operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl<'g> $trait for Var<'g> {
            type Output = Var<'g>;
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                self.binary($op, rhs)
            }
        }
        impl<'g> $trait<f32> for Var<'g> {
            type Output = Var<'g>;
            fn $method(self, rhs: f32) -> Var<'g> {
                self.binary($op, self.graph.scalar(rhs))
            }
        }
        impl<'g> $trait<Var<'g>> for f32 {
            type Output = Var<'g>;
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                rhs.graph.scalar(self).binary($op, rhs)
            }
        }
    };
}

operator!(Add, add, BinaryOp::Add);
operator!(Sub, sub, BinaryOp::Sub);
operator!(Mul, mul, BinaryOp::Mul);
operator!(Div, div, BinaryOp::Div);

impl<'g> Neg for Var<'g> {
    type Output = Var<'g>;
    fn neg(self) -> Var<'g> {
        self.unary(UnaryOp::Neg)
    }
}
