//! Advisory locks on a results folder: which writers may run in it side by side, and one
//! writer at a time for the manifests they share. They are the operating system's file
//! locks, so a killed process leaves none behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::{StoreError, io};

/// The lock file `name` of `dir`, opened (created if need be).
fn open(dir: &Path, name: &str) -> Result<(File, PathBuf), StoreError> {
    let path = dir.join(name);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))
        .map(|file| (file, path))
}

/// Advisory locks that keep two sweeps from running the same runs into one directory. They
/// are the operating system's file locks, so a killed sweep leaves none behind.
#[derive(Debug)]
pub struct DirLock {
    _files: Vec<std::fs::File>,
}

/// Locks `dir` for a sweep of `shard` (None: the whole sweep). The whole sweep holds the
/// directory's lock alone; a shard shares it with the other shards and holds its own slice's
/// lock alone, so the shards of a SLURM array run side by side and nothing else does.
pub fn lock(dir: &Path, shard: Option<(usize, usize)>) -> Result<DirLock, StoreError> {
    let busy = |path: PathBuf, what: String| StoreError::Invalid {
        path,
        problem: format!(
            "another nalm sweep is running {what} in this directory; wait for it to finish, or use another --out"
        ),
    };
    let (whole, whole_path) = open(dir, ".lock")?;
    let mut files = Vec::new();
    match shard {
        None => {
            if whole.try_lock().is_err() {
                return Err(busy(whole_path, "this sweep or a shard of it".into()));
            }
            files.push(whole);
        }
        Some((index, count)) => {
            if whole.try_lock_shared().is_err() {
                return Err(busy(whole_path, "the whole sweep".into()));
            }
            files.push(whole);
            let (slice, slice_path) = open(dir, &format!(".lock-{index}-of-{count}"))?;
            if slice.try_lock().is_err() {
                return Err(busy(slice_path, format!("shard {index}/{count}")));
            }
            files.push(slice);
        }
    }
    Ok(DirLock { _files: files })
}

/// The lock under which one writer at a time reads, merges and rewrites a folder's manifests
/// (`sweep.json`, `study.json`): shards of different plans sharing a folder each add their
/// runs, and none undoes another's. Held until dropped.
#[derive(Debug)]
pub struct ManifestLock {
    _file: File,
}

/// Waits for, then takes, `dir`'s manifest lock.
pub fn lock_manifests(dir: &Path) -> Result<ManifestLock, StoreError> {
    let (file, path) = open(dir, ".manifest.lock")?;
    file.lock().map_err(io(&path))?;
    Ok(ManifestLock { _file: file })
}
