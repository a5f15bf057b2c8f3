//! The fastest time of one training iteration, robust to a shared machine: the same
//! iteration as `iteration.rs` (fresh batch, forward, backward, regularisers, clipping, Adam,
//! projection, mid-run), timed in batches of 2,000 iterations. The batches of all six
//! configurations are interleaved over 60 rounds, so a slow phase of the machine falls on all
//! of them alike, and each configuration reports its fastest batch (what the code costs when
//! nothing else competes for the core) next to its median batch.
//!
//! `cargo bench -p benches --bench iteration_floor`

use std::hint::black_box;
use std::time::Instant;

use tasks::train::Run;
use tasks::train::preset::Preset;

const ROUNDS: usize = 60;
const ITERATIONS: usize = 2_000;

struct Config {
    label: String,
    run: Run,
    iteration: u64,
    /// Seconds per iteration, one entry per round.
    batches: Vec<f64>,
}

fn main() {
    let mut configs: Vec<Config> = [2, 10]
        .into_iter()
        .flat_map(|inputs| ["nru", "nmru", "realnpu-modified"].map(move |preset| (preset, inputs)))
        .map(|(preset, inputs)| {
            let settings = Preset::by_name(preset)
                .expect("a paper preset")
                .settings(Some(inputs));
            Config {
                label: format!("{preset}/in{inputs}"),
                run: Run::prepare(&settings).expect("preset settings are valid"),
                // mid-run: every regulariser active
                iteration: settings.regualizer_scaling_end,
                batches: Vec::with_capacity(ROUNDS),
            }
        })
        .collect();
    for _ in 0..ROUNDS {
        for config in &mut configs {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                config.iteration += 1;
                black_box(config.run.iteration(config.iteration));
            }
            let seconds = start.elapsed().as_secs_f64();
            config.batches.push(seconds / ITERATIONS as f64);
        }
    }
    println!("{:<24} {:>12} {:>12}", "iteration", "fastest", "median");
    for config in &mut configs {
        config.batches.sort_by(f64::total_cmp);
        let (fastest, median) = (config.batches[0], config.batches[ROUNDS / 2]);
        println!(
            "{:<24} {:>9.3} µs {:>9.3} µs",
            config.label,
            fastest * 1e6,
            median * 1e6
        );
    }
}
