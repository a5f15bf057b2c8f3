//! A sweep's directory: `sweep.json` lists every run of the sweep; `runs*.jsonl` files hold
//! one finished run per line (`runs.jsonl`, or `runs-K-of-N.jsonl` for shard K of N).
//!
//! A line is appended and flushed to the operating system as soon as its run finishes, in
//! one write, so a killed sweep leaves at worst one torn last line: reading drops it with a
//! warning, and appending first cuts it off. Any other malformed line is an error naming
//! its file and line.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use super::plan::{Plan, RunKey};
use crate::results::files::sync_folder_of;
use crate::results::lock::lock_manifests;
use crate::results::{StoreError, io, write_atomically};
use crate::train::Changes;
use crate::train::RunRecord;

/// One finished run as stored: a single-module run's [`RunRecord`] by default, or the record
/// of another task (an MNIST run).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRun<R = RunRecord> {
    #[serde(flatten)]
    pub key: RunKey,
    pub record: R,
}

/// A run's record as a sweep directory stores it.
pub trait StoredRecord: Serialize + DeserializeOwned {
    /// Whether two records of the same run hold the same results, so that one counts as a
    /// duplicate of the other. By default every field; records that hold timings leave them
    /// out.
    fn same_results(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }

    /// The settings of a single-module run (None for other tasks' records).
    fn module_settings(&self) -> Option<&crate::train::Settings> {
        None
    }
}

impl StoredRecord for RunRecord {
    fn module_settings(&self) -> Option<&crate::train::Settings> {
        Some(&self.settings)
    }
}

/// What a sweep's runs train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Single modules on synthetic data (`nalm sweep`).
    #[default]
    Modules,
    /// A head on the CNN, on MNIST digit pairs (`nalm mnist --all`).
    Mnist,
}

impl Task {
    fn is_modules(&self) -> bool {
        *self == Task::Modules
    }

    /// The task of the runs in a results file without a manifest, from its first run (an
    /// MNIST run's settings name a head); single modules when the file holds none.
    pub fn of_results(path: &Path) -> Result<Task, StoreError> {
        let (runs, _) = read_results::<serde_json::Value>(path)?;
        Ok(match runs.first() {
            Some(run) if run.record["settings"].get("head").is_some() => Task::Mnist,
            _ => Task::Modules,
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
    #[serde(default, skip_serializing_if = "Task::is_modules")]
    pub task: Task,
    /// The `--set` changes made to every run (none: the experiment as defined).
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub changes: Changes,
    pub models: Vec<String>,
    pub settings: Vec<String>,
    pub runs: Vec<RunKey>,
}

impl Manifest {
    pub fn of(plan: &Plan) -> Manifest {
        Manifest {
            name: plan.name.clone(),
            format: FORMAT,
            task: Task::Modules,
            changes: plan.changes.clone(),
            models: plan.models.clone(),
            settings: plan.settings.clone(),
            runs: plan.runs.iter().map(|r| r.key.clone()).collect(),
        }
    }

    /// A manifest of `task` listing `runs`, with no changes.
    pub fn new(
        name: String,
        task: Task,
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

/// The results file of shard `index` (1-based) of `count`, or of an unsharded sweep.
pub fn results_file(dir: &Path, shard: Option<(usize, usize)>) -> PathBuf {
    match shard {
        Some((index, count)) if count > 1 => dir.join(format!("runs-{index}-of-{count}.jsonl")),
        _ => dir.join("runs.jsonl"),
    }
}

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

/// The complete records of one results file, and the byte length of its complete lines
/// when a torn last line follows them.
pub fn read_results<R: DeserializeOwned>(
    path: &Path,
) -> Result<(Vec<StoredRun<R>>, Option<u64>), StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(io(path)(e)),
    };
    let (runs, torn) = parse_results(&bytes, path)?;
    if let Some(complete) = torn {
        let line = bytes[..complete as usize]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        eprintln!(
            "warning: {}:{line}: dropping a torn last line (a run killed while being written)",
            path.display()
        );
    }
    Ok((runs, torn))
}

/// The complete records in the bytes of a results file (named `path` in errors), and the
/// length of its complete lines when a torn last line follows them.
pub fn parse_results<R: DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<StoredRun<R>>, Option<u64>), StoreError> {
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut runs = Vec::new();
    for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let run = serde_json::from_slice(line).map_err(|e| StoreError::Malformed {
            path: path.to_path_buf(),
            line: i + 1,
            problem: e.to_string(),
        })?;
        runs.push(run);
    }
    Ok((runs, (complete < bytes.len()).then_some(complete as u64)))
}

/// The results files of a sweep directory, in name order.
pub fn results_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("runs") && name.ends_with(".jsonl") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Finished runs by key, gathered from several results files. The same run stored twice
/// must agree (then it counts once).
pub struct Collection<R = RunRecord> {
    pub runs: BTreeMap<RunKey, (StoredRun<R>, PathBuf)>,
    /// Identical copies that were folded into one.
    pub duplicates: usize,
}

impl<R> Default for Collection<R> {
    fn default() -> Self {
        Collection {
            runs: BTreeMap::new(),
            duplicates: 0,
        }
    }
}

impl<R: StoredRecord> Collection<R> {
    pub fn add_file(&mut self, path: &Path) -> Result<(), StoreError> {
        let (runs, _) = read_results(path)?;
        for run in runs {
            self.add(run, path)?;
        }
        Ok(())
    }

    pub fn add(&mut self, run: StoredRun<R>, path: &Path) -> Result<(), StoreError> {
        match self.runs.get(&run.key) {
            Some((old, old_path)) => {
                if !old.record.same_results(&run.record) {
                    return Err(StoreError::Conflict {
                        key: run.key.to_string(),
                        first: old_path.clone(),
                        second: path.to_path_buf(),
                    });
                }
                self.duplicates += 1;
            }
            None => {
                self.runs.insert(run.key.clone(), (run, path.to_path_buf()));
            }
        }
        Ok(())
    }

    /// Every results file of `dir`.
    pub fn of_dir(dir: &Path) -> Result<Collection<R>, StoreError> {
        let mut all = Collection::default();
        for file in results_files(dir)? {
            all.add_file(&file)?;
        }
        Ok(all)
    }
}

/// How long an appended record may wait before it is forced to the disk: a power loss loses
/// at most this much of a sweep's finished runs, and a sweep of short runs does not wait on
/// the disk after each.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Appends finished runs to a results file, one line each, in one write, forced to the disk
/// at least every [`SYNC_EVERY`] and when the sweep ends ([`Appender::sync`]).
pub struct Appender {
    file: File,
    path: PathBuf,
    synced: Instant,
}

impl Appender {
    /// Opens `path` for appending, first cutting off a torn last line if there is one.
    pub fn open(path: &Path) -> Result<Appender, StoreError> {
        let (_, torn) = read_results::<IgnoredAny>(path)?;
        let new = !path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        if let Some(length) = torn {
            file.set_len(length).map_err(io(path))?;
        }
        if new {
            // the file's entry in its folder, kept like its lines
            sync_folder_of(path)?;
        }
        Ok(Appender {
            file,
            path: path.to_path_buf(),
            synced: Instant::now(),
        })
    }

    pub fn append<R: Serialize>(&mut self, run: &StoredRun<R>) -> Result<(), StoreError> {
        let mut line = serde_json::to_string(run).expect("a run record serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(io(&self.path))?;
        if self.synced.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Forces the appended lines to the disk.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io(&self.path))?;
        self.synced = Instant::now();
        Ok(())
    }
}
