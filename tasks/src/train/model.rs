//! A unit compiled for training: its tapes, buffers, optimiser state and the update step.

use std::ops::Range;

use engine::diagnose::{Finding, first_non_finite};
use engine::optim::{Adam, GradientTracker, Optimizer, Sgd, clip_grad_norm};
use engine::{Grads, Program, Values, backward, forward};
use modules::{Coefficients, ObjectiveSpec, Tapes, Unit};
use rand_core::Rng;

/// Which optimiser updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    Adam { lr: f64 },
    Sgd { lr: f64 },
}

enum State {
    Adam(Adam),
    Sgd(Sgd),
}

impl State {
    fn as_dyn(&mut self) -> &mut dyn Optimizer {
        match self {
            State::Adam(a) => a,
            State::Sgd(s) => s,
        }
    }
}

/// A unit ready to train: its parameters, the training tape's buffers (the current batch
/// and the loss); one [`Model::step`] is one optimiser update.
pub struct Model {
    pub unit: Unit,
    pub tapes: Tapes,
    params: Vec<f32>,
    /// Buffers of the training tape.
    pub values: Values,
    grads: Grads,
    optimizer: State,
    clip: Option<f32>,
    tensors: Vec<Range<usize>>,
    /// The gradients' health since it was last taken.
    pub health: GradientTracker,
    /// Updates made so far.
    steps: u64,
    /// The first update whose loss or gradient was not finite, and where on the tape that
    /// began.
    pub first_non_finite: Option<Box<Diagnosis>>,
}

/// Where an update's first non-finite number began, with what replays it: the parameters
/// before the update and the training sample the finding is at.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    /// The update's number (iterations count from 0).
    pub step: u64,
    pub finding: Finding,
    pub params: Vec<f32>,
    pub x: Vec<f32>,
    pub t: f32,
}

impl Model {
    /// Compiles `unit` with the objective `spec` for batches of `batch` samples.
    pub fn new(
        unit: Unit,
        spec: &ObjectiveSpec,
        batch: usize,
        optimizer: OptimizerKind,
        clip: Option<f32>,
    ) -> Self {
        let tapes = Tapes::new(&unit, spec);
        let program = Program::new(&tapes.train, batch);
        let (values, grads) = (Values::new(&program), Grads::new(&program));
        let len = tapes.train.param_len();
        let optimizer = match optimizer {
            OptimizerKind::Adam { lr } => State::Adam(Adam::new(len, lr)),
            OptimizerKind::Sgd { lr } => State::Sgd(Sgd::new(lr)),
        };
        let tensors = unit.param_ranges();
        Model {
            unit,
            tapes,
            params: vec![0.0; len],
            values,
            grads,
            optimizer,
            clip,
            tensors,
            health: GradientTracker::default(),
            steps: 0,
            first_non_finite: None,
        }
    }

    /// Draws the initial parameters.
    pub fn init(&mut self, rng: &mut dyn Rng) {
        self.unit.init(rng, &mut self.params);
    }

    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The input rows of the current batch: feature `i`, one value per sample.
    pub fn input_mut(&mut self, i: usize) -> &mut [f32] {
        self.values.feature_mut(self.tapes.train_nodes.x, i)
    }

    /// Two input rows of the current batch at once (to form targets from them).
    pub fn operands(&self, a: usize, b: usize) -> (&[f32], &[f32]) {
        let x = self.tapes.train_nodes.x;
        (self.values.feature(x, a), self.values.feature(x, b))
    }

    /// The whole batch in place: every input row and the target row, each `stride` values
    /// apart (stride >= batch; a batch that is a multiple of 8 has no padding between rows).
    pub fn batch_mut(&mut self) -> (&mut [f32], &mut [f32], usize) {
        let nodes = &self.tapes.train_nodes;
        self.values.two_nodes_mut(nodes.x, nodes.t)
    }

    /// The target rows of the current batch.
    pub fn target_mut(&mut self, o: usize) -> &mut [f32] {
        self.values.feature_mut(self.tapes.train_nodes.t, o)
    }

    /// One update on the batch in the input rows: forward, backward, gradient health,
    /// gradient-norm clipping, optimiser step, projection. Returns the loss before the update.
    pub fn step(&mut self, coefficients: &Coefficients) -> f32 {
        self.tapes.set_coefficients(&mut self.values, coefficients);
        forward(&self.params, &mut self.values);
        backward(&self.params, &self.values, &mut self.grads);
        if self.health.observe(self.grads.params()) && self.first_non_finite.is_none() {
            self.diagnose();
        }
        self.steps += 1;
        if let Some(max_norm) = self.clip {
            clip_grad_norm(self.grads.params_mut(), &self.tensors, max_norm);
        }
        self.optimizer
            .as_dyn()
            .step(&mut self.params, self.grads.params());
        self.unit.project(&mut self.params);
        self.values.scalar(self.tapes.train_nodes.loss)
    }

    /// One forward and backward pass on the batch in the input rows with every node timed
    /// (no update): each node with steps as (its op and label, forward seconds, backward
    /// seconds). For finding where an iteration's time goes.
    pub fn profile(&mut self, coefficients: &Coefficients) -> Vec<(String, f64, f64)> {
        self.tapes.set_coefficients(&mut self.values, coefficients);
        let tape = &self.tapes.train;
        engine::profile(&self.params, &mut self.values, &mut self.grads)
            .into_iter()
            .map(|t| {
                let node = tape.node(t.node);
                let name = match tape.label(t.node) {
                    Some(label) => format!("{:?} {label}", node.op),
                    None => format!("{:?}", node.op),
                };
                (name, t.forward, t.backward.iter().sum())
            })
            .collect()
    }

    /// Finds where this update's first non-finite number appeared, before the optimiser
    /// spreads it into the parameters.
    #[cold]
    fn diagnose(&mut self) {
        let finding = first_non_finite(
            &self.tapes.train,
            &self.params,
            &self.values,
            Some(&self.grads),
        );
        if let Some(finding) = finding {
            let nodes = &self.tapes.train_nodes;
            let sample = finding.sample.min(self.values.batch() - 1);
            let x = (0..self.unit.inputs())
                .map(|i| self.values.feature(nodes.x, i)[sample])
                .collect();
            let t = self.values.feature(nodes.t, 0)[sample];
            self.first_non_finite = Some(Box::new(Diagnosis {
                step: self.steps,
                params: self.params.clone(),
                finding,
                x,
                t,
            }));
        }
    }
}
