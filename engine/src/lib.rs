//! A small tape-based reverse-mode automatic differentiation engine over f32 SIMD buffers,
//! sized for neural arithmetic modules with 2 to 10 inputs, with a second path for the CNNs
//! that feed them: convolutions, pooling, dropout, softmax and large dense products on its
//! own matrix product ([`gemm`]), on the same tape.
//!
//! * [`Graph`] records a program with ordinary expressions and freezes it into a [`Tape`].
//! * [`Program`] compiles a tape for one batch size; [`Values`] and [`Grads`] made from it hold
//!   every node's forward values and gradients. The parameters are one `f32` vector the caller
//!   owns (laid out as [`Tape::params`] says), shared by the programs of every batch size.
//! * [`forward`] and [`backward`] evaluate a program; neither allocates in steady state.
//! * [`mod@reference`] evaluates the same tape in f64 (or with error tracking, [`Tracked`]) one
//!   sample at a time: the oracle for [`gradcheck`] and for every test.
//! * [`optim`] holds Adam (PyTorch's update, with L2 weight decay per parameter group), SGD
//!   and global gradient-norm clipping.
//! * [`gemm`] is single-precision `C = alpha A B + beta C` (BLIS-style blocking, an AVX2/FMA
//!   micro-kernel, rayon over whole tiles); [`profile`] times a network node by node.
//!
//! # Memory layout
//! The batch is the SIMD axis: a batched tensor stores each feature as one row of vectors
//! (feature-major, samples innermost), so every elementwise op runs 8 samples per
//! instruction, or 16 on the AVX-512 path when it is in use ([`simd::active`]), and no op mixes samples except the named
//! reductions over the batch, which leave the padding lanes out and add in the same order
//! at every width (layout in `layout.rs`).
//!
//! # Numerics
//! f32 throughout, with fused multiply-adds; transcendentals from [`math`] (at most 2 ulp over
//! the ranges the modules use, tested). Derivative conventions at singular points follow
//! PyTorch and are documented in [`ops`]; the two that changed across PyTorch versions (clamp
//! bounds, min/max ties) are chosen per graph ([`Conventions`]). Results below the normal f32
//! range are kept as subnormals unless the caller flushes them ([`Subnormals`]; the MNIST
//! task does, as a CNN whose softmax saturates would otherwise stall on some CPUs).
//!
//! # Threads
//! The tiny path runs on the calling thread. Large products and large elementwise steps split
//! their work between the threads of the current rayon pool, always between elements (never
//! within one sum), so the results are the same bit for bit for any number of threads.

// The math kernels rely on fused multiply-adds for their accuracy (Cody-Waite reductions,
// error-free products in pow): a build without them would be silently wrong, not just slow.
// x86-64 needs AVX2 and FMA (the matrix product's kernels are their intrinsics there);
// aarch64's Advanced SIMD always has them.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("engine runs on x86_64 with AVX2 and FMA (x86-64-v3), or on aarch64");

#[cfg(all(
    target_arch = "x86_64",
    not(all(target_feature = "fma", target_feature = "avx2"))
))]
compile_error!(
    "engine needs AVX2 and FMA: build with -C target-cpu=x86-64-v3 (set in .cargo/config.toml; \
     when RUSTFLAGS is set, as cargo-fuzz does, add it there too)"
);

pub mod buffers;
pub mod conventions;
pub mod diagnose;
pub mod dropout;
mod eval;
pub mod fuzzing;
pub mod gemm;
pub mod gradcheck;
pub mod graph;
mod layout;
pub mod math;
pub mod ops;
pub mod optim;
pub mod program;
pub mod real;
pub mod reference;
mod rows;
pub mod simd;
pub mod subnormals;
pub mod tape;
pub mod tracked;
pub mod winograd;
mod workspace;

pub use buffers::{Grads, NodeTime, Values, backward, forward, profile};
pub use conventions::{ClampBounds, Conventions, Ties};
pub use graph::{Graph, Var};
pub use program::Program;
pub use real::Real;
pub use subnormals::Subnormals;
pub use tape::{
    BinaryOp, Conv2d, ConvMethod, Image, NodeId, Op, ParamInfo, Shape, Tape, UnaryOp, WeightLayout,
    Window,
};
pub use tracked::{Decision, Tracked};
pub use workspace::Workspace;

/// f32 machine epsilon, 2^-23 (the `EPS` of the modules' formulas).
pub const EPS: f32 = f32::EPSILON;
/// π rounded to f32 (3.1415927410125732); cos(PI32) = -1 exactly but sin(PI32) != 0.
pub const PI32: f32 = std::f32::consts::PI;
