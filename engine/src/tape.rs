//! The recorded program: nodes in topological order, each an op over earlier nodes.
//!
//! A tape is built once (see [`Graph`](crate::Graph)) and never changes afterwards; values
//! and gradients live outside it, in [`Values`](crate::Values) and [`Grads`](crate::Grads),
//! so one tape serves any number of models and batch sizes.
//!
//! # Tensors
//! Every node is a tensor of `features` values per sample, either *batched* (one value per
//! sample of the batch and feature) or *unbatched* (one value per feature, shared by all
//! samples: parameters, constants, regularisers, the loss). Mixed operands broadcast: an
//! unbatched operand is repeated over the batch, and a one-feature operand over the features.

use crate::conventions::{ClampBounds, Conventions, Ties};
use std::sync::atomic::{AtomicU32, Ordering};

/// Identifies a node of one tape. Using it with another tape is a bug and panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeId {
    pub(crate) tape: u32,
    pub(crate) index: u32,
}

impl NodeId {
    /// Position in the tape's node list.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

pub(crate) fn next_tape_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Size of a tensor per sample, and whether it has a batch axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// One value per sample (true) or one value shared by the whole batch (false).
    pub batched: bool,
    /// Values per sample (batched) or in total (unbatched).
    pub features: usize,
}

impl Shape {
    /// A tensor with `features` values for every sample of the batch.
    pub fn batched(features: usize) -> Self {
        Shape {
            batched: true,
            features,
        }
    }

    /// A tensor of `features` values shared by all samples.
    pub fn unbatched(features: usize) -> Self {
        Shape {
            batched: false,
            features,
        }
    }

    /// One unbatched value.
    pub fn scalar() -> Self {
        Self::unbatched(1)
    }
}

/// Elementwise functions of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    /// sgn(v) in {-1, 0, 1}; passes no gradient.
    Sign,
    Ln,
    Exp,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    /// Round half to even; passes no gradient.
    Round,
    /// 1 / v.
    Recip,
    /// v^2.
    Square,
    Sqrt,
    /// Identity that passes no gradient (a stop-gradient).
    Detach,
    /// min(max(v, lo), hi); gradient 1 strictly inside, 0 outside, and at a bound as
    /// `bounds` says.
    Clamp {
        lo: f32,
        hi: f32,
        bounds: ClampBounds,
    },
    /// The indicator `[v < threshold]`; passes no gradient.
    Less {
        threshold: f32,
    },
}

/// Elementwise functions of two tensors (broadcasting as described in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// base^exponent with both operands tensors.
    Pow,
    /// sgn(base) |base|^exponent, the sign applied as a product (so a zero base with a
    /// negative exponent gives 0 x inf = NaN, as sign(x) * |x|^w does): the NRU's signed
    /// power in one pass forward and backward.
    SignedPow,
    /// Elementwise minimum; the gradient at a tie as the [`Ties`] say.
    Min(Ties),
    /// Elementwise maximum; the gradient at a tie as the [`Ties`] say.
    Max(Ties),
    /// a gated by b: a b + (1 - b), the two products rounded as written (a gate between a
    /// value and 1, as the NRU and the Real NPU form their factors) in one pass.
    Gated,
    /// a gated by b the NMU's way: b a + 1 - b, rounded left to right as (b a + 1) - b.
    GatedNmu,
}

/// How a weight matrix of a dense product is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `in x out`, row-major: `w[i * out + o]` (the Real NPU and NPU).
    InOut,
    /// `out x in`, row-major: `w[o * in + i]` (every other unit).
    OutIn,
}

/// The feature layout of a batched tensor read as images: `channels` planes of
/// `height x width`, channel-major then row-major (feature `(c * height + y) * width + x`),
/// as PyTorch flattens `(C, H, W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Image {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Image {
    pub fn new(channels: usize, height: usize, width: usize) -> Image {
        Image {
            channels,
            height,
            width,
        }
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// A 2-D convolution: valid (no padding), stride 1, square kernel, with a bias per filter.
/// Weights are laid out as PyTorch's `(filters, channels, kernel, kernel)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2d {
    pub input: Image,
    pub filters: usize,
    pub kernel: usize,
    /// How the f32 program computes it (the reference evaluators compute the convolution
    /// itself, whatever the method).
    pub method: ConvMethod,
    /// The output passes through a ReLU (as [`UnaryOp::Relu`]: negative values to zero, NaN
    /// kept) in the same step, and the output's gradient is masked by it before the
    /// convolution's own backward steps: the values and gradients of a ReLU node after it,
    /// with one pass over the output fewer each way (Winograd's output transform applies it
    /// as it writes each tile). The gradient such a node keeps is then that of the
    /// convolution before its ReLU.
    pub relu: bool,
    /// The (ReLU'd) output is max-pooled in 2 x 2 blocks, stride 2, as [`Op::MaxPool2`], in
    /// the same step: the node's values are the pooled images ([`Conv2d::result`]), and the
    /// scan's choice in each block is kept in the node's auxiliary slot for the backward pass,
    /// which rebuilds the convolution's output gradient from it. Winograd's output transform
    /// pools each tile as it computes it (its 4 x 4 tiles hold whole blocks), so the full
    /// output never reaches memory, and its backward steps rebuild the output's gradient tile
    /// by tile. The gradient such a node keeps is the pooled one, masked by a carried ReLU.
    pub pool: bool,
}

/// How a convolution is computed: the same function, different arithmetic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConvMethod {
    /// Matrix products of the weights and the input's patches: every output one fused
    /// multiply-add chain over its patch.
    #[default]
    Direct,
    /// Winograd's minimal filtering F(4x4, 3x3) (3x3 kernels only): about a quarter of the
    /// multiplications, with a larger but bounded rounding error (see `engine::winograd`).
    Winograd,
}

impl Conv2d {
    /// `filters` filters of `kernel x kernel` on `input`, direct, without a ReLU.
    pub fn new(input: Image, filters: usize, kernel: usize) -> Conv2d {
        Conv2d {
            input,
            filters,
            kernel,
            method: ConvMethod::Direct,
            relu: false,
            pool: false,
        }
    }

    /// Computed by `method`.
    pub fn by(self, method: ConvMethod) -> Conv2d {
        Conv2d { method, ..self }
    }

    /// Followed by a ReLU in the same node (see [`Conv2d::relu`]).
    pub fn with_relu(self) -> Conv2d {
        Conv2d { relu: true, ..self }
    }

    /// Followed by a 2 x 2 max-pool in the same node (see [`Conv2d::pool`]).
    pub fn with_pool(self) -> Conv2d {
        Conv2d { pool: true, ..self }
    }

    /// The node's images: [`Conv2d::output`], halved (rounded down) when pooled.
    pub fn result(&self) -> Image {
        let out = self.output();
        if self.pool {
            Image::new(out.channels, out.height / 2, out.width / 2)
        } else {
            out
        }
    }

    /// The convolution's images: one plane per filter, `kernel - 1` smaller in each direction
    /// (before any pooling).
    pub fn output(&self) -> Image {
        Image::new(
            self.filters,
            self.input.height + 1 - self.kernel,
            self.input.width + 1 - self.kernel,
        )
    }

    /// Weights per filter (channels x kernel x kernel): the depth of the product.
    pub fn patch(&self) -> usize {
        self.input.channels * self.kernel * self.kernel
    }
}

/// A rectangle of every channel of an image: rows `top..top + height`, columns
/// `left..left + width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub input: Image,
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl Window {
    pub fn output(&self) -> Image {
        Image::new(self.input.channels, self.height, self.width)
    }
}

/// What a node computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Data written by the caller before each forward pass.
    Input,
    /// A trainable tensor; `index` is its position among the tape's parameters.
    Param {
        index: usize,
    },
    /// Fixed values, set when buffers are created.
    Const {
        values: Vec<f32>,
    },
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// Sums consecutive groups of `group` features: `features / group` outputs.
    SumFeatures {
        group: usize,
    },
    /// Multiplies consecutive groups of `group` features.
    ProdFeatures {
        group: usize,
    },
    /// Mean over the batch of each feature (batched to unbatched).
    MeanBatch,
    /// Mean over every element (batch and features), one value.
    MeanAll,
    /// Sum over every element, one value.
    SumAll,
    /// Euclidean norm over every element, one value.
    Norm2,
    /// Dense product `[.., in] x [in, out] -> [.., out]` with an unbatched weight.
    Matmul {
        inputs: usize,
        outputs: usize,
        layout: WeightLayout,
    },
    /// Features of the inputs one after the other.
    Concat,
    /// The input's features repeated `times` times.
    Tile {
        times: usize,
    },
    /// Mean squared error between two tensors of the same shape, one value.
    Mse,
    /// `conv(input, weight) + bias`; inputs: the batched images, the weights, the biases.
    Conv2d(Conv2d),
    /// The maximum of each 2 x 2 block of every channel (stride 2; an odd last row or column
    /// is dropped). NaN propagates; the gradient goes to the block's first maximum (PyTorch's
    /// choice).
    MaxPool2(Image),
    /// Inverted dropout: each element is kept with probability `1 - rate` and scaled by
    /// `1 / (1 - rate)`, else zeroed. The mask is a hash of the buffers' noise seed, the node,
    /// the feature and the sample (see [`crate::dropout`]).
    Dropout {
        rate: f32,
    },
    /// Softmax over each consecutive group of `group` features.
    Softmax {
        group: usize,
    },
    /// A rectangle of every channel of an image (a crop; also a slice of features).
    Window(Window),
}

impl Op {
    /// Whether gradients flow through this op to its inputs.
    pub fn is_differentiable(&self) -> bool {
        !matches!(
            self,
            Op::Input
                | Op::Param { .. }
                | Op::Const { .. }
                | Op::Unary(
                    UnaryOp::Sign | UnaryOp::Round | UnaryOp::Detach | UnaryOp::Less { .. }
                )
        )
    }
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    /// Indices of the input nodes, all smaller than this node's index.
    pub inputs: Vec<u32>,
    pub shape: Shape,
    /// Whether the loss gradient with respect to this node is needed: the output's gradient
    /// reaches the node through differentiable ops, and the node depends on a parameter (or
    /// an input recorded with gradients) through differentiable ops.
    pub needs_grad: bool,
    /// Whether the output depends on this node. Nodes that do not feed the output are not
    /// evaluated by the forward pass.
    pub live: bool,
}

/// A trainable tensor of the tape.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    pub node: NodeId,
    pub name: String,
    pub shape: Shape,
    /// Where the parameter lives in the parameter vector passed to [`forward`](crate::forward).
    pub range: std::ops::Range<usize>,
}

/// A finished, immutable program.
#[derive(Clone, Debug)]
pub struct Tape {
    pub(crate) id: u32,
    pub(crate) nodes: Vec<Node>,
    pub(crate) params: Vec<ParamInfo>,
    pub(crate) output: NodeId,
    pub(crate) conventions: Conventions,
    pub(crate) labels: std::collections::HashMap<u32, String>,
}

impl Tape {
    /// All nodes in evaluation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node `id` refers to.
    ///
    /// # Panics
    /// If `id` belongs to another tape.
    pub fn node(&self, id: NodeId) -> &Node {
        self.check(id);
        &self.nodes[id.index()]
    }

    /// Trainable tensors in declaration order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// The range of the parameter vector that holds the parameters `ids`, which were
    /// declared one after the other (a head's parameters after an encoder's): the slice a
    /// head's projection or an optimiser group works on.
    ///
    /// # Panics
    /// If an id is not a parameter of this tape, or the parameters are not consecutive.
    pub fn param_span(&self, ids: &[NodeId]) -> std::ops::Range<usize> {
        let mut ranges: Vec<std::ops::Range<usize>> = ids
            .iter()
            .map(|&id| match self.node(id).op {
                Op::Param { index } => self.params[index].range.clone(),
                _ => panic!("node {} is not a parameter", id.index()),
            })
            .collect();
        ranges.sort_by_key(|r| r.start);
        assert!(
            ranges.windows(2).all(|w| w[0].end == w[1].start),
            "the parameters are not consecutive"
        );
        ranges
            .first()
            .map_or(0..0, |first| first.start..ranges[ranges.len() - 1].end)
    }

    /// Total number of trainable values.
    pub fn param_len(&self) -> usize {
        self.params.last().map_or(0, |p| p.range.end)
    }

    /// What node `id` is in the model's formula, if the model labelled it.
    pub fn label(&self, id: NodeId) -> Option<&str> {
        self.check(id);
        self.labels.get(&id.index).map(String::as_str)
    }

    /// The derivative conventions the tape's clamps, minima and maxima were recorded with.
    pub fn conventions(&self) -> Conventions {
        self.conventions
    }

    /// The node the backward pass differentiates (the loss).
    pub fn output(&self) -> NodeId {
        self.output
    }

    /// The id of the node at `index`.
    pub fn id_at(&self, index: usize) -> NodeId {
        assert!(index < self.nodes.len(), "node index {index} out of range");
        NodeId {
            tape: self.id,
            index: index as u32,
        }
    }

    pub(crate) fn check(&self, id: NodeId) {
        assert_eq!(id.tape, self.id, "node id from another tape");
    }
}
