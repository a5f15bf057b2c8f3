//! The start-up guard: `nalm` on a CPU without the build's vector instructions stops with a
//! message naming the missing one and exit code 2, never an illegal instruction. Older CPUs
//! are emulated by `qemu-x86_64 -cpu MODEL` (Debian's `qemu-user`); without it the test says
//! so and checks only this machine.

use std::process::Command;

const NALM: &str = env!("CARGO_BIN_EXE_nalm");

/// `nalm info` on an emulated `cpu`: exit code and stderr, or None without qemu.
fn info_on(cpu: &str) -> Option<(i32, String, String)> {
    let out = Command::new("qemu-x86_64")
        .args(["-cpu", cpu, NALM, "info"])
        .env_remove("NALM_SIMD")
        .output()
        .ok()?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // qemu dies of a signal (no code) when the guest executes an illegal instruction
    let code = out.status.code().unwrap_or(-1);
    Some((code, text(&out.stdout), text(&out.stderr)))
}

#[test]
fn a_cpu_without_the_builds_instructions_gets_a_message_naming_what_it_lacks() {
    let native = Command::new(NALM)
        .arg("info")
        .env_remove("NALM_SIMD")
        .output()
        .expect("nalm runs");
    let stdout = String::from_utf8_lossy(&native.stdout);
    assert!(native.status.success());
    // the build's path is named, alone or after the wider one a CPU with AVX-512 also runs
    let simd = stdout
        .lines()
        .find(|l| l.starts_with("SIMD: "))
        .expect("a SIMD line");
    assert!(simd.contains("AVX2 + FMA (8 lanes)"), "{stdout}");

    // a qemu too old to emulate AVX2 and FMA (before 7.2) cannot tell the cases apart
    let Some((code, stdout, stderr)) = info_on("Haswell") else {
        println!("qemu-x86_64 not found: the start-up guard is not checked on older CPUs");
        return;
    };
    if code != 0 {
        println!("this qemu-x86_64 does not emulate a Haswell ({stderr}): guard not checked");
        return;
    }
    assert!(stdout.contains("SIMD: AVX2 + FMA (8 lanes)"), "{stdout}");
    let cases = [
        (
            "Westmere",
            "lacks AVX (or the operating system does not enable it)",
        ),
        ("Haswell,-fma", "lacks FMA:"),
        ("Haswell,-avx2", "lacks AVX2:"),
        (
            "Haswell,-bmi2",
            "lacks one of BMI1, BMI2, LZCNT, MOVBE and F16C:",
        ),
        (
            "Haswell,-f16c",
            "lacks one of BMI1, BMI2, LZCNT, MOVBE and F16C:",
        ),
        // LZCNT is part of qemu's "abm"
        (
            "Haswell,-abm",
            "lacks one of BMI1, BMI2, LZCNT, MOVBE and F16C:",
        ),
    ];
    for (cpu, lacks) in cases {
        let (code, stdout, stderr) = info_on(cpu).expect("qemu ran above");
        assert_eq!(code, 2, "{cpu}: {stderr}");
        assert!(stdout.is_empty(), "{cpu}: {stdout}");
        assert!(
            stderr.contains("error: this build computes with AVX2 and FMA (x86-64-v3)")
                && stderr.contains(lacks),
            "{cpu}: {stderr}"
        );
    }
}
