//! One run of the MNIST task (`tasks/docs/mnist-task.md` sections 6 to 8): a head on the shared encoder, trained on
//! one fold's quotients for epochs 0, 1, ..., E, evaluated at the start of every epoch (or every
//! few) on the whole training and test sets, and the epoch the paper reports chosen among the
//! last logged ones.

use std::ops::ControlFlow;
use std::sync::Arc;

use engine::optim::{Adam, Optimizer, clip_grad_norm};
use engine::{ConvMethod, Grads, Program, Subnormals, Values, backward, forward};
use rand_core::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::dataset::{FoldData, Sample, normalised_bytes, shuffle, write_pairs};
use super::evaluation::Evaluator;
use super::idx::{Mnist, Split};
use super::metrics::Metrics;
use super::network::{Head, Network};

/// Everything that defines a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredSettings", into = "StoredSettings")]
pub struct Settings {
    pub head: String,
    pub fold: usize,
    pub seed: u64,
    /// Epochs 0..=epochs are evaluated (when due) and all but the last trained.
    pub epochs: usize,
    pub samples_per_pair: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Evaluate every this many epochs (and at the last one).
    pub eval_every: usize,
    /// The regulariser ramp: 0 up to this epoch, 1 from `regulariser_end` on.
    pub regulariser_start: f64,
    pub regulariser_end: f64,
    /// The reported epoch is the best of this many last logged epochs.
    pub select_last: usize,
    /// Whether results below the normal f32 range are flushed to zero on the run's threads.
    pub subnormals: Subnormals,
    /// The loss the run trains with.
    pub loss: Loss,
    /// How the encoder's second convolution is computed.
    pub conv: Conv,
}

/// How the encoder's second convolution is computed: the same function, different rounding
/// and speed (`engine::ConvMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conv {
    /// Matrix products of the weights and the patches.
    Direct,
    /// Winograd's F(4x4, 3x3): about a quarter of the multiplications.
    Winograd,
}

impl Conv {
    /// A run's method unless told otherwise: the fast one, validated against the direct one
    /// (`tasks/docs/mnist-task.md` section 13).
    pub const DEFAULT: Conv = Conv::Winograd;

    /// The method's name on the command line (`--conv`).
    pub const fn flag(self) -> &'static str {
        match self {
            Conv::Direct => "direct",
            Conv::Winograd => "fast",
        }
    }

    pub fn method(self) -> ConvMethod {
        match self {
            Conv::Direct => ConvMethod::Direct,
            Conv::Winograd => ConvMethod::Winograd,
        }
    }
}

/// The loss of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// The paper's: the MSE plus the head's terms of [`Head::loss_terms`].
    Paper,
    /// The MSE plus every regulariser the head's unit declares, each times 2 s(epoch): the
    /// single-module study's z and out-of-bounds penalties too. Records made before the
    /// paper's loss say so; no run trains with it any more.
    UnitRegularisers,
}

/// [`Settings`] as records and checkpoints hold them. `subnormals` and `loss` came together, so
/// a record without them was made before either: it kept subnormals and added every
/// regulariser of its unit; a record without `conv` computed its convolutions directly. (All
/// three are written as present, so that bincode reads back what it wrote.)
#[derive(Serialize, Deserialize)]
struct StoredSettings {
    head: String,
    fold: usize,
    seed: u64,
    epochs: usize,
    samples_per_pair: usize,
    batch_size: usize,
    learning_rate: f64,
    eval_every: usize,
    regulariser_start: f64,
    regulariser_end: f64,
    select_last: usize,
    #[serde(default)]
    subnormals: Option<SubnormalsName>,
    #[serde(default)]
    loss: Option<Loss>,
    #[serde(default)]
    conv: Option<Conv>,
}

/// [`StoredSettings`] as checkpoint formats 2 and 3 hold them, before `conv` (bincode reads
/// fields by position, so the older layout needs its own type).
#[derive(Deserialize)]
struct StoredSettingsBefore4 {
    head: String,
    fold: usize,
    seed: u64,
    epochs: usize,
    samples_per_pair: usize,
    batch_size: usize,
    learning_rate: f64,
    eval_every: usize,
    regulariser_start: f64,
    regulariser_end: f64,
    select_last: usize,
    subnormals: Option<SubnormalsName>,
    loss: Option<Loss>,
}

impl From<StoredSettingsBefore4> for StoredSettings {
    fn from(s: StoredSettingsBefore4) -> StoredSettings {
        StoredSettings {
            head: s.head,
            fold: s.fold,
            seed: s.seed,
            epochs: s.epochs,
            samples_per_pair: s.samples_per_pair,
            batch_size: s.batch_size,
            learning_rate: s.learning_rate,
            eval_every: s.eval_every,
            regulariser_start: s.regulariser_start,
            regulariser_end: s.regulariser_end,
            select_last: s.select_last,
            subnormals: s.subnormals,
            loss: s.loss,
            conv: None,
        }
    }
}

/// [`Subnormals`] in records: "keep" or "flush".
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SubnormalsName {
    Keep,
    Flush,
}

impl From<StoredSettings> for Settings {
    fn from(s: StoredSettings) -> Settings {
        let before = s.subnormals.is_none();
        Settings {
            head: s.head,
            fold: s.fold,
            seed: s.seed,
            epochs: s.epochs,
            samples_per_pair: s.samples_per_pair,
            batch_size: s.batch_size,
            learning_rate: s.learning_rate,
            eval_every: s.eval_every,
            regulariser_start: s.regulariser_start,
            regulariser_end: s.regulariser_end,
            select_last: s.select_last,
            subnormals: match s.subnormals {
                Some(SubnormalsName::Flush) => Subnormals::Flush,
                Some(SubnormalsName::Keep) | None => Subnormals::Keep,
            },
            loss: s.loss.unwrap_or(if before {
                Loss::UnitRegularisers
            } else {
                Loss::Paper
            }),
            conv: s.conv.unwrap_or(Conv::Direct),
        }
    }
}

impl From<Settings> for StoredSettings {
    fn from(s: Settings) -> StoredSettings {
        StoredSettings {
            head: s.head,
            fold: s.fold,
            seed: s.seed,
            epochs: s.epochs,
            samples_per_pair: s.samples_per_pair,
            batch_size: s.batch_size,
            learning_rate: s.learning_rate,
            eval_every: s.eval_every,
            regulariser_start: s.regulariser_start,
            regulariser_end: s.regulariser_end,
            select_last: s.select_last,
            subnormals: Some(match s.subnormals {
                Subnormals::Flush => SubnormalsName::Flush,
                Subnormals::Keep => SubnormalsName::Keep,
            }),
            loss: Some(s.loss),
            conv: Some(s.conv),
        }
    }
}

impl Settings {
    /// The head these settings name.
    pub fn head(&self) -> Option<Head> {
        Head::by_name(&self.head)
    }

    /// The regulariser ramp s(epoch) (`tasks/docs/mnist-task.md` section 5.2), constant within an epoch.
    pub fn ramp(&self, epoch: usize) -> f32 {
        let (start, end) = (self.regulariser_start, self.regulariser_end);
        if end <= start {
            return if (epoch as f64) >= end { 1.0 } else { 0.0 };
        }
        ((epoch as f64 - start) / (end - start)).clamp(0.0, 1.0) as f32
    }
}

/// One logged epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub train: Metrics,
    pub test: Metrics,
    /// Mean training loss over the previous training pass (NaN before any).
    #[serde(with = "crate::evaluate::float")]
    pub loss: f64,
    /// The parameters of an arithmetic unit head at this epoch (empty for the DIV and MLP
    /// heads, and in records made before they were logged).
    #[serde(default, with = "crate::evaluate::float::list")]
    pub head: Vec<f32>,
    pub seconds: f64,
}

/// A finished (or stopped) run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub settings: Settings,
    pub history: Vec<EpochRow>,
    /// The history row the paper reports (None when no row was logged or the run failed).
    pub chosen: Option<usize>,
    /// The head's parameters went NaN: the run stopped and counts as failed.
    pub failed: bool,
    #[serde(with = "crate::evaluate::float::list")]
    pub head_params: Vec<f32>,
    pub seconds: f64,
}

impl Record {
    /// This record with every timing zeroed (timings differ between any two runs).
    pub fn untimed(&self) -> Record {
        let mut record = self.clone();
        record.seconds = 0.0;
        for row in &mut record.history {
            row.seconds = 0.0;
        }
        record
    }
}

impl crate::results::StoredRecord for Record {
    fn same_results(&self, other: &Self) -> bool {
        serde_json::to_value(self.untimed()).ok() == serde_json::to_value(other.untimed()).ok()
    }
}

/// The row among the last `last` logged epochs with the highest training 5 d.p. output
/// accuracy, the first one on ties (`tasks/docs/mnist-task.md` section 8).
pub fn choose(history: &[EpochRow], last: usize) -> Option<usize> {
    let from = history.len().saturating_sub(last.max(1));
    let mut best: Option<usize> = None;
    for i in from..history.len() {
        let better = match best {
            None => true,
            Some(b) => history[i].train.output_5dp_accuracy > history[b].train.output_5dp_accuracy,
        };
        if better {
            best = Some(i);
        }
    }
    best
}

/// What a run reports as it goes.
pub enum Progress<'a> {
    /// A training batch done: (batches done, batches in all).
    Batch(usize, usize),
    /// An epoch evaluated.
    Logged(&'a EpochRow),
}

/// The network's buffers for one batch size.
struct Buffers {
    values: Values,
    grads: Grads,
}

impl Buffers {
    fn new(program: &Arc<Program>) -> Buffers {
        Buffers {
            values: Values::new(program),
            grads: Grads::new(program),
        }
    }
}

/// Everything a run carries from one epoch to the next: what a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub settings: Settings,
    /// The next epoch to evaluate (when due) and then train.
    pub epoch: usize,
    pub params: Vec<f32>,
    pub adam: AdamState,
    pub history: Vec<EpochRow>,
    /// The mean loss of the last training pass (NaN before the first).
    pub loss: f64,
    pub failed: bool,
    /// Seconds spent so far.
    pub seconds: f64,
}

/// [`State`] as checkpoint formats 2 and 3 hold it (see [`StoredSettingsBefore4`]).
#[derive(Deserialize)]
pub(super) struct StateBefore4 {
    settings: StoredSettingsBefore4,
    epoch: usize,
    params: Vec<f32>,
    adam: AdamState,
    history: Vec<EpochRow>,
    loss: f64,
    failed: bool,
    seconds: f64,
}

impl From<StateBefore4> for State {
    fn from(s: StateBefore4) -> State {
        State {
            settings: StoredSettings::from(s.settings).into(),
            epoch: s.epoch,
            params: s.params,
            adam: s.adam,
            history: s.history,
            loss: s.loss,
            failed: s.failed,
            seconds: s.seconds,
        }
    }
}

/// Adam's state between steps (see `engine::optim::Adam::state`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    pub steps: u64,
    pub beta1_power: f64,
    pub beta2_power: f64,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl State {
    /// The state before epoch 0: initial parameters, a fresh optimiser.
    pub fn new(settings: &Settings) -> State {
        let head = settings.head().expect("a known head");
        let network = Network::with_conv(head, settings.conv.method());
        let mut rng = Pcg64Mcg::seed_from_u64(stream(settings.seed, INIT));
        let mut params = vec![0.0; network.train.param_len()];
        network.init(&mut params, &mut rng);
        let len = params.len();
        State {
            settings: settings.clone(),
            epoch: 0,
            params,
            adam: AdamState {
                steps: 0,
                beta1_power: 1.0,
                beta2_power: 1.0,
                m: vec![0.0; len],
                v: vec![0.0; len],
            },
            history: Vec::new(),
            loss: f64::NAN,
            failed: false,
            seconds: 0.0,
        }
    }

    /// Whether the run has nothing left to do.
    pub fn finished(&self) -> bool {
        self.failed || self.epoch > self.settings.epochs
    }

    /// The run's record as it stands.
    pub fn record(&self) -> Record {
        let head = self.settings.head().expect("a known head");
        let span = Network::new(head).head_span;
        Record {
            settings: self.settings.clone(),
            history: self.history.clone(),
            chosen: if self.failed {
                None
            } else {
                choose(&self.history, self.settings.select_last)
            },
            failed: self.failed,
            head_params: self.params[span].to_vec(),
            seconds: self.seconds,
        }
    }
}

/// The streams of a run's randomness, each a function of the seed alone (and of the epoch
/// for the shuffles), so that a run resumed from a checkpoint draws what it would have.
const INIT: u64 = 1;
const SHUFFLE: u64 = 2;

fn stream(seed: u64, which: u64) -> u64 {
    let mut x = seed ^ which.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Trains one run from its start. `progress` hears of every batch and every logged epoch.
///
/// # Panics
/// If the settings name no head or have a zero batch size.
pub fn train(
    settings: &Settings,
    mnist: &Mnist,
    progress: impl FnMut(Progress<'_>) + Send,
) -> Record {
    let mut state = State::new(settings);
    resume(&mut state, mnist, progress, |_| ControlFlow::Continue(()));
    state.record()
}

/// Trains on from `state` to the end of the run, calling `after_epoch` with the state after
/// every training pass but the last (to checkpoint it); `ControlFlow::Break` from it stops
/// the run there, to be resumed later.
///
/// The run goes on threads of its own, as many as the current rayon pool has, which start in
/// the settings' subnormal mode.
///
/// # Panics
/// If the settings name a loss other than the paper's, or the threads cannot start.
pub fn resume(
    state: &mut State,
    mnist: &Mnist,
    progress: impl FnMut(Progress<'_>) + Send,
    after_epoch: impl FnMut(&State) -> ControlFlow<()> + Send,
) {
    assert_eq!(
        state.settings.loss,
        Loss::Paper,
        "runs train with the paper's loss only"
    );
    let pool = state
        .settings
        .subnormals
        .thread_pool(rayon::current_num_threads())
        .expect("the run's threads");
    pool.install(|| resume_on_this_pool(state, mnist, progress, after_epoch));
}

fn resume_on_this_pool(
    state: &mut State,
    mnist: &Mnist,
    mut progress: impl FnMut(Progress<'_>),
    mut after_epoch: impl FnMut(&State) -> ControlFlow<()>,
) {
    let settings = state.settings.clone();
    let head = settings.head().expect("a known head");
    let network = Network::with_conv(head, settings.conv.method());
    let data = FoldData::build(
        mnist,
        settings.fold,
        settings.seed,
        settings.samples_per_pair,
    );
    let batch = settings.batch_size;
    let mut full = Buffers::new(&Program::new(&network.train, batch));
    let tail = data.train.len() % batch;
    let mut partial = (tail > 0).then(|| Buffers::new(&Program::new(&network.train, tail)));
    let mut evaluator = Evaluator::new(&network, data.train.len().max(data.test.len()));
    let mut adam = Adam::new(state.params.len(), settings.learning_rate);
    let decay = head.weight_decay();
    if decay != 0.0 {
        adam = adam.with_weight_decay(network.head_span.clone(), decay);
    }
    let a = &state.adam;
    adam.restore(a.steps, a.beta1_power, a.beta2_power, &a.m, &a.v);
    let tensors: Vec<_> = network
        .train
        .params()
        .iter()
        .map(|p| p.range.clone())
        .collect();
    let table = normalised_bytes();
    let batches_per_epoch = data.train.len().div_ceil(batch);
    let total_batches = batches_per_epoch * settings.epochs;
    while !state.finished() {
        let started = std::time::Instant::now();
        let epoch = state.epoch;
        if epoch.is_multiple_of(settings.eval_every.max(1)) || epoch == settings.epochs {
            let evaluated = std::time::Instant::now();
            let params = &state.params;
            let row = EpochRow {
                epoch,
                train: evaluator.evaluate(params, &mnist.train, &data.train, &table),
                test: evaluator.evaluate(params, &mnist.test, &data.test, &table),
                loss: state.loss,
                head: if head.unit().is_some() {
                    params[network.head_span.clone()].to_vec()
                } else {
                    Vec::new()
                },
                seconds: evaluated.elapsed().as_secs_f64(),
            };
            progress(Progress::Logged(&row));
            state.history.push(row);
        }
        if epoch < settings.epochs {
            let ramp = settings.ramp(epoch);
            let mut order = data.train.clone();
            let mut rng = Pcg64Mcg::seed_from_u64(stream(settings.seed, SHUFFLE) ^ epoch as u64);
            shuffle(&mut order, &mut rng);
            let mut loss_sum = 0.0;
            for (b, samples) in order.chunks(batch).enumerate() {
                let buffers = if samples.len() == batch {
                    &mut full
                } else {
                    partial.as_mut().expect("a buffer for the last batch")
                };
                let step = (epoch * batches_per_epoch + b) as u64;
                let loss = train_step(
                    &network,
                    buffers,
                    &mut state.params,
                    &mut adam,
                    &tensors,
                    samples,
                    &mnist.train,
                    &table,
                    ramp,
                    settings.seed << 32 ^ step,
                );
                loss_sum += f64::from(loss);
                progress(Progress::Batch(
                    epoch * batches_per_epoch + b + 1,
                    total_batches,
                ));
                if state.params[network.head_span.clone()]
                    .iter()
                    .any(|p| p.is_nan())
                {
                    state.failed = true;
                    break;
                }
            }
            state.loss = loss_sum / batches_per_epoch as f64;
            let (steps, beta1_power, beta2_power, m, v) = adam.state();
            state.adam = AdamState {
                steps,
                beta1_power,
                beta2_power,
                m: m.to_vec(),
                v: v.to_vec(),
            };
        }
        state.epoch += 1;
        state.seconds += started.elapsed().as_secs_f64();
        if !state.finished() && after_epoch(state).is_break() {
            return;
        }
    }
}

/// One optimiser step on `samples`: forward, backward, clipping (NRU), Adam, the head's
/// clamps. Returns the loss before the step.
#[allow(clippy::too_many_arguments)]
fn train_step(
    network: &Network,
    buffers: &mut Buffers,
    params: &mut [f32],
    adam: &mut Adam,
    tensors: &[std::ops::Range<usize>],
    samples: &[Sample],
    split: &Split,
    table: &[f32; 256],
    ramp: f32,
    noise_seed: u64,
) -> f32 {
    let nodes = &network.train_nodes;
    let Buffers { values, grads } = buffers;
    let (rows, stride) = values.node_mut(nodes.pair);
    write_pairs(split, samples, table, rows, stride);
    for (t, s) in values.feature_mut(nodes.target, 0).iter_mut().zip(samples) {
        *t = s.pair.target();
    }
    values.flat_mut(network.ramp)[0] = ramp;
    values.set_noise_seed(noise_seed);
    forward(params, values);
    backward(params, values, grads);
    if network.head.clips() {
        clip_grad_norm(grads.params_mut(), tensors, 1.0);
    }
    adam.step(params, grads.params());
    network.head.project(&mut params[network.head_span.clone()]);
    values.scalar(network.train.output())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, train_5dp: f64) -> EpochRow {
        EpochRow {
            epoch,
            train: Metrics {
                output_5dp_accuracy: train_5dp,
                ..Metrics::default()
            },
            test: Metrics::default(),
            loss: 0.0,
            head: Vec::new(),
            seconds: 0.0,
        }
    }

    #[test]
    fn the_chosen_epoch_is_the_first_best_of_the_last_ones() {
        let history: Vec<EpochRow> = [10.0, 90.0, 40.0, 70.0, 70.0, 60.0]
            .iter()
            .enumerate()
            .map(|(e, &v)| row(e, v))
            .collect();
        // the last 4: 40, 70, 70, 60 -> the first 70 (row 3), not the earlier 90
        assert_eq!(choose(&history, 4), Some(3));
        assert_eq!(choose(&history, 10), Some(1));
        assert_eq!(choose(&history, 1), Some(5));
        assert_eq!(choose(&[], 10), None);
    }

    #[test]
    fn a_record_without_a_convolution_method_computed_it_directly() {
        let settings = crate::mnist::preset::Preset::by_name("quick")
            .expect("a preset")
            .settings("div", 0, 0);
        let mut json = serde_json::to_value(&settings).expect("settings as JSON");
        // the presets compute it by Winograd now
        assert_eq!(json["conv"], "winograd");
        json.as_object_mut().expect("an object").remove("conv");
        let read: Settings = serde_json::from_value(json.clone()).expect("older settings");
        assert_eq!(read.conv, Conv::Direct);
        assert_eq!(read.conv.method(), ConvMethod::Direct);
        json["conv"] = "winograd".into();
        let read: Settings = serde_json::from_value(json).expect("settings");
        assert_eq!(read.conv, Conv::Winograd);
        assert_eq!(read.conv.method(), ConvMethod::Winograd);
    }

    #[test]
    fn the_ramp_is_the_spec_schedule() {
        // `tasks/docs/mnist-task.md` section 10: epochs 0, 30, 31, 35, 40, 41, 1000 -> 0, 0, 0.1, 0.5, 1, 1, 1
        let settings = Settings {
            head: "nru".into(),
            fold: 0,
            seed: 0,
            epochs: 1000,
            samples_per_pair: 1000,
            batch_size: 128,
            learning_rate: 1e-3,
            eval_every: 1,
            regulariser_start: 30.0,
            regulariser_end: 40.0,
            select_last: 10,
            subnormals: Subnormals::Flush,
            loss: Loss::Paper,
            conv: Conv::Direct,
        };
        let got: Vec<f32> = [0, 30, 31, 35, 40, 41, 1000]
            .iter()
            .map(|&e| settings.ramp(e))
            .collect();
        assert_eq!(got, [0.0, 0.0, 0.1, 0.5, 1.0, 1.0, 1.0]);
    }
}
