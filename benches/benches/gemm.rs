//! The engine's matrix product against the `matrixmultiply` and `gemm` crates, on the CNN's
//! products for a batch of 128 pairs (256 digit images) and on square matrices: GFLOP/s of
//! the fastest run over interleaved rounds, and the share of the one-core FMA peak measured in
//! the same run.
//!
//! `cargo bench -p benches --bench gemm` (add `-- quick` for fewer rounds, and
//! `-- 64x288x2048 ...` for other shapes: `MxKxN`, with `t` after M or N for a transposed
//! A or B, as in `9216tx128x256`)
//!
//! Every contender computes the same `C = A B` from the same row-major buffers, transposes
//! given as strides. `matrixmultiply` runs on one thread (its thread count is fixed for the
//! process by `MATMUL_NUM_THREADS`); the engine and `gemm` run on one and two rayon threads.

use std::hint::black_box;

use benches::peak::Peaks;
use benches::pool;
use benches::rounds::{Contender, race};
use engine::Workspace;
use engine::gemm::{Init, MatMut, MatRef, gemm_into};

/// One product `C (m x n) = A (m x k) B (k x n)`; a transposed operand is stored as its
/// transpose, row-major.
struct Shape {
    name: String,
    m: usize,
    k: usize,
    n: usize,
    a_transposed: bool,
    b_transposed: bool,
}

fn shape(name: &str, m: usize, k: usize, n: usize, at: bool, bt: bool) -> Shape {
    Shape {
        name: name.to_owned(),
        m,
        k,
        n,
        a_transposed: at,
        b_transposed: bt,
    }
}

/// The network's products for 256 images: (out channels) x (in channels x 3 x 3) times
/// (in channels x 3 x 3) x (output pixels x images), and the dense layer 9216 -> 128.
fn network_shapes() -> Vec<Shape> {
    vec![
        shape("conv1 forward", 32, 9, 173_056, false, false),
        shape("conv2 forward", 64, 288, 147_456, false, false),
        shape("conv2 weight gradient", 64, 147_456, 288, false, true),
        shape("conv2 input gradient", 288, 64, 147_456, true, false),
        shape("dense forward", 128, 9216, 256, false, false),
        shape("dense weight gradient", 128, 256, 9216, false, true),
        shape("dense input gradient", 9216, 128, 256, true, false),
        shape("square 256", 256, 256, 256, false, false),
        shape("square 512", 512, 512, 512, false, false),
        shape("square 1024", 1024, 1024, 1024, false, false),
    ]
}

/// `MxKxN` with an optional `t` after M (A transposed) or N (B transposed).
fn parse_shape(text: &str) -> Option<Shape> {
    let parts: Vec<&str> = text.split('x').collect();
    let [m, k, n] = parts[..] else { return None };
    let (m, at) = m.strip_suffix('t').map_or((m, false), |m| (m, true));
    let (n, bt) = n.strip_suffix('t').map_or((n, false), |n| (n, true));
    Some(shape(
        text,
        m.parse().ok()?,
        k.parse().ok()?,
        n.parse().ok()?,
        at,
        bt,
    ))
}

/// Strides (row, column) of a `rows x cols` operand stored row-major, or as its transpose.
fn strides(rows: usize, cols: usize, transposed: bool) -> (usize, usize) {
    if transposed { (1, rows) } else { (cols, 1) }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let custom: Vec<Shape> = std::env::args()
        .skip(1)
        .filter_map(|a| parse_shape(&a))
        .collect();
    let shapes = if custom.is_empty() {
        network_shapes()
    } else {
        custom
    };
    let rounds = if quick { 3 } else { 8 };
    let pools = [pool(1), pool(2)];
    let peaks = Peaks::measure(20);
    println!("{}\n", peaks.describe());
    let peak = peaks.share_of();
    println!(
        "{:<24} {:>15} {:>15} {:>15} {:>15} {:>15}  {:>9}",
        "GFLOP/s (share of peak)",
        "engine 1T",
        "matrixmult. 1T",
        "gemm 1T",
        "engine 2T",
        "gemm 2T",
        "engine 2T/1T"
    );
    for s in &shapes {
        let (m, k, n) = (s.m, s.k, s.n);
        let fill = |len: usize, seed: u32| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5
                })
                .collect()
        };
        let (a, b) = (fill(m * k, 1), fill(k * n, 2));
        let (rsa, csa) = strides(m, k, s.a_transposed);
        let (rsb, csb) = strides(k, n, s.b_transposed);
        let mut c = vec![vec![0.0f32; m * n]; 5];
        let [c0, c1, c2, c3, c4] = &mut c[..] else {
            unreachable!()
        };
        let mut works = [Workspace::default(), Workspace::default()];
        let [w1, w2] = &mut works;
        let (a, b) = (&a, &b);
        let mut contenders = vec![
            Contender::new("engine 1T", |runs| {
                pools[0].install(|| {
                    for _ in 0..runs {
                        gemm_into(
                            w1,
                            1.0,
                            MatRef::new(a, m, k, rsa, csa),
                            MatRef::new(b, k, n, rsb, csb),
                            Init::Beta(0.0),
                            MatMut::row_major(c0, m, n),
                        )
                    }
                })
            }),
            Contender::new("matrixmultiply 1T", |runs| {
                // SAFETY: the buffers hold m x k, k x n and m x n values at these strides.
                (0..runs).for_each(|_| unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa as isize,
                        csa as isize,
                        b.as_ptr(),
                        rsb as isize,
                        csb as isize,
                        0.0,
                        c1.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                })
            }),
            Contender::new("gemm 1T", |runs| {
                for _ in 0..runs {
                    gemm_crate(m, k, n, a, (rsa, csa), b, (rsb, csb), c2, 1)
                }
            }),
            Contender::new("engine 2T", |runs| {
                pools[1].install(|| {
                    for _ in 0..runs {
                        gemm_into(
                            w2,
                            1.0,
                            MatRef::new(a, m, k, rsa, csa),
                            MatRef::new(b, k, n, rsb, csb),
                            Init::Beta(0.0),
                            MatMut::row_major(c3, m, n),
                        )
                    }
                })
            }),
            Contender::new("gemm 2T", |runs| {
                pools[1].install(|| {
                    for _ in 0..runs {
                        gemm_crate(m, k, n, a, (rsa, csa), b, (rsb, csb), c4, 2)
                    }
                })
            }),
        ];
        race(&mut contenders, rounds, 0.05);
        let flops = 2.0 * (m * k * n) as f64;
        let cell = |c: &Contender| {
            let gflops = flops / c.best() / 1e9;
            format!("{gflops:6.1} ({:3.0}%)", 100.0 * gflops / peak)
        };
        let scaling = contenders[0].best() / contenders[3].best();
        println!(
            "{:<24} {:>15} {:>15} {:>15} {:>15} {:>15}  {:>8.2}x",
            s.name,
            cell(&contenders[0]),
            cell(&contenders[1]),
            cell(&contenders[2]),
            cell(&contenders[3]),
            cell(&contenders[4]),
            scaling
        );
        drop(contenders);
        // all five computed the product: sampled elements against an f64 sum, within the
        // statistical error of a K-term f32 sum (sqrt(K) roundings of the running sum)
        for e in (0..m * n).step_by((m * n / 61).max(1)) {
            let (i, j) = (e / n, e % n);
            let (mut exact, mut scale) = (0.0f64, 0.0f64);
            for p in 0..k {
                let term = a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64;
                exact += term;
                scale += term.abs();
            }
            let tolerance = 4.0 * (k as f64).sqrt() * f32::EPSILON as f64 * scale;
            for (got, label) in
                c.iter()
                    .zip(["engine", "matrixmultiply", "gemm", "engine 2T", "gemm 2T"])
            {
                let error = (got[e] as f64 - exact).abs();
                assert!(
                    error <= tolerance,
                    "{}: {label} off by {error} at ({i}, {j})",
                    s.name
                );
            }
        }
        black_box(&c);
    }
}

/// The `gemm` crate's product (its `alpha` scales the old C, its `beta` the product).
#[allow(clippy::too_many_arguments)]
fn gemm_crate(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    c: &mut [f32],
    threads: usize,
) {
    let parallelism = if threads == 1 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    };
    // SAFETY: the buffers hold m x k, k x n and m x n values at these strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            csa as isize,
            rsa as isize,
            b.as_ptr(),
            csb as isize,
            rsb as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}
