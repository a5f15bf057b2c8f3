//! The matrix product's arithmetic pinned bit for bit: real-valued operands (whose sums are
//! rounded at every step, so every order gives other bits) against scalar `mul_add` chains
//! in the order the module documents. Integer operands, as in `gemm.rs`, make every order
//! exact and pin nothing; these tests are what a wider kernel must match.
//!
//! - The packed path: each element `c = start; c = fma(alpha a_ik, b_kj, c)` for k in order,
//!   with `start` 0, C, `beta C` or the row's bias.
//! - The dot path (contiguous rows, long depth): each element `start`, then `alpha` times the
//!   dot product of each piece of 1,024 depths added in order; a piece summed in eight chains
//!   (lane l takes the depths l, l + 8, ...) added as ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7));
//!   the depths past the last multiple of eight one chain of their own, added last.
//!
//! Each shape runs on one, two and three threads, and the shapes meant to be shared out are
//! checked to be.

mod common;

use common::{SplitMix, pool};
use engine::Workspace;
use engine::gemm::{Init, MatMut, MatRef, gemm_into, split};

/// Depths per piece of the dot path.
const PIECE: usize = 1024;

fn reals(rng: &mut SplitMix, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// How an element starts, as the module documents it.
fn start(init: &Init<'_>, c: f32, i: usize) -> f32 {
    match *init {
        Init::Beta(0.0) => 0.0,
        Init::Beta(1.0) => c,
        Init::Beta(beta) => beta * c,
        Init::RowBias(bias) => bias[i],
    }
}

/// The packed path's element: one fused multiply-add chain in the order of k.
fn packed_element(alpha: f32, a: &MatRef<'_>, b: &MatRef<'_>, i: usize, j: usize, c: f32) -> f32 {
    (0..a.cols()).fold(c, |c, p| (alpha * a.get(i, p)).mul_add(b.get(p, j), c))
}

/// The dot path's element: pieces of eight chains, then the tail.
fn dot_element(alpha: f32, a: &MatRef<'_>, b: &MatRef<'_>, i: usize, j: usize, c: f32) -> f32 {
    let k = a.cols();
    let whole = k / 8 * 8;
    let mut c = c;
    for piece in (0..whole).step_by(PIECE) {
        let len = PIECE.min(whole - piece);
        let mut lanes = [0.0f32; 8];
        for v in (piece..piece + len).step_by(8) {
            for (l, lane) in lanes.iter_mut().enumerate() {
                *lane = a.get(i, v + l).mul_add(b.get(v + l, j), *lane);
            }
        }
        let l = lanes;
        let sum = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
        c += alpha * sum;
    }
    if whole < k {
        let tail = (whole..k).fold(0.0f32, |s, p| a.get(i, p).mul_add(b.get(p, j), s));
        c += alpha * tail;
    }
    c
}

type Element = fn(f32, &MatRef<'_>, &MatRef<'_>, usize, usize, f32) -> f32;

/// `C = alpha A B + init` by the engine on `threads` threads, against `element` on every
/// element, bit for bit; returns how many parts the product was split into.
fn check(
    element: Element,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    init: Init<'_>,
    c0: &[f32],
    threads: usize,
) -> usize {
    let (m, n) = (a.rows(), b.cols());
    let mut c = c0.to_vec();
    let parts = pool(threads).install(|| {
        gemm_into(
            &mut Workspace::default(),
            alpha,
            a,
            b,
            init,
            MatMut::row_major(&mut c, m, n),
        );
        split(a, b)
    });
    for i in 0..m {
        for j in 0..n {
            let want = element(alpha, &a, &b, i, j, start(&init, c0[i * n + j], i));
            let got = c[i * n + j];
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "({i}, {j}) of {m}x{}x{n}: {got} against {want}, alpha {alpha}, {init:?}, \
                 {threads} threads",
                a.cols()
            );
        }
    }
    parts
}

#[test]
fn each_packed_element_is_one_fma_chain_in_the_order_of_k() {
    let mut rng = SplitMix(21);
    // edge tiles, the depth blocks (384), the row blocks (120) and the column block (2,048);
    // on AVX-512, last tiles of 16 and 32 columns (the 16-lane kernel's narrower tiles), and
    // operands read in place where every tile is one of that kernel's (the last shapes:
    // A's and B's rows contiguous, at most 256 across, a dense layer's forward product in
    // small, over several depth blocks and in two parts)
    let shapes = [
        (1, 1, 1),
        (5, 7, 9),
        (4, 17, 24),
        (13, 385, 37),
        (121, 50, 25),
        (7, 769, 2049),
        (32, 9, 1),
        (8, 5, 16),
        (9, 20, 32),
        (16, 40, 64),
        (24, 385, 128),
        (16, 800, 112),
        (64, 450, 256),
    ];
    for &(m, k, n) in &shapes {
        let (ad, bd, at) = (
            reals(&mut rng, m * k),
            reals(&mut rng, k * n),
            reals(&mut rng, k * m),
        );
        let c0 = reals(&mut rng, m * n);
        let bias = reals(&mut rng, m);
        let b = MatRef::row_major(&bd, k, n);
        // A as itself and as the transpose of a stored k x m matrix
        for a in [
            MatRef::row_major(&ad, m, k),
            MatRef::row_major(&at, k, m).t(),
        ] {
            for (alpha, init) in [
                (1.0, Init::Beta(0.0)),
                (1.0, Init::Beta(1.0)),
                (-0.75, Init::Beta(1.3)),
                (0.3, Init::RowBias(&bias)),
            ] {
                for threads in [1, 2] {
                    check(packed_element, alpha, a, b, init, &c0, threads);
                }
            }
        }
        // B stored transposed
        let bt = reals(&mut rng, n * k);
        let b = MatRef::row_major(&bt, n, k).t();
        check(
            packed_element,
            0.5,
            MatRef::row_major(&ad, m, k),
            b,
            Init::Beta(0.0),
            &c0,
            2,
        );
    }
}

#[test]
fn each_dot_element_is_pieces_of_eight_chains_then_the_tail() {
    let mut rng = SplitMix(22);
    // depths of one piece, of several with a short last one, and with a tail past the last
    // multiple of eight; A's rows and B's columns contiguous
    for &(m, k, n) in &[(1, 4096, 1), (7, 5003, 13), (5, 9000, 40)] {
        let (ad, bd) = (reals(&mut rng, m * k), reals(&mut rng, n * k));
        let c0 = reals(&mut rng, m * n);
        let bias = reals(&mut rng, m);
        let (a, b) = (
            MatRef::row_major(&ad, m, k),
            MatRef::row_major(&bd, n, k).t(),
        );
        for (alpha, init) in [
            (1.0, Init::Beta(0.0)),
            (-0.5, Init::Beta(1.0)),
            (2.0, Init::Beta(0.25)),
            (1.0, Init::RowBias(&bias)),
        ] {
            for threads in [1, 2] {
                check(dot_element, alpha, a, b, init, &c0, threads);
            }
        }
    }
}

#[test]
fn shared_out_products_give_every_element_its_documented_bits() {
    let mut rng = SplitMix(23);
    // the packed path split by rows and by columns, and the dot path split by columns:
    // large enough that two and three threads each take a part
    let packed = [(64, 1000, 700), (300, 200, 64), (128, 1152, 40)];
    for &(m, k, n) in &packed {
        let (ad, bd) = (reals(&mut rng, m * k), reals(&mut rng, k * n));
        let (a, b) = (MatRef::row_major(&ad, m, k), MatRef::row_major(&bd, k, n));
        let c0 = vec![f32::NAN; m * n];
        assert_eq!(check(packed_element, 1.0, a, b, Init::Beta(0.0), &c0, 1), 1);
        for threads in [2, 3] {
            let parts = check(packed_element, 1.0, a, b, Init::Beta(0.0), &c0, threads);
            assert_eq!(parts, threads, "{m}x{k}x{n} on {threads} threads");
        }
    }
    let (m, k, n) = (32, 20_000, 96);
    let (ad, bd) = (reals(&mut rng, m * k), reals(&mut rng, n * k));
    let (a, b) = (
        MatRef::row_major(&ad, m, k),
        MatRef::row_major(&bd, n, k).t(),
    );
    let c0 = reals(&mut rng, m * n);
    for threads in [1, 2, 3] {
        let parts = check(dot_element, 0.5, a, b, Init::Beta(1.0), &c0, threads);
        assert_eq!(parts, threads, "the dot path on {threads} threads");
    }
}
