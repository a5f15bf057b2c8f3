//! Single-precision matrix products, `C = alpha A B + beta C`, written for the CNN path.
//!
//! The design follows BLIS (Van Zee and van de Geijn): the product is cut into blocks that
//! fit the caches — a `kc x nc` block of B packed once for L2, an `mc x kc` block of A — and
//! each `MR x NR` tile of C is computed by an AVX2/FMA micro-kernel from packed panels that
//! stream through L1 (on the AVX-512 path, pairs of tiles by a 16-lane kernel with the same
//! chains, `kernel_avx512.rs`). Operands are any strided views ([`MatRef`]),
//! so `A B`, `A^T B` and `A B^T` are the same call on transposed views ([`MatRef::t`]); the
//! convolution layers pack their operands straight from the activations (the crate's
//! `PackA` and `PackB` views) and never build an im2col matrix. On the AVX-512 path an
//! operand with contiguous rows that few tiles sweep is read where it lies, unpacked (the
//! dense layer's weights and activations in its forward product, where packing cost a third
//! of the time): the kernel's vectors come from its rows, the same chains.
//!
//! # Numerics
//! Every element of C is one fused multiply-add chain in the order of k:
//! `c = start; c = fma(alpha a_ik, b_kj, c)` for k = 0, 1, ..., where `start` is `beta c`
//! (0 without reading C when beta is 0, C itself when beta is 1) or a per-row bias; a layer's
//! ReLU may follow as the chain's value is stored (`Finish`). Blocking
//! and threads split the work between elements, never within one, so the result does not
//! depend on the block sizes or the thread count, bit for bit.
//!
//! One shape is computed differently: when A's rows and B's columns are contiguous and the
//! depth is long against the output (a weight gradient summed over a batch of positions),
//! the product is a set of dot products with no packing, and each element is `start` plus
//! `alpha` times the dot product of each piece of 1,024 depths in order, a piece summed in
//! eight interleaved chains (lane l takes the depths l, l + 8, ..., and the lanes are added
//! as ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7))); the depths past the last multiple of eight
//! make one chain of their own, added last. This too is the same for every thread count.
//! `engine/tests/gemm_order.rs` pins both orders bit for bit on real-valued operands.
//!
//! # Threads
//! Large products are split between the threads of the current rayon pool, by whole tiles of
//! rows or of columns (whichever share out more evenly); each part packs its own panels.
//! [`split`] says into how many parts a product goes.

mod dot;
mod driver;
mod kernel;
#[cfg(target_arch = "x86_64")]
mod kernel_avx512;
mod lanes;
mod pack;

pub(crate) use dot::{DR, DotRuns, accumulate};
pub(crate) use driver::parts;
pub use driver::{Init, gemm, gemm_into, split};
pub(crate) use driver::{packed_product, product, product_then};
pub(crate) use kernel::Finish;
pub(crate) use kernel::{MR, NR};
pub(crate) use lanes::{LaneChunks, LanePart, Put};
pub(crate) use pack::{PackA, PackB, panel, panel_len, put_transposed};

/// Whether the last element of a `rows x cols` view, at `(rows - 1) rs + (cols - 1) cs`,
/// lies within `len` values (without overflow).
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    (rows - 1)
        .checked_mul(rs)
        .zip((cols - 1).checked_mul(cs))
        .and_then(|(r, c)| r.checked_add(c))
        .is_some_and(|last| last < len)
}

/// A read-only strided matrix view: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A view of `rows x cols` elements with row stride `rs` and column stride `cs`.
    ///
    /// # Panics
    /// If an element lies outside `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        assert!(
            fits(data.len(), rows, cols, rs, cs),
            "a {rows} x {cols} matrix with strides ({rs}, {cs}) does not fit {} values",
            data.len()
        );
        MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A row-major `rows x cols` matrix (row stride `cols`).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transposed view.
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element (i, j).
    #[inline(always)]
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// A mutable strided matrix view whose elements are distinct memory locations: one of the
/// strides is 1 and the other spans at least a whole row (or column).
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatMut<'a> {
    /// A view of `rows x cols` elements with row stride `rs` and column stride `cs`.
    ///
    /// # Panics
    /// If an element lies outside `data` or two elements could share a location.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        assert!(
            fits(data.len(), rows, cols, rs, cs),
            "a {rows} x {cols} matrix with strides ({rs}, {cs}) does not fit {} values",
            data.len()
        );
        assert!(
            (cs == 1 && (rows <= 1 || rs >= cols)) || (rs == 1 && (cols <= 1 || cs >= rows)),
            "strides ({rs}, {cs}) of a {rows} x {cols} matrix overlap or are not unit"
        );
        MatMut {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A row-major `rows x cols` matrix (row stride `cols`).
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// A read-only view of the same elements.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }
}
