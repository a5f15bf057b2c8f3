//! Each elementwise op's value and local derivative, side by side.
//!
//! These are the derivative conventions users audit. They follow PyTorch's autograd formulas
//! (and `modules/README.md`, section 1) including the singular points:
//!
//! | op | derivative used |
//! |---|---|
//! | abs | sgn(v), so 0 at v = 0 |
//! | sign, round, indicator, detach | none: upstream gradients (even NaN) stop here |
//! | relu | 1 where the output is > 0, else 0 (0 at v = 0); a select, so NaN stops |
//! | clamp(lo, hi) | 1 on lo < v < hi, 0 outside; at a bound as the graph's [`Conventions`] say (a select) |
//! | pow, base | 0 where the exponent is 0, else e * base^(e-1) |
//! | pow, exponent | 0 where base == 0 and e >= 0, else base^e * ln(base) |
//! | signed pow, base | 0 where the exponent is 0, else sgn(base) e \|base\|^(e-1) sgn(base) (so at base 0: 0 for e >= 1, NaN for e < 1, as the reference) |
//! | signed pow, exponent | 0 where base == 0 and e >= 0, else out * ln\|base\| |
//! | square | 2v |
//! | exp, tanh, sigmoid | from the forward result: out, 1 - out^2, out (1 - out) |
//! | ln | 1 / v |
//! | recip | -(out^2), minus the squared forward result |
//! | sqrt | 1 / (2 out) |
//! | sin, cos | cos v, -sin v |
//! | min, max | to the smaller (larger) argument; at an exact tie as the graph's [`Conventions`] say |
//! | 2 x 2 max-pool | all to the element PyTorch's scan ends on: the first maximum, or the last NaN |
//! | dropout | the same mask and scale as the forward pass |
//! | softmax | `y (g - sum(y g))` per group, PyTorch's form |
//!
//! [`Conventions`]: crate::Conventions
//!
//! Reductions, products over features and the image layers are in `eval/`; the product's
//! gradient is the product of the other factors, formed explicitly (never by division), so a
//! zero factor needs no special case.
//!
//! Each kernel's gradient receives the upstream gradient `g` and returns the contribution to
//! its input, so the evaluation order of PyTorch's formulas can be kept where it matters.

use crate::Real;
use crate::conventions::{ClampBounds, Ties};
use crate::tape::{BinaryOp, UnaryOp};

/// An elementwise function of one tensor.
pub trait UnaryKernel: Copy + Send + Sync + 'static {
    fn value<L: Real>(self, v: L) -> L;
    /// Gradient contribution to the input from upstream `g`, given input `v` and output `out`.
    fn grad<L: Real>(self, v: L, out: L, g: L) -> L;
}

/// An elementwise function of two tensors.
pub trait BinaryKernel: Copy + Send + Sync + 'static {
    fn value<L: Real>(self, a: L, b: L) -> L;
    fn grad_a<L: Real>(self, a: L, b: L, out: L, g: L) -> L;
    fn grad_b<L: Real>(self, a: L, b: L, out: L, g: L) -> L;
}

macro_rules! unary_kernel {
    ($name:ident, |$v:ident| $value:expr, |$gv:ident, $out:ident, $g:ident| $grad:expr) => {
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl UnaryKernel for $name {
            #[inline(always)]
            fn value<L: Real>(self, $v: L) -> L {
                $value
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn grad<L: Real>(self, $gv: L, $out: L, $g: L) -> L {
                $grad
            }
        }
    };
}

unary_kernel!(Neg, |v| -v, |v, out, g| -g);
unary_kernel!(Abs, |v| v.abs(), |v, out, g| g * v.sgn());
unary_kernel!(Sign, |v| v.sgn(), |v, out, g| L::zero());
unary_kernel!(Ln, |v| v.ln(), |v, out, g| g / v);
unary_kernel!(Exp, |v| v.exp(), |v, out, g| g * out);
unary_kernel!(Sin, |v| v.sin(), |v, out, g| g * v.cos());
unary_kernel!(Cos, |v| v.cos(), |v, out, g| g * -v.sin());
unary_kernel!(Tanh, |v| v.tanh(), |v, out, g| g * (L::one() - out * out));
unary_kernel!(Sigmoid, |v| v.sigmoid(), |v, out, g| g
    * (L::one() - out)
    * out);
unary_kernel!(
    Relu,
    |v| L::select(v.lt(L::zero()), L::zero(), v),
    |v, out, g| L::select(out.gt(L::zero()), g, L::zero())
);
unary_kernel!(Round, |v| v.round_even(), |v, out, g| L::zero());
unary_kernel!(Recip, |v| L::one() / v, |v, out, g| -g * (out * out));
unary_kernel!(Square, |v| v * v, |v, out, g| g * (L::splat(2.0) * v));
unary_kernel!(Sqrt, |v| v.sqrt(), |v, out, g| g / (L::splat(2.0) * out));
unary_kernel!(Detach, |v| v, |v, out, g| L::zero());

/// min(max(v, lo), hi), NaN propagating.
#[derive(Clone, Copy, Debug)]
pub struct Clamp {
    pub lo: f32,
    pub hi: f32,
    pub bounds: ClampBounds,
}

impl UnaryKernel for Clamp {
    #[inline(always)]
    fn value<L: Real>(self, v: L) -> L {
        v.maximum(L::splat(self.lo)).minimum(L::splat(self.hi))
    }
    #[inline(always)]
    fn grad<L: Real>(self, v: L, _out: L, g: L) -> L {
        let (lo, hi) = (L::splat(self.lo), L::splat(self.hi));
        let inside = match self.bounds {
            ClampBounds::Pass => v.ge(lo) & v.le(hi),
            ClampBounds::Block => v.gt(lo) & v.lt(hi),
        };
        L::select(inside, g, L::zero())
    }
}

/// The indicator `[v < threshold]`.
#[derive(Clone, Copy, Debug)]
pub struct Less {
    pub threshold: f32,
}

impl UnaryKernel for Less {
    #[inline(always)]
    fn value<L: Real>(self, v: L) -> L {
        L::select(v.lt(L::splat(self.threshold)), L::one(), L::zero())
    }
    #[inline(always)]
    fn grad<L: Real>(self, _v: L, _out: L, _g: L) -> L {
        L::zero()
    }
}

macro_rules! binary_kernel {
    ($name:ident, |$a:ident, $b:ident| $value:expr,
     |$ga:ident, $gb:ident, $out:ident, $g:ident| ($grad_a:expr, $grad_b:expr)) => {
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl BinaryKernel for $name {
            #[inline(always)]
            fn value<L: Real>(self, $a: L, $b: L) -> L {
                $value
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn grad_a<L: Real>(self, $ga: L, $gb: L, $out: L, $g: L) -> L {
                $grad_a
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn grad_b<L: Real>(self, $ga: L, $gb: L, $out: L, $g: L) -> L {
                $grad_b
            }
        }
    };
}

binary_kernel!(Add, |a, b| a + b, |a, b, out, g| (g, g));
binary_kernel!(Sub, |a, b| a - b, |a, b, out, g| (g, -g));
binary_kernel!(Mul, |a, b| a * b, |a, b, out, g| (g * b, g * a));
binary_kernel!(Div, |a, b| a / b, |a, b, out, g| (
    g / b,
    -g * ((a / b) / b)
));
binary_kernel!(Pow, |a, b| a.pow(b), |a, b, out, g| (
    L::select(b.equal(L::zero()), L::zero(), g * (b * a.pow(b - L::one()))),
    L::select(
        a.equal(L::zero()) & b.ge(L::zero()),
        L::zero(),
        g * (out * a.ln())
    )
));
// The base's derivative is PyTorch's for the composite sgn(a) * pow(|a|, b): the pow's
// derivative (0 where b == 0) between the two signs, so at a = 0 it is 0 * b 0^(b-1): 0 for
// b >= 1, NaN for b < 1 where the power is singular (the reference's value). Away from 0
// the signs are exact, so the product equals b |a|^(b-1) g bit for bit.
binary_kernel!(
    SignedPow,
    |a, b| a.sgn() * a.abs().pow(b),
    |a, b, out, g| (
        L::select(
            b.equal(L::zero()),
            L::zero(),
            (g * a.sgn()) * (b * a.abs().pow(b - L::one())) * a.sgn()
        ),
        L::select(
            a.equal(L::zero()) & b.ge(L::zero()),
            L::zero(),
            g * (out * a.abs().ln())
        )
    )
);
/// The share of the gradient each argument of min or max receives at a tie.
#[inline(always)]
fn tie_shares<L: Real>(ties: Ties, g: L) -> (L, L) {
    match ties {
        Ties::Split => {
            let half = g * L::splat(0.5);
            (half, half)
        }
        Ties::First => (g, L::zero()),
    }
}

/// Elementwise minimum: the gradient to the smaller argument, at a tie as `ties` says.
#[derive(Clone, Copy, Debug)]
pub struct Min {
    pub ties: Ties,
}

impl BinaryKernel for Min {
    #[inline(always)]
    fn value<L: Real>(self, a: L, b: L) -> L {
        a.minimum(b)
    }
    #[inline(always)]
    fn grad_a<L: Real>(self, a: L, b: L, _out: L, g: L) -> L {
        let tie = tie_shares(self.ties, g).0;
        L::select(a.equal(b), tie, L::select(a.gt(b), L::zero(), g))
    }
    #[inline(always)]
    fn grad_b<L: Real>(self, a: L, b: L, _out: L, g: L) -> L {
        let tie = tie_shares(self.ties, g).1;
        L::select(a.equal(b), tie, L::select(a.lt(b), L::zero(), g))
    }
}

/// Elementwise maximum: the gradient to the larger argument, at a tie as `ties` says.
#[derive(Clone, Copy, Debug)]
pub struct Max {
    pub ties: Ties,
}

impl BinaryKernel for Max {
    #[inline(always)]
    fn value<L: Real>(self, a: L, b: L) -> L {
        a.maximum(b)
    }
    #[inline(always)]
    fn grad_a<L: Real>(self, a: L, b: L, _out: L, g: L) -> L {
        let tie = tie_shares(self.ties, g).0;
        L::select(a.equal(b), tie, L::select(a.lt(b), L::zero(), g))
    }
    #[inline(always)]
    fn grad_b<L: Real>(self, a: L, b: L, _out: L, g: L) -> L {
        let tie = tie_shares(self.ties, g).1;
        L::select(a.equal(b), tie, L::select(a.gt(b), L::zero(), g))
    }
}

binary_kernel!(Gated, |a, b| a * b + (L::one() - b), |a, b, out, g| (
    g * b,
    g * (a - L::one())
));
binary_kernel!(GatedNmu, |a, b| b * a + L::one() - b, |a, b, out, g| (
    g * b,
    g * (a - L::one())
));

/// Runs `$body` with `$k` bound to the kernel of a [`UnaryOp`].
macro_rules! with_unary_kernel {
    ($op:expr, $k:ident => $body:expr) => {{
        use $crate::ops as k;
        use $crate::tape::UnaryOp as U;
        match $op {
            U::Neg => {
                let $k = k::Neg;
                $body
            }
            U::Abs => {
                let $k = k::Abs;
                $body
            }
            U::Sign => {
                let $k = k::Sign;
                $body
            }
            U::Ln => {
                let $k = k::Ln;
                $body
            }
            U::Exp => {
                let $k = k::Exp;
                $body
            }
            U::Sin => {
                let $k = k::Sin;
                $body
            }
            U::Cos => {
                let $k = k::Cos;
                $body
            }
            U::Tanh => {
                let $k = k::Tanh;
                $body
            }
            U::Sigmoid => {
                let $k = k::Sigmoid;
                $body
            }
            U::Relu => {
                let $k = k::Relu;
                $body
            }
            U::Round => {
                let $k = k::Round;
                $body
            }
            U::Recip => {
                let $k = k::Recip;
                $body
            }
            U::Square => {
                let $k = k::Square;
                $body
            }
            U::Sqrt => {
                let $k = k::Sqrt;
                $body
            }
            U::Detach => {
                let $k = k::Detach;
                $body
            }
            U::Clamp { lo, hi, bounds } => {
                let $k = k::Clamp { lo, hi, bounds };
                $body
            }
            U::Less { threshold } => {
                let $k = k::Less { threshold };
                $body
            }
        }
    }};
}

/// Runs `$body` with `$k` bound to the kernel of a [`BinaryOp`].
macro_rules! with_binary_kernel {
    ($op:expr, $k:ident => $body:expr) => {{
        use $crate::ops as k;
        use $crate::tape::BinaryOp as B;
        match $op {
            B::Add => {
                let $k = k::Add;
                $body
            }
            B::Sub => {
                let $k = k::Sub;
                $body
            }
            B::Mul => {
                let $k = k::Mul;
                $body
            }
            B::Div => {
                let $k = k::Div;
                $body
            }
            B::Pow => {
                let $k = k::Pow;
                $body
            }
            B::SignedPow => {
                let $k = k::SignedPow;
                $body
            }
            B::Min(ties) => {
                let $k = k::Min { ties };
                $body
            }
            B::Max(ties) => {
                let $k = k::Max { ties };
                $body
            }
            B::Gated => {
                let $k = k::Gated;
                $body
            }
            B::GatedNmu => {
                let $k = k::GatedNmu;
                $body
            }
        }
    }};
}

pub(crate) use {with_binary_kernel, with_unary_kernel};

/// Value of a unary op on one lane type (used by the reference evaluator and tests).
pub fn unary_value<L: Real>(op: UnaryOp, v: L) -> L {
    with_unary_kernel!(op, k => k.value(v))
}

/// Gradient contribution of a unary op.
pub fn unary_grad<L: Real>(op: UnaryOp, v: L, out: L, g: L) -> L {
    with_unary_kernel!(op, k => k.grad(v, out, g))
}

/// Value of a binary op on one lane type.
pub fn binary_value<L: Real>(op: BinaryOp, a: L, b: L) -> L {
    with_binary_kernel!(op, k => k.value(a, b))
}

/// Gradient contributions (to a, to b) of a binary op.
pub fn binary_grads<L: Real>(op: BinaryOp, a: L, b: L, out: L, g: L) -> (L, L) {
    with_binary_kernel!(op, k => (k.grad_a(a, b, out, g), k.grad_b(a, b, out, g)))
}
