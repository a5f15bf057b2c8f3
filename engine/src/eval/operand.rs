//! Operands of an elementwise op on a batched output, located once when the plan is built.
//!
//! An operand of a batched op is one of four kinds: its own rows, one row shared by every
//! output feature, one unbatched value per feature, or a single unbatched value. Each kind is
//! a type, so every (op, operand kinds) combination gets its own monomorphised loop with no
//! per-chunk branching; `with_operand!` picks the kind while the plan is built.

use super::vectors;
use crate::layout::Loc;
use crate::simd::vector::Vector;

/// One operand of a batched op, readable feature by feature.
pub(crate) trait Operand: Copy + Send + Sync + 'static {
    type Row<'a, V: Vector>: Row<V>;
    /// The operand's lanes for output feature `f` (rows from `rows`, unbatched values from
    /// `flat` or, for a parameter, from `params`), `chunks` vectors of `V` per row.
    fn row<'a, V: Vector>(
        self,
        rows: &'a [V],
        flat: &'a [f32],
        params: &'a [f32],
        f: usize,
        chunks: usize,
    ) -> Self::Row<'a, V>;

    /// The one value of every lane of feature `f`, for the unbatched kinds.
    #[inline(always)]
    fn uniform(self, _flat: &[f32], _params: &[f32], _f: usize) -> Option<f32> {
        None
    }
}

/// One feature's lanes, vector by vector.
pub(crate) trait Row<V>: Copy {
    fn at(self, c: usize) -> V;
}

impl<V: Vector> Row<V> for &[V] {
    #[inline(always)]
    fn at(self, c: usize) -> V {
        self[c]
    }
}

impl<V: Vector> Row<V> for V {
    #[inline(always)]
    fn at(self, _c: usize) -> V {
        self
    }
}

/// The operand's own rows (same feature count as the output), starting at the offset (in
/// 8-lane vectors, as every offset of a layout).
#[derive(Clone, Copy)]
pub(crate) struct OwnRows(pub usize);

/// A single row at the offset, repeated for every output feature.
#[derive(Clone, Copy)]
pub(crate) struct OneRow(pub usize);

/// Unbatched values at the offset, one per feature, splatted over the batch.
#[derive(Clone, Copy)]
pub(crate) struct Splats(pub Unbatched);

/// One unbatched value at the offset for everything.
#[derive(Clone, Copy)]
pub(crate) struct Scalar(pub Unbatched);

/// Where unbatched values start: an offset into the flat arena or into the parameters.
#[derive(Clone, Copy)]
pub(crate) struct Unbatched {
    pub offset: usize,
    pub param: bool,
}

impl Unbatched {
    #[inline(always)]
    pub fn get(self, flat: &[f32], params: &[f32], f: usize) -> f32 {
        (if self.param { params } else { flat })[self.offset + f]
    }

    #[inline(always)]
    pub fn slot<'a>(self, flat: &'a mut [f32], params: &'a mut [f32], f: usize) -> &'a mut f32 {
        &mut (if self.param { params } else { flat })[self.offset + f]
    }
}

impl Operand for OwnRows {
    type Row<'a, V: Vector> = &'a [V];
    #[inline(always)]
    fn row<'a, V: Vector>(
        self,
        rows: &'a [V],
        _flat: &'a [f32],
        _params: &'a [f32],
        f: usize,
        chunks: usize,
    ) -> &'a [V] {
        &rows[vectors::<V>(self.0) + f * chunks..][..chunks]
    }
}

impl Operand for OneRow {
    type Row<'a, V: Vector> = &'a [V];
    #[inline(always)]
    fn row<'a, V: Vector>(
        self,
        rows: &'a [V],
        _flat: &'a [f32],
        _params: &'a [f32],
        _f: usize,
        chunks: usize,
    ) -> &'a [V] {
        &rows[vectors::<V>(self.0)..][..chunks]
    }
}

impl Operand for Splats {
    type Row<'a, V: Vector> = V;
    #[inline(always)]
    fn row<'a, V: Vector>(
        self,
        _rows: &'a [V],
        flat: &'a [f32],
        params: &'a [f32],
        f: usize,
        _chunks: usize,
    ) -> V {
        V::splat(self.0.get(flat, params, f))
    }
    #[inline(always)]
    fn uniform(self, flat: &[f32], params: &[f32], f: usize) -> Option<f32> {
        Some(self.0.get(flat, params, f))
    }
}

impl Operand for Scalar {
    type Row<'a, V: Vector> = V;
    #[inline(always)]
    fn row<'a, V: Vector>(
        self,
        _rows: &'a [V],
        flat: &'a [f32],
        params: &'a [f32],
        _f: usize,
        _chunks: usize,
    ) -> V {
        V::splat(self.0.get(flat, params, 0))
    }
    #[inline(always)]
    fn uniform(self, flat: &[f32], params: &[f32], _f: usize) -> Option<f32> {
        Some(self.0.get(flat, params, 0))
    }
}

/// Binds `$o` to the [`Operand`] of the tensor at `$loc` broadcast to `$features` output
/// features.
macro_rules! with_operand {
    ($loc:expr, $features:expr, $o:ident => $body:expr) => {{
        use $crate::eval::operand::{OneRow, OwnRows, Scalar, Splats, Unbatched};
        let loc: $crate::layout::Loc = $loc;
        let unbatched = Unbatched {
            offset: loc.offset,
            param: loc.param,
        };
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
                let $o = Scalar(unbatched);
                $body
            }
            (false, _, false) => {
                let $o = Splats(unbatched);
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
