//! Dropout masks: which elements a dropout node keeps, as a pure function of the buffers'
//! noise seed ([`Values::set_noise_seed`](crate::Values::set_noise_seed)), the node, the
//! feature and the sample.
//!
//! A counter-based mask needs no generator state: the forward pass and the backward pass
//! recompute the same mask, any split of the work between threads gives the same mask, and
//! the f64 reference evaluator applies the same mask to check gradients. The hash is
//! `lowbias32` (Chris Wellons' integer hash, `hash-prospector`) over a per-(seed, node,
//! feature) key plus the sample index.

use wide::{f32x8, i32x8, u32x8};

/// One round of lowbias32.
#[inline(always)]
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

#[inline(always)]
fn mix8(mut x: u32x8) -> u32x8 {
    x ^= x >> 16;
    x *= u32x8::splat(0x7feb_352d);
    x ^= x >> 15;
    x *= u32x8::splat(0x846c_a68b);
    x ^ (x >> 16)
}

/// The mask of one dropout node at one seed.
#[derive(Clone, Copy, Debug)]
pub struct Mask {
    key: u32,
    /// An element is kept when the top 24 bits of its hash, as a number, reach this.
    threshold: f32,
    /// What a kept element is multiplied by: `1 / (1 - rate)` in f32, as PyTorch scales.
    pub scale: f32,
}

impl Mask {
    /// The mask of node `node` at `seed` for dropout `rate`.
    pub fn new(seed: u64, node: usize, rate: f32) -> Mask {
        let key = mix(seed as u32 ^ mix((seed >> 32) as u32 ^ mix(node as u32)));
        Mask {
            key,
            // rate * 2^24 is exact in f32 for every f32 rate in [0, 1)
            threshold: rate * (1u32 << 24) as f32,
            scale: 1.0 / (1.0 - rate),
        }
    }

    /// The key of one feature, shared by its samples.
    #[inline(always)]
    pub fn feature_key(&self, feature: usize) -> u32 {
        mix(self.key ^ mix(feature as u32))
    }

    /// Whether sample `sample` of the feature with `feature_key` is kept.
    #[inline(always)]
    pub fn keeps(&self, feature_key: u32, sample: usize) -> bool {
        let h = mix(feature_key.wrapping_add((sample as u32).wrapping_mul(0x9e37_79b9)));
        (h >> 8) as f32 >= self.threshold
    }

    /// The multiplier (`scale` or 0) of samples `8 c .. 8 c + 8` of a feature.
    #[inline(always)]
    pub fn factors(&self, feature_key: u32, c: usize) -> f32x8 {
        let samples = u32x8::splat(8 * c as u32) + u32x8::from([0, 1, 2, 3, 4, 5, 6, 7]);
        let h = mix8(u32x8::splat(feature_key) + samples * u32x8::splat(0x9e37_79b9));
        let top: i32x8 = wide::bytemuck::cast(h >> 8);
        let kept = top.round_float().simd_ge(f32x8::splat(self.threshold));
        kept & f32x8::splat(self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_and_scalars_agree_and_the_rate_holds() {
        let mask = Mask::new(0x1234_5678_9abc_def0, 17, 0.25);
        let (mut kept, mut total) = (0, 0);
        for feature in 0..64 {
            let key = mask.feature_key(feature);
            for c in 0..32 {
                let lanes = mask.factors(key, c).to_array();
                for (lane, &factor) in lanes.iter().enumerate() {
                    let keeps = mask.keeps(key, 8 * c + lane);
                    assert_eq!(factor, if keeps { mask.scale } else { 0.0 });
                    kept += keeps as usize;
                    total += 1;
                }
            }
        }
        // 16,384 Bernoulli(0.75) draws: the share is within 4 standard deviations (0.0034)
        let share = kept as f64 / total as f64;
        assert!((share - 0.75).abs() < 0.014, "kept {share}");
        assert_eq!(mask.scale, 1.0 / 0.75);
    }

    #[test]
    fn masks_differ_between_seeds_and_nodes_and_rate_zero_keeps_everything() {
        let pattern = |mask: Mask| -> Vec<bool> {
            let key = mask.feature_key(3);
            (0..256).map(|b| mask.keeps(key, b)).collect()
        };
        let base = pattern(Mask::new(1, 5, 0.5));
        assert_ne!(base, pattern(Mask::new(2, 5, 0.5)));
        assert_ne!(base, pattern(Mask::new(1, 6, 0.5)));
        assert!(pattern(Mask::new(1, 5, 0.0)).iter().all(|&k| k));
    }
}
