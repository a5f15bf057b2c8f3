//! The Neural Arithmetic Logic Unit (Trask et al., 2018): a learned gate between an additive
//! NAC and a multiplicative one, y = g (x W^T) + (1 - g) exp(ln(|x| + 1e-7) W^T) with
//! g = sigmoid(x G^T + c).

use engine::{Conventions, Graph, Var, WeightLayout};
use rand_core::Rng;

use super::nac::{LOG_OFFSET, log_input, nac_weight, nac_weight_parts};
use crate::init;
use crate::module::{Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error};
use crate::scalar::Scalar;

/// The NALU. Parameters: Ŵ, M̂ (O x I, the NAC), G (O x I, Xavier-uniform), then c (O, zero)
/// with `gate_bias`, then Ŵ_m, M̂_m with `separate_nacs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Nalu {
    pub inputs: usize,
    pub outputs: usize,
    /// A learned bias c in the gate.
    pub gate_bias: bool,
    /// Separate NAC weights for the multiplicative path.
    pub separate_nacs: bool,
    /// Key g: the sum over the batch of g^2 (1 - g)^2.
    pub gate_regulariser: bool,
}

impl Nalu {
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Nalu {
            inputs,
            outputs,
            gate_bias: false,
            separate_nacs: false,
            gate_regulariser: false,
        }
    }

    fn n(&self) -> usize {
        self.inputs * self.outputs
    }

    /// Offsets of (G, c, Ŵ_m) in the flat parameter vector.
    fn offsets(&self) -> (usize, usize, usize) {
        let n = self.n();
        let c = 3 * n;
        let multiplicative = if self.gate_bias { c + self.outputs } else { c };
        (2 * n, c, multiplicative)
    }

    fn gate<'g>(&self, x: Var<'g>, p: &[Var<'g>]) -> Var<'g> {
        let mut logits = x.matmul(p[2], WeightLayout::OutIn);
        if self.gate_bias {
            logits = logits + p[3];
        }
        logits.sigmoid()
    }

    /// Gates of one sample, sample-major `x`.
    fn gates<S: Scalar>(&self, params: &[S], x: &[S]) -> Vec<S> {
        let (g_at, c_at, _) = self.offsets();
        (0..self.outputs)
            .map(|o| {
                let mut logit = (0..self.inputs).fold(S::zero(), |acc, i| {
                    acc + x[i] * params[g_at + o * self.inputs + i]
                });
                if self.gate_bias {
                    logit = logit + params[c_at + o];
                }
                logit.sigmoid()
            })
            .collect()
    }
}

impl Module for Nalu {
    fn name(&self) -> &'static str {
        "nalu"
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn params(&self) -> Vec<ParamSpec> {
        let n = self.n();
        let mut specs = vec![
            ParamSpec {
                name: "W_hat",
                len: n,
            },
            ParamSpec {
                name: "M_hat",
                len: n,
            },
            ParamSpec { name: "G", len: n },
        ];
        if self.gate_bias {
            specs.push(ParamSpec {
                name: "c",
                len: self.outputs,
            });
        }
        if self.separate_nacs {
            specs.push(ParamSpec {
                name: "W_hat_m",
                len: n,
            });
            specs.push(ParamSpec {
                name: "M_hat_m",
                len: n,
            });
        }
        specs
    }
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        let n = self.n();
        let (g_at, c_at, m_at) = self.offsets();
        let nac = init::nac_bound(self.inputs, self.outputs);
        init::symmetric(rng, &mut params[..g_at], nac);
        init::symmetric(
            rng,
            &mut params[g_at..g_at + n],
            init::xavier_bound(self.inputs, self.outputs),
        );
        params[c_at..m_at].fill(0.0);
        init::symmetric(rng, &mut params[m_at..], nac);
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], _mode: Mode) -> Var<'g> {
        let gate = self.gate(x, p);
        let w = nac_weight(p[0], p[1]);
        let w_m = if self.separate_nacs {
            let at = p.len() - 2;
            nac_weight(p[at], p[at + 1])
        } else {
            w
        };
        let additive = x.matmul(w, WeightLayout::OutIn);
        let multiplicative = log_input(x).matmul(w_m, WeightLayout::OutIn).exp();
        gate * additive + (1.0 - gate) * multiplicative
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        let g = self.gate_regulariser.then(|| {
            let gate = self.gate(x, p);
            (gate.square() * (1.0 - gate).square()).sum_all()
        });
        RegKeys {
            g,
            ..RegKeys::default()
        }
    }
    fn project(&self, _params: &mut [f32]) {}
    fn sparsity(&self, params: &[f32]) -> f32 {
        let n = self.n();
        let w: Vec<f32> = nac_weight_parts(&params[..n], &params[n..2 * n])
            .iter()
            .map(|p| p.0)
            .collect();
        sparsity_error(&w)
    }
    fn jacobian<S: Scalar>(&self, params: &[S], x: &[S], _conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n, n) = (self.inputs, self.outputs, self.n());
        let (g_at, c_at, m_at) = self.offsets();
        let one = S::one();
        let add_parts = nac_weight_parts(&params[..n], &params[n..2 * n]);
        let mul_parts = if self.separate_nacs {
            nac_weight_parts(&params[m_at..m_at + n], &params[m_at + n..])
        } else {
            add_parts.clone()
        };
        let offset = S::splat(LOG_OFFSET);
        let logs: Vec<S> = x.iter().map(|&x| (x.abs() + offset).ln()).collect();
        let gates = self.gates(params, x);
        let p_len = params.len();
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![S::zero(); o_n * p_len],
            dy_dx: vec![S::zero(); o_n * i_n],
        };
        for (o, &g) in gates.iter().enumerate() {
            let at = |i: usize| o * i_n + i;
            let a = (0..i_n).fold(S::zero(), |acc, i| acc + x[i] * add_parts[at(i)].0);
            let m = (0..i_n)
                .fold(S::zero(), |acc, i| acc + logs[i] * mul_parts[at(i)].0)
                .exp();
            jac.y.push(g * a + (one - g) * m);
            let dgate = (a - m) * g * (one - g);
            let row = &mut jac.dy_dparams[o * p_len..(o + 1) * p_len];
            for i in 0..i_n {
                let (_, wh, mh) = add_parts[at(i)];
                let additive = g * x[i];
                let multiplicative = (one - g) * m * logs[i];
                if self.separate_nacs {
                    let (_, wh_m, mh_m) = mul_parts[at(i)];
                    row[at(i)] = additive * wh;
                    row[n + at(i)] = additive * mh;
                    row[m_at + at(i)] = multiplicative * wh_m;
                    row[m_at + n + at(i)] = multiplicative * mh_m;
                } else {
                    row[at(i)] = (additive + multiplicative) * wh;
                    row[n + at(i)] = (additive + multiplicative) * mh;
                }
                row[g_at + at(i)] = dgate * x[i];
                let through_log =
                    (one - g) * m * mul_parts[at(i)].0 * x[i].sgn() / (x[i].abs() + offset);
                jac.dy_dx[at(i)] =
                    g * add_parts[at(i)].0 + through_log + dgate * params[g_at + at(i)];
            }
            if self.gate_bias {
                row[c_at + o] = dgate;
            }
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        params: &[S],
        x: &[S],
        _conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        if !self.gate_regulariser {
            return RegKeys::default();
        }
        let (g_at, c_at, _) = self.offsets();
        let (one, two) = (S::one(), S::splat(2.0));
        let mut value = S::zero();
        let mut grad = vec![S::zero(); params.len()];
        for sample in x.chunks_exact(self.inputs) {
            for (o, g) in self.gates(params, sample).into_iter().enumerate() {
                value = value + g * g * (one - g) * (one - g);
                // d/dlogit of g^2 (1 - g)^2 = 2 g (1 - g)(1 - 2g) * g (1 - g)
                let dlogit = two * g * (one - g) * (one - two * g) * (g * (one - g));
                for (i, &x) in sample.iter().enumerate() {
                    let k = g_at + o * self.inputs + i;
                    grad[k] = grad[k] + dlogit * x;
                }
                if self.gate_bias {
                    grad[c_at + o] = grad[c_at + o] + dlogit;
                }
            }
        }
        RegKeys {
            g: Some(PenaltyGrad { value, grad }),
            ..RegKeys::default()
        }
    }
}
