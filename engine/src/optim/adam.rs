//! Adam (Kingma and Ba) exactly as PyTorch 1.x applies it to one tensor.

use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

use super::Optimizer;
use crate::Real;

/// Parameters from which a step is vectorised and split between threads (a CNN's 1.2 M);
/// the arithmetic is the same per element, so the result is too.
const LARGE: usize = 1 << 16;
/// Parameters per piece of a split step (a multiple of 8).
const PIECE: usize = 1 << 14;

/// Adam with bias correction and optional classic (coupled) L2 weight decay per parameter
/// group, no AMSGrad.
///
/// With step counter t starting at 1, and `g = g + decay p` first where a group decays:
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
    /// Parameter ranges with their L2 weight decay.
    decay: Vec<(Range<usize>, f32)>,
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
            decay: Vec::new(),
        }
    }

    /// Adds the classic L2 weight decay `decay` to the parameters in `range` (PyTorch's
    /// `weight_decay` of that parameter group): their gradients become `g + decay p`, formed
    /// with one rounding, before the moments.
    ///
    /// # Panics
    /// If the range lies outside the parameters or overlaps an earlier group.
    pub fn with_weight_decay(mut self, range: Range<usize>, decay: f32) -> Self {
        assert!(
            range.end <= self.m.len(),
            "decay range {range:?} outside the parameters"
        );
        assert!(
            self.decay
                .iter()
                .all(|(r, _)| r.end <= range.start || range.end <= r.start),
            "decay range {range:?} overlaps another group"
        );
        let at = self.decay.partition_point(|(r, _)| r.start < range.start);
        self.decay.insert(at, (range, decay));
        self
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// The state a step carries to the next: the step count, the running powers of the betas
    /// and the two moments (for a checkpoint).
    pub fn state(&self) -> (u64, f64, f64, &[f32], &[f32]) {
        (self.t, self.beta1_power, self.beta2_power, &self.m, &self.v)
    }

    /// Puts back a state taken by [`Self::state`].
    ///
    /// # Panics
    /// If the moments do not have this optimiser's length.
    pub fn restore(&mut self, t: u64, beta1_power: f64, beta2_power: f64, m: &[f32], v: &[f32]) {
        assert!(
            m.len() == self.m.len() && v.len() == self.v.len(),
            "moments of {} and {} values for {} parameters",
            m.len(),
            v.len(),
            self.m.len()
        );
        (self.t, self.beta1_power, self.beta2_power) = (t, beta1_power, beta2_power);
        self.m.copy_from_slice(m);
        self.v.copy_from_slice(v);
    }
}

/// The constants of one step.
#[derive(Clone, Copy)]
struct Update {
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
}

impl Update {
    /// One element (or eight), in PyTorch's order of f32 operations.
    #[inline(always)]
    fn element<L: Real>(&self, p: &mut L, g: L, m: &mut L, v: &mut L, decay: Option<f32>) {
        let g = match decay {
            Some(decay) => p.mul_add(L::splat(decay), g),
            None => g,
        };
        *m = *m * L::splat(self.beta1) + L::splat(self.one_minus_beta1) * g;
        *v = *v * L::splat(self.beta2) + (L::splat(self.one_minus_beta2) * g) * g;
        let denom = v.sqrt() / L::splat(self.bias_correction2_sqrt) + L::splat(self.eps);
        *p = *p + (-L::splat(self.step_size) * *m) / denom;
    }

    /// A run of parameters; large runs eight at a time, in pieces on the rayon pool.
    fn apply(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], decay: f32) {
        let decay = (decay != 0.0).then_some(decay);
        let serial = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                self.element(p, g, m, v, decay);
            }
        };
        if p.len() < LARGE {
            return serial(p, g, m, v);
        }
        p.par_chunks_mut(PIECE)
            .zip(g.par_chunks(PIECE))
            .zip(m.par_chunks_mut(PIECE).zip(v.par_chunks_mut(PIECE)))
            .for_each(|((p, g), (m, v))| {
                let whole = p.len() / 8 * 8;
                for e in (0..whole).step_by(8) {
                    let load =
                        |s: &[f32]| f32x8::from(<[f32; 8]>::try_from(&s[e..e + 8]).expect("8"));
                    let (mut pv, mut mv, mut vv) = (load(p), load(m), load(v));
                    self.element(&mut pv, load(g), &mut mv, &mut vv, decay);
                    p[e..e + 8].copy_from_slice(&pv.to_array());
                    m[e..e + 8].copy_from_slice(&mv.to_array());
                    v[e..e + 8].copy_from_slice(&vv.to_array());
                }
                serial(
                    &mut p[whole..],
                    &g[whole..],
                    &mut m[whole..],
                    &mut v[whole..],
                );
            });
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
        let update = Update {
            beta1,
            beta2,
            one_minus_beta1,
            one_minus_beta2,
            step_size,
            bias_correction2_sqrt,
            eps: self.eps as f32,
        };
        if self.decay.is_empty() && params.len() < LARGE {
            // the arithmetic units' few parameters: one plain loop
            for (((p, &g), m), v) in params
                .iter_mut()
                .zip(grads)
                .zip(&mut self.m)
                .zip(&mut self.v)
            {
                update.element(p, g, m, v, None);
            }
            return;
        }
        // the groups with decay (kept in order), and the stretches between them without
        let (m, v) = (&mut self.m, &mut self.v);
        let mut apply = |range: Range<usize>, decay: f32| {
            update.apply(
                &mut params[range.clone()],
                &grads[range.clone()],
                &mut m[range.clone()],
                &mut v[range],
                decay,
            )
        };
        let mut at = 0;
        for (range, decay) in &self.decay {
            apply(at..range.start, 0.0);
            apply(range.clone(), *decay);
            at = range.end;
        }
        apply(at..grads.len(), 0.0);
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
    fn large_steps_equal_the_element_by_element_update_bit_for_bit() {
        // 200,003 parameters (vectorised, split, with a scalar tail) against 1 at a time
        let len = 200_003;
        let mut big = Adam::new(len, 1e-3).with_weight_decay(1000..150_000, 1e-3);
        let mut params: Vec<f32> = (0..len)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut singles: Vec<Adam> = (0..len)
            .map(|i| {
                let adam = Adam::new(1, 1e-3);
                if (1000..150_000).contains(&i) {
                    adam.with_weight_decay(0..1, 1e-3)
                } else {
                    adam
                }
            })
            .collect();
        let mut one_by_one = params.clone();
        for step in 0..3 {
            let grads: Vec<f32> = (0..len)
                .map(|i| ((i * 31 + step * 17) % 200) as f32 / 100.0 - 1.0)
                .collect();
            big.step(&mut params, &grads);
            for (i, adam) in singles.iter_mut().enumerate() {
                adam.step(&mut one_by_one[i..i + 1], &grads[i..i + 1]);
            }
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&params), bits(&one_by_one));
    }

    #[test]
    fn weight_decay_is_added_to_the_gradient_before_the_moments() {
        // with g = 0 and decay d, the first step sees g' = d p: the update is -lr sgn(p)
        let mut adam = Adam::new(2, 0.1).with_weight_decay(1..2, 0.5);
        let mut p = [2.0f32, 2.0];
        adam.step(&mut p, &[0.0, 0.0]);
        assert_eq!(p[0], 2.0);
        assert!((p[1] - 1.9).abs() < 1e-6, "{p:?}");
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
