//! The schedules of the MNIST task: the paper's, and a quick one for a CPU.

use engine::Subnormals;

use super::run::{Conv, Loss, Settings};

/// A named schedule; the head, fold and seed come from the run.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    /// Why its numbers are what they are (for `--help`).
    pub why: &'static str,
    pub samples_per_pair: usize,
    pub epochs: usize,
    pub eval_every: usize,
    pub regulariser_start: f64,
    pub regulariser_end: f64,
    pub select_last: usize,
}

/// The paper's schedule (`tasks/docs/mnist-task.md` sections 4 to 8): 1,000 samples per pair, epochs 0 to 1,000
/// each evaluated, the regulariser ramp over epochs 30 to 40, the best of the last 10.
pub const PAPER: Preset = Preset {
    name: "paper",
    about: "the paper's: 1000 samples per pair, epochs 0..1000, ramp 30-40, best of last 10",
    why: "the reference's own runs; about 11 hours a run on 2 cores",
    samples_per_pair: 1000,
    epochs: 1000,
    eval_every: 1,
    regulariser_start: 30.0,
    regulariser_end: 40.0,
    select_last: 10,
};

/// A schedule for one run in about ten minutes on 2 cores: a fifth of the samples per pair and
/// 30 epochs instead of 1,000. The ramp starts once the encoder has learned the digits and the
/// module heads have chosen their solution, as the paper's 30 epochs before it allow: on fold
/// 0 (seed 0, no regulariser before epoch 20) the DIV head's encoder read 88% of the held-out
/// digits by epoch 7, and the Real NPU and the NRU had settled on the mirror solution, W near
/// (-1, 1), by epoch 12. The best of the last 3 epochs smooths the chosen epoch's noise.
pub const QUICK: Preset = Preset {
    name: "quick",
    about: "200 samples per pair, epochs 0..30, ramp 10-15, best of the last 3 (about 10 min \
            on 2 cores)",
    why: "the ramp starts once the encoder reads the digits (88% of the held-out digits by \
          epoch 7 under the DIV head on fold 0) and the module heads have settled on their \
          solution (by epoch 12), as the paper's 30 epochs before its ramp allow",
    samples_per_pair: 200,
    epochs: 30,
    eval_every: 1,
    regulariser_start: 10.0,
    regulariser_end: 15.0,
    select_last: 3,
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
            loss: Loss::Paper,
            conv: Conv::DEFAULT,
        }
    }
}
