//! The two-digit network (spec section 5): one CNN encoder applied to the left and right
//! halves of a 28 x 56 image with shared parameters, each half read as a digit value in
//! [1, 9] by a soft-argmax, and an arithmetic head on the two digits. Encoder and head are
//! one graph, so one backward pass trains both.

use engine::{Graph, Image, Shape, Tape, Var, WeightLayout};
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

/// The network with the fixed division head (DIV: `d1 / d2`) and the MSE loss, for the
/// benchmarks and as the simplest model of the task.
pub struct DivNetwork {
    pub tape: Tape,
    /// The pair images and the targets (inputs), and the output.
    pub pair: engine::NodeId,
    pub target: engine::NodeId,
    pub output: engine::NodeId,
}

impl DivNetwork {
    pub fn new(mode: Mode) -> DivNetwork {
        let graph = Graph::new();
        let pair = graph.input(Shape::batched(PAIR.features()));
        let target = graph.input(Shape::batched(1));
        let encoder = Encoder::declare(&graph);
        let (d1, d2) = encoder.read_pair(pair, mode);
        let output = d1 / d2;
        let loss = output.mse(target);
        DivNetwork {
            tape: graph.finish(loss),
            pair: pair.id(),
            target: target.id(),
            output: output.id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_has_the_spec_parameter_count() {
        // spec section 5.1: 320 + 18,496 + 1,179,776 + 1,161
        let network = DivNetwork::new(Mode::Train);
        assert_eq!(network.tape.param_len(), 1_199_753);
        let eval = DivNetwork::new(Mode::Eval);
        assert_eq!(eval.tape.param_len(), 1_199_753);
    }
}
