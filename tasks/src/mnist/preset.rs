//! The schedules of the MNIST task: the paper's, and a quick one for a CPU.

use engine::Subnormals;

use super::run::Settings;

/// A named schedule; the head, fold and seed come from the run.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub samples_per_pair: usize,
    pub epochs: usize,
    pub eval_every: usize,
    pub regulariser_start: f64,
    pub regulariser_end: f64,
    pub select_last: usize,
}

/// The paper's schedule (spec sections 4 to 8): 1,000 samples per pair, epochs 0 to 1,000
/// each evaluated, the regulariser ramp over epochs 30 to 40, the best of the last 10.
pub const PAPER: Preset = Preset {
    name: "paper",
    about: "the paper's: 1000 samples per pair, epochs 0..1000, ramp 30-40, best of last 10",
    samples_per_pair: 1000,
    epochs: 1000,
    eval_every: 1,
    regulariser_start: 30.0,
    regulariser_end: 40.0,
    select_last: 10,
};

/// A schedule for one run in at most 15 minutes on 2 cores (about 11 here): a fifth of the
/// samples per pair and 30 epochs instead of 1,000, the ramp and the selection window shrunk
/// in proportion (the ramp from 3% to 4% of the epochs, the best of the last 1%, at least one
/// epoch).
pub const QUICK: Preset = Preset {
    name: "quick",
    about: "200 samples per pair, epochs 0..30, ramp 0.9-1.2, the last epoch (about 11 min)",
    samples_per_pair: 200,
    epochs: 30,
    eval_every: 1,
    regulariser_start: 0.9,
    regulariser_end: 1.2,
    select_last: 1,
};

pub const PRESETS: [Preset; 2] = [QUICK, PAPER];

impl Preset {
    pub fn by_name(name: &str) -> Option<Preset> {
        PRESETS.into_iter().find(|p| p.name == name)
    }

    /// The settings of a run of `head` on `fold` with `seed` under this schedule.
    pub fn settings(&self, head: &str, fold: usize, seed: u64) -> Settings {
        Settings {
            head: head.to_owned(),
            fold,
            seed,
            epochs: self.epochs,
            samples_per_pair: self.samples_per_pair,
            batch_size: 128,
            learning_rate: 1e-3,
            eval_every: self.eval_every,
            regulariser_start: self.regulariser_start,
            regulariser_end: self.regulariser_end,
            select_last: self.select_last,
            subnormals: Subnormals::Flush,
        }
    }
}
