//! The machine's single-precision FMA peak on one core, measured rather than assumed: its
//! clock moves between runs, so every throughput figure is also printed as a share of the peak
//! measured in the same run. The peak is measured at every width the CPU offers: a share of
//! the 8-lane peak on a CPU with 16-lane FMAs would overstate how much of the core is used.

use engine::simd::{self, Path, fma_rate};

/// Rounds of 12 multiply-adds in one timed run (about 20 ms at 8 lanes).
const ROUNDS: usize = 2_000_000;

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
    /// Measures the peaks, the best of `tries` runs each (`engine::simd::fma_rate`).
    pub fn measure(tries: usize) -> Peaks {
        let wider = simd::widest_on_this_cpu().filter(|w| w.lanes > simd::BUILT.lanes);
        let paths: Vec<Path> = std::iter::once(simd::BUILT).chain(wider).collect();
        let rates = fma_rate::gflops(&paths, tries, ROUNDS);
        let built = rates[0].expect("the build's path runs here");
        Peaks {
            built,
            wider: wider.zip(rates.get(1).copied().flatten()),
        }
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
