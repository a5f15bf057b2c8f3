//! Gradient audit: every gradient of the training objective, with respect to the parameters
//! and to the inputs, four ways.
//!
//! 1. the f32 tape (what training uses),
//! 2. the closed-form formulas of `modules/README.md` evaluated in f32,
//! 3. the same formulas in f64, carried as [`Tracked`] values so each comes with a bound on
//!    the rounding error an f32 evaluation can make (the tolerance for 1 and 2),
//! 4. finite differences of the f64 reference evaluation of the tape, with one-sided
//!    estimates so a point on a kink accepts only the derivatives the convention may pick.
//!
//! The points are random batches from the nine interpolation ranges of the study and the
//! singular points users audit: weights exactly -1, 0, +1, |w| = 0.5 ties, parameters on
//! clamp bounds, saturated tanh and sigmoid, x = 0 for the NPUs and the NRU, and x = -EPS
//! for the NMRU family.
//!
//! Input gradients are those of the data term: the regularisers that read the inputs (the
//! z-regularisers) read their batch means through a stop-gradient, as the reference does, so
//! finite differences are taken of the data term alone.
//!
//! At a non-finite gradient the f32 results must be non-finite the same way (NaN for NaN,
//! the same infinity): the rounding bound cannot judge them. Where the closed form and the
//! tape differ from the reference, the choice is documented in `ops` and the units:
//! the NMRU's product gradient is the product of the other factors, so at x = -EPS, where
//! 1/(x + EPS) is infinite, the input gradient is a signed infinity where the reference,
//! dividing the output by the infinite factor, gives NaN.

use engine::gradcheck::{Derivative, agrees, fd_tolerance, finite_difference};
use engine::reference::Reference;
use engine::{Grads, Program, Tracked, Values, backward, forward};
use rand_core::Rng;

use crate::init::uniform;
use crate::module::{RegKey, RegKeys, Unit};
use crate::objective::{Coefficients, ObjectiveSpec, Tapes, closed_form_gradient};

/// The nine interpolation ranges of the study (`tasks/docs/single-module-study.md` 1.4); the
/// fourth, [-2, 2], is the one containing 0.
pub const INTERPOLATION_RANGES: [(f32, f32); 9] = [
    (-20.0, -10.0),
    (-2.0, -1.0),
    (-1.2, -1.1),
    (-0.2, -0.1),
    (-2.0, 2.0),
    (0.1, 0.2),
    (1.0, 2.0),
    (1.1, 1.2),
    (10.0, 20.0),
];

/// One point of the audit: parameters and a batch (sample-major) with targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub label: String,
    pub params: Vec<f32>,
    pub x: Vec<f32>,
    pub t: Vec<f32>,
    /// The point sits on a singularity: some values or gradients are NaN or infinite by
    /// design, and the audit checks that every evaluation agrees on which.
    pub singular: bool,
}

/// One term's finite-difference check of one gradient element.
#[derive(Clone, Debug)]
pub struct TermCheck {
    /// "data", a regulariser key or "Lp".
    pub term: &'static str,
    /// The term's closed-form derivative (f64).
    pub closed: f64,
    pub fd: Derivative,
    pub tolerance: f64,
    pub ok: bool,
}

impl TermCheck {
    /// The finite-difference estimate the convention corresponds to: the central difference
    /// where the term is smooth, at a kink the closest of central, left and right.
    pub fn matching_fd(&self) -> f64 {
        if self.fd.is_kink(self.tolerance) {
            [self.fd.central, self.fd.left, self.fd.right]
                .into_iter()
                .min_by(|a, b| (a - self.closed).abs().total_cmp(&(b - self.closed).abs()))
                .unwrap_or(f64::NAN)
        } else {
            self.fd.central
        }
    }
}

/// One gradient element compared four ways.
#[derive(Clone, Debug)]
pub struct Entry {
    /// A parameter element (`W[1]`) or an input (`x[3,1]`: sample 3, input 1).
    pub param: String,
    pub tape: f32,
    pub closed_f32: f32,
    pub closed_f64: f64,
    /// Allowed |f32 - closed f64|: the tolerance factor times the f32 rounding bound of the
    /// closed form.
    pub tolerance: f64,
    /// The finite-difference derivative, summed over the terms (each at its convention).
    pub fd: f64,
    /// Term by term, so that kinks of different terms at one point are judged separately.
    pub terms: Vec<TermCheck>,
    pub tape_ok: bool,
    pub closed_f32_ok: bool,
}

impl Entry {
    pub fn fd_ok(&self) -> bool {
        self.terms.iter().all(|t| t.ok)
    }

    pub fn passed(&self) -> bool {
        self.tape_ok && self.closed_f32_ok && self.fd_ok()
    }

    /// Whether some term sits on a kink at this point.
    pub fn on_kink(&self) -> bool {
        self.terms.iter().any(|t| t.fd.is_kink(t.tolerance))
    }

    /// |tape - closed f64| relative to |closed f64|.
    pub fn tape_relative_error(&self) -> f64 {
        relative(f64::from(self.tape), self.closed_f64)
    }

    /// |closed f32 - closed f64| relative to |closed f64|.
    pub fn closed_f32_relative_error(&self) -> f64 {
        relative(f64::from(self.closed_f32), self.closed_f64)
    }

    /// |finite difference - closed f64| relative to |closed f64|.
    pub fn fd_relative_error(&self) -> f64 {
        relative(self.fd, self.closed_f64)
    }
}

fn relative(a: f64, reference: f64) -> f64 {
    if a == reference || (a.is_nan() && reference.is_nan()) {
        0.0
    } else {
        (a - reference).abs() / reference.abs().max(f64::MIN_POSITIVE)
    }
}

/// The audit of one point.
#[derive(Clone, Debug)]
pub struct PointAudit {
    pub label: String,
    /// The point sits on a singularity (see [`Point::singular`]).
    pub singular: bool,
    pub loss_tape: f32,
    pub loss_closed: Tracked,
    pub loss_ok: bool,
    pub entries: Vec<Entry>,
}

impl PointAudit {
    pub fn passed(&self) -> bool {
        self.loss_ok && self.entries.iter().all(Entry::passed)
    }
}

/// Coefficients for audits: every regulariser weighted 0.5 and the Lp term 0.25, so the
/// regularisers' gradients are of the same order as the data term's.
pub fn audit_coefficients() -> Coefficients {
    let mut keys = RegKeys::default();
    for key in RegKey::ALL {
        keys.set(key, Some(0.5));
    }
    Coefficients {
        keys,
        lp: 0.25,
        pcc_weight: 0.0,
    }
}

/// Audits `unit`'s objective at `point`.
pub fn audit_point(
    unit: &Unit,
    spec: &ObjectiveSpec,
    coefficients: &Coefficients,
    point: &Point,
) -> PointAudit {
    let tapes = Tapes::with_input_gradients(unit, spec);
    let batch = point.t.len() / unit.outputs();
    let program = Program::new(&tapes.train, batch);
    let values_with = |coefficients: &Coefficients| {
        let mut values = Values::new(&program);
        tapes.set_batch(&mut values, &point.x, &point.t);
        tapes.set_coefficients(&mut values, coefficients);
        values
    };
    let mut values = values_with(coefficients);
    forward(&point.params, &mut values);
    let mut grads = Grads::new(&program);
    backward(&point.params, &values, &mut grads);

    let lift = |v: &[f32]| {
        v.iter()
            .map(|&v| Tracked::exact(f64::from(v)))
            .collect::<Vec<_>>()
    };
    let tracked = closed_form_gradient(
        unit,
        spec,
        &lift(&point.params),
        &lift(&point.x),
        &lift(&point.t),
        coefficients,
    );
    let single = closed_form_gradient(unit, spec, &point.params, &point.x, &point.t, coefficients);
    let loss_tape = values.scalar(tapes.train_nodes.loss);

    // Finite differences term by term: the data term alone (every coefficient 0), and each
    // regulariser as (data + that term) - (data).
    let data_only = Reference::from_values(
        &tapes.train,
        &point.params,
        &values_with(&Coefficients::default()),
        f64::from,
    );
    let alone = |term: &str| -> Coefficients {
        let mut only = Coefficients::default();
        match term {
            "Lp" => only.lp = coefficients.lp,
            name => {
                let key = RegKey::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .expect("term names are keys");
                only.keys.set(key, Some(coefficients.of(key) as f64));
            }
        }
        only
    };
    let with_term: Vec<Option<Reference<f64>>> = tracked
        .terms
        .iter()
        .map(|term| {
            (term.name != "data").then(|| {
                let values = values_with(&alone(term.name));
                Reference::from_values(&tapes.train, &point.params, &values, f64::from)
            })
        })
        .collect();
    let output = tracked.loss.value;
    // where the loss itself is not finite, finite differences have nothing to measure (tape
    // and closed form must still agree, NaN for NaN)
    let measurable = output.is_finite();

    let mut entries = Vec::new();
    for (info, spec_param) in tapes.train.params().iter().zip(unit.params()) {
        for (element, flat) in info.range.clone().enumerate() {
            let exact = tracked.params[flat];
            let data_fd = finite_difference(&tapes.train, &data_only, info.node, element);
            let terms: Vec<TermCheck> = tracked
                .terms
                .iter()
                .zip(&with_term)
                .map(|(term, reference)| {
                    let fd = match reference {
                        None => data_fd,
                        Some(r) => difference(
                            finite_difference(&tapes.train, r, info.node, element),
                            data_fd,
                        ),
                    };
                    let closed = term.params[flat].value;
                    let tolerance = fd_tolerance(&fd, closed, output);
                    let ok = !measurable
                        || fd.admits(closed, tolerance)
                        || !term.params[flat].bound.is_finite();
                    TermCheck {
                        term: term.name,
                        closed,
                        fd,
                        tolerance,
                        ok,
                    }
                })
                .collect();
            let tape = grads.params()[flat];
            entries.push(Entry {
                param: format!("{}[{element}]", spec_param.name),
                tape,
                closed_f32: single.params[flat],
                closed_f64: exact.value,
                tolerance: engine::gradcheck::TOLERANCE_FACTOR * exact.absolute_error(),
                fd: terms.iter().map(TermCheck::matching_fd).sum(),
                terms,
                tape_ok: matches(tape, exact),
                closed_f32_ok: matches(single.params[flat], exact),
            });
        }
    }
    // Input gradients: the data term's (the regularisers read the inputs detached).
    let x_node = tapes.train_nodes.x;
    let inputs = unit.inputs();
    for b in 0..batch {
        for i in 0..inputs {
            let at = b * inputs + i;
            let exact = tracked.x[at];
            let fd = finite_difference(&tapes.train, &data_only, x_node, i * batch + b);
            let tolerance = fd_tolerance(&fd, exact.value, output);
            let ok = !measurable || fd.admits(exact.value, tolerance) || !exact.bound.is_finite();
            let tape = grads.feature(x_node, i)[b];
            entries.push(Entry {
                param: format!("x[{b},{i}]"),
                tape,
                closed_f32: single.x[at],
                closed_f64: exact.value,
                tolerance: engine::gradcheck::TOLERANCE_FACTOR * exact.absolute_error(),
                fd: fd.central,
                terms: vec![TermCheck {
                    term: "data",
                    closed: exact.value,
                    fd,
                    tolerance,
                    ok,
                }],
                tape_ok: matches(tape, exact),
                closed_f32_ok: matches(single.x[at], exact),
            });
        }
    }
    PointAudit {
        label: point.label.clone(),
        singular: point.singular,
        loss_tape,
        loss_closed: tracked.loss,
        loss_ok: agrees(loss_tape, tracked.loss),
        entries,
    }
}

/// Whether an f32 gradient matches its f64 closed form: within the rounding bound where that
/// can judge, and non-finite exactly when the closed form is (NaN for NaN).
fn matches(got: f32, want: Tracked) -> bool {
    if got.is_nan() || want.value.is_nan() {
        return got.is_nan() && want.value.is_nan();
    }
    agrees(got, want)
}

/// The derivative of (f + term) minus that of f: the term's own derivative estimates.
fn difference(with: Derivative, without: Derivative) -> Derivative {
    Derivative {
        central: with.central - without.central,
        left: with.left - without.left,
        right: with.right - without.right,
        error: with.error + without.error,
    }
}

/// Division targets for an audit batch: x0 / x1 (1 / x0 for a single input), one per output.
pub fn division_targets(x: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
    x.chunks_exact(inputs)
        .flat_map(|s| {
            let t = if inputs >= 2 {
                f64::from(s[0]) / f64::from(s[1])
            } else {
                1.0 / f64::from(s[0])
            };
            std::iter::repeat_n(t as f32, outputs)
        })
        .collect()
}

/// A batch of `batch` samples uniform on [lo, hi).
fn batch_in(rng: &mut dyn Rng, inputs: usize, batch: usize, (lo, hi): (f32, f32)) -> Vec<f32> {
    (0..batch * inputs).map(|_| uniform(rng, lo, hi)).collect()
}

/// The standard audit points of a unit: one random point per interpolation range (parameters
/// from the unit's initialisation, perturbed off the initial values) and the singular points.
pub fn standard_points(unit: &Unit, batch: usize, rng: &mut dyn Rng) -> Vec<Point> {
    let (inputs, outputs) = (unit.inputs(), unit.outputs());
    let mut points = Vec::new();
    for (r, &range) in INTERPOLATION_RANGES.iter().enumerate() {
        let mut params = vec![0.0; unit.param_len()];
        unit.init(rng, &mut params);
        // move constant initial values (gates at 0.5, zero imaginary parts) off their ties
        for p in &mut params {
            *p += uniform(rng, -0.2, 0.2);
        }
        let x = batch_in(rng, inputs, batch, range);
        let t = division_targets(&x, inputs, outputs);
        points.push(Point {
            label: format!("range {r} U[{},{}]", range.0, range.1),
            params,
            x,
            t,
            singular: false,
        });
    }
    points.extend(singular_points(unit, batch, rng));
    points
}

/// Points where derivative conventions decide the result.
pub fn singular_points(unit: &Unit, batch: usize, rng: &mut dyn Rng) -> Vec<Point> {
    let (inputs, outputs) = (unit.inputs(), unit.outputs());
    let specs = unit.params();
    let len = unit.param_len();
    // Cycles through `values` over every parameter element of tensor `name`, other tensors
    // from `rest`.
    let with = |values: &[f32],
                rest: &dyn Fn(&str, usize) -> f32,
                which: &dyn Fn(&str) -> bool|
     -> Vec<f32> {
        let mut params = Vec::with_capacity(len);
        let mut k = 0;
        for spec in &specs {
            for i in 0..spec.len {
                if which(spec.name) {
                    params.push(values[k % values.len()]);
                    k += 1;
                } else {
                    params.push(rest(spec.name, i));
                }
            }
        }
        params
    };
    let positive = |rng: &mut dyn Rng| batch_in(rng, inputs, batch, (1.0, 2.0));
    let mut points = Vec::new();
    let mut push = |label: &str, params: Vec<f32>, x: Vec<f32>| {
        let t = division_targets(&x, inputs, outputs);
        points.push(Point {
            label: label.to_owned(),
            params,
            x,
            t,
            singular: false,
        });
    };
    let weights = |name: &str| matches!(name, "W" | "W_re");
    let mid = |name: &str, _: usize| match name {
        "g" | "G" => 0.8,
        "W_im" => 0.1,
        _ => 0.3,
    };
    match unit {
        Unit::RealNpu(_) | Unit::Npu(_) => {
            push(
                "W in {-1, 0, 1}",
                with(&[1.0, -1.0, 0.0], &mid, &weights),
                positive(rng),
            );
            push(
                "|W| = 0.5 ties",
                with(&[0.5, -0.5], &mid, &weights),
                positive(rng),
            );
            push(
                "g on clamp bounds {0, 1}",
                with(
                    &[1.0, 0.0],
                    &|n, _| if n == "W_im" { 0.1 } else { 0.7 },
                    &|n| n == "g",
                ),
                positive(rng),
            );
            push(
                "g = 0.5 (gate regulariser tie)",
                with(&[0.5], &|_, _| 0.7, &|n| n == "g"),
                positive(rng),
            );
            let mut x = batch_in(rng, inputs, batch, (-2.0, 2.0));
            for v in x.iter_mut().step_by(3) {
                *v = 0.0;
            }
            let x_zero = with(&[0.6, -0.4], &mid, &weights);
            // (x0 / x1 would be infinite: targets of 1 instead)
            points.push(Point {
                label: "x = 0 in every third input".into(),
                params: x_zero,
                t: vec![1.0; batch * outputs],
                x: x.clone(),
                singular: false,
            });
            // an open gate reads |x| + EPS: ln r = ln EPS, finite, and d ln r / dx = sgn(x) / r
            // is 0 at x = 0 only because sgn(0) = 0
            points.push(Point {
                label: "x = 0 in every third input, gates at 1".into(),
                params: with(&[1.0], &|n, _| if n == "W_im" { 0.1 } else { 0.6 }, &|n| {
                    n == "g"
                }),
                t: vec![1.0; batch * outputs],
                x,
                singular: false,
            });
        }
        Unit::Nru(_) => {
            push(
                "W in {-1, 0, 1}",
                with(&[1.0, -1.0, 0.0], &mid, &weights),
                positive(rng),
            );
            push(
                "|W| = 0.5 ties",
                with(&[0.5, -0.5], &mid, &weights),
                positive(rng),
            );
            push(
                "saturated tanh: |W| = 0.02",
                with(&[0.02, -0.02], &mid, &weights),
                positive(rng),
            );
            push(
                "steep tanh: |W| = 0.001",
                with(&[0.001, -0.0015], &mid, &weights),
                positive(rng),
            );
            let x = batch_in(rng, inputs, batch, (-2.0, -1.0));
            push(
                "negative inputs, W in {-1, 1}",
                with(&[1.0, -1.0], &mid, &weights),
                x,
            );
            // sgn(x) |x|^w at x = 0: the input gradient is 0 for w = 1 and NaN for w in (0, 1)
            // or w = -1 (0 times an infinite slope, as the reference computes it)
            let mut x = batch_in(rng, inputs, batch, (1.0, 2.0));
            for v in x.iter_mut().step_by(2) {
                *v = 0.0;
            }
            points.push(Point {
                label: "x = 0 in every other input, W in {0.3, 1, -1}".into(),
                params: with(&[0.3, 1.0, -1.0], &mid, &weights),
                t: vec![1.0; batch * outputs],
                x,
                singular: true,
            });
        }
        Unit::Nmru(_) => {
            push(
                "W in {0, 1}",
                with(&[1.0, 0.0, 0.0, 1.0], &mid, &weights),
                positive(rng),
            );
            push("W = 0.5 ties", with(&[0.5], &mid, &weights), positive(rng));
            push(
                "G on clamp bounds and tie",
                with(&[0.0, 1.0, 0.5], &|_, _| 0.6, &|n| n == "G"),
                positive(rng),
            );
            let x = batch_in(rng, inputs, batch, (-2.0, -1.0));
            push(
                "negative inputs, W in {0, 1}",
                with(&[1.0, 0.0, 0.0, 1.0], &mid, &weights),
                x,
            );
            // 1 / (x + EPS) is infinite at x = -EPS: the product of the other factors gives a
            // signed infinity (the reference's output / factor gives NaN)
            let mut x = batch_in(rng, inputs, batch, (1.0, 2.0));
            for v in x.iter_mut().step_by(3) {
                *v = -engine::EPS;
            }
            points.push(Point {
                label: "x = -EPS in every third input".into(),
                params: with(&[0.6, 0.3], &mid, &weights),
                t: vec![1.0; batch * outputs],
                x,
                singular: true,
            });
        }
        Unit::Nau(_) => {
            push(
                "W in {-1, 0, 1}",
                with(&[1.0, -1.0, 0.0], &mid, &weights),
                positive(rng),
            );
            push(
                "|W| = 0.5 ties",
                with(&[0.5, -0.5], &mid, &weights),
                positive(rng),
            );
            push(
                "W outside [-1, 1]",
                with(&[1.25, -1.5], &mid, &weights),
                positive(rng),
            );
        }
        Unit::Nmu(_) => {
            push(
                "W in {0, 1}",
                with(&[1.0, 0.0], &mid, &weights),
                positive(rng),
            );
            push("W = 0.5 ties", with(&[0.5], &mid, &weights), positive(rng));
            push(
                "W outside [0, 1]",
                with(&[1.25, -0.5], &mid, &weights),
                positive(rng),
            );
        }
        Unit::Nac(_) | Unit::Nalu(_) => {
            let hats = |n: &str| n.starts_with("W_hat") || n.starts_with("M_hat");
            push(
                "saturated tanh and sigmoid",
                with(&[9.5, -9.5, 12.0, -12.0], &|_, _| 0.4, &hats),
                positive(rng),
            );
            push(
                "zero weights",
                with(&[0.0], &|_, _| 0.4, &hats),
                positive(rng),
            );
        }
    }
    points
}
