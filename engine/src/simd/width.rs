//! The vector widths the tiny path's steps compile at, and how a step enters one.
//!
//! A step is written once, generic over [`Width`], and built for the width of the program
//! that holds it. [`Width::run`] is where the width's instructions switch on: for AVX-512 a
//! `#[target_feature(enable = "avx512f")]` function, into which the step's work (a closure
//! with one call site) and everything it calls (`#[inline(always)]`) are inlined, so they
//! compile with 512-bit registers in a binary built for x86-64-v3.

use super::vector::Vector;

/// A vector width with the types and the entry of its code.
pub(crate) trait Width: Copy + Send + Sync + 'static {
    type V: Vector;
    /// Runs `work` with the width's instructions enabled.
    fn run<R>(work: impl FnOnce() -> R) -> R;
}

/// The build's own width: `wide`'s [`wide::f32x8`] (AVX2 + FMA on x86, NEON on aarch64).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Built;

impl Width for Built {
    type V = wide::f32x8;
    #[inline(always)]
    fn run<R>(work: impl FnOnce() -> R) -> R {
        work()
    }
}

/// 16-lane AVX-512 vectors.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Width for Avx512 {
    type V = super::avx512::F32x16;
    #[inline(always)]
    fn run<R>(work: impl FnOnce() -> R) -> R {
        // SAFETY: code of this width runs only in a program compiled for the AVX-512 path,
        // which `simd::active`, `simd::array_path` and `Program::on_path` give only on a CPU
        // that has it, and in the engine's own tests after the same check.
        unsafe { with_avx512(work) }
    }
}

/// `work`, compiled with AVX-512F enabled.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn with_avx512<R>(work: impl FnOnce() -> R) -> R {
    work()
}
