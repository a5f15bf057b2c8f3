//! The Winograd convolution (`ConvMethod::Winograd`) against the exact convolution in f64:
//! its outputs and both gradients within the a-priori bound `gamma(n) S` of
//! `engine::winograd` (S the same computation on absolute values, n its longest rounding
//! chain), finite differences of its own forward pass, bit-identical results on one to three
//! threads, on the MNIST network's second convolution and on edge shapes (images not a
//! multiple of the 4 x 4 tiles, filters and channels not multiples of the micro-kernel's
//! tiles, batches with padding lanes).

mod common;

use common::{SplitMix, pool as pool_of};
use engine::winograd::{self, AT, BT, G};
use engine::{
    Conv2d, ConvMethod, Grads, Graph, Image, NodeId, Program, Shape, Values, backward, forward,
};

const U: f64 = f32::EPSILON as f64 / 2.0;

fn gamma(n: usize) -> f64 {
    n as f64 * U / (1.0 - n as f64 * U)
}

/// `m x m^T` in f64.
fn sandwich<const R: usize, const C: usize>(m: &[[f64; C]; R], x: &[[f64; C]; C]) -> [[f64; R]; R] {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let mut s = 0.0;
            for a in 0..C {
                for b in 0..C {
                    s += m[i][a] * x[a][b] * m[j][b];
                }
            }
            s
        })
    })
}

fn transpose<const R: usize, const C: usize>(m: &[[f64; C]; R]) -> [[f64; R]; C] {
    std::array::from_fn(|c| std::array::from_fn(|r| m[r][c]))
}

/// One convolution with its data, the tape's results and the exact ones.
struct Case {
    image: Image,
    filters: usize,
    batch: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
    /// The loss's weights: the output's gradient.
    r: Vec<f32>,
}

struct Results {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
}

/// What follows the convolution: a ReLU, a 2 x 2 max-pool, each in its own node or carried
/// by the convolution's (`fused`).
#[derive(Clone, Copy, Debug, Default)]
struct After {
    relu: bool,
    pool: bool,
    fused: bool,
    /// The bias a constant: no bias gradient.
    fixed_bias: bool,
}

impl Case {
    fn new(image: Image, filters: usize, batch: usize, seed: u64) -> Case {
        let mut rng = SplitMix(seed);
        let out = Image::new(filters, image.height - 2, image.width - 2);
        let mut draw = |n: usize| (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<f32>>();
        Case {
            image,
            filters,
            batch,
            x: draw(image.features() * batch),
            w: draw(filters * image.channels * 9),
            bias: draw(filters),
            r: draw(out.features() * batch),
        }
    }

    fn out(&self) -> Image {
        Image::new(self.filters, self.image.height - 2, self.image.width - 2)
    }

    /// `sum(conv(x) * r)` on the tape by `method`: the output, dX and dW.
    fn run(&self, method: ConvMethod) -> Results {
        self.run_with(method, After::default())
    }

    /// [`Case::run`] with the convolution's output through a ReLU and a pool as `after` says
    /// (dW then followed by dBias; `r` cut to the pooled size).
    fn run_with(&self, method: ConvMethod, after: After) -> Results {
        let graph = Graph::new();
        let x = graph.input_with_grad(Shape::batched(self.image.features()));
        let w = graph.param("w", self.w.len());
        let b = if after.fixed_bias {
            graph.constant(&self.bias)
        } else {
            graph.param("b", self.filters)
        };
        let (image, filters) = (self.image, self.filters);
        let conv = Conv2d::new(image, filters, 3).by(method);
        let y = if after.fused {
            let conv = if after.relu { conv.with_relu() } else { conv };
            x.convolve(if after.pool { conv.with_pool() } else { conv }, w, b)
        } else {
            let y = x.convolve(conv, w, b);
            let y = if after.relu { y.relu() } else { y };
            if after.pool {
                y.max_pool2(conv.output())
            } else {
                y
            }
        };
        let features = y.shape().features;
        let r = graph.input(y.shape());
        let tape = graph.finish((y * r).sum_all());
        let mut values = Values::new(&Program::new(&tape, self.batch));
        let fill = |values: &mut Values, id: NodeId, data: &[f32]| {
            for (f, row) in data.chunks(self.batch).enumerate() {
                values.feature_mut(id, f)[..self.batch].copy_from_slice(row);
            }
        };
        fill(&mut values, x.id(), &self.x);
        fill(&mut values, r.id(), &self.r[..features * self.batch]);
        let bias: &[f32] = if after.fixed_bias { &[] } else { &self.bias };
        let params: Vec<f32> = self.w.iter().chain(bias).copied().collect();
        forward(&params, &mut values);
        let mut grads = Grads::new(values.program());
        grads.fill(f32::NAN);
        backward(&params, &values, &mut grads);
        let batched =
            |id: NodeId, features: usize, source: &dyn Fn(NodeId, usize, usize) -> f32| {
                (0..features * self.batch)
                    .map(|e| source(id, e % self.batch, e / self.batch))
                    .collect::<Vec<f32>>()
            };
        Results {
            y: batched(y.id(), features, &|id, b, f| values.get(id, b, f)),
            dx: batched(x.id(), self.image.features(), &|id, b, f| {
                grads.get(id, b, f)
            }),
            dw: if after.relu || after.pool {
                grads.params().to_vec()
            } else {
                grads.params()[..self.w.len()].to_vec()
            },
        }
    }

    fn xv(&self, c: usize, y: usize, x: usize, b: usize) -> f64 {
        f64::from(self.x[((c * self.image.height + y) * self.image.width + x) * self.batch + b])
    }

    fn wv(&self, f: usize, c: usize, ky: usize, kx: usize) -> f64 {
        f64::from(self.w[((f * self.image.channels + c) * 3 + ky) * 3 + kx])
    }

    fn rv(&self, f: usize, y: usize, x: usize, b: usize) -> f64 {
        let out = self.out();
        f64::from(self.r[((f * out.height + y) * out.width + x) * self.batch + b])
    }

    /// The exact output, dX and dW, in f64, laid out as [`Results`].
    fn exact(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (im, out, n) = (self.image, self.out(), self.batch);
        let mut y = vec![0.0; out.features() * n];
        let mut dx = vec![0.0; im.features() * n];
        let mut dw = vec![0.0; self.w.len()];
        for f in 0..self.filters {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    for b in 0..n {
                        let at = ((f * out.height + oy) * out.width + ox) * n + b;
                        let mut s = f64::from(self.bias[f]);
                        let r = self.rv(f, oy, ox, b);
                        for c in 0..im.channels {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (wv, xv) =
                                        (self.wv(f, c, ky, kx), self.xv(c, oy + ky, ox + kx, b));
                                    s += wv * xv;
                                    dx[((c * im.height + oy + ky) * im.width + ox + kx) * n + b] +=
                                        wv * r;
                                    dw[((f * im.channels + c) * 3 + ky) * 3 + kx] += xv * r;
                                }
                            }
                        }
                        y[at] = s;
                    }
                }
            }
        }
        (y, dx, dw)
    }

    /// The magnitudes `S` of the output, dX and dW: Winograd's computation on absolute values.
    fn magnitudes(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (im, out, n) = (self.image, self.out(), self.batch);
        let (bt, g, at) = (winograd::abs(&BT), winograd::abs(&G), winograd::abs(&AT));
        let (b, gt, a) = (transpose(&bt), transpose(&g), transpose(&at));
        let (tiles_y, tiles_x) = (out.height.div_ceil(4), out.width.div_ceil(4));
        let u: Vec<[[f64; 6]; 6]> = (0..self.filters * im.channels)
            .map(|fc| {
                let (f, c) = (fc / im.channels, fc % im.channels);
                sandwich(
                    &g,
                    &std::array::from_fn(|i| std::array::from_fn(|j| self.wv(f, c, i, j).abs())),
                )
            })
            .collect();
        let in_at =
            |c: usize, y: usize, x: usize| (y < im.height && x < im.width).then_some((c, y, x));
        let out_at = |y: usize, x: usize| (y < out.height && x < out.width).then_some((y, x));
        let mut sy = vec![0.0; out.features() * n];
        let mut sdx = vec![0.0; im.features() * n];
        let mut sdu = vec![[[0.0f64; 6]; 6]; self.filters * im.channels];
        for ty in 0..tiles_y {
            for tx in 0..tiles_x {
                let (y0, x0) = (4 * ty, 4 * tx);
                for s in 0..n {
                    let v: Vec<[[f64; 6]; 6]> = (0..im.channels)
                        .map(|c| {
                            sandwich(
                                &bt,
                                &std::array::from_fn(|i| {
                                    std::array::from_fn(|j| {
                                        in_at(c, y0 + i, x0 + j)
                                            .map_or(0.0, |(c, y, x)| self.xv(c, y, x, s).abs())
                                    })
                                }),
                            )
                        })
                        .collect();
                    let dm: Vec<[[f64; 6]; 6]> = (0..self.filters)
                        .map(|f| {
                            sandwich(
                                &a,
                                &std::array::from_fn(|i| {
                                    std::array::from_fn(|j| {
                                        out_at(y0 + i, x0 + j)
                                            .map_or(0.0, |(y, x)| self.rv(f, y, x, s).abs())
                                    })
                                }),
                            )
                        })
                        .collect();
                    for f in 0..self.filters {
                        let mut m = [[0.0; 6]; 6];
                        for c in 0..im.channels {
                            for e in 0..36 {
                                m[e / 6][e % 6] +=
                                    u[f * im.channels + c][e / 6][e % 6] * v[c][e / 6][e % 6];
                                sdu[f * im.channels + c][e / 6][e % 6] +=
                                    dm[f][e / 6][e % 6] * v[c][e / 6][e % 6];
                            }
                        }
                        let yt = sandwich(&at, &m);
                        for (i, line) in yt.iter().enumerate() {
                            for (j, &value) in line.iter().enumerate() {
                                if let Some((y, x)) = out_at(y0 + i, x0 + j) {
                                    sy[((f * out.height + y) * out.width + x) * n + s] =
                                        value + f64::from(self.bias[f]).abs();
                                }
                            }
                        }
                    }
                    for c in 0..im.channels {
                        let mut dv = [[0.0; 6]; 6];
                        for f in 0..self.filters {
                            for e in 0..36 {
                                dv[e / 6][e % 6] +=
                                    u[f * im.channels + c][e / 6][e % 6] * dm[f][e / 6][e % 6];
                            }
                        }
                        let dd = sandwich(&b, &dv);
                        for (i, line) in dd.iter().enumerate() {
                            for (j, &value) in line.iter().enumerate() {
                                if let Some((c, y, x)) = in_at(c, y0 + i, x0 + j) {
                                    sdx[((c * im.height + y) * im.width + x) * n + s] += value;
                                }
                            }
                        }
                    }
                }
            }
        }
        let sdw = sdu
            .iter()
            .flat_map(|du| sandwich(&gt, du).into_iter().flatten())
            .collect();
        (sy, sdx, sdw)
    }

    /// Longest rounding chains of an output, a dX and a dW element.
    fn depths(&self) -> (usize, usize, usize) {
        let out = self.out();
        let tiles = out.height.div_ceil(4) * out.width.div_ceil(4);
        let chunks = self.batch.div_ceil(8);
        (
            winograd::forward_depth(self.image.channels),
            winograd::input_grad_depth(self.filters, 4),
            winograd::weight_grad_depth(tiles * 8 + chunks),
        )
    }
}

/// Every element within `gamma(depth) S` of the exact value; returns the largest error in
/// units of `u S` (how much of the bound is used).
fn assert_within(what: &str, got: &[f32], exact: &[f64], magnitude: &[f64], depth: usize) -> f64 {
    assert_eq!(got.len(), exact.len(), "{what}");
    let mut worst: f64 = 0.0;
    for (e, ((&g, &x), &s)) in got.iter().zip(exact).zip(magnitude).enumerate() {
        let err = (f64::from(g) - x).abs();
        assert!(
            err <= gamma(depth) * s,
            "{what}[{e}]: {g} vs {x}, error {err:e} over the bound {:e}",
            gamma(depth) * s
        );
        if s > 0.0 {
            worst = worst.max(err / (U * s));
        }
    }
    worst
}

fn check(case: &Case) {
    let got = case.run(ConvMethod::Winograd);
    let (y, dx, dw) = case.exact();
    let (sy, sdx, sdw) = case.magnitudes();
    let (ny, ndx, ndw) = case.depths();
    let name = format!(
        "{:?} x {} filters, batch {}",
        case.image, case.filters, case.batch
    );
    let used = [
        assert_within(&format!("{name}: y"), &got.y, &y, &sy, ny) / ny as f64,
        assert_within(&format!("{name}: dX"), &got.dx, &dx, &sdx, ndx) / ndx as f64,
        assert_within(&format!("{name}: dW"), &got.dw, &dw, &sdw, ndw) / ndw as f64,
    ];
    println!(
        "{name}: worst error / bound: y {:.4}, dX {:.4}, dW {:.4}",
        used[0], used[1], used[2]
    );
}

#[test]
fn edge_shapes_are_within_the_bound() {
    for (image, filters, batch) in [
        // one tile cut to 1 x 1
        (Image::new(1, 3, 3), 1, 1),
        // tiles cut in both directions, 5 filters (not whole micro-kernel rows)
        (Image::new(3, 7, 9), 5, 13),
        // 25 channels: more than one column panel in the weight gradient
        (Image::new(25, 10, 6), 6, 8),
        // more tiles than one group, several chunks with a padded last one
        (Image::new(2, 18, 14), 3, 21),
    ] {
        check(&Case::new(image, filters, batch, 7));
    }
}

#[test]
fn the_mnist_networks_second_convolution_is_within_the_bound() {
    // 32 x 26 x 26 images, 64 filters: a 6 x 6 grid of whole tiles, 6 groups per chunk
    check(&Case::new(Image::new(32, 26, 26), 64, 9, 3));
}

#[test]
fn the_error_is_closer_to_the_direct_methods_than_the_bound() {
    // what the bound costs in practice: the worst error of each method against u times
    // its own magnitude, on the network's shape
    let case = Case::new(Image::new(32, 26, 26), 64, 8, 5);
    let (y, _, _) = case.exact();
    let (sy, _, _) = case.magnitudes();
    let direct = case.run(ConvMethod::Direct);
    let fast = case.run(ConvMethod::Winograd);
    let worst = |got: &[f32]| {
        got.iter()
            .zip(&y)
            .map(|(&g, &x)| (f64::from(g) - x).abs())
            .fold(0.0, f64::max)
    };
    let typical = sy.iter().sum::<f64>() / sy.len() as f64;
    let (e_direct, e_fast) = (worst(&direct.y), worst(&fast.y));
    // both small against the outputs' size; Winograd within 100x of the direct error
    assert!(
        e_fast < 1e-4 * typical,
        "{e_fast:e} against magnitudes of {typical:e}"
    );
    assert!(
        e_fast < 100.0 * e_direct.max(f64::from(f32::EPSILON)),
        "{e_fast:e} vs {e_direct:e}"
    );
    assert!(e_fast > 0.0 && e_direct > 0.0);
}

#[test]
fn finite_differences_of_its_own_forward_agree_with_its_gradients() {
    // the loss is linear in x and w, so a central difference has no truncation error: it
    // differs from the gradient by the forward's rounding over the step
    let case = Case::new(Image::new(3, 9, 10), 4, 11, 9);
    let got = case.run(ConvMethod::Winograd);
    let (_, sdx, sdw) = case.magnitudes();
    let (sy, _, _) = case.magnitudes();
    let (ny, ndx, ndw) = case.depths();
    let loss = |c: &Case| {
        c.run(ConvMethod::Winograd)
            .y
            .iter()
            .zip(&c.r)
            .map(|(&y, &r)| f64::from(y) * f64::from(r))
            .sum::<f64>()
    };
    // the loss's rounding: each output's error times |r|, and the f64 sum
    let loss_error: f64 = sy
        .iter()
        .zip(&case.r)
        .map(|(s, &r)| gamma(ny) * s * f64::from(r).abs())
        .sum();
    let step = 0.5f32;
    let mut rng = SplitMix(4);
    let mut checked = 0;
    for _ in 0..12 {
        for on_x in [true, false] {
            let len = if on_x { case.x.len() } else { case.w.len() };
            let e = (rng.next_u64() % len as u64) as usize;
            let nudged = |sign: f32| {
                let mut c = Case {
                    x: case.x.clone(),
                    w: case.w.clone(),
                    bias: case.bias.clone(),
                    r: case.r.clone(),
                    ..case
                };
                let v = if on_x { &mut c.x[e] } else { &mut c.w[e] };
                *v += sign * step;
                loss(&c)
            };
            let fd = (nudged(1.0) - nudged(-1.0)) / (2.0 * f64::from(step));
            let (grad, bound) = if on_x {
                (got.dx[e], gamma(ndx) * sdx[e])
            } else {
                (got.dw[e], gamma(ndw) * sdw[e])
            };
            let tolerance = 2.0 * loss_error / f64::from(step) + bound;
            assert!(
                (fd - f64::from(grad)).abs() <= tolerance,
                "{} {e}: difference {fd} vs gradient {grad} (tolerance {tolerance:e})",
                if on_x { "x" } else { "w" }
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}

#[test]
fn a_relu_and_a_pool_in_the_convolutions_node_change_no_bit() {
    // tiles cut at the edges, outputs of both signs, and a 9 x 7 output: an odd last row and
    // column in no pooling block, the pooled 4 x 3 cutting the last tiles; 21 samples (a
    // padded last chunk) and 16 (none: the direct path's ReLU mask, bias and weight gradients
    // then go in one step)
    let bits =
        |r: Results| [r.y, r.dx, r.dw].map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>());
    for (method, batch) in [ConvMethod::Direct, ConvMethod::Winograd]
        .into_iter()
        .flat_map(|m| [(m, 21), (m, 16)])
    {
        let case = Case::new(Image::new(5, 11, 9), 6, batch, 4);
        let cases = [(true, false), (true, true), (false, true)];
        // and without a bias gradient (the first backward pass then sums none)
        let cases = cases
            .map(|c| (c, false))
            .into_iter()
            .chain(cases.map(|c| (c, true)));
        for ((relu, pool), fixed_bias) in cases {
            let after = After {
                relu,
                pool,
                fused: false,
                fixed_bias,
            };
            let own = bits(case.run_with(method, after));
            if relu {
                // after the ReLU, zeros everywhere and ties in the pooling blocks
                let zeros = own[0].iter().filter(|&&y| y == 0).count();
                let least = if pool {
                    own[0].len() / 20
                } else {
                    own[0].len() / 4
                };
                assert!(zeros > least, "{zeros} of {} outputs cut", own[0].len());
            }
            for threads in [1, 2] {
                let fused = After {
                    fused: true,
                    ..after
                };
                let fused = pool_of(threads).install(|| case.run_with(method, fused));
                assert_eq!(
                    own,
                    bits(fused),
                    "{method:?} {after:?}, batch {batch}, {threads} threads"
                );
            }
        }
    }
}

#[test]
fn one_two_and_three_threads_give_the_same_bits() {
    // 40 samples: 5 chunks, shared out unevenly; the shape is large enough to split
    let case = Case::new(Image::new(16, 14, 14), 16, 40, 2);
    let bits =
        |r: Results| [r.y, r.dx, r.dw].map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>());
    let one = bits(pool_of(1).install(|| case.run(ConvMethod::Winograd)));
    for threads in [2, 3] {
        assert_eq!(
            one,
            bits(pool_of(threads).install(|| case.run(ConvMethod::Winograd))),
            "{threads} threads"
        );
    }
}

#[test]
fn a_winograd_convolution_needs_a_3x3_kernel() {
    let result = std::panic::catch_unwind(|| {
        let graph = Graph::new();
        let x = graph.input(Shape::batched(25));
        let (w, b) = (graph.param("w", 25), graph.param("b", 1));
        let _ = x.conv2d_by(ConvMethod::Winograd, w, b, Image::new(1, 5, 5), 1, 5);
    });
    let message = result.expect_err("refused");
    let text = message.downcast_ref::<String>().expect("a message");
    assert!(text.contains("3 x 3 kernel"), "{text}");
}
