//! The vector instructions the engine computes with, and what the CPU running it offers.
//!
//! The build's own level is fixed when it is compiled (`wide` chooses its implementation
//! from the target features): a binary stops with a message on a CPU that lacks it (the
//! [`guard`]), rather than with an illegal instruction. Kernels with a wider variant choose
//! it at run time from [`active`]: the CPU's widest where its FMAs run faster than the
//! build's ([`fma_rate`]), or the one `NALM_SIMD` names, or the one [`use_path`] chose (tests
//! compare the paths). Every path computes the same bits (see `engine/README.md`, "The SIMD
//! path").

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub mod fma_rate;
pub mod guard;
pub mod vector;
pub(crate) mod width;

use std::fmt;
use std::sync::OnceLock;
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

/// The kernels that have a path wider than the build's: the tiny path's steps and the dot
/// products ([`active`]), and the array kernels ([`array_path`]).
pub const WIDENED: &str = "the tiny path's steps, the dot products and the array kernels";
/// The array kernels: those that stream whole cache lines through transforms and packed tiles.
pub const ARRAY_KERNELS: &str =
    "the array kernels (packed matrix products, the Winograd convolution)";

/// A chosen path, shared by every thread: 0 not yet chosen, else 1 + its index in `PATHS`.
struct Choice(AtomicU8);

impl Choice {
    /// The path stored, or `choose()`'s, stored unless another was stored meanwhile.
    fn get_or(&self, choose: impl FnOnce() -> Path) -> Path {
        match self.0.load(Ordering::Relaxed) {
            0 => {
                let index = index_of(choose());
                // a path chosen meanwhile by `use_path` stands
                match self
                    .0
                    .compare_exchange(0, index, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => PATHS[usize::from(index) - 1],
                    Err(chosen) => PATHS[usize::from(chosen) - 1],
                }
            }
            i => PATHS[usize::from(i) - 1],
        }
    }

    fn set(&self, path: Path) {
        self.0.store(index_of(path), Ordering::Relaxed);
    }
}

/// `path`'s code in a [`Choice`].
fn index_of(path: Path) -> u8 {
    PATHS.iter().position(|p| *p == path).expect("one of PATHS") as u8 + 1
}

/// The path of the tiny path's steps and the dot products.
static ACTIVE: Choice = Choice(AtomicU8::new(0));
/// The path of the array kernels.
static ARRAYS: Choice = Choice(AtomicU8::new(0));
/// The paths, narrowest first.
#[cfg(target_arch = "x86_64")]
const PATHS: [Path; 2] = [AVX2, AVX512];
/// The paths, narrowest first.
#[cfg(target_arch = "aarch64")]
const PATHS: [Path; 1] = [NEON];

/// The path the tiny path's steps and the dot products use: the one [`use_path`] chose, else
/// the one `NALM_SIMD=avx2|avx512` names where the CPU has it, else the CPU's widest where its
/// FMAs run at least [`WIDER_PAYS`] times the build's rate ([`wider_speedup`]), else the
/// build's own. Chosen once and cached; [`Program::new`](crate::Program::new) compiles a
/// program for it. Results do not depend on the choice, only the speed does.
///
/// The measurement is what tells the CPUs apart: on the project's Intel Xeon, with two
/// 512-bit FMA units per core, 16-lane FMAs run at 1.87 times the 8-lane rate (174.6 against
/// 93.2 GFLOP/s); an AMD EPYC (Zen 4) splits each into two halves and runs both at the same
/// rate, and there the 16-lane kernels run the tiny path from 6 % faster to 13 % slower by
/// model (`engine/README.md`, "The SIMD path").
pub fn active() -> Path {
    ACTIVE.get_or(|| from_environment().unwrap_or_else(measured_choice))
}

/// The path the array kernels use (the packed matrix products, the Winograd convolution):
/// the one [`use_path`] chose, else the one `NALM_SIMD` names, else the CPU's widest, whatever
/// its FMA rate. Besides their FMAs these kernels load, store, shuffle and transform whole
/// cache lines, and 16 lanes halve those instructions even where they save no FMA time: on
/// an AMD EPYC (Zen 4), whose 16-lane FMAs run at the 8-lane rate, they make the MNIST
/// network's training step 7 % faster on one thread (`engine/README.md`, "The SIMD path").
/// The dot products, an FMA for every two loads, stay with [`active`]. Chosen once and
/// cached.
pub fn array_path() -> Path {
    ARRAYS.get_or(|| {
        from_environment()
            .or_else(widest_on_this_cpu)
            .unwrap_or(BUILT)
    })
}

/// How many times the build's FMA rate the CPU's widest path must reach to be the default:
/// between Zen 4's 1.0 and the two-unit Xeons' 1.9, far from both.
pub const WIDER_PAYS: f64 = 1.5;

/// The CPU's widest path if it is wider than the build's, with how many times the build's
/// FMA rate it runs at on this core (measured once, in about a millisecond, and cached).
pub fn wider_speedup() -> Option<(Path, f64)> {
    static SPEEDUP: OnceLock<Option<(Path, f64)>> = OnceLock::new();
    *SPEEDUP.get_or_init(|| {
        let wider = widest_on_this_cpu().filter(|w| w.lanes > BUILT.lanes)?;
        fma_rate::speedup(wider).map(|s| (wider, s))
    })
}

/// The default path: the CPU's widest where it pays (see [`active`]).
fn measured_choice() -> Path {
    choose(wider_speedup())
}

/// The build's path, or the wider one where its FMAs run at least [`WIDER_PAYS`] times the
/// build's rate.
fn choose(wider_speedup: Option<(Path, f64)>) -> Path {
    match wider_speedup {
        Some((wider, speedup)) if speedup >= WIDER_PAYS => wider,
        _ => BUILT,
    }
}

/// The path `NALM_SIMD` names, if it is set and the CPU has it; `None`, with a warning (once)
/// when the variable asks for something else.
fn from_environment() -> Option<Path> {
    static ASKED: OnceLock<Option<Path>> = OnceLock::new();
    *ASKED.get_or_init(|| {
        let asked = std::env::var("NALM_SIMD").ok()?;
        match PATHS
            .into_iter()
            .find(|p| asked.eq_ignore_ascii_case(p.key))
        {
            Some(path) if missing(path, detected).is_empty() => Some(path),
            Some(path) => {
                eprintln!(
                    "warning: NALM_SIMD={asked}: this CPU lacks {path}; choosing as without it"
                );
                None
            }
            None => {
                let keys: Vec<&str> = PATHS.iter().map(|p| p.key).collect();
                eprintln!(
                    "warning: NALM_SIMD={asked} is not a path ({}); choosing as without it",
                    keys.join(", ")
                );
                None
            }
        }
    })
}

/// A SIMD path this CPU cannot run, with the features it lacks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("this CPU lacks {} for {path}", .missing.join(" and "))]
pub struct Unavailable {
    pub path: Path,
    pub missing: Vec<&'static str>,
}

/// `path` if this CPU runs it, else what it lacks.
pub fn available(path: Path) -> Result<Path, Unavailable> {
    let missing = missing(path, detected);
    if missing.is_empty() {
        Ok(path)
    } else {
        Err(Unavailable { path, missing })
    }
}

/// Makes every kernel with a wider path compute on `path` from now on, in every
/// thread (for comparisons of the paths; results do not depend on it). An error if the CPU
/// lacks it.
pub fn use_path(path: Path) -> Result<(), Unavailable> {
    available(path)?;
    ACTIVE.set(path);
    ARRAYS.set(path);
    Ok(())
}

/// The paths this CPU can run, narrowest first.
pub fn runnable() -> Vec<Path> {
    PATHS
        .into_iter()
        .filter(|p| missing(*p, detected).is_empty())
        .collect()
}

/// One line on the paths in use, the CPU's widest, and why.
pub fn describe() -> String {
    let Some(widest) = widest_on_this_cpu() else {
        return format!("SIMD: {BUILT}, which this CPU lacks");
    };
    if widest == BUILT {
        return format!("SIMD: {BUILT}, the widest this CPU offers");
    }
    let rate_of = |whose: &str| match wider_speedup() {
        Some((_, speedup)) => format!("{whose} FMAs run at {speedup:.2}x the 8-lane rate here"),
        None => format!("{whose} FMA rate unmeasured"),
    };
    let rate = rate_of("its");
    // whether `NALM_SIMD` named a path the CPU has (else it was warned about and ignored)
    let asked = from_environment().is_some();
    match (active() == widest, array_path() == widest, asked) {
        (true, true, true) => {
            format!("SIMD: {widest} for {WIDENED}, as NALM_SIMD asks ({rate}); {BUILT} elsewhere")
        }
        (true, true, false) => format!("SIMD: {widest} for {WIDENED} ({rate}); {BUILT} elsewhere"),
        (false, false, true) => {
            format!("SIMD: {BUILT}, as NALM_SIMD asks; this CPU offers {widest} ({rate})")
        }
        (false, true, false) => format!(
            "SIMD: {widest} for {ARRAY_KERNELS}; {BUILT} elsewhere, the tiny path's steps \
             and the dot products included, since {} (below {WIDER_PAYS}x; NALM_SIMD={} \
             uses it for them too)",
            rate_of(&format!("{}'s", widest.name)),
            widest.key
        ),
        // a choice of `use_path`
        _ => format!(
            "SIMD: {} for the tiny path's steps and the dot products, {} for {ARRAY_KERNELS}, \
             as chosen by the program ({rate})",
            active(),
            array_path()
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
    fn the_tiny_paths_wider_path_is_the_default_only_where_its_fmas_run_faster() {
        // the project's Xeon (two 512-bit FMA units), a Zen 4 EPYC (halves), no AVX-512
        assert_eq!(choose(Some((AVX512, 174.6 / 93.2))), AVX512);
        assert_eq!(choose(Some((AVX512, 117.4 / 118.0))), BUILT);
        assert_eq!(choose(Some((AVX512, WIDER_PAYS))), AVX512);
        assert_eq!(choose(None), BUILT);
        // and the path in use is the one chosen from this CPU's measurement (no test of
        // this binary calls `use_path`)
        if std::env::var_os("NALM_SIMD").is_none() {
            assert_eq!(active(), choose(wider_speedup()));
            // and the array kernels' is the CPU's widest, whatever its FMA rate
            assert_eq!(Some(array_path()), widest_on_this_cpu());
        }
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
