//! The lab's grid: models x settings, each cell many sampled points, measured in parallel.

use engine::Conventions;
use rand_core::SeedableRng;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use serde::Serialize;

use super::health::{EXPLODING, Health, HealthCounter};
use super::probe::Probe;
use crate::data::TaskData;
use crate::sweep::plan::Setting;
use crate::train::preset::{PRESETS, Preset};
use crate::train::replay::{grad_audit_command, preset_changes};
use crate::train::run::coefficients_at;
use crate::train::{Changes, apply};
use crate::train::{Settings, SettingsError};

/// The study's division models the lab measures by default: the four of the main results
/// and the variants of the appendix studies (complex NPU, separate-sign NRU, plain and gated
/// NMRU).
pub const DEFAULT_MODELS: [&str; 8] = [
    "realnpu-baseline",
    "realnpu-modified",
    "npu-modified",
    "nru",
    "nru-sepsign",
    "nmru",
    "nmru-vanilla",
    "nmru-gated",
];

/// A model of the lab: a study preset's settings (with any changes), under a label.
#[derive(Clone, Debug)]
pub struct LabModel {
    pub label: String,
    pub settings: Settings,
}

/// Why the lab cannot measure a model or a cell.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("unknown preset '{name}' (expected one of: {known})")]
    UnknownPreset { name: String, known: String },
    #[error("{0}: the run's settings name no known preset")]
    NoPreset(String),
    #[error(transparent)]
    Change(#[from] crate::train::ChangeError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Data(#[from] crate::data::task::TaskError),
    #[error(transparent)]
    NoClosedForm(#[from] super::probe::NoClosedForm),
}

impl LabModel {
    /// The preset `name` at `input_size` inputs with `changes` and `conventions`.
    pub fn new(
        name: &str,
        input_size: usize,
        changes: &Changes,
        conventions: Conventions,
    ) -> Result<LabModel, LabError> {
        let preset = Preset::by_name(name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            LabError::UnknownPreset {
                name: name.to_string(),
                known: names.join(", "),
            }
        })?;
        let mut settings = preset.settings(Some(input_size));
        apply(&mut settings, changes)?;
        settings.conventions = conventions;
        settings.validate()?;
        Ok(LabModel {
            label: name.to_string(),
            settings,
        })
    }

    /// The model of a sweep's run: its settings exactly, which must start from a preset so
    /// that its worst points can be replayed.
    pub fn of_run(label: &str, settings: &Settings) -> Result<LabModel, LabError> {
        preset_changes(settings).ok_or_else(|| LabError::NoPreset(label.to_string()))?;
        Ok(LabModel {
            label: label.to_string(),
            settings: settings.clone(),
        })
    }
}

/// Where a cell's parameters come from.
#[derive(Clone, Debug)]
pub enum ParamSource {
    /// The unit's initialisation, one draw per point.
    Init,
    /// Parameters met in training: the run's seed (its inputs come from that run's task, as
    /// the operands' positions depend on it), the iteration (its loss coefficients) and the
    /// parameters; points cycle through them.
    Trajectory(Vec<Snapshot>),
}

/// The parameters of a run at one logged row.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub seed: u32,
    pub iteration: u64,
    pub params: Vec<f32>,
}

/// One training sample: inputs and target.
type Sample = (Vec<f32>, f32);

/// Each point's training sample: (inputs, target), drawn per seed from that seed's training
/// stream, in point order.
fn samples(settings: &Settings, seeds: &[u32], inputs: usize) -> Result<Vec<Sample>, LabError> {
    let mut wanted: Vec<(u32, usize)> = Vec::new();
    for &s in seeds {
        match wanted.iter_mut().find(|(seed, _)| *seed == s) {
            Some((_, n)) => *n += 1,
            None => wanted.push((s, 1)),
        }
    }
    let mut drawn: Vec<(u32, std::vec::IntoIter<Sample>)> = Vec::new();
    for (seed, count) in wanted {
        let mut data = TaskData::new(&settings.task_spec(), seed)?;
        let (mut xs, mut ts) = (vec![0.0; count * inputs], vec![0.0; count]);
        data.next_batch(count, &mut xs, &mut ts);
        let of_seed: Vec<Sample> = (0..count)
            .map(|k| ((0..inputs).map(|i| xs[i * count + k]).collect(), ts[k]))
            .collect();
        drawn.push((seed, of_seed.into_iter()));
    }
    Ok(seeds
        .iter()
        .map(|s| {
            let (_, it) = drawn
                .iter_mut()
                .find(|(seed, _)| seed == s)
                .expect("every seed was drawn");
            it.next().expect("one sample per point")
        })
        .collect())
}

/// One cell of the grid before it is measured.
#[derive(Clone, Debug)]
pub struct CellPlan {
    pub model: LabModel,
    pub setting: Setting,
    pub params: ParamSource,
}

/// A point worth replaying: the worst of its cell by [`Severity`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worst {
    pub severity: Severity,
    pub iteration: u64,
    pub params: Vec<f32>,
    pub x: Vec<f32>,
    pub t: f32,
    /// Gradient entries: every parameter, then every input.
    pub f32: Vec<f32>,
    pub f64: Vec<f64>,
}

/// How bad a point is, ordered: any non-finite f32 entry beats any finite one, then
/// exploding entries, then the largest relative error.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
pub struct Severity {
    pub non_finite: usize,
    pub exploding: usize,
    pub largest: f64,
    pub relative_error: f64,
}

impl Severity {
    fn of(f32s: &[f32], f64s: &[f64]) -> Severity {
        let mut s = Severity {
            non_finite: 0,
            exploding: 0,
            largest: 0.0,
            relative_error: 0.0,
        };
        for (&a, &b) in f32s.iter().zip(f64s) {
            if !a.is_finite() {
                s.non_finite += 1;
                continue;
            }
            let m = f64::from(a.abs());
            s.largest = s.largest.max(m);
            if m > EXPLODING {
                s.exploding += 1;
            }
            if b.is_finite() {
                s.relative_error = s.relative_error.max(super::health::relative_error(a, b));
            }
        }
        s
    }

    fn key(&self) -> (usize, usize, f64, f64) {
        (
            self.non_finite,
            self.exploding,
            self.largest,
            self.relative_error,
        )
    }

    /// What makes the point bad, in words.
    pub fn describe(&self) -> String {
        if self.non_finite > 0 {
            format!("{} non-finite entries", self.non_finite)
        } else if self.exploding > 0 {
            format!(
                "{} exploding entries, max |g| {:.3e}",
                self.exploding, self.largest
            )
        } else {
            format!(
                "max |g| {:.3e}, f32 relative error {:.2e}",
                self.largest, self.relative_error
            )
        }
    }
}

/// A measured cell.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub model: String,
    pub setting: String,
    pub points: usize,
    /// Points with at least one non-finite f32 entry.
    pub points_non_finite: usize,
    pub params: Health,
    pub inputs: Health,
    /// The worst points, worst first.
    pub worst: Vec<Worst>,
}

/// How many worst points each cell keeps.
pub const WORST_KEPT: usize = 3;

/// Measures `points` points of one cell. The inputs are the setting's training stream for
/// run seed `seed`, the parameters draws of the unit's initialisation from a stream of the
/// same seed (or the trajectory, in order); the same plan and seed give the same cell.
pub fn measure(plan: &CellPlan, points: usize, seed: u32) -> Result<Cell, LabError> {
    let mut settings = plan.model.settings.clone();
    apply(&mut settings, &plan.setting.changes)?;
    settings.seed = seed;
    settings.validate()?;
    let unit = settings.unit()?;
    let spec = settings.objective();
    let inputs = unit.inputs();
    let seeds: Vec<u32> = (0..points)
        .map(|k| match &plan.params {
            ParamSource::Init => seed,
            ParamSource::Trajectory(s) => s[k % s.len()].seed,
        })
        .collect();
    let points_drawn = samples(&settings, &seeds, inputs)?;

    let mut rng = Pcg64Mcg::seed_from_u64(u64::from(seed));
    let mut drawn = vec![0.0; unit.param_len()];
    // one probe per iteration met: the loss coefficients change along a trajectory
    let mut probes: Vec<(u64, Probe)> = Vec::new();
    let (mut of_params, mut of_inputs) = (HealthCounter::default(), HealthCounter::default());
    let mut worst: Vec<Worst> = Vec::new();
    let mut points_non_finite = 0;
    for (k, (x, t)) in points_drawn.iter().enumerate() {
        let (iteration, params) = match &plan.params {
            ParamSource::Init => {
                unit.init(&mut rng, &mut drawn);
                (0, drawn.as_slice())
            }
            ParamSource::Trajectory(snapshots) => {
                let s = &snapshots[k % snapshots.len()];
                (s.iteration, s.params.as_slice())
            }
        };
        let at = match probes.iter().position(|(i, _)| *i == iteration) {
            Some(at) => at,
            None => {
                let coefficients = coefficients_at(&settings, iteration);
                let probe = Probe::new(unit.clone(), spec.clone(), coefficients)?;
                probes.push((iteration, probe));
                probes.len() - 1
            }
        };
        let g = probes[at].1.gradients(params, x, *t);
        let split = unit.param_len();
        for (j, (&a, &b)) in g.f32.iter().zip(&g.f64).enumerate() {
            if j < split {
                of_params.add(a, b);
            } else {
                of_inputs.add(a, b);
            }
        }
        let severity = Severity::of(&g.f32, &g.f64);
        if severity.non_finite > 0 {
            points_non_finite += 1;
        }
        let worse = worst.len() < WORST_KEPT
            || worst
                .last()
                .is_some_and(|w| severity.key() > w.severity.key());
        if worse {
            worst.push(Worst {
                severity,
                iteration,
                params: params.to_vec(),
                x: x.clone(),
                t: *t,
                f32: g.f32,
                f64: g.f64,
            });
            // stable: among equals the earlier point stays first
            worst.sort_by(|a, b| {
                b.severity
                    .key()
                    .partial_cmp(&a.severity.key())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            worst.truncate(WORST_KEPT);
        }
    }
    Ok(Cell {
        model: plan.model.label.clone(),
        setting: plan.setting.label.clone(),
        points,
        points_non_finite,
        params: of_params.finish(),
        inputs: of_inputs.finish(),
        worst,
    })
}

/// Measures every cell on the current rayon pool; the cells come back in plan order and
/// are the same for any number of threads.
pub fn measure_all(plans: &[CellPlan], points: usize, seed: u32) -> Result<Vec<Cell>, CellError> {
    plans
        .par_iter()
        .map(|plan| {
            measure(plan, points, seed).map_err(|source| CellError {
                model: plan.model.label.clone(),
                setting: plan.setting.label.clone(),
                source,
            })
        })
        .collect()
}

/// A cell the lab could not measure.
#[derive(Debug, thiserror::Error)]
#[error("{model} / {setting}: {source}")]
pub struct CellError {
    pub model: String,
    pub setting: String,
    pub source: LabError,
}

/// The `nalm grad-audit` command that replays a worst point of `model`.
pub fn replay_command(model: &LabModel, worst: &Worst) -> String {
    grad_audit_command(
        &model.settings,
        worst.iteration,
        &worst.x,
        worst.t,
        &worst.params,
    )
    .expect("lab models start from a preset")
}
