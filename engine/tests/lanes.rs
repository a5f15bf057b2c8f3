//! Lanes never mix: evaluating a batch gives, sample by sample, the same bits as evaluating
//! each sample alone, and the same bits as the unbatched (scalar) path on the same values.

mod common;

use common::SplitMix;
use engine::{Grads, Graph, Program, Shape, Tape, Values, Var, backward, forward};

/// A tape touching every elementwise op and the feature reductions, on batched data with
/// unbatched parameters broadcast into it.
fn build<'g>(g: &'g Graph, batched: bool) -> (Var<'g>, Var<'g>, Var<'g>) {
    let shape = if batched {
        Shape::batched(3)
    } else {
        Shape::unbatched(3)
    };
    let x = g.input(shape);
    let w = g.param("w", 3);
    let a = x.abs() + 0.1;
    let p = a.pow(w) * x.sign();
    let t = (w * 1000.0).tanh().square();
    let f = p * t + (1.0 - t);
    let trig = (x * 3.0).sin() + (x * w).cos() - (x.exp() * 0.01).ln().min(x).max(-x.sigmoid());
    let misc =
        (x * x + 1.0).sqrt().recip() - x.relu() + x.clamp(-0.5, 0.5) + x.round() * x.less(0.3);
    let y = (f * trig + misc).prod_features(3) + (f / (x * x + 0.5)).sum_features(3);
    let target = g.input(if batched {
        Shape::batched(1)
    } else {
        Shape::unbatched(1)
    });
    let loss = y.mse(target);
    (y, loss, x)
}

fn sample(rng: &mut SplitMix) -> [f32; 4] {
    [
        rng.uniform(-3.0, 3.0),
        rng.uniform(-3.0, 3.0),
        rng.uniform(-3.0, 3.0),
        rng.uniform(-2.0, 2.0),
    ]
}

fn evaluate(tape: &Tape, batch: usize, samples: &[[f32; 4]], w: [f32; 3]) -> (Values, Grads) {
    let x = tape.id_at(0);
    let target = tape
        .nodes()
        .iter()
        .rposition(|n| matches!(n.op, engine::Op::Input))
        .unwrap();
    let target = tape.id_at(target);
    let program = Program::new(tape, batch);
    let mut values = Values::new(&program);
    for (b, s) in samples.iter().enumerate() {
        for (f, &v) in s[..3].iter().enumerate() {
            values.feature_mut(x, f)[b] = v;
        }
        values.feature_mut(target, 0)[b] = s[3];
    }
    forward(&w, &mut values);
    let mut grads = Grads::new(&program);
    backward(&w, &values, &mut grads);
    (values, grads)
}

#[test]
fn a_batch_equals_its_samples_evaluated_alone() {
    let graph = Graph::new();
    let (y, loss, _) = build(&graph, true);
    let tape = graph.finish(loss);
    let mut rng = SplitMix(42);
    let samples: Vec<[f32; 4]> = (0..128).map(|_| sample(&mut rng)).collect();
    let w = [0.7, -0.4, 0.002];
    let (batch_values, batch_grads) = evaluate(&tape, 128, &samples, w);
    let mut per_sample_grad = [0.0f64; 3];
    for (b, s) in samples.iter().enumerate() {
        let (alone, grads) = evaluate(&tape, 1, std::slice::from_ref(s), w);
        for (index, node) in tape.nodes().iter().enumerate() {
            if node.shape.batched {
                let id = tape.id_at(index);
                for f in 0..node.shape.features {
                    let (a, c) = (batch_values.feature(id, f)[b], alone.feature(id, f)[0]);
                    assert!(
                        a.to_bits() == c.to_bits() || (a.is_nan() && c.is_nan()),
                        "node {index} feature {f} sample {b}: {a} vs {c}"
                    );
                }
            }
        }
        assert_eq!(
            batch_values.feature(y.id(), 0)[b],
            alone.feature(y.id(), 0)[0]
        );
        // The loss of one sample is 128 times smaller in the mean; its gradient likewise.
        for (acc, g) in per_sample_grad.iter_mut().zip(grads.params()) {
            *acc += f64::from(*g) / 128.0;
        }
    }
    // Parameter gradients are sums over the batch: equal up to summation order.
    for (g, want) in batch_grads.params().iter().zip(per_sample_grad) {
        assert!(
            (f64::from(*g) - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{g} vs {want}"
        );
    }
}

#[test]
fn vector_lanes_equal_the_scalar_path() {
    // The same values evaluated as batched rows (f32x8 lanes) and as unbatched tensors
    // (scalar f32 path) give identical bits for every node.
    let mut rng = SplitMix(7);
    let w = [0.3, -0.9, 0.01];
    for _ in 0..64 {
        let s = sample(&mut rng);
        let rows = Graph::new();
        let (_, loss_rows, _) = build(&rows, true);
        let rows_tape = rows.finish(loss_rows);
        let (rows_values, _) = evaluate(&rows_tape, 1, &[s], w);

        let scalars = Graph::new();
        let (_, loss_flat, _) = build(&scalars, false);
        let flat_tape = scalars.finish(loss_flat);
        let mut flat_values = Values::new(&Program::new(&flat_tape, 1));
        flat_values
            .flat_mut(flat_tape.id_at(0))
            .copy_from_slice(&s[..3]);
        let target = flat_tape
            .nodes()
            .iter()
            .rposition(|n| matches!(n.op, engine::Op::Input))
            .unwrap();
        flat_values.flat_mut(flat_tape.id_at(target))[0] = s[3];
        forward(&w, &mut flat_values);

        for (index, node) in rows_tape.nodes().iter().enumerate() {
            if matches!(node.op, engine::Op::Param { .. }) {
                continue;
            }
            let (r, f) = (rows_tape.id_at(index), flat_tape.id_at(index));
            for feature in 0..node.shape.features {
                let a = rows_values.get(r, 0, feature);
                let b = flat_values.get(f, 0, feature);
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "node {index} ({:?}): {a} vs {b}",
                    node.op
                );
            }
        }
    }
}

#[test]
#[should_panic(expected = "another tape")]
fn ids_from_another_tape_are_rejected() {
    let first = Graph::new();
    let x = first.input(Shape::batched(1));
    let tape = first.finish(x.mean_all());
    let second = Graph::new();
    let other = second.input(Shape::batched(1));
    let values = Values::new(&Program::new(&tape, 8));
    let _ = values.feature(other.id(), 0);
}
