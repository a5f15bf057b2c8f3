//! The Neural Power Unit family (Heim, van Gerven and Daniels, 2020): the real-valued NPU,
//! the baseline of the division study, and the complex NPU of its appendix.
//!
//! Both read the inputs through a gate g: r_j = g_j (|x_j| + EPS) + (1 - g_j) and
//! k_j = g_j [x_j < 0] π, so a closed gate turns input j into the constant 1. The real NPU
//! computes y_o = exp(sum_j ln(r_j) W_jo) cos(sum_j k_j W_jo). W is stored `in x out`.

use engine::{Conventions, EPS, Graph, PI32, Var, WeightLayout};
use rand_core::Rng;

use crate::init;
use crate::module::{
    Jacobian, Mode, Module, ParamSpec, PenaltyGrad, RegKeys, sparsity_error, sparsity_error_within,
};
use crate::penalty::{Penalty, RegShape};
use crate::scalar::{Scalar, clamp_passes};

/// Which parameters the post-step projection clamps (W to [-1, 1], g to [0, 1]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuClip {
    None,
    W,
    G,
    WG,
    /// The complex NPU's "wig": W_re, W_im and g. (The Real NPU accepts it and clamps
    /// nothing, as the reference does.)
    WIG,
}

crate::named_enum!(NpuClip {
    None = "none",
    W = "w",
    G = "g",
    WG = "wg",
    WIG = "wig",
});

/// Initialisation of W (W_re for the complex NPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuInit {
    /// U[-b, b] with b = sqrt(6 / (I + O)).
    XavierUniform,
    /// U[-r, r] with r = min(0.5, sqrt(6 / (I + O))).
    XavierUniformConstrained,
}

crate::named_enum!(NpuInit {
    XavierUniform = "xavier-uniform",
    XavierUniformConstrained = "xavier-uniform-constrained",
});

/// The W-NPU regulariser type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuWReg {
    /// mean(|1 - |W||): only -1 and +1 are free.
    W,
    /// mean(min(|W|, |1 - |W||)): -1, 0 and +1 are free.
    Bias,
}

crate::named_enum!(NpuWReg { W = "W", Bias = "bias" });

/// The real-valued Neural Power Unit. Parameters: W (I x O), g (I).
#[derive(Clone, Debug, PartialEq)]
pub struct RealNpu {
    pub inputs: usize,
    pub outputs: usize,
    pub init: NpuInit,
    pub clip: NpuClip,
    pub w_reg: NpuWReg,
}

/// The complex-weight Neural Power Unit. Parameters: W_re, W_im (I x O), g (I).
#[derive(Clone, Debug, PartialEq)]
pub struct Npu {
    pub inputs: usize,
    pub outputs: usize,
    pub init: NpuInit,
    pub clip: NpuClip,
}

impl RealNpu {
    /// Xavier-uniform initialisation, no clipping, W-NPU type "W".
    pub fn new(inputs: usize, outputs: usize) -> Self {
        RealNpu {
            inputs,
            outputs,
            init: NpuInit::XavierUniform,
            clip: NpuClip::None,
            w_reg: NpuWReg::W,
        }
    }
}

impl Npu {
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Npu {
            inputs,
            outputs,
            init: NpuInit::XavierUniform,
            clip: NpuClip::None,
        }
    }
}

fn init_weights(init: NpuInit, inputs: usize, outputs: usize, rng: &mut dyn Rng, w: &mut [f32]) {
    let bound = match init {
        NpuInit::XavierUniform => init::xavier_bound(inputs, outputs),
        NpuInit::XavierUniformConstrained => init::constrained_bound(inputs, outputs),
    };
    init::symmetric(rng, w, bound);
}

/// The gated input terms on the tape: (ln r, k), both [batch x I].
fn gated_terms<'g>(x: Var<'g>, g: Var<'g>) -> (Var<'g>, Var<'g>) {
    let gate = g.clamp(0.0, 1.0).label("gate clamp(g, 0, 1)");
    let magnitude = x.abs() + EPS;
    let r = magnitude.gated(gate).label("r = g (|x| + EPS) + 1 - g");
    let k = (gate * (x.less(0.0) * PI32)).label("k = g pi [x < 0]");
    (r.ln().label("ln r"), k)
}

/// The gated input terms of one sample, with what their derivatives need.
struct Gated<S> {
    ln_r: Vec<S>,
    k: Vec<S>,
    /// (a - 1) / r: d ln r / d gate.
    dlnr_dgate: Vec<S>,
    /// [x < 0] π: dk / d gate.
    dk_dgate: Vec<S>,
    /// gate sgn(x) / r: d ln r / dx.
    dlnr_dx: Vec<S>,
    /// Whether the gate's clamp to [0, 1] passes the gradient (on the bounds as the
    /// conventions say).
    inside: Vec<bool>,
}

fn gated_sample<S: Scalar>(x: &[S], g: &[S], conventions: Conventions) -> Gated<S> {
    let (zero, one, pi) = (S::zero(), S::one(), S::splat(PI32));
    let mut t = Gated {
        ln_r: vec![],
        k: vec![],
        dlnr_dgate: vec![],
        dk_dgate: vec![],
        dlnr_dx: vec![],
        inside: vec![],
    };
    for (&x, &g) in x.iter().zip(g) {
        let gate = g.maximum(zero).minimum(one);
        let a = x.abs() + S::splat(EPS);
        let r = gate * a + (one - gate);
        let n = if x.lt(zero).into() { one } else { zero };
        t.ln_r.push(r.ln());
        t.k.push(gate * (n * pi));
        t.dlnr_dgate.push((a - one) / r);
        t.dk_dgate.push(n * pi);
        t.dlnr_dx.push(gate * x.sgn() / r);
        t.inside.push(clamp_passes(g, zero, one, conventions));
    }
    t
}

fn clamp_params(params: &mut [f32], lo: f32, hi: f32) {
    for p in params {
        *p = p.clamp(lo, hi);
    }
}

impl Module for RealNpu {
    fn name(&self) -> &'static str {
        "realnpu"
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "W",
                len: self.inputs * self.outputs,
            },
            ParamSpec {
                name: "g",
                len: self.inputs,
            },
        ]
    }
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        let (w, g) = params.split_at_mut(self.inputs * self.outputs);
        init_weights(self.init, self.inputs, self.outputs, rng, w);
        g.fill(0.5);
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], _mode: Mode) -> Var<'g> {
        let (ln_r, k) = gated_terms(x, p[1]);
        let magnitude = ln_r
            .matmul(p[0], WeightLayout::InOut)
            .label("sum W ln r")
            .exp()
            .label("exp(sum W ln r)");
        let angle = k
            .matmul(p[0], WeightLayout::InOut)
            .cos()
            .label("cos(sum W k)");
        (magnitude * angle).label("y = exp(sum W ln r) cos(sum W k)")
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, _x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        RegKeys {
            w_npu: Some(self.w_penalty().record(p[0])),
            g_npu: Some(Penalty::NmuBias(RegShape::Linear).record(p[1])),
            ..RegKeys::default()
        }
    }
    fn project(&self, params: &mut [f32]) {
        let (w, g) = params.split_at_mut(self.inputs * self.outputs);
        if matches!(self.clip, NpuClip::W | NpuClip::WG) {
            clamp_params(w, -1.0, 1.0);
        }
        if matches!(self.clip, NpuClip::G | NpuClip::WG) {
            clamp_params(g, 0.0, 1.0);
        }
    }
    fn sparsity(&self, params: &[f32]) -> f32 {
        sparsity_error(&params[..self.inputs * self.outputs])
    }
    fn gate_sparsity(&self, params: &[f32]) -> Option<f32> {
        Some(sparsity_error_within(
            &params[self.inputs * self.outputs..],
            0.0,
            1.0,
        ))
    }
    fn jacobian<S: Scalar>(&self, params: &[S], x: &[S], conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n) = (self.inputs, self.outputs);
        let (w, g) = params.split_at(i_n * o_n);
        let t = gated_sample(x, g, conventions);
        let p_len = params.len();
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![S::zero(); o_n * p_len],
            dy_dx: vec![S::zero(); o_n * i_n],
        };
        for o in 0..o_n {
            let (mut l, mut kk) = (S::zero(), S::zero());
            for j in 0..i_n {
                l = l + t.ln_r[j] * w[j * o_n + o];
                kk = kk + t.k[j] * w[j * o_n + o];
            }
            let e = l.exp();
            let (z, s) = (e * kk.cos(), kk.sin());
            jac.y.push(z);
            let row = &mut jac.dy_dparams[o * p_len..(o + 1) * p_len];
            for j in 0..i_n {
                let wjo = w[j * o_n + o];
                row[j * o_n + o] = z * t.ln_r[j] - e * s * t.k[j];
                if t.inside[j] {
                    row[i_n * o_n + j] = wjo * (z * t.dlnr_dgate[j] - e * s * t.dk_dgate[j]);
                }
                jac.dy_dx[o * i_n + j] = z * wjo * t.dlnr_dx[j];
            }
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        params: &[S],
        _x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        let split = self.inputs * self.outputs;
        let (w, g) = params.split_at(split);
        let on = |grad_part: Vec<S>, offset: usize| {
            let mut grad = vec![S::zero(); params.len()];
            grad[offset..offset + grad_part.len()].copy_from_slice(&grad_part);
            grad
        };
        let wp = self.w_penalty();
        let gp = Penalty::NmuBias(RegShape::Linear);
        RegKeys {
            w_npu: Some(PenaltyGrad {
                value: wp.value(w),
                grad: on(wp.grad(w, conventions), 0),
            }),
            g_npu: Some(PenaltyGrad {
                value: gp.value(g),
                grad: on(gp.grad(g, conventions), split),
            }),
            ..RegKeys::default()
        }
    }
}

impl RealNpu {
    fn w_penalty(&self) -> Penalty {
        match self.w_reg {
            NpuWReg::W => Penalty::NpuW,
            NpuWReg::Bias => Penalty::NauBias(RegShape::Linear),
        }
    }
}

impl Module for Npu {
    fn name(&self) -> &'static str {
        "npu"
    }
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn params(&self) -> Vec<ParamSpec> {
        let n = self.inputs * self.outputs;
        vec![
            ParamSpec {
                name: "W_re",
                len: n,
            },
            ParamSpec {
                name: "W_im",
                len: n,
            },
            ParamSpec {
                name: "g",
                len: self.inputs,
            },
        ]
    }
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        let n = self.inputs * self.outputs;
        init_weights(self.init, self.inputs, self.outputs, rng, &mut params[..n]);
        params[n..2 * n].fill(0.0);
        params[2 * n..].fill(0.5);
    }
    fn forward<'g>(&self, x: Var<'g>, p: &[Var<'g>], _mode: Mode) -> Var<'g> {
        let (ln_r, k) = gated_terms(x, p[2]);
        let (re, im) = (p[0], p[1]);
        let real = ln_r.matmul(re, WeightLayout::InOut) - k.matmul(im, WeightLayout::InOut);
        let imaginary = k.matmul(re, WeightLayout::InOut) + ln_r.matmul(im, WeightLayout::InOut);
        real.exp() * imaginary.cos()
    }
    fn regularisers<'g>(&self, _graph: &'g Graph, _x: Var<'g>, p: &[Var<'g>]) -> RegKeys<Var<'g>> {
        let mut w = Penalty::NpuW.record(p[0]);
        if self.clip == NpuClip::WIG {
            w = w + p[1].abs().sum_all();
        }
        RegKeys {
            w_npu: Some(w),
            g_npu: Some(Penalty::NmuBias(RegShape::Linear).record(p[2])),
            ..RegKeys::default()
        }
    }
    fn project(&self, params: &mut [f32]) {
        let n = self.inputs * self.outputs;
        let (weights, g) = params.split_at_mut(2 * n);
        match self.clip {
            NpuClip::None => {}
            NpuClip::W => clamp_params(&mut weights[..n], -1.0, 1.0),
            NpuClip::G => clamp_params(g, 0.0, 1.0),
            NpuClip::WG => {
                clamp_params(&mut weights[..n], -1.0, 1.0);
                clamp_params(g, 0.0, 1.0);
            }
            NpuClip::WIG => {
                clamp_params(weights, -1.0, 1.0);
                clamp_params(g, 0.0, 1.0);
            }
        }
    }
    fn sparsity(&self, params: &[f32]) -> f32 {
        let n = self.inputs * self.outputs;
        sparsity_error(&params[..n]) + sparsity_error(&params[n..2 * n])
    }
    fn gate_sparsity(&self, params: &[f32]) -> Option<f32> {
        let n = self.inputs * self.outputs;
        Some(sparsity_error_within(&params[2 * n..], 0.0, 1.0))
    }
    fn jacobian<S: Scalar>(&self, params: &[S], x: &[S], conventions: Conventions) -> Jacobian<S> {
        let (i_n, o_n) = (self.inputs, self.outputs);
        let n = i_n * o_n;
        let (re, im, g) = (&params[..n], &params[n..2 * n], &params[2 * n..]);
        let t = gated_sample(x, g, conventions);
        let p_len = params.len();
        let mut jac = Jacobian {
            y: vec![],
            dy_dparams: vec![S::zero(); o_n * p_len],
            dy_dx: vec![S::zero(); o_n * i_n],
        };
        for o in 0..o_n {
            let (mut a, mut th) = (S::zero(), S::zero());
            for j in 0..i_n {
                let (wr, wi) = (re[j * o_n + o], im[j * o_n + o]);
                a = a + (t.ln_r[j] * wr - t.k[j] * wi);
                th = th + (t.k[j] * wr + t.ln_r[j] * wi);
            }
            let e = a.exp();
            let (z, s) = (e * th.cos(), th.sin());
            jac.y.push(z);
            let es = e * s;
            let row = &mut jac.dy_dparams[o * p_len..(o + 1) * p_len];
            for j in 0..i_n {
                let at = j * o_n + o;
                let (wr, wi) = (re[at], im[at]);
                row[at] = z * t.ln_r[j] - es * t.k[j];
                row[n + at] = -z * t.k[j] - es * t.ln_r[j];
                if t.inside[j] {
                    let (dl, dk) = (t.dlnr_dgate[j], t.dk_dgate[j]);
                    row[2 * n + j] = z * (wr * dl - wi * dk) - es * (wr * dk + wi * dl);
                }
                jac.dy_dx[o * i_n + j] = (z * wr - es * wi) * t.dlnr_dx[j];
            }
        }
        jac
    }
    fn penalty_grads<S: Scalar>(
        &self,
        params: &[S],
        _x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        let n = self.inputs * self.outputs;
        let (re, im, g) = (&params[..n], &params[n..2 * n], &params[2 * n..]);
        let mut w_grad = vec![S::zero(); params.len()];
        w_grad[..n].copy_from_slice(&Penalty::NpuW.grad(re, conventions));
        let mut w_value = Penalty::NpuW.value(re);
        if self.clip == NpuClip::WIG {
            w_value = w_value + im.iter().fold(S::zero(), |acc, &v| acc + v.abs());
            for (d, &v) in w_grad[n..2 * n].iter_mut().zip(im) {
                *d = v.sgn();
            }
        }
        let gate = Penalty::NmuBias(RegShape::Linear);
        let mut g_grad = vec![S::zero(); params.len()];
        g_grad[2 * n..].copy_from_slice(&gate.grad(g, conventions));
        RegKeys {
            w_npu: Some(PenaltyGrad {
                value: w_value,
                grad: w_grad,
            }),
            g_npu: Some(PenaltyGrad {
                value: gate.value(g),
                grad: g_grad,
            }),
            ..RegKeys::default()
        }
    }
}
