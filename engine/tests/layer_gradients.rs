//! The CNN path's ops differentiated three ways (the f32 tape, the f64 reference with its
//! rounding bound, finite differences), on small shapes with a padded last chunk (batch 13),
//! and a whole two-digit encoder with a division head on a tiny input.

mod common;

use common::{SplitMix, assert_gradients, values_for};
use engine::{
    Conv2d, Grads, Graph, Image, Program, Shape, Values, Var, WeightLayout, backward, forward,
};

const BATCH: usize = 13;

/// sum(y * w) with w a batched input in [0.5, 1.5]: every element's gradient differs.
fn weighted_sum<'g>(g: &'g Graph, y: Var<'g>) -> Var<'g> {
    let w = g.input(y.shape());
    (y * w).sum_all()
}

/// Leaves uniform in [lo, hi], except the weights of `weighted_sum` (the last leaf).
fn uniform(seed: u64, lo: f32, hi: f32, leaves: usize) -> impl FnMut(usize, usize) -> f32 {
    let mut rng = SplitMix(seed);
    move |leaf, _| {
        if leaf + 1 == leaves {
            rng.uniform(0.5, 1.5)
        } else {
            rng.uniform(lo, hi)
        }
    }
}

#[test]
fn conv2d_input_weights_and_bias() {
    // 13 samples: the weight gradient leaves the padding lanes out of packed operands;
    // 16: no padding, dot products of rows
    let image = Image::new(2, 5, 6);
    for batch in [BATCH, 16] {
        assert_gradients(
            &format!("conv2d, batch {batch}"),
            batch,
            |g| {
                let x = g.input_with_grad(Shape::batched(image.features()));
                let w = g.param("w", 5 * 2 * 3 * 3);
                let b = g.param("b", 5);
                weighted_sum(g, x.conv2d(w, b, image, 5, 3))
            },
            &mut uniform(1, -1.0, 1.0, 4),
        );
    }
}

#[test]
fn conv2d_with_its_relu_in_the_same_node() {
    // inputs and weights of both signs: about half the outputs are cut to zero; 16 samples:
    // the mask, bias and weight gradients in one step
    let image = Image::new(2, 5, 6);
    for batch in [BATCH, 16] {
        assert_gradients(
            &format!("conv2d + relu, one node, batch {batch}"),
            batch,
            |g| {
                let x = g.input_with_grad(Shape::batched(image.features()));
                let w = g.param("w", 5 * 2 * 3 * 3);
                let b = g.param("b", 5);
                let y = x.convolve(Conv2d::new(image, 5, 3).with_relu(), w, b);
                weighted_sum(g, y)
            },
            &mut uniform(4, -1.0, 1.0, 4),
        );
    }
}

#[test]
fn conv2d_with_its_relu_and_pool_in_the_same_node() {
    // a 4 x 5 output: the last column in no pooling block. Direct: the reference's bound is
    // that of direct arithmetic (Winograd's pooling is checked bit for bit against the
    // separate nodes in tests/winograd.rs)
    let image = Image::new(2, 6, 7);
    assert_gradients(
        "conv2d + relu + max_pool2, one node",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(image.features()));
            let w = g.param("w", 5 * 2 * 3 * 3);
            let b = g.param("b", 5);
            let conv = Conv2d::new(image, 5, 3).with_relu().with_pool();
            weighted_sum(g, x.convolve(conv, w, b))
        },
        &mut uniform(4, -1.0, 1.0, 4),
    );
}

#[test]
fn conv2d_with_a_kernel_as_large_as_the_image_and_one_channel() {
    let image = Image::new(1, 3, 3);
    assert_gradients(
        "conv2d 3x3 on 3x3",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(image.features()));
            let w = g.param("w", 4 * 9);
            let b = g.param("b", 4);
            weighted_sum(g, x.conv2d(w, b, image, 4, 3))
        },
        &mut uniform(2, -2.0, 2.0, 4),
    );
}

#[test]
fn max_pool2_over_odd_sizes() {
    // 5 x 7: the last row and column belong to no block and receive no gradient
    let image = Image::new(3, 5, 7);
    let check = assert_gradients(
        "max_pool2",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(image.features()));
            weighted_sum(g, x.max_pool2(image))
        },
        &mut uniform(3, -3.0, 3.0, 2),
    );
    let zeros = check.grads.iter().filter(|c| c.tape == 0.0).count();
    // per sample and channel: 35 inputs, 6 blocks, so 29 without gradient
    assert_eq!(zeros, 3 * 29 * BATCH);
}

#[test]
fn max_pool2_sends_a_tie_to_the_first_maximum_and_propagates_nan() {
    let image = Image::new(1, 2, 2);
    let graph = Graph::new();
    let x = graph.input_with_grad(Shape::batched(4));
    let y = x.max_pool2(image);
    let tape = graph.finish(y.sum_all());
    let program = Program::new(&tape, 2);
    let mut values = Values::new(&program);
    // sample 0: a tie between elements 1 and 3; sample 1: a NaN at element 2
    for (f, pair) in [[1.0, 0.0], [2.0, 5.0], [0.5, f32::NAN], [2.0, 1.0]]
        .iter()
        .enumerate()
    {
        values.feature_mut(x.id(), f).copy_from_slice(pair);
    }
    forward(&[], &mut values);
    assert_eq!(values.feature(y.id(), 0)[0], 2.0);
    assert!(values.feature(y.id(), 0)[1].is_nan());
    let mut grads = Grads::new(&program);
    backward(&[], &values, &mut grads);
    let column = |b: usize| {
        (0..4)
            .map(|f| grads.feature(x.id(), f)[b])
            .collect::<Vec<_>>()
    };
    assert_eq!(column(0), [0.0, 1.0, 0.0, 0.0]);
    assert_eq!(column(1), [0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn softmax_and_soft_argmax() {
    assert_gradients(
        "softmax",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(6));
            weighted_sum(g, x.softmax(3))
        },
        &mut uniform(4, -3.0, 3.0, 2),
    );
    let digits: Vec<f32> = (1..=9).map(|d| d as f32).collect();
    assert_gradients(
        "soft_argmax",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(18));
            weighted_sum(g, x.soft_argmax(&digits))
        },
        &mut uniform(5, -4.0, 4.0, 2),
    );
}

#[test]
fn soft_argmax_of_the_spec_vector() {
    // `tasks/docs/mnist-task.md` section 10: logits (0, 1, 2, 0, ..., 0) for digits 1..9 -> 3.951739
    let graph = Graph::new();
    let x = graph.input(Shape::batched(9));
    let digits: Vec<f32> = (1..=9).map(|d| d as f32).collect();
    let y = x.soft_argmax(&digits);
    let tape = graph.finish(y.mean_all());
    let mut values = Values::new(&Program::new(&tape, 1));
    for (f, v) in [0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        .iter()
        .enumerate()
    {
        values.feature_mut(x.id(), f)[0] = *v;
    }
    forward(&[], &mut values);
    assert!((values.feature(y.id(), 0)[0] - 3.951739).abs() < 2e-6);
}

#[test]
fn dropout_gradients_follow_the_mask() {
    let check = assert_gradients(
        "dropout",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(7));
            weighted_sum(g, x.dropout(0.4))
        },
        &mut uniform(6, -2.0, 2.0, 2),
    );
    // dropped elements receive exactly 0, kept ones w / 0.6
    let dropped = check.grads.iter().filter(|c| c.tape == 0.0).count();
    assert!(
        dropped > 10 && dropped < 7 * BATCH - 10,
        "{dropped} dropped"
    );
}

#[test]
fn dropout_masks_change_with_the_seed_and_repeat_with_it() {
    let graph = Graph::new();
    let x = graph.input(Shape::batched(64));
    let y = x.dropout(0.5);
    let tape = graph.finish(y.mean_all());
    let program = Program::new(&tape, 32);
    let mut values = Values::new(&program);
    for f in 0..64 {
        values.feature_mut(x.id(), f).fill(1.0);
    }
    let mask = |values: &mut Values, seed: u64| {
        values.set_noise_seed(seed);
        forward(&[], values);
        (0..64)
            .flat_map(|f| values.feature(y.id(), f).to_vec())
            .collect::<Vec<f32>>()
    };
    let (a, b, again) = (
        mask(&mut values, 7),
        mask(&mut values, 8),
        mask(&mut values, 7),
    );
    assert_eq!(a, again);
    assert_ne!(a, b);
    assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
    let kept = a.iter().filter(|&&v| v == 2.0).count();
    // 2,048 Bernoulli(0.5) draws: within 5 standard deviations (113)
    assert!((kept as i64 - 1024).abs() < 113, "{kept} kept");
}

#[test]
fn window_and_slice() {
    let image = Image::new(2, 4, 6);
    assert_gradients(
        "window",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(image.features()));
            // two overlapping windows: the shared part receives both gradients
            let a = x.window(image, 1, 2, 2, 3);
            let b = x.window(image, 0, 3, 3, 2).slice(2, 8);
            weighted_sum(g, g.concat(&[a, b]))
        },
        &mut uniform(7, -2.0, 2.0, 2),
    );
}

#[test]
fn large_dense_products_in_both_weight_layouts() {
    // 32 x 128 weights: the matrix-product path of the dense op (three samples in one
    // padded chunk, to keep the 4,096 finite differences quick)
    for layout in [WeightLayout::OutIn, WeightLayout::InOut] {
        assert_gradients(
            &format!("dense 32 -> 128 {layout:?}"),
            3,
            |g| {
                let x = g.input_with_grad(Shape::batched(32));
                let w = g.param("w", 32 * 128);
                weighted_sum(g, x.matmul(w, layout).tanh())
            },
            &mut uniform(8, -0.5, 0.5, 3),
        );
    }
}

/// A two-digit encoder in miniature, shaped like the paper's: the left and right halves of a
/// 6 x 12 image through one shared CNN (conv, ReLU, conv, ReLU, max-pool, dropout, dense,
/// ReLU, dense to 9 logits, soft-argmax), then a division head.
fn tiny_encoder_with_head<'g>(g: &'g Graph) -> Var<'g> {
    let pair = Image::new(1, 6, 12);
    let x = g.input(Shape::batched(pair.features()));
    let (w1, b1) = (g.param("conv1.w", 2 * 9), g.param("conv1.b", 2));
    let (w2, b2) = (g.param("conv2.w", 3 * 2 * 9), g.param("conv2.b", 3));
    let (w3, b3) = (g.param("fc1.w", 3 * 4), g.param("fc1.b", 4));
    let (w4, b4) = (g.param("fc2.w", 4 * 9), g.param("fc2.b", 9));
    let head = g.param("head", 2);
    let digits: Vec<f32> = (1..=9).map(|d| d as f32).collect();
    let encode = |left: usize| {
        let half = x.window(pair, 0, left, 6, 6);
        let h = half.conv2d(w1, b1, Image::new(1, 6, 6), 2, 3).relu();
        let h = h.conv2d(w2, b2, Image::new(2, 4, 4), 3, 3).relu();
        let h = h.max_pool2(Image::new(3, 2, 2)).dropout(0.25);
        let h = (h.matmul(w3, WeightLayout::OutIn) + b3).relu();
        (h.matmul(w4, WeightLayout::OutIn) + b4).soft_argmax(&digits)
    };
    let (d1, d2) = (encode(0), encode(6));
    // the division, with a learnable gate on each digit (d^head, as the NRU would)
    let y = d1.abs().pow(head.slice_params(0)) / d2.abs().pow(head.slice_params(1));
    let t = g.input(Shape::batched(1));
    y.mse(t)
}

/// Element `i` of an unbatched tensor (the head's two exponents).
trait SliceParams<'g> {
    fn slice_params(self, i: usize) -> Var<'g>;
}

impl<'g> SliceParams<'g> for Var<'g> {
    fn slice_params(self, i: usize) -> Var<'g> {
        let g = self.graph();
        let mut picker = vec![0.0; self.shape().features];
        picker[i] = 1.0;
        (self * g.constant(&picker)).sum_all()
    }
}

#[test]
fn a_tiny_two_digit_encoder_with_a_division_head() {
    let mut rng = SplitMix(9);
    let check = assert_gradients(
        "encoder + head",
        11,
        tiny_encoder_with_head,
        &mut |leaf, _| {
            match leaf {
                0 => rng.uniform(-0.4, 2.8), // normalised pixels
                9 => rng.uniform(0.6, 1.4),  // head exponents near the division's 1, 1
                10 => rng.uniform(0.2, 3.0), // targets
                _ => rng.uniform(-0.6, 0.6), // weights and biases
            }
        },
    );
    // every parameter: 2 x 9 + 2, 3 x 2 x 9 + 3, 3 x 4 + 4, 4 x 9 + 9 and the head's 2
    assert_eq!(check.grads.len(), 140);
}

#[test]
fn the_same_point_gives_the_same_gradients_on_one_and_two_threads() {
    let graph = Graph::new();
    let loss = tiny_encoder_with_head(&graph);
    let tape = graph.finish(loss);
    let mut rng = SplitMix(10);
    // 40 samples: no padding lanes, so the weight gradients are dot products of rows
    let (params, values) = values_for(&tape, 40, &mut |_, _| rng.uniform(-0.5, 1.5));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        pool.install(|| {
            let mut values = values.clone();
            values.set_noise_seed(3);
            forward(&params, &mut values);
            let mut grads = Grads::new(values.program());
            backward(&params, &values, &mut grads);
            grads
                .params()
                .iter()
                .map(|g| g.to_bits())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn padding_lanes_never_reach_the_parameter_gradients() {
    // NaN in the padding lanes of the images (batch 11: five padding lanes) spreads through
    // every forward and backward row, and must reach no weight or bias gradient.
    let graph = Graph::new();
    let loss = tiny_encoder_with_head(&graph);
    let tape = graph.finish(loss);
    let mut rng = SplitMix(11);
    let (params, clean) = values_for(&tape, 11, &mut |_, _| rng.uniform(0.1, 1.5));
    let gradients = |mut values: Values| {
        forward(&params, &mut values);
        let mut grads = Grads::new(values.program());
        backward(&params, &values, &mut grads);
        (values.scalar(tape.output()), grads.params().to_vec())
    };
    let mut dirty = clean.clone();
    let image = tape.id_at(0);
    let (rows, stride) = dirty.node_mut(image);
    for row in rows.chunks_mut(stride) {
        row[11..].fill(f32::NAN);
    }
    let (clean_loss, clean_grads) = gradients(clean);
    let (dirty_loss, dirty_grads) = gradients(dirty);
    assert!(clean_loss.is_finite());
    assert_eq!(clean_loss.to_bits(), dirty_loss.to_bits());
    assert_eq!(clean_grads, dirty_grads);
    assert!(clean_grads.iter().all(|g| g.is_finite()));
}

#[test]
fn a_heads_parameters_are_one_span_after_the_encoders() {
    let graph = Graph::new();
    let x = graph.input(Shape::batched(4 * 4));
    let (w, b) = (graph.param("conv.w", 2 * 9), graph.param("conv.b", 2));
    let head = [graph.param("head.W", 8), graph.param("head.g", 8)];
    let h = x.conv2d(w, b, Image::new(1, 4, 4), 2, 3);
    let y = (h * head[0]).abs().pow(head[1]).sum_all();
    let tape = graph.finish(y);
    assert_eq!(tape.param_span(&[head[0].id(), head[1].id()]), 20..36);
    assert_eq!(tape.param_span(&[w.id(), b.id()]), 0..20);
}

#[test]
#[should_panic(expected = "not consecutive")]
fn a_span_with_a_gap_is_refused() {
    let graph = Graph::new();
    let (a, _, c) = (
        graph.param("a", 2),
        graph.param("b", 2),
        graph.param("c", 2),
    );
    let tape = graph.finish((a + c).sum_all());
    let _ = tape.param_span(&[a.id(), c.id()]);
}

/// The f32 tape against the tracked reference (values and every gradient within its rounding
/// bound), without finite differences: for shapes too large to difference element by element.
fn assert_agrees_with_reference(tape: &engine::Tape, params: &[f32], values: &Values) {
    use engine::Tracked;
    use engine::gradcheck::agrees;
    use engine::reference::Reference;
    let mut fast = values.clone();
    forward(params, &mut fast);
    let mut grads = Grads::new(values.program());
    grads.fill(f32::NAN);
    backward(params, &fast, &mut grads);
    let mut exact = Reference::from_values(tape, params, values, |v| Tracked::exact(f64::from(v)));
    exact.forward(tape);
    exact.backward(tape);
    let batch = values.batch();
    let mut compared = 0;
    for (index, node) in tape.nodes().iter().enumerate() {
        let id = tape.id_at(index);
        let computed = !matches!(
            node.op,
            engine::Op::Input | engine::Op::Param { .. } | engine::Op::Const { .. }
        );
        for e in 0..exact.value(id).len() {
            let (b, f) = if node.shape.batched {
                (e % batch, e / batch)
            } else {
                (0, e)
            };
            if computed {
                let (got, want) = (fast.get(id, b, f), exact.value(id)[e]);
                assert!(
                    agrees(got, want),
                    "node {index} value [{b}, {f}]: {got} vs {want:?}"
                );
                compared += 1;
            }
            if node.needs_grad {
                let (got, want) = (grads.get(id, b, f), exact.grad(id)[e]);
                assert!(
                    agrees(got, want),
                    "node {index} gradient [{b}, {f}]: {got} vs {want:?}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 0);
}

#[test]
fn layers_above_the_parallel_sizes_give_the_same_bits_on_one_two_and_three_threads() {
    // big enough that the products split, and pooling, dropout and ReLU run in pieces; 64
    // samples take the dot-product weight gradient, 61 the masked packings
    for batch in [64, 61] {
        let image = Image::new(16, 22, 22);
        let graph = Graph::new();
        let x = graph.input(Shape::batched(image.features()));
        let (w, b) = (graph.param("w", 16 * 16 * 9), graph.param("b", 16));
        let (w2, b2) = (graph.param("w2", 16 * 16 * 9), graph.param("b2", 16));
        let h = x.conv2d(w, b, image, 16, 3).relu();
        let h = h.conv2d(w2, b2, Image::new(16, 20, 20), 16, 3).relu();
        let y = h.max_pool2(Image::new(16, 18, 18)).dropout(0.3);
        let loss = weighted_sum(&graph, y);
        let tape = graph.finish(loss);
        let mut rng = SplitMix(21);
        let (params, values) = values_for(&tape, batch, &mut |_, _| rng.uniform(-1.0, 1.0));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            pool.install(|| {
                // the first convolution's forward product (16 filters by 16 x 9 patch values
                // by 20 x 20 positions of the batch padded to 64) is shared out on this pool
                // (a view of its shape: the split reads only shapes and strides)
                let shape = |rows, cols| engine::gemm::MatRef::new(&[0.0], rows, cols, 0, 0);
                assert_eq!(
                    engine::gemm::split(shape(16, 144), shape(144, 20 * 20 * 64)),
                    threads
                );
                let mut values = values.clone();
                values.set_noise_seed(5);
                forward(&params, &mut values);
                let mut grads = Grads::new(values.program());
                backward(&params, &values, &mut grads);
                let bits = |v: &[f32]| v.iter().map(|g| g.to_bits()).collect::<Vec<_>>();
                (bits(&[values.scalar(tape.output())]), bits(grads.params()))
            })
        };
        let one = run(1);
        assert_eq!(one, run(2), "batch {batch}");
        assert_eq!(one, run(3), "batch {batch}");
    }
}

#[test]
fn convolutions_at_a_size_that_spans_many_blocks_agree_with_the_reference() {
    // 16 x 22 x 22 images, 16 filters, 64 samples: the forward product packs several column
    // blocks with runs across panels, the input gradient scatters several position blocks per
    // output row, the weight gradient runs as dot products (64 fills its vectors); 61 samples
    // take the masked packings instead
    for batch in [64, 61] {
        let image = Image::new(16, 22, 22);
        let graph = Graph::new();
        let x = graph.input_with_grad(Shape::batched(image.features()));
        let (w, b) = (graph.param("w", 16 * 16 * 9), graph.param("b", 16));
        let y = x
            .conv2d(w, b, image, 16, 3)
            .relu()
            .max_pool2(Image::new(16, 20, 20));
        let loss = weighted_sum(&graph, y);
        let tape = graph.finish(loss);
        let mut rng = SplitMix(20);
        let (params, values) = values_for(&tape, batch, &mut |_, _| rng.uniform(-1.0, 1.0));
        assert_agrees_with_reference(&tape, &params, &values);
    }
}
