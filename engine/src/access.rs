//! Borrowing the arenas for one node: its inputs (read) and its own slot (written).
//!
//! Slots are assigned in node order, so splitting an arena at a node's offset separates
//! everything the node reads from what it writes. A batched tensor is seen as `features` rows
//! of `width = chunks` f32x8; an unbatched one as `features` rows of width 1 of f32. Most ops are
//! written once over that generic row view.

use wide::f32x8;

use crate::buffers::{Layout, Slot};

/// A node's storage: rows of f32x8 (batched) or single f32 values (unbatched).
#[derive(Clone, Copy)]
pub(crate) enum View<'a> {
    Rows(&'a [f32x8]),
    Flat(&'a [f32]),
}

/// Mutable storage of one node.
pub(crate) enum ViewMut<'a> {
    Rows(&'a mut [f32x8]),
    Flat(&'a mut [f32]),
}

/// One feature of an operand, broadcast to the output's lane type.
#[derive(Clone, Copy)]
pub(crate) enum Src<'a, L> {
    /// The operand's own row.
    Row(&'a [L]),
    /// One value repeated over the row (an unbatched operand of a batched op).
    Splat(L),
}

impl<'a> View<'a> {
    pub fn features(&self, chunks: usize) -> usize {
        match self {
            View::Rows(rows) => rows.len() / chunks,
            View::Flat(values) => values.len(),
        }
    }

    /// Feature `f` (or feature 0 of a one-feature operand) as a source for a batched output.
    #[inline]
    pub fn batched_src(&self, f: usize, chunks: usize) -> Src<'a, f32x8> {
        let f = if self.features(chunks) == 1 { 0 } else { f };
        match *self {
            View::Rows(rows) => Src::Row(&rows[f * chunks..(f + 1) * chunks]),
            View::Flat(values) => Src::Splat(f32x8::splat(values[f])),
        }
    }

    /// Feature `f` (or feature 0 of a one-feature operand) of an unbatched operand.
    #[inline]
    pub fn scalar(&self, f: usize) -> f32 {
        match *self {
            View::Flat(values) => values[if values.len() == 1 { 0 } else { f }],
            View::Rows(_) => unreachable!("batched operand of an unbatched op"),
        }
    }

    pub fn rows(&self) -> &'a [f32x8] {
        match *self {
            View::Rows(rows) => rows,
            View::Flat(_) => unreachable!("unbatched operand where rows are required"),
        }
    }

    pub fn flat(&self) -> &'a [f32] {
        match *self {
            View::Flat(values) => values,
            View::Rows(_) => unreachable!("batched operand where flat values are required"),
        }
    }
}

/// The part of both arenas that lies before one node: everything it may read.
pub(crate) struct Before<'a> {
    pub rows: &'a [f32x8],
    pub flat: &'a [f32],
    pub layout: &'a Layout,
}

impl<'a> Before<'a> {
    pub fn view(&self, node: u32) -> View<'a> {
        view(self.layout, self.rows, self.flat, node)
    }
}

pub(crate) fn view<'a>(layout: &Layout, rows: &'a [f32x8], flat: &'a [f32], node: u32) -> View<'a> {
    match layout.slots[node as usize] {
        Slot::Rows { offset, features } => {
            View::Rows(&rows[offset..offset + features * layout.chunks])
        }
        Slot::Flat { offset, len } => View::Flat(&flat[offset..offset + len]),
    }
}

/// Splits the arenas at `node`: its inputs (read-only, before) and its own slot (mutable).
pub(crate) fn split_at_node<'a>(
    layout: &'a Layout,
    rows: &'a mut [f32x8],
    flat: &'a mut [f32],
    node: usize,
) -> (Before<'a>, ViewMut<'a>) {
    match layout.slots[node] {
        Slot::Rows { offset, features } => {
            let (before, own) = rows.split_at_mut(offset);
            let own = &mut own[..features * layout.chunks];
            (
                Before {
                    rows: before,
                    flat,
                    layout,
                },
                ViewMut::Rows(own),
            )
        }
        Slot::Flat { offset, len } => {
            let (before, own) = flat.split_at_mut(offset);
            let own = &mut own[..len];
            (
                Before {
                    rows,
                    flat: before,
                    layout,
                },
                ViewMut::Flat(own),
            )
        }
    }
}

/// Gradient storage split at one node: the node's own gradient (read) and everything before
/// it (its inputs' gradients, written).
pub(crate) struct GradSplit<'a> {
    pub own: View<'a>,
    pub rows: &'a mut [f32x8],
    pub flat: &'a mut [f32],
    pub layout: &'a Layout,
}

impl GradSplit<'_> {
    /// Mutable gradient of an input node.
    pub fn input(&mut self, node: u32) -> ViewMut<'_> {
        match self.layout.slots[node as usize] {
            Slot::Rows { offset, features } => {
                ViewMut::Rows(&mut self.rows[offset..offset + features * self.layout.chunks])
            }
            Slot::Flat { offset, len } => ViewMut::Flat(&mut self.flat[offset..offset + len]),
        }
    }
}

pub(crate) fn split_grads_at_node<'a>(
    layout: &'a Layout,
    rows: &'a mut [f32x8],
    flat: &'a mut [f32],
    node: usize,
) -> GradSplit<'a> {
    match layout.slots[node] {
        Slot::Rows { offset, features } => {
            let (before, own) = rows.split_at_mut(offset);
            let own = &own[..features * layout.chunks];
            GradSplit {
                own: View::Rows(own),
                rows: before,
                flat,
                layout,
            }
        }
        Slot::Flat { offset, len } => {
            let (before, own) = flat.split_at_mut(offset);
            let own = &own[..len];
            GradSplit {
                own: View::Flat(own),
                rows,
                flat: before,
                layout,
            }
        }
    }
}

/// Sum of `term(c)` over the chunks of a row, padding lanes masked out.
#[inline]
pub(crate) fn batch_sum(lane_mask: &[f32x8], term: impl Fn(usize) -> f32x8) -> f32 {
    let mut acc = f32x8::ZERO;
    for (c, &mask) in lane_mask.iter().enumerate() {
        acc += term(c) & mask;
    }
    acc.reduce_add()
}
