//! Working space that grows to the largest request and is then reused.

use wide::f32x8;

use crate::rows::Rows;

/// Scratch vectors for the steps that need some (products over features, matrix packing):
/// after the first pass at a given thread count, passes allocate nothing. The space starts
/// on a 64-byte boundary, as rows do, so 16-lane steps can use it too.
#[derive(Clone)]
pub struct Workspace {
    vectors: Rows,
}

impl Default for Workspace {
    fn default() -> Workspace {
        Workspace::with_len(0)
    }
}

impl Workspace {
    /// Space for `len` vectors up front.
    pub fn with_len(len: usize) -> Workspace {
        Workspace {
            vectors: Rows::zeroed(len),
        }
    }

    /// `len` vectors of space (contents unspecified).
    pub fn take(&mut self, len: usize) -> &mut [f32x8] {
        if self.vectors.len() < len {
            self.vectors = Rows::zeroed(len);
        }
        &mut self.vectors[..len]
    }
}
