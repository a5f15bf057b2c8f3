//! The two-digit network (spec section 5): one CNN encoder applied to the left and right
//! halves of a 28 x 56 image with shared parameters, each half read as a digit value in
//! [1, 9] by a soft-argmax, and an arithmetic head on the two digits. Encoder and head are
//! one graph, so one backward pass trains both.

use std::ops::Range;

use engine::{Graph, Image, NodeId, Shape, Tape, Var, WeightLayout};
use modules::Unit;
use modules::units::{NpuClip, RealNpu};
use rand_core::Rng;

/// One sample: two digit images side by side.
pub const PAIR: Image = Image {
    channels: 1,
    height: 28,
    width: 56,
};
/// One digit image: a half of [`PAIR`].
pub const DIGIT: Image = Image {
    channels: 1,
    height: 28,
    width: 28,
};
/// The digits the encoder reads: its logits are for 1..9.
pub const DIGITS: [f32; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];

/// The encoder's layers: conv 3x3 x32, ReLU, conv 3x3 x64, ReLU, 2x2 max-pool, dropout 0.25,
/// dense 9216 -> 128, ReLU, dropout 0.5, dense 128 -> 9, soft-argmax.
const CONV1: (usize, usize) = (32, 3);
const CONV2: (usize, usize) = (64, 3);
const HIDDEN: usize = 128;

/// The encoder's parameters on one graph (declared once, used for both halves).
pub struct Encoder<'g> {
    conv1: (Var<'g>, Var<'g>),
    conv2: (Var<'g>, Var<'g>),
    fc1: (Var<'g>, Var<'g>),
    fc2: (Var<'g>, Var<'g>),
}

/// Whether a graph is recorded for training (dropout on) or for evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

impl<'g> Encoder<'g> {
    /// Declares the encoder's parameters (1,199,753 values) on `graph`.
    pub fn declare(graph: &'g Graph) -> Self {
        let pooled = pooled_image().features();
        let (c1, k1) = CONV1;
        let (c2, k2) = CONV2;
        Encoder {
            conv1: (
                graph.param("conv1.weight", c1 * DIGIT.channels * k1 * k1),
                graph.param("conv1.bias", c1),
            ),
            conv2: (
                graph.param("conv2.weight", c2 * c1 * k2 * k2),
                graph.param("conv2.bias", c2),
            ),
            fc1: (
                graph.param("fc1.weight", HIDDEN * pooled),
                graph.param("fc1.bias", HIDDEN),
            ),
            fc2: (
                graph.param("fc2.weight", DIGITS.len() * HIDDEN),
                graph.param("fc2.bias", DIGITS.len()),
            ),
        }
    }

    /// The digit value of the images `digit` (laid out as [`DIGIT`]).
    pub fn read(&self, digit: Var<'g>, mode: Mode) -> Var<'g> {
        let (c1, k1) = CONV1;
        let (c2, k2) = CONV2;
        let conv1_out = Image::new(c1, DIGIT.height + 1 - k1, DIGIT.width + 1 - k1);
        let h = digit
            .conv2d(self.conv1.0, self.conv1.1, DIGIT, c1, k1)
            .relu();
        let h = h
            .conv2d(self.conv2.0, self.conv2.1, conv1_out, c2, k2)
            .relu();
        let conv2_out = Image::new(c2, conv1_out.height + 1 - k2, conv1_out.width + 1 - k2);
        let mut h = h.max_pool2(conv2_out);
        if mode == Mode::Train {
            h = h.dropout(0.25);
        }
        let mut h = (h.matmul(self.fc1.0, WeightLayout::OutIn) + self.fc1.1).relu();
        if mode == Mode::Train {
            h = h.dropout(0.5);
        }
        (h.matmul(self.fc2.0, WeightLayout::OutIn) + self.fc2.1).soft_argmax(&DIGITS)
    }

    /// The two digit values of the pair images `pair` (laid out as [`PAIR`]).
    pub fn read_pair(&self, pair: Var<'g>, mode: Mode) -> (Var<'g>, Var<'g>) {
        let half = |left| pair.window(PAIR, 0, left, DIGIT.height, DIGIT.width);
        (self.read(half(0), mode), self.read(half(DIGIT.width), mode))
    }
}

/// The second convolution's output after pooling: 64 x 12 x 12.
fn pooled_image() -> Image {
    let side = (DIGIT.height + 2 - CONV1.1 - CONV2.1) / 2;
    Image::new(CONV2.0, side, side)
}

/// The inputs of each dense or convolution layer's units, by parameter name.
fn fan_in(name: &str) -> Option<usize> {
    let (c1, k1) = CONV1;
    let (_, k2) = CONV2;
    Some(match name.split('.').next()? {
        "conv1" => DIGIT.channels * k1 * k1,
        "conv2" => c1 * k2 * k2,
        "fc1" => pooled_image().features(),
        "fc2" => HIDDEN,
        _ => return None,
    })
}

/// PyTorch's default initialisation of the encoder's parameters in `params` (laid out as
/// `tape` says): weights and biases uniform in +-1/sqrt(fan in). Parameters that are not
/// the encoder's are left as they are.
pub fn init_encoder(tape: &Tape, params: &mut [f32], rng: &mut dyn Rng) {
    for info in tape.params() {
        if let Some(fan_in) = fan_in(&info.name) {
            let bound = 1.0 / (fan_in as f64).sqrt();
            for p in &mut params[info.range.clone()] {
                let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                *p = ((2.0 * unit - 1.0) * bound) as f32;
            }
        }
    }
}

/// The arithmetic head on the two digits (spec section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Head {
    /// `d1 / d2`, fixed: only the encoder learns.
    Div,
    /// Linear(2, 256), ReLU, Linear(256, 256), ReLU, Linear(256, 1), with L2 weight decay.
    Mlp,
    /// The Real NPU (modified): gate clamped inside, W and g clamped after each step.
    RealNpu,
    /// The NRU, with the gradients of every parameter clipped to norm 1.
    Nru,
    /// The NMRU with its sign term.
    Nmru,
}

impl Head {
    pub const ALL: [Head; 5] = [Head::Div, Head::Mlp, Head::RealNpu, Head::Nru, Head::Nmru];

    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Head::Div => "div",
            Head::Mlp => "mlp",
            Head::RealNpu => "realnpu",
            Head::Nru => "nru",
            Head::Nmru => "nmru",
        }
    }

    /// The name in the paper's figures.
    pub fn label(self) -> &'static str {
        match self {
            Head::Div => "DIV",
            Head::Mlp => "MLP",
            Head::RealNpu => "Real NPU (mod)",
            Head::Nru => "NRU",
            Head::Nmru => "NMRU",
        }
    }

    pub fn by_name(name: &str) -> Option<Head> {
        Head::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The arithmetic unit of a division-module head.
    pub fn unit(self) -> Option<Unit> {
        match self {
            Head::Div | Head::Mlp => None,
            Head::RealNpu => Some(Unit::RealNpu(RealNpu {
                clip: NpuClip::WG,
                ..RealNpu::new(2, 1)
            })),
            Head::Nru => Unit::by_name("nru", 2, 1),
            Head::Nmru => Unit::by_name("sign-nmru", 2, 1),
        }
    }

    /// The classic L2 weight decay of the head's parameters (spec section 6).
    pub fn weight_decay(self) -> f32 {
        if self == Head::Mlp { 1e-3 } else { 0.0 }
    }

    /// Whether the gradients of all parameters are clipped to norm 1 (the NRU only).
    pub fn clips(self) -> bool {
        self == Head::Nru
    }

    /// The head's initialisation (spec section 5.2), into its own parameters.
    pub fn init(self, params: &mut [f32], rng: &mut dyn Rng) {
        let uniform = |rng: &mut dyn Rng, lo: f64, hi: f64| {
            let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (lo + (hi - lo) * unit) as f32
        };
        match self {
            Head::Div => {}
            Head::Mlp => {
                let mut at = 0;
                for (inputs, outputs) in MLP_LAYERS {
                    let bound = 1.0 / (inputs as f64).sqrt();
                    for p in &mut params[at..at + (inputs + 1) * outputs] {
                        *p = uniform(rng, -bound, bound);
                    }
                    at += (inputs + 1) * outputs;
                }
            }
            Head::RealNpu => {
                let (w, g) = params.split_at_mut(2);
                w.iter_mut().for_each(|w| *w = uniform(rng, -0.5, 0.5));
                g.fill(0.5);
            }
            Head::Nru => params.iter_mut().for_each(|w| *w = uniform(rng, -0.5, 0.5)),
            Head::Nmru => params
                .iter_mut()
                .for_each(|w| *w = uniform(rng, 0.25, 0.75)),
        }
    }

    /// The clamps after each optimiser step, on the head's own parameters.
    pub fn project(self, params: &mut [f32]) {
        if let Some(unit) = self.unit() {
            unit.project(params);
        }
    }
}

/// The MLP head's layers (inputs, outputs), each a weight matrix and a bias.
const MLP_LAYERS: [(usize, usize); 3] = [(2, 256), (256, 256), (256, 1)];

/// The MLP head on `x` (two features), declaring its parameters.
fn mlp<'g>(graph: &'g Graph, x: Var<'g>) -> Var<'g> {
    let mut h = x;
    for (layer, (inputs, outputs)) in MLP_LAYERS.into_iter().enumerate() {
        let w = graph.param(&format!("mlp{layer}.weight"), inputs * outputs);
        let b = graph.param(&format!("mlp{layer}.bias"), outputs);
        h = h.matmul(w, WeightLayout::OutIn) + b;
        if layer + 1 < MLP_LAYERS.len() {
            h = h.relu();
        }
    }
    h
}

/// The whole network for one head: the training tape (encoder with dropout, head in training
/// mode, MSE plus the head's regularisers scaled by an input coefficient) and the evaluation
/// tape (no dropout, head in evaluation mode), with the same parameter layout.
pub struct Network {
    pub head: Head,
    pub train: Tape,
    pub eval: Tape,
    pub train_nodes: Nodes,
    pub eval_nodes: Nodes,
    /// The training tape's input holding the regularisers' factor `2 s(epoch)`.
    pub regulariser_scale: NodeId,
    /// The regularisers' values in the training tape (for the records).
    pub regularisers: Vec<(&'static str, NodeId)>,
    /// The head's parameters within the parameter vector.
    pub head_span: Range<usize>,
}

/// The nodes a run reads and writes in one tape.
#[derive(Clone, Copy, Debug)]
pub struct Nodes {
    /// The pair images (input).
    pub pair: NodeId,
    /// The quotient targets (input; unused by the evaluation tape's output).
    pub target: NodeId,
    /// The two digit readings and the head's output.
    pub d1: NodeId,
    pub d2: NodeId,
    pub y: NodeId,
}

impl Network {
    pub fn new(head: Head) -> Network {
        let (train, train_nodes, regulariser_scale, regularisers, head_span) =
            record(head, Mode::Train);
        let (eval, eval_nodes, ..) = record(head, Mode::Eval);
        Network {
            head,
            train,
            eval,
            train_nodes,
            eval_nodes,
            regulariser_scale,
            regularisers,
            head_span,
        }
    }

    /// PyTorch-default encoder weights and the head's own initialisation.
    pub fn init(&self, params: &mut [f32], rng: &mut dyn Rng) {
        init_encoder(&self.train, params, rng);
        self.head.init(&mut params[self.head_span.clone()], rng);
    }
}

type Recorded = (
    Tape,
    Nodes,
    NodeId,
    Vec<(&'static str, NodeId)>,
    Range<usize>,
);

fn record(head: Head, mode: Mode) -> Recorded {
    let graph = Graph::new();
    let pair = graph.input(Shape::batched(PAIR.features()));
    let target = graph.input(Shape::batched(1));
    let encoder = Encoder::declare(&graph);
    let (d1, d2) = encoder.read_pair(pair, mode);
    let x = graph.concat(&[d1, d2]);
    let first_head_param = graph.param_len();
    let unit_mode = if mode == Mode::Train {
        modules::Mode::Train
    } else {
        modules::Mode::Eval
    };
    let (y, regularisers) = match head {
        Head::Div => (d1 / d2, Vec::new()),
        Head::Mlp => (mlp(&graph, x), Vec::new()),
        _ => {
            let unit = head.unit().expect("a unit head");
            let params = unit.declare_params(&graph);
            let y = unit.forward(x, &params, unit_mode);
            let regs: Vec<(&'static str, Var<'_>)> = unit
                .regularisers(&graph, x, &params)
                .present()
                .map(|(key, &value)| (key.name(), value))
                .collect();
            (y, regs)
        }
    };
    let scale = graph.input(Shape::scalar());
    let mut loss = y.mse(target);
    for &(_, value) in &regularisers {
        loss = loss + scale * value;
    }
    let output = if mode == Mode::Train { loss } else { y };
    let tape = graph.finish(output);
    let head_span = first_head_param..tape.param_len();
    let nodes = Nodes {
        pair: pair.id(),
        target: target.id(),
        d1: d1.id(),
        d2: d2.id(),
        y: y.id(),
    };
    let regularisers = regularisers.into_iter().map(|(n, v)| (n, v.id())).collect();
    (tape, nodes, scale.id(), regularisers, head_span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_and_heads_have_the_spec_parameter_counts() {
        // spec section 5: encoder 320 + 18,496 + 1,179,776 + 1,161; MLP 66,817; Real NPU 4;
        // NRU 2; NMRU 4
        for (head, count) in [
            (Head::Div, 0),
            (Head::Mlp, 66_817),
            (Head::RealNpu, 4),
            (Head::Nru, 2),
            (Head::Nmru, 4),
        ] {
            let network = Network::new(head);
            assert_eq!(network.train.param_len(), 1_199_753 + count, "{head:?}");
            assert_eq!(network.eval.param_len(), network.train.param_len());
            assert_eq!(network.head_span, 1_199_753..1_199_753 + count);
        }
    }
}
