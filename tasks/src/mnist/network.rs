//! The two-digit network (`tasks/docs/mnist-task.md` section 5): one CNN encoder applied to the left and right
//! halves of a 28 x 56 image with shared parameters, each half read as a digit value in
//! [1, 9] by a soft-argmax, and an arithmetic head on the two digits. Encoder and head are
//! one graph, so one backward pass trains both.

use std::ops::Range;

use engine::{Conv2d, ConvMethod, Graph, Image, NodeId, Shape, Tape, Var, WeightLayout};
use modules::units::{NpuClip, RealNpu};
use modules::{RegKey, RegKeys, Unit};
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
    /// How the second convolution is computed (the first, with one input channel, has too
    /// little depth for a fast method to pay).
    conv2_method: ConvMethod,
}

/// Whether a graph is recorded for training (dropout on) or for evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

impl<'g> Encoder<'g> {
    /// Declares the encoder's parameters (1,199,753 values) on `graph`, its second
    /// convolution computed by `conv2_method`.
    pub fn declare(graph: &'g Graph, conv2_method: ConvMethod) -> Self {
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
            conv2_method,
        }
    }

    /// The digit value of the images `digit` (laid out as [`DIGIT`]).
    pub fn read(&self, digit: Var<'g>, mode: Mode) -> Var<'g> {
        let (c1, k1) = CONV1;
        let (c2, k2) = CONV2;
        let conv1_out = Image::new(c1, DIGIT.height + 1 - k1, DIGIT.width + 1 - k1);
        let (w1, b1, w2, b2) = (self.conv1.0, self.conv1.1, self.conv2.0, self.conv2.1);
        let mut h = match self.conv2_method {
            // the direct network keeps its nodes (and with them its dropout masks, which
            // follow node indices): its records stay what they were
            ConvMethod::Direct => {
                let conv2_out = Image::new(c2, conv1_out.height + 1 - k2, conv1_out.width + 1 - k2);
                digit
                    .conv2d(w1, b1, DIGIT, c1, k1)
                    .relu()
                    .conv2d(w2, b2, conv1_out, c2, k2)
                    .relu()
                    .max_pool2(conv2_out)
            }
            // the fast one applies each ReLU, and the pooling, in its convolution's node
            method => digit
                .convolve(Conv2d::new(DIGIT, c1, k1).with_relu(), w1, b1)
                .convolve(
                    Conv2d::new(conv1_out, c2, k2)
                        .by(method)
                        .with_relu()
                        .with_pool(),
                    w2,
                    b2,
                ),
        };
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

/// The arithmetic head on the two digits (`tasks/docs/mnist-task.md` section 5.2).
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

    /// The classic L2 weight decay of the head's parameters (`tasks/docs/mnist-task.md` section 6).
    pub fn weight_decay(self) -> f32 {
        if self == Head::Mlp { 1e-3 } else { 0.0 }
    }

    /// Whether the gradients of all parameters are clipped to norm 1 (the NRU only).
    pub fn clips(self) -> bool {
        self == Head::Nru
    }

    /// The head's initialisation (`tasks/docs/mnist-task.md` section 5.2), into its own parameters.
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

/// A regulariser of the paper's MNIST loss, which adds `coefficient * s(epoch) * value` to
/// the MSE.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossTerm<T> {
    /// The key as the reference names it ("W", "W-NPU", "g-NPU").
    pub name: &'static str,
    pub coefficient: f32,
    /// The regulariser's value on the tape.
    pub value: T,
}

impl Head {
    /// The regularisers the paper's MNIST loss adds to the MSE, each with its coefficient
    /// (`tasks/docs/mnist-task.md` section 5.2). The reference's loss (`calc_reg_loss` of
    /// `experiments/two_digit_mnist.py`) reads three keys of the head's regularisers: "W"
    /// times `--regualizer`, "W-NPU" times `--regualizer-npu-w` and "g-NPU" times
    /// `--regualizer-gate`, each also times s(epoch), and the paper's runs set the ones their
    /// head has to 2. The units' other regularisers, the z and out-of-bounds penalties of the
    /// single-module study, are not part of it.
    pub fn loss_terms(self) -> &'static [(RegKey, f32)] {
        match self {
            Head::Div | Head::Mlp => &[],
            Head::RealNpu => &[(RegKey::WNpu, 2.0), (RegKey::GNpu, 2.0)],
            Head::Nru | Head::Nmru => &[(RegKey::W, 2.0)],
        }
    }
}

/// The head on the digit readings `d1`, `d2` (B x 1 each) as one graph records it: the
/// output, and the loss against `target` with its regularisers.
pub struct HeadGraph<'g> {
    /// The head's output (B x 1).
    pub y: Var<'g>,
    /// The training loss: the MSE plus `ramp` times each term's coefficient and value.
    pub loss: Var<'g>,
    /// The MSE alone.
    pub mse: Var<'g>,
    /// The input holding s(epoch), the regularisers' ramp.
    pub ramp: Var<'g>,
    pub terms: Vec<LossTerm<Var<'g>>>,
    /// Every regulariser the head's unit declares, those the loss leaves out too.
    pub declared: RegKeys<Var<'g>>,
}

impl<'g> HeadGraph<'g> {
    /// Declares `head`'s parameters on `graph` (after any declared before) and records it on
    /// the readings in `mode`.
    pub fn record(
        graph: &'g Graph,
        head: Head,
        (d1, d2): (Var<'g>, Var<'g>),
        target: Var<'g>,
        mode: Mode,
    ) -> HeadGraph<'g> {
        let x = graph.concat(&[d1, d2]);
        let unit_mode = match mode {
            Mode::Train => modules::Mode::Train,
            Mode::Eval => modules::Mode::Eval,
        };
        let (y, terms, declared) = match head {
            Head::Div => (d1 / d2, Vec::new(), RegKeys::default()),
            Head::Mlp => (mlp(graph, x), Vec::new(), RegKeys::default()),
            _ => {
                let unit = head.unit().expect("a unit head");
                let params = unit.declare_params(graph);
                let y = unit.forward(x, &params, unit_mode);
                let declared = unit.regularisers(graph, x, &params);
                let terms = head
                    .loss_terms()
                    .iter()
                    .map(|&(key, coefficient)| LossTerm {
                        name: key.name(),
                        coefficient,
                        value: *declared.get(key).expect("the head's unit has the term"),
                    })
                    .collect();
                (y, terms, declared)
            }
        };
        let ramp = graph.input(Shape::scalar());
        let mse = y.mse(target);
        let mut loss = mse;
        for term in &terms {
            // s (c R), where the records before the coefficients were named had (c s) R:
            // with c = 2 both are the same f32 number, so those records still hold
            loss = loss + ramp * (term.coefficient * term.value);
        }
        HeadGraph {
            y,
            loss,
            mse,
            ramp,
            terms,
            declared,
        }
    }
}

/// The whole network for one head: the training tape (encoder with dropout, head in training
/// mode, the paper's loss) and the evaluation tape (no dropout, head in evaluation mode), with
/// the same parameter layout; and the evaluation taken apart, as a run evaluates
/// ([`super::evaluation`]): the encoder on one digit image, the head on two readings.
pub struct Network {
    pub head: Head,
    pub train: Tape,
    pub eval: Tape,
    pub train_nodes: Nodes,
    pub eval_nodes: Nodes,
    pub reader: Reader,
    pub head_alone: HeadAlone,
    /// The training tape's input holding the regularisers' ramp s(epoch).
    pub ramp: NodeId,
    /// The training tape's MSE.
    pub mse: NodeId,
    /// The regularisers of the loss in the training tape.
    pub loss_terms: Vec<LossTerm<NodeId>>,
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

/// The encoder alone in evaluation mode: one digit image in, its reading out. Its parameters
/// are the network's first ones (the encoder's), so it takes a prefix of the network's.
pub struct Reader {
    pub tape: Tape,
    /// The digit images (input, laid out as [`DIGIT`]).
    pub image: NodeId,
    /// Their readings.
    pub digit: NodeId,
}

/// The head alone in evaluation mode: two readings in, the output out. It declares the
/// encoder's parameters too (unread), so it takes the network's parameter vector whole.
pub struct HeadAlone {
    pub tape: Tape,
    /// The left and right readings (inputs).
    pub d1: NodeId,
    pub d2: NodeId,
    pub y: NodeId,
}

impl Reader {
    fn record(conv2_method: ConvMethod) -> Reader {
        let graph = Graph::new();
        let image = graph.input(Shape::batched(DIGIT.features()));
        let digit = Encoder::declare(&graph, conv2_method).read(image, Mode::Eval);
        Reader {
            tape: graph.finish(digit),
            image: image.id(),
            digit: digit.id(),
        }
    }
}

impl HeadAlone {
    fn record(head: Head, conv2_method: ConvMethod) -> HeadAlone {
        let graph = Graph::new();
        let (d1, d2) = (
            graph.input(Shape::batched(1)),
            graph.input(Shape::batched(1)),
        );
        let target = graph.input(Shape::batched(1));
        Encoder::declare(&graph, conv2_method);
        let y = HeadGraph::record(&graph, head, (d1, d2), target, Mode::Eval).y;
        HeadAlone {
            tape: graph.finish(y),
            d1: d1.id(),
            d2: d2.id(),
            y: y.id(),
        }
    }
}

impl Network {
    /// The network with its convolutions computed directly.
    pub fn new(head: Head) -> Network {
        Network::with_conv(head, ConvMethod::Direct)
    }

    /// The network with its second convolution computed by `conv2_method` (the function
    /// and the parameter layout are the same; the rounding differs).
    pub fn with_conv(head: Head, conv2_method: ConvMethod) -> Network {
        let (train, train_nodes, train_head) = record(head, Mode::Train, conv2_method);
        let (eval, eval_nodes, _) = record(head, Mode::Eval, conv2_method);
        Network {
            head,
            train,
            eval,
            train_nodes,
            eval_nodes,
            reader: Reader::record(conv2_method),
            head_alone: HeadAlone::record(head, conv2_method),
            ramp: train_head.ramp,
            mse: train_head.mse,
            loss_terms: train_head.terms,
            head_span: train_head.span,
        }
    }

    /// PyTorch-default encoder weights and the head's own initialisation.
    pub fn init(&self, params: &mut [f32], rng: &mut dyn Rng) {
        init_encoder(&self.train, params, rng);
        self.head.init(&mut params[self.head_span.clone()], rng);
    }
}

/// The head's nodes in a finished tape.
struct HeadNodes {
    ramp: NodeId,
    mse: NodeId,
    terms: Vec<LossTerm<NodeId>>,
    span: Range<usize>,
}

fn record(head: Head, mode: Mode, conv2_method: ConvMethod) -> (Tape, Nodes, HeadNodes) {
    let graph = Graph::new();
    let pair = graph.input(Shape::batched(PAIR.features()));
    let target = graph.input(Shape::batched(1));
    let encoder = Encoder::declare(&graph, conv2_method);
    let (d1, d2) = encoder.read_pair(pair, mode);
    let first_head_param = graph.param_len();
    let recorded = HeadGraph::record(&graph, head, (d1, d2), target, mode);
    let output = match mode {
        Mode::Train => recorded.loss,
        Mode::Eval => recorded.y,
    };
    let tape = graph.finish(output);
    let nodes = Nodes {
        pair: pair.id(),
        target: target.id(),
        d1: d1.id(),
        d2: d2.id(),
        y: recorded.y.id(),
    };
    let head_nodes = HeadNodes {
        ramp: recorded.ramp.id(),
        mse: recorded.mse.id(),
        terms: recorded
            .terms
            .iter()
            .map(|t| LossTerm {
                name: t.name,
                coefficient: t.coefficient,
                value: t.value.id(),
            })
            .collect(),
        span: first_head_param..tape.param_len(),
    };
    (tape, nodes, head_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_and_heads_have_the_spec_parameter_counts() {
        // `tasks/docs/mnist-task.md` section 5: encoder 320 + 18,496 + 1,179,776 + 1,161; MLP 66,817; Real NPU 4;
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
            assert_eq!(network.reader.tape.param_len(), 1_199_753);
            assert_eq!(
                network.head_alone.tape.param_len(),
                network.train.param_len()
            );
            assert_eq!(network.head_span, 1_199_753..1_199_753 + count);
        }
    }

    use engine::optim::{Adam, Optimizer, clip_grad_norm};
    use engine::{Grads, Program, Values, backward, forward};
    use modules::penalty::{Penalty, RegShape};
    use rand_core::SeedableRng;

    /// A loss's regularisers: (name, coefficient, value).
    type Terms = Vec<(&'static str, f32, f32)>;

    /// Each head's training loss on a batch of 4 pairs of made-up images, with its own
    /// parameters set to `head_params`, at the ramp `s`: the MSE (checked against the
    /// outputs), the regularisers, and the loss.
    fn loss_on_a_fixed_batch(head: Head, head_params: &[f32], s: f32) -> (f32, Terms, f32) {
        let network = Network::new(head);
        let mut params = vec![0.0; network.train.param_len()];
        network.init(&mut params, &mut rand_pcg::Pcg64Mcg::seed_from_u64(7));
        params[network.head_span.clone()].copy_from_slice(head_params);
        let mut values = Values::new(&Program::new(&network.train, 4));
        let nodes = network.train_nodes;
        let (rows, stride) = values.node_mut(nodes.pair);
        for f in 0..PAIR.features() {
            for b in 0..4 {
                // strokes that differ between the samples and the two halves
                rows[f * stride + b] = ((f * 7 + b * 13) % 29) as f32 / 10.0 - 0.4;
            }
        }
        values
            .feature_mut(nodes.target, 0)
            .copy_from_slice(&[2.0, 0.5, 1.0, 3.0]);
        values.flat_mut(network.ramp)[0] = s;
        values.set_noise_seed(3);
        forward(&params, &mut values);
        let (y, t) = (values.feature(nodes.y, 0), values.feature(nodes.target, 0));
        let mse = y.iter().zip(t).map(|(y, t)| (y - t) * (y - t)).sum::<f32>() / 4.0;
        assert!(
            (values.scalar(network.mse) - mse).abs() <= 1e-6 * mse.max(1.0),
            "{head:?}: the MSE node {} against the outputs' {mse}",
            values.scalar(network.mse)
        );
        let terms = network
            .loss_terms
            .iter()
            .map(|t| (t.name, t.coefficient, values.scalar(t.value)))
            .collect();
        (mse, terms, values.scalar(network.train.output()))
    }

    #[test]
    fn every_heads_loss_is_the_papers_term_for_term() {
        // `tasks/docs/mnist-task.md` sections 5.2, 6 and 10: the MSE plus 2 s(epoch) times the W regulariser (NRU,
        // NMRU), or the W-NPU and gate regularisers (Real NPU); the test vectors' values
        let s = 0.5;
        let cases: [(Head, Vec<f32>, Terms); 5] = [
            (Head::Div, vec![], vec![]),
            (Head::Mlp, vec![0.01; 66_817], vec![]),
            (
                Head::RealNpu,
                vec![0.3, -0.2, 0.5, 0.5],
                vec![("W-NPU", 2.0, 0.75), ("g-NPU", 2.0, 0.5)],
            ),
            (Head::Nru, vec![0.3, -0.7], vec![("W", 2.0, 0.3)]),
            (Head::Nmru, vec![0.2, 0.4, 0.6, 0.8], vec![("W", 2.0, 0.3)]),
        ];
        for (head, params, expected) in cases {
            let (mse, terms, loss) = loss_on_a_fixed_batch(head, &params, s);
            assert_eq!(terms.len(), expected.len(), "{head:?}: {terms:?}");
            let mut want = mse;
            for ((name, c, value), (want_name, want_c, want_value)) in terms.iter().zip(&expected) {
                assert_eq!((name, c), (want_name, want_c), "{head:?}");
                assert!(
                    (value - want_value).abs() < 1e-6,
                    "{head:?} {name}: {value}"
                );
                want += s * c * value;
            }
            assert!(
                (loss - want).abs() <= 1e-6 * want,
                "{head:?}: loss {loss}, the MSE {mse} and the terms {want}"
            );
            if !expected.is_empty() {
                assert!(loss > mse + 0.1, "{head:?}: the terms count");
            }
        }
        // the closed forms the values above come from (`tasks/docs/mnist-task.md` section 5.2)
        let nru = Penalty::NauBias(RegShape::Linear).value(&[0.3f64, -0.7]);
        let nmru = Penalty::NmuBias(RegShape::Linear).value(&[0.2f64, 0.4, 0.6, 0.8]);
        let npu = Penalty::NpuW.value(&[0.3f64, -0.2]);
        for (got, want) in [(nru, 0.3), (nmru, 0.3), (npu, 0.75)] {
            assert!((got - want).abs() < 1e-15, "{got} against {want}");
        }
    }

    /// The NRU head trained alone on digit readings that are all 1, as after the encoder
    /// collapses: its output is 1 whatever W, so only the loss's regularisers move W. Runs
    /// the run's step (clipping to norm 1, Adam at 1e-3, clamps) `steps` times at full ramp,
    /// with the paper's loss or with `extra` added to it, and returns W.
    fn nru_after_collapse(steps: usize, extra: Option<RegKey>) -> Vec<f32> {
        let graph = Graph::new();
        let d1 = graph.input(Shape::batched(1));
        let d2 = graph.input(Shape::batched(1));
        let target = graph.input(Shape::batched(1));
        let recorded = HeadGraph::record(&graph, Head::Nru, (d1, d2), target, Mode::Train);
        let mut loss = recorded.loss;
        if let Some(key) = extra {
            let term = *recorded.declared.get(key).expect("the unit declares it");
            loss = loss + recorded.ramp * (2.0 * term);
        }
        let ramp = recorded.ramp.id();
        let tape = graph.finish(loss);
        let program = Program::new(&tape, 16);
        let mut values = Values::new(&program);
        let mut grads = Grads::new(&program);
        values.feature_mut(d1.id(), 0).fill(1.0);
        values.feature_mut(d2.id(), 0).fill(1.0);
        for (i, t) in values.feature_mut(target.id(), 0).iter_mut().enumerate() {
            *t = (i % 9 + 1) as f32 / 3.0;
        }
        values.flat_mut(ramp)[0] = 1.0;
        let mut params = vec![-0.37, -0.44];
        let mut adam = Adam::new(2, 1e-3);
        for _ in 0..steps {
            forward(&params, &mut values);
            backward(&params, &values, &mut grads);
            clip_grad_norm(grads.params_mut(), std::slice::from_ref(&(0..2)), 1.0);
            adam.step(&mut params, grads.params());
            Head::Nru.project(&mut params);
        }
        params
    }

    #[test]
    fn in_the_collapsed_state_the_paper_loss_drives_the_nru_weights_to_zero() {
        let w = nru_after_collapse(1500, None);
        assert!(w.iter().all(|w| w.abs() < 0.01), "W = {w:?}");
        // the single-module study's z penalty, (1 - |W|) xbar^2 with xbar = 1, cancels the W
        // regulariser's pull exactly: with it W would not move
        let held = nru_after_collapse(1500, Some(RegKey::Z));
        assert!(
            (held[0] + 0.37).abs() < 0.02 && (held[1] + 0.44).abs() < 0.02,
            "W = {held:?}"
        );
    }

    /// The gradients of one training step of the Real NPU head in a collapsed state, the
    /// digit readings saturated on 1 (the logits of the other digits 100 below), under
    /// `mode`: how many of them are subnormal, and how many are normal.
    fn collapsed_gradients(mode: engine::Subnormals) -> (usize, usize) {
        let network = Network::new(Head::RealNpu);
        let mut params = vec![0.0; network.train.param_len()];
        network.init(&mut params, &mut rand_pcg::Pcg64Mcg::seed_from_u64(1));
        let fc2_bias = network
            .train
            .params()
            .iter()
            .find(|p| p.name == "fc2.bias")
            .expect("the encoder's last bias")
            .range
            .clone();
        params[fc2_bias.start] = 100.0;
        let program = Program::new(&network.train, 8);
        let (mut values, mut grads) = (Values::new(&program), Grads::new(&program));
        let nodes = network.train_nodes;
        let (rows, _) = values.node_mut(nodes.pair);
        for (i, v) in rows.iter_mut().enumerate() {
            *v = (i % 11) as f32 / 4.0 - 0.4;
        }
        values.feature_mut(nodes.target, 0).fill(0.5);
        values.flat_mut(network.ramp)[0] = 1.0;
        let pool = mode.thread_pool(2).expect("a pool");
        pool.install(|| {
            forward(&params, &mut values);
            backward(&params, &values, &mut grads);
        });
        let g = grads.params();
        (
            g.iter().filter(|g| g.is_subnormal()).count(),
            g.iter().filter(|g| g.is_normal()).count(),
        )
    }

    #[test]
    fn a_collapsed_head_fills_the_backward_pass_with_subnormals_unless_they_are_flushed() {
        // the state in which some CPUs run about ten times slower: every FMA of the
        // encoder's backward pass reads subnormal operands
        let (subnormal, normal) = collapsed_gradients(engine::Subnormals::Keep);
        assert!(
            subnormal > 100_000,
            "{subnormal} subnormal, {normal} normal"
        );
        let (subnormal, flushed_normal) = collapsed_gradients(engine::Subnormals::Flush);
        assert_eq!(subnormal, 0);
        // what is not below the normal range is untouched
        assert_eq!(flushed_normal, normal);
    }
}
