//! Per (model, setting) statistics of a sweep's finished runs
//! (`tasks/docs/single-module-study.md` 4.6).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::{Collection, Manifest, StoredRun};
use crate::stats::{Estimate, Interval, sample, solved_at_estimate, sparsity_estimate, wilson};

/// One group's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub model: String,
    pub setting: String,
    /// Finished runs.
    pub runs: usize,
    /// Runs the manifest lists but the results lack.
    pub missing: usize,
    pub solved: usize,
    /// Success rate with its 95% Wilson interval (None without runs).
    pub success: Option<Interval>,
    /// Solved-at iteration of the solved runs: the reference's gamma fit.
    pub solved_at: Option<Estimate>,
    /// Sparsity error of the solved runs: the reference's beta fit (about half the mean).
    pub sparsity_beta_fit: Option<Estimate>,
    /// Sparsity error of the solved runs: the plain sample mean.
    pub sparsity_mean: Option<f64>,
    /// Runs whose parameters became NaN.
    pub diverged: usize,
    /// Seeds of the finished runs, and of the unsolved ones among them.
    pub seeds: Vec<u32>,
    pub failed_seeds: Vec<u32>,
    /// Gradient health of the runs (records from before it was recorded have none).
    pub gradients: GradientSummary,
}

/// The gradients a group's runs met.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GradientSummary {
    /// Runs whose records hold gradient health.
    pub runs: usize,
    /// Median over the runs of a run's largest gradient norm (before clipping).
    pub median_largest_norm: Option<f64>,
    /// The largest |g| any run met.
    pub largest: Option<f64>,
    /// Seeds of the runs that met a NaN or infinite gradient, with where the first began.
    pub non_finite: Vec<(u32, String)>,
}

fn gradient_summary(runs: &[&StoredRun]) -> GradientSummary {
    let with: Vec<&&StoredRun> = runs
        .iter()
        .filter(|r| !r.record.gradient_health.is_empty())
        .collect();
    let mut norms: Vec<f64> = with
        .iter()
        .map(|r| {
            r.record
                .gradient_health
                .iter()
                .map(|h| f64::from(h.norm))
                .fold(0.0, f64::max)
        })
        .collect();
    norms.sort_by(f64::total_cmp);
    let largest = with
        .iter()
        .flat_map(|r| {
            r.record
                .gradient_health
                .iter()
                .map(|h| f64::from(h.largest))
        })
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let mut non_finite: Vec<(u32, String)> = with
        .iter()
        .filter(|r| r.record.gradient_health.iter().any(|h| h.non_finite > 0))
        .map(|r| {
            let at = r
                .record
                .first_non_finite
                .as_ref()
                .map_or_else(String::new, |f| {
                    format!("iteration {}: {}", f.iteration, f.summary)
                });
            (r.key.seed, at)
        })
        .collect();
    non_finite.sort();
    GradientSummary {
        runs: with.len(),
        median_largest_norm: (!norms.is_empty()).then(|| sample::quantile(&norms, 0.5)),
        largest,
        non_finite,
    }
}

/// The groups of a sweep in the manifest's order (models, then settings), followed by any
/// group found only in the results.
pub fn groups(manifest: &Manifest, results: &Collection) -> Vec<Group> {
    let mut by_group: BTreeMap<(&str, &str), Vec<&StoredRun>> = BTreeMap::new();
    for (run, _) in results.runs.values() {
        by_group
            .entry((&run.key.model, &run.key.setting))
            .or_default()
            .push(run);
    }
    let mut expected: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for key in &manifest.runs {
        *expected.entry((&key.model, &key.setting)).or_default() += 1;
    }
    let mut order: Vec<(&str, &str)> = Vec::new();
    for model in &manifest.models {
        for setting in &manifest.settings {
            let pair = (model.as_str(), setting.as_str());
            if expected.contains_key(&pair) || by_group.contains_key(&pair) {
                order.push(pair);
            }
        }
    }
    for pair in by_group.keys().chain(expected.keys()) {
        if !order.contains(pair) {
            order.push(*pair);
        }
    }
    order
        .into_iter()
        .map(|pair| {
            let runs = by_group.get(&pair).map(Vec::as_slice).unwrap_or(&[]);
            let wanted = expected.get(&pair).copied().unwrap_or(0);
            summarise(pair.0, pair.1, runs, wanted.saturating_sub(runs.len()))
        })
        .collect()
}

fn summarise(model: &str, setting: &str, runs: &[&StoredRun], missing: usize) -> Group {
    let solved: Vec<&&StoredRun> = runs.iter().filter(|r| r.record.verdict.solved).collect();
    let solved_at: Vec<f64> = solved
        .iter()
        .filter_map(|r| r.record.verdict.solved_at)
        .map(|s| s as f64)
        .collect();
    let sparsity: Vec<f64> = solved
        .iter()
        .map(|r| f64::from(r.record.verdict.chosen.sparsity))
        .filter(|v| v.is_finite())
        .collect();
    let mut failed_seeds: Vec<u32> = runs
        .iter()
        .filter(|r| !r.record.verdict.solved)
        .map(|r| r.key.seed)
        .collect();
    failed_seeds.sort_unstable();
    let mut seeds: Vec<u32> = runs.iter().map(|r| r.key.seed).collect();
    seeds.sort_unstable();
    Group {
        model: model.to_string(),
        setting: setting.to_string(),
        runs: runs.len(),
        missing,
        solved: solved.len(),
        success: wilson(solved.len(), runs.len()),
        solved_at: solved_at_estimate(&solved_at),
        sparsity_beta_fit: sparsity_estimate(&sparsity),
        sparsity_mean: (!sparsity.is_empty()).then(|| sample::mean(&sparsity)),
        diverged: runs.iter().filter(|r| r.record.diverged).count(),
        seeds,
        failed_seeds,
        gradients: gradient_summary(runs),
    }
}
