//! The MNIST study's tables: per head and metric over the folds for the terminal and
//! Markdown, and as CSV with every run at its chosen epoch.

use std::fmt::Write;

use super::learned::{self, Solution};
use super::summary::{HeadSummary, REPORTED, Spread};
use crate::mnist::metrics::Metrics;
use crate::report::claims::Claim;
use crate::report::tables::aligned;

fn runs_text(h: &HeadSummary) -> String {
    let mut text = format!("{}", h.folds.len());
    let failed = h.failed();
    if !failed.is_empty() {
        let _ = write!(text, " ({} failed)", failed.len());
    }
    if h.missing > 0 {
        let _ = write!(text, " (+{} missing)", h.missing);
    }
    text
}

/// `value` to two places, or a dash where it is undefined.
fn two_places(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}"))
}

/// `mean ± se` (a dash for an undefined se), or a dash.
fn short(s: &Option<Spread>) -> String {
    s.map_or("-".into(), |s| {
        format!("{:.2} ± {}", s.mean, two_places(s.se))
    })
}

/// The test split at a glance: one line per head.
pub fn terminal(heads: &[HeadSummary]) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        ["test, mean ± se (%)".to_string(), "runs".to_string()]
            .into_iter()
            .chain(REPORTED.iter().map(|m| m.label.to_string()))
            .collect(),
    ];
    for h in heads {
        rows.push(
            [h.head.clone(), runs_text(h)]
                .into_iter()
                .chain(h.test.iter().map(short))
                .collect(),
        );
    }
    aligned(&rows)
}

/// The report in Markdown: the claims, a table per split, what each run learned, the failed
/// and missing runs, the figures.
pub fn markdown(name: &str, settings: &str, heads: &[HeadSummary], claims: &[Claim]) -> String {
    let mut md = format!("# MNIST study `{name}`\n\n{settings}\n\n");
    md.push_str(&super::claims::markdown(claims));
    md.push_str("\n## Accuracy at the chosen epoch\n\n");
    md.push_str(
        "Each run is taken at its chosen epoch (the best training 5 d.p. output accuracy among \
         the last logged epochs). Cells: mean ± standard error over the folds, then the \
         standard deviation; accuracies in percent. Runs whose head went NaN are left out of \
         the statistics and listed below. Labels: the digit readings exactly equal to the \
         digits (a saturated softmax); rounded: equal once rounded.\n",
    );
    let labels: Vec<&str> = REPORTED.iter().map(|m| m.label).collect();
    for (split, of) in [
        (
            "Train",
            (|h| &h.train) as fn(&HeadSummary) -> &Vec<Option<Spread>>,
        ),
        ("Test", |h| &h.test),
    ] {
        let _ = write!(
            md,
            "\n### {split}\n\n| head | runs | {} |\n|---|---|{}\n",
            labels.join(" | "),
            "---|".repeat(labels.len())
        );
        for h in heads {
            let cells: Vec<String> = of(h)
                .iter()
                .map(|s| {
                    s.map_or("-".into(), |s| {
                        format!("{} (sd {})", short(&Some(s)), two_places(s.sd))
                    })
                })
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                h.head,
                runs_text(h),
                cells.join(" | ")
            );
        }
    }
    md.push_str(&learned_section(heads));
    md.push_str("\n## Failed and missing runs\n\n");
    let mut any = false;
    for h in heads {
        let failed = h.failed();
        if !failed.is_empty() {
            any = true;
            let folds: Vec<String> = failed.iter().map(usize::to_string).collect();
            let _ = writeln!(md, "- {}: failed on folds {}", h.head, folds.join(", "));
        }
        if h.missing > 0 {
            any = true;
            let _ = writeln!(
                md,
                "- {}: {} planned runs have no result yet",
                h.head, h.missing
            );
        }
    }
    if !any {
        md.push_str("None.\n");
    }
    md.push_str(
        "\n## Figures\n\nThe paper's two figures, then the test split by epoch (mean over \
         the folds, a band of one standard error).\n\n\
         ![accuracy at the chosen epoch](accuracy.png)\n\n\
         ![test 5 d.p. accuracy per fold](violin.png)\n\n\
         ![the test split by epoch](curves.png)\n",
    );
    md
}

/// What each run learned at its chosen epoch, from its test split's digit readings.
fn learned_section(heads: &[HeadSummary]) -> String {
    let mut md = format!(
        "\n## What each run learned\n\nAt the chosen epoch, on the test split: *gold*, the \
         readings round to the digits (at least {}% of them, and no fewer than through the \
         mirror code); *mirror*, they round to the \
         digits when decoded as 9 / reading (the encoder reads each digit x as 9 / x, under a \
         head that divides the right reading by the left); \
         *collapsed*, each side reads one digit whatever the image (at least {}% of its \
         readings); *neither*; *unmeasured*, a record made before the mirror code and the \
         commonest readings were measured.\n\n\
         | head | fold | epoch | test 5 d.p. | digits read | as 9 / digit | solution |\n\
         |---|---|---|---|---|---|---|\n",
        learned::READS_DIGITS,
        learned::COLLAPSED
    );
    for h in heads {
        for f in &h.folds {
            let Some((epoch, _, test)) = &f.chosen else {
                let _ = writeln!(md, "| {} | {} | - | - | - | - | failed |", h.head, f.fold);
                continue;
            };
            let _ = writeln!(
                md,
                "| {} | {} | {epoch} | {:.2}% | {:.1}% | {:.1}% | {} |",
                h.head,
                f.fold,
                test.output_5dp_accuracy,
                learned::digits_read(test),
                learned::digits_read_mirrored(test),
                Solution::of(test).describe()
            );
        }
    }
    md
}

/// Per head, split and metric: runs, mean, sd, se.
pub fn summary_csv(heads: &[HeadSummary]) -> csv::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["head", "split", "metric", "runs", "mean", "sd", "se"])?;
    for h in heads {
        let runs = h.folds.len() - h.failed().len();
        for (split, spreads) in [("train", &h.train), ("test", &h.test)] {
            for (metric, spread) in REPORTED.iter().zip(spreads) {
                let (mean, sd, se) =
                    spread.map_or((String::new(), String::new(), String::new()), |s| {
                        let undefined = |v: Option<f64>| v.map_or("-".into(), |v| v.to_string());
                        (s.mean.to_string(), undefined(s.sd), undefined(s.se))
                    });
                w.write_record([
                    h.head.as_str(),
                    split,
                    metric.name,
                    &runs.to_string(),
                    &mean,
                    &sd,
                    &se,
                ])?;
            }
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// One row per run: head, fold, seed, whether it failed, the chosen epoch and every metric
/// of both splits there.
pub fn folds_csv(heads: &[HeadSummary]) -> csv::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["head", "fold", "seed", "failed", "chosen_epoch"]
        .map(String::from)
        .to_vec();
    for split in ["train", "test"] {
        header.extend(Metrics::NAMES.iter().map(|n| format!("{split}_{n}")));
    }
    w.write_record(&header)?;
    for h in heads {
        for f in &h.folds {
            let mut row = vec![
                h.head.clone(),
                f.fold.to_string(),
                f.seed.to_string(),
                f.chosen.is_none().to_string(),
            ];
            match &f.chosen {
                Some((epoch, train, test)) => {
                    row.push(epoch.to_string());
                    for m in [train, test] {
                        row.extend(m.values().iter().map(f64::to_string));
                    }
                }
                None => row.extend(std::iter::repeat_n(
                    String::new(),
                    1 + 2 * Metrics::NAMES.len(),
                )),
            }
            w.write_record(&row)?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
