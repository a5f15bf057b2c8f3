//! The vector instructions this build computes with, and what the CPU running it offers.
//!
//! The engine's SIMD level is fixed when it is compiled (`wide` chooses its implementation
//! from the target features): a binary uses the same path on every CPU it runs on, and stops
//! with a message on one that lacks it (the [`guard`]), rather than with an illegal
//! instruction.

pub mod guard;

use std::fmt;

/// A vector instruction set the engine can compute on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    pub name: &'static str,
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
    lanes: 8,
    features: &["avx2", "fma"],
};

/// 16-lane AVX-512 vectors.
pub const AVX512: Path = Path {
    name: "AVX-512",
    lanes: 16,
    features: &["avx512f"],
};

/// The path this build computes on.
pub const BUILT: Path = AVX2;

/// Whether the CPU running this has `feature` (a name of [`AVX2`]'s or [`AVX512`]'s), and
/// the operating system saves its registers. Read from CPUID and XCR0 directly: in a build
/// with the feature enabled, `is_x86_feature_detected!` answers yes without asking the CPU.
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
    widest(&[AVX512, AVX2], detected)
}

/// One line on the path in use and the CPU's widest.
pub fn describe() -> String {
    match widest_on_this_cpu() {
        Some(w) if w == BUILT => format!("SIMD: {BUILT}, the widest this CPU offers"),
        Some(w) => format!("SIMD: {BUILT}; this CPU offers {w}, which this build does not use"),
        None => format!("SIMD: {BUILT}, which this CPU lacks"),
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
        assert_eq!(
            describe().contains("does not use"),
            avx512,
            "{}",
            describe()
        );
    }
}
