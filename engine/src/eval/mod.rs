//! The steps of a [`Program`](crate::Program): each node's forward work and its backward
//! contributions, compiled once per (tape, batch size).

// Kernels index rows cut to exactly `chunks` vectors with a shared chunk index, the form in
// which the compiler drops every bounds check and which reads the same for every operand kind.
#![allow(clippy::needless_range_loop)]

mod backward;
mod binary;
mod conv;
mod conv_pool;
mod conv_relu;
mod copy;
mod dense;
mod dropout;
mod features;
mod forward;
mod im2col;
mod matmul;
pub(crate) mod operand;
pub(crate) mod pool;
mod power;
mod reduce;
mod softmax;
mod unary;
mod window;
mod winograd;

use wide::f32x8;

use crate::Workspace;
use crate::simd::vector::Vector;

pub(crate) use backward::{FirstWrites, steps as backward_steps};
pub(crate) use forward::step as forward_step;

/// What a forward step works on: the row and flat arenas of one [`Values`](crate::Values)
/// (the step reads earlier slots and writes its own), the parameters, and working space.
pub(crate) struct Fwd<'a> {
    pub rows: &'a mut [f32x8],
    pub flat: &'a mut [f32],
    pub params: &'a [f32],
    pub work: &'a mut Workspace,
    /// The seed of this pass's dropout masks.
    pub noise_seed: u64,
}

/// The forward values a backward step reads.
pub(crate) struct Seen<'a> {
    pub rows: &'a [f32x8],
    pub flat: &'a [f32],
    pub params: &'a [f32],
    pub noise_seed: u64,
}

/// The gradient arenas a backward step adds into (the node's own gradient lies after its
/// inputs' in the row and flat arenas), the parameters' gradients, and working space.
pub(crate) struct Bwd<'a> {
    pub rows: &'a mut [f32x8],
    pub flat: &'a mut [f32],
    pub params: &'a mut [f32],
    pub work: &'a mut Workspace,
    /// Space for intermediate results of a layer (a convolution's column blocks), apart from
    /// the products' packing space.
    pub columns: &'a mut Workspace,
}

/// One node's forward work.
pub(crate) type ForwardStep = Box<dyn Fn(&mut Fwd<'_>) + Send + Sync>;

/// One node's backward work for one input.
pub(crate) type BackwardStep = Box<dyn Fn(&Seen<'_>, &mut Bwd<'_>) + Send + Sync>;

/// Vectors from which an elementwise step splits its work between threads (the CNN's
/// activations; the arithmetic units' tensors are thousands of times smaller).
pub(crate) const PARALLEL: usize = 1 << 15;
/// Vectors per piece of a split elementwise step.
pub(crate) const SPLIT_PIECE: usize = 1 << 13;

/// `y[c] = f(c)` over `y`, in pieces on the current rayon pool when `y` is large.
#[inline(always)]
pub(crate) fn fill_pieces(y: &mut [f32x8], f: impl Fn(usize) -> f32x8 + Sync) {
    use rayon::prelude::*;
    y.par_chunks_mut(SPLIT_PIECE)
        .enumerate()
        .for_each(|(i, piece)| {
            let start = i * SPLIT_PIECE;
            for (c, v) in piece.iter_mut().enumerate() {
                *v = f(start + c);
            }
        });
}

/// The f32 values of a batched slot (rows of vectors), as the matrix products read them.
pub(crate) fn floats(rows: &[f32x8]) -> &[f32] {
    wide::bytemuck::cast_slice(rows)
}

/// Mutable [`floats`].
pub(crate) fn floats_mut(rows: &mut [f32x8]) -> &mut [f32] {
    wide::bytemuck::cast_slice_mut(rows)
}

/// Sum of `term(c)` over the vectors of a row, padding lanes masked out: in eight chains
/// (lane j of every 8-lane chunk in chunk order), then added in `reduce_add`'s tree, the
/// same order at every width (a 16-lane vector adds its two halves one after the other).
#[inline(always)]
pub(crate) fn batch_sum<V: Vector>(lane_mask: &[f32x8], term: impl Fn(usize) -> V) -> f32 {
    let mut chains = f32x8::ZERO;
    if V::LANES == 8 {
        for (c, mask) in lane_mask.iter().enumerate() {
            chains = term(c).add_to_chains(chains, std::slice::from_ref(mask));
        }
    } else {
        for (c, masks) in lane_mask.chunks(V::LANES / 8).enumerate() {
            chains = term(c).add_to_chains(chains, masks);
        }
    }
    chains.reduce_add()
}

/// [`batch_sum`] of `K` rows at once, `term(c)` their vectors `c`: the same chains and tree
/// for each row (each sum has the bits `batch_sum` gives it), computed side by side so that
/// their chains of additions overlap, where one row's alone waits on each addition's latency.
#[inline(always)]
pub(crate) fn batch_sums<const K: usize>(
    lane_mask: &[f32x8],
    term: impl Fn(usize) -> [f32x8; K],
) -> [f32; K] {
    let mut chains = [f32x8::ZERO; K];
    for (c, &mask) in lane_mask.iter().enumerate() {
        for (chain, value) in chains.iter_mut().zip(term(c)) {
            *chain += value & mask;
        }
    }
    chains.map(|chain| chain.reduce_add())
}

/// `n` 8-lane vectors counted in vectors of `V` (`n` is a whole number of them: rows and
/// offsets of a program are, for the width it was laid out for).
#[inline(always)]
pub(crate) fn vectors<V: Vector>(n: usize) -> usize {
    n / (V::LANES / 8)
}

/// The rows as vectors of `V` (an 8-lane program's are themselves; a 16-lane program's
/// rows start on 64-byte boundaries, which the cast checks).
#[inline(always)]
pub(crate) fn lanes<V: Vector>(rows: &[f32x8]) -> &[V] {
    wide::bytemuck::cast_slice(rows)
}

/// Mutable [`lanes`].
#[inline(always)]
pub(crate) fn lanes_mut<V: Vector>(rows: &mut [f32x8]) -> &mut [V] {
    wide::bytemuck::cast_slice_mut(rows)
}

/// Adds `lane(c)` into `row[c]`, or stores it when the step overwrites the slot.
#[inline(always)]
pub(crate) fn write_row<V: Vector>(row: &mut [V], store: bool, lane: impl Fn(usize) -> V) {
    if store {
        for (c, t) in row.iter_mut().enumerate() {
            *t = lane(c);
        }
    } else {
        for (c, t) in row.iter_mut().enumerate() {
            *t += lane(c);
        }
    }
}

/// Geometry of a dense product `[.., inputs] x [inputs, outputs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub layout: crate::tape::WeightLayout,
}

impl Dense {
    #[inline(always)]
    pub fn weight_index(&self, i: usize, o: usize) -> usize {
        match self.layout {
            crate::tape::WeightLayout::InOut => i * self.outputs + o,
            crate::tape::WeightLayout::OutIn => o * self.inputs + i,
        }
    }
}

#[cfg(test)]
mod tests;
