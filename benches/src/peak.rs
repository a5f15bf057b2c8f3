//! The machine's single-precision FMA peak on one core, measured rather than assumed: its
//! clock moves between runs, so every throughput figure is also printed as a share of the peak
//! measured in the same run. The peak is measured at every width the CPU offers: a share of
//! the 8-lane peak on a CPU with 16-lane FMAs would overstate how much of the core is used.

use std::hint::black_box;
use std::time::Instant;

use engine::simd::{self, Path};
use wide::f32x8;

/// Independent multiply-add chains: more than latency (4) times FMA units (2), so the units
/// never wait.
const CHAINS: usize = 12;
/// Multiply-adds per chain in one timed run (about 20 ms).
const ITERATIONS: usize = 2_000_000;

/// GFLOP/s of `flops` in the best of `tries` runs of `run`.
fn best_gflops(tries: usize, flops: usize, mut run: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..tries {
        let start = Instant::now();
        run();
        best = best.min(start.elapsed().as_secs_f64());
    }
    flops as f64 / best / 1e9
}

/// GFLOP/s of one core doing nothing but independent 8-lane fused multiply-adds (the best of
/// `tries` runs of about 20 ms).
pub fn fma_peak_gflops(tries: usize) -> f64 {
    let (x, y) = (
        black_box(f32x8::splat(0.999_999)),
        black_box(f32x8::splat(1e-7)),
    );
    best_gflops(tries, CHAINS * 8 * 2 * ITERATIONS, || {
        let mut acc = [f32x8::splat(1.0); CHAINS];
        for _ in 0..ITERATIONS {
            for a in &mut acc {
                *a = a.mul_add(x, y);
            }
        }
        black_box(acc);
    })
}

/// 16-lane AVX-512 fused multiply-adds, as [`fma_peak_gflops`] does 8-lane ones.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma16_run() {
    use std::arch::x86_64::{_mm512_fmadd_ps, _mm512_set1_ps};
    let (x, y) = (
        black_box(_mm512_set1_ps(0.999_999)),
        black_box(_mm512_set1_ps(1e-7)),
    );
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..ITERATIONS {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    black_box(acc);
}

/// The one-core FMA peaks of this run: of the width this build computes with, and of the
/// widest the CPU offers where that is wider.
#[derive(Clone, Copy, Debug)]
pub struct Peaks {
    /// GFLOP/s at the build's width ([`simd::BUILT`]).
    pub built: f64,
    /// The CPU's wider path and its GFLOP/s, if it has one.
    pub wider: Option<(Path, f64)>,
}

impl Peaks {
    /// Measures the peaks, the best of `tries` runs each.
    pub fn measure(tries: usize) -> Peaks {
        let built = fma_peak_gflops(tries);
        #[cfg(target_arch = "x86_64")]
        let wider = simd::widest_on_this_cpu()
            .filter(|w| *w == simd::AVX512 && simd::BUILT != simd::AVX512)
            .map(|w| {
                let flops = CHAINS * 16 * 2 * ITERATIONS;
                // SAFETY: the CPU has AVX-512F (detected above).
                (w, best_gflops(tries, flops, || unsafe { fma16_run() }))
            });
        #[cfg(not(target_arch = "x86_64"))]
        let wider = None;
        Peaks { built, wider }
    }

    /// The peak shares are taken of: the higher of the two (a CPU that splits its widest
    /// vectors in two halves, as AMD's Zen 4 does, has the same peak at both widths).
    pub fn share_of(&self) -> f64 {
        self.wider
            .map_or(self.built, |(_, gflops)| gflops.max(self.built))
    }

    /// What was measured, for the head of a bench's output.
    pub fn describe(&self) -> String {
        let built = format!(
            "one-core FMA peak measured now: {:.1} GFLOP/s at {} (this build's path)",
            self.built,
            simd::BUILT
        );
        match self.wider {
            None => built,
            Some((path, gflops)) => format!(
                "{built}, {gflops:.1} GFLOP/s at {path} (this CPU's widest); shares are of \
                 the higher, {:.1}; {}",
                self.share_of(),
                simd::describe()
            ),
        }
    }
}
