//! Benchmarks of the engine and the training loop: `cargo bench -p benches`. Besides the
//! criterion benches, some print tables of fastest times over interleaved rounds (this
//! machine's speed drifts over minutes, so each figure is the best batch of many); the shared
//! pieces live here.

pub mod peak;
pub mod rounds;

/// A rayon pool of `threads` threads (the engine splits its large steps between the threads
/// of the pool it runs in).
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}
