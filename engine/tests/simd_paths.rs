//! Every SIMD path this CPU can run computes the same bits: the wider kernels are checked
//! against the build's own path on real-valued operands. A path the CPU lacks is skipped with
//! a printed notice. (One test: the chosen path is process-wide.)

mod common;

use common::SplitMix;
use common::values_for;
use engine::gemm::{Init, MatMut, MatRef, gemm, gemm_into};
use engine::simd;
use engine::{Conv2d, ConvMethod, Grads, Graph, Image, Shape, Workspace, backward, forward};

#[test]
fn the_matrix_products_give_the_same_bits_on_every_path() {
    let mut rng = SplitMix(31);
    let paths = simd::runnable();
    for path in [simd::AVX2, simd::AVX512] {
        if !paths.contains(&path) {
            println!("this CPU lacks {path}: not checked");
        }
    }
    // A's rows and B's columns contiguous, the depth long: dot products, with edge tiles and
    // a tail of depths past the last multiple of eight
    for &(m, k, n) in &[(7, 5003, 13), (32, 9000, 96)] {
        let ad: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let bd: Vec<f32> = (0..n * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let results: Vec<Vec<u32>> = paths
            .iter()
            .map(|&path| {
                simd::use_path(path).expect("a runnable path");
                assert_eq!((simd::active(), simd::array_path()), (path, path));
                let mut c = c0.clone();
                gemm(
                    0.5,
                    MatRef::row_major(&ad, m, k),
                    MatRef::row_major(&bd, n, k).t(),
                    1.0,
                    MatMut::row_major(&mut c, m, n),
                );
                c.iter().map(|v| v.to_bits()).collect()
            })
            .collect();
        for (path, bits) in paths.iter().zip(&results) {
            assert_eq!(
                bits, &results[0],
                "{m}x{k}x{n}: {path} against {}",
                paths[0]
            );
        }
    }
    // packed products: whole 8 x 48 tiles, edge tiles, a strided C (the 8-lane tiles), a
    // row bias, beta 0, 1 and 0.5, alpha 1 and not, depths over several blocks, on one and
    // two threads
    let shapes = [(8, 50, 48), (17, 300, 100), (128, 800, 200), (64, 9, 7)];
    for &(m, k, n) in &shapes {
        let ad: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let bd: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let bias: Vec<f32> = (0..m).map(|_| rng.uniform(-1.0, 1.0)).collect();
        for threads in [1, 2] {
            let results: Vec<Vec<u32>> = paths
                .iter()
                .map(|&path| {
                    simd::use_path(path).expect("a runnable path");
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let mut bits = Vec::new();
                    pool.install(|| {
                        let (a, b) = (MatRef::row_major(&ad, m, k), MatRef::row_major(&bd, k, n));
                        for (alpha, init) in [
                            (1.0, Init::Beta(0.0)),
                            (0.5, Init::Beta(1.0)),
                            (1.0, Init::Beta(0.5)),
                            (2.0, Init::RowBias(&bias)),
                        ] {
                            let mut work = Workspace::default();
                            let mut c = c0.clone();
                            gemm_into(
                                &mut work,
                                alpha,
                                a,
                                b,
                                init,
                                MatMut::row_major(&mut c, m, n),
                            );
                            bits.extend(c.iter().map(|v| v.to_bits()));
                            // C transposed: column stride m
                            let mut c = c0.clone();
                            gemm_into(
                                &mut work,
                                alpha,
                                a,
                                b,
                                init,
                                MatMut::new(&mut c, m, n, 1, m),
                            );
                            bits.extend(c.iter().map(|v| v.to_bits()));
                        }
                    });
                    bits
                })
                .collect();
            for (path, bits) in paths.iter().zip(&results) {
                assert!(
                    bits == &results[0],
                    "packed {m}x{k}x{n}, {threads} threads: {path} against {}",
                    paths[0]
                );
            }
        }
    }
    // a CNN's layers, at a batch whose 8-lane chunks are odd (72: a last lane block of one
    // chunk) and even (64), with each convolution method (Winograd: a first group of six
    // tiles, 48 columns, and 16 filters and 8 channels, whole 16-lane tiles in the forward and
    // input-gradient products), as separate nodes on a 14 x 14 image and with the ReLU and
    // the pooling in the convolution's node on a 15 x 15 one (edge tiles, an odd last row)
    for ((batch, method), fused) in [72, 64]
        .into_iter()
        .flat_map(|batch| [ConvMethod::Direct, ConvMethod::Winograd].map(|m| (batch, m)))
        .flat_map(|case| [(case, false), (case, true)])
    {
        let graph = Graph::new();
        let (w, b) = (graph.param("w", 16 * 8 * 9), graph.param("b", 16));
        let y = if fused {
            let image = Image::new(8, 15, 15);
            let x = graph.input_with_grad(Shape::batched(image.features()));
            let conv = Conv2d::new(image, 16, 3).by(method).with_relu().with_pool();
            x.convolve(conv, w, b)
        } else {
            let image = Image::new(8, 14, 14);
            let x = graph.input_with_grad(Shape::batched(image.features()));
            x.conv2d_by(method, w, b, image, 16, 3)
                .relu()
                .max_pool2(Image::new(16, 12, 12))
        };
        let tape = graph.finish(y.square().mean_all());
        let results: Vec<Vec<u32>> = paths
            .iter()
            .map(|&path| {
                simd::use_path(path).expect("a runnable path");
                let mut rng = SplitMix(7);
                let (params, mut values) =
                    values_for(&tape, batch, &mut |_, _| rng.uniform(-1.0, 1.0));
                forward(&params, &mut values);
                let mut grads = Grads::new(values.program());
                backward(&params, &values, &mut grads);
                let mut bits = Vec::new();
                for (index, node) in tape.nodes().iter().enumerate() {
                    let id = tape.id_at(index);
                    for s in 0..if node.shape.batched { batch } else { 1 } {
                        for f in 0..node.shape.features {
                            if !matches!(node.op, engine::Op::Param { .. }) {
                                bits.push(values.get(id, s, f).to_bits());
                            }
                            if node.needs_grad {
                                bits.push(grads.get(id, s, f).to_bits());
                            }
                        }
                    }
                }
                bits
            })
            .collect();
        for (path, bits) in paths.iter().zip(&results) {
            assert!(
                bits == &results[0],
                "CNN ({method:?}, fused {fused}) at batch {batch}: {path} against {}",
                paths[0]
            );
        }
    }
    assert!(simd::use_path(simd::BUILT).is_ok());
}
