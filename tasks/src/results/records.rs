//! A results folder's records: `runs*.jsonl` files of one finished run per line
//! (`runs.jsonl`, or `runs-K-of-N.jsonl` for shard K of N), each keyed by its model, setting
//! and seed.
//!
//! A line is appended in one write as soon as its run finishes, so a killed sweep leaves at
//! worst one torn last line: reading drops it with a warning, and appending first cuts it
//! off. Any other malformed line is an error naming its file and line.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use super::files::sync_folder_of;
use super::{StoreError, io};
use crate::train::RunRecord;

/// What identifies a run within a sweep or a study.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunKey {
    pub model: String,
    pub setting: String,
    pub seed: u32,
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {} / seed {}", self.model, self.setting, self.seed)
    }
}

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

/// The results file of shard `index` (1-based) of `count`, or of an unsharded sweep.
pub fn results_file(dir: &Path, shard: Option<(usize, usize)>) -> PathBuf {
    match shard {
        Some((index, count)) if count > 1 => dir.join(format!("runs-{index}-of-{count}.jsonl")),
        _ => dir.join("runs.jsonl"),
    }
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
