//! Values and gradients of every node for one batch size, and the passes that fill them.
//!
//! [`Values`] and [`Grads`] hold the row and flat arenas of one [`Program`] (layout in
//! `layout.rs`); the parameters are not inside them but in a vector the caller owns and
//! passes to [`forward`] and [`backward`], so one copy of a network serves its training
//! batch, its last partial batch and every evaluation chunk.

use std::sync::Arc;

use wide::f32x8;

use crate::Workspace;
use crate::eval::{BackwardStep, Bwd, ForwardStep, Fwd, Seen};
use crate::layout::Loc;
use crate::program::Program;
use crate::rows::Rows;
use crate::tape::NodeId;

/// Shared accessors of the two buffer kinds.
macro_rules! arena_access {
    ($ty:ident) => {
        impl $ty {
            /// Number of samples per batch.
            pub fn batch(&self) -> usize {
                self.program.layout.batch
            }

            /// The program these buffers belong to.
            pub fn program(&self) -> &Arc<Program> {
                &self.program
            }

            /// Feature `f` of a batched node, one value per sample.
            ///
            /// # Panics
            /// If the node is unbatched or `f` is out of range.
            pub fn feature(&self, id: NodeId, f: usize) -> &[f32] {
                let range = self.row_range(id, f);
                let batch = self.batch();
                &wide::bytemuck::cast_slice::<f32x8, f32>(&self.rows[range])[..batch]
            }

            /// Mutable view of [`Self::feature`].
            pub fn feature_mut(&mut self, id: NodeId, f: usize) -> &mut [f32] {
                let range = self.row_range(id, f);
                let batch = self.batch();
                &mut wide::bytemuck::cast_slice_mut::<f32x8, f32>(&mut self.rows[range])[..batch]
            }

            /// Every feature of a batched node as one slice, feature f at f * stride, and the
            /// stride (8 * chunks, at least the batch; lanes past the batch are padding).
            pub fn node_mut(&mut self, id: NodeId) -> (&mut [f32], usize) {
                let (loc, chunks) = (self.program.layout.loc(id), self.program.layout.chunks);
                assert!(loc.batched, "node {} is unbatched", id.index());
                let rows = &mut self.rows[loc.range(chunks)];
                (
                    wide::bytemuck::cast_slice_mut::<f32x8, f32>(rows),
                    8 * chunks,
                )
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
                let layout = &self.program.layout;
                let chunks = layout.chunks;
                let (la, lb) = (layout.loc(a), layout.loc(b));
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
                if self.program.layout.loc(id).batched {
                    self.feature(id, f)[b]
                } else {
                    self.flat(id)[f]
                }
            }

            fn row_range(&self, id: NodeId, f: usize) -> std::ops::Range<usize> {
                let layout = &self.program.layout;
                let loc = layout.loc(id);
                assert!(loc.batched, "node {} is unbatched", id.index());
                assert!(f < loc.features, "feature {f} of {}", loc.features);
                let start = loc.offset + f * layout.chunks;
                start..start + layout.chunks
            }

            fn unbatched(&self, id: NodeId) -> Loc {
                let loc = self.program.layout.loc(id);
                assert!(!loc.batched, "node {} is batched", id.index());
                loc
            }
        }
    };
}

/// Forward values of every node of one program (the parameters excepted).
#[derive(Clone)]
pub struct Values {
    program: Arc<Program>,
    pub(crate) rows: Rows,
    pub(crate) flat: Vec<f32>,
    work: Workspace,
    noise_seed: u64,
}

impl Values {
    /// Zeroed buffers (constants filled in) for `program`.
    pub fn new(program: &Arc<Program>) -> Values {
        let layout = &program.layout;
        let mut flat = vec![0.0; layout.flat_len];
        for (offset, constants) in &program.constants {
            flat[*offset..*offset + constants.len()].copy_from_slice(constants);
        }
        Values {
            rows: Rows::zeroed(layout.rows_len, layout.aligned_rows),
            flat,
            work: Workspace::default(),
            noise_seed: 0,
            program: Arc::clone(program),
        }
    }

    /// Sets the seed of the dropout masks of the next passes (one seed per training step
    /// gives every step its own masks; the same seed repeats them exactly).
    pub fn set_noise_seed(&mut self, seed: u64) {
        self.noise_seed = seed;
    }

    /// The seed of the dropout masks.
    pub fn noise_seed(&self) -> u64 {
        self.noise_seed
    }

    /// The values of an unbatched node.
    ///
    /// # Panics
    /// If the node is batched or a parameter (parameters live in the caller's vector).
    pub fn flat(&self, id: NodeId) -> &[f32] {
        let loc = self.unbatched(id);
        assert!(!loc.param, "node {} is a parameter", id.index());
        &self.flat[loc.range(1)]
    }

    /// Mutable view of [`Self::flat`].
    pub fn flat_mut(&mut self, id: NodeId) -> &mut [f32] {
        let loc = self.unbatched(id);
        assert!(!loc.param, "node {} is a parameter", id.index());
        &mut self.flat[loc.range(1)]
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values")
            .field("batch", &self.batch())
            .field("flat", &self.flat)
            .finish_non_exhaustive()
    }
}

arena_access!(Values);

/// Gradients of the program's output with respect to every node that needs one, the
/// parameters' gradients in one vector laid out like the parameters.
#[derive(Clone)]
pub struct Grads {
    program: Arc<Program>,
    pub(crate) rows: Rows,
    pub(crate) flat: Vec<f32>,
    pub(crate) params: Vec<f32>,
    work: Workspace,
    columns: Workspace,
}

impl Grads {
    /// Zeroed gradient buffers for `program`.
    pub fn new(program: &Arc<Program>) -> Grads {
        let layout = &program.layout;
        Grads {
            rows: Rows::zeroed(layout.rows_len, layout.aligned_rows),
            flat: vec![0.0; layout.flat_len],
            params: vec![0.0; layout.param_len],
            work: Workspace::with_len(layout.scratch_len),
            columns: Workspace::default(),
            program: Arc::clone(program),
        }
    }

    /// The gradients of all parameters, in the parameter vector's layout.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Mutable view of [`Self::params`] (for clipping).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// The gradient of an unbatched node (a parameter included).
    ///
    /// # Panics
    /// If the node is batched.
    pub fn flat(&self, id: NodeId) -> &[f32] {
        let loc = self.unbatched(id);
        &loc.source(&self.flat, &self.params)[loc.range(1)]
    }

    /// Fills every slot with `value` (tests check that stale contents never leak).
    pub fn fill(&mut self, value: f32) {
        self.rows.fill(f32x8::splat(value));
        self.flat.fill(value);
        self.params.fill(value);
    }
}

impl std::fmt::Debug for Grads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grads")
            .field("batch", &self.batch())
            .field("params", &self.params)
            .field("flat", &self.flat)
            .finish_non_exhaustive()
    }
}

arena_access!(Grads);

fn check_params(program: &Program, params: &[f32]) {
    assert_eq!(
        params.len(),
        program.layout.param_len,
        "the tape has {} parameter values, got {}",
        program.layout.param_len,
        params.len()
    );
}

/// Computes every node the output depends on, from `params`, the inputs written into
/// `values` and the constants.
///
/// Allocates nothing once the buffers have seen a pass (large products keep their packing
/// space). Inputs must have been written (see [`Values::feature_mut`] and
/// [`Values::flat_mut`]).
///
/// # Panics
/// If `params` does not have the tape's parameter length.
pub fn forward(params: &[f32], values: &mut Values) {
    run_forward(params, values, |_, step, arenas| step(arenas));
}

/// The forward pass, each step through `each(step number, step, arenas)`.
#[inline(always)]
fn run_forward(
    params: &[f32],
    values: &mut Values,
    mut each: impl FnMut(usize, &ForwardStep, &mut Fwd<'_>),
) {
    let Values {
        program,
        rows,
        flat,
        work,
        noise_seed,
    } = values;
    check_params(program, params);
    let mut arenas = Fwd {
        rows,
        flat,
        params,
        work,
        noise_seed: *noise_seed,
    };
    for (i, step) in program.forward.iter().enumerate() {
        each(i, step, &mut arenas);
    }
}

/// Fills `grads` with the gradient of the tape's output (a single unbatched value) with
/// respect to every node that needs one, from the forward values in `values` at `params`.
///
/// Each op adds its inputs' gradient contributions with `+=`, so a node used several times
/// receives all of them. Only nodes on a path from a parameter (or an input recorded with
/// gradients) to the output are visited, and only their differentiable inputs receive
/// anything: `sign`, `round`, indicators and `detach` stop upstream values, NaN included.
/// Nothing is skipped because a gradient happens to be zero (`0 * inf` must stay NaN).
/// Allocates nothing once the buffers have seen a pass.
///
/// # Panics
/// If the buffers belong to different programs, `params` has the wrong length, or the output
/// is not a single unbatched value.
pub fn backward(params: &[f32], values: &Values, grads: &mut Grads) {
    run_backward(params, values, grads, |_, step, seen, arenas| {
        step(seen, arenas)
    });
}

/// The backward pass, each step through `each(step number, step, forward values, arenas)`.
#[inline(always)]
fn run_backward(
    params: &[f32],
    values: &Values,
    grads: &mut Grads,
    mut each: impl FnMut(usize, &BackwardStep, &Seen<'_>, &mut Bwd<'_>),
) {
    assert!(
        Arc::ptr_eq(&values.program, &grads.program),
        "values and gradients belong to different programs"
    );
    let program = &*grads.program;
    check_params(program, params);
    let Grads {
        rows,
        flat,
        params: param_grads,
        work,
        columns,
        ..
    } = grads;
    for range in &program.zero_rows {
        rows[range.clone()].fill(f32x8::ZERO);
    }
    for range in &program.zero_flat {
        flat[range.clone()].fill(0.0);
    }
    for range in &program.zero_params {
        param_grads[range.clone()].fill(0.0);
    }
    let output = program.output;
    assert!(
        !output.batched && output.features == 1,
        "backward: the output must be a single unbatched value"
    );
    if !program.seeded {
        return;
    }
    output.source_mut(flat, param_grads)[output.offset] = 1.0;
    let seen = Seen {
        rows: &values.rows,
        flat: &values.flat,
        params,
        noise_seed: values.noise_seed,
    };
    let mut arenas = Bwd {
        rows,
        flat,
        params: param_grads,
        work,
        columns,
    };
    for (i, step) in program.backward.iter().enumerate() {
        each(i, step, &seen, &mut arenas);
    }
}

/// Seconds spent on one node in a forward and a backward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTime {
    pub node: NodeId,
    pub forward: f64,
    /// One entry per input that receives a gradient, in input order.
    pub backward: Vec<f64>,
}

/// A forward and a backward pass like [`forward`] and [`backward`], timing every node's
/// steps: where a network spends its time. Nodes without steps are left out.
pub fn profile(params: &[f32], values: &mut Values, grads: &mut Grads) -> Vec<NodeTime> {
    use std::time::Instant;
    let program = Arc::clone(&values.program);
    let mut times: Vec<(f64, Vec<f64>)> = vec![(0.0, Vec::new()); program.layout.locs.len()];
    run_forward(params, values, |i, step, arenas| {
        let start = Instant::now();
        step(arenas);
        times[program.forward_nodes[i]].0 += start.elapsed().as_secs_f64();
    });
    run_backward(params, values, grads, |i, step, seen, arenas| {
        let start = Instant::now();
        step(seen, arenas);
        times[program.backward_nodes[i]]
            .1
            .push(start.elapsed().as_secs_f64());
    });
    times
        .into_iter()
        .enumerate()
        .filter(|(_, (f, b))| *f > 0.0 || !b.is_empty())
        .map(|(index, (forward, backward))| NodeTime {
            node: NodeId {
                tape: program.layout.tape,
                index: index as u32,
            },
            forward,
            backward,
        })
        .collect()
}
