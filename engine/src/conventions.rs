//! The derivative conventions that differ between PyTorch versions, chosen per graph.
//!
//! Every other convention of [`crate::ops`] is fixed. These two decide training results at
//! points the modules actually visit: a Real NPU gate clamped onto 0 or 1 after a step sits
//! exactly on the clamp's bound at the next forward pass, and a regulariser
//! min(|w|, |1 - |w||) is tied wherever |w| = 0.5.
//!
//! | convention | at | [`Paper`](Conventions::Paper) | [`TorchCurrent`](Conventions::TorchCurrent) | [`TorchLegacy`](Conventions::TorchLegacy) |
//! |---|---|---|---|---|
//! | clamp(v, lo, hi) | v = lo or v = hi | 1 (the bound is inside) | 0 (only lo < v < hi passes) | 1 |
//! | min(a, b), max(a, b) | a = b | half to each argument | half to each argument | all to the first argument |
//!
//! `Paper` is the contract of `modules/README.md`, section 1: the conventions the
//! study's published numbers are reproduced with. `TorchCurrent` is PyTorch 2.x as measured
//! with PyTorch 2.15: `torch.clamp(x, 0, 1)` with number bounds passes no gradient at either
//! bound, and the two-tensor `torch.min`, `torch.minimum` and `torch.max` split a tie. (The
//! reductions `stack(...).min(0)` give it all to the first; tensor bounds in `torch.clamp`
//! split it half/half.) `TorchLegacy` is PyTorch before 1.10 as `modules/README.md` describes it: ties
//! all to the first argument, bounds inside the clamp.

/// The gradient a clamp passes when its input sits exactly on a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClampBounds {
    /// Gradient 1 on the closed interval [lo, hi].
    Pass,
    /// Gradient 1 on the open interval (lo, hi) only.
    Block,
}

/// Where the gradient of min or max goes when its arguments are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ties {
    /// Half to each argument (the minimum-norm subgradient).
    Split,
    /// All to the first argument.
    First,
}

/// A choice of the two conventions that changed across PyTorch versions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Conventions {
    /// Clamp bounds pass the gradient, ties split it (the documented conventions).
    #[default]
    Paper,
    /// Clamp bounds block the gradient, ties split it (PyTorch 2.x).
    TorchCurrent,
    /// Clamp bounds pass the gradient, ties give it all to the first argument (PyTorch
    /// before 1.10).
    TorchLegacy,
}

impl Conventions {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [Conventions; 3] = [
        Conventions::Paper,
        Conventions::TorchCurrent,
        Conventions::TorchLegacy,
    ];

    /// The name users type: `paper`, `torch-current` or `torch-legacy`.
    pub fn name(self) -> &'static str {
        match self {
            Conventions::Paper => "paper",
            Conventions::TorchCurrent => "torch-current",
            Conventions::TorchLegacy => "torch-legacy",
        }
    }

    /// The conventions called `name`, if any.
    pub fn by_name(name: &str) -> Option<Conventions> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn clamp_bounds(self) -> ClampBounds {
        match self {
            Conventions::Paper | Conventions::TorchLegacy => ClampBounds::Pass,
            Conventions::TorchCurrent => ClampBounds::Block,
        }
    }

    pub fn ties(self) -> Ties {
        match self {
            Conventions::Paper | Conventions::TorchCurrent => Ties::Split,
            Conventions::TorchLegacy => Ties::First,
        }
    }
}

impl std::fmt::Display for Conventions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Conventions {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Conventions::by_name(s).ok_or_else(|| {
            format!("unknown conventions '{s}' (expected paper, torch-current or torch-legacy)")
        })
    }
}
