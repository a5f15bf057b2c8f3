//! The Neural Multiplication Unit (Madsen and Johansen, 2020):
//! y_o = prod_i (W_oi x_i + 1 - W_oi), weights in [0, 1].

use engine::{Conventions, Graph, Var};
use rand_core::Rng;

use crate::init;
use crate::module::{
    Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error, sparsity_error_within,
};
use crate::penalty::{Penalty, RegShape, ZPenalty, feature_means};
use crate::scalar::{Scalar, product, products_of_others};
use crate::units::OobMode;

/// The NMU. Parameters: W (O x I), uniform on [0.25, 0.75].
#[derive(Clone, Debug, PartialEq)]
pub struct Nmu {
    pub inputs: usize,
    pub outputs: usize,
    pub reg_shape: RegShape,
    /// Clip: raw W forward, clamp to [0, 1] after each step. Regularized: W clamped inside
    /// the forward pass (gradient masked outside [0, 1]) plus the W-OOB penalty.
    pub oob: OobMode,
}

impl Nmu {
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Nmu {
            inputs,
            outputs,
            reg_shape: RegShape::Linear,
            oob: OobMode::Clip,
        }
    }
}

impl Module for Nmu {
    fn name(&self) -> &'static str {
        "nmu"
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
        for w in params {
            *w = init::uniform(rng, 0.25, 0.75);
        }
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], _mode: Mode) -> Var<'g> {
        let w = match self.oob {
            OobMode::Clip => p[0],
            OobMode::Regularized(_) => p[0].clamp(0.0, 1.0),
        };
        let x = if self.outputs > 1 {
            x.tile(self.outputs)
        } else {
            x
        };
        x.gated_nmu(w).prod_features(self.inputs)
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        let bias = Penalty::NmuBias(self.reg_shape);
        RegKeys {
            w: (!bias.is_off()).then(|| bias.record(p[0])),
            z: Some(ZPenalty::Nmu.record(p[0], x.mean_batch())),
            w_oob: match self.oob {
                OobMode::Regularized(shape) => Some(Penalty::NmuOob(shape))
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
                *w = w.clamp(0.0, 1.0);
            }
        }
    }
    /// On the weights the forward pass uses: clamped to [0, 1] in the regularised
    /// out-of-bounds mode.
    fn sparsity(&self, params: &[f32]) -> f32 {
        match self.oob {
            OobMode::Clip => sparsity_error(params),
            OobMode::Regularized(_) => sparsity_error_within(params, 0.0, 1.0),
        }
    }
    fn jacobian<S: Scalar>(&self, w: &[S], x: &[S], conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n) = (self.inputs, self.outputs);
        let (zero, one) = (S::zero(), S::one());
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![zero; o_n * w.len()],
            dy_dx: vec![zero; o_n * i_n],
        };
        for o in 0..o_n {
            let raw = &w[o * i_n..(o + 1) * i_n];
            let (wf, passes): (Vec<S>, Vec<bool>) = raw
                .iter()
                .map(|&w| self.oob.read(w, zero, one, conventions))
                .unzip();
            let factors: Vec<S> = wf.iter().zip(x).map(|(&w, &x)| w * x + one - w).collect();
            let others = products_of_others(&factors);
            jac.y.push(product(&factors));
            for i in 0..i_n {
                if passes[i] {
                    jac.dy_dparams[o * w.len() + o * i_n + i] = others[i] * (x[i] - one);
                }
                jac.dy_dx[o * i_n + i] = others[i] * wf[i];
            }
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        w: &[S],
        x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        let bias = Penalty::NmuBias(self.reg_shape);
        let xbar = feature_means(x, self.inputs);
        let grad = |p: Penalty| PenaltyGrad {
            value: p.value(w),
            grad: p.grad(w, conventions),
        };
        RegKeys {
            w: (!bias.is_off()).then(|| grad(bias)),
            z: Some(PenaltyGrad {
                value: ZPenalty::Nmu.value(w, &xbar),
                grad: ZPenalty::Nmu.grad(w, &xbar),
            }),
            w_oob: match self.oob {
                OobMode::Regularized(shape) => Some(Penalty::NmuOob(shape))
                    .filter(|p| !p.is_off())
                    .map(grad),
                OobMode::Clip => None,
            },
            ..RegKeys::default()
        }
    }
}
