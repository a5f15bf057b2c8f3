//! Plain stochastic gradient descent (no momentum, no weight decay).

use super::Optimizer;

/// `p = p - lr g` (PyTorch: `p.add_(g, alpha=-lr)`).
#[derive(Clone, Debug)]
pub struct Sgd {
    pub lr: f64,
}

impl Sgd {
    pub fn new(lr: f64) -> Self {
        Sgd { lr }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(
            grads.len(),
            params.len(),
            "gradient and parameter lengths differ"
        );
        let alpha = -self.lr as f32;
        for (p, &g) in params.iter_mut().zip(grads) {
            *p += alpha * g;
        }
    }

    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_against_the_gradient() {
        // p = 1 - 0.5 * 2 = 0, p = -2 - 0.5 * (-4) = 0
        let mut p = [1.0f32, -2.0];
        Sgd::new(0.5).step(&mut p, &[2.0, -4.0]);
        assert_eq!(p, [0.0, 0.0]);
    }
}
