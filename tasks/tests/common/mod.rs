//! What the command-line tests share.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `nalm` with `args`: exit code, stdout, stderr.
pub fn nalm(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(args)
        .output()
        .expect("nalm runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A test's scratch directory, `nalm-<suite>-<process>/<name>` under the system's temporary
/// one, made empty when taken and removed with its contents when the test passes (kept when
/// it fails, for a look), and the suite's directory with it once empty. `path` is the
/// directory itself, or a file in it ([`Scratch::file`]).
pub struct Scratch {
    dir: PathBuf,
    path: PathBuf,
}

impl Scratch {
    #[allow(dead_code)]
    pub fn dir(suite: &str, name: &str) -> Scratch {
        let dir = Scratch::made(suite, name);
        Scratch {
            path: dir.clone(),
            dir,
        }
    }

    /// The file `name` in a directory of its own.
    #[allow(dead_code)]
    pub fn file(suite: &str, name: &str) -> Scratch {
        let dir = Scratch::made(suite, name);
        Scratch {
            path: dir.join(name),
            dir,
        }
    }

    fn made(suite: &str, name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("nalm-{suite}-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
            if let Some(suite) = self.dir.parent() {
                // fails while another test's directory is still there
                let _ = std::fs::remove_dir(suite);
            }
        }
    }
}
