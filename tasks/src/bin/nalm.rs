//! The `nalm` command-line tool.

use clap::Parser;

fn main() {
    let cli = tasks::cli::Cli::parse();
    match tasks::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(2);
        }
    }
}
