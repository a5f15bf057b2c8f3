//! The Neural Addition Unit (Madsen and Johansen, 2020): y = x W^T with W clamped to
//! [-1, 1] in the forward pass.

use engine::{Conventions, Graph, Var, WeightLayout};
use rand_core::Rng;

use crate::init;
use crate::module::{
    Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error_within,
};
use crate::penalty::{Penalty, RegShape, ZPenalty, feature_means};
use crate::scalar::{Scalar, clamp_passes};

/// How weights outside the unit's range are handled (NAU, NMU, NRU and NMRU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OobMode {
    /// Clamp after every optimiser step; no regulariser.
    Clip,
    /// No projection; the forward pass reads the weights clamped, and a W-OOB regulariser
    /// of the given shape pulls them back.
    Regularized(RegShape),
}

impl OobMode {
    /// The weight the forward pass reads for the stored `w` (range [lo, hi]), and whether
    /// its gradient reaches `w` (the clamp's, at its bounds as `conventions` say).
    pub fn read<S: Scalar>(self, w: S, lo: S, hi: S, conventions: Conventions) -> (S, bool) {
        match self {
            OobMode::Clip => (w, true),
            OobMode::Regularized(_) => (
                w.maximum(lo).minimum(hi),
                clamp_passes(w, lo, hi, conventions),
            ),
        }
    }
}

/// The NAU. Parameters: W (O x I), uniform on [-r, r] with r = min(0.5, sqrt(6 / (I + O))).
#[derive(Clone, Debug, PartialEq)]
pub struct Nau {
    pub inputs: usize,
    pub outputs: usize,
    pub reg_shape: RegShape,
    pub oob: OobMode,
}

impl Nau {
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Nau {
            inputs,
            outputs,
            reg_shape: RegShape::Linear,
            oob: OobMode::Clip,
        }
    }
}

impl Module for Nau {
    fn name(&self) -> &'static str {
        "nau"
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec {
            name: "W",
            len: self.outputs * self.inputs,
        }]
    }
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        init::symmetric(
            rng,
            params,
            init::constrained_bound(self.inputs, self.outputs),
        );
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], _mode: Mode) -> Var<'g> {
        x.matmul(p[0].clamp(-1.0, 1.0), WeightLayout::OutIn)
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        let bias = Penalty::NauBias(self.reg_shape);
        RegKeys {
            w: (!bias.is_off()).then(|| bias.record(p[0])),
            z: Some(ZPenalty::Nau.record(p[0], x.mean_batch())),
            w_oob: match self.oob {
                OobMode::Regularized(shape) => Some(Penalty::NauOob(shape))
                    .filter(|k| !k.is_off())
                    .map(|k| k.record(p[0])),
                OobMode::Clip => None,
            },
            ..RegKeys::default()
        }
    }
    fn project(&self, params: &mut [f32]) {
        if self.oob == OobMode::Clip {
            for w in params {
                *w = w.clamp(-1.0, 1.0);
            }
        }
    }
    /// On the clamped weights the forward pass uses (the raw ones may leave [-1, 1] in the
    /// regularised out-of-bounds mode).
    fn sparsity(&self, params: &[f32]) -> f32 {
        sparsity_error_within(params, -1.0, 1.0)
    }
    fn jacobian<S: Scalar>(&self, w: &[S], x: &[S], conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n) = (self.inputs, self.outputs);
        let (lo, hi) = (S::splat(-1.0), S::one());
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![S::zero(); o_n * w.len()],
            dy_dx: vec![S::zero(); o_n * i_n],
        };
        for o in 0..o_n {
            let mut y = S::zero();
            for i in 0..i_n {
                let wi = w[o * i_n + i];
                let clamped = wi.maximum(lo).minimum(hi);
                y = y + x[i] * clamped;
                if clamp_passes(wi, lo, hi, conventions) {
                    jac.dy_dparams[o * w.len() + o * i_n + i] = x[i];
                }
                jac.dy_dx[o * i_n + i] = clamped;
            }
            jac.y.push(y);
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        w: &[S],
        x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        let bias = Penalty::NauBias(self.reg_shape);
        let xbar = feature_means(x, self.inputs);
        let grad = |p: Penalty| PenaltyGrad {
            value: p.value(w),
            grad: p.grad(w, conventions),
        };
        RegKeys {
            w: (!bias.is_off()).then(|| grad(bias)),
            z: Some(PenaltyGrad {
                value: ZPenalty::Nau.value(w, &xbar),
                grad: ZPenalty::Nau.grad(w, &xbar),
            }),
            w_oob: match self.oob {
                OobMode::Regularized(shape) => Some(Penalty::NauOob(shape))
                    .filter(|p| !p.is_off())
                    .map(grad),
                OobMode::Clip => None,
            },
            ..RegKeys::default()
        }
    }
}
