//! The metrics of one split (`tasks/docs/mnist-task.md` section 7) with every image read once.
//!
//! A split's samples draw their images with replacement: on the paper's schedule, fold 0's
//! 72,000 training pairs hold 50,225 distinct images in their 144,000 halves, its 9,000 test
//! pairs 7,439 in 18,000 (other folds alike), 2.8 reads per image. In evaluation mode the
//! encoder has no dropout, so an image's reading depends on the image alone: the encoder reads
//! each distinct image of the samples once ([`Reader`]), and the head then runs on every
//! pair's two readings ([`HeadAlone`]). The numbers are the whole evaluation tape's on the
//! pairs, bit for bit: every layer computes each lane of its batch on its own, in an order that
//! depends neither on the lane nor on the batch (the tests hold the two to each other).

use engine::{Program, Values, forward};

use super::dataset::{Sample, write_images};
use super::idx::Split;
use super::metrics::{Metrics, Tally};
use super::network::{HeadAlone, Network, Reader};

/// Images per pass of the encoder.
const IMAGES_PER_PASS: usize = 512;
/// Pairs per pass of the head.
const PAIRS_PER_PASS: usize = 1024;

/// The buffers of a run's evaluations.
pub struct Evaluator {
    reader: Values,
    head: Values,
    /// The encoder's parameters: a prefix of the network's.
    encoder_params: usize,
    image: engine::NodeId,
    digit: engine::NodeId,
    d1: engine::NodeId,
    d2: engine::NodeId,
    y: engine::NodeId,
}

impl Evaluator {
    /// Buffers for `network`'s evaluations of splits of at most `largest` samples.
    pub fn new(network: &Network, largest: usize) -> Evaluator {
        let Reader {
            tape: reader,
            image,
            digit,
        } = &network.reader;
        let HeadAlone {
            tape: head,
            d1,
            d2,
            y,
        } = &network.head_alone;
        let largest = largest.max(1);
        Evaluator {
            reader: Values::new(&Program::new(reader, IMAGES_PER_PASS.min(2 * largest))),
            head: Values::new(&Program::new(head, PAIRS_PER_PASS.min(largest))),
            encoder_params: reader.param_len(),
            image: *image,
            digit: *digit,
            d1: *d1,
            d2: *d2,
            y: *y,
        }
    }

    /// The metrics of `samples` (images from `split`) under `params`.
    pub fn evaluate(
        &mut self,
        params: &[f32],
        split: &Split,
        samples: &[Sample],
        table: &[f32; 256],
    ) -> Metrics {
        let readings = self.read(&params[..self.encoder_params], split, samples, table);
        let mut tally = Tally::default();
        for chunk in samples.chunks(self.head.batch()) {
            for (d, s) in self.head.feature_mut(self.d1, 0).iter_mut().zip(chunk) {
                *d = readings[s.left as usize];
            }
            for (d, s) in self.head.feature_mut(self.d2, 0).iter_mut().zip(chunk) {
                *d = readings[s.right as usize];
            }
            forward(params, &mut self.head);
            let (y, d1, d2) = (
                self.head.feature(self.y, 0),
                self.head.feature(self.d1, 0),
                self.head.feature(self.d2, 0),
            );
            for (i, s) in chunk.iter().enumerate() {
                tally.add(y[i], s.pair.target(), d1[i], d2[i], s.pair.a, s.pair.b);
            }
        }
        tally.metrics()
    }

    /// The reading of every image of `split` that `samples` hold, indexed as the split (NaN
    /// for the others).
    fn read(
        &mut self,
        encoder: &[f32],
        split: &Split,
        samples: &[Sample],
        table: &[f32; 256],
    ) -> Vec<f32> {
        let mut images: Vec<u32> = samples.iter().flat_map(|s| [s.left, s.right]).collect();
        images.sort_unstable();
        images.dedup();
        let mut readings = vec![f32::NAN; split.len()];
        for chunk in images.chunks(self.reader.batch()) {
            let (rows, stride) = self.reader.node_mut(self.image);
            write_images(split, chunk, table, rows, stride);
            forward(encoder, &mut self.reader);
            for (&image, &d) in chunk.iter().zip(self.reader.feature(self.digit, 0)) {
                readings[image as usize] = d;
            }
        }
        readings
    }
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;
    use crate::mnist::dataset::{normalised_bytes, write_pairs};
    use crate::mnist::folds::Pair;
    use crate::mnist::idx::SIDE;
    use crate::mnist::network::Head;
    use engine::ConvMethod;

    /// `n` made-up images: pixel bytes from a PCG stream, digit labels 1..9 in turn.
    fn made_up_split(n: usize) -> Split {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        Split {
            pixels: (0..n * SIDE * SIDE)
                .map(|_| rand_core::Rng::next_u32(&mut rng) as u8)
                .collect(),
            labels: (0..n).map(|i| (i % 9 + 1) as u8).collect(),
        }
    }

    /// Each pair's output and readings from the whole evaluation tape, `batch` pairs a pass.
    fn whole_tape(
        network: &Network,
        params: &[f32],
        split: &Split,
        samples: &[Sample],
        batch: usize,
    ) -> Vec<[f32; 3]> {
        let nodes = network.eval_nodes;
        let mut values = Values::new(&Program::new(&network.eval, batch));
        let mut out = Vec::new();
        for chunk in samples.chunks(batch) {
            let (rows, stride) = values.node_mut(nodes.pair);
            write_pairs(split, chunk, &normalised_bytes(), rows, stride);
            forward(params, &mut values);
            for i in 0..chunk.len() {
                out.push([nodes.y, nodes.d1, nodes.d2].map(|id| values.feature(id, 0)[i]));
            }
        }
        out
    }

    #[test]
    fn reading_each_image_once_gives_the_whole_tapes_numbers_bit_for_bit() {
        let split = made_up_split(60);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let mut below = |n: usize| crate::mnist::dataset::below(&mut rng, n) as u32;
        // 70 pairs over 60 images: most images in several pairs, on either side
        let samples: Vec<Sample> = (0..70)
            .map(|_| {
                let (left, right) = (below(60), below(60));
                let pair = Pair {
                    a: split.labels[left as usize],
                    b: split.labels[right as usize],
                };
                Sample { left, right, pair }
            })
            .collect();
        for (head, method) in [
            (Head::Nmru, ConvMethod::Winograd),
            (Head::Mlp, ConvMethod::Direct),
        ] {
            let network = Network::with_conv(head, method);
            let mut params = vec![0.0; network.train.param_len()];
            network.init(&mut params, &mut rand_pcg::Pcg64Mcg::seed_from_u64(3));
            // the whole tape on 24 pairs a pass (48 images), the parts on up to 512 and 1024
            let expected = whole_tape(&network, &params, &split, &samples, 24);
            let mut evaluator = Evaluator::new(&network, samples.len());
            let encoder = network.reader.tape.param_len();
            let readings =
                evaluator.read(&params[..encoder], &split, &samples, &normalised_bytes());
            for (s, [y, d1, d2]) in samples.iter().zip(&expected) {
                assert_eq!(
                    readings[s.left as usize].to_bits(),
                    d1.to_bits(),
                    "{head:?}"
                );
                assert_eq!(
                    readings[s.right as usize].to_bits(),
                    d2.to_bits(),
                    "{head:?}"
                );
                assert!(y.is_finite() && (1.0..=9.0).contains(d1), "{y} {d1}");
            }
            let mut tally = Tally::default();
            for (s, [y, d1, d2]) in samples.iter().zip(&expected) {
                tally.add(*y, s.pair.target(), *d1, *d2, s.pair.a, s.pair.b);
            }
            let metrics = evaluator.evaluate(&params, &split, &samples, &normalised_bytes());
            assert_eq!(
                metrics.values().map(f64::to_bits),
                tally.metrics().values().map(f64::to_bits),
                "{head:?} {method:?}"
            );
        }
    }
}
