//! A batched slot shared out between threads by lanes: part `p` of `n` owns a contiguous range
//! of the 8-lane chunks of every row, so layers whose outputs overlap within a sample (the
//! Winograd transforms' tiles) can run on the batch's chunks in parallel without two threads
//! ever touching one element.

use std::marker::PhantomData;
use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

/// The rows of a batched slot: `rows` rows of `chunks` vectors each.
pub(crate) struct LaneChunks<'a> {
    ptr: *mut f32x8,
    rows: usize,
    chunks: usize,
    _slot: PhantomData<&'a mut [f32x8]>,
}

impl<'a> LaneChunks<'a> {
    /// # Panics
    /// If `slot` is not a whole number of rows of `chunks` vectors.
    pub fn new(slot: &'a mut [f32x8], chunks: usize) -> LaneChunks<'a> {
        assert!(
            chunks > 0 && slot.len().is_multiple_of(chunks),
            "{} vectors are not rows of {chunks}",
            slot.len()
        );
        LaneChunks {
            ptr: slot.as_mut_ptr(),
            rows: slot.len() / chunks,
            chunks,
            _slot: PhantomData,
        }
    }

    /// Runs `work` once per item of `scratch` (one part each, on the current rayon pool), with
    /// the part's chunks of every row: part `p` owns chunks `p * per..(p + 1) * per` (the
    /// last part fewer), so there must be `chunks.div_ceil(per)` items.
    pub fn for_each_part<S: Send>(
        self,
        per: usize,
        scratch: impl IndexedParallelIterator<Item = S>,
        work: impl Fn(LanePart<'_>, S) + Sync + Send,
    ) {
        let parts = scratch.len();
        assert!(
            per > 0 && parts == self.chunks.div_ceil(per),
            "{parts} parts of {per} of {} chunks",
            self.chunks
        );
        let (ptr, rows, chunks) = (SendPtr(self.ptr), self.rows, self.chunks);
        scratch.enumerate().for_each(|(p, s)| {
            let part = LanePart {
                ptr: ptr.get(),
                rows,
                chunks,
                owned: p * per..((p + 1) * per).min(chunks),
                _slot: PhantomData,
            };
            work(part, s)
        });
    }
}

/// The slot's base pointer, handed to the parts (which touch disjoint chunks).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32x8);

impl SendPtr {
    fn get(self) -> *mut f32x8 {
        self.0
    }
}

// SAFETY: the parts made from it own disjoint chunk ranges (see `LanePart`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Chunks `owned` of every row of a slot; no other part reads or writes them meanwhile.
pub(crate) struct LanePart<'a> {
    ptr: *mut f32x8,
    rows: usize,
    chunks: usize,
    owned: Range<usize>,
    _slot: PhantomData<&'a mut [f32x8]>,
}

impl LanePart<'_> {
    /// The chunks this part owns.
    pub fn owned(&self) -> Range<usize> {
        self.owned.clone()
    }

    /// Where chunk `h` of row `row` lives.
    ///
    /// # Panics
    /// If the row is outside the slot or the chunk not this part's.
    #[inline(always)]
    fn at(&self, row: usize, h: usize) -> *mut f32x8 {
        assert!(
            row < self.rows && self.owned.contains(&h),
            "row {row} chunk {h} outside rows {} chunks {:?}",
            self.rows,
            self.owned
        );
        // SAFETY: row < rows and h < chunks: within the slot `LaneChunks::new` borrowed.
        unsafe { self.ptr.add(row * self.chunks + h) }
    }

    /// Sets chunk `h` of row `row`.
    #[inline(always)]
    pub fn set(&mut self, row: usize, h: usize, v: f32x8) {
        // SAFETY: in the slot, and chunk h is this part's alone (`at` checks both); `&mut self`
        // keeps this part's accesses one at a time.
        unsafe { *self.at(row, h) = v }
    }

    /// Adds `v` to chunk `h` of row `row`.
    #[inline(always)]
    pub fn add(&mut self, row: usize, h: usize, v: f32x8) {
        // SAFETY: as in `set`.
        unsafe { *self.at(row, h) += v }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_writes_its_own_chunks() {
        let (rows, chunks) = (5, 7);
        let mut slot = vec![f32x8::ZERO; rows * chunks];
        // 3 chunks per part: parts of 3, 3 and 1
        let mut scratch = vec![0usize; 3];
        LaneChunks::new(&mut slot, chunks).for_each_part(
            3,
            scratch.par_iter_mut(),
            |mut part, count| {
                for h in part.owned() {
                    for row in 0..rows {
                        part.add(row, h, f32x8::splat((row * chunks + h) as f32));
                        *count += 1;
                    }
                }
            },
        );
        for (i, v) in slot.iter().enumerate() {
            assert_eq!(*v, f32x8::splat(i as f32));
        }
        assert_eq!(scratch.iter().sum::<usize>(), rows * chunks);
    }
}
