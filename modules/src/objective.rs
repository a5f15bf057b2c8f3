//! The training objective on the tape, and the same objective's gradient in closed form.
//!
//! `loss = MSE(y, t) + sum over present keys of c_key R[key] + c_lp Lp`
//!
//! Each coefficient is an unbatched input of the training tape, set every iteration from the
//! schedules (lambda times schedule value, formed in f64 and rounded to f32 once, as the
//! reference applies it). A key is recorded only if `modules/README.md` asks for it and the unit has it.

use engine::{Conventions, Graph, NodeId, Shape, Tape, Values, Var};

use crate::module::{Mode, RegKey, RegKeys, Unit};
use crate::penalty::Lp;
use crate::scalar::Scalar;

/// Which terms the training loss contains.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectiveSpec {
    /// The data term.
    pub criterion: Criterion,
    /// Regulariser keys to include (keys the unit lacks are skipped).
    pub keys: Vec<RegKey>,
    /// The sparsity term over all parameters, if on.
    pub lp: Option<Lp>,
    /// The derivative conventions at clamp bounds and min/max ties.
    pub conventions: Conventions,
}

/// The data term of the training loss (`modules/README.md` section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    /// Mean squared error.
    Mse,
    /// 1 - r, Pearson's correlation between outputs and targets over the batch.
    Pcc,
    /// Mean absolute percentage error, mean(|(t - y) / t|).
    Mape,
    /// PCC, then MSE: `Coefficients::pcc_weight` moves from 1 to 0 at the switch.
    PccThenMse,
}

crate::named_enum!(Criterion {
    Mse = "mse",
    Pcc = "pcc",
    Mape = "mape",
    PccThenMse = "pcc-mse",
});

impl ObjectiveSpec {
    /// The data term only.
    pub fn data_only() -> Self {
        ObjectiveSpec {
            criterion: Criterion::Mse,
            keys: vec![],
            lp: None,
            conventions: Conventions::Paper,
        }
    }

    /// Every regulariser the unit has, and the L1 term (for audits).
    pub fn everything() -> Self {
        ObjectiveSpec {
            criterion: Criterion::Mse,
            keys: RegKey::ALL.to_vec(),
            lp: Some(Lp::L1),
            conventions: Conventions::Paper,
        }
    }
}

/// Coefficient values for one iteration; absent keys count as 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coefficients {
    pub keys: RegKeys<f64>,
    pub lp: f64,
    /// With [`Criterion::PccThenMse`]: the weight of the PCC term (the MSE term gets
    /// 1 - weight).
    pub pcc_weight: f64,
}

impl Coefficients {
    /// The coefficient of `key` as the f32 the loss applies.
    pub fn of(&self, key: RegKey) -> f32 {
        self.keys.get(key).copied().unwrap_or(0.0) as f32
    }
}

/// Nodes of the training tape.
#[derive(Clone, Debug)]
pub struct TrainNodes {
    /// Inputs, [batch x inputs].
    pub x: NodeId,
    /// Targets, [batch x outputs].
    pub t: NodeId,
    pub y: NodeId,
    /// The data term (MSE).
    pub data_loss: NodeId,
    pub loss: NodeId,
    /// Per included key: (regulariser value, coefficient input).
    pub keys: RegKeys<(NodeId, NodeId)>,
    /// The Lp term and its coefficient input.
    pub lp: Option<(NodeId, NodeId)>,
    /// The PCC weight input of [`Criterion::PccThenMse`].
    pub pcc_weight: Option<NodeId>,
}

/// Nodes of the evaluation tape (forward only).
#[derive(Clone, Debug)]
pub struct EvalNodes {
    pub x: NodeId,
    pub y: NodeId,
}

/// A unit compiled into its training tape (the objective, train mode) and its evaluation
/// tape (the output, eval mode). Both declare the parameters identically, so one flat
/// parameter vector serves both.
#[derive(Clone, Debug)]
pub struct Tapes {
    pub train: Tape,
    pub eval: Tape,
    pub train_nodes: TrainNodes,
    pub eval_nodes: EvalNodes,
}

impl Tapes {
    /// The tapes training uses: gradients for the parameters only.
    pub fn new(unit: &Unit, spec: &ObjectiveSpec) -> Tapes {
        Self::build(unit, spec, false)
    }

    /// Tapes whose training tape also differentiates the loss with respect to the inputs
    /// (read them with `Grads::feature(train_nodes.x, i)`): for audits, and for units stacked
    /// on other layers.
    pub fn with_input_gradients(unit: &Unit, spec: &ObjectiveSpec) -> Tapes {
        Self::build(unit, spec, true)
    }

    fn build(unit: &Unit, spec: &ObjectiveSpec, input_gradients: bool) -> Tapes {
        let graph = Graph::with_conventions(spec.conventions);
        let input_shape = Shape::batched(unit.inputs());
        let x = if input_gradients {
            graph.input_with_grad(input_shape)
        } else {
            graph.input(input_shape)
        };
        let t = graph.input(Shape::batched(unit.outputs()));
        let params = unit.declare_params(&graph);
        let y = unit.forward(x, &params, Mode::Train);
        let (data_loss, pcc_weight) = match spec.criterion {
            Criterion::Mse => (y.mse(t).label("data term MSE(y, t)"), None),
            Criterion::Pcc => (pcc_loss(y, t), None),
            Criterion::Mape => (((t - y) / t).abs().mean_all(), None),
            Criterion::PccThenMse => {
                let weight = graph.input(Shape::scalar());
                (
                    weight * pcc_loss(y, t) + (1.0 - weight) * y.mse(t),
                    Some(weight.id()),
                )
            }
        };
        let mut loss = data_loss;
        let available = unit.regularisers(&graph, x, &params);
        let mut keys = RegKeys::default();
        for (key, &value) in available.present() {
            if spec.keys.contains(&key) {
                let coefficient = graph.input(Shape::scalar());
                value.label(&format!("regulariser {}", key.name()));
                loss = loss + coefficient * value;
                keys.set(key, Some((value.id(), coefficient.id())));
            }
        }
        let lp = spec.lp.map(|lp| {
            let value = lp.record(&params);
            let coefficient = graph.input(Shape::scalar());
            loss = loss + coefficient * value;
            (value.id(), coefficient.id())
        });
        let train = graph.finish(loss);
        let train_nodes = TrainNodes {
            pcc_weight,
            x: x.id(),
            t: t.id(),
            y: y.id(),
            data_loss: data_loss.id(),
            loss: loss.id(),
            keys,
            lp,
        };

        let graph = Graph::with_conventions(spec.conventions);
        let x = graph.input(Shape::batched(unit.inputs()));
        let params = unit.declare_params(&graph);
        let y = unit.forward(x, &params, Mode::Eval);
        let eval = graph.finish(y);
        Tapes {
            train,
            eval,
            train_nodes,
            eval_nodes: EvalNodes {
                x: x.id(),
                y: y.id(),
            },
        }
    }

    /// Writes the coefficient inputs of the training tape.
    pub fn set_coefficients(&self, values: &mut Values, coefficients: &Coefficients) {
        for (key, &(_, input)) in self.train_nodes.keys.present() {
            values.flat_mut(input)[0] = coefficients.of(key);
        }
        if let Some((_, input)) = self.train_nodes.lp {
            values.flat_mut(input)[0] = coefficients.lp as f32;
        }
        if let Some(input) = self.train_nodes.pcc_weight {
            values.flat_mut(input)[0] = coefficients.pcc_weight as f32;
        }
    }

    /// Writes a batch given sample-major (`x[b * inputs + i]`, `t[b * outputs + o]`).
    pub fn set_batch(&self, values: &mut Values, x: &[f32], t: &[f32]) {
        let (inputs, outputs) = (
            self.train_features(self.train_nodes.x),
            self.train_features(self.train_nodes.t),
        );
        let batch = values.batch();
        assert_eq!(
            x.len(),
            batch * inputs,
            "x holds {} values for {batch} x {inputs}",
            x.len()
        );
        assert_eq!(
            t.len(),
            batch * outputs,
            "t holds {} values for {batch} x {outputs}",
            t.len()
        );
        for i in 0..inputs {
            for (b, v) in values
                .feature_mut(self.train_nodes.x, i)
                .iter_mut()
                .enumerate()
            {
                *v = x[b * inputs + i];
            }
        }
        for o in 0..outputs {
            for (b, v) in values
                .feature_mut(self.train_nodes.t, o)
                .iter_mut()
                .enumerate()
            {
                *v = t[b * outputs + o];
            }
        }
    }

    fn train_features(&self, id: NodeId) -> usize {
        self.train.node(id).shape.features
    }
}

/// One term of the objective (the data term, a weighted regulariser, or the weighted Lp term)
/// with its gradient.
#[derive(Clone, Debug)]
pub struct TermGrad<S> {
    /// "data", a regulariser key name ("W", "g-NPU", ...) or "Lp".
    pub name: &'static str,
    /// The term's value, coefficient included.
    pub value: S,
    /// d term / d params (flat).
    pub params: Vec<S>,
}

/// 1 - r with r Pearson's correlation of the outputs and targets over the batch, as the
/// reference computes it for its single output: vy = y - mean(y),
/// sy = sqrt(max(sum(vy^2) / n, EPS)), likewise for t, r = sum((vy / (sy + EPS))
/// (vt / (st + EPS))) / n, with n the batch size (sums over several outputs are means over
/// all elements).
fn pcc_loss<'g>(y: Var<'g>, t: Var<'g>) -> Var<'g> {
    let centred = |v: Var<'g>| v - v.mean_batch();
    let (vy, vt) = (centred(y), centred(t));
    let spread = |v: Var<'g>| {
        v.square()
            .mean_all()
            .max(v.graph().scalar(engine::EPS))
            .sqrt()
    };
    let (sy, st) = (spread(vy), spread(vt));
    let r = ((vy / (sy + engine::EPS)) * (vt / (st + engine::EPS))).mean_all();
    1.0 - r
}

/// The objective and its gradient in closed form, in total and term by term.
#[derive(Clone, Debug)]
pub struct ObjectiveGrad<S> {
    pub loss: S,
    /// d loss / d params (flat): the sum of the terms' gradients.
    pub params: Vec<S>,
    /// d loss / d x, sample-major (only the data term depends on x through the gradient).
    pub x: Vec<S>,
    /// The data term first, then the present regularisers, then Lp.
    pub terms: Vec<TermGrad<S>>,
}

/// Evaluates the objective of `spec` and its gradient from the units' closed-form formulas,
/// without the tape. `x` and `t` are sample-major.
pub fn closed_form_gradient<S: Scalar>(
    unit: &Unit,
    spec: &ObjectiveSpec,
    params: &[S],
    x: &[S],
    t: &[S],
    coefficients: &Coefficients,
) -> ObjectiveGrad<S> {
    let (inputs, outputs) = (unit.inputs(), unit.outputs());
    let batch = x.len() / inputs;
    let count = (batch * outputs) as f64;
    let norm = S::from_f64(2.0 / count);
    let mut data = vec![S::zero(); params.len()];
    let mut dx = vec![S::zero(); x.len()];
    let mut squares = S::zero();
    for b in 0..batch {
        let sample = &x[b * inputs..(b + 1) * inputs];
        let jac = unit.jacobian(params, sample, spec.conventions);
        for o in 0..outputs {
            let error = jac.y[o] - t[b * outputs + o];
            squares = squares + error * error;
            let d = error * norm;
            for (g, &j) in data
                .iter_mut()
                .zip(&jac.dy_dparams[o * params.len()..(o + 1) * params.len()])
            {
                // a zero entry (a parameter this output does not read, or a masked
                // derivative) adds nothing, even against an infinite error: the tape forms
                // no product there either
                if !Into::<bool>::into(j.equal(S::zero())) {
                    *g = *g + d * j;
                }
            }
            for i in 0..inputs {
                let at = b * inputs + i;
                dx[at] = dx[at] + d * jac.dy_dx[o * inputs + i];
            }
        }
    }
    let mut terms = vec![TermGrad {
        name: "data",
        value: squares / S::from_f64(count),
        params: data,
    }];
    let weighted = |name, c: S, value: S, grad: &[S]| TermGrad {
        name,
        value: c * value,
        params: grad.iter().map(|&g| c * g).collect(),
    };
    for (key, penalty) in unit.penalty_grads(params, x, spec.conventions).present() {
        if spec.keys.contains(&key) {
            terms.push(weighted(
                key.name(),
                S::splat(coefficients.of(key)),
                penalty.value,
                &penalty.grad,
            ));
        }
    }
    if let Some(lp) = spec.lp {
        let (value, grad) = lp.value_and_grad(params, &unit.param_ranges());
        terms.push(weighted(
            "Lp",
            S::splat(coefficients.lp as f32),
            value,
            &grad,
        ));
    }
    let mut total = ObjectiveGrad {
        loss: S::zero(),
        params: vec![S::zero(); params.len()],
        x: dx,
        terms: vec![],
    };
    for term in &terms {
        total.loss = total.loss + term.value;
        for (g, &p) in total.params.iter_mut().zip(&term.params) {
            *g = *g + p;
        }
    }
    total.terms = terms;
    total
}
