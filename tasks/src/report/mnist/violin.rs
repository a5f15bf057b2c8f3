//! The paper's second MNIST figure (`tasks/docs/mnist-task.md` section 8, plot 2): per division head, the test
//! 5 d.p. output accuracy of every fold as a violin (a Gaussian kernel density, Scott's
//! bandwidth, cut two bandwidths beyond the data as seaborn draws it) with a box inside:
//! the quartiles as a thick bar, whiskers to the last values within 1.5 interquartile
//! ranges, the median as a white dot.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{head_axis, head_colour};
use super::summary::HeadSummary;
use crate::report::{DrawError, plot_error};
use crate::stats::density::{gaussian_kde, scott_bandwidth};
use crate::stats::sample::quantile;

/// Points along each violin's outline.
const STEPS: usize = 200;
/// The widest violin's half width, in head spacings.
const HALF_WIDTH: f64 = 0.4;

/// A violin's outline: (accuracy, density) from bottom to top; None without spread.
fn outline(values: &[f64]) -> Option<Vec<(f64, f64)>> {
    let bandwidth = scott_bandwidth(values)?;
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    // accuracies cannot leave [0, 100]: neither does the violin
    let (low, high) = (
        (min - 2.0 * bandwidth).max(0.0),
        (max + 2.0 * bandwidth).min(100.0),
    );
    Some(
        (0..=STEPS)
            .map(|i| {
                let y = low + (high - low) * i as f64 / STEPS as f64;
                (y, gaussian_kde(values, bandwidth, y))
            })
            .collect(),
    )
}

/// Draws the violins of `heads` into `path` (PNG or SVG, by its extension).
pub fn draw(path: &Path, title: &str, heads: &[&HeadSummary]) -> Result<(), DrawError> {
    crate::report::draw_to_file!(path, (900, 600), |root| draw_on(root, title, heads))
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    heads: &[&HeadSummary],
) -> Result<(), DrawError> {
    let names: Vec<&str> = heads.iter().map(|h| h.head.as_str()).collect();
    let values: Vec<Vec<f64>> = heads
        .iter()
        .map(|h| {
            let mut v = h.test_5dp();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let outlines: Vec<Option<Vec<(f64, f64)>>> = values.iter().map(|v| outline(v)).collect();
    // every violin on one scale: the densest point of all is HALF_WIDTH wide
    let densest = outlines
        .iter()
        .flatten()
        .flat_map(|o| o.iter().map(|p| p.1))
        .fold(0.0, f64::max);

    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..names.len() as f64 - 0.5, 0f64..102f64)
        .map_err(plot_error)?;
    head_axis(&mut chart, &names, "test 5 d.p. output accuracy (%)")?;

    for (h, (values, outline)) in values.iter().zip(&outlines).enumerate() {
        let x = h as f64;
        let colour = head_colour(names[h]).to_rgba();
        match outline {
            Some(points) => {
                let scale = HALF_WIDTH / densest;
                let shape: Vec<(f64, f64)> = points
                    .iter()
                    .map(|&(y, d)| (x - d * scale, y))
                    .chain(points.iter().rev().map(|&(y, d)| (x + d * scale, y)))
                    .collect();
                chart
                    .draw_series([Polygon::new(shape.clone(), colour.mix(0.45).filled())])
                    .map_err(plot_error)?;
                let mut closed = shape;
                closed.push(closed[0]);
                chart
                    .draw_series([PathElement::new(closed, colour.stroke_width(1))])
                    .map_err(plot_error)?;
            }
            // one value, or all equal: a line across
            None if !values.is_empty() => {
                chart
                    .draw_series([PathElement::new(
                        vec![
                            (x - HALF_WIDTH / 2.0, values[0]),
                            (x + HALF_WIDTH / 2.0, values[0]),
                        ],
                        colour.stroke_width(2),
                    )])
                    .map_err(plot_error)?;
            }
            None => continue,
        }
        draw_box(&mut chart, x, values)?;
    }
    root.present().map_err(plot_error)
}

/// The box inside a violin, from sorted values.
fn draw_box<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    x: f64,
    sorted: &[f64],
) -> Result<(), DrawError> {
    if sorted.len() < 2 {
        return Ok(());
    }
    let (q1, median, q3) = (
        quantile(sorted, 0.25),
        quantile(sorted, 0.5),
        quantile(sorted, 0.75),
    );
    let reach = 1.5 * (q3 - q1);
    let low = sorted
        .iter()
        .copied()
        .find(|&v| v >= q1 - reach)
        .unwrap_or(q1);
    let high = sorted
        .iter()
        .rev()
        .copied()
        .find(|&v| v <= q3 + reach)
        .unwrap_or(q3);
    let grey = RGBColor(60, 60, 60);
    chart
        .draw_series([
            PathElement::new(vec![(x, low), (x, high)], grey.stroke_width(2)),
            PathElement::new(vec![(x, q1), (x, q3)], grey.stroke_width(8)),
        ])
        .map_err(plot_error)?;
    chart
        .draw_series([Circle::new((x, median), 4, WHITE.filled())])
        .map_err(plot_error)?;
    Ok(())
}
