//! The paper's first MNIST figure (`tasks/docs/mnist-task.md` section 8, plot 1): per head, the mean over folds of
//! the train and test 4 and 5 d.p. output accuracies and the two label accuracies, with
//! bars of one standard error.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::head_axis;
use super::summary::{HeadSummary, PAPER_METRICS, REPORTED};
use crate::report::{DrawError, plot_error};

/// One colour per metric (matplotlib's first four), pale for the training split.
const COLOURS: [RGBColor; PAPER_METRICS] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn colour(metric: usize, train: bool) -> RGBAColor {
    let c = COLOURS[metric];
    if train {
        // the colour halfway to white, opaque
        let pale = |v: u8| ((u16::from(v) + 255) / 2) as u8;
        RGBColor(pale(c.0), pale(c.1), pale(c.2)).to_rgba()
    } else {
        c.to_rgba()
    }
}

/// Draws the bar chart of `heads` into `path` (PNG or SVG, by its extension).
pub fn draw(path: &Path, title: &str, heads: &[HeadSummary]) -> Result<(), DrawError> {
    crate::report::draw_to_file!(path, (1200, 600), |root| draw_on(root, title, heads))
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    heads: &[HeadSummary],
) -> Result<(), DrawError> {
    let names: Vec<&str> = heads.iter().map(|h| h.head.as_str()).collect();
    root.fill(&WHITE).map_err(plot_error)?;
    let (plot, legend) = root.split_horizontally(960);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..names.len() as f64 - 0.5, 0f64..105f64)
        .map_err(plot_error)?;
    head_axis(&mut chart, &names, "accuracy (%)")?;

    // the bars of a head: train then test for each metric, side by side
    let bars: Vec<(usize, bool)> = (0..PAPER_METRICS)
        .flat_map(|m| [(m, true), (m, false)])
        .collect();
    let width = 0.8 / bars.len() as f64;
    for (h, head) in heads.iter().enumerate() {
        for (b, &(metric, train)) in bars.iter().enumerate() {
            let spread = if train { &head.train } else { &head.test }[metric];
            let Some(s) = spread else { continue };
            let left = h as f64 - 0.4 + b as f64 * width;
            let centre = left + width / 2.0;
            chart
                .draw_series([Rectangle::new(
                    [(left, 0.0), (left + width * 0.9, s.mean)],
                    colour(metric, train).filled(),
                )])
                .map_err(plot_error)?;
            // no error bar over a single run
            let Some(se) = s.se else { continue };
            let (low, high) = (s.mean - se, s.mean + se);
            let cap = width * 0.25;
            chart
                .draw_series([
                    PathElement::new(vec![(centre, low), (centre, high)], BLACK.stroke_width(1)),
                    PathElement::new(vec![(centre - cap, low), (centre + cap, low)], BLACK),
                    PathElement::new(vec![(centre - cap, high), (centre + cap, high)], BLACK),
                ])
                .map_err(plot_error)?;
        }
    }

    // the legend beside the plot, where it covers nothing
    let style = ("sans-serif", 15).into_font();
    for (row, &(metric, train)) in bars.iter().enumerate() {
        let y = 80 + 28 * row as i32;
        legend
            .draw(&Rectangle::new(
                [(10, y), (28, y + 18)],
                colour(metric, train).filled(),
            ))
            .map_err(plot_error)?;
        let text = format!(
            "{} {}",
            if train { "train" } else { "test" },
            REPORTED[metric].label
        );
        legend
            .draw(&Text::new(text, (36, y + 2), style.clone()))
            .map_err(plot_error)?;
    }
    legend
        .draw(&Text::new(
            "bars: ± 1 standard error",
            (10, 80 + 28 * bars.len() as i32 + 10),
            style,
        ))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}
