//! The `nalm` command-line tool.

use clap::Parser;

// a CPU without the build's vector instructions gets a message before main, not an illegal
// instruction
engine::install_simd_guard!();

fn main() {
    let cli = tasks::cli::Cli::parse();
    match tasks::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        // output piped into a program that stopped reading (`| head`) is not an error
        Err(error)
            if error.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::exit(0)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(2);
        }
    }
}
