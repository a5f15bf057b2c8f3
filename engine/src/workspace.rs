//! Working space that grows to the largest request and is then reused.

use wide::f32x8;

use crate::simd::vector::Vector;

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
            self.vectors = crate::rows::zeroed(len);
        }
        &mut self.vectors[..len]
    }

    /// Space for `len` 8-lane vectors starting on a 64-byte boundary (one vector more is
    /// taken to reach it).
    pub(crate) fn take_aligned(&mut self, len: usize) -> &mut [f32x8] {
        let space = self.take(len + 1);
        let start = usize::from(!(space.as_ptr() as usize).is_multiple_of(64));
        &mut space[start..][..len]
    }

    /// Space for `len` 8-lane vectors as vectors of `V` (for 16 lanes on a 64-byte
    /// boundary).
    pub(crate) fn take_lanes<V: Vector>(&mut self, len: usize) -> &mut [V] {
        let space = if V::LANES > 8 {
            self.take_aligned(len)
        } else {
            self.take(len)
        };
        wide::bytemuck::cast_slice_mut(space)
    }
}
