//! Fastest times over interleaved rounds: every contender runs once per round, so a slow
//! phase of the machine falls on all of them alike, and each keeps its fastest run.

use std::time::Instant;

/// One contender: a label and the work of `n` runs (one call does them all, so that setting
/// up, such as entering a thread pool, is paid once per timing).
pub struct Contender<'a> {
    pub label: String,
    pub run: Box<dyn FnMut(usize) + 'a>,
    /// Repetitions per timed run (so that a run lasts long enough to time).
    pub repeat: usize,
    best: f64,
}

impl<'a> Contender<'a> {
    pub fn new(label: impl Into<String>, run: impl FnMut(usize) + 'a) -> Self {
        Contender {
            label: label.into(),
            run: Box::new(run),
            repeat: 1,
            best: f64::INFINITY,
        }
    }

    /// Seconds of the fastest run, per repetition.
    pub fn best(&self) -> f64 {
        self.best
    }
}

/// Sets each contender's repetitions so that a timed run lasts at least `min_seconds`, then
/// runs `rounds` rounds.
pub fn race(contenders: &mut [Contender<'_>], rounds: usize, min_seconds: f64) {
    for c in contenders.iter_mut() {
        let start = Instant::now();
        (c.run)(1);
        let once = start.elapsed().as_secs_f64().max(1e-9);
        c.repeat = ((min_seconds / once).ceil() as usize).max(1);
    }
    for _ in 0..rounds {
        for c in contenders.iter_mut() {
            let start = Instant::now();
            (c.run)(c.repeat);
            let seconds = start.elapsed().as_secs_f64() / c.repeat as f64;
            c.best = c.best.min(seconds);
        }
    }
}
