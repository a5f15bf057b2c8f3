//! What every unit provides, and [`Unit`], the run-time choice among them.

use engine::{Conventions, Graph, Var};
use rand_core::Rng;

use crate::scalar::Scalar;
use crate::units::{Nac, Nalu, Nau, Nmru, Nmu, Npu, Nru, RealNpu};

/// Train-mode and eval-mode forward passes differ for some units (`modules/README.md` quirk Q2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Train,
    Eval,
}

/// One parameter tensor: its name (as in `modules/README.md`) and element count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub len: usize,
}

/// The regulariser keys of the documented dictionary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegKey {
    W,
    G,
    Z,
    WOob,
    WNpu,
    GNpu,
}

impl RegKey {
    pub const ALL: [RegKey; 6] = [
        RegKey::W,
        RegKey::G,
        RegKey::Z,
        RegKey::WOob,
        RegKey::WNpu,
        RegKey::GNpu,
    ];

    /// The key as the reference names it.
    pub fn name(self) -> &'static str {
        match self {
            RegKey::W => "W",
            RegKey::G => "g",
            RegKey::Z => "z",
            RegKey::WOob => "W-OOB",
            RegKey::WNpu => "W-NPU",
            RegKey::GNpu => "g-NPU",
        }
    }
}

/// One optional entry per regulariser key.
#[derive(Clone, Debug, PartialEq)]
pub struct RegKeys<T> {
    pub w: Option<T>,
    pub g: Option<T>,
    pub z: Option<T>,
    pub w_oob: Option<T>,
    pub w_npu: Option<T>,
    pub g_npu: Option<T>,
}

impl<T> Default for RegKeys<T> {
    fn default() -> Self {
        RegKeys {
            w: None,
            g: None,
            z: None,
            w_oob: None,
            w_npu: None,
            g_npu: None,
        }
    }
}

impl<T> RegKeys<T> {
    pub fn get(&self, key: RegKey) -> Option<&T> {
        match key {
            RegKey::W => self.w.as_ref(),
            RegKey::G => self.g.as_ref(),
            RegKey::Z => self.z.as_ref(),
            RegKey::WOob => self.w_oob.as_ref(),
            RegKey::WNpu => self.w_npu.as_ref(),
            RegKey::GNpu => self.g_npu.as_ref(),
        }
    }

    pub fn set(&mut self, key: RegKey, value: Option<T>) {
        match key {
            RegKey::W => self.w = value,
            RegKey::G => self.g = value,
            RegKey::Z => self.z = value,
            RegKey::WOob => self.w_oob = value,
            RegKey::WNpu => self.w_npu = value,
            RegKey::GNpu => self.g_npu = value,
        }
    }

    /// The present entries with their keys, in the order of [`RegKey::ALL`].
    pub fn present(&self) -> impl Iterator<Item = (RegKey, &T)> {
        RegKey::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|v| (k, v)))
    }

    pub fn map<U>(self, mut f: impl FnMut(RegKey, T) -> U) -> RegKeys<U> {
        RegKeys {
            w: self.w.map(|v| f(RegKey::W, v)),
            g: self.g.map(|v| f(RegKey::G, v)),
            z: self.z.map(|v| f(RegKey::Z, v)),
            w_oob: self.w_oob.map(|v| f(RegKey::WOob, v)),
            w_npu: self.w_npu.map(|v| f(RegKey::WNpu, v)),
            g_npu: self.g_npu.map(|v| f(RegKey::GNpu, v)),
        }
    }
}

/// One sample's outputs and their derivatives (train mode): `dy_dparams[o * P + p]` and
/// `dy_dx[o * I + i]`.
#[derive(Clone, Debug)]
pub struct Jacobian<S> {
    pub y: Vec<S>,
    pub dy_dparams: Vec<S>,
    pub dy_dx: Vec<S>,
}

/// A regulariser's value and its gradient over the flat parameter vector.
#[derive(Clone, Debug)]
pub struct PenaltyGrad<S> {
    pub value: S,
    pub grad: Vec<S>,
}

/// Everything a neural arithmetic unit provides.
///
/// Parameters form one flat vector, tensor after tensor in the order of [`Module::params`]
/// (the order of the engine's parameter vector, [`engine::Tape::params`]).
pub trait Module {
    /// Short name, as accepted by [`Unit::by_name`].
    fn name(&self) -> &'static str;
    fn inputs(&self) -> usize;
    fn outputs(&self) -> usize;
    /// Parameter tensors in order.
    fn params(&self) -> Vec<ParamSpec>;
    /// Draws the initial parameters into `params`.
    fn init(&self, rng: &mut dyn Rng, params: &mut [f32]);
    /// Records the unit's output ([batch x outputs]) for input `x` ([batch x inputs]).
    fn forward<'g>(&self, x: Var<'g>, params: &[Var<'g>], mode: Mode) -> Var<'g>;
    /// Records the unit's regularisers (train mode). Absent keys count as 0.
    fn regularisers<'g>(
        &self,
        graph: &'g Graph,
        x: Var<'g>,
        params: &[Var<'g>],
    ) -> RegKeys<Var<'g>>;
    /// The post-step projection (clamps), in place.
    fn project(&self, params: &mut [f32]);
    /// The sparsity error of the main weight tensor: max over w of min(|w|, |1 - |w||).
    fn sparsity(&self, params: &[f32]) -> f32;
    /// The sparsity error of the gate the forward pass reads (clamped to [0, 1]), for units
    /// with an input gate.
    fn gate_sparsity(&self, _params: &[f32]) -> Option<f32> {
        None
    }
    /// Closed-form outputs and derivatives for one sample `x` (train mode), with the
    /// derivative `conventions` at clamp bounds and min/max ties.
    fn jacobian<S: Scalar>(&self, params: &[S], x: &[S], conventions: Conventions) -> Jacobian<S>;
    /// Closed-form regulariser values and gradients for a batch `x` (sample-major).
    fn penalty_grads<S: Scalar>(
        &self,
        params: &[S],
        x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>>;
}

/// The sparsity error of a weight tensor: max over w of min(|w|, |1 - |w||).
pub fn sparsity_error(w: &[f32]) -> f32 {
    sparsity_error_within(w, f32::NEG_INFINITY, f32::INFINITY)
}

/// The sparsity error of the weights a forward pass uses when it clamps `w` to [lo, hi]
/// (as the reference measures it for units that clamp inside the forward pass).
pub fn sparsity_error_within(w: &[f32], lo: f32, hi: f32) -> f32 {
    w.iter().fold(0.0f32, |acc, &w| {
        let w = w.clamp(lo, hi);
        acc.max(w.abs().min((1.0 - w.abs()).abs()))
    })
}

/// A unit chosen at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Unit {
    RealNpu(RealNpu),
    Npu(Npu),
    Nru(Nru),
    Nmru(Nmru),
    Nau(Nau),
    Nmu(Nmu),
    Nac(Nac),
    Nalu(Nalu),
}

macro_rules! dispatch {
    ($self:expr, $u:ident => $body:expr) => {
        match $self {
            Unit::RealNpu($u) => $body,
            Unit::Npu($u) => $body,
            Unit::Nru($u) => $body,
            Unit::Nmru($u) => $body,
            Unit::Nau($u) => $body,
            Unit::Nmu($u) => $body,
            Unit::Nac($u) => $body,
            Unit::Nalu($u) => $body,
        }
    };
}

impl Unit {
    /// Every unit name [`Unit::by_name`] accepts.
    pub const NAMES: [&'static str; 12] = [
        "realnpu",
        "npu",
        "nru",
        "nru-sepsign",
        "nmru",
        "sign-nmru",
        "gated-sign-nmru",
        "nau",
        "nmu",
        "nac",
        "mnac",
        "nalu",
    ];

    /// The unit `name` (see [`Unit::NAMES`]) with its default options.
    pub fn by_name(name: &str, inputs: usize, outputs: usize) -> Option<Unit> {
        use crate::units::{NacKind, NmruVariant, NruMode};
        Some(match name {
            "realnpu" => Unit::RealNpu(RealNpu::new(inputs, outputs)),
            "npu" => Unit::Npu(Npu::new(inputs, outputs)),
            "nru" => Unit::Nru(Nru::new(inputs, outputs, NruMode::Div)),
            "nru-sepsign" => Unit::Nru(Nru::new(inputs, outputs, NruMode::DivSepSign)),
            "nmru" => Unit::Nmru(Nmru::new(inputs, outputs, NmruVariant::Plain)),
            "sign-nmru" => Unit::Nmru(Nmru::new(inputs, outputs, NmruVariant::Sign)),
            "gated-sign-nmru" => Unit::Nmru(Nmru::new(inputs, outputs, NmruVariant::GatedSign)),
            "nau" => Unit::Nau(Nau::new(inputs, outputs)),
            "nmu" => Unit::Nmu(Nmu::new(inputs, outputs)),
            "nac" => Unit::Nac(Nac::new(inputs, outputs, NacKind::Additive)),
            "mnac" => Unit::Nac(Nac::new(inputs, outputs, NacKind::Multiplicative)),
            "nalu" => Unit::Nalu(Nalu::new(inputs, outputs)),
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        dispatch!(self, u => u.name())
    }
    pub fn inputs(&self) -> usize {
        dispatch!(self, u => u.inputs())
    }
    pub fn outputs(&self) -> usize {
        dispatch!(self, u => u.outputs())
    }
    pub fn params(&self) -> Vec<ParamSpec> {
        dispatch!(self, u => u.params())
    }
    /// Total number of parameter values.
    pub fn param_len(&self) -> usize {
        self.params().iter().map(|p| p.len).sum()
    }
    /// Ranges of the parameter tensors in the flat vector.
    pub fn param_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut start = 0;
        self.params()
            .iter()
            .map(|p| {
                start += p.len;
                start - p.len..start
            })
            .collect()
    }
    pub fn init(&self, rng: &mut dyn Rng, params: &mut [f32]) {
        assert_eq!(
            params.len(),
            self.param_len(),
            "{}: parameter vector length",
            self.name()
        );
        dispatch!(self, u => u.init(rng, params))
    }
    /// Declares the parameters on `graph` in order.
    pub fn declare_params<'g>(&self, graph: &'g Graph) -> Vec<Var<'g>> {
        self.params()
            .iter()
            .map(|p| graph.param(p.name, p.len))
            .collect()
    }
    pub fn forward<'g>(&self, x: Var<'g>, params: &[Var<'g>], mode: Mode) -> Var<'g> {
        dispatch!(self, u => u.forward(x, params, mode))
    }
    pub fn regularisers<'g>(
        &self,
        graph: &'g Graph,
        x: Var<'g>,
        params: &[Var<'g>],
    ) -> RegKeys<Var<'g>> {
        dispatch!(self, u => u.regularisers(graph, x, params))
    }
    pub fn project(&self, params: &mut [f32]) {
        dispatch!(self, u => u.project(params))
    }
    pub fn sparsity(&self, params: &[f32]) -> f32 {
        dispatch!(self, u => u.sparsity(params))
    }
    pub fn gate_sparsity(&self, params: &[f32]) -> Option<f32> {
        dispatch!(self, u => u.gate_sparsity(params))
    }
    pub fn jacobian<S: Scalar>(
        &self,
        params: &[S],
        x: &[S],
        conventions: Conventions,
    ) -> Jacobian<S> {
        dispatch!(self, u => u.jacobian(params, x, conventions))
    }
    pub fn penalty_grads<S: Scalar>(
        &self,
        params: &[S],
        x: &[S],
        conventions: Conventions,
    ) -> RegKeys<PenaltyGrad<S>> {
        dispatch!(self, u => u.penalty_grads(params, x, conventions))
    }
}
