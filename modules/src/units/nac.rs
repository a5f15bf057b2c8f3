//! The Neural Accumulator (Trask et al., 2018), additive and multiplicative (MNAC):
//! W = tanh(Ŵ) sigmoid(M̂); y = x W^T, or y = exp(ln(|x| + 1e-7) W^T).

use engine::{Conventions, Graph, Var, WeightLayout};
use rand_core::Rng;

use crate::init;
use crate::module::{Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error};
use crate::scalar::Scalar;

/// The constant added to |x| before the logarithm of the multiplicative path.
pub const LOG_OFFSET: f32 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NacKind {
    Additive,
    Multiplicative,
}

/// A NAC. Parameters: Ŵ and M̂ (O x I each), uniform on [-r, r] (see [`init::nac_bound`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Nac {
    pub inputs: usize,
    pub outputs: usize,
    pub kind: NacKind,
}

impl Nac {
    pub fn new(inputs: usize, outputs: usize, kind: NacKind) -> Self {
        Nac {
            inputs,
            outputs,
            kind,
        }
    }
}

/// The effective NAC weight tanh(Ŵ) sigmoid(M̂) on the tape.
pub(crate) fn nac_weight<'g>(w_hat: Var<'g>, m_hat: Var<'g>) -> Var<'g> {
    w_hat.tanh() * m_hat.sigmoid()
}

/// Effective weights and their derivatives: (W, dW/dŴ, dW/dM̂) element by element.
pub(crate) fn nac_weight_parts<S: Scalar>(w_hat: &[S], m_hat: &[S]) -> Vec<(S, S, S)> {
    w_hat
        .iter()
        .zip(m_hat)
        .map(|(&wh, &mh)| {
            let (t, s) = (wh.tanh(), mh.sigmoid());
            (t * s, (S::one() - t * t) * s, t * s * (S::one() - s))
        })
        .collect()
}

/// ln(|x| + 1e-7) on the tape.
pub(crate) fn log_input(x: Var<'_>) -> Var<'_> {
    (x.abs() + LOG_OFFSET).ln()
}

impl Module for Nac {
    fn name(&self) -> &'static str {
        match self.kind {
            NacKind::Additive => "nac",
            NacKind::Multiplicative => "mnac",
        }
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn params(&self) -> Vec<ParamSpec> {
        let n = self.outputs * self.inputs;
        vec![
            ParamSpec {
                name: "W_hat",
                len: n,
            },
            ParamSpec {
                name: "M_hat",
                len: n,
            },
        ]
    }
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        init::symmetric(rng, params, init::nac_bound(self.inputs, self.outputs));
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], _mode: Mode) -> Var<'g> {
        let w = nac_weight(p[0], p[1]);
        match self.kind {
            NacKind::Additive => x.matmul(w, WeightLayout::OutIn),
            NacKind::Multiplicative => log_input(x).matmul(w, WeightLayout::OutIn).exp(),
        }
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, _x: Var<'g>, _p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        RegKeys::default()
    }
    fn project(&self, _params: &mut [f32]) {}
    fn sparsity(&self, params: &[f32]) -> f32 {
        let n = self.outputs * self.inputs;
        let w: Vec<f32> = nac_weight_parts(&params[..n], &params[n..])
            .iter()
            .map(|p| p.0)
            .collect();
        sparsity_error(&w)
    }
    fn jacobian<S: Scalar>(&self, params: &[S], x: &[S], _conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n) = (self.inputs, self.outputs);
        let n = i_n * o_n;
        let parts = nac_weight_parts(&params[..n], &params[n..]);
        let offset = S::splat(LOG_OFFSET);
        let logs: Vec<S> = x.iter().map(|&x| (x.abs() + offset).ln()).collect();
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![S::zero(); o_n * params.len()],
            dy_dx: vec![S::zero(); o_n * i_n],
        };
        for o in 0..o_n {
            let w = |i: usize| parts[o * i_n + i].0;
            let y = match self.kind {
                NacKind::Additive => (0..i_n).fold(S::zero(), |acc, i| acc + x[i] * w(i)),
                NacKind::Multiplicative => (0..i_n)
                    .fold(S::zero(), |acc, i| acc + logs[i] * w(i))
                    .exp(),
            };
            jac.y.push(y);
            for i in 0..i_n {
                let (dy_dw, dy_dx) = match self.kind {
                    NacKind::Additive => (x[i], w(i)),
                    NacKind::Multiplicative => {
                        (y * logs[i], y * w(i) * x[i].sgn() / (x[i].abs() + offset))
                    }
                };
                let (_, dw_dwh, dw_dmh) = parts[o * i_n + i];
                let row = o * params.len();
                jac.dy_dparams[row + o * i_n + i] = dy_dw * dw_dwh;
                jac.dy_dparams[row + n + o * i_n + i] = dy_dw * dw_dmh;
                jac.dy_dx[o * i_n + i] = dy_dx;
            }
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        _params: &[S],
        _x: &[S],
        _conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        RegKeys::default()
    }
}
