//! Files written whole or not at all, and kept once written.
//!
//! A file is written beside its place under a name no other writer can pick (host, process,
//! time and a counter: the nodes of a cluster share results folders, and containers on two
//! nodes may both be process 1), forced to the disk, renamed over its place, and then the
//! folder's entry is forced too. After a crash or a power loss a reader finds the old file
//! or the new one, never a part of either.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{StoreError, io};

/// This host's name (Linux), for names unique across the nodes of a cluster.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| {
            name.trim()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// `path` with a suffix that no other writer, on this host or another, gives it: host,
/// process, the time in nanoseconds and this process's count of such names, then `ending`.
pub fn unique_beside(path: &Path, ending: &str) -> PathBuf {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}.{}.{nanos:x}.{}.{ending}",
        host(),
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    PathBuf::from(name)
}

/// Forces the entries of the folder holding `path` (a file created or renamed there) to the
/// disk. File systems that cannot sync a folder (some network ones) say so with
/// `InvalidInput` or `Unsupported`; they keep entries by their own rules, so that is no error.
pub fn sync_folder_of(path: &Path) -> Result<(), StoreError> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let synced = File::open(folder).and_then(|f| f.sync_all());
    match synced {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other.map_err(io(folder)),
    }
}

/// Writes `bytes` to `path` whole or not at all, and keeps it through a power loss: a file
/// of a unique name beside it, synced, renamed into place, then the folder synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = unique_beside(path, "partial");
    let written = File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // no partial file left behind (a full disk, a folder in the way)
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io(path))?;
    sync_folder_of(path)
}

/// Checks, before any work, that a file can be written at `path` (its folder exists and
/// takes new files, and `path` is not a folder), leaving nothing behind.
pub fn check_writable(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            problem: "is a folder; name a file".into(),
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            problem: format!("the folder {} does not exist", parent.display()),
        });
    }
    let probe = unique_beside(path, "probe");
    std::fs::write(&probe, b"").map_err(io(path))?;
    std::fs::remove_file(&probe).map_err(io(&probe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nalm-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_beside_a_file_are_unique_and_name_the_host_and_process() {
        let path = Path::new("/results/sweep.json");
        let names: std::collections::BTreeSet<PathBuf> =
            (0..1000).map(|_| unique_beside(path, "partial")).collect();
        assert_eq!(names.len(), 1000);
        let name = names.first().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("/results/sweep.json."), "{name}");
        assert!(name.ends_with(".partial"), "{name}");
        assert!(
            name.contains(&format!(".{}.", std::process::id())),
            "{name}"
        );
        assert!(name.contains(&format!(".{}.", host())), "{name}");
    }

    #[test]
    fn an_atomic_write_replaces_the_file_whole_and_leaves_nothing_beside_it() {
        let dir = scratch("atomic");
        let path = dir.join("a.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // a folder in the way: an error naming the path, and no partial file left
        let blocked = dir.join("sub");
        std::fs::create_dir(&blocked).unwrap();
        let err = write_atomically(&blocked, b"x").unwrap_err().to_string();
        assert!(err.contains("sub"), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
