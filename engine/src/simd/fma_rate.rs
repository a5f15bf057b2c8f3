//! How fast one core runs fused multiply-adds at each width the CPU offers.
//!
//! Whether 16 lanes pay is a property of the core, not of the instruction set: an Intel Xeon
//! with two 512-bit FMA units per core runs 16-lane FMAs at nearly twice the 8-lane rate,
//! while AMD's Zen 4 splits each into two 256-bit halves and runs both widths at the same
//! rate. So the default path is chosen from a measurement ([`super::active`]), and the
//! benches quote their shares of the same measurement's peak.

use std::hint::black_box;
use std::time::Instant;

use super::Path;
use super::vector::Vector;
use super::width::{Built, Width};

/// Independent multiply-add chains: more than latency (4) times FMA units (2), so the units
/// never wait.
const CHAINS: usize = 12;

/// `iterations` rounds of one FMA on each of [`CHAINS`] independent vectors.
#[inline(always)]
fn chains<V: Vector>(iterations: usize) {
    let (x, y) = (black_box(V::splat(0.999_999)), black_box(V::splat(1e-7)));
    let mut acc = [V::splat(1.0); CHAINS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = a.mul_add(x, y);
        }
    }
    black_box(acc);
}

/// One timed run of `iterations` rounds at the width of `path`, in seconds; `None` for a
/// path this CPU cannot run.
fn seconds(path: Path, iterations: usize) -> Option<f64> {
    if !super::missing(path, super::detected).is_empty() {
        return None;
    }
    let start = Instant::now();
    match path {
        p if p == super::BUILT => Built::run(|| chains::<<Built as Width>::V>(iterations)),
        // the CPU has AVX-512F (checked above)
        #[cfg(target_arch = "x86_64")]
        p if p == super::AVX512 => super::width::Avx512::run(
            #[inline(always)]
            || chains::<super::avx512::F32x16>(iterations),
        ),
        _ => return None,
    }
    Some(start.elapsed().as_secs_f64())
}

/// GFLOP/s of one core doing nothing but independent fused multiply-adds at the width of
/// each of `paths`, the best of `tries` runs of `iterations` rounds each (one round is 12
/// FMAs, so 2,000,000 rounds take about 20 ms at 8 lanes on a 4 GHz core); the paths'
/// runs alternate, so a clock that moves meanwhile moves for all. `None` for a path the CPU
/// cannot run.
pub fn gflops(paths: &[Path], tries: usize, iterations: usize) -> Vec<Option<f64>> {
    let mut best = vec![None::<f64>; paths.len()];
    for _ in 0..tries {
        for (path, best) in paths.iter().zip(&mut best) {
            if let Some(s) = seconds(*path, iterations) {
                *best = Some(best.map_or(s, |b| b.min(s)));
            }
        }
    }
    paths
        .iter()
        .zip(best)
        .map(|(path, s)| s.map(|s| (CHAINS * path_lanes(*path) * 2 * iterations) as f64 / s / 1e9))
        .collect()
}

/// The lanes `path`'s vectors hold here: the build's path computes on `wide`'s 8-lane
/// vectors, NEON's pairs of 4-lane registers included.
fn path_lanes(path: Path) -> usize {
    if path == super::BUILT {
        <<Built as Width>::V as Vector>::LANES
    } else {
        path.lanes
    }
}

/// How many times the 8-lane FMA rate `wider`'s FMAs run at on this core: a quick
/// measurement (about a millisecond), for the choice of the default path.
pub fn speedup(wider: Path) -> Option<f64> {
    // short runs, alternated, the best of six: an Intel core runs the first microseconds of
    // 512-bit code slowly while it powers up the vectors' upper halves
    let rates = gflops(&[wider, super::BUILT], 6, 20_000);
    match rates[..] {
        [Some(wide), Some(built)] => Some(wide / built),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_path_has_a_rate_and_a_missing_path_has_none() {
        let rates = gflops(&[super::super::BUILT], 2, 2_000);
        assert!(rates[0].is_some_and(|r| r > 0.1), "{rates:?}");
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = super::super::runnable().contains(&super::super::AVX512);
            let rates = gflops(&[super::super::AVX512], 2, 2_000);
            assert_eq!(rates[0].is_some(), avx512);
            assert_eq!(speedup(super::super::AVX512).is_some(), avx512);
        }
    }
}
