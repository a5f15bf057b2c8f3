//! Sweep files: a custom grid in TOML.
//!
//! ```toml
//! name = "nru-learning-rates"      # names the sweep in its results
//! seeds = "0-9"                    # optional, default 0-24
//!
//! [[model]]
//! label = "nru lr 0.1"
//! preset = "nru"                   # any `nalm train --preset`
//! input-size = 2                   # optional, the preset's own by default
//! set = { learning-rate = 0.1 }    # optional: any `nalm train` setting, by flag name
//!
//! [[setting]]
//! label = "U[1,2]"
//! interpolation-range = "[1,2]"    # every other key is a setting, by flag name
//! extrapolation-range = "[2,6]"
//! ```

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::plan::{Grid, Model, Plan, Setting, parse_seeds};
use crate::train::Changes;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: String,
    #[serde(default)]
    about: String,
    seeds: Option<String>,
    #[serde(default)]
    model: Vec<Spanned<ModelEntry>>,
    #[serde(default)]
    setting: Vec<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ModelEntry {
    label: String,
    preset: String,
    input_size: Option<usize>,
    #[serde(default)]
    set: toml::Table,
}

/// A sweep file that cannot be used; the message names the file and line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SweepFileError(String);

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn to_changes(table: toml::Table) -> Result<Changes, String> {
    match serde_json::to_value(table).map_err(|e| e.to_string())? {
        serde_json::Value::Object(map) => Ok(map),
        _ => unreachable!("a table converts to an object"),
    }
}

/// Reads and plans the sweep file at `path`.
pub fn load(path: &Path) -> Result<Plan, SweepFileError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SweepFileError(format!("{shown}: cannot read: {e}")))?;
    parse(&text).map_err(|(line, problem)| match line {
        Some(line) => SweepFileError(format!("{shown}:{line}: {problem}")),
        None => SweepFileError(format!("{shown}: {problem}")),
    })
}

/// Plans a sweep file's text; errors carry the line they concern, when known.
pub fn parse(text: &str) -> Result<Plan, (Option<usize>, String)> {
    let file: SweepFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        (line, e.message().to_string())
    })?;
    let seeds = match &file.seeds {
        Some(s) => parse_seeds(s).map_err(|e| (None, format!("seeds: {e}")))?,
        None => (0..25).collect(),
    };
    if file.model.is_empty() || file.setting.is_empty() {
        return Err((
            None,
            "a sweep needs at least one [[model]] and one [[setting]]".into(),
        ));
    }
    let mut grid = Grid {
        name: file.name,
        about: file.about,
        models: Vec::new(),
        settings: Vec::new(),
        seeds,
    };
    let mut lines = Vec::new();
    for entry in file.model {
        let line = line_of(text, entry.span().start);
        let m = entry.into_inner();
        grid.models.push(Model {
            label: m.label,
            preset: m.preset,
            input_size: m.input_size,
            changes: to_changes(m.set).map_err(|e| (Some(line), e))?,
        });
        lines.push((
            format!("model '{}'", grid.models.last().unwrap().label),
            line,
        ));
    }
    for entry in file.setting {
        let line = line_of(text, entry.span().start);
        let mut table = entry.into_inner();
        let label = match table.remove("label") {
            Some(toml::Value::String(label)) => label,
            _ => return Err((Some(line), "a [[setting]] needs a label (a string)".into())),
        };
        lines.push((format!("setting '{label}'"), line));
        grid.settings.push(Setting {
            label,
            changes: to_changes(table).map_err(|e| (Some(line), e))?,
        });
    }
    grid.plan().map_err(|e| {
        // point at the entry the problem names (models before settings)
        let line = lines
            .iter()
            .rev()
            .find(|(what, _)| e.place.contains(what.as_str()))
            .map(|(_, line)| *line);
        (line, e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "tiny"
seeds = "0-2"

[[model]]
label = "nru fast"
preset = "nru"
set = { learning-rate = 0.5, max-iterations = 3000 }

[[setting]]
label = "U[1,2]"
interpolation-range = "[1,2]"
extrapolation-range = "[2,6]"
"#;

    #[test]
    fn a_sweep_file_plans_its_grid() {
        let plan = parse(GOOD).unwrap();
        assert_eq!(plan.name, "tiny");
        assert_eq!(plan.runs.len(), 3);
        let s = &plan.runs[2].settings;
        assert_eq!((s.learning_rate, s.max_iterations, s.seed), (0.5, 3000, 2));
    }

    #[test]
    fn errors_name_the_line() {
        let unknown = GOOD.replace("learning-rate", "learning-rat");
        let (line, problem) = parse(&unknown).unwrap_err();
        assert_eq!(line, Some(5), "{problem}");
        assert!(problem.contains("learning-rat"), "{problem}");

        let bad_range = GOOD.replace("\"[2,6]\"", "\"[2,6\"");
        let (line, problem) = parse(&bad_range).unwrap_err();
        assert_eq!(line, Some(10), "{problem}");

        let syntax = GOOD.replace("seeds = \"0-2\"", "seeds = ");
        let (line, _) = parse(&syntax).unwrap_err();
        assert_eq!(line, Some(3));
    }
}
