//! One training run exactly as `modules/README.md` section 8 orders it, and its
//! record.

use modules::{Coefficients, ParamSpec, RegKey, RegKeys, Unit};
use rand_core::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::health::{GradientRow, NonFinite};
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
    /// A parameter stopped being finite (NaN or infinite) and the run stopped.
    pub diverged: bool,
    /// Updates performed.
    pub updates: u64,
    pub verdict: Verdict,
    /// Parameters at the chosen row.
    pub chosen_params: Vec<Tensor>,
    /// Parameters after the last update.
    pub final_params: Vec<Tensor>,
    /// One per history row: the gradients of the updates from that row to the next (the
    /// last: to the end of the run).
    #[serde(default)]
    pub gradient_health: Vec<GradientRow>,
    /// The first update whose gradient had a NaN or an infinity, and where it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_non_finite: Option<NonFinite>,
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
        Self::prepare_sharing(settings, None)
    }

    /// [`Run::prepare`] taking a copy of `data` when it is this run's, as drawn and not yet
    /// drawn from (the same task and seed): runs trained side by side then hold one copy of
    /// the evaluation sets, which keeps them in cache.
    pub fn prepare_sharing(settings: &Settings, data: Option<&TaskData>) -> Result<Run, RunError> {
        settings.validate()?;
        let unit = settings.unit()?;
        let spec = settings.task_spec();
        let data = match data {
            Some(data) if data.spec == spec && data.seed() == settings.seed => data.clone(),
            _ => TaskData::new(&spec, settings.seed).map_err(SettingsError::from)?,
        };
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
        // stream is not reproduced; distributions and bounds are, `modules/README.md` quirk Q7).
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

    /// The run's data as prepared (its training stream advances as it trains).
    pub fn data(&self) -> &TaskData {
        &self.data
    }

    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// Iteration `i` (steps 4 to 9 of the loop): draws the next batch, forms the loss with
    /// the schedules' coefficients, updates and projects. Returns the loss before the update.
    /// Iterations must come in order: the data stream and beta advance with each call.
    pub fn iteration(&mut self, i: u64) -> f32 {
        self.draw_batch();
        self.update(i)
    }

    /// Draws the next batch and times every node of one forward and backward pass on it at
    /// iteration `i`'s coefficients, without updating (see [`super::model::Model::profile`]).
    pub fn profile(&mut self, i: u64) -> Vec<(String, f64, f64)> {
        self.draw_batch();
        let coefficients = coefficients(&self.settings, &self.window, &mut self.beta, i);
        self.model.profile(&coefficients)
    }

    /// Draws the next training batch into the model's rows.
    fn draw_batch(&mut self) {
        let batch = self.settings.batch_size;
        let (x, t, stride) = self.model.batch_mut();
        if stride == batch {
            // rows without padding: the data goes straight into the model
            self.data.next_batch(batch, x, t);
        } else {
            self.data.next_batch(batch, &mut self.x, &mut self.t);
            self.load_rows();
        }
    }

    /// Copies a batch (feature-major inputs, targets) into the model's rows.
    fn load_batch(&mut self, x: &[f32], t: &[f32]) {
        let batch = self.settings.batch_size;
        let (rows, targets, stride) = self.model.batch_mut();
        if stride == batch {
            rows[..x.len()].copy_from_slice(x);
            targets[..batch].copy_from_slice(t);
        } else {
            self.x.copy_from_slice(x);
            self.t.copy_from_slice(t);
            self.load_rows();
        }
    }

    fn load_rows(&mut self) {
        let batch = self.settings.batch_size;
        for (f, row) in self.x.chunks_exact(batch).enumerate() {
            self.model.input_mut(f).copy_from_slice(row);
        }
        self.model.target_mut(0).copy_from_slice(&self.t);
    }

    /// Steps 5 to 9 on the batch in the model's rows.
    fn update(&mut self, i: u64) -> f32 {
        let coefficients = coefficients(&self.settings, &self.window, &mut self.beta, i);
        self.model.step(&coefficients)
    }

    /// What decides the training batches: runs that agree on it draw identical batches.
    pub fn data_key(&self) -> String {
        data_key(&self.settings)
    }

    /// A parameter stopped being a finite number (NaN or infinite): training cannot recover.
    pub fn diverged(&self) -> bool {
        self.model.params().iter().any(|p| !p.is_finite())
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
            gate_sparsity: self.unit.gate_sparsity(params),
        }
    }

    /// Trains for iterations 0..=max-iterations, calling `observe` at every logged row.
    pub fn train(self, observe: &mut dyn FnMut(&Progress)) -> RunRecord {
        self.trained(observe).finish()
    }

    /// Trains as [`Run::train`] does and also returns the parameters at every logged row,
    /// with the row's step: the run's path through parameter space.
    pub fn train_with_trajectory(
        self,
        observe: &mut dyn FnMut(&Progress),
    ) -> (RunRecord, Vec<(u64, Vec<f32>)>) {
        let training = self.trained(observe);
        let path = training
            .history
            .iter()
            .map(|r| r.step)
            .zip(training.snapshots.iter().cloned())
            .collect();
        (training.finish(), path)
    }

    /// Iterations 0..=max-iterations (or until divergence), logging as it goes.
    fn trained(self, observe: &mut dyn FnMut(&Progress)) -> Training {
        let mut training = Training::new(self);
        let mut i = 0;
        while !training.done {
            training.log(i, observe);
            training.run.draw_batch();
            training.update(i);
            i += 1;
        }
        training
    }
}

/// The settings that decide a run's training batches: the task, the seed and the batch size.
pub fn data_key(s: &Settings) -> String {
    format!("{:?} seed {} batch {}", s.task_spec(), s.seed, s.batch_size)
}

/// The settings that decide a run's whole training: all of them but the preset's name, a
/// label. Runs that agree on it give the same record bit for bit (training is
/// deterministic), up to that label: one training serves them all
/// ([`RunRecord::relabelled`]).
pub fn training_key(s: &Settings) -> String {
    let unlabelled = Settings {
        preset: None,
        ..s.clone()
    };
    format!("{unlabelled:?}")
}

impl RunRecord {
    /// This record as a run with the same [`training_key`] but `settings`' preset name
    /// records it: its settings, and the replay command, which names the preset.
    pub fn relabelled(mut self, settings: &Settings) -> RunRecord {
        debug_assert_eq!(training_key(settings), training_key(&self.settings));
        if let Some(first) = &mut self.first_non_finite {
            first.relabel(settings);
        }
        self.settings = settings.clone();
        self
    }
}

/// A run in progress and what it has recorded so far.
struct Training {
    run: Run,
    history: Vec<Row>,
    gradient_health: Vec<GradientRow>,
    snapshots: Vec<Vec<f32>>,
    diverged: bool,
    updates: u64,
    loss: f32,
    /// Diverged, or the last iteration is done.
    done: bool,
}

impl Training {
    fn new(run: Run) -> Training {
        Training {
            run,
            history: Vec::new(),
            gradient_health: Vec::new(),
            snapshots: Vec::new(),
            diverged: false,
            updates: 0,
            loss: f32::NAN,
            done: false,
        }
    }

    /// Step 3 of iteration `i`: scores and records the parameters when a row is due.
    fn log(&mut self, i: u64, observe: &mut dyn FnMut(&Progress)) {
        if i.is_multiple_of(self.run.settings.log_interval) {
            if !self.history.is_empty() {
                self.gradient_health
                    .push(self.run.model.health.take().into());
            }
            let row = self.run.evaluate(i);
            self.history.push(row);
            self.snapshots.push(self.run.model.params().to_vec());
            observe(&Progress {
                row,
                max_iterations: self.run.settings.max_iterations,
                loss: self.loss,
            });
        }
    }

    /// The update of iteration `i` on the batch in the model's rows; the run is done after
    /// its last iteration or when a parameter stops being finite.
    fn update(&mut self, i: u64) {
        self.loss = self.run.update(i);
        self.updates += 1;
        if self.run.diverged() {
            self.diverged = true;
            self.done = true;
        } else if i >= self.run.settings.max_iterations {
            self.done = true;
        }
    }

    fn finish(self) -> RunRecord {
        let Training {
            mut run,
            history,
            mut gradient_health,
            snapshots,
            diverged,
            updates,
            ..
        } = self;
        gradient_health.push(run.model.health.take().into());
        let first_non_finite = run
            .model
            .first_non_finite
            .as_ref()
            .map(|d| NonFinite::new(d, &run.settings));
        let verdict = Verdict::of(&history, &run.threshold).expect("row 0 is always logged");
        let chosen = history
            .iter()
            .position(|r| r.step == verdict.chosen.step)
            .expect("the chosen row is a row");
        let specs = run.unit.params();
        RunRecord {
            operands: run.data.subsets.iter().map(|s| [s.start, s.end]).collect(),
            train_seed: run.data.train_seed,
            threshold: run.threshold,
            history,
            diverged,
            updates,
            verdict,
            chosen_params: tensors(&specs, &snapshots[chosen]),
            final_params: tensors(&specs, run.model.params()),
            gradient_health,
            first_non_finite,
            settings: run.settings,
        }
    }
}

/// Trains runs that draw the same batches (equal [`data_key`]s) side by side: each batch
/// is drawn once and copied into every model still training. Every record equals the one
/// the run makes alone; drawing the data is a large share of an iteration, so a sweep's
/// models on one (setting, seed) train in a fraction of the time.
///
/// The batches are drawn [`BATCHES_AHEAD`] at a time and each model then takes all of them
/// in turn, so that its buffers stay in cache for that many iterations.
///
/// # Panics
/// If the runs draw different batches.
pub fn train_together(runs: Vec<Run>) -> Vec<RunRecord> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    assert!(
        runs.iter().all(|r| r.data_key() == first.data_key()),
        "runs trained together must draw the same batches"
    );
    let mut data = first.data.clone();
    let batch = first.settings.batch_size;
    let inputs = batch * first.settings.input_size;
    let (mut x, mut t) = (
        vec![0.0; BATCHES_AHEAD * inputs],
        vec![0.0; BATCHES_AHEAD * batch],
    );
    let mut members: Vec<Training> = runs.into_iter().map(Training::new).collect();
    let mut start = 0;
    while members.iter().any(|m| !m.done) {
        for (x, t) in x.chunks_exact_mut(inputs).zip(t.chunks_exact_mut(batch)) {
            data.next_batch(batch, x, t);
        }
        for m in &mut members {
            let batches = x.chunks_exact(inputs).zip(t.chunks_exact(batch));
            for (i, (x, t)) in (start..).zip(batches) {
                if m.done {
                    break;
                }
                m.log(i, &mut |_| {});
                m.run.load_batch(x, t);
                m.update(i);
            }
        }
        start += BATCHES_AHEAD as u64;
    }
    members.into_iter().map(Training::finish).collect()
}

/// How many batches [`train_together`] draws ahead.
pub const BATCHES_AHEAD: usize = 32;

/// The loss coefficients of iteration `i` of a run with settings `s`, beta moved through
/// every step up to `i` as training moves it.
pub fn coefficients_at(s: &Settings, i: u64) -> Coefficients {
    let mut beta = Beta::new(s.beta());
    let step = s.regualizer_beta_step;
    let mut moved = step;
    while moved < i {
        beta.advance(moved);
        moved += step;
    }
    coefficients(s, &s.window(), &mut beta, i)
}

/// The loss coefficients at iteration `i` (`modules/README.md` section 6), advancing beta. Each is lambda
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::preset::Preset;

    #[test]
    fn coefficients_at_an_iteration_are_those_the_loop_reaches() {
        // the Real NPU baseline's beta grows tenfold every 10,000 iterations
        let mut s = Preset::by_name("realnpu-baseline")
            .unwrap()
            .settings(Some(2));
        s.regualizer_beta_step = 7;
        let (window, mut beta) = (s.window(), Beta::new(s.beta()));
        for i in 0..200 {
            let walked = coefficients(&s, &window, &mut beta, i);
            assert_eq!(coefficients_at(&s, i), walked, "iteration {i}");
        }
    }
}
