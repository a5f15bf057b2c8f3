//! Finite-difference derivatives of a tape's output, computed with the f64 reference evaluator.
//!
//! Besides the central difference, the one-sided derivatives are estimated, so a point that
//! sits on a kink (abs at 0, a clamp bound, a min tie) is recognised as such: there the
//! derivative convention must pick the left derivative, the right one, or their mean, and
//! [`Derivative::admits`] checks exactly that. All estimates are Richardson-extrapolated
//! (error O(h^4) for the central difference, O(h^2) one-sided) and carry an error estimate.

use crate::Tracked;
use crate::buffers::Values;
use crate::reference::Reference;
use crate::tape::{NodeId, Op, Tape};

/// Relative step of the difference quotients; the step is `STEP * max(1, |x|)`.
/// With f64 evaluation the roundoff of a quotient is about 1e-16 |f| / h = 1e-11 |f|.
pub const STEP: f64 = 1e-5;

/// Finite-difference estimates of one partial derivative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Derivative {
    /// Central difference (the mean of the one-sided derivatives at a kink).
    pub central: f64,
    /// Derivative from the left, (f(x) - f(x - h)) / h, extrapolated.
    pub left: f64,
    /// Derivative from the right.
    pub right: f64,
    /// Estimated error of the estimates (difference between two step sizes).
    pub error: f64,
}

impl Derivative {
    /// Whether the left and right derivatives differ by more than `tolerance`.
    pub fn is_kink(&self, tolerance: f64) -> bool {
        use std::cmp::Ordering::{Equal, Less};
        // NaN one-sided derivatives count as a kink (no derivative to compare).
        !matches!(
            (self.left - self.right).abs().partial_cmp(&tolerance),
            Some(Less | Equal)
        )
    }

    /// Whether `analytic` is a derivative this point allows, within `tolerance`: the central
    /// difference where the function is smooth, and at a kink the left derivative, the right
    /// derivative or their mean (the subgradients a convention can choose).
    pub fn admits(&self, analytic: f64, tolerance: f64) -> bool {
        let close = |v: f64| (analytic - v).abs() <= tolerance || (analytic.is_nan() && v.is_nan());
        if self.is_kink(tolerance) {
            close(self.left) || close(self.right) || close(self.central)
        } else {
            close(self.central)
        }
    }
}

/// The derivative of the tape's output with respect to element `index` of node `node`
/// (a parameter or an input), at the point held by `base` (which is not modified).
pub fn finite_difference(
    tape: &Tape,
    base: &Reference<f64>,
    node: NodeId,
    index: usize,
) -> Derivative {
    let x = base.value(node)[index];
    let mut probe = base.clone();
    let mut f = |v: f64| {
        probe.value_mut(node)[index] = v;
        probe.forward(tape);
        probe.output(tape)
    };
    let f0 = f(x);
    let estimate = |h: f64, f: &mut dyn FnMut(f64) -> f64| {
        let (fp, fm) = (f(x + h), f(x - h));
        let (fp2, fm2) = (f(x + h / 2.0), f(x - h / 2.0));
        let central = |p: f64, m: f64, h: f64| (p - m) / (2.0 * h);
        let (c1, c2) = (central(fp, fm, h), central(fp2, fm2, h / 2.0));
        let right = 2.0 * (fp2 - f0) / (h / 2.0) - (fp - f0) / h;
        let left = 2.0 * (f0 - fm2) / (h / 2.0) - (f0 - fm) / h;
        // truncation (the two step sizes disagree) plus the roundoff of the quotients
        let magnitude = [f0, fp, fm, fp2, fm2]
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let roundoff = 8.0 * f64::EPSILON * magnitude / (h / 2.0);
        let error = (c1 - c2).abs() + roundoff;
        Derivative {
            central: (4.0 * c2 - c1) / 3.0,
            left,
            right,
            error,
        }
    };
    // The usual step, a finer one (a kink or a steep region closer than h spoils the coarse
    // estimate) and one relative to |x| (a singularity such as ln's at 0 lies within h of a
    // small x): the estimate with the smallest error wins.
    let h = STEP * x.abs().max(1.0);
    let mut steps = vec![h, h / 100.0];
    if x != 0.0 && x.abs() < 1.0 {
        steps.push(STEP * x.abs());
    }
    steps
        .into_iter()
        .map(|h| estimate(h, &mut f))
        .min_by(|a, b| {
            let key = |d: &Derivative| {
                if d.error.is_nan() {
                    f64::INFINITY
                } else {
                    d.error
                }
            };
            key(a).total_cmp(&key(b))
        })
        .expect("at least one step")
}

/// Finite-difference derivatives of the output with respect to every element of `node`.
pub fn finite_differences(tape: &Tape, base: &Reference<f64>, node: NodeId) -> Vec<Derivative> {
    (0..base.value(node).len())
        .map(|index| finite_difference(tape, base, node, index))
        .collect()
}

/// f64 forward and backward of `base`'s point: the analytic reference gradient.
pub fn reference_gradient(tape: &Tape, base: &Reference<f64>, node: NodeId) -> Vec<f64> {
    let mut r = base.clone();
    r.forward(tape);
    r.backward(tape);
    r.grad(node).to_vec()
}

/// |a - b| relative to `scale` (0 when both are equal, including both NaN or both infinite).
pub fn relative_error(a: f64, b: f64, scale: f64) -> f64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        0.0
    } else {
        (a - b).abs() / scale.abs().max(f64::MIN_POSITIVE)
    }
}

/// How many times the first-order rounding bound of [`Tracked`] an f32 result may be off.
/// The bound is first order and assumes every op rounds once; 16 leaves room for the
/// reassociated sums of the SIMD path without hiding real errors, which are orders larger.
pub const TOLERANCE_FACTOR: f64 = 16.0;

/// Whether an f32 result matches its oracle within the oracle's rounding bound:
///
/// * a finite bound: a finite result within [`TOLERANCE_FACTOR`] times the bound of the
///   oracle's value; NaN only for a NaN oracle; an infinity only for the same infinity or an
///   oracle beyond the f32 range, which rounds to it;
/// * a bound that is not finite (the oracle's computation went through an infinity or a
///   NaN, so the f32 rounding of the result has no bound): **any** result, NaN and
///   infinities included. Nothing is judged there; such points are left to the checks that
///   can judge them (finite differences of the f64 evaluation, and the tests that pin the
///   documented singular points exactly).
pub fn agrees(got: f32, want: Tracked) -> bool {
    let got = f64::from(got);
    if want.value.is_nan() || got.is_nan() {
        return want.value.is_nan() && got.is_nan() || !want.bound.is_finite();
    }
    if (want.value as f32).is_infinite() || got.is_infinite() {
        return (want.value as f32) == got as f32 || !want.bound.is_finite();
    }
    if !want.bound.is_finite() {
        return true;
    }
    (got - want.value).abs() <= TOLERANCE_FACTOR * want.absolute_error()
}

/// Tolerance for comparing an f64 analytic derivative with finite differences.
pub fn fd_tolerance(d: &Derivative, analytic: f64, output: f64) -> f64 {
    let scale = d
        .central
        .abs()
        .max(d.left.abs())
        .max(d.right.abs())
        .max(analytic.abs());
    1e-6 * scale + 100.0 * d.error + 1e-9 * (1.0 + output.abs())
}

/// One forward value of the f32 tape against the reference.
#[derive(Clone, Debug)]
pub struct ValueCheck {
    pub node: NodeId,
    pub index: usize,
    pub tape: f32,
    pub reference: Tracked,
}

/// One gradient element (of a parameter or an input with gradients) three ways.
#[derive(Clone, Debug)]
pub struct GradCheck {
    pub node: NodeId,
    pub index: usize,
    /// The f32 tape's backward pass.
    pub tape: f32,
    /// The reference backward pass, with its f32 rounding bound.
    pub reference: Tracked,
    /// Finite differences of the f64 reference forward pass.
    pub fd: Derivative,
}

impl GradCheck {
    /// The f32 gradient agrees with the reference gradient.
    pub fn tape_agrees(&self) -> bool {
        agrees(self.tape, self.reference)
    }

    /// The reference gradient is a derivative finite differences allow.
    pub fn fd_agrees(&self, output: f64) -> bool {
        let analytic = self.reference.value;
        self.fd
            .admits(analytic, fd_tolerance(&self.fd, analytic, output))
            || !self.reference.bound.is_finite()
    }
}

/// Everything [`check_tape`] compared.
#[derive(Clone, Debug)]
pub struct TapeCheck {
    /// Every computed value of every node.
    pub values: Vec<ValueCheck>,
    /// Every gradient element of every parameter and input recorded with gradients.
    pub grads: Vec<GradCheck>,
    /// The output's reference value.
    pub output: f64,
}

impl TapeCheck {
    /// Values that disagree with the reference.
    pub fn value_failures(&self) -> Vec<&ValueCheck> {
        self.values
            .iter()
            .filter(|v| !agrees(v.tape, v.reference))
            .collect()
    }

    /// Gradients that disagree with the reference or with finite differences.
    pub fn grad_failures(&self) -> Vec<&GradCheck> {
        self.grads
            .iter()
            .filter(|g| !g.tape_agrees() || !g.fd_agrees(self.output))
            .collect()
    }
}

/// Evaluates `tape` at the point given by `params` and the inputs in `values` three ways:
/// the f32 tape, the [`Tracked`] reference (values and gradients with rounding bounds) and
/// finite differences of the f64 reference.
pub fn check_tape(tape: &Tape, params: &[f32], values: &Values) -> TapeCheck {
    assert!(
        values.program().is_for(tape),
        "values were made for another tape"
    );
    let mut fast = values.clone();
    crate::forward(params, &mut fast);
    let mut grads = crate::Grads::new(values.program());
    crate::backward(params, &fast, &mut grads);

    let exact = |v: f32| Tracked::exact(f64::from(v));
    let mut tracked = Reference::from_values(tape, params, values, exact);
    tracked.forward(tape);
    tracked.backward(tape);
    let mut plain = Reference::from_values(tape, params, values, f64::from);
    plain.forward(tape);

    let batch = values.batch();
    let element = |buffers: &dyn Fn(NodeId, usize, usize) -> f32, id: NodeId, index: usize| {
        let node = tape.node(id);
        if node.shape.batched {
            buffers(id, index % batch, index / batch)
        } else {
            buffers(id, 0, index)
        }
    };
    let mut check = TapeCheck {
        values: Vec::new(),
        grads: Vec::new(),
        output: plain.output(tape),
    };
    for (index, node) in tape.nodes().iter().enumerate() {
        let id = tape.id_at(index);
        if node.live && !matches!(node.op, Op::Input | Op::Param { .. } | Op::Const { .. }) {
            for (i, &reference) in tracked.value(id).iter().enumerate() {
                let got = element(&|id, b, f| fast.get(id, b, f), id, i);
                check.values.push(ValueCheck {
                    node: id,
                    index: i,
                    tape: got,
                    reference,
                });
            }
        }
        let leaf = matches!(node.op, Op::Param { .. } | Op::Input);
        if leaf && node.needs_grad {
            for (i, &reference) in tracked.grad(id).iter().enumerate() {
                let got = element(&|id, b, f| grads.get(id, b, f), id, i);
                let fd = finite_difference(tape, &plain, id, i);
                check.grads.push(GradCheck {
                    node: id,
                    index: i,
                    tape: got,
                    reference,
                    fd,
                });
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finite_bound_refuses_what_lies_outside_it() {
        // 1 with a bound of 4 u: an absolute error of 2.4e-7, so 16 times that is 3.8e-6
        let oracle = Tracked {
            value: 1.0,
            bound: 4.0,
        };
        assert!(agrees(1.0, oracle));
        assert!(agrees(1.000_003, oracle));
        for wrong in [1.000_01, 0.999_99, -1.0, 0.0, f32::NAN, f32::INFINITY] {
            assert!(!agrees(wrong, oracle), "{wrong} accepted");
        }
        // an exact oracle (bound 0) admits its value only, not the next float
        let half = Tracked::exact(0.5);
        assert!(agrees(0.5, half));
        assert!(!agrees(f32::from_bits(0.5f32.to_bits() + 1), half));
        // NaN for NaN, the same infinity, an oracle beyond the f32 range as its infinity
        assert!(agrees(f32::NAN, Tracked::exact(f64::NAN)));
        assert!(!agrees(0.0, Tracked::exact(f64::NAN)));
        assert!(agrees(f32::INFINITY, Tracked::exact(f64::INFINITY)));
        assert!(!agrees(f32::NEG_INFINITY, Tracked::exact(f64::INFINITY)));
        assert!(!agrees(f32::MAX, Tracked::exact(f64::INFINITY)));
        assert!(agrees(f32::INFINITY, Tracked::exact(1e39)));
        assert!(!agrees(f32::NEG_INFINITY, Tracked::exact(1e39)));
    }

    #[test]
    fn a_bound_that_is_not_finite_judges_nothing() {
        for bound in [f64::INFINITY, f64::NAN] {
            let oracle = Tracked { value: 1.0, bound };
            for any in [1.0, -5.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                assert!(agrees(any, oracle), "{any} refused at bound {bound}");
            }
        }
    }
}
