//! The report of an MNIST study directory (spec section 8): statistics per head over the
//! folds, tables, and the paper's two figures.

pub mod axes;
pub mod bars;
pub mod summary;
pub mod tables;
pub mod violin;

use std::path::Path;

use anyhow::Context;

use crate::mnist::network::Head;
use crate::mnist::run::Record;
use crate::sweep::store::write_atomically;
use crate::sweep::{Collection, Manifest};

pub use summary::{HeadSummary, summarise};

/// The settings the runs share, as a line (or a note that they differ).
fn settings_line(results: &Collection<Record>) -> String {
    let mut runs = results.runs.values().map(|(run, _)| &run.record.settings);
    let Some(first) = runs.next() else {
        return String::new();
    };
    let same = |s: &&crate::mnist::run::Settings| {
        (s.epochs, s.samples_per_pair, s.eval_every, s.select_last)
            == (
                first.epochs,
                first.samples_per_pair,
                first.eval_every,
                first.select_last,
            )
            && (s.regulariser_start, s.regulariser_end)
                == (first.regulariser_start, first.regulariser_end)
    };
    if !runs.all(|s| same(&s)) {
        return "The runs differ in their schedules; see each record's settings.".into();
    }
    let every = match first.eval_every {
        1 => "every epoch".to_string(),
        n => format!("every {n} epochs and the last"),
    };
    format!(
        "Schedule: {} samples per pair, epochs 0..{} evaluated {every}, regulariser ramp over \
         epochs {} to {}, chosen epoch the best of the last {} logged; each fold's run seeded \
         by its fold.",
        first.samples_per_pair,
        first.epochs,
        first.regulariser_start,
        first.regulariser_end,
        first.select_last
    )
}

/// Writes report.md, summary.csv, folds.csv, accuracy.svg and violin.svg into `out`, and
/// returns the terminal table.
pub fn write(
    manifest: &Manifest,
    results: &Collection<Record>,
    out: &Path,
) -> anyhow::Result<String> {
    let heads = summarise(manifest, results);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_atomically(
        &out.join("report.md"),
        tables::markdown(&manifest.name, &settings_line(results), &heads).as_bytes(),
    )?;
    write_atomically(&out.join("summary.csv"), &tables::summary_csv(&heads)?)?;
    write_atomically(&out.join("folds.csv"), &tables::folds_csv(&heads)?)?;
    let bars = out.join("accuracy.svg");
    bars::draw(
        &bars,
        &format!(
            "{}: accuracy at the chosen epoch, mean over folds",
            manifest.name
        ),
        &heads,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", bars.display()))?;
    // the paper leaves the MLP out of its violins
    let division: Vec<&HeadSummary> = heads
        .iter()
        .filter(|h| h.head != Head::Mlp.label())
        .collect();
    let violin = out.join("violin.svg");
    violin::draw(
        &violin,
        &format!("{}: test 5 d.p. accuracy per fold", manifest.name),
        &division,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", violin.display()))?;
    Ok(tables::terminal(&heads))
}
