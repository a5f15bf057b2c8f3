//! A results folder's manifests: `sweep.json` names the sweep, its kind of runs, the changes
//! made to every run and all its runs; a study's folder has `study.json`, naming its
//! experiments, each a sweep folder of its own. Writers sharing a folder merge their
//! manifests one at a time, under the folder's manifest lock.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::lock::lock_manifests;
use super::records::{RunKey, read_results};
use super::{StoreError, io, write_atomically};
use crate::train::Changes;

/// What the runs of a results folder train (`task` in `sweep.json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// Single modules on synthetic data (`nalm sweep`).
    #[default]
    Modules,
    /// A head on the CNN, on MNIST digit pairs (`nalm mnist --all`).
    Mnist,
}

impl RunKind {
    fn is_modules(&self) -> bool {
        *self == RunKind::Modules
    }

    /// The task of the runs in a results file without a manifest, from its first run (an
    /// MNIST run's settings name a head); single modules when the file holds none.
    pub fn of_results(path: &Path) -> Result<RunKind, StoreError> {
        let (runs, _) = read_results::<serde_json::Value>(path)?;
        Ok(match runs.first() {
            Some(run) if run.record["settings"].get("head").is_some() => RunKind::Mnist,
            _ => RunKind::Modules,
        })
    }
}

/// The format of the results directories this build writes: 2 records the `--set` changes
/// in the manifest (1: the directories from before, read as having none).
pub const FORMAT: u32 = 2;

fn format_one() -> u32 {
    1
}

/// What `sweep.json` holds: the sweep's name, its task, the changes made to every run, and
/// all its runs, in plan order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default = "format_one")]
    pub format: u32,
    /// Absent for single-module sweeps (the manifests written before there were others).
    #[serde(default, skip_serializing_if = "RunKind::is_modules")]
    pub task: RunKind,
    /// The `--set` changes made to every run (none: the experiment as defined).
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub changes: Changes,
    pub models: Vec<String>,
    pub settings: Vec<String>,
    pub runs: Vec<RunKey>,
}

impl Manifest {
    /// A manifest of `task` listing `runs`, with no changes.
    pub fn new(
        name: String,
        task: RunKind,
        models: Vec<String>,
        settings: Vec<String>,
        runs: Vec<RunKey>,
    ) -> Manifest {
        Manifest {
            name,
            format: FORMAT,
            task,
            changes: Changes::new(),
            models,
            settings,
            runs,
        }
    }

    /// Why the manifest `other` describes another sweep than this one, if it does.
    pub fn differs(&self, other: &Manifest) -> Option<String> {
        if self.name != other.name || self.task != other.task {
            return Some(format!("the sweep '{}', not '{}'", other.name, self.name));
        }
        if self.changes != other.changes {
            let show = |c: &Changes| {
                if c.is_empty() {
                    "no --set changes".to_string()
                } else {
                    let pairs: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("--set {}", pairs.join(" "))
                }
            };
            return Some(format!(
                "the sweep '{}' with {}, not with {}",
                other.name,
                show(&other.changes),
                show(&self.changes)
            ));
        }
        None
    }

    /// This manifest extended by the runs of `other` it lacks.
    pub fn union(mut self, other: &Manifest) -> Manifest {
        for (mine, theirs) in [
            (&mut self.models, &other.models),
            (&mut self.settings, &other.settings),
        ] {
            for label in theirs {
                if !mine.contains(label) {
                    mine.push(label.clone());
                }
            }
        }
        let known: std::collections::BTreeSet<RunKey> = self.runs.iter().cloned().collect();
        self.runs
            .extend(other.runs.iter().filter(|k| !known.contains(k)).cloned());
        self
    }
}

pub const MANIFEST: &str = "sweep.json";

/// The file naming a study directory's experiments (each in its own subdirectory).
pub const STUDY_MANIFEST: &str = "study.json";

/// What `study.json` holds: the study's experiments, in the study's order; each one's
/// results are in the subdirectory of its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyManifest {
    pub experiments: Vec<String>,
}

/// Reads `study.json` of `dir`, if there is one.
pub fn read_study(dir: &Path) -> Result<Option<StudyManifest>, StoreError> {
    read_json(dir.join(STUDY_MANIFEST), "a study manifest")
}

/// The JSON file at `path` as a `T` (None when there is no such file); `what` names what it
/// should be in the error.
fn read_json<T: DeserializeOwned>(path: PathBuf, what: &str) -> Result<Option<T>, StoreError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Invalid {
                path,
                problem: format!("not {what}: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Records a study's experiments in `dir` (joined with those already listed there); refuses
/// a directory that holds a single sweep.
pub fn write_study(dir: &Path, mine: StudyManifest) -> Result<(), StoreError> {
    if dir.join(MANIFEST).exists() {
        return Err(StoreError::Invalid {
            path: dir.join(MANIFEST),
            problem: "the directory holds a single sweep, not a study; choose another --out".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _one_writer = lock_manifests(dir)?;
    let mut study = read_study(dir)?.unwrap_or(StudyManifest {
        experiments: Vec::new(),
    });
    for name in mine.experiments {
        if !study.experiments.contains(&name) {
            study.experiments.push(name);
        }
    }
    let text = serde_json::to_string_pretty(&study).expect("a study manifest serialises");
    write_atomically(&dir.join(STUDY_MANIFEST), text.as_bytes())
}

/// Reads `sweep.json` of `dir`, if there is one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, StoreError> {
    read_json(dir.join(MANIFEST), "a sweep manifest")
}

/// Records a sweep's manifest in `dir` (joined with the runs already listed there, under the
/// folder's manifest lock, so that writers of different plans lose none of each other's).
pub fn write_manifest(dir: &Path, mine: Manifest) -> Result<Manifest, StoreError> {
    let _one_writer = lock_manifests(dir)?;
    let manifest = match read_manifest(dir)? {
        Some(old) if old.format > FORMAT => {
            return Err(StoreError::Invalid {
                path: dir.join(MANIFEST),
                problem: format!(
                    "written by a newer nalm (format {}, this one reads up to {FORMAT})",
                    old.format
                ),
            });
        }
        Some(old) => match mine.differs(&old) {
            Some(other) => {
                return Err(StoreError::Invalid {
                    path: dir.join(MANIFEST),
                    problem: format!("the directory holds {other}; choose another --out"),
                });
            }
            None => Manifest {
                format: FORMAT,
                ..old.union(&mine)
            },
        },
        None => mine,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    write_atomically(&dir.join(MANIFEST), text.as_bytes())?;
    Ok(manifest)
}
