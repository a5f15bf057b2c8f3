//! The regulariser catalogue (`modules/README.md` section 5): each penalty recorded on the tape and, apart
//! from it, its value and gradient in closed form.
//!
//! Closed-form gradients include the 1/N of the mean and the tie rule of the derivative
//! conventions: at |w| = 0.5 (NAU bias) or w = 0.5 (NMU bias) the two branches of the min
//! share the gradient half/half (the documented rule, which makes it 0), or it all goes to the
//! first branch, |w|.

use engine::{Conventions, Var};

use crate::scalar::{Scalar, at_tie};

/// Linear or squared form of a bias or out-of-bounds penalty ("none" turns it off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegShape {
    Linear,
    Squared,
    None,
}

crate::named_enum!(RegShape {
    Linear = "linear",
    Squared = "squared",
    None = "none",
});

/// A penalty on one weight tensor, the mean over its N elements of a per-element term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Penalty {
    /// min(|w|, |1 - |w||) or w^2 (1 - |w|)^2: -1, 0 and 1 are free (NAU, NRU, NPU "bias").
    NauBias(RegShape),
    /// min(|w|, |1 - w|) or w^2 (1 - w)^2: 0 and 1 are free (NMU, NMRU, gates).
    NmuBias(RegShape),
    /// relu(|w| - 1), or its square: weights outside [-1, 1].
    NauOob(RegShape),
    /// relu(|w - 0.5| - 0.5), or its square: weights outside [0, 1].
    NmuOob(RegShape),
    /// |1 - |w||: only -1 and +1 are free (the NPU's W regulariser, type "W").
    NpuW,
}

impl Penalty {
    /// Whether the penalty is switched off ("none" shape).
    pub fn is_off(self) -> bool {
        matches!(
            self,
            Penalty::NauBias(RegShape::None)
                | Penalty::NmuBias(RegShape::None)
                | Penalty::NauOob(RegShape::None)
                | Penalty::NmuOob(RegShape::None)
        )
    }

    /// Records mean(term(w)) on the tape.
    pub fn record(self, w: Var<'_>) -> Var<'_> {
        let terms = match self {
            Penalty::NauBias(RegShape::Linear) => w.abs().min((1.0 - w.abs()).abs()),
            Penalty::NauBias(_) => w.square() * (1.0 - w.abs()).square(),
            Penalty::NmuBias(RegShape::Linear) => w.abs().min((1.0 - w).abs()),
            Penalty::NmuBias(_) => w.square() * (1.0 - w).square(),
            Penalty::NauOob(RegShape::Linear) => (w.abs() - 1.0).relu(),
            Penalty::NauOob(_) => (w.abs() - 1.0).relu().square(),
            Penalty::NmuOob(RegShape::Linear) => ((w - 0.5).abs() - 0.5).relu(),
            Penalty::NmuOob(_) => ((w - 0.5).abs() - 0.5).relu().square(),
            Penalty::NpuW => (1.0 - w.abs()).abs(),
        };
        terms.mean_all()
    }

    /// mean(term(w)) in closed form.
    pub fn value<S: Scalar>(self, w: &[S]) -> S {
        let one = S::one();
        let relu = |v: S| if v.gt(S::zero()).into() { v } else { S::zero() };
        let sum = w.iter().fold(S::zero(), |acc, &w| {
            let a = w.abs();
            let term = match self {
                Penalty::NauBias(RegShape::Linear) => a.minimum((one - a).abs()),
                Penalty::NauBias(_) => w * w * (one - a) * (one - a),
                Penalty::NmuBias(RegShape::Linear) => a.minimum((one - w).abs()),
                Penalty::NmuBias(_) => w * w * (one - w) * (one - w),
                Penalty::NauOob(RegShape::Linear) => relu(a - one),
                Penalty::NauOob(_) => relu(a - one) * relu(a - one),
                Penalty::NmuOob(shape) => {
                    let r = relu((w - S::splat(0.5)).abs() - S::splat(0.5));
                    if shape == RegShape::Linear { r } else { r * r }
                }
                Penalty::NpuW => (one - a).abs(),
            };
            acc + term
        });
        sum / S::from_f64(w.len() as f64)
    }

    /// d mean(term(w)) / dw for every element, by the formulas of the documented table.
    pub fn grad<S: Scalar>(self, w: &[S], conventions: Conventions) -> Vec<S> {
        let (one, half, two) = (S::one(), S::splat(0.5), S::splat(2.0));
        let n = S::from_f64(w.len() as f64);
        w.iter()
            .map(|&w| {
                let a = w.abs();
                let d = match self {
                    Penalty::NauBias(RegShape::Linear) => {
                        let near = w.sgn();
                        let far = -(one - a).sgn() * w.sgn();
                        if a.lt(half).into() {
                            near
                        } else if a.gt(half).into() {
                            far
                        } else {
                            at_tie(near, far, conventions)
                        }
                    }
                    Penalty::NauBias(_) => {
                        two * w * (one - a) * (one - a) - two * w * w * (one - a) * w.sgn()
                    }
                    Penalty::NmuBias(RegShape::Linear) => {
                        let near = w.sgn();
                        let far = -(one - w).sgn();
                        let (left, right) = (a, (one - w).abs());
                        if left.lt(right).into() {
                            near
                        } else if left.gt(right).into() {
                            far
                        } else {
                            at_tie(near, far, conventions)
                        }
                    }
                    Penalty::NmuBias(_) => {
                        two * w * (one - w) * (one - w) - two * w * w * (one - w)
                    }
                    Penalty::NauOob(shape) => {
                        let excess = a - one;
                        if !Into::<bool>::into(excess.gt(S::zero())) {
                            S::zero()
                        } else if shape == RegShape::Linear {
                            w.sgn()
                        } else {
                            two * excess * w.sgn()
                        }
                    }
                    Penalty::NmuOob(shape) => {
                        let centred = w - half;
                        let excess = centred.abs() - half;
                        if !Into::<bool>::into(excess.gt(S::zero())) {
                            S::zero()
                        } else if shape == RegShape::Linear {
                            centred.sgn()
                        } else {
                            two * excess * centred.sgn()
                        }
                    }
                    Penalty::NpuW => -(one - a).sgn() * w.sgn(),
                };
                d / n
            })
            .collect()
    }
}

/// The z-regularisers: mean over (o, i) of a term in W_oi and the feature mean xbar_i of the
/// unit's inputs in this batch (no gradient flows into xbar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZPenalty {
    /// (1 - |W_oi|) xbar_i^2.
    Nau,
    /// (1 - W_oi) (1 - xbar_i)^2.
    Nmu,
}

impl ZPenalty {
    /// Records the penalty; `xbar` holds I feature means, `w` O x I weights.
    pub fn record<'g>(self, w: Var<'g>, xbar: Var<'g>) -> Var<'g> {
        let outputs = w.shape().features / xbar.shape().features;
        let xbar = xbar.detach().tile(outputs);
        match self {
            ZPenalty::Nau => ((1.0 - w.abs()) * xbar.square()).mean_all(),
            ZPenalty::Nmu => ((1.0 - w) * (1.0 - xbar).square()).mean_all(),
        }
    }

    fn terms<'a, S: Scalar>(self, w: &'a [S], xbar: &'a [S]) -> impl Iterator<Item = (S, S)> + 'a {
        let inputs = xbar.len();
        w.iter().enumerate().map(move |(k, &w)| {
            let x = xbar[k % inputs];
            match self {
                ZPenalty::Nau => ((S::one() - w.abs()) * x * x, -w.sgn() * x * x),
                ZPenalty::Nmu => (
                    (S::one() - w) * (S::one() - x) * (S::one() - x),
                    -(S::one() - x) * (S::one() - x),
                ),
            }
        })
    }

    pub fn value<S: Scalar>(self, w: &[S], xbar: &[S]) -> S {
        let sum = self.terms(w, xbar).fold(S::zero(), |acc, (v, _)| acc + v);
        sum / S::from_f64(w.len() as f64)
    }

    pub fn grad<S: Scalar>(self, w: &[S], xbar: &[S]) -> Vec<S> {
        let n = S::from_f64(w.len() as f64);
        self.terms(w, xbar).map(|(_, d)| d / n).collect()
    }
}

/// Feature means of a batch stored sample-major (`x[b * features + i]`).
pub fn feature_means<S: Scalar>(x: &[S], features: usize) -> Vec<S> {
    let batch = x.len() / features;
    (0..features)
        .map(|i| {
            let sum = (0..batch).fold(S::zero(), |acc, b| acc + x[b * features + i]);
            sum / S::from_f64(batch as f64)
        })
        .collect()
}

/// The sparsity-inducing term over every parameter tensor (`modules/README.md` section 5): the sum of
/// |theta| (p = 1) or the sum of the tensors' Euclidean norms (p = 2, not squared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lp {
    L1,
    L2,
}

crate::named_enum!(Lp { L1 = "1", L2 = "2" });

impl Lp {
    pub fn record<'g>(self, params: &[Var<'g>]) -> Var<'g> {
        let term = |p: Var<'g>| match self {
            Lp::L1 => p.abs().sum_all(),
            Lp::L2 => p.norm2(),
        };
        let mut total = term(params[0]);
        for &p in &params[1..] {
            total = total + term(p);
        }
        total
    }

    /// Value and gradient over the flat parameter vector split into `tensors`.
    pub fn value_and_grad<S: Scalar>(
        self,
        params: &[S],
        tensors: &[std::ops::Range<usize>],
    ) -> (S, Vec<S>) {
        let mut value = S::zero();
        let mut grad = vec![S::zero(); params.len()];
        for range in tensors {
            let theta = &params[range.clone()];
            match self {
                Lp::L1 => {
                    value = value + theta.iter().fold(S::zero(), |acc, &t| acc + t.abs());
                    for (g, &t) in grad[range.clone()].iter_mut().zip(theta) {
                        *g = t.sgn();
                    }
                }
                Lp::L2 => {
                    let norm = theta.iter().fold(S::zero(), |acc, &t| acc + t * t).sqrt();
                    value = value + norm;
                    for (g, &t) in grad[range.clone()].iter_mut().zip(theta) {
                        *g = if norm.equal(S::zero()).into() {
                            S::zero()
                        } else {
                            t / norm
                        };
                    }
                }
            }
        }
        (value, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_values_and_ties() {
        // NAU bias linear at w = (0.3, -0.7): min(0.3, 0.7) = 0.3, min(0.7, 0.3) = 0.3 -> 0.3
        assert!((Penalty::NauBias(RegShape::Linear).value(&[0.3f64, -0.7]) - 0.3).abs() < 1e-15);
        // NMU bias linear on (0.2, 0.4, 0.6, 0.8): 0.2, 0.4, 0.4, 0.2 -> 0.3
        assert!(
            (Penalty::NmuBias(RegShape::Linear).value(&[0.2f64, 0.4, 0.6, 0.8]) - 0.3).abs()
                < 1e-15
        );
        // NPU W on (0.3, -0.2): |1 - 0.3| = 0.7, 0.8 -> 0.75
        assert!((Penalty::NpuW.value(&[0.3f64, -0.2]) - 0.75).abs() < 1e-15);
        // ties: zero gradient at |w| = 0.5 (NAU) and w = 0.5 (NMU)
        assert_eq!(
            Penalty::NauBias(RegShape::Linear).grad(&[0.5f64, -0.5], Conventions::Paper),
            vec![0.0, 0.0]
        );
        assert_eq!(
            Penalty::NmuBias(RegShape::Linear).grad(&[0.5f64], Conventions::Paper),
            vec![0.0]
        );
        // the other convention: at a tie all of it goes to the first branch, |w|
        assert_eq!(
            Penalty::NauBias(RegShape::Linear).grad(&[0.5f64, -0.5], Conventions::TorchLegacy),
            vec![0.5, -0.5]
        );
        assert_eq!(
            Penalty::NmuBias(RegShape::Linear).grad(&[0.5f64], Conventions::TorchLegacy),
            vec![1.0]
        );
        // zero gradient at the free points
        assert_eq!(
            Penalty::NauBias(RegShape::Linear).grad(&[0.0f64, 1.0, -1.0], Conventions::Paper),
            vec![0.0, 0.0, 0.0]
        );
        assert_eq!(
            Penalty::NpuW.grad(&[0.0f64, 1.0, -1.0], Conventions::Paper),
            vec![0.0, 0.0, 0.0]
        );
        // away from ties: NAU linear at 0.25 -> sgn(w) / N = 0.5 (N = 2)
        assert_eq!(
            Penalty::NauBias(RegShape::Linear).grad(&[0.25f64, -0.75], Conventions::Paper),
            vec![0.5, 0.5]
        );
    }
}
