//! What the paper reports of the MNIST study (`tasks/docs/mnist-task.md` section 8): per head, at each run's chosen
//! epoch, the train and test accuracies, as mean, standard deviation and standard error over
//! the folds.

use serde::Serialize;

use crate::mnist::metrics::Metrics;
use crate::mnist::run::Record;
use crate::results::{Collection, Manifest};
use crate::stats::sample;

/// A metric the report shows.
pub struct Reported {
    /// The column name in CSV files.
    pub name: &'static str,
    /// The name in tables and figures.
    pub label: &'static str,
    pub value: fn(&Metrics) -> f64,
}

/// The paper's four metrics (`tasks/docs/mnist-task.md` section 8), then the rounded digit readings, which show
/// whether the encoder learned the digits when the exact readings (a saturated softmax) do
/// not.
pub const REPORTED: [Reported; 6] = [
    Reported {
        name: "output_4dp_accuracy",
        label: "output 4 d.p.",
        value: |m| m.output_4dp_accuracy,
    },
    Reported {
        name: "output_5dp_accuracy",
        label: "output 5 d.p.",
        value: |m| m.output_5dp_accuracy,
    },
    Reported {
        name: "label1_accuracy",
        label: "label 1",
        value: |m| m.label1_accuracy,
    },
    Reported {
        name: "label2_accuracy",
        label: "label 2",
        value: |m| m.label2_accuracy,
    },
    Reported {
        name: "label1_rounded_accuracy",
        label: "label 1 rounded",
        value: |m| m.label1_rounded_accuracy,
    },
    Reported {
        name: "label2_rounded_accuracy",
        label: "label 2 rounded",
        value: |m| m.label2_rounded_accuracy,
    },
];

/// How many of [`REPORTED`] the paper's bar chart shows.
pub const PAPER_METRICS: usize = 4;

/// Mean, standard deviation and standard error of one metric over the folds. Over one run
/// the standard deviation and error are undefined (None, shown as a dash), not 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub sd: Option<f64>,
    pub se: Option<f64>,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        let several = values.len() >= 2;
        (!values.is_empty()).then(|| Spread {
            mean: sample::mean(values),
            sd: several.then(|| sample::sd(values)),
            se: several.then(|| sample::se(values)),
        })
    }
}

/// One run at its chosen epoch.
#[derive(Clone, Debug)]
pub struct FoldResult {
    pub fold: usize,
    pub seed: u64,
    /// The chosen epoch and its metrics; None when the run failed.
    pub chosen: Option<(usize, Metrics, Metrics)>,
}

/// One head's figures.
#[derive(Clone, Debug)]
pub struct HeadSummary {
    pub head: String,
    /// Finished runs, by fold.
    pub folds: Vec<FoldResult>,
    /// Runs the manifest lists but the results lack.
    pub missing: usize,
    /// Per metric of [`REPORTED`], over the runs that did not fail (None if all failed).
    pub train: Vec<Option<Spread>>,
    pub test: Vec<Option<Spread>>,
}

impl HeadSummary {
    /// Folds whose run failed (its head went NaN).
    pub fn failed(&self) -> Vec<usize> {
        self.folds
            .iter()
            .filter(|f| f.chosen.is_none())
            .map(|f| f.fold)
            .collect()
    }

    /// The test 5 d.p. output accuracy of every run that did not fail.
    pub fn test_5dp(&self) -> Vec<f64> {
        self.folds
            .iter()
            .filter_map(|f| f.chosen.as_ref())
            .map(|(_, _, test)| test.output_5dp_accuracy)
            .collect()
    }
}

/// The heads of a study in the manifest's order, followed by any found only in the results.
pub fn summarise(manifest: &Manifest, results: &Collection<Record>) -> Vec<HeadSummary> {
    let mut heads: Vec<String> = manifest.models.clone();
    for key in results.runs.keys() {
        if !heads.contains(&key.model) {
            heads.push(key.model.clone());
        }
    }
    heads
        .into_iter()
        .map(|head| {
            let mut folds: Vec<FoldResult> = results
                .runs
                .values()
                .filter(|(run, _)| run.key.model == head)
                .map(|(run, _)| fold_result(&run.record))
                .collect();
            folds.sort_by_key(|f| (f.fold, f.seed));
            let planned = manifest.runs.iter().filter(|k| k.model == head).count();
            let spread = |split: fn(&(usize, Metrics, Metrics)) -> &Metrics| {
                REPORTED
                    .iter()
                    .map(|metric| {
                        let values: Vec<f64> = folds
                            .iter()
                            .filter_map(|f| f.chosen.as_ref())
                            .map(|chosen| (metric.value)(split(chosen)))
                            .collect();
                        Spread::of(&values)
                    })
                    .collect()
            };
            HeadSummary {
                train: spread(|c| &c.1),
                test: spread(|c| &c.2),
                missing: planned.saturating_sub(folds.len()),
                head,
                folds,
            }
        })
        .filter(|h| !h.folds.is_empty() || h.missing > 0)
        .collect()
}

fn fold_result(record: &Record) -> FoldResult {
    FoldResult {
        fold: record.settings.fold,
        seed: record.settings.seed,
        chosen: record
            .chosen
            .filter(|_| !record.failed)
            .and_then(|i| record.history.get(i))
            .map(|row| (row.epoch, row.train, row.test)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::preset::QUICK;
    use crate::mnist::run::EpochRow;
    use crate::results::{RunKey, StoredRun};
    use std::path::Path;

    fn record(head: &str, fold: usize, test_5dp: f64, failed: bool) -> Record {
        let metrics = |v: f64| Metrics {
            output_5dp_accuracy: v,
            label1_accuracy: 2.0 * v,
            ..Metrics::default()
        };
        Record {
            settings: QUICK.settings(head, fold, fold as u64),
            history: vec![EpochRow {
                epoch: 30,
                train: metrics(test_5dp + 1.0),
                test: metrics(test_5dp),
                loss: 0.5,
                head: vec![],
                seconds: 1.0,
            }],
            chosen: (!failed).then_some(0),
            failed,
            head_params: vec![],
            seconds: 2.0,
        }
    }

    #[test]
    fn heads_are_summarised_over_their_folds_without_the_failed_ones() {
        let mut results = Collection::<Record>::default();
        let runs = [
            ("NRU", 0, 10.0, false),
            ("NRU", 1, 20.0, false),
            ("NRU", 2, 60.0, false),
            ("NRU", 3, 0.0, true),
            ("DIV", 0, 95.0, false),
        ];
        for (head, fold, value, failed) in runs {
            let key = RunKey {
                model: head.into(),
                setting: format!("fold {fold}"),
                seed: fold as u32,
            };
            let record = record(&head.to_lowercase(), fold, value, failed);
            results
                .add(StoredRun { key, record }, Path::new("runs.jsonl"))
                .unwrap();
        }
        let manifest = Manifest::new(
            "mnist-quick".into(),
            crate::results::RunKind::Mnist,
            vec!["DIV".into(), "NRU".into(), "NMRU".into()],
            vec![],
            vec![RunKey {
                model: "NMRU".into(),
                setting: "fold 0".into(),
                seed: 0,
            }],
        );
        let heads = summarise(&manifest, &results);
        let names: Vec<&str> = heads.iter().map(|h| h.head.as_str()).collect();
        assert_eq!(names, ["DIV", "NRU", "NMRU"]);
        let nru = &heads[1];
        assert_eq!(nru.failed(), [3]);
        assert_eq!(nru.test_5dp(), [10.0, 20.0, 60.0]);
        // 10, 20, 60: mean 30, sd sqrt(700) = 26.457513, se sd / sqrt(3)
        let test = nru.test[1].unwrap();
        assert!((test.mean - 30.0).abs() < 1e-12);
        assert!((test.sd.unwrap() - 700f64.sqrt()).abs() < 1e-12);
        assert!((test.se.unwrap() - 700f64.sqrt() / 3f64.sqrt()).abs() < 1e-12);
        assert!(
            (nru.test[2].unwrap().mean - 60.0).abs() < 1e-12,
            "label 1: twice"
        );
        assert!((nru.train[1].unwrap().mean - 31.0).abs() < 1e-12);
        assert_eq!(heads[2].missing, 1);
        assert!(heads[2].test[1].is_none());
        let one = heads[0].test[1].unwrap();
        assert_eq!((one.sd, one.se), (None, None), "one fold: no spread");
    }
}
