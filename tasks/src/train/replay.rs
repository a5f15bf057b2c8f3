//! The `nalm grad-audit` command that evaluates one sample's training-loss gradient for a
//! run's settings at given parameters: how the stability lab prints its worst points and a
//! run's record names its first non-finite gradient.

use engine::Conventions;

use super::Changes;
use super::Settings;
use super::preset::Preset;

/// Settings that do not change the unit, its loss or the loss's coefficients at an iteration:
/// the task's (a replay gives its inputs and target) and the update's (the gradient is taken
/// before it); the conventions travel as their own flag.
const NOT_REPLAYED: [&str; 18] = [
    "learning-rate",
    "optimizer",
    "clip-grad-norm",
    "batch-size",
    "max-iterations",
    "log-interval",
    "threshold",
    "conventions",
    "preset",
    "seed",
    "operation",
    "input-size",
    "subset-ratio",
    "overlap-ratio",
    "num-subsets",
    "interpolation-range",
    "extrapolation-range",
    "sample-distribution",
];

/// The preset `settings` started from and the settings that differ from it (the task's
/// aside); None without a preset.
pub fn preset_changes(settings: &Settings) -> Option<(String, Changes)> {
    let name = settings.preset.clone()?;
    let preset = Preset::by_name(&name)?;
    let base = serde_json::to_value(preset.settings(Some(settings.input_size))).ok()?;
    let own = serde_json::to_value(settings).ok()?;
    let (base, own) = (base.as_object()?, own.as_object()?);
    let changes = own
        .iter()
        .filter(|(key, value)| {
            !NOT_REPLAYED.contains(&key.as_str()) && base.get(*key) != Some(value)
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Some((name, changes))
}

/// `nalm grad-audit --preset ...` evaluating the gradient of the training loss of
/// `settings` at `iteration`'s coefficients, for the sample (`x`, `t`) at `params`; None
/// when the settings name no preset.
pub fn grad_audit_command(
    settings: &Settings,
    iteration: u64,
    x: &[f32],
    t: f32,
    params: &[f32],
) -> Option<String> {
    let (preset, changes) = preset_changes(settings)?;
    // shortest round-trip forms: the replay reads back the same f32 values
    let list = |v: &[f32]| {
        v.iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut command = format!(
        "nalm grad-audit --preset {preset} --input-size {}",
        settings.input_size
    );
    for (name, value) in &changes {
        let value = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        let pair = format!("{name}={value}");
        // quoted only where a shell would read something into it (brackets, spaces)
        let plain = pair
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "=.-_+".contains(c));
        if plain {
            command.push_str(&format!(" --set {pair}"));
        } else {
            command.push_str(&format!(" --set '{pair}'"));
        }
    }
    if settings.conventions != Conventions::Paper {
        command.push_str(&format!(" --conventions {}", settings.conventions));
    }
    command.push_str(&format!(
        " --iteration {iteration} --x={} --t={t:?} --w={}",
        list(x),
        list(params)
    ));
    Some(command)
}
