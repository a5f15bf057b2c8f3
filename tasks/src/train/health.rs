//! What a run's record says about its gradients: their health between logged rows, and
//! where the first non-finite number came from.

use engine::diagnose::Pass;
use engine::optim::GradientHealth;
use serde::{Deserialize, Serialize};

use super::Settings;
use super::model::Diagnosis;
use super::replay::grad_audit_command;

/// The gradients of the updates from one logged row to the next.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradientRow {
    /// The largest gradient 2-norm of one update, before clipping.
    #[serde(with = "crate::evaluate::float")]
    pub norm: f32,
    /// The largest |g| of any entry.
    #[serde(with = "crate::evaluate::float")]
    pub largest: f32,
    /// Entries that were NaN or infinite.
    pub non_finite: u64,
}

impl From<GradientHealth> for GradientRow {
    fn from(h: GradientHealth) -> Self {
        GradientRow {
            norm: h.norm,
            largest: h.largest,
            non_finite: h.non_finite,
        }
    }
}

/// An input of the node where a non-finite number appeared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperandRecord {
    pub node: usize,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(with = "crate::evaluate::float")]
    pub value: f32,
}

/// The first update whose gradient was not finite, and the node of the tape where the first
/// non-finite value (forward) or gradient (backward) of that update appeared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NonFinite {
    pub iteration: u64,
    /// "forward" or "backward".
    pub pass: String,
    pub node: usize,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub sample: usize,
    pub feature: usize,
    #[serde(with = "crate::evaluate::float")]
    pub value: f32,
    #[serde(with = "crate::evaluate::float")]
    pub node_value: f32,
    pub inputs: Vec<OperandRecord>,
    /// The whole finding in one line.
    pub summary: String,
    /// The parameters before that update, and the training sample the finding is at.
    #[serde(with = "crate::evaluate::float::list")]
    pub params: Vec<f32>,
    #[serde(with = "crate::evaluate::float::list")]
    pub x: Vec<f32>,
    #[serde(with = "crate::evaluate::float")]
    pub t: f32,
    /// The `nalm grad-audit` command that evaluates that sample's gradient at those
    /// parameters (with the settings that differ from the run's preset), when the run
    /// started from a preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

impl NonFinite {
    pub fn new(diagnosis: &Diagnosis, settings: &Settings) -> NonFinite {
        let finding = &diagnosis.finding;
        let replay = grad_audit_command(
            settings,
            diagnosis.step,
            &diagnosis.x,
            diagnosis.t,
            &diagnosis.params,
        );
        NonFinite {
            iteration: diagnosis.step,
            pass: match finding.pass {
                Pass::Forward => "forward",
                Pass::Backward => "backward",
            }
            .to_string(),
            node: finding.node,
            op: finding.op.clone(),
            label: finding.label.clone(),
            sample: finding.sample,
            feature: finding.feature,
            value: finding.value,
            node_value: finding.node_value,
            inputs: finding
                .inputs
                .iter()
                .map(|i| OperandRecord {
                    node: i.node,
                    op: i.op.clone(),
                    label: i.label.clone(),
                    value: i.value,
                })
                .collect(),
            summary: finding.to_string(),
            params: diagnosis.params.clone(),
            x: diagnosis.x.clone(),
            t: diagnosis.t,
            replay,
        }
    }

    /// The finding as a run of `settings`, the same training under another preset name,
    /// records it: the replay command starts from that preset.
    pub fn relabel(&mut self, settings: &Settings) {
        self.replay = grad_audit_command(settings, self.iteration, &self.x, self.t, &self.params);
    }
}
