//! The row arena's storage: 8-lane vectors, starting on a 64-byte boundary when asked, so
//! that every row of a program laid out for 16 lanes (an even number of 8-lane chunks) can
//! be read as AVX-512 vectors.
//!
//! Storage for 8 lanes stays a plain vector, as before 16-lane programs existed, so the
//! 8-lane path's memory layout is exactly what it was.

use std::ops::{Deref, DerefMut};

use wide::f32x8;

/// `len` 8-lane vectors, the first on a 64-byte boundary if `aligned`.
pub(crate) struct Rows {
    vectors: Vec<f32x8>,
    /// Where the rows start in `vectors`: 0, or 1 to reach a 64-byte boundary.
    start: usize,
    len: usize,
    aligned: bool,
}

impl Rows {
    /// `len` zeroed vectors.
    pub fn zeroed(len: usize, aligned: bool) -> Rows {
        let vectors = vec![f32x8::ZERO; len + usize::from(aligned)];
        // a Vec of f32x8 is 32-byte aligned: one vector more reaches 64 bytes
        let start = usize::from(aligned && !(vectors.as_ptr() as usize).is_multiple_of(64));
        Rows {
            vectors,
            start,
            len,
            aligned,
        }
    }
}

impl Clone for Rows {
    fn clone(&self) -> Rows {
        // a copy of the Vec may land elsewhere modulo 64: lay it out again
        let mut copy = Rows::zeroed(self.len, self.aligned);
        copy.copy_from_slice(self);
        copy
    }
}

impl Deref for Rows {
    type Target = [f32x8];
    #[inline(always)]
    fn deref(&self) -> &[f32x8] {
        &self.vectors[self.start..][..self.len]
    }
}

impl DerefMut for Rows {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [f32x8] {
        &mut self.vectors[self.start..][..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_rows_start_on_64_bytes_also_when_cloned() {
        for len in [0, 1, 7, 64, 1000] {
            let rows = Rows::zeroed(len, true);
            assert_eq!(rows.len(), len);
            assert!((rows.as_ptr() as usize).is_multiple_of(64));
            let copy = rows.clone();
            assert!((copy.as_ptr() as usize).is_multiple_of(64));
            assert_eq!(copy.len(), len);
        }
    }
}
