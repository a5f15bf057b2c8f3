//! One training run exactly as `../shared/spec/modules.md` section 8 orders it, and its
//! record.

use modules::{Coefficients, ParamSpec, RegKey, RegKeys, Unit};
use rand_core::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::model::Model;
use super::schedule::{Beta, ScaleType, Window};
use super::settings::{Settings, SettingsError};
use crate::data::TaskData;
use crate::evaluate::{Evaluator, Row, Threshold, ThresholdError, Verdict};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Threshold(#[from] ThresholdError),
}

/// One parameter tensor's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub name: String,
    #[serde(with = "crate::evaluate::float::list")]
    pub values: Vec<f32>,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub settings: Settings,
    /// Input positions of the operands (after the seed's shift).
    pub operands: Vec<[usize; 2]>,
    pub train_seed: u32,
    pub threshold: Threshold,
    /// Rows at steps 0, log interval, ..., up to max-iterations (fewer if diverged).
    pub history: Vec<Row>,
    /// The parameters became NaN and the run stopped.
    pub diverged: bool,
    /// Updates performed.
    pub updates: u64,
    pub verdict: Verdict,
    /// Parameters at the chosen row.
    pub chosen_params: Vec<Tensor>,
    /// Parameters after the last update.
    pub final_params: Vec<Tensor>,
}

/// What an observer sees at every logged row.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub row: Row,
    pub max_iterations: u64,
    /// The training loss of the last update (NaN before the first).
    pub loss: f32,
}

/// A run ready to train: settings checked, data generated, threshold known.
pub struct Run {
    settings: Settings,
    unit: Unit,
    data: TaskData,
    model: Model,
    evaluator: Evaluator,
    threshold: Threshold,
    window: Window,
    beta: Beta,
    /// The current batch, feature-major, and its targets.
    x: Vec<f32>,
    t: Vec<f32>,
}

impl Run {
    /// Checks the settings, generates the data, compiles the unit and sets the threshold;
    /// every error names its flag.
    pub fn prepare(settings: &Settings) -> Result<Run, RunError> {
        settings.validate()?;
        let unit = settings.unit()?;
        let data =
            TaskData::new(&settings.task_spec(), settings.seed).map_err(SettingsError::from)?;
        let clip = settings.clip_grad_norm.map(|c| c as f32);
        let mut model = Model::new(
            unit.clone(),
            &settings.objective(),
            settings.batch_size,
            settings.optimizer(),
            clip,
        );
        let mut evaluator = Evaluator::new(&model.tapes, &data.validation, &data.test);
        let threshold = match settings.threshold {
            Some(t) => Threshold::user(t),
            None => Threshold::for_task(&unit, &data, &mut evaluator)?,
        };
        // Initial parameters from their own stream of the run seed (the reference's torch
        // stream is not reproduced; distributions and bounds are, spec quirk Q7).
        let mut rng = Pcg64Mcg::seed_from_u64(u64::from(settings.seed));
        model.init(&mut rng);
        Ok(Run {
            window: settings.window(),
            beta: Beta::new(settings.beta()),
            x: vec![0.0; settings.batch_size * settings.input_size],
            t: vec![0.0; settings.batch_size],
            settings: settings.clone(),
            unit,
            data,
            model,
            evaluator,
            threshold,
        })
    }

    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// Iteration `i` (steps 4 to 9 of the loop): draws the next batch, forms the loss with
    /// the schedules' coefficients, updates and projects. Returns the loss before the update.
    /// Iterations must come in order: the data stream and beta advance with each call.
    pub fn iteration(&mut self, i: u64) -> f32 {
        let batch = self.settings.batch_size;
        let (x, t, stride) = self.model.batch_mut();
        if stride == batch {
            // rows without padding: the data goes straight into the model
            self.data.next_batch(batch, x, t);
        } else {
            self.data.next_batch(batch, &mut self.x, &mut self.t);
            for (f, row) in self.x.chunks_exact(batch).enumerate() {
                self.model.input_mut(f).copy_from_slice(row);
            }
            self.model.target_mut(0).copy_from_slice(&self.t);
        }
        let coefficients = coefficients(&self.settings, &self.window, &mut self.beta, i);
        self.model.step(&coefficients)
    }

    /// The parameters became NaN.
    pub fn diverged(&self) -> bool {
        self.model.params().iter().any(|p| p.is_nan())
    }

    /// Scores the current parameters (step 3 of the loop).
    pub fn evaluate(&mut self, step: u64) -> Row {
        let params = self.model.params();
        let (valid_mse, test_mse) = self.evaluator.mse(params);
        Row {
            step,
            valid_mse,
            test_mse,
            sparsity: self.unit.sparsity(params),
        }
    }

    /// Trains for iterations 0..=max-iterations, calling `observe` at every logged row.
    pub fn train(mut self, observe: &mut dyn FnMut(&Progress)) -> RunRecord {
        let max_iterations = self.settings.max_iterations;
        let log_interval = self.settings.log_interval;
        let mut history = Vec::new();
        let mut snapshots: Vec<Vec<f32>> = Vec::new();
        let mut diverged = false;
        let mut updates = 0;
        let mut loss = f32::NAN;

        for i in 0..=max_iterations {
            if i.is_multiple_of(log_interval) {
                let row = self.evaluate(i);
                history.push(row);
                snapshots.push(self.model.params().to_vec());
                observe(&Progress {
                    row,
                    max_iterations,
                    loss,
                });
            }
            loss = self.iteration(i);
            updates += 1;
            if self.diverged() {
                diverged = true;
                break;
            }
        }

        let verdict = Verdict::of(&history, &self.threshold).expect("row 0 is always logged");
        let chosen = history
            .iter()
            .position(|r| *r == verdict.chosen)
            .expect("the chosen row is a row");
        let specs = self.unit.params();
        RunRecord {
            operands: self.data.subsets.iter().map(|s| [s.start, s.end]).collect(),
            train_seed: self.data.train_seed,
            threshold: self.threshold,
            history,
            diverged,
            updates,
            verdict,
            chosen_params: tensors(&specs, &snapshots[chosen]),
            final_params: tensors(&specs, self.model.params()),
            settings: self.settings,
        }
    }
}

/// The loss coefficients at iteration `i` (spec section 6), advancing beta. Each is lambda
/// times schedule value in f64, rounded to f32 when written to the tape.
fn coefficients(s: &Settings, window: &Window, beta: &mut Beta, i: u64) -> Coefficients {
    let s_w = window.at(i);
    let beta = beta.advance(i);
    let s_npu = match s.reg_scale_type {
        ScaleType::Heim => beta,
        ScaleType::Madsen => s_w,
    };
    let mut keys = RegKeys::default();
    keys.set(RegKey::W, Some(s.regualizer * s_w));
    keys.set(RegKey::G, Some(1.0));
    keys.set(RegKey::Z, Some(s.regualizer_z));
    keys.set(RegKey::WOob, Some(s.regualizer_oob));
    keys.set(RegKey::WNpu, Some(s.regualizer_npu_w * s_npu));
    keys.set(RegKey::GNpu, Some(s.regualizer_gate * s_npu));
    Coefficients {
        keys,
        lp: if s.regualizer_l1 { beta } else { 0.0 },
        pcc_weight: if i < s.pcc2mse_iteration { 1.0 } else { 0.0 },
    }
}

fn tensors(specs: &[ParamSpec], flat: &[f32]) -> Vec<Tensor> {
    let mut start = 0;
    specs
        .iter()
        .map(|p| {
            start += p.len;
            Tensor {
                name: p.name.to_string(),
                values: flat[start - p.len..start].to_vec(),
            }
        })
        .collect()
}
