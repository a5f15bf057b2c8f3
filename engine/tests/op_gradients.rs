//! Every op, differentiated three ways: the f32 tape, the f64 reference (with a rounding bound
//! that sets the tolerance) and central/one-sided finite differences of the f64 reference.
//! Each op runs on batched tensors (batch 13, so a padded chunk is exercised) and on
//! unbatched ones, with points chosen in the domains that matter.

mod common;

use common::{SplitMix, assert_gradients};
use engine::{Graph, Shape, Var, WeightLayout};

const BATCH: usize = 13;

/// Reduces a tensor to a scalar with distinct weights per element, so each element's
/// gradient differs: sum(y * w) with w a batched input in [0.5, 1.5].
fn weighted_sum<'g>(g: &'g Graph, y: Var<'g>) -> Var<'g> {
    let shape = y.shape();
    let w = g.input(shape);
    (y * w).sum_all()
}

/// Runs one unary op on a batched input with gradients and on an unbatched parameter,
/// drawing arguments from `point`.
fn unary_case(
    name: &str,
    op: for<'g> fn(Var<'g>) -> Var<'g>,
    point: &dyn Fn(&mut SplitMix) -> f32,
) {
    for batched in [true, false] {
        let mut rng = SplitMix(name.len() as u64 * 7919 + batched as u64);
        let label = format!("{name} ({})", if batched { "batched" } else { "unbatched" });
        assert_gradients(
            &label,
            BATCH,
            |g| {
                let x = if batched {
                    g.input_with_grad(Shape::batched(3))
                } else {
                    g.param("x", 5)
                };
                weighted_sum(g, op(x))
            },
            &mut |leaf, _| {
                if leaf == 0 {
                    point(&mut rng)
                } else {
                    rng.uniform(0.5, 1.5)
                }
            },
        );
    }
}

fn general(rng: &mut SplitMix) -> f32 {
    rng.uniform(-3.0, 3.0)
}

#[test]
fn neg() {
    unary_case("neg", |x| -x, &general);
}

#[test]
fn abs_including_zero() {
    // abs'(0) = sgn(0) = 0, the mean of the one-sided derivatives.
    unary_case("abs", |x| x.abs(), &|r| {
        r.pick(&[0.0, -1.5, 2.25, 0.0, -0.0])
            .max(general(r).min(0.0))
    });
}

#[test]
fn sign_round_less_pass_no_gradient() {
    // y = x * h(x) with h piecewise constant: dy/dx = h(x), which finite differences confirm
    // away from the jumps (half-integers for round, 0.5 for less, 0 for sign).
    for (name, op) in [
        (
            "sign",
            (|x: Var<'_>| x.sign()) as for<'g> fn(Var<'g>) -> Var<'g>,
        ),
        ("round", |x| x.round()),
        ("less", |x| x.less(0.5)),
    ] {
        let mut rng = SplitMix(3);
        assert_gradients(
            name,
            BATCH,
            |g| {
                let x = g.input_with_grad(Shape::batched(2));
                weighted_sum(g, x * op(x))
            },
            &mut |_, _| rng.pick(&[-1.2, -0.3, 0.2, 0.7, 1.4, 2.1]),
        );
    }
}

#[test]
fn detach_stops_the_gradient() {
    // y = x * detach(x) * 3: the tape gives dy/dx = 3 x (one path), where finite differences,
    // which cannot see a stop-gradient, would give 6 x.
    let graph = Graph::new();
    let x = graph.param("x", 2);
    let y = (x * x.detach() * 3.0).sum_all();
    let tape = graph.finish(y);
    let program = engine::Program::new(&tape, 8);
    let mut values = engine::Values::new(&program);
    let params = [1.5, -2.0];
    engine::forward(&params, &mut values);
    let mut grads = engine::Grads::new(&program);
    engine::backward(&params, &values, &mut grads);
    assert_eq!(grads.params(), &[4.5, -6.0]);
}

#[test]
fn ln_near_zero() {
    unary_case("ln", |x| x.ln(), &|r| {
        r.pick(&[1e-6, 1e-3, 0.5, 3.0, 40.0]) * r.uniform(0.9, 1.1)
    });
}

#[test]
fn exp_wide_range() {
    unary_case("exp", |x| x.exp(), &|r| r.uniform(-20.0, 20.0));
}

#[test]
fn sin_cos() {
    unary_case("sin", |x| x.sin(), &|r| r.uniform(-10.0, 10.0));
    unary_case("cos", |x| x.cos(), &|r| r.uniform(-10.0, 10.0));
}

#[test]
fn tanh_and_sigmoid_including_saturation() {
    let point = |r: &mut SplitMix| {
        r.pick(&[-30.0, -9.5, -2.0, 0.0, 0.3, 4.0, 12.0, 95.0]) + r.uniform(-0.1, 0.1)
    };
    unary_case("tanh", |x| x.tanh(), &point);
    unary_case("sigmoid", |x| x.sigmoid(), &point);
}

#[test]
fn relu_including_zero() {
    unary_case("relu", |x| x.relu(), &|r| {
        r.pick(&[0.0, -1.0, 1.0]) * r.pick(&[0.0, 1.0, 0.5])
    });
}

#[test]
fn reciprocal_and_square_root_near_zero() {
    unary_case("recip", |x| x.recip(), &|r| {
        r.pick(&[1e-3, -1e-3, 0.7, -4.0]) * r.uniform(0.9, 1.1)
    });
    unary_case("sqrt", |x| x.sqrt(), &|r| {
        r.pick(&[1e-4, 0.3, 9.0]) * r.uniform(0.9, 1.1)
    });
    unary_case("square", |x| x.square(), &general);
}

#[test]
fn clamp_including_its_bounds() {
    // Bounds are inside the interval: the derivative at lo and hi is 1 (the one-sided
    // derivative from inside).
    unary_case("clamp", |x| x.clamp(-1.0, 1.0), &|r| {
        r.pick(&[-1.0, 1.0, -1.5, 1.5, 0.25, -0.75])
    });
}

/// Runs a binary op with every broadcasting combination: both batched, batched with an
/// unbatched vector, batched with an unbatched scalar, and both unbatched.
fn binary_case(
    name: &str,
    op: for<'g> fn(Var<'g>, Var<'g>) -> Var<'g>,
    point: &dyn Fn(&mut SplitMix, usize) -> f32,
) {
    type Build = for<'g> fn(&'g Graph) -> (Var<'g>, Var<'g>);
    let shapes: [(&str, Build); 5] = [
        ("rows x rows", |g| {
            (
                g.input_with_grad(Shape::batched(3)),
                g.input_with_grad(Shape::batched(3)),
            )
        }),
        ("rows x vector", |g| {
            (g.input_with_grad(Shape::batched(3)), g.param("b", 3))
        }),
        ("vector x rows", |g| {
            (g.param("a", 3), g.input_with_grad(Shape::batched(3)))
        }),
        ("rows x scalar", |g| {
            (g.input_with_grad(Shape::batched(3)), g.param("b", 1))
        }),
        ("vector x vector", |g| (g.param("a", 4), g.param("b", 4))),
    ];
    for (label, build) in shapes {
        let mut rng = SplitMix(name.len() as u64 * 31 + label.len() as u64);
        assert_gradients(
            &format!("{name} ({label})"),
            BATCH,
            |g| {
                let (a, b) = build(g);
                weighted_sum(g, op(a, b))
            },
            &mut |leaf, _| {
                if leaf < 2 {
                    point(&mut rng, leaf)
                } else {
                    rng.uniform(0.5, 1.5)
                }
            },
        );
    }
}

#[test]
fn add_sub_mul() {
    binary_case("add", |a, b| a + b, &|r, _| general(r));
    binary_case("sub", |a, b| a - b, &|r, _| general(r));
    binary_case("mul", |a, b| a * b, &|r, _| general(r));
}

#[test]
fn div_near_zero() {
    binary_case("div", |a, b| a / b, &|r, side| {
        if side == 1 {
            r.pick(&[1e-3, -2e-3, 0.5, -3.0]) * r.uniform(0.9, 1.1)
        } else {
            general(r)
        }
    });
}

#[test]
fn pow_positive_base() {
    binary_case("pow", |a, b| a.pow(b), &|r, side| {
        if side == 0 {
            r.uniform(0.05, 4.0)
        } else {
            r.uniform(-2.0, 2.0)
        }
    });
}

#[test]
fn pow_singular_points() {
    // base 0: d/dbase = 0 where e == 0 (else e 0^(e-1)); d/de = 0 where e >= 0.
    // negative base with integer exponent: value defined, d/de = NaN (ln of a negative).
    binary_case("pow at 0", |a, b| a.pow(b), &|r, side| {
        // (0^e jumps from 1 to 0 at e = 0, so e = 0 with base 0 has no derivative to compare;
        // that convention is checked exactly in `pow_conventions_at_zero`.)
        if side == 0 {
            r.pick(&[0.0, 1.0, 0.5])
        } else {
            r.pick(&[0.5, 1.0, 2.0, 3.0])
        }
    });
    binary_case("pow negative base", |a, b| a.pow(b), &|r, side| {
        if side == 0 {
            r.pick(&[-2.0, -0.5, -1.0])
        } else {
            r.pick(&[1.0, 2.0, -1.0, 3.0])
        }
    });
}

#[test]
fn signed_pow() {
    // sgn(a) |a|^b: d/da = b |a|^(b-1), d/db = out ln|a|, on both signs of the base
    binary_case("signed pow", |a, b| a.signed_pow(b), &|r, side| {
        if side == 0 {
            r.pick(&[-2.0, -0.7, 0.4, 1.5])
        } else {
            r.pick(&[-1.0, -0.3, 0.5, 1.0, 2.5])
        }
    });
}

#[test]
fn gated() {
    // a b + (1 - b): d/da = b, d/db = a - 1
    binary_case("gated", |a, b| a.gated(b), &|r, _| general(r));
    // b a + 1 - b: the same derivatives
    binary_case("gated nmu", |a, b| a.gated_nmu(b), &|r, _| general(r));
}

#[test]
fn min_max_with_ties() {
    // Ties split the gradient half/half: the mean of the one-sided derivatives.
    let point = |r: &mut SplitMix, _| r.pick(&[0.5, -1.0, 2.0, 0.5]);
    binary_case("min", |a, b| a.min(b), &point);
    binary_case("max", |a, b| a.max(b), &point);
}

fn reduction_case(
    name: &str,
    features: usize,
    op: for<'g> fn(Var<'g>) -> Var<'g>,
    point: &dyn Fn(&mut SplitMix) -> f32,
) {
    for batched in [true, false] {
        let mut rng = SplitMix(features as u64 * 101 + batched as u64);
        assert_gradients(
            &format!("{name} ({})", if batched { "batched" } else { "unbatched" }),
            BATCH,
            |g| {
                let x = if batched {
                    g.input_with_grad(Shape::batched(features))
                } else {
                    g.param("x", features)
                };
                let y = op(x);
                if y.shape().features == 1 && !y.shape().batched {
                    y * 1.5
                } else {
                    weighted_sum(g, y)
                }
            },
            &mut |leaf, _| {
                if leaf == 0 {
                    point(&mut rng)
                } else {
                    rng.uniform(0.5, 1.5)
                }
            },
        );
    }
}

#[test]
fn feature_sums_and_products() {
    reduction_case("sum_features", 6, |x| x.sum_features(3), &general);
    reduction_case("prod_features", 6, |x| x.prod_features(3), &|r| {
        r.uniform(-2.0, 2.0)
    });
    reduction_case(
        "prod_features (one group)",
        10,
        |x| x.prod_features(10),
        &|r| r.uniform(0.5, 1.6),
    );
}

#[test]
fn product_with_zero_factors() {
    // The other factors' product is formed explicitly, so a zero factor gets the product of
    // the rest and the others get 0.
    reduction_case("prod with zeros", 4, |x| x.prod_features(4), &|r| {
        r.pick(&[0.0, 1.5, -0.5, 2.0])
    });
}

#[test]
fn batch_and_global_reductions() {
    reduction_case("mean_all", 3, |x| x.mean_all(), &general);
    reduction_case("sum_all", 3, |x| x.sum_all(), &general);
    reduction_case("norm2", 3, |x| x.norm2(), &general);
    let mut rng = SplitMix(5);
    assert_gradients(
        "mean_batch",
        BATCH,
        |g| {
            let x = g.input_with_grad(Shape::batched(2));
            weighted_sum(g, x.mean_batch())
        },
        &mut |_, _| rng.uniform(-2.0, 2.0),
    );
}

#[test]
fn norm2_of_zero_has_zero_gradient() {
    // The norm is |x| along every direction at 0: one-sided derivatives -1 and +1; the
    // convention (0) is their mean.
    reduction_case("norm2 at 0", 3, |x| x.norm2(), &|_| 0.0);
}

#[test]
fn matmul_both_layouts() {
    for layout in [WeightLayout::InOut, WeightLayout::OutIn] {
        for batched in [true, false] {
            let mut rng = SplitMix(9);
            assert_gradients(
                &format!("matmul {layout:?} batched={batched}"),
                BATCH,
                |g| {
                    let x = if batched {
                        g.input_with_grad(Shape::batched(3))
                    } else {
                        g.param("x", 3)
                    };
                    let w = g.param("w", 6);
                    weighted_sum(g, x.matmul(w, layout))
                },
                &mut |_, _| rng.uniform(-2.0, 2.0),
            );
        }
    }
}

#[test]
fn concat_tile_and_mse() {
    let mut rng = SplitMix(11);
    assert_gradients(
        "concat + tile",
        BATCH,
        |g| {
            let a = g.input_with_grad(Shape::batched(2));
            let b = g.input_with_grad(Shape::batched(1));
            let c = g.concat(&[a, b, a]).tile(2);
            weighted_sum(g, c * c)
        },
        &mut |_, _| rng.uniform(-2.0, 2.0),
    );
    let mut rng = SplitMix(12);
    assert_gradients(
        "mse",
        BATCH,
        |g| {
            let y = g.input_with_grad(Shape::batched(2));
            let t = g.input_with_grad(Shape::batched(2));
            y.mse(t)
        },
        &mut |_, _| rng.uniform(-3.0, 3.0),
    );
    let mut rng = SplitMix(13);
    assert_gradients(
        "mse unbatched",
        BATCH,
        |g| g.param("y", 3).mse(g.param("t", 3)),
        &mut |_, _| rng.uniform(-3.0, 3.0),
    );
}

#[test]
fn a_node_used_twice_receives_both_contributions() {
    // y = x * x + x: dy/dx = 2x + 1
    let mut rng = SplitMix(14);
    let check = assert_gradients(
        "reuse",
        8,
        |g| {
            let x = g.param("x", 1);
            x * x + x
        },
        &mut |_, _| 1.5,
    );
    let _ = &mut rng;
    assert_eq!(check.grads[0].tape, 4.0); // 2 * 1.5 + 1
}

#[test]
fn pow_conventions_at_zero() {
    // d/dbase = 0 where e == 0; d/de = 0 where base == 0 and e >= 0 (PyTorch's masks).
    let graph = Graph::new();
    let base = graph.param("base", 4);
    let exponent = graph.param("exponent", 4);
    let y = base.pow(exponent).sum_all();
    let tape = graph.finish(y);
    let program = engine::Program::new(&tape, 8);
    let mut values = engine::Values::new(&program);
    // (base, e) = (0, 0), (0, 2), (2, 0), (0, 1)
    let params = [0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 0.0, 1.0];
    engine::forward(&params, &mut values);
    assert_eq!(values.scalar(tape.output()), 1.0 + 0.0 + 1.0 + 0.0);
    let mut grads = engine::Grads::new(&program);
    engine::backward(&params, &values, &mut grads);
    // d/dbase: e = 0 -> 0; 2 * 0^1 = 0; e = 0 -> 0; 1 * 0^0 = 1
    assert_eq!(&grads.params()[..4], &[0.0, 0.0, 0.0, 1.0]);
    // d/de: base 0 and e >= 0 -> 0; 2^0 ln 2 = ln 2 at (2, 0)
    assert_eq!(grads.params()[4], 0.0);
    assert_eq!(grads.params()[5], 0.0);
    assert!((grads.params()[6] - std::f32::consts::LN_2).abs() < 1e-7);
    assert_eq!(grads.params()[7], 0.0);
}
