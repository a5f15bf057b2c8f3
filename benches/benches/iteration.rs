//! One complete training iteration of the three main division modules: a fresh batch of
//! 128 samples, forward, backward, regularisers, gradient clipping where the paper uses it,
//! Adam and the projection. Input sizes 2 and 10.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modules::penalty::Lp;
use modules::units::{NpuClip, NpuInit};
use modules::{Coefficients, ObjectiveSpec, RegKey, Unit};
use rand_core::Rng;
use tasks::train::{Model, OptimizerKind};

/// The paper's main configurations (`../shared/spec/modules.md` 9.1) for one input size.
fn configurations(inputs: usize) -> Vec<(&'static str, Unit, ObjectiveSpec, Option<f32>)> {
    let mut real_npu = Unit::by_name("realnpu", inputs, 1).unwrap();
    if let Unit::RealNpu(npu) = &mut real_npu {
        npu.clip = NpuClip::WG;
        npu.init = NpuInit::XavierUniformConstrained;
    }
    vec![
        (
            "nru",
            Unit::by_name("nru", inputs, 1).unwrap(),
            ObjectiveSpec {
                criterion: modules::objective::Criterion::Mse,
                keys: vec![RegKey::W],
                lp: None,
            },
            None,
        ),
        (
            "sign-nmru",
            Unit::by_name("sign-nmru", inputs, 1).unwrap(),
            ObjectiveSpec {
                criterion: modules::objective::Criterion::Mse,
                keys: vec![RegKey::W],
                lp: None,
            },
            Some(1.0),
        ),
        (
            "realnpu-modified",
            real_npu,
            ObjectiveSpec {
                criterion: modules::objective::Criterion::Mse,
                keys: vec![RegKey::WNpu, RegKey::GNpu],
                lp: Some(Lp::L1),
            },
            None,
        ),
    ]
}

/// A fresh batch every iteration: x uniform on [1, 2), target x0 / x1 formed in f64.
struct Batches {
    rng: rand_pcg::Pcg32,
}

impl Batches {
    fn fill(&mut self, model: &mut Model, inputs: usize) {
        for i in 0..inputs {
            for v in model.input_mut(i) {
                *v = 1.0 + (self.rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
            }
        }
        let (a, b) = model.operands(0, 1);
        let targets: [f32; 128] =
            std::array::from_fn(|s| (f64::from(a[s]) / f64::from(b[s])) as f32);
        model.target_mut(0).copy_from_slice(&targets);
    }
}

fn iteration(c: &mut Criterion) {
    let mut group = c.benchmark_group("training_iteration");
    group.throughput(Throughput::Elements(1));
    for inputs in [2, 10] {
        for (name, unit, spec, clip) in configurations(inputs) {
            let mut model = Model::new(unit, &spec, 128, OptimizerKind::Adam { lr: 1e-3 }, clip);
            let mut rng = rand_pcg::Pcg32::new(7, 1);
            model.init(&mut rng);
            let mut coefficients = Coefficients::default();
            for key in [RegKey::W, RegKey::WNpu, RegKey::GNpu] {
                coefficients.keys.set(key, Some(0.5));
            }
            coefficients.lp = 1e-8;
            let mut batches = Batches { rng };
            group.bench_function(format!("{name}/in{inputs}"), |b| {
                b.iter(|| {
                    batches.fill(&mut model, inputs);
                    black_box(model.step(&coefficients))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, iteration);
criterion_main!(benches);
