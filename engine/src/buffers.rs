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
//!   the evaluator splits the arenas there to read inputs while writing the node.
//! * An op that saves something for its backward pass (pow keeps ln(base), sine and cosine
//!   keep each other) gets an auxiliary slot of its own shape right after its slot.

use std::sync::Arc;

use wide::f32x8;

use crate::eval::Plan;
use crate::tape::{BinaryOp, NodeId, Op, Tape, UnaryOp};

/// Where one node's values live: `features` rows of `chunks` vectors at `offset` in the row
/// arena (batched), or `features` values at `offset` in the flat arena (unbatched).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub batched: bool,
    pub offset: usize,
    pub features: usize,
}

impl Loc {
    /// Length in its arena's units (vectors or values).
    pub fn len(self, chunks: usize) -> usize {
        if self.batched {
            self.features * chunks
        } else {
            self.features
        }
    }

    /// The arena range of the slot.
    pub fn range(self, chunks: usize) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len(chunks)
    }

    /// The auxiliary slot that follows this one.
    pub fn aux(self, chunks: usize) -> Loc {
        Loc {
            offset: self.offset + self.len(chunks),
            ..self
        }
    }
}

/// Whether an op saves an auxiliary tensor of its own shape for its backward pass: the
/// powers keep ln|base|, sine and cosine keep each other (both come from one evaluation).
pub(crate) fn has_aux(op: &Op) -> bool {
    matches!(
        op,
        Op::Binary(BinaryOp::Pow | BinaryOp::SignedPow) | Op::Unary(UnaryOp::Sin | UnaryOp::Cos)
    )
}

/// Slot assignment for one tape at one batch size.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub tape: u32,
    pub batch: usize,
    pub chunks: usize,
    pub locs: Vec<Loc>,
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
        let (mut rows_len, mut flat_len, mut scratch_len) = (0, param_len, 0);
        let mut locs = Vec::with_capacity(tape.nodes.len());
        for node in &tape.nodes {
            let features = node.shape.features;
            let copies = if has_aux(&node.op) { 2 } else { 1 };
            let loc = if let Op::Param { index } = node.op {
                Loc {
                    batched: false,
                    offset: tape.params[index].range.start,
                    features,
                }
            } else if node.shape.batched {
                rows_len += copies * features * chunks;
                Loc {
                    batched: true,
                    offset: rows_len - copies * features * chunks,
                    features,
                }
            } else {
                flat_len += copies * features;
                Loc {
                    batched: false,
                    offset: flat_len - copies * features,
                    features,
                }
            };
            if let Op::ProdFeatures { group } = node.op {
                let lanes = if node.shape.batched {
                    group * chunks
                } else {
                    group.div_ceil(8)
                };
                scratch_len = scratch_len.max(lanes);
            }
            locs.push(loc);
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
            locs,
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

    pub fn loc(&self, id: NodeId) -> Loc {
        assert_eq!(id.tape, self.tape, "node id from another tape");
        self.locs[id.index()]
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

            /// Every feature of two distinct batched nodes at once, each as one slice with
            /// feature f at f * stride, and the stride (8 * chunks, at least the batch;
            /// lanes past the batch are padding). Lets a data source write a whole batch in
            /// place, for instance inputs and targets together.
            ///
            /// # Panics
            /// If a node is unbatched or both are the same node.
            pub fn two_nodes_mut(
                &mut self,
                a: NodeId,
                b: NodeId,
            ) -> (&mut [f32], &mut [f32], usize) {
                let chunks = self.layout.chunks;
                let (la, lb) = (self.layout.loc(a), self.layout.loc(b));
                assert!(la.batched && lb.batched, "both nodes must be batched");
                assert!(a != b, "two different nodes");
                let (ra, rb) = (la.range(chunks), lb.range(chunks));
                let (first, second) = if ra.start < rb.start {
                    (ra, rb)
                } else {
                    (rb, ra)
                };
                let (head, tail) = self.rows.split_at_mut(second.start);
                let (first, second) = (
                    wide::bytemuck::cast_slice_mut::<f32x8, f32>(&mut head[first]),
                    wide::bytemuck::cast_slice_mut::<f32x8, f32>(&mut tail[..second.len()]),
                );
                let stride = 8 * chunks;
                if la.offset < lb.offset {
                    (first, second, stride)
                } else {
                    (second, first, stride)
                }
            }

            /// The values of an unbatched node.
            ///
            /// # Panics
            /// If the node is batched.
            pub fn flat(&self, id: NodeId) -> &[f32] {
                let loc = self.layout.loc(id);
                assert!(!loc.batched, "node {} is batched", id.index());
                &self.flat[loc.range(1)]
            }

            /// Mutable view of [`Self::flat`].
            pub fn flat_mut(&mut self, id: NodeId) -> &mut [f32] {
                let loc = self.layout.loc(id);
                assert!(!loc.batched, "node {} is batched", id.index());
                &mut self.flat[loc.range(1)]
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
                if self.layout.loc(id).batched {
                    self.feature(id, f)[b]
                } else {
                    self.flat(id)[f]
                }
            }

            fn row_range(&self, id: NodeId, f: usize) -> std::ops::Range<usize> {
                let loc = self.layout.loc(id);
                assert!(loc.batched, "node {} is unbatched", id.index());
                assert!(f < loc.features, "feature {f} of {}", loc.features);
                let start = loc.offset + f * self.layout.chunks;
                start..start + self.layout.chunks
            }
        }
    };
}

/// Forward values of every node of one tape, for one batch size. Also holds the parameters.
#[derive(Clone)]
pub struct Values {
    pub(crate) layout: Layout,
    pub(crate) plan: Arc<Plan>,
    pub(crate) rows: Vec<f32x8>,
    pub(crate) flat: Vec<f32>,
}

impl Values {
    /// Zeroed buffers (constants filled in) for `tape` at `batch` samples.
    pub fn new(tape: &Tape, batch: usize) -> Values {
        let layout = Layout::new(tape, batch);
        let mut values = Values {
            plan: Arc::new(Plan::new(tape, &layout)),
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

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values")
            .field("batch", &self.layout.batch)
            .field("flat", &self.flat)
            .finish_non_exhaustive()
    }
}

arena_access!(Values);

/// Gradients of the tape's output with respect to every node that needs one.
#[derive(Clone)]
pub struct Grads {
    pub(crate) layout: Layout,
    pub(crate) plan: Arc<Plan>,
    pub(crate) rows: Vec<f32x8>,
    pub(crate) flat: Vec<f32>,
    pub(crate) scratch: Vec<f32x8>,
}

impl Grads {
    /// Zeroed gradient buffers for `tape` at `batch` samples.
    pub fn new(tape: &Tape, batch: usize) -> Grads {
        let layout = Layout::new(tape, batch);
        Grads {
            plan: Arc::new(Plan::new(tape, &layout)),
            rows: vec![f32x8::ZERO; layout.rows_len],
            flat: vec![0.0; layout.flat_len],
            scratch: vec![f32x8::ZERO; layout.scratch_len],
            layout,
        }
    }
}

impl std::fmt::Debug for Grads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grads")
            .field("batch", &self.layout.batch)
            .field("flat", &self.flat)
            .finish_non_exhaustive()
    }
}

arena_access!(Grads);
