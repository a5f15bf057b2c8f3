//! The row arena's storage: vectors of eight lanes in 64-byte blocks, so that every row of
//! a program laid out for 16 lanes (an even number of 8-lane chunks) starts on a 64-byte
//! boundary and can be read as AVX-512 vectors.

use std::ops::{Deref, DerefMut};

use wide::f32x8;

/// Two 8-lane vectors, 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([f32x8; 2]);

// SAFETY: two f32x8 (plain f32 data) and no padding: 64 bytes at alignment 64.
unsafe impl wide::bytemuck::Zeroable for Block {}
// SAFETY: as above; every bit pattern is a valid Block.
unsafe impl wide::bytemuck::Pod for Block {}

/// `len` 8-lane vectors starting on a 64-byte boundary.
#[derive(Clone)]
pub(crate) struct Rows {
    blocks: Vec<Block>,
    len: usize,
}

impl Rows {
    /// `len` zeroed vectors.
    pub fn zeroed(len: usize) -> Rows {
        Rows {
            blocks: vec![Block([f32x8::ZERO; 2]); len.div_ceil(2)],
            len,
        }
    }
}

impl Deref for Rows {
    type Target = [f32x8];
    fn deref(&self) -> &[f32x8] {
        &wide::bytemuck::cast_slice(&self.blocks)[..self.len]
    }
}

impl DerefMut for Rows {
    fn deref_mut(&mut self) -> &mut [f32x8] {
        &mut wide::bytemuck::cast_slice_mut(&mut self.blocks)[..self.len]
    }
}
