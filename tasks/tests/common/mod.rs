//! What the command-line tests share.

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
