//! The numeric test vectors of `tasks/docs/mnist-task.md` section 10 for the three
//! division heads, through the tapes (train and eval mode) and the closed forms.

use engine::{Grads, Program, Values, backward, forward};
use modules::audit::audit_coefficients;
use modules::{ObjectiveSpec, RegKey, Tapes, Unit};

/// (train-mode output, eval-mode output, regulariser values by key) of `unit` at one sample.
fn evaluate(unit: &Unit, params: &[f32], x: &[f32]) -> (f32, f32, Vec<(RegKey, f32)>) {
    let tapes = Tapes::new(unit, &ObjectiveSpec::everything());
    let program = Program::new(&tapes.train, 1);
    let mut train = Values::new(&program);
    tapes.set_batch(&mut train, x, &[0.0]);
    tapes.set_coefficients(&mut train, &audit_coefficients());
    forward(params, &mut train);
    // the backward pass runs cleanly on these points as well
    let mut grads = Grads::new(&program);
    backward(params, &train, &mut grads);
    assert!(grads.params().iter().all(|g| g.is_finite()));
    let regs = tapes
        .train_nodes
        .keys
        .present()
        .map(|(k, &(value, _))| (k, train.scalar(value)))
        .collect();

    let mut eval = Values::new(&Program::new(&tapes.eval, 1));
    for (i, &v) in x.iter().enumerate() {
        eval.feature_mut(tapes.eval_nodes.x, i)[0] = v;
    }
    forward(params, &mut eval);
    (
        train.feature(tapes.train_nodes.y, 0)[0],
        eval.feature(tapes.eval_nodes.y, 0)[0],
        regs,
    )
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() <= 2e-7 * b.abs().max(1.0)
}

fn reg(regs: &[(RegKey, f32)], key: RegKey) -> f32 {
    regs.iter()
        .find(|(k, _)| *k == key)
        .map(|&(_, v)| v)
        .expect("key present")
}

#[test]
fn nru_head() {
    // W = (0.3, -0.7), x = (6, 3): training 0.7933421, evaluation 0.7577580, R = 0.3
    let unit = Unit::by_name("nru", 2, 1).unwrap();
    let (train, eval, regs) = evaluate(&unit, &[0.3, -0.7], &[6.0, 3.0]);
    assert!(close(train, 0.793_342_1), "{train}");
    assert!(close(eval, 0.757_758_0), "{eval}");
    assert!(close(reg(&regs, RegKey::W), 0.3));
    let closed = unit.jacobian(&[0.3f64, -0.7], &[6.0, 3.0], engine::Conventions::Paper);
    assert!((closed.y[0] - 0.793_342_1).abs() < 1e-6);
}

#[test]
fn nmru_head() {
    // W = (0.2, 0.4, 0.6, 0.8), x = (6, 3): 0.84 in both modes, R = 0.3; W = (1, 0, 0, 1): 2
    let unit = Unit::by_name("sign-nmru", 2, 1).unwrap();
    let (train, eval, regs) = evaluate(&unit, &[0.2, 0.4, 0.6, 0.8], &[6.0, 3.0]);
    assert!(close(train, 0.84), "{train}");
    assert!(close(eval, 0.84), "{eval}");
    assert!(close(reg(&regs, RegKey::W), 0.3));
    let (train, eval, _) = evaluate(&unit, &[1.0, 0.0, 0.0, 1.0], &[6.0, 3.0]);
    assert!(close(train, 2.0) && close(eval, 2.0), "{train} {eval}");
}

#[test]
fn real_npu_head() {
    // W = (0.3, -0.2), g = (0.5, 0.5), x = (6, 3): 1.2676939, R_W = 0.75, R_g = 0.5
    let unit = Unit::by_name("realnpu", 2, 1).unwrap();
    let (train, eval, regs) = evaluate(&unit, &[0.3, -0.2, 0.5, 0.5], &[6.0, 3.0]);
    assert!(close(train, 1.267_693_9), "{train}");
    assert_eq!(train, eval);
    assert!(close(reg(&regs, RegKey::WNpu), 0.75));
    assert!(close(reg(&regs, RegKey::GNpu), 0.5));
}
