//! Throughput of the vector transcendentals, per f32x8 (eight values), over 4096 vectors of
//! arguments in [1, 2) (the loop runs independent evaluations, as the training kernels do).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::math;
use wide::f32x8;

fn arguments() -> Vec<f32x8> {
    (0..4096)
        .map(|i| f32x8::splat(1.0 + (i % 97) as f32 * 0.01))
        .collect()
}

fn transcendentals(c: &mut Criterion) {
    let xs = arguments();
    let exponent = f32x8::splat(0.37);
    let mut out = vec![f32x8::ZERO; xs.len()];
    let mut group = c.benchmark_group("math");
    group.throughput(Throughput::Elements(xs.len() as u64 * 8));
    // a macro, not a closure over `dyn Fn`: each function must inline into its loop
    macro_rules! run {
        ($name:expr, $f:expr) => {
            group.bench_function($name, |b| {
                b.iter(|| {
                    for (o, &x) in out.iter_mut().zip(&xs) {
                        *o = $f(black_box(x));
                    }
                    black_box(&mut out);
                })
            });
        };
    }
    run!("exp", math::exp);
    run!("ln", math::ln);
    run!("sin_cos", |x| {
        let (s, c) = math::sin_cos(x);
        s + c
    });
    run!("tanh", math::tanh);
    run!("sigmoid", math::sigmoid);
    run!("pow", |x| math::pow(x, exponent));
    run!("division", |x| exponent / x);
    group.bench_function("pow_and_ln_pair", |b| {
        b.iter(|| {
            for (o, x) in out.chunks_exact_mut(2).zip(xs.chunks_exact(2)) {
                let pair = math::pow_and_ln_pair([black_box(x[0]), x[1]], [exponent, exponent]);
                o[0] = pair[0].0 + pair[0].1;
                o[1] = pair[1].0 + pair[1].1;
            }
            black_box(&mut out);
        })
    });
    let mut logs = vec![f32x8::ZERO; xs.len()];
    group.bench_function("pow_and_ln_row", |b| {
        b.iter(|| {
            math::pow_and_ln_row(|c| xs[c], black_box(0.37), &mut out, &mut logs);
            black_box((&mut out, &mut logs));
        })
    });
    group.finish();
}

criterion_group!(benches, transcendentals);
criterion_main!(benches);
