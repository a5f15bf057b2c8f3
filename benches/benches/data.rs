//! The training batch of one iteration: MT19937 draws, inputs and targets
//! (`TaskData::next_batch`), for the study's input sizes and distributions.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tasks::data::{Distribution, Operation, TaskData, TaskSpec};

fn spec(input_size: usize, distribution: Distribution, interpolation: &str) -> TaskSpec {
    TaskSpec {
        input_size,
        subset_ratio: if input_size == 2 { 0.5 } else { 0.1 },
        overlap_ratio: 0.0,
        num_subsets: 2,
        operation: Operation::Div,
        interpolation: interpolation.parse().unwrap(),
        extrapolation: "[2,6]".parse().unwrap(),
        distribution,
    }
}

fn next_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_batch");
    let truncated = "truncated-normal 0 1 10 1".parse().unwrap();
    for (name, spec) in [
        ("uniform/in2", spec(2, Distribution::Uniform, "[1,2]")),
        ("uniform/in10", spec(10, Distribution::Uniform, "[1,2]")),
        (
            "union/in2",
            spec(2, Distribution::Uniform, "[[-2,-1],[1,2]]"),
        ),
        ("truncnorm/in2", spec(2, truncated, "[-5,5]")),
        (
            "truncnorm-shifted/in10",
            spec(
                10,
                "truncated-normal -1 3 -10 3".parse().unwrap(),
                "[-5,10]",
            ),
        ),
        ("benford/in2", spec(2, Distribution::Benford, "[10,100]")),
        ("benford/in10", spec(10, Distribution::Benford, "[10,100]")),
    ] {
        let mut data = TaskData::new(&spec, 0).unwrap();
        let mut x = vec![0.0f32; 128 * spec.input_size];
        let mut t = vec![0.0f32; 128];
        group.bench_function(name, |b| {
            b.iter(|| {
                data.next_batch(128, &mut x, &mut t);
                black_box((&x, &t));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, next_batch);
criterion_main!(benches);
