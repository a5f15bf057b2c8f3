//! Global gradient-norm clipping (PyTorch's `clip_grad_norm_`).

use std::ops::Range;

use wide::f32x8;

/// Scales all gradients so their global 2-norm is at most `max_norm`.
///
/// The total norm is the 2-norm of the per-tensor 2-norms (`tensors` gives each parameter
/// tensor's range in `grads`). If `max_norm / (total + 1e-6) < 1`, every gradient is multiplied
/// by that factor. Returns the total norm before clipping. Everything in f32, like PyTorch.
pub fn clip_grad_norm(grads: &mut [f32], tensors: &[Range<usize>], max_norm: f32) -> f32 {
    let total = tensors
        .iter()
        .map(|range| {
            let norm = sum_of_squares(&grads[range.clone()]).sqrt();
            norm * norm
        })
        .fold(0.0f32, |acc, sq| acc + sq)
        .sqrt();
    let coefficient = max_norm / (total + 1e-6);
    if coefficient < 1.0 {
        for g in grads.iter_mut() {
            *g *= coefficient;
        }
    }
    total
}

/// Values from which a tensor's sum of squares runs in 32 lanes (a CNN layer's weights; a
/// plain sum in order would also lose accuracy over a million terms).
const LANES_FROM: usize = 4096;

/// The sum of `g * g`: in order for small tensors, in 32 interleaved partial sums (added in a
/// fixed order at the end) for large ones.
fn sum_of_squares(g: &[f32]) -> f32 {
    if g.len() < LANES_FROM {
        return g.iter().fold(0.0f32, |acc, &g| acc + g * g);
    }
    let mut acc = [f32x8::ZERO; 4];
    let blocks = g.chunks_exact(32);
    let tail = blocks.remainder();
    for block in blocks {
        for (a, part) in acc.iter_mut().zip(block.chunks_exact(8)) {
            let v = f32x8::from(<[f32; 8]>::try_from(part).expect("eight values"));
            *a = v.mul_add(v, *a);
        }
    }
    let lanes = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    tail.iter().fold(lanes.reduce_add(), |acc, &g| acc + g * g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_to_the_threshold_and_leaves_small_gradients() {
        // norms: |(3, 4)| = 5 and |(0)| = 0, total 5 -> scaled by 1 / (5 + 1e-6)
        let mut g = [3.0f32, 4.0, 0.0];
        let total = clip_grad_norm(&mut g, &[0..2, 2..3], 1.0);
        assert_eq!(total, 5.0);
        let after = (g[0] * g[0] + g[1] * g[1]).sqrt();
        assert!((after - 1.0).abs() < 1e-6, "{g:?}");
        let mut small = [0.3f32, 0.4];
        clip_grad_norm(&mut small, &[0..1, 1..2], 1.0);
        assert_eq!(small, [0.3, 0.4]);
    }

    #[test]
    fn a_large_tensor_is_clipped_by_its_norm() {
        // 100,001 gradients of 0.01 and one of 3: norm sqrt(100,001 * 1e-4 + 9) = 4.3590...
        let mut g = vec![0.01f32; 100_002];
        g[77] = 3.0;
        let exact = (100_001.0f64 * 1e-4 + 9.0).sqrt();
        let whole = 0..100_002;
        let total = clip_grad_norm(&mut g, std::slice::from_ref(&whole), 1.0);
        assert!(
            (total as f64 - exact).abs() < 1e-5 * exact,
            "{total} vs {exact}"
        );
        let after = g
            .iter()
            .map(|&g| (g as f64) * (g as f64))
            .sum::<f64>()
            .sqrt();
        assert!((after - 1.0).abs() < 1e-5, "{after}");
    }

    #[test]
    fn nan_gradients_are_not_clipped_away() {
        // c / (NaN + 1e-6) < 1 is false: the NaN stays and the run can detect divergence.
        let mut g = [f32::NAN, 1.0];
        clip_grad_norm(&mut g, &[0..1, 1..2], 1.0);
        assert!(g[0].is_nan());
    }
}
