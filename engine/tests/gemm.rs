//! The matrix product against exact oracles: integer-valued operands (every product and sum
//! exact in f32) over every edge shape, each transpose, alpha, beta and bias, one and two
//! threads; C never read when beta is 0; results independent of the thread count.

mod common;

use common::{SplitMix, pool};
use engine::Workspace;
use engine::gemm::{Init, MatMut, MatRef, gemm, gemm_into, split};

/// Sizes that sit on and around the kernel's tile (4 x 24) and vector (8) edges.
const EDGES: [usize; 16] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 33, 49];

/// Integers in [-8, 8] as f32.
fn integers(rng: &mut SplitMix, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (rng.next_u64() % 17) as f32 - 8.0)
        .collect()
}

/// How A or B is stored: as itself (row-major) or as its transpose.
#[derive(Clone, Copy, Debug)]
enum Storage {
    Plain,
    Transposed,
}

/// A `rows x cols` view of `data` stored as `storage`.
fn view(data: &[f32], rows: usize, cols: usize, storage: Storage) -> MatRef<'_> {
    match storage {
        Storage::Plain => MatRef::row_major(data, rows, cols),
        Storage::Transposed => MatRef::row_major(data, cols, rows).t(),
    }
}

/// alpha A B + beta C in i64 (exact), row-major C.
#[allow(clippy::too_many_arguments)]
fn oracle(
    m: usize,
    k: usize,
    n: usize,
    alpha: i64,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    beta: i64,
    c: &[f32],
) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut sum = beta * c[i * n + j] as i64;
            for p in 0..k {
                sum += alpha * a.get(i, p) as i64 * b.get(p, j) as i64;
            }
            out[i * n + j] = sum as f32;
        }
    }
    out
}

#[test]
fn integer_products_are_exact_for_every_edge_shape_transpose_and_thread_count() {
    let mut rng = SplitMix(11);
    for threads in [1, 2] {
        pool(threads).install(|| {
            for &m in &EDGES {
                for &n in &EDGES {
                    for &k in &[1, 2, 7, 8, 9, 16, 17] {
                        for (sa, sb) in [
                            (Storage::Plain, Storage::Plain),
                            (Storage::Transposed, Storage::Plain),
                            (Storage::Plain, Storage::Transposed),
                        ] {
                            let (ad, bd) = (integers(&mut rng, m * k), integers(&mut rng, k * n));
                            let (a, b) = (view(&ad, m, k, sa), view(&bd, k, n, sb));
                            let mut c = vec![f32::NAN; m * n];
                            gemm(1.0, a, b, 0.0, MatMut::row_major(&mut c, m, n));
                            let want = oracle(m, k, n, 1, &a, &b, 0, &vec![0.0; m * n]);
                            assert_eq!(c, want, "{m}x{k}x{n} {sa:?} {sb:?}, {threads} threads");
                        }
                    }
                }
            }
        });
    }
}

#[test]
fn shapes_that_cross_the_block_sizes_are_exact() {
    // 121 and 241 rows cross the row blocks (120), 2,049 columns the column block (2,048),
    // depths 385 and 769 the depth blocks (384); K = 9 and N = 1 are the network's thin
    // shapes (conv1 and a one-output head).
    let mut rng = SplitMix(12);
    let shapes = [
        (121, 385, 17),
        (241, 9, 33),
        (7, 769, 2049),
        (32, 9, 1),
        (1, 9, 300),
        (130, 50, 1),
        (64, 288, 200),
    ];
    for threads in [1, 2] {
        pool(threads).install(|| {
            for &(m, k, n) in &shapes {
                let (ad, bd) = (integers(&mut rng, m * k), integers(&mut rng, k * n));
                let (a, b) = (
                    view(&ad, m, k, Storage::Plain),
                    view(&bd, k, n, Storage::Plain),
                );
                let mut c = vec![f32::NAN; m * n];
                gemm(1.0, a, b, 0.0, MatMut::row_major(&mut c, m, n));
                let want = oracle(m, k, n, 1, &a, &b, 0, &vec![0.0; m * n]);
                assert_eq!(c, want, "{m}x{k}x{n}, {threads} threads");
            }
        });
    }
}

#[test]
fn alpha_beta_and_row_bias_start_each_element_as_documented() {
    let mut rng = SplitMix(13);
    let (m, k, n) = (13, 400, 37);
    let (ad, bd) = (integers(&mut rng, m * k), integers(&mut rng, k * n));
    let (a, b) = (
        view(&ad, m, k, Storage::Plain),
        view(&bd, k, n, Storage::Transposed),
    );
    let c0 = integers(&mut rng, m * n);
    for (alpha, beta) in [(1, 1), (2, 3), (-1, -2), (3, 0)] {
        let mut c = c0.clone();
        if beta == 0 {
            c.fill(f32::NAN);
        }
        gemm(
            alpha as f32,
            a,
            b,
            beta as f32,
            MatMut::row_major(&mut c, m, n),
        );
        assert_eq!(
            c,
            oracle(m, k, n, alpha, &a, &b, beta, &c0),
            "alpha {alpha} beta {beta}"
        );
    }
    let bias = integers(&mut rng, m);
    let mut c = vec![f32::NAN; m * n];
    gemm_into(
        &mut Workspace::default(),
        1.0,
        a,
        b,
        Init::RowBias(&bias),
        MatMut::row_major(&mut c, m, n),
    );
    let mut want = oracle(m, k, n, 1, &a, &b, 0, &vec![0.0; m * n]);
    for (i, row) in want.chunks_mut(n).enumerate() {
        for v in row {
            *v += bias[i];
        }
    }
    assert_eq!(c, want);
}

#[test]
fn a_column_major_output_and_row_strides_with_gaps_are_exact() {
    let mut rng = SplitMix(14);
    let (m, k, n) = (19, 23, 29);
    let (ad, bd) = (integers(&mut rng, m * 30), integers(&mut rng, k * n));
    // A with a row stride of 30 (rows padded), C column-major
    let a = MatRef::new(&ad, m, k, 30, 1);
    let b = MatRef::row_major(&bd, k, n);
    let mut c = vec![f32::NAN; m * n];
    gemm(1.0, a, b, 0.0, MatMut::new(&mut c, m, n, 1, m));
    let want = oracle(m, k, n, 1, &a, &b, 0, &vec![0.0; m * n]);
    for i in 0..m {
        for j in 0..n {
            assert_eq!(c[j * m + i], want[i * n + j], "({i}, {j})");
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Real-valued operands, several depth blocks: every element is the same FMA chain.
    let mut rng = SplitMix(15);
    for &(m, k, n) in &[(64, 1000, 700), (300, 200, 64), (128, 9216, 40)] {
        let ad: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let bd: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let run = |threads: usize| {
            let mut c = vec![0.0; m * n];
            let (a, b) = (MatRef::row_major(&ad, m, k), MatRef::row_major(&bd, k, n));
            let parts = pool(threads).install(|| {
                gemm(0.5, a, b, 0.0, MatMut::row_major(&mut c, m, n));
                split(a, b)
            });
            assert_eq!(parts, threads, "{m}x{k}x{n} is shared out");
            c
        };
        let one = run(1);
        for threads in [2, 3] {
            let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&one),
                bits(&run(threads)),
                "{m}x{k}x{n}, {threads} threads"
            );
        }
        // and it is the product: compare with an f64 sum
        let (i, j) = (m / 2, n / 3);
        let exact: f64 = (0..k)
            .map(|p| 0.5 * ad[i * k + p] as f64 * bd[p * n + j] as f64)
            .sum();
        assert!((one[i * n + j] as f64 - exact).abs() < 1e-4 * (k as f64).sqrt());
    }
}

#[test]
fn a_product_without_depth_is_its_start() {
    // k = 0: no products, C is 0 (not read), beta C, or the row's bias
    let (a, b) = ([0.0f32; 0], [0.0f32; 0]);
    let (a, b) = (MatRef::row_major(&a, 3, 0), MatRef::row_major(&b, 0, 5));
    let mut c = vec![f32::NAN; 15];
    gemm(1.0, a, b, 0.0, MatMut::row_major(&mut c, 3, 5));
    assert_eq!(c, vec![0.0; 15]);
    let mut c = vec![2.0; 15];
    gemm(1.0, a, b, 3.0, MatMut::row_major(&mut c, 3, 5));
    assert_eq!(c, vec![6.0; 15]);
    let mut c = vec![f32::NAN; 15];
    let bias = [1.0, 2.0, 3.0];
    let c_view = MatMut::row_major(&mut c, 3, 5);
    gemm_into(
        &mut Workspace::default(),
        1.0,
        a,
        b,
        Init::RowBias(&bias),
        c_view,
    );
    assert_eq!(&c[..5], &[1.0; 5]);
    assert_eq!(&c[10..], &[3.0; 5]);
}

#[test]
#[should_panic(expected = "does not fit")]
fn a_view_whose_strides_overflow_is_refused() {
    let mut data = [0.0; 1];
    let _ = MatMut::new(&mut data, 3, 1, 1 << 63, 1);
}

#[test]
#[should_panic(expected = "does not fit")]
fn a_view_outside_its_data_is_refused() {
    let data = [0.0; 10];
    let _ = MatRef::new(&data, 3, 4, 4, 1);
}

#[test]
#[should_panic(expected = "overlap")]
fn an_output_whose_elements_overlap_is_refused() {
    let mut data = [0.0; 10];
    let _ = MatMut::new(&mut data, 3, 3, 1, 1);
}

#[test]
fn long_depth_products_of_contiguous_rows_are_exact_too() {
    // A's rows and B's columns contiguous, depth long against the output: the dot-product
    // path, with a depth that is not a multiple of eight, edge rows and columns
    let mut rng = SplitMix(16);
    for &(m, k, n) in &[(7, 5003, 13), (64, 8192, 30), (1, 4096, 1)] {
        let (ad, bd) = (integers(&mut rng, m * k), integers(&mut rng, k * n));
        let (a, b) = (
            view(&ad, m, k, Storage::Plain),
            view(&bd, k, n, Storage::Transposed),
        );
        let c0 = integers(&mut rng, m * n);
        for threads in [1, 2] {
            pool(threads).install(|| {
                for (alpha, beta) in [(1, 0), (2, 1), (1, 3)] {
                    let mut c = if beta == 0 {
                        vec![f32::NAN; m * n]
                    } else {
                        c0.clone()
                    };
                    gemm(
                        alpha as f32,
                        a,
                        b,
                        beta as f32,
                        MatMut::row_major(&mut c, m, n),
                    );
                    let want = oracle(m, k, n, alpha, &a, &b, beta, &c0);
                    assert_eq!(
                        c, want,
                        "{m}x{k}x{n} alpha {alpha} beta {beta}, {threads} threads"
                    );
                }
            });
        }
    }
}

#[test]
fn long_depth_products_do_not_depend_on_the_thread_count() {
    let mut rng = SplitMix(17);
    let (m, k, n) = (64, 20_000, 288);
    let ad: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let bd: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let run = |threads: usize| {
        let mut c = vec![0.0; m * n];
        let (a, b) = (
            MatRef::row_major(&ad, m, k),
            MatRef::row_major(&bd, n, k).t(),
        );
        let parts = pool(threads).install(|| {
            gemm(1.0, a, b, 0.0, MatMut::row_major(&mut c, m, n));
            split(a, b)
        });
        assert_eq!(parts, threads, "the dot path is shared out");
        c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(2));
}
