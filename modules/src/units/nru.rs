//! The Neural Reciprocal Unit (Mistry, Farrahi and Hare, 2022).
//!
//! Each output multiplies one factor per input: with s = sgn(x), a = |x| and weight w,
//! the factor is s a^w A + (1 - A), where the weight magnitude A is tanh(1000 w)^2 in train
//! mode and |w| in eval mode (`modules/README.md` quirk Q2). Weights -1, 0 and +1 select 1/x, 1 and x.
//! The "separate sign" mode multiplies magnitudes a^w A + (1 - A) and applies the sign as
//! s^round(w), which carries no gradient. In the reference's `regualized` out-of-bounds mode
//! the forward pass reads W clamped to [-1, 1], a W-OOB regulariser replaces the projection,
//! and the sparsity error is that of the clamped weights.

use engine::{Conventions, Graph, Var};
use rand_core::Rng;

use crate::init;
use crate::module::{
    Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error_within,
};
use crate::penalty::{Penalty, RegShape, ZPenalty, feature_means};
use crate::scalar::{Scalar, product, products_of_others};
use crate::units::OobMode;

/// How the NRU handles the sign of its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NruMode {
    /// Sign and magnitude in one factor (the paper's NRU).
    Div,
    /// Magnitude factors, with the sign applied separately (appendix).
    DivSepSign,
}

crate::named_enum!(NruMode {
    Div = "div",
    DivSepSign = "div-sepSign",
});

/// The NRU. Parameters: W (O x I), initialised uniformly on [-0.5, 0.5].
#[derive(Clone, Debug, PartialEq)]
pub struct Nru {
    pub inputs: usize,
    pub outputs: usize,
    pub mode: NruMode,
    /// Shape of the W regulariser (NAU-style: -1, 0 and +1 are free).
    pub reg_shape: RegShape,
    /// Weights outside [-1, 1]: clamped after each step, or clamped in the forward pass and
    /// penalised.
    pub oob: OobMode,
}

impl Nru {
    pub fn new(inputs: usize, outputs: usize, mode: NruMode) -> Self {
        Nru {
            inputs,
            outputs,
            mode,
            reg_shape: RegShape::Linear,
            oob: OobMode::Clip,
        }
    }
}

impl Module for Nru {
    fn name(&self) -> &'static str {
        match self.mode {
            NruMode::Div => "nru",
            NruMode::DivSepSign => "nru-sepsign",
        }
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
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], mode: Mode) -> Var<'g> {
        let w = match self.oob {
            OobMode::Clip => p[0],
            OobMode::Regularized(_) => p[0].clamp(-1.0, 1.0),
        };
        let tiled = |v: Var<'g>| {
            if self.outputs > 1 {
                v.tile(self.outputs)
            } else {
                v
            }
        };
        // The recording order fixes the order in which W's gradient terms are summed (the
        // backward pass runs in reverse): powers first, then the gate magnitude, always.
        let (signed, power) = match self.mode {
            // s a^w, formed as sgn(x) |x|^w by one op
            NruMode::Div => (None, tiled(x).signed_pow(w).label("sgn(x) |x|^W")),
            NruMode::DivSepSign => {
                let s = tiled(x.sign());
                (Some(s), tiled(x.abs()).pow(w).label("|x|^W"))
            }
        };
        let magnitude = match mode {
            Mode::Train => (w * 1000.0).tanh().square().label("A = tanh(1000 W)^2"),
            Mode::Eval => w.abs().label("A = |W|"),
        };
        let factors = power
            .gated(magnitude)
            .label("factor sgn(x) |x|^W A + 1 - A")
            .prod_features(self.inputs)
            .label("y = product of the factors");
        match signed {
            None => factors,
            Some(s) => factors * s.pow(w.round()).prod_features(self.inputs),
        }
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        let bias = Penalty::NauBias(self.reg_shape);
        RegKeys {
            w: (!bias.is_off()).then(|| bias.record(p[0])),
            z: Some(ZPenalty::Nau.record(p[0], x.mean_batch())),
            w_oob: self.oob_penalty().map(|k| k.record(p[0])),
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
    /// On the weights the forward pass uses (clamped in the regularised mode).
    fn sparsity(&self, params: &[f32]) -> f32 {
        sparsity_error_within(params, -1.0, 1.0)
    }
    fn jacobian<S: Scalar>(&self, w: &[S], x: &[S], conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n) = (self.inputs, self.outputs);
        let (zero, one) = (S::zero(), S::one());
        let thousand = S::splat(1000.0);
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![zero; o_n * w.len()],
            dy_dx: vec![zero; o_n * i_n],
        };
        let (lo, hi) = (S::splat(-1.0), one);
        for o in 0..o_n {
            let mut factors = Vec::with_capacity(i_n);
            let mut signs = Vec::with_capacity(i_n);
            let mut dfactor_dw = Vec::with_capacity(i_n);
            let mut dfactor_dx = Vec::with_capacity(i_n);
            let mut passes = Vec::with_capacity(i_n);
            for (i, &x) in x.iter().enumerate() {
                let (wi, reaches) = self.oob.read(w[o * i_n + i], lo, hi, conventions);
                passes.push(reaches);
                let (s, a) = (x.sgn(), x.abs());
                let p = a.pow(wi);
                let h = (thousand * wi).tanh();
                let magnitude = h * h;
                let dmagnitude = S::splat(2.0) * h * thousand * (one - h * h);
                let dp_dw = if a.equal(zero).into() && wi.ge(zero).into() {
                    zero
                } else {
                    p * a.ln()
                };
                let dp_da = if wi.equal(zero).into() {
                    zero
                } else {
                    wi * a.pow(wi - one)
                };
                match self.mode {
                    NruMode::Div => {
                        factors.push(s * p * magnitude + (one - magnitude));
                        dfactor_dw.push(s * magnitude * dp_dw + (s * p - one) * dmagnitude);
                        dfactor_dx.push(s * magnitude * dp_da * s);
                        signs.push(one);
                    }
                    NruMode::DivSepSign => {
                        factors.push(p * magnitude + (one - magnitude));
                        dfactor_dw.push(magnitude * dp_dw + (p - one) * dmagnitude);
                        dfactor_dx.push(magnitude * dp_da * s);
                        signs.push(s.pow(wi.round_even()));
                    }
                }
            }
            let sign = product(&signs);
            let others = products_of_others(&factors);
            jac.y.push(product(&factors) * sign);
            for i in 0..i_n {
                if passes[i] {
                    jac.dy_dparams[o * w.len() + o * i_n + i] = sign * others[i] * dfactor_dw[i];
                }
                jac.dy_dx[o * i_n + i] = sign * others[i] * dfactor_dx[i];
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
        let bias = Penalty::NauBias(self.reg_shape);
        let xbar = feature_means(x, self.inputs);
        RegKeys {
            w: (!bias.is_off()).then(|| PenaltyGrad {
                value: bias.value(w),
                grad: bias.grad(w, conventions),
            }),
            z: Some(PenaltyGrad {
                value: ZPenalty::Nau.value(w, &xbar),
                grad: ZPenalty::Nau.grad(w, &xbar),
            }),
            w_oob: self.oob_penalty().map(|k| PenaltyGrad {
                value: k.value(w),
                grad: k.grad(w, conventions),
            }),
            ..RegKeys::default()
        }
    }
}

impl Nru {
    /// The W-OOB penalty of the regularised out-of-bounds mode.
    fn oob_penalty(&self) -> Option<Penalty> {
        match self.oob {
            OobMode::Regularized(shape) => Some(Penalty::NauOob(shape)).filter(|k| !k.is_off()),
            OobMode::Clip => None,
        }
    }
}
