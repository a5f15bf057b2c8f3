//! Changes to a run's settings by name, as `--set`, sweep files and the experiments give
//! them.

use serde_json::{Map, Value};

use super::Settings;

/// Changes to settings: setting name (as its flag, `learning-rate`) -> value, applied in
/// order.
pub type Changes = Map<String, Value>;

/// A change that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown setting '{0}'")]
    Unknown(String),
    /// Two runs of different seeds would become the same run, counted twice.
    #[error(
        "the seed is part of a run's identity: choose seeds with --seeds (or `seeds =` in a sweep file)"
    )]
    Seed,
    /// A value of the wrong type or out of its range (serde's message names the setting).
    #[error("{0}")]
    Value(#[from] serde_json::Error),
}

/// Applies `changes` to `settings`, rejecting unknown names and ill-typed values.
pub fn apply(settings: &mut Settings, changes: &Changes) -> Result<(), ChangeError> {
    if changes.is_empty() {
        return Ok(());
    }
    let Value::Object(mut fields) = serde_json::to_value(&*settings)? else {
        unreachable!("settings serialise to an object");
    };
    for (name, value) in changes {
        // (settings left out of records at their default are settings all the same)
        let known = fields.contains_key(name) || Settings::OMITTED_AT_DEFAULT.contains(&&**name);
        if !known || name == "preset" {
            return Err(ChangeError::Unknown(name.clone()));
        }
        if name == "seed" {
            return Err(ChangeError::Seed);
        }
        fields.insert(name.clone(), value.clone());
    }
    *settings = serde_json::from_value(Value::Object(fields))?;
    Ok(())
}
