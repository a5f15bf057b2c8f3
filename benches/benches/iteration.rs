//! One complete training iteration of the three main division modules exactly as `nalm
//! train` runs it: a fresh 128-sample batch from the reference's MT19937 stream, forward,
//! backward, regularisers with their schedules, gradient clipping where the paper uses it,
//! Adam and the projection. The paper's presets at input sizes 2 and 10, range [1, 2].

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tasks::train::Run;
use tasks::train::preset::Preset;

fn iteration(c: &mut Criterion) {
    let mut group = c.benchmark_group("training_iteration");
    group.throughput(Throughput::Elements(1));
    for inputs in [2, 10] {
        for preset in ["nru", "nmru", "realnpu-modified"] {
            let settings = Preset::by_name(preset).unwrap().settings(Some(inputs));
            let mut run = Run::prepare(&settings).unwrap();
            // mid-run: every regulariser active
            let mut i = settings.regualizer_scaling_end;
            group.bench_function(format!("{preset}/in{inputs}"), |b| {
                b.iter(|| {
                    i += 1;
                    black_box(run.iteration(i))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, iteration);
criterion_main!(benches);
