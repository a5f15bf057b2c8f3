//! The fastest time of one training iteration, robust to a shared machine: the same
//! iteration as `iteration.rs` (fresh batch, forward, backward, regularisers, clipping, Adam,
//! projection, mid-run), timed in batches of 2,000 iterations. The batches of all six
//! configurations are interleaved over 60 rounds, so a slow phase of the machine falls on all
//! of them alike, and each configuration reports its fastest batch (what the code costs when
//! nothing else competes for the core) next to its median batch.
//!
//! `cargo bench -p benches --bench iteration_floor` (`-- profile`: where each
//! configuration's forward and backward passes spend their time, node by node)

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
    if std::env::args().any(|a| a == "profile") {
        for config in &mut configs {
            profile(config);
        }
        return;
    }
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

/// Sums each node's time over many passes and prints the nodes by their share.
fn profile(config: &mut Config) {
    let mut total: Vec<(String, f64, f64)> = Vec::new();
    for _ in 0..ITERATIONS {
        config.iteration += 1;
        for (k, (name, f, b)) in config.run.profile(config.iteration).into_iter().enumerate() {
            if k == total.len() {
                total.push((name, 0.0, 0.0));
            }
            total[k].1 += f;
            total[k].2 += b;
        }
    }
    let all: f64 = total.iter().map(|(_, f, b)| f + b).sum();
    println!(
        "{}: {:.3} µs per forward and backward pass",
        config.label,
        1e6 * all / ITERATIONS as f64
    );
    total.sort_by(|a, b| (b.1 + b.2).total_cmp(&(a.1 + a.2)));
    for (name, f, b) in total.iter().take(14) {
        let per = |s: f64| 1e6 * s / ITERATIONS as f64;
        let mut name = name.clone();
        name.truncate(70);
        println!(
            "  {:>5.1}%  fwd {:>6.3} µs  bwd {:>6.3} µs  {name}",
            100.0 * (f + b) / all,
            per(*f),
            per(*b)
        );
    }
}
