//! One model's training-loss gradient at one point, on the f32 tape and in f64.

use engine::gradcheck::{Derivative, finite_differences};
use engine::reference::Reference;
use engine::{Grads, Program, Values, backward, forward};
use modules::objective::{Criterion, closed_form_gradient};
use modules::{Coefficients, ObjectiveSpec, Tapes, Unit};

/// Evaluates the gradient of a unit's training loss for single samples: the f32 training
/// tape (recorded with input gradients, batch of one) and the documented closed form in f64.
pub struct Probe {
    pub unit: Unit,
    spec: ObjectiveSpec,
    coefficients: Coefficients,
    tapes: Tapes,
    values: Values,
    grads: Grads,
}

/// Both evaluations of one point: the parameters' gradients, then the inputs'.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    pub f32: Vec<f32>,
    pub f64: Vec<f64>,
}

/// A model whose gradient the lab cannot evaluate in f64.
#[derive(Debug, thiserror::Error)]
#[error("the {0} criterion has no closed form (grad-stability needs the MSE criterion)")]
pub struct NoClosedForm(pub Criterion);

impl Probe {
    pub fn new(
        unit: Unit,
        spec: ObjectiveSpec,
        coefficients: Coefficients,
    ) -> Result<Probe, NoClosedForm> {
        if spec.criterion != Criterion::Mse {
            return Err(NoClosedForm(spec.criterion));
        }
        let tapes = Tapes::with_input_gradients(&unit, &spec);
        let program = Program::new(&tapes.train, 1);
        let mut values = Values::new(&program);
        tapes.set_coefficients(&mut values, &coefficients);
        Ok(Probe {
            grads: Grads::new(&program),
            values,
            tapes,
            unit,
            spec,
            coefficients,
        })
    }

    /// The gradients at parameters `params`, one sample `x` and its target `t`.
    pub fn gradients(&mut self, params: &[f32], x: &[f32], t: f32) -> Gradients {
        self.tapes.set_batch(&mut self.values, x, &[t]);
        forward(params, &mut self.values);
        backward(params, &self.values, &mut self.grads);
        let x_node = self.tapes.train_nodes.x;
        let mut f32s = self.grads.params().to_vec();
        f32s.extend((0..x.len()).map(|i| self.grads.feature(x_node, i)[0]));

        let lift = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
        let exact = closed_form_gradient(
            &self.unit,
            &self.spec,
            &lift(params),
            &lift(x),
            &[f64::from(t)],
            &self.coefficients,
        );
        let mut f64s = exact.params;
        f64s.extend(exact.x);
        Gradients {
            f32: f32s,
            f64: f64s,
        }
    }

    /// Finite differences of the training loss, evaluated in f64 by the engine's reference
    /// evaluator, at the same point and in the order of [`Gradients`] (parameters, then
    /// inputs): an oracle that shares no formula with either gradient. With the loss there.
    pub fn finite_differences(
        &mut self,
        params: &[f32],
        x: &[f32],
        t: f32,
    ) -> (Vec<Derivative>, f64) {
        self.tapes.set_batch(&mut self.values, x, &[t]);
        let tape = &self.tapes.train;
        let mut base = Reference::from_values(tape, params, &self.values, f64::from);
        let mut derivatives = Vec::new();
        for info in tape.params() {
            derivatives.extend(finite_differences(tape, &base, info.node));
        }
        derivatives.extend(finite_differences(tape, &base, self.tapes.train_nodes.x));
        base.forward(tape);
        (derivatives, base.output(tape))
    }
}
