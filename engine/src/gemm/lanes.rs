//! A batched slot shared out between threads by lanes: part `p` of `n` owns a contiguous range
//! of the 8-lane chunks of every row, so layers whose outputs overlap within a sample (the
//! Winograd transforms' tiles) can run on the batch's chunks in parallel without two threads
//! ever touching one element.

use std::marker::PhantomData;
use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

use crate::simd::vector::Vector;

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

    /// The slot's first vector (for prefetch hints: this part may read and write only its
    /// own chunks).
    pub fn base(&self) -> *const f32x8 {
        self.ptr
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

    /// Sets the chunks of row `row` from `h` on to `v`.
    #[inline(always)]
    pub fn set<V: Vector>(&mut self, row: usize, h: usize, v: V) {
        let at = self.vector::<V>(row, h);
        // SAFETY: in the slot, and the chunks this part's alone (`vector` checks both);
        // `&mut self` keeps this part's accesses one at a time.
        unsafe { at.write_unaligned(v) }
    }

    /// Where the `V::LANES / 8` chunks of row `row` from `h` on live.
    ///
    /// # Panics
    /// If the row is outside the slot or a chunk not this part's.
    #[inline(always)]
    fn vector<V: Vector>(&self, row: usize, h: usize) -> *mut V {
        let _ = self.at(row, h + V::LANES / 8 - 1);
        self.at(row, h).cast()
    }

    /// Puts `v` into the chunks from `h` on of row `row` as `put` says.
    ///
    /// # Panics
    /// If the row is outside the slot or a chunk not this part's.
    #[inline(always)]
    pub fn put<V: Vector>(&mut self, row: usize, h: usize, v: V, put: Put) {
        self.put_block(row, 0, h, &[[v]], put);
    }

    /// Puts `block[i][j]` into the chunks from `h` on of row `first + i * stride + j` as
    /// `put` says, with one bounds check for the whole block.
    ///
    /// # Panics
    /// If the block's last row is outside the slot or a chunk not this part's.
    #[inline(always)]
    pub fn put_block<V: Vector, const R: usize, const C: usize>(
        &mut self,
        first: usize,
        stride: usize,
        h: usize,
        block: &[[V; C]; R],
        put: Put,
    ) {
        if R == 0 || C == 0 {
            return;
        }
        let last = (R - 1)
            .checked_mul(stride)
            .and_then(|rows| rows.checked_add(first))
            .and_then(|row| row.checked_add(C - 1))
            .expect("the block's rows fit a usize");
        // checks the block's last (largest) row and the chunks
        let _ = self.vector::<V>(last, h);
        for (i, line) in block.iter().enumerate() {
            for (j, &v) in line.iter().enumerate() {
                // SAFETY: row first + i * stride + j <= last < rows and the chunks from h on
                // are this part's alone (checked by `vector` above); `&mut self` keeps
                // accesses one at a time.
                unsafe {
                    let at = self
                        .ptr
                        .add((first + i * stride + j) * self.chunks + h)
                        .cast::<V>();
                    let value = match put {
                        Put::Set => v,
                        Put::Add => at.read_unaligned() + v,
                        Put::Over(rows, cols) if i < rows || j < cols => at.read_unaligned() + v,
                        Put::Over(..) => v + V::splat(0.0),
                    };
                    at.write_unaligned(value);
                }
            }
        }
    }
}

/// How [`LanePart::put_block`] puts a block into its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Put {
    /// Writes it.
    Set,
    /// Adds it to the rows' values.
    Add,
    /// Adds its first `.0` lines and `.1` columns (where blocks put before overlap it) and
    /// writes the rest plus zero: overlapping blocks summed in order into rows never cleared,
    /// with the bits of clearing them first (`v + 0` is `v`, but for a zero's sign).
    Over(usize, usize),
}

impl Put {
    /// How element (i, j) of a block is put, as a block of its own.
    pub fn at(self, i: usize, j: usize) -> Put {
        match self {
            Put::Over(lines, columns) if i < lines || j < columns => Put::Add,
            Put::Over(..) => Put::Over(0, 0),
            put => put,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_lands_on_its_rows_and_one_past_the_slot_is_refused() {
        let (rows, chunks) = (12, 2);
        let mut slot = vec![f32x8::ZERO; rows * chunks];
        let mut scratch = [(); 1];
        LaneChunks::new(&mut slot, chunks).for_each_part(
            2,
            scratch.par_iter_mut(),
            |mut part, _| {
                let block: [[f32x8; 2]; 3] = std::array::from_fn(|i| {
                    std::array::from_fn(|j| f32x8::splat((10 * i + j) as f32))
                });
                // rows 3, 4, 7, 8, 11, 12 would be one too many: start at 2 (2, 3, 6, 7, 10, 11)
                part.put_block(2, 4, 1, &block, Put::Set);
                part.put_block(2, 4, 1, &block, Put::Add);
                let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    part.put_block(3, 4, 1, &block, Put::Set)
                }));
                assert!(refused.is_err());
            },
        );
        for row in 0..rows {
            let (i, j) = ((row as isize - 2) / 4, (row as isize - 2) % 4);
            let want = if row >= 2 && (0..2).contains(&j) && i < 3 {
                2.0 * (10 * i + j) as f32
            } else {
                0.0
            };
            assert_eq!(slot[row * chunks + 1], f32x8::splat(want), "row {row}");
            assert_eq!(slot[row * chunks], f32x8::ZERO, "row {row}, other chunk");
        }
    }

    #[test]
    fn an_overlapping_block_adds_where_it_overlaps_and_writes_the_rest() {
        let (rows, chunks) = (9, 1);
        let mut slot = vec![f32x8::splat(5.0); rows * chunks];
        let mut scratch = [(); 1];
        LaneChunks::new(&mut slot, chunks).for_each_part(
            1,
            scratch.par_iter_mut(),
            |mut part, _| {
                // a 3 x 3 block on rows 0..9 (stride 3) overlapping one line and one column
                let mut block = [[f32x8::splat(1.0); 3]; 3];
                block[2][2] = f32x8::splat(-0.0);
                part.put_block(0, 3, 0, &block, Put::Over(1, 1));
                part.put_block(4, 0, 0, &[[f32x8::splat(2.0)]], Put::Over(1, 1).at(1, 1));
                part.put_block(3, 0, 0, &[[f32x8::splat(2.0)]], Put::Over(1, 1).at(1, 0));
            },
        );
        let got: Vec<u32> = slot.iter().map(|v| v.to_array()[0].to_bits()).collect();
        // line 0 and column 0 added to the 5s; the rest written, -0 as +0; then row 4
        // written again (2) and row 3 added to (6 + 2)
        let want = [6.0f32, 6.0, 6.0, 8.0, 2.0, 1.0, 6.0, 1.0, 0.0].map(f32::to_bits);
        assert_eq!(got, want);
    }

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
                        part.set(row, h, f32x8::splat((row * chunks + h) as f32));
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
