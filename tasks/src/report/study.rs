//! The study's index: every experiment's success table and figure, and the claims checked
//! against them.

use std::fmt::Write;

use super::claims::{self, Claim, Study};
use super::{Group, tables};

/// One experiment of the study as the index shows it.
pub struct Entry<'a> {
    pub name: &'a str,
    pub about: &'a str,
    pub groups: &'a [Group],
    /// The experiment's figure, relative to the index.
    pub figure: String,
    /// The experiment's report, relative to the index.
    pub report: String,
}

/// The claims checked against the entries' groups.
pub fn claims(entries: &[Entry]) -> Vec<Claim> {
    let study: Study = entries.iter().map(|e| (e.name, e.groups)).collect();
    claims::check(&study)
}

/// `index.md`: the runs finished, the `claims`, a table of the experiments, then each
/// experiment's figure and success table.
pub fn index(entries: &[Entry], claims: &[Claim], absent: &[&str]) -> String {
    let runs = |e: &Entry| e.groups.iter().map(|g| g.runs).sum::<usize>();
    let missing = |e: &Entry| e.groups.iter().map(|g| g.missing).sum::<usize>();
    let finished: usize = entries.iter().map(runs).sum();
    let planned: usize = finished + entries.iter().map(missing).sum::<usize>();
    let mut md = format!(
        "# The single-module study\n\n{finished} of {planned} planned runs finished, in {} experiments.\n",
        entries.len()
    );
    if !absent.is_empty() {
        let _ = writeln!(md, "\nNo results yet for: {}.", absent.join(", "));
    }
    md.push('\n');
    md.push_str(&claims::markdown(claims));
    md.push_str("\n## Experiments\n\n| experiment | what | runs | solved | report |\n|---|---|---|---|---|\n");
    for e in entries {
        let solved: usize = e.groups.iter().map(|g| g.solved).sum();
        let _ = writeln!(
            md,
            "| [{name}](#{name}) | {} | {}{} | {solved} | [report]({}) |",
            e.about,
            runs(e),
            match missing(e) {
                0 => String::new(),
                m => format!(" ({m} missing)"),
            },
            e.report,
            name = e.name,
        );
    }
    for e in entries {
        let _ = write!(
            md,
            "\n## {}\n\n{}\n\n![{} figure]({})\n\n{}",
            e.name,
            e.about,
            e.name,
            e.figure,
            tables::success_markdown(e.groups)
        );
    }
    md
}
