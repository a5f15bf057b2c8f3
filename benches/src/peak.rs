//! The machine's single-precision FMA peak on one core, measured rather than assumed: its
//! clock moves between runs, so every throughput figure is also printed as a share of the peak
//! measured in the same run.

use std::hint::black_box;
use std::time::Instant;

use wide::f32x8;

/// Independent multiply-add chains: more than latency (4) times FMA units (2), so the units
/// never wait.
const CHAINS: usize = 12;

/// GFLOP/s of one core doing nothing but independent 8-lane fused multiply-adds (the best of
/// `tries` runs of about 20 ms).
pub fn fma_peak_gflops(tries: usize) -> f64 {
    let iterations = 2_000_000;
    let (x, y) = (
        black_box(f32x8::splat(0.999_999)),
        black_box(f32x8::splat(1e-7)),
    );
    let mut best = f64::INFINITY;
    for _ in 0..tries {
        let mut acc = [f32x8::splat(1.0); CHAINS];
        let start = Instant::now();
        for _ in 0..iterations {
            for a in &mut acc {
                *a = a.mul_add(x, y);
            }
        }
        black_box(acc);
        best = best.min(start.elapsed().as_secs_f64());
    }
    (CHAINS * 8 * 2 * iterations) as f64 / best / 1e9
}
