//! The Neural Multiplicative Reciprocal Unit family (Mistry, Farrahi and Hare, 2022).
//!
//! The unit sees the inputs and their reciprocals, u = [x, 1/(x + EPS)] in train mode and
//! [x, 1/x] in eval mode, and multiplies one factor W_j u_j + 1 - W_j per element, so W_j = 1
//! selects u_j and W_j = 0 ignores it. The sign variant (the paper's "NMRU") multiplies
//! magnitudes |u_j| and applies the sign as cos(π sum_j W_j [u_j < 0]); the gated variant
//! first scales u by a learned gate G. In the reference's `regualized` out-of-bounds mode
//! the forward pass reads W clamped to [0, 1], a W-OOB regulariser replaces W's projection,
//! and the sparsity error is that of the clamped weights.
//!
//! At x = -EPS the train-mode reciprocal 1/(x + EPS) is infinite. The gradient of the
//! product is formed as the product of the other factors, so the input gradient there is a
//! signed infinity; the reference forms it as output / factor and gets inf / inf = NaN.
//! Both are non-finite and stop training alike, but they are not the same number.

use engine::{Conventions, EPS, Graph, PI32, Var, WeightLayout};
use rand_core::Rng;

use crate::init;
use crate::module::{
    Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error_within,
};
use crate::penalty::{Penalty, RegShape, ZPenalty, feature_means};
use crate::scalar::{Scalar, product, products_of_others};
use crate::units::OobMode;

/// Which member of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NmruVariant {
    /// Signed factors W u + 1 - W.
    Plain,
    /// Magnitude factors and a cosine sign term (the paper's NMRU).
    Sign,
    /// Sign variant on gated inputs u G (appendix ablation "gnc+sign+gating").
    GatedSign,
}

/// An NMRU. Parameters: W (O x 2I) uniform on [0.25, 0.75], and for the gated variant
/// G (2I) = 0.5.
#[derive(Clone, Debug, PartialEq)]
pub struct Nmru {
    pub inputs: usize,
    pub outputs: usize,
    pub variant: NmruVariant,
    /// Shape of the W regulariser (NMU-style: 0 and 1 are free).
    pub reg_shape: RegShape,
    /// W outside [0, 1]: clamped after each step, or clamped in the forward pass and
    /// penalised (the gate G is clamped after each step either way).
    pub oob: OobMode,
}

impl Nmru {
    pub fn new(inputs: usize, outputs: usize, variant: NmruVariant) -> Self {
        Nmru {
            inputs,
            outputs,
            variant,
            reg_shape: RegShape::Linear,
            oob: OobMode::Clip,
        }
    }

    fn width(&self) -> usize {
        2 * self.inputs
    }

    fn gated(&self) -> bool {
        self.variant == NmruVariant::GatedSign
    }

    /// u = [x, 1/(x + EPS)] (train) or [x, 1/x] (eval) on the tape.
    fn concatenated<'g>(x: Var<'g>, mode: Mode) -> Var<'g> {
        let reciprocal = match mode {
            Mode::Train => (x + EPS).recip().label("1/(x + EPS)"),
            Mode::Eval => x.recip().label("1/x"),
        };
        x.graph().concat(&[x, reciprocal])
    }

    /// The factors' input on the tape: u, or |u| (|u G| gated) for the sign variants, with
    /// the sign indicator of the latter.
    fn product_input<'g>(
        &self,
        x: Var<'g>,
        p: &[Var<'g>],
        mode: Mode,
    ) -> (Var<'g>, Option<Var<'g>>) {
        let u = Self::concatenated(x, mode);
        let q = match self.variant {
            NmruVariant::Plain => return (u, None),
            NmruVariant::Sign => u,
            NmruVariant::GatedSign => u * p[1],
        };
        (q.abs(), Some(q.less(0.0)))
    }
}

impl Module for Nmru {
    fn name(&self) -> &'static str {
        match self.variant {
            NmruVariant::Plain => "nmru",
            NmruVariant::Sign => "sign-nmru",
            NmruVariant::GatedSign => "gated-sign-nmru",
        }
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn params(&self) -> Vec<ParamSpec> {
        let mut specs = vec![ParamSpec {
            name: "W",
            len: self.outputs * self.width(),
        }];
        if self.gated() {
            specs.push(ParamSpec {
                name: "G",
                len: self.width(),
            });
        }
        specs
    }
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        let n = self.outputs * self.width();
        for w in &mut params[..n] {
            *w = init::uniform(rng, 0.25, 0.75);
        }
        params[n..].fill(0.5);
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], mode: Mode) -> Var<'g> {
        let w = match self.oob {
            OobMode::Clip => p[0],
            OobMode::Regularized(_) => p[0].clamp(0.0, 1.0),
        };
        let (v, negative) = self.product_input(x, p, mode);
        let tiled = |v: Var<'g>| {
            if self.outputs > 1 {
                v.tile(self.outputs)
            } else {
                v
            }
        };
        let magnitude = tiled(v)
            .gated_nmu(w)
            .label("factor W u + 1 - W")
            .prod_features(self.width())
            .label("product of the factors");
        match negative {
            None => magnitude,
            Some(n) => {
                let sign = (n * PI32)
                    .matmul(w, WeightLayout::OutIn)
                    .cos()
                    .label("sign term cos(pi sum W [u < 0])");
                (magnitude * sign).label("y = magnitude x sign term")
            }
        }
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        let bias = Penalty::NmuBias(self.reg_shape);
        // The z-regulariser reads the concatenated input (absolute for the sign variants),
        // before any gate, so it depends on the data only.
        let u = Self::concatenated(x, Mode::Train);
        let v = if self.variant == NmruVariant::Plain {
            u
        } else {
            u.abs()
        };
        RegKeys {
            w: (!bias.is_off()).then(|| bias.record(p[0])),
            z: Some(ZPenalty::Nmu.record(p[0], v.mean_batch())),
            w_oob: self.oob_penalty().map(|k| k.record(p[0])),
            g_npu: self
                .gated()
                .then(|| Penalty::NmuBias(RegShape::Linear).record(p[1])),
            ..RegKeys::default()
        }
    }
    fn project(&self, params: &mut [f32]) {
        let n_w = self.outputs * self.width();
        let from = if self.oob == OobMode::Clip { 0 } else { n_w };
        for p in &mut params[from..] {
            *p = p.clamp(0.0, 1.0);
        }
    }
    /// On the weights the forward pass uses (clamped in the regularised mode).
    fn sparsity(&self, params: &[f32]) -> f32 {
        sparsity_error_within(&params[..self.outputs * self.width()], 0.0, 1.0)
    }
    fn jacobian<S: Scalar>(&self, params: &[S], x: &[S], conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n, width) = (self.inputs, self.outputs, self.width());
        let (zero, one, pi) = (S::zero(), S::one(), S::splat(PI32));
        let n_w = o_n * width;
        let (raw, gate) = params.split_at(n_w);
        let (w, passes): (Vec<S>, Vec<bool>) = raw
            .iter()
            .map(|&w| self.oob.read(w, zero, one, conventions))
            .unzip();
        // u and du_j/dx for its source input
        let mut u = x.to_vec();
        let mut du_dx = vec![one; i_n];
        for &x in x {
            let r = one / (x + S::splat(EPS));
            u.push(r);
            du_dx.push(-(r * r));
        }
        let q: Vec<S> = if self.gated() {
            u.iter().zip(gate).map(|(&u, &g)| u * g).collect()
        } else {
            u.clone()
        };
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![zero; o_n * params.len()],
            dy_dx: vec![zero; o_n * i_n],
        };
        for o in 0..o_n {
            let wo = &w[o * width..(o + 1) * width];
            let signed = self.variant == NmruVariant::Plain;
            let v: Vec<S> = q
                .iter()
                .map(|&q| if signed { q } else { q.abs() })
                .collect();
            let factors: Vec<S> = wo.iter().zip(&v).map(|(&w, &v)| w * v + one - w).collect();
            let others = products_of_others(&factors);
            let magnitude = product(&factors);
            let k: Vec<S> = q
                .iter()
                .map(|&q| if q.lt(zero).into() { pi } else { zero })
                .collect();
            let angle = k.iter().zip(wo).fold(zero, |acc, (&k, &w)| acc + k * w);
            let (cos, sin) = if signed {
                (one, zero)
            } else {
                (angle.cos(), angle.sin())
            };
            jac.y.push(magnitude * cos);
            let row = &mut jac.dy_dparams[o * params.len()..(o + 1) * params.len()];
            for j in 0..width {
                if passes[o * width + j] {
                    let through_magnitude = cos * others[j] * (v[j] - one);
                    // (the plain variant has no sign term: an infinite magnitude times its
                    // zero sine would make a NaN the forward pass never forms)
                    row[o * width + j] = if signed {
                        through_magnitude
                    } else {
                        through_magnitude - magnitude * sin * k[j]
                    };
                }
                let dv_dq = if signed { one } else { q[j].sgn() };
                let dy_dq = cos * others[j] * wo[j] * dv_dq;
                let dy_du = if self.gated() {
                    row[n_w + j] = dy_dq * u[j];
                    dy_dq * gate[j]
                } else {
                    dy_dq
                };
                let source = j % i_n;
                jac.dy_dx[o * i_n + source] = jac.dy_dx[o * i_n + source] + dy_du * du_dx[j];
            }
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        params: &[S],
        x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        let (i_n, width) = (self.inputs, self.width());
        let n_w = self.outputs * width;
        let (w, gate) = params.split_at(n_w);
        let bias = Penalty::NmuBias(self.reg_shape);
        let padded = |part: Vec<S>, offset: usize| {
            let mut grad = vec![S::zero(); params.len()];
            grad[offset..offset + part.len()].copy_from_slice(&part);
            grad
        };
        // the z-regulariser's input: u (plain) or |u| (sign variants), before any gate
        let batch = x.len() / i_n;
        let mut v = Vec::with_capacity(batch * width);
        for sample in x.chunks_exact(i_n) {
            let reciprocals: Vec<S> = sample
                .iter()
                .map(|&x| S::one() / (x + S::splat(EPS)))
                .collect();
            for &u in sample.iter().chain(&reciprocals) {
                v.push(match self.variant {
                    NmruVariant::Plain => u,
                    NmruVariant::Sign | NmruVariant::GatedSign => u.abs(),
                });
            }
        }
        let vbar = feature_means(&v, width);
        let gate_penalty = Penalty::NmuBias(RegShape::Linear);
        RegKeys {
            w: (!bias.is_off()).then(|| PenaltyGrad {
                value: bias.value(w),
                grad: padded(bias.grad(w, conventions), 0),
            }),
            z: Some(PenaltyGrad {
                value: ZPenalty::Nmu.value(w, &vbar),
                grad: padded(ZPenalty::Nmu.grad(w, &vbar), 0),
            }),
            w_oob: self.oob_penalty().map(|k| PenaltyGrad {
                value: k.value(w),
                grad: padded(k.grad(w, conventions), 0),
            }),
            g_npu: self.gated().then(|| PenaltyGrad {
                value: gate_penalty.value(gate),
                grad: padded(gate_penalty.grad(gate, conventions), n_w),
            }),
            ..RegKeys::default()
        }
    }
}

impl Nmru {
    /// The W-OOB penalty of the regularised out-of-bounds mode.
    fn oob_penalty(&self) -> Option<Penalty> {
        match self.oob {
            OobMode::Regularized(shape) => Some(Penalty::NmuOob(shape)).filter(|k| !k.is_off()),
            OobMode::Clip => None,
        }
    }
}
