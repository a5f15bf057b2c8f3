//! What the CPU does with a result too small for a normal f32 (below 2^-126 in magnitude):
//! keep it as a subnormal number (IEEE gradual underflow, every thread's default) or flush it
//! to zero.
//!
//! Why a network needs a say: many x86 CPUs, Intel's in particular, finish an instruction that
//! produces or reads a subnormal through a microcode assist of about a hundred cycles. When a
//! CNN's softmax saturates, the probabilities of the losing classes and everything the backward
//! pass derives from them (the gradients of every layer below, the GEMMs that carry them) are
//! subnormal, and the same epoch runs about ten times slower with no change in what it
//! computes that matters: values below 1.2e-38 next to gradients of order 1e-3. The Zen 4
//! EPYC measured in `engine/README.md` took no such assists: there the run kept its speed.
//! TensorFlow flushes on x86 by default; PyTorch has `torch.set_flush_denormal`.
//!
//! [`Subnormals::Flush`] sets flush-to-zero (bit 15 of MXCSR), so that no SSE or AVX
//! instruction ever produces a subnormal: with none produced, none is read either, and a
//! run's speed no longer depends on where its values drift. Denormals-are-zero (bit 6), which
//! would also zero subnormal inputs, stays off: Rust's documentation of `_mm_setcsr` counts a
//! changed denormals-are-zero mode among the settings the compiler assumes are at their
//! defaults, and with flush-to-zero on nothing subnormal reaches an input anyway.
//!
//! The mode is a property of a thread. [`Subnormals::thread_pool`] builds a rayon pool whose
//! threads run in a mode from their start: work installed in it, and every parallel kernel of
//! the engine that work reaches, runs in that mode, whatever other pools and threads do.

/// Flush-to-zero: bit 15 of x86's MXCSR; bit 24 (FZ) of aarch64's FPCR, which flushes
/// subnormal inputs too (as x86's denormals-are-zero would; no separate switch there).
#[cfg(target_arch = "x86_64")]
const FLUSH_TO_ZERO: u32 = 1 << 15;
#[cfg(target_arch = "aarch64")]
const FLUSH_TO_ZERO: u32 = 1 << 24;

/// How the calling thread's arithmetic treats results below the normal f32 range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Subnormals {
    /// IEEE gradual underflow: results below 2^-126 are subnormal numbers.
    #[default]
    Keep,
    /// Results below 2^-126 become zero (of the same sign).
    Flush,
}

#[cfg(target_arch = "x86_64")]
fn read_control() -> u32 {
    let mut csr: u32 = 0;
    // SAFETY: stores the 4-byte register into a live local u32.
    unsafe {
        std::arch::asm!(
            "stmxcsr [{}]",
            in(reg) &mut csr,
            options(nostack, preserves_flags)
        );
    }
    csr
}

#[cfg(target_arch = "x86_64")]
fn write_control(csr: u32) {
    // SAFETY: loads the register from a live local u32. Only the flush-to-zero bit ever
    // differs from what was read (see `set`), and Rust's documentation of `_mm_setcsr` does
    // not count it among the settings compiled code relies on.
    unsafe {
        std::arch::asm!(
            "ldmxcsr [{}]",
            in(reg) &csr,
            options(nostack, preserves_flags, readonly)
        );
    }
}

#[cfg(target_arch = "aarch64")]
fn read_control() -> u32 {
    let fpcr: u64;
    // SAFETY: reads the floating-point control register into a general register.
    unsafe {
        std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags))
    };
    fpcr as u32
}

#[cfg(target_arch = "aarch64")]
fn write_control(fpcr: u32) {
    // SAFETY: writes the floating-point control register; only the FZ bit ever differs from
    // what was read (see `set`).
    unsafe {
        std::arch::asm!("msr fpcr, {}", in(reg) u64::from(fpcr), options(nomem, nostack, preserves_flags))
    };
}

impl Subnormals {
    /// The calling thread's mode.
    pub fn current() -> Subnormals {
        if read_control() & FLUSH_TO_ZERO != 0 {
            Subnormals::Flush
        } else {
            Subnormals::Keep
        }
    }

    /// Sets the calling thread's mode and returns the one it replaces.
    pub fn set(self) -> Subnormals {
        let csr = read_control();
        let previous = if csr & FLUSH_TO_ZERO != 0 {
            Subnormals::Flush
        } else {
            Subnormals::Keep
        };
        let wanted = match self {
            Subnormals::Keep => csr & !FLUSH_TO_ZERO,
            Subnormals::Flush => csr | FLUSH_TO_ZERO,
        };
        if wanted != csr {
            write_control(wanted);
        }
        previous
    }

    /// A rayon pool of `threads` threads (0: one per core) that run in this mode from their
    /// start.
    pub fn thread_pool(
        self,
        threads: usize,
    ) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(move |_| {
                self.set();
            })
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the optimiser from folding the product at compile time.
    fn product(a: f32, b: f32) -> f32 {
        std::hint::black_box(a) * std::hint::black_box(b)
    }

    #[test]
    fn flush_turns_results_below_the_normal_range_into_zero_and_keep_does_not() {
        let tiny = f32::MIN_POSITIVE; // 2^-126, the smallest normal
        let previous = Subnormals::Flush.set();
        assert_eq!(Subnormals::current(), Subnormals::Flush);
        assert_eq!(product(tiny, 0.5), 0.0);
        assert_eq!(product(-tiny, 0.25).to_bits(), (-0.0f32).to_bits());
        // the normal range is untouched
        assert_eq!(product(tiny, 2.0), 2.0 * f32::MIN_POSITIVE);
        assert_eq!(Subnormals::Keep.set(), Subnormals::Flush);
        let kept = product(tiny, 0.5);
        assert!(kept.is_subnormal(), "{kept:e}");
        assert_eq!(kept.to_bits(), tiny.to_bits() >> 1);
        previous.set();
    }

    #[test]
    fn a_pools_threads_run_in_its_mode_and_other_threads_keep_theirs() {
        let modes = |pool: &rayon::ThreadPool| pool.broadcast(|_| Subnormals::current());
        let flush = Subnormals::Flush.thread_pool(3).expect("a pool");
        assert_eq!(modes(&flush), [Subnormals::Flush; 3]);
        let results = flush.broadcast(|_| product(f32::MIN_POSITIVE, 0.5));
        assert!(results.iter().all(|&r| r == 0.0), "{results:?}");
        // a pool that keeps them, built from a thread that flushes
        let previous = Subnormals::Flush.set();
        let keep = Subnormals::Keep.thread_pool(2).expect("a pool");
        assert_eq!(modes(&keep), [Subnormals::Keep; 2]);
        assert!(
            keep.install(|| product(f32::MIN_POSITIVE, 0.5))
                .is_subnormal()
        );
        // the calling thread is left as it was
        assert_eq!(Subnormals::current(), Subnormals::Flush);
        previous.set();
    }
}
