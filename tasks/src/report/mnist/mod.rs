//! The report of an MNIST study directory (`tasks/docs/mnist-task.md` section 8): statistics per head over the
//! folds, the paper's last claim checked head by head, what each run learned, tables, the
//! paper's two figures and the learning curves.

pub mod axes;
pub mod bars;
pub mod claims;
pub mod curves;
pub mod learned;
pub mod summary;
pub mod tables;
pub mod violin;

use std::path::Path;

use crate::mnist::network::Head;
use crate::mnist::run::Record;
use crate::report::ReportError;
use crate::report::claims::Claim;
use crate::results::write_atomically;
use crate::results::{Collection, Manifest};

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
            && (s.subnormals, s.loss) == (first.subnormals, first.loss)
    };
    if !runs.all(|s| same(&s)) {
        return "The runs differ in their schedules; see each record's settings.".into();
    }
    let every = match first.eval_every {
        1 => "every epoch".to_string(),
        n => format!("every {n} epochs and the last"),
    };
    let subnormals = match first.subnormals {
        engine::Subnormals::Flush => "flushed to zero",
        engine::Subnormals::Keep => "kept",
    };
    let loss = match first.loss {
        crate::mnist::run::Loss::Paper => "the paper's loss",
        crate::mnist::run::Loss::UnitRegularisers => {
            "the loss of records made before the paper's (every regulariser of the head's unit, \
             the z and out-of-bounds penalties too)"
        }
    };
    format!(
        "Schedule: {} samples per pair, epochs 0..{} evaluated {every}, regulariser ramp over \
         epochs {} to {}, chosen epoch the best of the last {} logged; each fold's run seeded \
         by its fold; {loss}; results below the normal f32 range {subnormals}.",
        first.samples_per_pair,
        first.epochs,
        first.regulariser_start,
        first.regulariser_end,
        first.select_last
    )
}

/// The figures of an MNIST report, each written as SVG and PNG.
pub const FIGURES: [&str; 3] = ["accuracy", "violin", "curves"];

/// Writes report.md, summary.csv, folds.csv and the three figures (`FIGURES`, as .svg and
/// .png) into `out`, and returns the terminal table and the claims.
pub fn write(
    manifest: &Manifest,
    results: &Collection<Record>,
    out: &Path,
) -> Result<(String, Vec<Claim>), ReportError> {
    let heads = summarise(manifest, results);
    let claims = claims::claims(&heads);
    std::fs::create_dir_all(out).map_err(crate::results::io(out))?;
    write_atomically(
        &out.join("report.md"),
        tables::markdown(&manifest.name, &settings_line(results), &heads, &claims).as_bytes(),
    )?;
    write_atomically(&out.join("summary.csv"), &tables::summary_csv(&heads)?)?;
    write_atomically(&out.join("folds.csv"), &tables::folds_csv(&heads)?)?;
    // the paper leaves the MLP out of its violins
    let division: Vec<&HeadSummary> = heads
        .iter()
        .filter(|h| h.head != Head::Mlp.label())
        .collect();
    let curves = curves::curves(manifest, results);
    for extension in ["svg", "png"] {
        let path = |name: &str| out.join(format!("{name}.{extension}"));
        let drawn = [
            bars::draw(
                &path(FIGURES[0]),
                &format!(
                    "{}: accuracy at the chosen epoch, mean over folds",
                    manifest.name
                ),
                &heads,
            ),
            violin::draw(
                &path(FIGURES[1]),
                &format!("{}: test 5 d.p. accuracy per fold", manifest.name),
                &division,
            ),
            curves::draw(
                &path(FIGURES[2]),
                &format!("{}: the test split by epoch", manifest.name),
                &curves,
            ),
        ];
        for (name, result) in FIGURES.iter().zip(drawn) {
            result.map_err(|source| ReportError::Draw {
                path: path(name),
                source,
            })?;
        }
    }
    Ok((tables::terminal(&heads), claims))
}
