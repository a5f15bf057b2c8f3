//! The row arena's storage: 8-lane vectors, starting on a 64-byte boundary when asked, so
//! that every row of a program laid out for 16 lanes (an even number of 8-lane chunks) can
//! be read as AVX-512 vectors, and so can the lane blocks of a Winograd convolution's rows.
//!
//! Other 8-lane programs' storage stays a plain vector, as before 16-lane programs existed,
//! so the tiny 8-lane path's memory layout is exactly what it was.

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
        let vectors = zeroed(len + usize::from(aligned));
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

/// `len` zeroed vectors, the 2 MB pages within them on huge pages where Linux has them: the
/// CNN's convolutions step through rows 512 bytes apart across tens of megabytes, which on
/// 4 kB pages misses the TLB at nearly every eighth row.
pub(crate) fn zeroed(len: usize) -> Vec<f32x8> {
    let mut vectors = Vec::with_capacity(len);
    // before the first write, so that the pages are made huge as they are first touched
    huge_pages(
        vectors.spare_capacity_mut().as_ptr() as usize,
        len * size_of::<f32x8>(),
    );
    vectors.resize(len, f32x8::ZERO);
    vectors
}

/// Advises Linux to back the whole 2 MB pages in `bytes` bytes from `start` by huge pages.
fn huge_pages(start: usize, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let first = start.next_multiple_of(HUGE);
        let end = (start + bytes) / HUGE * HUGE;
        if end > first {
            // SAFETY: advice only, on whole pages inside this allocation; contents unchanged.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, bytes);
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
