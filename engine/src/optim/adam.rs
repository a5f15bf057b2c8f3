//! Adam (Kingma and Ba) exactly as PyTorch 1.x applies it to one tensor.

use super::Optimizer;

/// Adam with bias correction, no weight decay, no AMSGrad.
///
/// With step counter t starting at 1:
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
/// The bias corrections and the step size are formed in f64 and applied in f32, and the
/// f32 operations follow PyTorch's order: `m*b1 + (1-b1)*g`, `v*b2 + ((1-b2)*g)*g`,
/// `p + ((-step)*m) / denom`.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    t: u64,
    beta1_power: f64,
    beta2_power: f64,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    /// PyTorch's defaults (betas 0.9, 0.999, eps 1e-8) for `len` parameters.
    pub fn new(len: usize, lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            beta1_power: 1.0,
            beta2_power: 1.0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(
            params.len(),
            self.m.len(),
            "Adam was built for {} parameters",
            self.m.len()
        );
        assert_eq!(
            grads.len(),
            params.len(),
            "gradient and parameter lengths differ"
        );
        self.t += 1;
        // beta^t as running products (within a few f64 roundings of Python's `beta ** t`)
        self.beta1_power *= self.beta1;
        self.beta2_power *= self.beta2;
        let bias_correction1 = 1.0 - self.beta1_power;
        let bias_correction2 = 1.0 - self.beta2_power;
        let step_size = (self.lr / bias_correction1) as f32;
        let bias_correction2_sqrt = bias_correction2.sqrt() as f32;
        let (beta1, beta2) = (self.beta1 as f32, self.beta2 as f32);
        let (one_minus_beta1, one_minus_beta2) =
            ((1.0 - self.beta1) as f32, (1.0 - self.beta2) as f32);
        let eps = self.eps as f32;
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = *m * beta1 + one_minus_beta1 * g;
            *v = *v * beta2 + (one_minus_beta2 * g) * g;
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            *p += (-step_size * *m) / denom;
        }
    }

    fn reset(&mut self) {
        self.t = 0;
        self.beta1_power = 1.0;
        self.beta2_power = 1.0;
        self.m.fill(0.0);
        self.v.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_learning_rate_against_the_gradient_sign() {
        // t = 1: m = 0.1 g, v = 0.001 g^2, step = lr / 0.1, denom = |g| / sqrt(0.001) ... = |g| + eps,
        // so the update is -lr * g / (|g| + eps) = -lr sgn(g) up to eps.
        let mut adam = Adam::new(3, 1.0);
        let mut p = [0.25f32, -0.5, 0.0];
        adam.step(&mut p, &[2.0, -0.003, 1e-3]);
        assert!((p[0] - (0.25 - 1.0)).abs() < 1e-6, "{p:?}");
        assert!((p[1] - (-0.5 + 1.0)).abs() < 1e-5, "{p:?}");
        assert!((p[2] + 1.0).abs() < 1e-4, "{p:?}");
    }

    #[test]
    fn matches_a_double_precision_adam_over_many_steps() {
        let mut adam = Adam::new(1, 1e-2);
        let (mut p, mut m, mut v) = ([0.3f32], 0.0f64, 0.0f64);
        let mut p64 = 0.3f64;
        for t in 1..=200 {
            let g = (p[0] as f64 - 1.0) * 2.0; // gradient of (p - 1)^2
            adam.step(&mut p, &[g as f32]);
            let g64 = (p64 - 1.0) * 2.0;
            m = 0.9 * m + 0.1 * g64;
            v = 0.999 * v + 0.001 * g64 * g64;
            let mh = m / (1.0 - 0.9f64.powi(t));
            let vh = v / (1.0 - 0.999f64.powi(t));
            p64 -= 1e-2 * mh / (vh.sqrt() + 1e-8);
        }
        assert!((p[0] as f64 - p64).abs() < 1e-4, "{} vs {p64}", p[0]);
    }
}
