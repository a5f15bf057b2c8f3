//! Results folders, as the sweeps and the MNIST study write and the reports read them: files
//! written whole or not at all and kept through a power loss ([`files`]), the locks that keep
//! writers of one folder from undoing each other ([`lock`]), the records of finished runs
//! ([`records`]), the manifests that plan them ([`manifest`]) and how the jobs that fill
//! them show their progress ([`progress`]). Every problem is a
//! [`StoreError`] naming its file.

pub mod files;
pub mod lock;
pub mod manifest;
pub mod progress;
pub mod records;

use std::path::{Path, PathBuf};

pub use files::{check_writable, write_atomically};
pub use lock::{DirLock, lock};
pub use manifest::{
    FORMAT, MANIFEST, Manifest, RunKind, STUDY_MANIFEST, StudyManifest, read_manifest, read_study,
    write_manifest, write_study,
};
pub use progress::ShowProgress;
pub use records::{
    Appender, Collection, RunKey, StoredRecord, StoredRun, parse_results, read_results,
    results_file, results_files,
};

/// A problem with a results folder, naming the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// (The I/O error is part of the message, not a source: shown once.)
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}:{line}: malformed run record: {problem}")]
    Malformed {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error(
        "run '{key}' is stored twice with different results ({first} and {second}); remove one"
    )]
    Conflict {
        key: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// The error of an I/O operation on `path`.
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}
