//! Operands of an elementwise op on a batched output, located once when the plan is built.
//!
//! An operand of a batched op is one of four kinds: its own rows, one row shared by every
//! output feature, one unbatched value per feature, or a single unbatched value. Each kind is
//! a type, so every (op, operand kinds) combination gets its own monomorphised loop with no
//! per-chunk branching; `with_operand!` picks the kind while the plan is built.

use wide::f32x8;

use crate::buffers::Loc;

/// One operand of a batched op, readable feature by feature.
pub(crate) trait Operand: Copy + Send + Sync + 'static {
    type Row<'a>: Row;
    /// The operand's lanes for output feature `f` (rows from `rows`, unbatched values from
    /// `flat`).
    fn row<'a>(self, rows: &'a [f32x8], flat: &'a [f32], f: usize, chunks: usize) -> Self::Row<'a>;

    /// The one value of every lane of feature `f`, for the unbatched kinds.
    #[inline(always)]
    fn uniform(self, _flat: &[f32], _f: usize) -> Option<f32> {
        None
    }
}

/// One feature's lanes, chunk by chunk.
pub(crate) trait Row: Copy {
    fn at(self, c: usize) -> f32x8;
}

impl Row for &[f32x8] {
    #[inline(always)]
    fn at(self, c: usize) -> f32x8 {
        self[c]
    }
}

impl Row for f32x8 {
    #[inline(always)]
    fn at(self, _c: usize) -> f32x8 {
        self
    }
}

/// The operand's own rows (same feature count as the output), starting at the offset.
#[derive(Clone, Copy)]
pub(crate) struct OwnRows(pub usize);

/// A single row at the offset, repeated for every output feature.
#[derive(Clone, Copy)]
pub(crate) struct OneRow(pub usize);

/// Unbatched values at the offset, one per feature, splatted over the batch.
#[derive(Clone, Copy)]
pub(crate) struct Splats(pub usize);

/// One unbatched value at the offset for everything.
#[derive(Clone, Copy)]
pub(crate) struct Scalar(pub usize);

impl Operand for OwnRows {
    type Row<'a> = &'a [f32x8];
    #[inline(always)]
    fn row<'a>(self, rows: &'a [f32x8], _flat: &'a [f32], f: usize, chunks: usize) -> &'a [f32x8] {
        &rows[self.0 + f * chunks..][..chunks]
    }
}

impl Operand for OneRow {
    type Row<'a> = &'a [f32x8];
    #[inline(always)]
    fn row<'a>(self, rows: &'a [f32x8], _flat: &'a [f32], _f: usize, chunks: usize) -> &'a [f32x8] {
        &rows[self.0..][..chunks]
    }
}

impl Operand for Splats {
    type Row<'a> = f32x8;
    #[inline(always)]
    fn row<'a>(self, _rows: &'a [f32x8], flat: &'a [f32], f: usize, _chunks: usize) -> f32x8 {
        f32x8::splat(flat[self.0 + f])
    }
    #[inline(always)]
    fn uniform(self, flat: &[f32], f: usize) -> Option<f32> {
        Some(flat[self.0 + f])
    }
}

impl Operand for Scalar {
    type Row<'a> = f32x8;
    #[inline(always)]
    fn row<'a>(self, _rows: &'a [f32x8], flat: &'a [f32], _f: usize, _chunks: usize) -> f32x8 {
        f32x8::splat(flat[self.0])
    }
    #[inline(always)]
    fn uniform(self, flat: &[f32], _f: usize) -> Option<f32> {
        Some(flat[self.0])
    }
}

/// Binds `$o` to the [`Operand`] of the tensor at `$loc` broadcast to `$features` output
/// features.
macro_rules! with_operand {
    ($loc:expr, $features:expr, $o:ident => $body:expr) => {{
        use $crate::eval::operand::{OneRow, OwnRows, Scalar, Splats};
        let loc: $crate::buffers::Loc = $loc;
        match (loc.batched, loc.features == $features, loc.features == 1) {
            (true, true, _) => {
                let $o = OwnRows(loc.offset);
                $body
            }
            (true, false, _) => {
                let $o = OneRow(loc.offset);
                $body
            }
            (false, _, true) => {
                let $o = Scalar(loc.offset);
                $body
            }
            (false, _, false) => {
                let $o = Splats(loc.offset);
                $body
            }
        }
    }};
}

pub(crate) use with_operand;

/// The index of feature `f` of an unbatched operand broadcast over features.
#[inline(always)]
pub(crate) fn flat_index(loc: Loc, f: usize) -> usize {
    loc.offset + if loc.features == 1 { 0 } else { f }
}
