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

/// Rows summed side by side have the bits each gets alone, padding lanes (NaN here) left out.
#[test]
fn batch_sums_side_by_side_are_batch_sums_one_by_one() {
    use super::{batch_sum, batch_sums};
    // 21 samples: three chunks, the last with five real lanes
    let mask: Vec<f32x8> = (0..3)
        .map(|c| {
            let lanes: [f32; 8] = std::array::from_fn(|l| {
                if 8 * c + l < 21 {
                    f32::from_bits(u32::MAX)
                } else {
                    0.0
                }
            });
            f32x8::from(lanes)
        })
        .collect();
    // magnitudes far apart, so that any other order of additions rounds differently
    let row = |r: usize| -> Vec<f32x8> {
        (0..3)
            .map(|c| {
                f32x8::from(std::array::from_fn::<f32, 8, _>(|l| {
                    let i = 8 * c + l;
                    if i >= 21 {
                        f32::NAN
                    } else {
                        (1.0 + i as f32 * 0.37 + r as f32).powi((i % 7) as i32 * 4 - 12)
                    }
                }))
            })
            .collect()
    };
    let rows: Vec<Vec<f32x8>> = (0..4).map(row).collect();
    let together = batch_sums(&mask, |c| [0, 1, 2, 3].map(|r| rows[r][c]));
    for (r, sum) in together.into_iter().enumerate() {
        let alone = batch_sum::<f32x8>(&mask, |c| rows[r][c]);
        assert_eq!(sum.to_bits(), alone.to_bits(), "row {r}");
        assert!(sum.is_finite() && sum > 0.0);
    }
}
