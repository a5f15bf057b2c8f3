//! Working space that grows to the largest request and is then reused.

use wide::f32x8;

/// Scratch vectors for the steps that need some (products over features, matrix packing):
/// after the first pass at a given thread count, passes allocate nothing.
#[derive(Clone, Default)]
pub struct Workspace {
    vectors: Vec<f32x8>,
}

impl Workspace {
    /// Space for `len` vectors up front.
    pub fn with_len(len: usize) -> Workspace {
        Workspace {
            vectors: vec![f32x8::ZERO; len],
        }
    }

    /// `len` vectors of space (contents unspecified).
    pub fn take(&mut self, len: usize) -> &mut [f32x8] {
        if self.vectors.len() < len {
            self.vectors.resize(len, f32x8::ZERO);
        }
        &mut self.vectors[..len]
    }
}
