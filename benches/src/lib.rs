//! Criterion benchmarks of the engine and the training loop: `cargo bench -p benches`.
