//! Global gradient-norm clipping (PyTorch's `clip_grad_norm_`).

use std::ops::Range;

/// Scales all gradients so their global 2-norm is at most `max_norm`.
///
/// The total norm is the 2-norm of the per-tensor 2-norms (`tensors` gives each parameter
/// tensor's range in `grads`). If `max_norm / (total + 1e-6) < 1`, every gradient is multiplied
/// by that factor. Returns the total norm before clipping. Everything in f32, like PyTorch.
pub fn clip_grad_norm(grads: &mut [f32], tensors: &[Range<usize>], max_norm: f32) -> f32 {
    let total = tensors
        .iter()
        .map(|range| {
            let norm = grads[range.clone()]
                .iter()
                .fold(0.0f32, |acc, &g| acc + g * g)
                .sqrt();
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
    fn nan_gradients_are_not_clipped_away() {
        // c / (NaN + 1e-6) < 1 is false: the NaN stays and the run can detect divergence.
        let mut g = [f32::NAN, 1.0];
        clip_grad_norm(&mut g, &[0..1, 1..2], 1.0);
        assert!(g[0].is_nan());
    }
}
