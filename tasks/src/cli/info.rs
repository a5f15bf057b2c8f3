//! `nalm info`: the build and the machine, as every measurement should quote them.

use clap::Args as ClapArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {}

/// The CPU's model name as `/proc/cpuinfo` gives it (Linux), if it does.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, name)| name.trim().to_owned())
}

pub fn run(_: &Args) -> anyhow::Result<i32> {
    println!("nalm {}", env!("CARGO_PKG_VERSION"));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "CPU: {} ({}), {threads} hardware threads available",
        cpu_model().unwrap_or_else(|| "model unknown".into()),
        std::env::consts::ARCH
    );
    println!("{}", engine::simd::describe());
    Ok(0)
}
