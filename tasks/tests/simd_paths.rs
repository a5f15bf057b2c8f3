//! Short training runs give the same records, bit for bit, on every SIMD path this CPU runs
//! (a path it lacks is skipped with a notice): the whole iteration (data, forward, backward,
//! regularisers, clipping, Adam, evaluation) at 8 lanes and at 16. One test, as the path
//! in use is process-wide.

use engine::simd;
use tasks::train::Run;
use tasks::train::preset::Preset;

#[test]
fn short_runs_give_the_same_records_on_every_simd_path() {
    let paths = simd::runnable();
    for path in [simd::AVX2, simd::AVX512] {
        if !paths.contains(&path) {
            println!("this CPU lacks {path}: not checked");
        }
    }
    let configs = [
        ("realnpu-modified", 2),
        ("nru", 2),
        ("nmru", 2),
        ("realnpu-modified", 10),
        ("nru", 10),
        ("nmru", 10),
    ];
    let records: Vec<Vec<String>> = paths
        .iter()
        .map(|&path| {
            simd::use_path(path).expect("a runnable path");
            configs
                .iter()
                .map(|&(preset, inputs)| {
                    let mut s = Preset::by_name(preset).unwrap().settings(Some(inputs));
                    s.max_iterations = 3_000;
                    s.log_interval = 500;
                    let record = Run::prepare(&s).unwrap().train(&mut |_| {});
                    assert!(!record.history.is_empty());
                    serde_json::to_string(&record).unwrap()
                })
                .collect()
        })
        .collect();
    for (path, runs) in paths.iter().zip(&records) {
        for ((preset, inputs), (run, first)) in configs.iter().zip(runs.iter().zip(&records[0])) {
            assert!(
                run == first,
                "{preset} in{inputs}: the record on {path} differs from {}'s",
                paths[0]
            );
        }
    }
    simd::use_path(simd::BUILT).unwrap();
}
