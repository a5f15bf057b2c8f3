//! Where every node of a tape keeps its values (and its gradient) at one batch size.
//!
//! * A batched node of F features owns F *rows* in the row arena; a row holds the whole batch
//!   of one feature as `chunks` consecutive [`f32x8`] (feature-major, batch innermost):
//!   `ceil(batch / 8)` for a program at 8 lanes, rounded up to an even number at 16, so its
//!   rows are whole 16-lane vectors on 64-byte boundaries (`rows.rs`). The lanes past `batch`
//!   are padding: ops compute on them freely (lanes never mix), and every reduction over the
//!   batch leaves them out.
//! * An unbatched node owns `features` consecutive f32 in the flat arena.
//! * A parameter lives in the parameter vector, at its
//!   [`ParamInfo::range`](crate::ParamInfo::range): the caller owns the parameters once,
//!   whatever the number of batch sizes it evaluates them at, and the gradients of a
//!   backward pass have the same layout.
//! * Slots are assigned in node order, so every input of a node lives before it in its arena;
//!   the evaluator splits an arena there to read the inputs while it writes the node.
//! * An op that saves something for its backward pass (pow keeps ln(base), sine and cosine
//!   keep each other) gets an auxiliary slot of its own shape right after its slot; a pooled
//!   convolution's is larger ([`aux_features`]).

use wide::f32x8;

use crate::tape::{BinaryOp, ConvMethod, NodeId, Op, Tape, UnaryOp};

/// Where one node's values live: `features` rows of `chunks` vectors at `offset` in the row
/// arena (batched), or `features` values at `offset` in the flat arena or, for a parameter,
/// in the parameter vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub batched: bool,
    /// A parameter: the offset is into the parameter vector.
    pub param: bool,
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

    /// The unbatched slice this slot's offset indexes: the parameters or the flat arena.
    #[inline(always)]
    pub fn source<'a>(self, flat: &'a [f32], params: &'a [f32]) -> &'a [f32] {
        if self.param { params } else { flat }
    }

    /// Mutable [`Self::source`].
    #[inline(always)]
    pub fn source_mut<'a>(self, flat: &'a mut [f32], params: &'a mut [f32]) -> &'a mut [f32] {
        if self.param { params } else { flat }
    }
}

/// The unbatched slice of a slot known at compile time to be a parameter (`PARAM`) or not:
/// the tiny unbatched steps (a unit's weights and regularisers) pay no branch for it.
#[inline(always)]
pub(crate) fn pick<'a, const PARAM: bool>(flat: &'a [f32], params: &'a [f32]) -> &'a [f32] {
    if PARAM { params } else { flat }
}

/// Mutable [`pick`].
#[inline(always)]
pub(crate) fn pick_mut<'a, const PARAM: bool>(
    flat: &'a mut [f32],
    params: &'a mut [f32],
) -> &'a mut [f32] {
    if PARAM { params } else { flat }
}

/// Binds the const `$p` to whether the slot at `$loc` is a parameter, for [`pick`].
macro_rules! with_param {
    ($loc:expr, $p:ident => $body:expr) => {
        if $loc.param {
            const $p: bool = true;
            $body
        } else {
            const $p: bool = false;
            $body
        }
    };
}

pub(crate) use with_param;

/// The features of the auxiliary slot an op of `features` features keeps after its own
/// (none: 0). The powers keep ln|base|, sine and cosine keep each other (both come from one
/// evaluation): tensors of their own shape. A pooled convolution keeps its scan's choices
/// (the pooled shape) and, by the direct method, then room for the convolution's whole
/// output: its values before pooling, the gradient before pooling in a backward pass
/// (`eval::conv_pool`; Winograd's transforms pool and unpool tile by tile, without it).
pub(crate) fn aux_features(op: &Op, features: usize) -> usize {
    match op {
        Op::Binary(BinaryOp::Pow | BinaryOp::SignedPow)
        | Op::Unary(UnaryOp::Sin | UnaryOp::Cos) => features,
        Op::Conv2d(conv) if conv.pool => match conv.method {
            ConvMethod::Direct => features + conv.output().features(),
            ConvMethod::Winograd => features,
        },
        _ => 0,
    }
}

/// Slot assignment for one tape at one batch size.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub tape: u32,
    pub batch: usize,
    /// 8-lane vectors per row: `batch` rounded up to whole vectors of the program's width
    /// (`lanes`), so that a 16-lane program's rows are whole 16-lane vectors.
    pub chunks: usize,
    /// The lanes of the vectors the program's steps compute with (8 or 16).
    pub lanes: usize,
    /// Whether the rows start on a 64-byte boundary (`rows.rs`): those of a 16-lane program,
    /// and of one with a Winograd convolution, whose transforms read a lane block's two
    /// chunks of a row as one AVX-512 vector (a vector across two lines costs both).
    pub aligned_rows: bool,
    pub locs: Vec<Loc>,
    pub rows_len: usize,
    pub flat_len: usize,
    pub param_len: usize,
    /// Per 8-lane chunk holding a sample (`ceil(batch / 8)` of them, whatever the width),
    /// all-ones bits on the lanes holding real samples (zeros on padding). Batch sums add
    /// exactly these chunks, so their order is the same at every width.
    pub lane_mask: Vec<f32x8>,
    /// Scratch vectors the product backward needs (largest group times chunks).
    pub scratch_len: usize,
}

impl Layout {
    /// The layout of `tape` at `batch` samples for vectors of `lanes` lanes (8 or 16).
    pub fn new(tape: &Tape, batch: usize, lanes: usize) -> Layout {
        assert!(batch > 0, "batch size must be at least 1");
        assert!(lanes == 8 || lanes == 16, "8 or 16 lanes");
        let chunks = batch.div_ceil(lanes) * (lanes / 8);
        let (mut rows_len, mut flat_len, mut scratch_len) = (0, 0, 0);
        let mut locs = Vec::with_capacity(tape.nodes.len());
        for node in &tape.nodes {
            let features = node.shape.features;
            let room = features + aux_features(&node.op, features);
            let loc = if let Op::Param { index } = node.op {
                Loc {
                    batched: false,
                    param: true,
                    offset: tape.params[index].range.start,
                    features,
                }
            } else if node.shape.batched {
                rows_len += room * chunks;
                Loc {
                    batched: true,
                    param: false,
                    offset: rows_len - room * chunks,
                    features,
                }
            } else {
                flat_len += room;
                Loc {
                    batched: false,
                    param: false,
                    offset: flat_len - room,
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
        let lane_mask = (0..batch.div_ceil(8))
            .map(|c| lane_mask(batch, c))
            .collect();
        Layout {
            tape: tape.id,
            batch,
            chunks,
            lanes,
            aligned_rows: lanes > 8
                || tape.nodes.iter().any(|node| {
                    matches!(node.op, Op::Conv2d(conv) if conv.method == ConvMethod::Winograd)
                }),
            locs,
            rows_len,
            flat_len,
            param_len: tape.param_len(),
            lane_mask,
            scratch_len,
        }
    }

    pub fn loc(&self, id: NodeId) -> Loc {
        assert_eq!(id.tape, self.tape, "node id from another tape");
        self.locs[id.index()]
    }
}

/// All-ones bits on the lanes of chunk `c` that hold one of `batch` samples.
pub(crate) fn lane_mask(batch: usize, c: usize) -> f32x8 {
    let mut lanes = [0.0f32; 8];
    for (lane, bits) in lanes.iter_mut().enumerate() {
        if c * 8 + lane < batch {
            *bits = f32::from_bits(u32::MAX);
        }
    }
    f32x8::from(lanes)
}
