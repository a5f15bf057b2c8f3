//! The MNIST study's third figure: per head, the test split against the epoch, as the mean
//! over the folds with a band of one standard error. Two panels: the output's 5 d.p.
//! accuracy (the paper's headline metric) and the digits read (rounded, as digits or through
//! the mirror code 9 / digit, whichever reads more), which
//! shows whether and when the encoder learns the digits under each head.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::head_colour;
use super::learned::digits_read_either_code;
use crate::mnist::metrics::MetricOf;
use crate::mnist::run::Record;
use crate::report::{DrawError, plot_error};
use crate::results::{Collection, Manifest};
use crate::stats::sample::{mean, se};

/// What each panel plots, and its axis title.
const PANELS: [(&str, MetricOf); 2] = [
    ("test 5 d.p. output accuracy (%)", |m| m.output_5dp_accuracy),
    ("test digits read, either code (%)", digits_read_either_code),
];

/// One head's curves.
#[derive(Clone, Debug)]
pub struct HeadCurve {
    pub head: String,
    pub points: Vec<Point>,
}

/// One logged epoch of a head's curves: each panel's metric over the folds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub epoch: usize,
    pub panels: [Spread; 2],
}

/// A metric over the runs that logged an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub se: f64,
    pub runs: usize,
}

/// The curves of every head of the manifest (in its order) that has runs. A run that
/// stopped early (its head went NaN) counts up to its last logged epoch.
pub fn curves(manifest: &Manifest, results: &Collection<Record>) -> Vec<HeadCurve> {
    manifest
        .models
        .iter()
        .filter_map(|head| {
            let mut by_epoch: BTreeMap<usize, [Vec<f64>; 2]> = BTreeMap::new();
            for (run, _) in results.runs.values() {
                if &run.key.model != head {
                    continue;
                }
                for row in &run.record.history {
                    let values = by_epoch.entry(row.epoch).or_default();
                    for (v, (_, metric)) in values.iter_mut().zip(PANELS) {
                        v.push(metric(&row.test));
                    }
                }
            }
            (!by_epoch.is_empty()).then(|| HeadCurve {
                head: head.clone(),
                points: by_epoch
                    .into_iter()
                    .map(|(epoch, values)| Point {
                        epoch,
                        panels: values.map(|v| Spread {
                            mean: mean(&v),
                            se: se(&v),
                            runs: v.len(),
                        }),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Draws `curves` into `path` (PNG or SVG, by its extension).
pub fn draw(path: &Path, title: &str, curves: &[HeadCurve]) -> Result<(), DrawError> {
    crate::report::draw_to_file!(path, (1100, 820), |root| draw_on(root, title, curves))
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    curves: &[HeadCurve],
) -> Result<(), DrawError> {
    root.fill(&WHITE).map_err(plot_error)?;
    let last = curves
        .iter()
        .flat_map(|c| c.points.last().map(|p| p.epoch))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (title_area, body) = root.split_vertically(40);
    title_area
        .titled(title, ("sans-serif", 22))
        .map_err(plot_error)?;
    let (panels, legend) = body.split_horizontally(900);
    for (p, (area, (y_title, _))) in panels.split_evenly((2, 1)).iter().zip(PANELS).enumerate() {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(if p == 1 { 45 } else { 20 })
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..last, 0f64..102f64)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_labels((last as usize + 1).min(11))
            .y_labels(11)
            .x_desc(if p == 1 { "epoch" } else { "" })
            .y_desc(y_title)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            // whole epochs only
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-6 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(plot_error)?;
        for curve in curves {
            let colour = head_colour(&curve.head);
            let at = |sign: f64| {
                move |point: &Point| {
                    let s = point.panels[p];
                    (point.epoch as f64, (s.mean + sign * s.se).clamp(0.0, 102.0))
                }
            };
            // the band of one standard error, then the mean over it
            let band: Vec<(f64, f64)> = curve
                .points
                .iter()
                .map(at(1.0))
                .chain(curve.points.iter().rev().map(at(-1.0)))
                .collect();
            chart
                .draw_series([Polygon::new(band, colour.mix(0.18).filled())])
                .map_err(plot_error)?;
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().map(at(0.0)),
                    colour.stroke_width(2),
                ))
                .map_err(plot_error)?;
        }
    }
    let style = ("sans-serif", 15).into_font();
    for (row, curve) in curves.iter().enumerate() {
        let y = 60 + 28 * row as i32;
        legend
            .draw(&Rectangle::new(
                [(10, y + 6), (34, y + 10)],
                head_colour(&curve.head).filled(),
            ))
            .map_err(plot_error)?;
        // runs that stop early (a head gone NaN) leave later epochs: count them all
        let runs = curve
            .points
            .iter()
            .map(|p| p.panels[0].runs)
            .max()
            .unwrap_or(0);
        legend
            .draw(&Text::new(
                format!("{} ({runs})", curve.head),
                (42, y),
                style.clone(),
            ))
            .map_err(plot_error)?;
    }
    legend
        .draw(&Text::new(
            "mean over folds (runs),",
            (10, 60 + 28 * curves.len() as i32 + 10),
            style.clone(),
        ))
        .map_err(plot_error)?;
    legend
        .draw(&Text::new(
            "band: ± 1 standard error",
            (10, 60 + 28 * curves.len() as i32 + 30),
            style,
        ))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::metrics::Metrics;
    use crate::mnist::preset::QUICK;
    use crate::mnist::run::EpochRow;
    use crate::results::{RunKey, StoredRun};

    #[test]
    fn each_epoch_is_averaged_over_the_folds_that_logged_it() {
        let mut results = Collection::<Record>::default();
        for (fold, accuracies) in [(0usize, vec![0.0, 40.0, 80.0]), (1, vec![0.0, 20.0])] {
            let history = accuracies
                .iter()
                .enumerate()
                .map(|(epoch, &a)| EpochRow {
                    epoch,
                    train: Metrics::default(),
                    test: Metrics {
                        output_5dp_accuracy: a,
                        label1_mirror_rounded_accuracy: a,
                        ..Metrics::default()
                    },
                    loss: 1.0,
                    head: vec![],
                    seconds: 0.0,
                })
                .collect();
            let record = Record {
                settings: QUICK.settings("nru", fold, fold as u64),
                history,
                chosen: None,
                failed: fold == 1,
                head_params: vec![],
                seconds: 0.0,
            };
            let key = RunKey {
                model: "NRU".into(),
                setting: format!("fold {fold}"),
                seed: fold as u32,
            };
            results
                .add(StoredRun { key, record }, Path::new("runs.jsonl"))
                .unwrap();
        }
        let manifest = Manifest::new(
            "mnist".into(),
            crate::results::RunKind::Mnist,
            vec!["DIV".into(), "NRU".into()],
            vec![],
            vec![],
        );
        let curves = curves(&manifest, &results);
        assert_eq!(curves.len(), 1, "DIV has no runs");
        let points = &curves[0].points;
        assert_eq!(points.len(), 3);
        // epoch 1: 40 and 20 -> mean 30, se 10; epoch 2: the first fold alone
        let spread = |mean, se, runs| Spread { mean, se, runs };
        assert_eq!(points[1].panels[0], spread(30.0, 10.0, 2));
        assert_eq!(points[2].panels[0], spread(80.0, 0.0, 1));
        // digits read in either code: the left mirror reading at a, the rest 0 -> a / 2
        assert_eq!(points[1].panels[1].mean, 15.0);
    }
}
