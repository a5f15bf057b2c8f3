//! An installed `nalm` stands alone: copied out of the build tree and started from an empty
//! folder, it trains on the MNIST files built into it; `--data` and `NALM_MNIST_DIR` still
//! read another copy from a folder.

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nalm-installed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `nalm` binary copied into its own folder, as `cargo install` leaves it.
fn installed() -> (PathBuf, PathBuf) {
    let home = scratch("bin");
    let binary = home.join("nalm");
    std::fs::copy(env!("CARGO_BIN_EXE_nalm"), &binary).unwrap();
    (home, binary)
}

/// Runs the installed binary in the empty folder `cwd`, with only `PATH` and `env` set.
fn run(binary: &PathBuf, cwd: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(binary)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .output()
        .expect("nalm runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn an_installed_nalm_trains_on_the_mnist_files_built_into_it() {
    let (home, binary) = installed();
    let empty = scratch("cwd");
    let one_pass = [
        "mnist",
        "--epochs",
        "0",
        "--samples-per-pair",
        "1",
        "--quiet",
    ];
    let (code, text) = run(&binary, &empty, &one_pass, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("test"), "{text}");
    // nothing written where it ran
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // another copy from a folder: the flag, then the variable, each read and checked
    let missing = empty.join("nowhere");
    let missing = missing.to_str().unwrap();
    let mut with_flag = one_pass.to_vec();
    with_flag.extend(["--data", missing]);
    let (code, text) = run(&binary, &empty, &with_flag, &[]);
    assert_ne!(code, 0);
    assert!(
        text.contains("nowhere") && text.contains("cannot read"),
        "{text}"
    );
    let (code, text) = run(&binary, &empty, &one_pass, &[("NALM_MNIST_DIR", missing)]);
    assert_ne!(code, 0);
    assert!(text.contains("nowhere"), "{text}");
    std::fs::remove_dir_all(&home).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}
