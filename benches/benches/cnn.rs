//! Throughput of the MNIST task's network (`tasks/docs/mnist-task.md` section 5): the shared CNN
//! encoder on both halves of 128 pairs (256 digit images) with the DIV head, in digit images
//! per second — a training step (forward, backward and Adam over all 1.2 M parameters) and an
//! evaluation pass (forward only, no dropout) — on one and two threads, with the one-core FMA
//! peak measured in the same run.
//!
//! `cargo bench -p benches --bench cnn` (add `-- quick` for fewer rounds, `-- profile` for the
//! time of every node of a training step, each node's fastest of several steps, and of the
//! step's forward pass, backward pass and Adam update, `-- winograd` for the second
//! convolution by Winograd's F(4x4, 3x3))

use benches::peak::Peaks;
use benches::pool;
use benches::rounds::{Contender, race};
use engine::optim::{Adam, Optimizer};
use engine::{ConvMethod, Grads, Program, Values, backward, forward, profile};
use rand_core::{Rng, SeedableRng};
use tasks::mnist::network::{Head, Network, Nodes, PAIR};

const PAIRS: usize = 128;

/// Pixels normalised as the task does, from pseudo-random bytes, and quotient targets.
fn fill(values: &mut Values, nodes: &Nodes, rng: &mut rand_pcg::Pcg64) {
    let (pixels, stride) = values.node_mut(nodes.pair);
    for row in pixels.chunks_mut(stride) {
        for p in &mut row[..PAIRS] {
            let byte = (rng.next_u32() >> 24) as f32;
            *p = (byte / 255.0 - 0.1307) / 0.3081;
        }
    }
    for t in values.feature_mut(nodes.target, 0) {
        *t = (1 + rng.next_u32() % 9) as f32 / (1 + rng.next_u32() % 9) as f32;
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let profiling = std::env::args().any(|a| a == "profile");
    let rounds = if quick { 2 } else { 6 };
    let pools = [pool(1), pool(2)];
    let peaks = Peaks::measure(20);
    println!("{}", peaks.describe());
    let peak = peaks.share_of();
    println!(
        "network: {} x {} pixels per pair, {PAIRS} pairs per batch\n",
        PAIR.height, PAIR.width
    );

    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    // `-- winograd`: the second convolution by Winograd's F(4x4, 3x3)
    let conv2 = if std::env::args().any(|a| a == "winograd") {
        ConvMethod::Winograd
    } else {
        ConvMethod::Direct
    };
    println!("second convolution: {conv2:?}");
    let network = Network::with_conv(Head::Div, conv2);
    let mut params = vec![0.0; network.train.param_len()];
    network.init(&mut params, &mut rng);
    let params_eval = params.clone();

    let train_program = Program::new(&network.train, PAIRS);
    let eval_program = Program::new(&network.eval, PAIRS);
    let mut train_values: Vec<Values> = (0..2).map(|_| Values::new(&train_program)).collect();
    let mut grads: Vec<Grads> = (0..2).map(|_| Grads::new(&train_program)).collect();
    let mut eval_values: Vec<Values> = (0..2).map(|_| Values::new(&eval_program)).collect();
    for values in &mut train_values {
        fill(values, &network.train_nodes, &mut rng);
    }
    for values in &mut eval_values {
        fill(values, &network.eval_nodes, &mut rng);
    }
    let mut params = [params.clone(), params];
    let mut adams = [
        Adam::new(params[0].len(), 1e-3),
        Adam::new(params[0].len(), 1e-3),
    ];

    let [tv0, tv1] = &mut train_values[..] else {
        unreachable!()
    };
    let [g0, g1] = &mut grads[..] else {
        unreachable!()
    };
    let [ev0, ev1] = &mut eval_values[..] else {
        unreachable!()
    };
    let [p0, p1] = &mut params;
    let [a0, a1] = &mut adams;
    let params_eval = &params_eval;
    if profiling {
        for (threads, pool) in [1, 2].iter().zip(&pools) {
            // the fastest of several steps, node by node: the machine's noise only slows
            let times = pool.install(|| {
                let mut fastest = profile(p0, tv0, g0);
                for _ in 0..4 * rounds {
                    for (best, t) in fastest.iter_mut().zip(profile(p0, tv0, g0)) {
                        best.forward = best.forward.min(t.forward);
                        for (b, t) in best.backward.iter_mut().zip(t.backward) {
                            *b = b.min(t);
                        }
                    }
                }
                fastest
            });
            println!(
                "one training step on {threads} thread(s), fastest of {}, ms (forward, backward):",
                4 * rounds + 1
            );
            let (mut f, mut b) = (0.0, 0.0);
            for t in &times {
                let node = network.train.node(t.node);
                let backward: Vec<String> = t
                    .backward
                    .iter()
                    .map(|b| format!("{:.2}", b * 1e3))
                    .collect();
                println!(
                    "  {:>4} {:<50} {:>8.2}   {}",
                    t.node.index(),
                    format!("{:?}", node.op)
                        .chars()
                        .take(50)
                        .collect::<String>(),
                    t.forward * 1e3,
                    backward.join(" + ")
                );
                (f, b) = (f + t.forward, b + t.backward.iter().sum::<f64>());
            }
            println!("  total {:.1} + {:.1} ms\n", f * 1e3, b * 1e3);
        }
    }
    let step = |values: &mut Values,
                grads: &mut Grads,
                params: &mut Vec<f32>,
                adam: &mut Adam,
                seed: u64| {
        values.set_noise_seed(seed);
        forward(params, values);
        backward(params, values, grads);
        adam.step(params, grads.params());
    };
    let (mut s0, mut s1) = (0u64, 0u64);
    let mut contenders = vec![
        Contender::new("train 1T", |runs| {
            pools[0].install(|| {
                for _ in 0..runs {
                    s0 += 1;
                    step(tv0, g0, p0, a0, s0);
                }
            })
        }),
        Contender::new("train 2T", |runs| {
            pools[1].install(|| {
                for _ in 0..runs {
                    s1 += 1;
                    step(tv1, g1, p1, a1, s1);
                }
            })
        }),
        Contender::new("evaluate 1T", |runs| {
            pools[0].install(|| (0..runs).for_each(|_| forward(params_eval, ev0)))
        }),
        Contender::new("evaluate 2T", |runs| {
            pools[1].install(|| (0..runs).for_each(|_| forward(params_eval, ev1)))
        }),
    ];
    race(&mut contenders, rounds, 0.5);
    let images = (2 * PAIRS) as f64;
    println!(
        "{:<14} {:>12} {:>14} {:>26}",
        "", "ms / batch", "images / s", "images / s per peak GFLOP/s"
    );
    for c in &contenders {
        let per_second = images / c.best();
        println!(
            "{:<14} {:>12.1} {:>14.0} {:>26.2}",
            c.label,
            c.best() * 1e3,
            per_second,
            per_second / peak
        );
    }
    drop(contenders);
    if profiling {
        // the step's three phases on two threads: the nodes' table leaves Adam out
        let best = pools[1].install(|| {
            let mut best = [f64::MAX; 3];
            for _ in 0..4 * rounds + 1 {
                let t = std::time::Instant::now();
                forward(p1, tv1);
                let forwarded = t.elapsed().as_secs_f64();
                backward(p1, tv1, g1);
                let backwarded = t.elapsed().as_secs_f64();
                a1.step(p1, g1.params());
                let phases = [
                    forwarded,
                    backwarded - forwarded,
                    t.elapsed().as_secs_f64() - backwarded,
                ];
                for (b, v) in best.iter_mut().zip(phases) {
                    *b = b.min(v);
                }
            }
            best
        });
        println!(
            "\none training step on 2 threads, each phase's fastest of {}: forward {:.2} ms, \
             backward {:.2} ms, Adam {:.2} ms",
            4 * rounds + 1,
            best[0] * 1e3,
            best[1] * 1e3,
            best[2] * 1e3
        );
    }
    assert!(tv0.scalar(network.train.output()).is_finite());
    assert!(p0.iter().chain(p1.iter()).all(|p| p.is_finite()));
}
