//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use engine::gradcheck::{TapeCheck, check_tape};
use engine::{Graph, Op, Program, Tape, Values, Var};

/// A rayon pool of `threads` threads, to run a computation on a chosen thread count.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

/// A small deterministic generator (SplitMix64) so tests need no RNG crate.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    /// One of `choices`.
    pub fn pick(&mut self, choices: &[f32]) -> f32 {
        choices[(self.next_u64() % choices.len() as u64) as usize]
    }
}

/// The leaves (inputs and parameters) of a tape in creation order.
pub fn leaves(tape: &Tape) -> Vec<usize> {
    tape.nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Input | Op::Param { .. }))
        .map(|(i, _)| i)
        .collect()
}

/// Parameters and buffers for `tape` at `batch` with leaf number `k`, element `i` set to
/// `value(k, i)` (elements of a batched leaf are numbered `feature * batch + sample`).
pub fn values_for(
    tape: &Tape,
    batch: usize,
    value: &mut dyn FnMut(usize, usize) -> f32,
) -> (Vec<f32>, Values) {
    let mut values = Values::new(&Program::new(tape, batch));
    let mut params = vec![0.0; tape.param_len()];
    for (k, &index) in leaves(tape).iter().enumerate() {
        let id = tape.id_at(index);
        let shape = tape.nodes()[index].shape;
        if let Op::Param { index } = tape.nodes()[index].op {
            for (i, p) in params[tape.params()[index].range.clone()]
                .iter_mut()
                .enumerate()
            {
                *p = value(k, i);
            }
        } else if shape.batched {
            for f in 0..shape.features {
                for b in 0..batch {
                    values.feature_mut(id, f)[b] = value(k, f * batch + b);
                }
            }
        } else {
            for i in 0..shape.features {
                values.flat_mut(id)[i] = value(k, i);
            }
        }
    }
    (params, values)
}

/// Builds a tape, fills its leaves, compares tape, reference and finite differences, and
/// panics with every disagreement.
pub fn assert_gradients(
    name: &str,
    batch: usize,
    build: impl for<'g> FnOnce(&'g Graph) -> Var<'g>,
    value: &mut dyn FnMut(usize, usize) -> f32,
) -> TapeCheck {
    let graph = Graph::new();
    let loss = build(&graph);
    let tape = graph.finish(loss);
    let (params, values) = values_for(&tape, batch, value);
    let check = check_tape(&tape, &params, &values);
    let values_bad = check.value_failures();
    let grads_bad = check.grad_failures();
    assert!(
        values_bad.is_empty() && grads_bad.is_empty(),
        "{name}: {} value and {} gradient disagreements\nvalues: {:#?}\ngradients: {:#?}",
        values_bad.len(),
        grads_bad.len(),
        values_bad.iter().take(5).collect::<Vec<_>>(),
        grads_bad.iter().take(5).collect::<Vec<_>>(),
    );
    assert!(
        !check.grads.is_empty(),
        "{name}: nothing was differentiated"
    );
    check
}
