//! The vector instructions the engine computes with, and what the CPU running it offers.
//!
//! The build's own level is fixed when it is compiled (`wide` chooses its implementation
//! from the target features): a binary stops with a message on a CPU that lacks it (the
//! [`guard`]), rather than with an illegal instruction. Kernels with a wider variant choose
//! it at run time from [`active`]: the build's own for now, or the one `NALM_SIMD` names
//! where the CPU has it, or the one [`use_path`] chose (tests compare the paths). Every path
//! computes the same bits (see `engine/README.md`, "The SIMD path").

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub mod guard;
pub mod vector;
pub(crate) mod width;

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// A vector instruction set the engine can compute on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    pub name: &'static str,
    /// Its name for `NALM_SIMD`.
    pub key: &'static str,
    /// f32 lanes per vector.
    pub lanes: usize,
    /// The CPU features it needs, as `/proc/cpuinfo` names them.
    pub features: &'static [&'static str],
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} lanes)", self.name, self.lanes)
    }
}

/// x86-64-v3: 8-lane AVX2 vectors with fused multiply-adds.
pub const AVX2: Path = Path {
    name: "AVX2 + FMA",
    key: "avx2",
    lanes: 8,
    features: &["avx2", "fma"],
};

/// 16-lane AVX-512 vectors.
pub const AVX512: Path = Path {
    name: "AVX-512",
    key: "avx512",
    lanes: 16,
    features: &["avx512f"],
};

/// aarch64's Advanced SIMD: 4-lane vectors with fused multiply-adds (`wide`'s 8-lane vectors
/// are pairs of them).
pub const NEON: Path = Path {
    name: "NEON",
    key: "neon",
    lanes: 4,
    features: &["asimd"],
};

/// The path this build computes on.
#[cfg(target_arch = "x86_64")]
pub const BUILT: Path = AVX2;
/// The path this build computes on.
#[cfg(target_arch = "aarch64")]
pub const BUILT: Path = NEON;

/// Whether the CPU running this has `feature` (a name of [`AVX2`]'s or [`AVX512`]'s), and
/// the operating system saves its registers. Read from CPUID and XCR0 directly: in a build
/// with the feature enabled, `is_x86_feature_detected!` answers yes without asking the CPU.
#[cfg(target_arch = "x86_64")]
fn detected(feature: &str) -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    let bit = |register: u32, n: u32| register >> n & 1 == 1;
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 7 is read only where leaf 0 lists it;
    // XGETBV only where CPUID says the OS enabled it (OSXSAVE).
    unsafe {
        let highest = __cpuid(0).eax;
        let leaf1 = __cpuid(1);
        let leaf7 = if highest >= 7 {
            __cpuid_count(7, 0).ebx
        } else {
            0
        };
        let xcr0 = if bit(leaf1.ecx, 27) { _xgetbv(0) } else { 0 };
        // the OS saves the SSE and AVX halves (bits 1, 2), and the AVX-512 state (5, 6, 7)
        let avx_state = xcr0 & 0b110 == 0b110;
        let avx512_state = xcr0 & 0b1110_0110 == 0b1110_0110;
        match feature {
            "avx2" => avx_state && bit(leaf7, 5),
            "fma" => avx_state && bit(leaf1.ecx, 12),
            "avx512f" => avx512_state && bit(leaf7, 16),
            _ => false,
        }
    }
}

/// Whether the CPU running this has `feature`: Advanced SIMD is part of every aarch64 CPU
/// Linux runs on.
#[cfg(target_arch = "aarch64")]
fn detected(feature: &str) -> bool {
    feature == "asimd"
}

/// The features of `path` that `has` says are missing.
pub fn missing(path: Path, has: impl Fn(&str) -> bool) -> Vec<&'static str> {
    path.features.iter().copied().filter(|f| !has(f)).collect()
}

/// The widest path of `paths` (widest first) whose features `has` has.
pub fn widest(paths: &[Path], has: impl Fn(&str) -> bool) -> Option<Path> {
    paths.iter().copied().find(|p| missing(*p, &has).is_empty())
}

/// The widest path the CPU running this offers.
pub fn widest_on_this_cpu() -> Option<Path> {
    let mut widest_first = PATHS;
    widest_first.reverse();
    widest(&widest_first, detected)
}

/// The kernels that have a path wider than the build's (see [`active`]).
pub const WIDENED: &str = "the tiny path's steps and the matrix product's kernels";

/// The path chosen for the wider kernels: 0 not yet chosen, else 1 + its index in `PATHS`.
static ACTIVE: AtomicU8 = AtomicU8::new(0);
/// The paths, narrowest first.
#[cfg(target_arch = "x86_64")]
const PATHS: [Path; 2] = [AVX2, AVX512];
/// The paths, narrowest first.
#[cfg(target_arch = "aarch64")]
const PATHS: [Path; 1] = [NEON];

/// The path the kernels with a wider variant use: the build's own, or the one
/// `NALM_SIMD=avx2|avx512` names where the CPU has it, or the one [`use_path`] chose.
/// [`Program::new`](crate::Program::new) compiles a program for it.
///
/// The build's own is the default until the 16-lane kernels pay on the CPUs they are for. On
/// an AMD EPYC (Zen 4, which splits a 512-bit FMA into two halves) they do not: the 16-lane
/// dot products run the network's conv2 weight gradient at 63.0 GFLOP/s against 72.1 at 8
/// lanes, and the tiny path's iterations run from 6 % faster to 13 % slower by model
/// (`engine/README.md`, "The SIMD path").
pub fn active() -> Path {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => {
            let path = from_environment();
            let index = PATHS.iter().position(|p| *p == path).unwrap_or(0) as u8 + 1;
            // a path chosen meanwhile by `use_path` stands
            match ACTIVE.compare_exchange(0, index, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => path,
                Err(chosen) => PATHS[usize::from(chosen) - 1],
            }
        }
        i => PATHS[usize::from(i) - 1],
    }
}

/// The path `NALM_SIMD` names, if the CPU has it; else the build's own, with a warning when
/// the variable asks for something else.
fn from_environment() -> Path {
    let Ok(asked) = std::env::var("NALM_SIMD") else {
        return BUILT;
    };
    match PATHS
        .into_iter()
        .find(|p| asked.eq_ignore_ascii_case(p.key))
    {
        Some(path) if missing(path, detected).is_empty() => path,
        Some(path) => {
            eprintln!("warning: NALM_SIMD={asked}: this CPU lacks {path}; computing with {BUILT}");
            BUILT
        }
        None => {
            let keys: Vec<&str> = PATHS.iter().map(|p| p.key).collect();
            eprintln!(
                "warning: NALM_SIMD={asked} is not a path ({}); computing with {BUILT}",
                keys.join(", ")
            );
            BUILT
        }
    }
}

/// Makes the kernels compute on `path` from now on, in every thread (for comparisons of the
/// paths; results do not depend on it). An error if the CPU lacks it.
pub fn use_path(path: Path) -> Result<(), String> {
    let lacking = missing(path, detected);
    if !lacking.is_empty() {
        return Err(format!(
            "this CPU lacks {} for {path}",
            lacking.join(" and ")
        ));
    }
    let index = PATHS.iter().position(|p| *p == path).expect("a known path");
    ACTIVE.store(index as u8 + 1, Ordering::Relaxed);
    Ok(())
}

/// The paths this CPU can run, narrowest first.
pub fn runnable() -> Vec<Path> {
    PATHS
        .into_iter()
        .filter(|p| missing(*p, detected).is_empty())
        .collect()
}

/// One line on the paths in use and the CPU's widest.
pub fn describe() -> String {
    let (widest, active) = (widest_on_this_cpu(), active());
    match widest {
        None => format!("SIMD: {BUILT}, which this CPU lacks"),
        Some(w) if w == BUILT => format!("SIMD: {BUILT}, the widest this CPU offers"),
        Some(w) if active == w => format!("SIMD: {w} for {WIDENED}, {BUILT} elsewhere"),
        Some(w) => format!(
            "SIMD: {BUILT}; this CPU offers {w}, which NALM_SIMD={} uses for {WIDENED}",
            w.key
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_usable_when_the_cpu_has_all_its_features() {
        let avx2_only = |f: &str| f == "avx2" || f == "fma";
        assert_eq!(widest(&[AVX512, AVX2], avx2_only), Some(AVX2));
        assert_eq!(widest(&[AVX512, AVX2], |_| true), Some(AVX512));
        let no_fma = |f: &str| f == "avx2";
        assert_eq!(missing(AVX2, no_fma), vec!["fma"]);
        assert_eq!(widest(&[AVX512, AVX2], no_fma), None);
        assert_eq!(missing(AVX2, |_| false), vec!["avx2", "fma"]);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn this_machine_runs_this_build_and_says_what_it_has() {
        // the tests run, so the CPU has the build's features
        assert!(missing(BUILT, detected).is_empty());
        let widest = widest_on_this_cpu().expect("at least the build's path");
        assert!(widest.lanes >= BUILT.lanes);
        let avx512 = std::fs::read_to_string("/proc/cpuinfo")
            .expect("Linux")
            .split_whitespace()
            .any(|flag| flag == "avx512f");
        assert_eq!(widest == AVX512, avx512);
        assert_eq!(runnable().contains(&AVX512), avx512);
        assert!(runnable().contains(&AVX2));
        assert_eq!(describe().contains("AVX-512"), avx512, "{}", describe());
    }
}
