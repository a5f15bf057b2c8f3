//! Each derivative convention of `modules/README.md`, section 1, pinned exactly at its singular
//! point, on the f32 tape and in the f64 reference evaluator.
//!
//! Finite differences cannot pin these: at a kink they admit the left derivative, the right
//! one or their mean, so a changed convention would still pass the gradient tests. Here the
//! expected gradients are written out, and each test fails if its convention changes.

use engine::reference::Reference;
use engine::{Conventions, Grads, Graph, Program, Tape, Values, Var, backward, forward};

/// A function of the parameter tensors, recorded on a graph.
type Build = for<'g> fn(&[Var<'g>]) -> Var<'g>;

/// The gradient of `sum(build(params))` with respect to every parameter value, on the f32
/// tape and in f64, recorded under `conventions`. Parameters are one tensor per slice.
fn gradients(conventions: Conventions, params: &[&[f32]], build: Build) -> (Vec<f32>, Vec<f64>) {
    let graph = Graph::with_conventions(conventions);
    let vars: Vec<Var<'_>> = params
        .iter()
        .enumerate()
        .map(|(i, p)| graph.param(&format!("p{i}"), p.len()))
        .collect();
    let tape = graph.finish(build(&vars).sum_all());
    assert_eq!(tape.conventions(), conventions);
    let flat: Vec<f32> = params.concat();
    let (tape_grads, values) = f32_gradient(&tape, &flat);
    let mut reference = Reference::from_values(&tape, &flat, &values, f64::from);
    reference.forward(&tape);
    reference.backward(&tape);
    let reference_grads = tape
        .params()
        .iter()
        .flat_map(|p| reference.grad(p.node).to_vec())
        .collect();
    (tape_grads, reference_grads)
}

fn f32_gradient(tape: &Tape, params: &[f32]) -> (Vec<f32>, Values) {
    let program = Program::new(tape, 1);
    let mut values = Values::new(&program);
    forward(params, &mut values);
    let mut grads = Grads::new(&program);
    grads.fill(f32::NAN);
    backward(params, &values, &mut grads);
    (grads.params().to_vec(), values)
}

/// Asserts both evaluators give exactly `expected` (NaN matching NaN, and the sign of zero
/// ignored).
fn assert_exact(
    what: &str,
    conventions: Conventions,
    params: &[&[f32]],
    build: Build,
    expected: &[f64],
) {
    let (tape, reference) = gradients(conventions, params, build);
    let same = |got: f64, want: f64| got == want || (got.is_nan() && want.is_nan());
    for (i, &want) in expected.iter().enumerate() {
        assert!(
            same(f64::from(tape[i]), want),
            "{what} ({conventions}): tape gradient {i} is {}, the convention gives {want}",
            tape[i]
        );
        assert!(
            same(reference[i], want),
            "{what} ({conventions}): f64 gradient {i} is {}, the convention gives {want}",
            reference[i]
        );
    }
    assert_eq!(tape.len(), expected.len(), "{what}: gradient count");
}

const BOTH: [Conventions; 3] = Conventions::ALL;

#[test]
fn abs_has_derivative_zero_at_zero() {
    for c in BOTH {
        assert_exact(
            "abs",
            c,
            &[&[0.0, -0.0, 2.0, -3.0]],
            |p| p[0].abs(),
            &[0.0, 0.0, 1.0, -1.0],
        );
    }
}

#[test]
fn relu_has_derivative_zero_at_zero() {
    for c in BOTH {
        assert_exact(
            "relu",
            c,
            &[&[0.0, -0.0, 1.5, -1.5]],
            |p| p[0].relu(),
            &[0.0, 0.0, 1.0, 0.0],
        );
    }
}

#[test]
fn clamp_bounds_pass_the_gradient_except_in_current_pytorch() {
    let at = [-1.0, 1.0, -1.5, 1.5, 0.25, -1.0000001, 0.9999999];
    fn clamp<'g>(p: &[Var<'g>]) -> Var<'g> {
        p[0].clamp(-1.0, 1.0)
    }
    assert_exact(
        "clamp",
        Conventions::Paper,
        &[&at],
        clamp,
        &[1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
    );
    assert_exact(
        "clamp",
        Conventions::TorchLegacy,
        &[&at],
        clamp,
        &[1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
    );
    assert_exact(
        "clamp",
        Conventions::TorchCurrent,
        &[&at],
        clamp,
        &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0],
    );
}

#[test]
fn min_and_max_ties_split_except_in_the_legacy_conventions() {
    // (a, b) = (0.5, 0.5) tie, (1, 2), (2, 1), (-0, 0) tie of signed zeros
    let a: &[f32] = &[0.5, 1.0, 2.0, -0.0];
    let b: &[f32] = &[0.5, 2.0, 1.0, 0.0];
    fn min<'g>(p: &[Var<'g>]) -> Var<'g> {
        p[0].min(p[1])
    }
    fn max<'g>(p: &[Var<'g>]) -> Var<'g> {
        p[0].max(p[1])
    }
    #[rustfmt::skip]
    let cases: [(&str, Build, Conventions, [f64; 8]); 6] = [
        // d/da for the four pairs, then d/db
        ("min", min, Conventions::Paper, [0.5, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5]),
        ("min", min, Conventions::TorchCurrent, [0.5, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5]),
        ("min", min, Conventions::TorchLegacy, [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
        ("max", max, Conventions::Paper, [0.5, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5]),
        ("max", max, Conventions::TorchCurrent, [0.5, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5]),
        ("max", max, Conventions::TorchLegacy, [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]),
    ];
    for (what, op, c, expected) in cases {
        assert_exact(what, c, &[a, b], op, &expected);
    }
}

#[test]
fn pow_masks_at_zero_exponent_and_zero_base() {
    // (base, e) = (0, 0), (0, 2), (2, 0), (0, 1), (0, -1)
    let base: &[f32] = &[0.0, 0.0, 2.0, 0.0, 0.0];
    let e: &[f32] = &[0.0, 2.0, 0.0, 1.0, -1.0];
    let ln2 = f64::from(std::f32::consts::LN_2);
    // d/dbase: 0 where e == 0, else e base^(e-1): 2 * 0 = 0, 1 * 0^0 = 1, -1 * 0^-2 = -inf
    // d/de: 0 where base == 0 and e >= 0, else base^e ln(base): ln 2 at (2, 0), and at
    // (0, -1) inf * ln 0 = -inf
    for c in BOTH {
        let (tape, reference) = gradients(c, &[base, e], |p| p[0].pow(p[1]));
        let want = [
            0.0,
            0.0,
            0.0,
            1.0,
            f64::NEG_INFINITY,
            0.0,
            0.0,
            ln2,
            0.0,
            f64::NEG_INFINITY,
        ];
        for (i, &w) in want.iter().enumerate() {
            let close = |g: f64| g == w || (i == 7 && (g - w).abs() < 1e-7);
            assert!(
                close(f64::from(tape[i])),
                "pow tape {i}: {} vs {w}",
                tape[i]
            );
            assert!(close(reference[i]), "pow f64 {i}: {} vs {w}", reference[i]);
        }
    }
}

#[test]
fn signed_pow_at_zero_base_follows_the_reference() {
    // sgn(a) |a|^e differentiated as the composite sgn(a) * pow(|a|, e): d/da is 0 where
    // e == 0, else sgn(a) e |a|^(e-1) sgn(a), which at a = 0 is 0 for e >= 1 and NaN for
    // e < 1 (the NRU's input gradient at x = 0, as the reference gives it); d/de is 0 where
    // a == 0 and e >= 0, else out ln|a|.
    // (a, e) = (0, 0.5), (0, 0), (2, 0), (-2, 1), (0, -1), (0, 1)
    let a: &[f32] = &[0.0, 0.0, 2.0, -2.0, 0.0, 0.0];
    let e: &[f32] = &[0.5, 0.0, 0.0, 1.0, -1.0, 1.0];
    let ln2 = f64::from(std::f32::consts::LN_2);
    let nan = f64::NAN;
    // (0, -1): out = 0 * inf = NaN, so d/de = NaN * ln 0 = NaN
    let want = [
        nan,
        0.0,
        0.0,
        1.0,
        nan,
        0.0,
        0.0,
        0.0,
        ln2,
        -2.0 * ln2,
        nan,
        0.0,
    ];
    for c in BOTH {
        let (tape, reference) = gradients(c, &[a, e], |p| p[0].signed_pow(p[1]));
        for (i, &w) in want.iter().enumerate() {
            let close = |g: f64| {
                g == w || (g.is_nan() && w.is_nan()) || (w.abs() > 0.5 && (g - w).abs() < 1e-6)
            };
            assert!(
                close(f64::from(tape[i])),
                "signed pow tape {i}: {} vs {w}",
                tape[i]
            );
            assert!(
                close(reference[i]),
                "signed pow f64 {i}: {} vs {w}",
                reference[i]
            );
        }
    }
}

#[test]
fn sign_round_indicator_and_detach_stop_nan_from_upstream() {
    // y = op(p) * NaN: the gradient reaching op is NaN, and p must still receive exactly 0.
    let cases: [(&str, Build); 4] = [
        ("sign", |p| p[0].sign() * p[0].graph().scalar(f32::NAN)),
        ("round", |p| p[0].round() * p[0].graph().scalar(f32::NAN)),
        ("less", |p| p[0].less(0.5) * p[0].graph().scalar(f32::NAN)),
        ("detach", |p| p[0].detach() * p[0].graph().scalar(f32::NAN)),
    ];
    for (what, op) in cases {
        for c in BOTH {
            assert_exact(what, c, &[&[0.0, 0.7, -2.0]], op, &[0.0, 0.0, 0.0]);
        }
    }
}

#[test]
fn product_gradient_is_the_product_of_the_other_factors() {
    // With an infinite factor the product of the others is a signed infinity (not the NaN
    // that output / factor would give), and with a zero factor it is exact.
    for c in BOTH {
        assert_exact(
            "prod with a zero",
            c,
            &[&[0.0, 3.0, -2.0]],
            |p| p[0].prod_features(3),
            &[-6.0, 0.0, 0.0],
        );
        assert_exact(
            "prod with an infinity",
            c,
            &[&[f32::INFINITY, 3.0, -2.0]],
            |p| p[0].prod_features(3),
            &[-6.0, f64::NEG_INFINITY, f64::INFINITY],
        );
    }
}

#[test]
fn the_first_non_finite_node_is_found_with_its_label_and_inputs() {
    use engine::diagnose::{Pass, first_non_finite};
    use engine::{Shape, Values as V};
    // y = sum(ln(x - 3) * w): x = 2 makes ln(-1) NaN in the forward pass
    let graph = Graph::new();
    let x = graph.input(Shape::batched(1));
    let w = graph.param("w", 1);
    let shifted = (x - 3.0).label("x - 3");
    let logged = shifted.ln().label("ln(x - 3)");
    let tape = graph.finish((logged * w).sum_all());
    let program = Program::new(&tape, 3);
    let mut values = V::new(&program);
    values
        .feature_mut(x.id(), 0)
        .copy_from_slice(&[5.0, 2.0, 4.0]);
    let params = [1.5];
    forward(&params, &mut values);
    let mut grads = Grads::new(&program);
    backward(&params, &values, &mut grads);
    let found = first_non_finite(&tape, &params, &values, Some(&grads)).unwrap();
    assert_eq!(found.pass, Pass::Forward);
    assert_eq!(found.label.as_deref(), Some("ln(x - 3)"));
    assert_eq!((found.sample, found.feature), (1, 0));
    assert!(found.value.is_nan());
    assert_eq!(found.inputs.len(), 1);
    assert_eq!(found.inputs[0].label.as_deref(), Some("x - 3"));
    assert_eq!(found.inputs[0].value, -1.0);
    assert!(found.to_string().contains("ln(x - 3)"), "{found}");

    // finite values but an infinite gradient: y = sqrt(x) at x = 0 (d/dx = 1 / (2 * 0))
    let graph = Graph::new();
    let p = graph.param("p", 2);
    let tape = graph.finish(p.sqrt().label("sqrt(p)").sum_all());
    let program = Program::new(&tape, 1);
    let mut values = V::new(&program);
    let params = [4.0, 0.0];
    forward(&params, &mut values);
    let mut grads = Grads::new(&program);
    backward(&params, &values, &mut grads);
    let found = first_non_finite(&tape, &params, &values, Some(&grads)).unwrap();
    assert_eq!(found.pass, Pass::Backward);
    assert_eq!(found.feature, 1);
    assert_eq!(found.value, f32::INFINITY);
    // every number finite: nothing to report
    let params = [4.0, 1.0];
    forward(&params, &mut values);
    backward(&params, &values, &mut grads);
    assert_eq!(
        first_non_finite(&tape, &params, &values, Some(&grads)),
        None
    );
}
