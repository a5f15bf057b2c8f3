//! Validation and test MSE of a parameter vector: the unit in eval mode over the fixed
//! 10000-sample sets, a chunk of samples at a time through one reused buffer.

use std::sync::Arc;

use engine::{NodeId, Program, Values, forward};
use modules::Tapes;

use crate::data::DataSet;

/// Samples per forward pass: small enough for the rows of one pass to stay in cache.
const CHUNK: usize = 1024;

/// Measures the MSE of the eval-mode unit on the validation and test sets.
pub struct Evaluator {
    /// The eval tape's buffers for one chunk. A shorter last chunk leaves the lanes past it
    /// holding the previous chunk's samples, whose outputs are not read.
    values: Values,
    x: NodeId,
    y: NodeId,
    validation: Arc<DataSet>,
    test: Arc<DataSet>,
}

impl Evaluator {
    pub fn new(tapes: &Tapes, validation: &Arc<DataSet>, test: &Arc<DataSet>) -> Evaluator {
        let largest = validation.count.max(test.count).clamp(1, CHUNK);
        Evaluator {
            values: Values::new(&Program::new(&tapes.eval, largest)),
            x: tapes.eval_nodes.x,
            y: tapes.eval_nodes.y,
            validation: Arc::clone(validation),
            test: Arc::clone(test),
        }
    }

    /// (validation MSE, test MSE) of `params`.
    pub fn mse(&mut self, params: &[f32]) -> (f32, f32) {
        (
            set_mse(&mut self.values, self.x, self.y, &self.validation, params),
            set_mse(&mut self.values, self.x, self.y, &self.test, params),
        )
    }

    /// The test MSE alone (for gold solutions).
    pub fn test_mse(&mut self, params: &[f32]) -> f32 {
        set_mse(&mut self.values, self.x, self.y, &self.test, params)
    }
}

/// mean((y - t)^2) with each difference and square in f32, as the reference forms them, and
/// the sum in f64 so that the mean is the f32 nearest to the exact mean of those squares.
fn set_mse(values: &mut Values, x: NodeId, y: NodeId, set: &DataSet, params: &[f32]) -> f32 {
    let chunk = values.batch();
    let mut sum = 0.0f64;
    for start in (0..set.count).step_by(chunk) {
        let len = chunk.min(set.count - start);
        for i in 0..set.features {
            values.feature_mut(x, i)[..len].copy_from_slice(&set.feature(i)[start..start + len]);
        }
        forward(params, values);
        sum += values.feature(y, 0)[..len]
            .iter()
            .zip(&set.t[start..start + len])
            .map(|(&y, &t)| {
                let d = y - t;
                f64::from(d * d)
            })
            .sum::<f64>();
    }
    (sum / set.count as f64) as f32
}
