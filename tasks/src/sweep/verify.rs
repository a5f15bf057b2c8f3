//! Whether a results directory holds only what its manifest plans: a record of another sweep,
//! another seed or other settings is named, never reported under this sweep's title.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::experiments::Experiment;
use crate::results::{Collection, Manifest, RunKey, RunKind, StoredRecord};
use crate::train::Settings;
use crate::train::apply;

/// The first record of `results` that `manifest` does not plan, as a message naming its
/// file, its key and what is wrong (None when every record belongs). For the study's
/// experiments the settings are checked too, against the experiment's plan with the
/// manifest's changes.
pub fn foreign<R: StoredRecord>(manifest: &Manifest, results: &Collection<R>) -> Option<String> {
    let keys: BTreeSet<&RunKey> = manifest.runs.iter().collect();
    let unplanned: Vec<&RunKey> = results.runs.keys().filter(|k| !keys.contains(k)).collect();
    if let Some(first) = unplanned.first() {
        let (_, file) = &results.runs[*first];
        return Some(format!(
            "{}: run '{first}' is not a run of the sweep '{}' ({} such runs); it belongs to another sweep or seed list",
            file.display(),
            manifest.name,
            unplanned.len()
        ));
    }
    let planned = planned_settings(manifest)?;
    for (key, (run, file)) in &results.runs {
        let Some(expected) = planned.get(key) else {
            continue;
        };
        let Some(settings) = run.record.module_settings() else {
            continue;
        };
        if let Some(difference) = first_difference(expected, settings) {
            return Some(format!(
                "{}: run '{key}' was made with other settings than the sweep '{}' plans ({difference})",
                file.display(),
                manifest.name
            ));
        }
    }
    None
}

/// Every run's settings as the named experiment plans them with the manifest's changes;
/// None for sweep files and other tasks (their keys are checked, not their settings).
fn planned_settings(manifest: &Manifest) -> Option<BTreeMap<RunKey, Settings>> {
    if manifest.task != RunKind::Modules {
        return None;
    }
    let plan = Experiment::by_name(&manifest.name)?.grid().plan().ok()?;
    plan.runs
        .into_iter()
        .map(|mut run| {
            apply(&mut run.settings, &manifest.changes).ok()?;
            Some((run.key, run.settings))
        })
        .collect()
}

/// The first setting whose values differ, as `name: found instead of planned`.
fn first_difference(planned: &Settings, found: &Settings) -> Option<String> {
    if planned == found {
        return None;
    }
    let (Ok(Value::Object(p)), Ok(Value::Object(f))) =
        (serde_json::to_value(planned), serde_json::to_value(found))
    else {
        return Some("settings differ".into());
    };
    let names: BTreeSet<&String> = p.keys().chain(f.keys()).collect();
    names
        .into_iter()
        .find(|name| p.get(*name) != f.get(*name))
        .map(|name| {
            let show = |v: Option<&Value>| v.map_or("(unset)".into(), Value::to_string);
            format!(
                "{name}: {} instead of {}",
                show(f.get(name)),
                show(p.get(name))
            )
        })
        .or_else(|| Some("settings differ".into()))
}
