//! Validation and test MSE of a parameter vector: the unit in eval mode over the fixed
//! 10000-sample sets, with the inputs loaded once.

use engine::{NodeId, Tape, Values, forward};
use modules::Tapes;

use crate::data::DataSet;

/// Samples per forward pass: small enough for the rows of one pass to stay in cache.
const CHUNK: usize = 1024;

/// One data set split into chunks whose inputs already sit in their buffers.
struct LoadedSet {
    chunks: Vec<Values>,
    targets: Vec<f32>,
}

/// Measures the MSE of the eval-mode unit on the validation and test sets.
pub struct Evaluator {
    tape: Tape,
    y: NodeId,
    validation: LoadedSet,
    test: LoadedSet,
}

impl Evaluator {
    pub fn new(tapes: &Tapes, validation: &DataSet, test: &DataSet) -> Evaluator {
        let tape = tapes.eval.clone();
        let x = tapes.eval_nodes.x;
        let load = |set: &DataSet| LoadedSet {
            chunks: (0..set.count)
                .step_by(CHUNK)
                .map(|start| {
                    let len = CHUNK.min(set.count - start);
                    let mut values = Values::new(&tape, len);
                    for i in 0..set.features {
                        values
                            .feature_mut(x, i)
                            .copy_from_slice(&set.feature(i)[start..start + len]);
                    }
                    values
                })
                .collect(),
            targets: set.t.clone(),
        };
        Evaluator {
            validation: load(validation),
            test: load(test),
            y: tapes.eval_nodes.y,
            tape,
        }
    }

    /// (validation MSE, test MSE) of `params`.
    pub fn mse(&mut self, params: &[f32]) -> (f32, f32) {
        let (tape, y) = (&self.tape, self.y);
        (
            set_mse(tape, y, &mut self.validation, params),
            set_mse(tape, y, &mut self.test, params),
        )
    }

    /// The test MSE alone (for gold solutions).
    pub fn test_mse(&mut self, params: &[f32]) -> f32 {
        set_mse(&self.tape, self.y, &mut self.test, params)
    }
}

/// mean((y - t)^2) with each difference and square in f32, as the reference forms them, and
/// the sum in f64 so that the mean is the f32 nearest to the exact mean of those squares.
fn set_mse(tape: &Tape, y: NodeId, set: &mut LoadedSet, params: &[f32]) -> f32 {
    let mut sum = 0.0f64;
    let mut targets = set.targets.as_slice();
    for values in &mut set.chunks {
        values.params_mut().copy_from_slice(params);
        forward(tape, values);
        let out = values.feature(y, 0);
        let (now, rest) = targets.split_at(out.len());
        targets = rest;
        sum += out
            .iter()
            .zip(now)
            .map(|(&y, &t)| {
                let d = y - t;
                f64::from(d * d)
            })
            .sum::<f64>();
    }
    (sum / set.targets.len() as f64) as f32
}
