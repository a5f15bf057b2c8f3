use engine::math;
use std::time::Instant;
use wide::f32x8;

fn bench(name: &str, f: impl Fn(f32x8, f32x8) -> f32x8) {
    let xs: Vec<f32x8> = (0..4096)
        .map(|i| f32x8::splat(1.0 + (i % 97) as f32 * 0.01))
        .collect();
    let e = f32x8::splat(0.37);
    let mut out = vec![f32x8::ZERO; 4096];
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..50 {
            for (o, &x) in out.iter_mut().zip(&xs) {
                *o = f(x, e);
            }
            std::hint::black_box(&mut out);
        }
        best = best.min(t.elapsed().as_secs_f64() / (50.0 * 4096.0) * 1e9);
    }
    println!("{name:12} {best:.2} ns per f32x8");
}

fn bench_pairs(name: &str) {
    let xs: Vec<f32x8> = (0..4096)
        .map(|i| f32x8::splat(1.0 + (i % 97) as f32 * 0.01))
        .collect();
    let e = f32x8::splat(0.37);
    let mut out = vec![f32x8::ZERO; 4096];
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..50 {
            for (o, x) in out.chunks_exact_mut(2).zip(xs.chunks_exact(2)) {
                let r = math::pow_and_ln_pair([x[0], x[1]], [e, e]);
                o[0] = r[0].0 + r[0].1;
                o[1] = r[1].0 + r[1].1;
            }
            std::hint::black_box(&mut out);
        }
        best = best.min(t.elapsed().as_secs_f64() / (50.0 * 4096.0) * 1e9);
    }
    println!("{name:12} {best:.2} ns per f32x8");
}

fn main() {
    bench_pairs("pow pairs");
    bench("add", |x, e| x + e);
    bench("exp", |x, _| math::exp(x));
    bench("ln", |x, _| math::ln(x));
    bench("pow", math::pow);
    bench("pow_and_ln", |x, e| {
        let (p, l) = math::pow_and_ln(x, e);
        p + l
    });
    bench("exp(e ln x)", |x, e| math::exp(e * math::ln(x)));
    bench("sin_cos", |x, _| {
        let (s, c) = math::sin_cos(x);
        s + c
    });
    bench("tanh", |x, _| math::tanh(x));
    bench("div", |x, e| e / x);
}
