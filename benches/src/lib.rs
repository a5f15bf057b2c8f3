//! Benchmarks of the engine and the training loop: `cargo bench -p benches`. Besides the
//! criterion benches, some print tables of fastest times over interleaved rounds (this
//! machine's speed drifts over minutes, so each figure is the best batch of many); the shared
//! pieces live here.

pub mod peak;
pub mod rounds;
