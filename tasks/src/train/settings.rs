//! Every setting of one training run, named after the reference's command-line flags, with
//! the reference's defaults; and its translation into the unit, the task and the objective.

use engine::Conventions;
use modules::objective::Criterion;
use modules::penalty::{Lp, RegShape};
use modules::units::{NpuClip, NpuInit, NpuWReg, NruMode, OobMode};
use modules::{ObjectiveSpec, RegKey, Unit};
use serde::{Deserialize, Serialize};

use super::model::OptimizerKind;
use super::schedule::{BetaSettings, ScaleType, Window};
use crate::data::{Distribution, Operation, Range, TaskError, TaskSpec};

/// The optimiser by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerName {
    Adam,
    Sgd,
}

modules::named_enum!(OptimizerName {
    Adam = "adam",
    Sgd = "sgd",
});

/// How out-of-range NAU/NMU weights are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OobChoice {
    Clip,
    Regualized,
}

modules::named_enum!(OobChoice {
    Clip = "clip",
    Regualized = "regualized",
});

/// The shape of the regulariser window s_W.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    Linear,
    Exp,
}

modules::named_enum!(Scaling {
    Linear = "linear",
    Exp = "exp",
});

/// One run, completely described. Field names are the reference's flags (with its spelling
/// "regualizer"); defaults are the reference's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// The preset the settings started from, if any (a record, not an input).
    pub preset: Option<String>,

    // the unit
    pub layer_type: String,
    pub nru_div_mode: NruMode,
    pub npu_clip: NpuClip,
    #[serde(rename = "npu-Wr-init")]
    pub npu_wr_init: NpuInit,
    pub realnpu_reg_type: NpuWReg,
    pub regualizer_shape: RegShape,
    pub oob_mode: OobChoice,
    pub nalu_bias: bool,
    pub nalu_two_nac: bool,

    // the task
    pub operation: Operation,
    pub input_size: usize,
    pub subset_ratio: f64,
    pub overlap_ratio: f64,
    pub num_subsets: usize,
    pub interpolation_range: Range,
    pub extrapolation_range: Range,
    pub sample_distribution: Distribution,

    // training
    pub seed: u32,
    pub max_iterations: u64,
    pub batch_size: usize,
    pub optimizer: OptimizerName,
    pub learning_rate: f64,
    pub clip_grad_norm: Option<f64>,
    pub train_criterion: Criterion,
    pub pcc2mse_iteration: u64,
    pub log_interval: u64,

    // the loss
    pub regualizer: f64,
    pub regualizer_z: f64,
    pub regualizer_oob: f64,
    pub regualizer_scaling: Scaling,
    pub regualizer_scaling_start: u64,
    pub regualizer_scaling_end: u64,
    pub reg_scale_type: ScaleType,
    pub regualizer_beta_start: f64,
    pub regualizer_beta_end: f64,
    pub regualizer_beta_step: u64,
    pub regualizer_beta_growth: u32,
    pub regualizer_l1: bool,
    pub lp_norm: Lp,
    pub regualizer_npu_w: f64,
    pub regualizer_gate: f64,

    // scoring
    /// Overrides the study's success threshold on the test MSE.
    pub threshold: Option<f64>,

    // the engine
    /// Derivative conventions at clamp bounds and min/max ties (the reference has those of
    /// its PyTorch version). Records leave it out when it is `paper`, the default.
    #[serde(
        default,
        skip_serializing_if = "is_paper",
        with = "conventions_by_name"
    )]
    pub conventions: Conventions,
}

fn is_paper(conventions: &Conventions) -> bool {
    *conventions == Conventions::Paper
}

/// Conventions stored by name.
mod conventions_by_name {
    use engine::Conventions;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(c: &Conventions, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Conventions, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

impl Default for Settings {
    /// The reference's defaults (`experiments/single_layer.py` of bmistry4/nalm-division).
    fn default() -> Self {
        Settings {
            preset: None,
            layer_type: "nalu".into(),
            nru_div_mode: NruMode::Div,
            npu_clip: NpuClip::None,
            npu_wr_init: NpuInit::XavierUniform,
            realnpu_reg_type: NpuWReg::W,
            regualizer_shape: RegShape::Linear,
            oob_mode: OobChoice::Clip,
            nalu_bias: false,
            nalu_two_nac: false,
            operation: Operation::Add,
            input_size: 2,
            subset_ratio: 0.5,
            overlap_ratio: 0.0,
            num_subsets: 2,
            interpolation_range: "[1,2]".parse().expect("valid range"),
            extrapolation_range: "[2,6]".parse().expect("valid range"),
            sample_distribution: Distribution::Uniform,
            seed: 0,
            max_iterations: 100_000,
            batch_size: 128,
            optimizer: OptimizerName::Adam,
            learning_rate: 1e-3,
            clip_grad_norm: None,
            train_criterion: Criterion::Mse,
            pcc2mse_iteration: 25_000,
            log_interval: 1000,
            regualizer: 10.0,
            regualizer_z: 0.0,
            regualizer_oob: 1.0,
            regualizer_scaling: Scaling::Linear,
            regualizer_scaling_start: 1_000_000,
            regualizer_scaling_end: 2_000_000,
            reg_scale_type: ScaleType::Heim,
            regualizer_beta_start: 1e-5,
            regualizer_beta_end: 1e-4,
            regualizer_beta_step: 10_000,
            regualizer_beta_growth: 10,
            regualizer_l1: false,
            lp_norm: Lp::L1,
            regualizer_npu_w: 0.0,
            regualizer_gate: 0.0,
            threshold: None,
            conventions: Conventions::Paper,
        }
    }
}

/// A setting that cannot run, naming its flag.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("--layer-type: unknown unit '{0}' (expected one of: {list})", list = LAYER_TYPES.join(", "))]
    UnknownLayer(String),
    #[error("--{flag}: {problem}")]
    Invalid { flag: &'static str, problem: String },
    #[error(transparent)]
    Task(#[from] TaskError),
}

fn invalid(flag: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        flag,
        problem: problem.into(),
    }
}

/// The unit names `--layer-type` accepts (the reference's spellings such as `RealNPU` and
/// `SignNMRU` work too: case, `-` and `_` are ignored).
pub const LAYER_TYPES: [&str; 12] = Unit::NAMES;

/// The canonical unit name of `name`, ignoring case, '-' and '_'.
pub fn canonical_layer(name: &str) -> Option<&'static str> {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    let wanted = squash(name);
    LAYER_TYPES.into_iter().find(|n| squash(n) == wanted)
}

/// The largest input size a run accepts (the study's is 10).
pub const MAX_INPUT_SIZE: usize = 10_000;
/// The largest batch a run accepts (the study's is 128).
pub const MAX_BATCH_SIZE: usize = 1 << 20;
/// The most values (samples x inputs) in one batch.
pub const MAX_BATCH_VALUES: usize = 1 << 25;

impl Settings {
    /// Settings that records leave out while they hold their default.
    pub const OMITTED_AT_DEFAULT: [&'static str; 1] = ["conventions"];

    /// Checks every setting that would otherwise fail during the run.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.unit()?;
        self.task_spec().subsets()?;
        // training runs in f32: a value that is finite in f64 but not in f32 (1e300) would
        // make the parameters infinite at the first step
        let in_f32 = |v: f64| (v as f32).is_finite();
        let positive = |flag, v: f64| {
            if in_f32(v) && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(
                    flag,
                    format!("must be positive and at most the largest f32 (about 3.4e38), got {v}"),
                ))
            }
        };
        let strength = |flag, v: f64| {
            if in_f32(v) && v >= 0.0 {
                Ok(())
            } else {
                Err(invalid(
                    flag,
                    format!(
                        "a regulariser's strength must be 0 or more and at most the largest f32, got {v}"
                    ),
                ))
            }
        };
        positive("learning-rate", self.learning_rate)?;
        if let Some(c) = self.clip_grad_norm {
            positive("clip-grad-norm", c)?;
        }
        if let Some(t) = self.threshold {
            positive("threshold", t)?;
        }
        strength("regualizer", self.regualizer)?;
        strength("regualizer-z", self.regualizer_z)?;
        strength("regualizer-oob", self.regualizer_oob)?;
        strength("regualizer-npu-w", self.regualizer_npu_w)?;
        strength("regualizer-gate", self.regualizer_gate)?;
        self.check_sizes()?;
        if self.operation == Operation::Root {
            for (flag, range) in [
                ("interpolation-range", &self.interpolation_range),
                ("extrapolation-range", &self.extrapolation_range),
            ] {
                if range.lowest() < 0.0 {
                    return Err(invalid(
                        flag,
                        format!(
                            "{range} holds negative numbers, whose square root is not real; the root task needs ranges at or above 0"
                        ),
                    ));
                }
            }
        }
        positive("regualizer-beta-start", self.regualizer_beta_start)?;
        positive("regualizer-beta-end", self.regualizer_beta_end)?;
        if self.regualizer_beta_step == 0 {
            return Err(invalid("regualizer-beta-step", "must be at least 1"));
        }
        if self.regualizer_beta_growth == 0 {
            return Err(invalid("regualizer-beta-growth", "must be at least 1"));
        }
        if self.log_interval == 0 {
            return Err(invalid("log-interval", "must be at least 1"));
        }
        if self.regualizer_scaling == Scaling::Linear
            && self.regualizer_scaling_end <= self.regualizer_scaling_start
        {
            return Err(invalid(
                "regualizer-scaling-end",
                format!(
                    "the window must end after it starts ({} <= {})",
                    self.regualizer_scaling_end, self.regualizer_scaling_start
                ),
            ));
        }
        Ok(())
    }

    /// Sizes bounded by memory, checked before anything is allocated: a run holds its two
    /// evaluation sets and a batch's tape, all proportional to the input size.
    fn check_sizes(&self) -> Result<(), SettingsError> {
        if self.input_size > MAX_INPUT_SIZE {
            return Err(invalid(
                "input-size",
                format!(
                    "at most {MAX_INPUT_SIZE} (the two evaluation sets of {} samples alone take {} kB per input), got {}",
                    crate::data::task::EVALUATION_SAMPLES,
                    2 * crate::data::task::EVALUATION_SAMPLES * 4 / 1000,
                    self.input_size
                ),
            ));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(invalid(
                "batch-size",
                format!("must be 1 to {MAX_BATCH_SIZE}, got {}", self.batch_size),
            ));
        }
        let values = self.batch_size.saturating_mul(self.input_size.max(1));
        if values > MAX_BATCH_VALUES {
            return Err(invalid(
                "batch-size",
                format!(
                    "a batch of {} samples x {} inputs is {values} values; at most {MAX_BATCH_VALUES} (about 2 GB of tape)",
                    self.batch_size, self.input_size
                ),
            ));
        }
        Ok(())
    }

    /// The unit with its options.
    pub fn unit(&self) -> Result<Unit, SettingsError> {
        let name = canonical_layer(&self.layer_type)
            .ok_or_else(|| SettingsError::UnknownLayer(self.layer_type.clone()))?;
        if self.input_size == 0 {
            return Err(TaskError::NoInputs.into());
        }
        let mut unit = Unit::by_name(name, self.input_size, 1).expect("a listed unit name");
        let oob = match self.oob_mode {
            OobChoice::Clip => OobMode::Clip,
            OobChoice::Regualized => OobMode::Regularized(self.regualizer_shape),
        };
        match &mut unit {
            Unit::RealNpu(u) => {
                u.clip = self.npu_clip;
                u.init = self.npu_wr_init;
                u.w_reg = self.realnpu_reg_type;
            }
            Unit::Npu(u) => {
                u.clip = self.npu_clip;
                u.init = self.npu_wr_init;
            }
            Unit::Nru(u) => {
                if self.nru_div_mode == NruMode::DivSepSign {
                    u.mode = NruMode::DivSepSign;
                }
                u.reg_shape = self.regualizer_shape;
                u.oob = oob;
            }
            Unit::Nmru(u) => {
                u.reg_shape = self.regualizer_shape;
                u.oob = oob;
            }
            Unit::Nau(u) => {
                u.reg_shape = self.regualizer_shape;
                u.oob = oob;
            }
            Unit::Nmu(u) => {
                u.reg_shape = self.regualizer_shape;
                u.oob = oob;
            }
            Unit::Nac(_) => {}
            Unit::Nalu(u) => {
                u.gate_bias = self.nalu_bias;
                u.separate_nacs = self.nalu_two_nac;
            }
        }
        Ok(unit)
    }

    pub fn task_spec(&self) -> TaskSpec {
        TaskSpec {
            input_size: self.input_size,
            subset_ratio: self.subset_ratio,
            overlap_ratio: self.overlap_ratio,
            num_subsets: self.num_subsets,
            operation: self.operation,
            interpolation: self.interpolation_range,
            extrapolation: self.extrapolation_range,
            distribution: self.sample_distribution,
        }
    }

    /// The loss terms: those whose coefficient can be non-zero.
    pub fn objective(&self) -> ObjectiveSpec {
        let mut keys = vec![RegKey::G];
        let weighted = [
            (RegKey::W, self.regualizer),
            (RegKey::Z, self.regualizer_z),
            (RegKey::WOob, self.regualizer_oob),
            (RegKey::WNpu, self.regualizer_npu_w),
            (RegKey::GNpu, self.regualizer_gate),
        ];
        keys.extend(weighted.iter().filter(|(_, l)| *l != 0.0).map(|(k, _)| *k));
        ObjectiveSpec {
            criterion: self.train_criterion,
            keys,
            lp: self.regualizer_l1.then_some(self.lp_norm),
            conventions: self.conventions,
        }
    }

    pub fn optimizer(&self) -> OptimizerKind {
        match self.optimizer {
            OptimizerName::Adam => OptimizerKind::Adam {
                lr: self.learning_rate,
            },
            OptimizerName::Sgd => OptimizerKind::Sgd {
                lr: self.learning_rate,
            },
        }
    }

    pub fn window(&self) -> Window {
        match self.regualizer_scaling {
            Scaling::Linear => Window::Linear {
                start: self.regualizer_scaling_start,
                end: self.regualizer_scaling_end,
            },
            Scaling::Exp => Window::Exp,
        }
    }

    pub fn beta(&self) -> BetaSettings {
        BetaSettings {
            start: self.regualizer_beta_start,
            end: self.regualizer_beta_end,
            step: self.regualizer_beta_step,
            growth: self.regualizer_beta_growth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_layer_names_are_accepted() {
        assert_eq!(canonical_layer("RealNPU"), Some("realnpu"));
        assert_eq!(canonical_layer("SignNMRU"), Some("sign-nmru"));
        assert_eq!(canonical_layer("GatedSignNMRU"), Some("gated-sign-nmru"));
        assert_eq!(canonical_layer("NRU"), Some("nru"));
        assert_eq!(canonical_layer("nru-sepsign"), Some("nru-sepsign"));
        assert_eq!(canonical_layer("Tanh"), None);
    }

    #[test]
    fn settings_survive_json() {
        let s = Settings {
            layer_type: "nru".into(),
            clip_grad_norm: Some(1.0),
            extrapolation_range: "[[-6,-2],[2,6]]".parse().unwrap(),
            sample_distribution: "truncated-normal -1 3 -10 3".parse().unwrap(),
            regualizer_beta_start: 1e-9,
            ..Settings::default()
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains("\"npu-Wr-init\":\"xavier-uniform\""),
            "{text}"
        );
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn conventions_are_a_setting_recorded_only_when_not_the_default() {
        let mut s = Settings::default();
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("conventions"), "{text}");
        let mut changes = serde_json::Map::new();
        changes.insert("conventions".into(), "torch-current".into());
        crate::train::apply(&mut s, &changes).unwrap();
        assert_eq!(s.conventions, Conventions::TorchCurrent);
        assert_eq!(s.objective().conventions, Conventions::TorchCurrent);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"conventions\":\"torch-current\""), "{text}");
        assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), s);
        changes.insert("conventions".into(), "pytorch".into());
        let err = crate::train::apply(&mut s, &changes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("torch-legacy"), "{err}");
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let check = |edit: fn(&mut Settings), flag: &str| {
            let mut s = Settings::default();
            edit(&mut s);
            let message = s.validate().unwrap_err().to_string();
            assert!(message.starts_with(flag), "{message}");
        };
        check(|s| s.layer_type = "lstm".into(), "--layer-type");
        check(|s| s.learning_rate = 0.0, "--learning-rate");
        check(|s| s.learning_rate = f64::NAN, "--learning-rate");
        check(|s| s.regualizer_scaling_end = 5, "--regualizer-scaling-end");
        check(|s| s.regualizer_beta_step = 0, "--regualizer-beta-step");
        check(|s| s.clip_grad_norm = Some(-1.0), "--clip-grad-norm");
        check(
            |s| {
                s.input_size = 10;
                s.subset_ratio = 0.6;
            },
            "--subset-ratio",
        );
        check(|s| s.batch_size = 0, "--batch-size");
        check(|s| s.log_interval = 0, "--log-interval");
    }
}
