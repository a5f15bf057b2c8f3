//! Values and gradients of every node, in two flat arenas.
//!
//! # Layout
//! * A batched node of F features owns F *rows*; a row holds the whole batch of one feature
//!   as `chunks = ceil(batch / 8)` consecutive [`f32x8`] (feature-major, batch innermost).
//!   The lanes past `batch` in the last chunk are padding: ops compute on them freely (lanes
//!   never mix), and every reduction over the batch masks them out.
//! * An unbatched node owns `features` consecutive f32 in the flat arena. The parameters come
//!   first, in declaration order, so all trainable values form one slice
//!   ([`Values::params`]) and their gradients another ([`Grads::params`]), ready for the
//!   optimiser.
//! * Slots are assigned in node order, so every input of a node lives before it in its arena;
//!   the evaluators split the arenas there to read inputs while writing the node.

use wide::f32x8;

use crate::tape::{NodeId, Op, Tape};

/// Where one node's values live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `features` rows of `chunks` vectors starting at `offset` in the row arena.
    Rows { offset: usize, features: usize },
    /// `len` values starting at `offset` in the flat arena.
    Flat { offset: usize, len: usize },
}

/// Slot assignment for one tape at one batch size.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub tape: u32,
    pub batch: usize,
    pub chunks: usize,
    pub slots: Vec<Slot>,
    pub rows_len: usize,
    pub flat_len: usize,
    pub param_len: usize,
    /// Per chunk, all-ones bits on the lanes holding real samples (zeros on padding).
    pub lane_mask: Vec<f32x8>,
    /// Scratch vectors the product backward needs (largest group times chunks).
    pub scratch_len: usize,
}

impl Layout {
    pub fn new(tape: &Tape, batch: usize) -> Layout {
        assert!(batch > 0, "batch size must be at least 1");
        let chunks = batch.div_ceil(8);
        let param_len = tape.param_len();
        let mut rows_len = 0;
        let mut flat_len = param_len;
        let mut scratch_len = 0;
        let mut slots = Vec::with_capacity(tape.nodes.len());
        for node in &tape.nodes {
            let features = node.shape.features;
            let slot = if let Op::Param { index } = node.op {
                let range = &tape.params[index].range;
                Slot::Flat {
                    offset: range.start,
                    len: range.len(),
                }
            } else if node.shape.batched {
                let slot = Slot::Rows {
                    offset: rows_len,
                    features,
                };
                rows_len += features * chunks;
                slot
            } else {
                let slot = Slot::Flat {
                    offset: flat_len,
                    len: features,
                };
                flat_len += features;
                slot
            };
            if let Op::ProdFeatures { group } = node.op {
                let per_group = if node.shape.batched {
                    group * chunks
                } else {
                    group.div_ceil(8)
                };
                scratch_len = scratch_len.max(per_group);
            }
            slots.push(slot);
        }
        let lane_mask = (0..chunks)
            .map(|c| {
                let mut lanes = [0.0f32; 8];
                for (lane, bits) in lanes.iter_mut().enumerate() {
                    if c * 8 + lane < batch {
                        *bits = f32::from_bits(u32::MAX);
                    }
                }
                f32x8::from(lanes)
            })
            .collect();
        Layout {
            tape: tape.id,
            batch,
            chunks,
            slots,
            rows_len,
            flat_len,
            param_len,
            lane_mask,
            scratch_len,
        }
    }

    pub fn check(&self, tape: &Tape) {
        assert_eq!(self.tape, tape.id, "buffers were made for another tape");
    }

    pub fn slot(&self, id: NodeId) -> Slot {
        assert_eq!(id.tape, self.tape, "node id from another tape");
        self.slots[id.index()]
    }
}

/// Shared accessors of the two buffer kinds.
macro_rules! arena_access {
    ($ty:ident) => {
        impl $ty {
            /// Number of samples per batch.
            pub fn batch(&self) -> usize {
                self.layout.batch
            }

            /// All trainable values (or their gradients), parameters in declaration order.
            pub fn params(&self) -> &[f32] {
                &self.flat[..self.layout.param_len]
            }

            /// Mutable view of [`Self::params`].
            pub fn params_mut(&mut self) -> &mut [f32] {
                &mut self.flat[..self.layout.param_len]
            }

            /// Feature `f` of a batched node, one value per sample.
            ///
            /// # Panics
            /// If the node is unbatched or `f` is out of range.
            pub fn feature(&self, id: NodeId, f: usize) -> &[f32] {
                let range = self.row_range(id, f);
                &wide::bytemuck::cast_slice::<f32x8, f32>(&self.rows[range])[..self.layout.batch]
            }

            /// Mutable view of [`Self::feature`].
            pub fn feature_mut(&mut self, id: NodeId, f: usize) -> &mut [f32] {
                let range = self.row_range(id, f);
                let batch = self.layout.batch;
                &mut wide::bytemuck::cast_slice_mut::<f32x8, f32>(&mut self.rows[range])[..batch]
            }

            /// The values of an unbatched node.
            ///
            /// # Panics
            /// If the node is batched.
            pub fn flat(&self, id: NodeId) -> &[f32] {
                match self.layout.slot(id) {
                    Slot::Flat { offset, len } => &self.flat[offset..offset + len],
                    Slot::Rows { .. } => panic!("node {} is batched", id.index()),
                }
            }

            /// Mutable view of [`Self::flat`].
            pub fn flat_mut(&mut self, id: NodeId) -> &mut [f32] {
                match self.layout.slot(id) {
                    Slot::Flat { offset, len } => &mut self.flat[offset..offset + len],
                    Slot::Rows { .. } => panic!("node {} is batched", id.index()),
                }
            }

            /// The single value of a one-element unbatched node (the loss, a regulariser).
            pub fn scalar(&self, id: NodeId) -> f32 {
                let values = self.flat(id);
                assert_eq!(
                    values.len(),
                    1,
                    "node {} holds {} values",
                    id.index(),
                    values.len()
                );
                values[0]
            }

            /// Value of feature `f` for sample `b`, batched or not (unbatched ignores `b`).
            pub fn get(&self, id: NodeId, b: usize, f: usize) -> f32 {
                match self.layout.slot(id) {
                    Slot::Flat { .. } => self.flat(id)[f],
                    Slot::Rows { .. } => self.feature(id, f)[b],
                }
            }

            fn row_range(&self, id: NodeId, f: usize) -> std::ops::Range<usize> {
                match self.layout.slot(id) {
                    Slot::Rows { offset, features } => {
                        assert!(f < features, "feature {f} of {features}");
                        let start = offset + f * self.layout.chunks;
                        start..start + self.layout.chunks
                    }
                    Slot::Flat { .. } => panic!("node {} is unbatched", id.index()),
                }
            }
        }
    };
}

/// Forward values of every node of one tape, for one batch size. Also holds the parameters.
#[derive(Clone, Debug)]
pub struct Values {
    pub(crate) layout: Layout,
    pub(crate) rows: Vec<f32x8>,
    pub(crate) flat: Vec<f32>,
}

impl Values {
    /// Zeroed buffers (constants filled in) for `tape` at `batch` samples.
    pub fn new(tape: &Tape, batch: usize) -> Values {
        let layout = Layout::new(tape, batch);
        let mut values = Values {
            rows: vec![f32x8::ZERO; layout.rows_len],
            flat: vec![0.0; layout.flat_len],
            layout,
        };
        for (index, node) in tape.nodes.iter().enumerate() {
            if let Op::Const { values: constants } = &node.op {
                values
                    .flat_mut(tape.id_at(index))
                    .copy_from_slice(constants);
            }
        }
        values
    }
}

arena_access!(Values);

/// Gradients of the tape's output with respect to every node that needs one.
#[derive(Clone, Debug)]
pub struct Grads {
    pub(crate) layout: Layout,
    pub(crate) rows: Vec<f32x8>,
    pub(crate) flat: Vec<f32>,
    pub(crate) scratch: Vec<f32x8>,
}

impl Grads {
    /// Zeroed gradient buffers for `tape` at `batch` samples.
    pub fn new(tape: &Tape, batch: usize) -> Grads {
        let layout = Layout::new(tape, batch);
        Grads {
            rows: vec![f32x8::ZERO; layout.rows_len],
            flat: vec![0.0; layout.flat_len],
            scratch: vec![f32x8::ZERO; layout.scratch_len],
            layout,
        }
    }
}

arena_access!(Grads);
