//! A fold's samples (`tasks/docs/mnist-task.md` section 4): for every pair of the split, `per_pair` samples, each a
//! random image of digit a beside a random image of digit b, drawn with replacement from the
//! MNIST training split for the train pairs and from the test split for the held-out pairs,
//! then shuffled once. A sample keeps the two image indices, not the pixels; pixels are
//! normalised as they are written into a batch.
//!
//! The draws come from a PCG stream seeded by the run's seed: the procedure and the counts
//! are the reference's, its exact NumPy draws are not (`tasks/docs/mnist-task.md` section 11).

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::folds::{Pair, split};
use super::idx::{Mnist, SIDE, Split};

/// One sample: the images of its left and right digits (indices into the split they come
/// from) and the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub left: u32,
    pub right: u32,
    pub pair: Pair,
}

/// One fold's training and test samples.
#[derive(Clone, Debug)]
pub struct FoldData {
    pub fold: usize,
    pub train: Vec<Sample>,
    pub test: Vec<Sample>,
}

impl FoldData {
    /// The samples of `fold` for the run seeded with `seed`, `per_pair` per pair.
    pub fn build(mnist: &Mnist, fold: usize, seed: u64, per_pair: usize) -> FoldData {
        let (train_pairs, test_pairs) = split(fold);
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let train = draw(&mnist.train, &train_pairs, per_pair, &mut rng);
        let test = draw(&mnist.test, &test_pairs, per_pair, &mut rng);
        FoldData { fold, train, test }
    }
}

/// Samples of `pairs` from `split`, shuffled.
fn draw(split: &Split, pairs: &[Pair], per_pair: usize, rng: &mut Pcg64Mcg) -> Vec<Sample> {
    let mut by_digit: [Vec<u32>; 10] = Default::default();
    for (i, &label) in split.labels.iter().enumerate() {
        by_digit[usize::from(label)].push(i as u32);
    }
    let pick = |digit: u8, rng: &mut Pcg64Mcg| {
        let images = &by_digit[usize::from(digit)];
        images[below(rng, images.len())]
    };
    let mut samples = Vec::with_capacity(pairs.len() * per_pair);
    for &pair in pairs {
        for _ in 0..per_pair {
            let left = pick(pair.a, rng);
            let right = pick(pair.b, rng);
            samples.push(Sample { left, right, pair });
        }
    }
    shuffle(&mut samples, rng);
    samples
}

/// A uniform integer in `0..n` (Lemire's multiply-and-reject, unbiased).
pub fn below(rng: &mut impl Rng, n: usize) -> usize {
    assert!(n > 0, "an empty range");
    let n = n as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as usize;
        }
    }
}

/// Fisher-Yates.
pub fn shuffle<T>(items: &mut [T], rng: &mut impl Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// A pixel byte normalised as the task does, in f32: `(byte / 255 - 0.1307) / 0.3081`.
pub fn normalise(byte: u8) -> f32 {
    (f32::from(byte) / 255.0 - 0.1307) / 0.3081
}

/// Every byte's normalised value.
pub fn normalised_bytes() -> [f32; 256] {
    std::array::from_fn(|b| normalise(b as u8))
}

/// Writes the pair images of `samples` into a batched input laid out as the 28 x 56 pair
/// image: feature `y * 56 + x` of sample `s` at `rows[feature * stride + s]`, the left digit
/// in columns 0..28 and the right one in 28..56.
pub fn write_pairs(
    split: &Split,
    samples: &[Sample],
    table: &[f32; 256],
    rows: &mut [f32],
    stride: usize,
) {
    assert!(samples.len() <= stride, "more samples than the batch");
    let images: Vec<[&[u8]; 2]> = samples
        .iter()
        .map(|s| [split.image(s.left as usize), split.image(s.right as usize)])
        .collect();
    write_side_by_side(&images, table, rows, stride);
}

/// Writes the images `images` (indices into `split`) into a batched input laid out as one
/// digit image: pixel `p` of image `s` at `rows[p * stride + s]`.
pub fn write_images(
    split: &Split,
    images: &[u32],
    table: &[f32; 256],
    rows: &mut [f32],
    stride: usize,
) {
    assert!(images.len() <= stride, "more images than the batch");
    let images: Vec<[&[u8]; 1]> = images.iter().map(|&i| [split.image(i as usize)]).collect();
    write_side_by_side(&images, table, rows, stride);
}

/// Writes each sample's `N` images side by side, normalised, into a batched input of
/// `28 x 28N` features.
///
/// A feature's row is written whole (its samples side by side) and the image rows are
/// shared out over the rayon pool: written sample by sample, every value landed in a
/// different cache line, and the step's other thread waited (about 1 ms per batch).
fn write_side_by_side<const N: usize>(
    samples: &[[&[u8]; N]],
    table: &[f32; 256],
    rows: &mut [f32],
    stride: usize,
) {
    let line = N * SIDE * stride;
    rows[..SIDE * line]
        .par_chunks_mut(line)
        .enumerate()
        .for_each(|(y, line)| {
            for (column, row) in line.chunks_mut(stride).enumerate() {
                let (half, pixel) = (column / SIDE, y * SIDE + column % SIDE);
                for (value, images) in row.iter_mut().zip(samples) {
                    *value = table[usize::from(images[half][pixel])];
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_pixels_are_the_spec_vectors() {
        // `tasks/docs/mnist-task.md` section 10: byte 0 -> -0.4242129, byte 255 -> 2.8214865
        assert!((normalise(0) + 0.4242129).abs() < 1e-6);
        assert!((normalise(255) - 2.8214865).abs() < 1e-6);
        assert_eq!(normalised_bytes()[17], normalise(17));
    }

    #[test]
    fn a_pair_is_written_as_the_two_digits_side_by_side() {
        // three images whose every pixel differs: byte = (image * 97 + pixel) % 256
        let split = Split {
            pixels: (0..3 * SIDE * SIDE)
                .map(|i| ((i / (SIDE * SIDE) * 97 + i % (SIDE * SIDE)) % 256) as u8)
                .collect(),
            labels: vec![1, 2, 3],
        };
        let pair = |a, b| Pair { a, b };
        let samples = [
            Sample {
                left: 2,
                right: 0,
                pair: pair(3, 1),
            },
            Sample {
                left: 1,
                right: 1,
                pair: pair(2, 2),
            },
        ];
        let table = normalised_bytes();
        let stride = 4;
        let mut rows = vec![-7.0; 2 * SIDE * SIDE * stride];
        write_pairs(&split, &samples, &table, &mut rows, stride);
        for (s, sample) in samples.iter().enumerate() {
            for y in 0..SIDE {
                for x in 0..2 * SIDE {
                    let image = if x < SIDE { sample.left } else { sample.right };
                    let byte = (image as usize * 97 + y * SIDE + x % SIDE) % 256;
                    let feature = y * 2 * SIDE + x;
                    assert_eq!(
                        rows[feature * stride + s],
                        normalise(byte as u8),
                        "{s} {y} {x}"
                    );
                }
            }
        }
        // lanes past the samples are left as they were
        assert!((0..2 * SIDE * SIDE).all(|f| rows[f * stride + 2..][..2] == [-7.0, -7.0]));
    }

    #[test]
    fn images_are_written_pixel_by_pixel() {
        // byte = (image * 97 + pixel) % 256, as above
        let split = Split {
            pixels: (0..3 * SIDE * SIDE)
                .map(|i| ((i / (SIDE * SIDE) * 97 + i % (SIDE * SIDE)) % 256) as u8)
                .collect(),
            labels: vec![1, 2, 3],
        };
        let table = normalised_bytes();
        let (images, stride) = ([2, 0, 2], 5);
        let mut rows = vec![-7.0; SIDE * SIDE * stride];
        write_images(&split, &images, &table, &mut rows, stride);
        for (s, &image) in images.iter().enumerate() {
            for pixel in 0..SIDE * SIDE {
                let byte = (image as usize * 97 + pixel) % 256;
                assert_eq!(
                    rows[pixel * stride + s],
                    normalise(byte as u8),
                    "{s} {pixel}"
                );
            }
        }
        assert!((0..SIDE * SIDE).all(|p| rows[p * stride + 3..][..2] == [-7.0, -7.0]));
    }

    #[test]
    fn draws_are_uniform_and_shuffles_are_permutations() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[below(&mut rng, 7)] += 1;
        }
        // 10,000 expected each, sd about 93
        assert!(
            counts.iter().all(|&c| (c as i64 - 10_000).abs() < 500),
            "{counts:?}"
        );
        let mut items: Vec<usize> = (0..100).collect();
        shuffle(&mut items, &mut rng);
        assert_ne!(items, (0..100).collect::<Vec<_>>());
        items.sort();
        assert_eq!(items, (0..100).collect::<Vec<_>>());
    }
}
