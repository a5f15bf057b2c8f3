use wide::f32x8;

use crate::{Grads, Graph, Program, Shape, Values, WeightLayout, backward, forward};

/// Padding lanes (past the batch in the last chunk) may hold anything, NaN included,
/// without reaching any reduction over the batch.
#[test]
fn padding_lanes_never_leak_into_batch_reductions() {
    let graph = Graph::new();
    let x = graph.input(Shape::batched(2));
    let t = graph.input(Shape::batched(1));
    let w = graph.param("w", 2);
    let y = x.matmul(w, WeightLayout::OutIn).ln();
    let loss = y.mse(t) + (x * w).mean_batch().sum_all() + x.mean_all() + x.abs().pow(w).mean_all();
    let tape = graph.finish(loss);
    let run = |padding: f32| {
        let program = Program::new(&tape, 13);
        let mut values = Values::new(&program);
        let params = [0.5, 1.5];
        for f in 0..2 {
            values.feature_mut(x.id(), f).copy_from_slice(&[
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0,
            ]);
        }
        values.feature_mut(t.id(), 0).fill(0.25);
        // lanes 13..16 of every input row
        let loc = program.layout.loc(x.id());
        for f in 0..loc.features {
            let at = loc.offset + f * 2 + 1;
            let mut lanes = values.rows[at].to_array();
            lanes[5..].fill(padding);
            values.rows[at] = f32x8::from(lanes);
        }
        forward(&params, &mut values);
        let mut grads = Grads::new(&program);
        backward(&params, &values, &mut grads);
        (values.scalar(tape.output()), grads.params().to_vec())
    };
    let (clean_loss, clean_grads) = run(0.0);
    let (dirty_loss, dirty_grads) = run(f32::NAN);
    assert!(clean_loss.is_finite());
    assert_eq!(clean_loss.to_bits(), dirty_loss.to_bits());
    assert_eq!(clean_grads, dirty_grads);
}
