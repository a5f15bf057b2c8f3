//! A sweep's plan: models x settings x seeds, each run fully described by its `Settings`.
//!
//! Models and settings change a preset's settings through maps of setting names (the
//! `nalm train` flag names without dashes) to values, so the built-in experiments and sweep
//! files describe runs the same way.

use std::collections::{BTreeSet, HashSet};

use super::shard::Shard;
use crate::results::{FORMAT, Manifest, RunKey, RunKind};
use crate::train::preset::Preset;
use crate::train::{Changes, Settings, apply, data_key, training_key};

/// One model of a sweep: a preset at an input size, with changes.
#[derive(Clone, Debug)]
pub struct Model {
    pub label: String,
    pub preset: String,
    pub input_size: Option<usize>,
    pub changes: Changes,
}

/// One setting of a sweep (the x axis of the study's figures): changes to every model.
#[derive(Clone, Debug)]
pub struct Setting {
    pub label: String,
    pub changes: Changes,
}

/// A grid of runs before expansion.
#[derive(Clone, Debug)]
pub struct Grid {
    pub name: String,
    pub about: String,
    pub models: Vec<Model>,
    pub settings: Vec<Setting>,
    pub seeds: Vec<u32>,
}

/// One run of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    pub key: RunKey,
    pub settings: Settings,
}

/// Every run of a sweep, in a fixed order: models, then settings, then seeds.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub runs: Vec<PlannedRun>,
    /// Model labels in the grid's order (the report keeps it).
    pub models: Vec<String>,
    /// Setting labels in the grid's order.
    pub settings: Vec<String>,
    /// Changes made to every run after the grid (`--set`); recorded in the manifest.
    pub changes: Changes,
}

/// A model or setting that cannot be built, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct PlanError {
    pub place: String,
    pub problem: String,
}

impl Grid {
    /// Expands the grid into its runs, checking every run's settings.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let count = self.models.len() * self.settings.len() * self.seeds.len();
        if count > MAX_RUNS {
            return Err(PlanError {
                place: format!("sweep '{}'", self.name),
                problem: format!(
                    "{} models x {} settings x {} seeds = {count} runs; a sweep holds at most {MAX_RUNS}",
                    self.models.len(),
                    self.settings.len(),
                    self.seeds.len()
                ),
            });
        }
        let mut runs = Vec::new();
        let mut seen = BTreeSet::new();
        for model in &self.models {
            let preset = Preset::by_name(&model.preset).ok_or_else(|| PlanError {
                place: format!("model '{}'", model.label),
                problem: format!("unknown preset '{}'", model.preset),
            })?;
            let mut of_model = preset.settings(model.input_size);
            apply(&mut of_model, &model.changes).map_err(|problem| PlanError {
                place: format!("model '{}'", model.label),
                problem: problem.to_string(),
            })?;
            for setting in &self.settings {
                let place = || format!("model '{}', setting '{}'", model.label, setting.label);
                let mut base = of_model.clone();
                apply(&mut base, &setting.changes).map_err(|problem| PlanError {
                    place: place(),
                    problem: problem.to_string(),
                })?;
                for &seed in &self.seeds {
                    let mut settings = base.clone();
                    settings.seed = seed;
                    settings.validate().map_err(|e| PlanError {
                        place: place(),
                        problem: e.to_string(),
                    })?;
                    let key = RunKey {
                        model: model.label.clone(),
                        setting: setting.label.clone(),
                        seed,
                    };
                    if !seen.insert(key.clone()) {
                        return Err(PlanError {
                            place: place(),
                            problem: format!("run '{key}' appears twice"),
                        });
                    }
                    runs.push(PlannedRun { key, settings });
                }
            }
        }
        Ok(Plan {
            name: self.name.clone(),
            runs,
            models: self.models.iter().map(|m| m.label.clone()).collect(),
            settings: self.settings.iter().map(|s| s.label.clone()).collect(),
            changes: Changes::new(),
        })
    }
}

/// `items` grouped by the training batches their settings draw ([`data_key`]), groups and
/// members in order of first appearance.
pub fn by_data<I, T>(
    items: impl Iterator<Item = I>,
    value: impl Fn(&I) -> T,
    settings: impl Fn(&I) -> &Settings,
) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for item in items {
        let g = *index.entry(data_key(settings(&item))).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(value(&item));
    }
    groups
}

/// A run's estimated cost in microseconds of one core: its iterations times the cost of one
/// iteration of a model of its input size (about 1.2 us at 2 inputs and 3.6 us at 10 on an
/// AVX2 core, evaluations included), without drawing the data, which its group shares.
pub fn run_cost(s: &Settings) -> f64 {
    (s.max_iterations + 1) as f64 * (0.6 + 0.3 * s.input_size as f64)
}

/// The estimated cost in microseconds of drawing a data group's training batches, which
/// its runs share: per value about 2 ns uniform, 8 ns Benford, 15 ns truncated normal.
pub fn data_cost(s: &Settings) -> f64 {
    use crate::data::distribution::Distribution;
    let per_value = match s.sample_distribution {
        Distribution::Uniform | Distribution::Exponential { .. } => 0.002,
        Distribution::Benford => 0.008,
        Distribution::TruncatedNormal { .. } => 0.015,
    };
    let values = (s.batch_size * s.input_size) as f64;
    (s.max_iterations + 1) as f64 * values * per_value
}

/// The estimated cost of a data group, the settings of runs that share their batches: each
/// distinct training once (runs with the same [`training_key`] are trained once) and the
/// drawing of the batches.
pub fn group_cost<'a>(group: impl IntoIterator<Item = &'a Settings>) -> f64 {
    let mut trainings = HashSet::new();
    let mut first = None;
    let mut cost = 0.0;
    for s in group {
        first.get_or_insert(s);
        if trainings.insert(training_key(s)) {
            cost += run_cost(s);
        }
    }
    cost + first.map_or(0.0, data_cost)
}

/// Shard `shard`'s runs of several plans (one job's experiments), as positions in each
/// plan. Whole data groups are dealt, across plans, so that runs drawing the same batches
/// train together on one node (and a run two experiments share is trained once), and by
/// estimated cost rather than by count: the most costly group first, each to the shard
/// with the least work so far (ties to the lowest shard). Every shard computes the same
/// deal, so together they cover every run once.
pub fn deal(plans: &[&Plan], shard: Shard) -> Vec<Vec<usize>> {
    let runs = plans.iter().enumerate().flat_map(|(p, plan)| {
        plan.runs
            .iter()
            .enumerate()
            .map(move |(i, run)| (p, i, &run.settings))
    });
    let mut groups: Vec<(Vec<(usize, usize)>, f64)> = by_data(runs, |&r| r, |(_, _, s)| s)
        .into_iter()
        .map(|group| {
            let cost = group_cost(group.iter().map(|&(_, _, s)| s));
            (group.into_iter().map(|(p, i, _)| (p, i)).collect(), cost)
        })
        .collect();
    // a stable sort keeps plan order among equal costs: the same deal on every node
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut load = vec![0.0f64; shard.count];
    let mut mine: Vec<Vec<usize>> = vec![Vec::new(); plans.len()];
    for (group, cost) in groups {
        let lightest = (0..shard.count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]))
            .expect("at least one shard");
        load[lightest] += cost;
        if lightest == shard.index - 1 {
            for (p, i) in group {
                mine[p].push(i);
            }
        }
    }
    for positions in &mut mine {
        positions.sort_unstable();
    }
    mine
}

/// The most runs a sweep plans (the study's largest experiment has 2,025).
pub const MAX_RUNS: usize = 1_000_000;

/// The most seeds a sweep takes (the study's experiments have 25).
pub const MAX_SEEDS: u32 = 100_000;

/// A seed list that cannot be read, or a filter naming what a sweep does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectionError(String);

/// Parses a seed list such as `0-24` or `0,3,5-7`.
pub fn parse_seeds(text: &str) -> Result<Vec<u32>, SelectionError> {
    seed_list(text).map_err(SelectionError)
}

fn seed_list(text: &str) -> Result<Vec<u32>, String> {
    let mut seeds = BTreeSet::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim().parse::<u32>().map_err(|_| {
                format!(
                    "'{}' is not a seed (a whole number from 0 to {})",
                    s.trim(),
                    u32::MAX
                )
            })
        };
        if part.starts_with('-') {
            return Err(format!(
                "'{part}' is negative: seeds are whole numbers from 0 to {}",
                u32::MAX
            ));
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("empty seed range '{part}'"));
                }
                if b - a >= MAX_SEEDS {
                    return Err(format!(
                        "'{part}' names {} seeds; a sweep takes at most {MAX_SEEDS}",
                        u64::from(b - a) + 1
                    ));
                }
                seeds.extend(a..=b);
            }
            None => {
                seeds.insert(number(part)?);
            }
        }
    }
    if seeds.len() > MAX_SEEDS as usize {
        return Err(format!(
            "{} seeds; a sweep takes at most {MAX_SEEDS}",
            seeds.len()
        ));
    }
    Ok(seeds.into_iter().collect())
}

impl Plan {
    /// The manifest of this plan, for its results folder.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            name: self.name.clone(),
            format: FORMAT,
            task: RunKind::Modules,
            changes: self.changes.clone(),
            models: self.models.clone(),
            settings: self.settings.clone(),
            runs: self.runs.iter().map(|r| r.key.clone()).collect(),
        }
    }

    /// The positions of shard `shard`'s runs: whole data groups dealt by cost (see [`deal`]).
    pub fn shard_positions(&self, shard: Shard) -> Vec<usize> {
        deal(&[self], shard).swap_remove(0)
    }

    /// Keeps the runs whose model, setting and seed are listed (an empty list keeps all).
    pub fn filter(
        &mut self,
        models: &[String],
        settings: &[String],
        seeds: Option<&[u32]>,
    ) -> Result<(), SelectionError> {
        for (wanted, known, what) in [
            (models, &self.models, "model"),
            (settings, &self.settings, "setting"),
        ] {
            if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
                return Err(SelectionError(format!(
                    "the sweep has no {what} '{unknown}' (it has: {})",
                    known.join(", ")
                )));
            }
        }
        self.runs.retain(|r| {
            (models.is_empty() || models.contains(&r.key.model))
                && (settings.is_empty() || settings.contains(&r.key.setting))
                && seeds.is_none_or(|s| s.contains(&r.key.seed))
        });
        self.models
            .retain(|m| models.is_empty() || models.contains(m));
        self.settings
            .retain(|s| settings.is_empty() || settings.contains(s));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_study_is_dealt_to_shards_once_and_evenly_by_cost_each_shared_run_to_one_shard() {
        let plans: Vec<Plan> = crate::sweep::EXPERIMENTS
            .iter()
            .map(|e| e.grid().plan().unwrap())
            .collect();
        let refs: Vec<&Plan> = plans.iter().collect();
        let total: usize = plans.iter().map(|p| p.runs.len()).sum();
        let every = plans
            .iter()
            .flat_map(|p| p.runs.iter().map(|r| &r.settings));
        let largest = by_data(every, |&s| s, |s| s)
            .into_iter()
            .map(group_cost)
            .fold(0.0, f64::max);
        for count in [1, 3, 16] {
            let mut seen = vec![Vec::new(); plans.len()];
            let mut loads = Vec::new();
            // the shard that trains each distinct training
            let mut trained_by = std::collections::HashMap::new();
            for index in 1..=count {
                let mine = deal(&refs, Shard { index, count });
                let mut settings = Vec::new();
                for (p, positions) in mine.into_iter().enumerate() {
                    for &i in &positions {
                        let s = &plans[p].runs[i].settings;
                        let other = *trained_by.entry(training_key(s)).or_insert(index);
                        assert_eq!(other, index, "{count} shards: a run shared across shards");
                        settings.push(s);
                    }
                    seen[p].extend(positions);
                }
                let groups = by_data(settings.into_iter(), |&s| s, |s| s);
                loads.push(groups.into_iter().map(group_cost).sum::<f64>());
            }
            // 3,975 of the study's 16,500 runs are another experiment's: a quarter
            assert_eq!(trained_by.len(), 12_525, "{count} shards");
            let covered: usize = seen.iter().map(Vec::len).sum();
            assert_eq!(covered, total, "{count} shards");
            for (p, positions) in seen.iter_mut().enumerate() {
                positions.sort_unstable();
                positions.dedup();
                assert_eq!(
                    positions.len(),
                    plans[p].runs.len(),
                    "{count} shards: once each"
                );
            }
            // dealt largest first to the lightest shard, the loads differ by at most the
            // largest group (at 16 shards, about 5% of a load)
            let (lo, hi) = loads
                .iter()
                .fold((f64::MAX, 0.0f64), |(lo, hi), &l| (lo.min(l), hi.max(l)));
            assert!(hi - lo <= largest, "{count} shards: loads {lo} .. {hi}");
            assert!(hi / lo < 1.06, "{count} shards: loads {lo} .. {hi}");
        }
    }

    #[test]
    fn a_grid_too_large_to_hold_is_refused_before_expanding() {
        let grid = Grid {
            name: "huge".into(),
            about: String::new(),
            models: vec![Model {
                label: "nru".into(),
                preset: "nru".into(),
                input_size: None,
                changes: Changes::new(),
            }],
            settings: (0..11)
                .map(|k| Setting {
                    label: format!("s{k}"),
                    changes: Changes::new(),
                })
                .collect(),
            seeds: (0..MAX_SEEDS).collect(),
        };
        let err = grid.plan().unwrap_err().to_string();
        assert!(
            err.contains("1100000 runs") && err.contains("at most"),
            "{err}"
        );
    }

    #[test]
    fn seeds_parse_as_lists_and_ranges() {
        assert_eq!(parse_seeds("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_seeds("5, 1,2-3").unwrap(), vec![1, 2, 3, 5]);
        assert!(parse_seeds("3-1").is_err());
        assert!(parse_seeds("x").is_err());
        assert!(
            parse_seeds("0-4294967295")
                .unwrap_err()
                .to_string()
                .contains("at most 100000")
        );
        assert!(
            parse_seeds("-3")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(
            parse_seeds("1-x")
                .unwrap_err()
                .to_string()
                .contains("whole number from 0")
        );
    }

    #[test]
    fn changes_name_unknown_settings_and_bad_values() {
        let mut s = Settings::default();
        let ok: Changes = json!({"learning-rate": 0.5, "interpolation-range": "[1,3]"})
            .as_object()
            .unwrap()
            .clone();
        apply(&mut s, &ok).unwrap();
        assert_eq!(s.learning_rate, 0.5);
        assert_eq!(s.interpolation_range.notation(), "[1,3]");
        let unknown = json!({"learning-rat": 0.5}).as_object().unwrap().clone();
        assert!(
            apply(&mut s, &unknown)
                .unwrap_err()
                .to_string()
                .contains("learning-rat")
        );
        let bad = json!({"interpolation-range": "[3,1"})
            .as_object()
            .unwrap()
            .clone();
        assert!(apply(&mut s, &bad).is_err());
        let seed = json!({"seed": 3}).as_object().unwrap().clone();
        assert!(
            apply(&mut s, &seed)
                .unwrap_err()
                .to_string()
                .contains("--seeds")
        );
    }
}
