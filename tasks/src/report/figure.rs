//! The study's three-panel figure as SVG: success rate, solved-at iteration and sparsity
//! error per setting, one colour per model, points at the group estimates with their 95%
//! intervals as error bars (`../shared/spec/data-and-evaluation.md` 4.7).

use std::path::Path;

use plotters::prelude::*;

use super::groups::Group;
use super::tables::axes;
use crate::stats::Estimate;

/// A point estimate and its interval, if any.
type Point = (f64, Option<(f64, f64)>);

/// One panel: which statistic, its axis title.
struct Panel {
    title: &'static str,
    value: fn(&Group) -> Option<Point>,
}

fn estimate(e: &Option<Estimate>) -> Option<Point> {
    e.map(|e| (e.point, e.interval))
}

const PANELS: [Panel; 3] = [
    Panel {
        title: "Success rate",
        value: |g| g.success.map(|s| (s.point, Some((s.lower, s.upper)))),
    },
    Panel {
        title: "Solved at iteration",
        value: |g| estimate(&g.solved_at),
    },
    Panel {
        title: "Sparsity error (beta fit)",
        value: |g| estimate(&g.sparsity_beta_fit),
    },
];

/// Draws the figure of `groups` into an SVG file at `path`.
pub fn draw(path: &Path, title: &str, groups: &[Group]) -> Result<(), String> {
    let (settings, models) = axes(groups);
    if settings.is_empty() {
        return Err("no groups to draw".into());
    }
    // wide enough for the setting labels side by side
    let width = 160 + 90 * settings.len() as u32;
    let root = SVGBackend::new(path, (3 * width, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 3));
    let spread = 0.6 / models.len().max(1) as f64;
    let offset = |m: usize| (m as f64 - (models.len() as f64 - 1.0) / 2.0) * spread;

    for (panel, area) in PANELS.iter().zip(panels.iter()) {
        let top = groups
            .iter()
            .filter_map(|g| (panel.value)(g))
            .map(|(p, i)| i.map_or(p, |i| i.1.max(p)))
            .fold(0.0f64, f64::max);
        let top = if panel.title == "Success rate" {
            1.0
        } else {
            (top * 1.1).max(1e-9)
        };
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..settings.len() as f64 - 0.5, 0.0f64..top)
            .map_err(|e| e.to_string())?;
        let labels = settings.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(settings.len() * 4 + 1)
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].to_string()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 12))
            .y_label_formatter(&|y| {
                if top > 100.0 {
                    format!("{y:.0}")
                } else if top >= 1.0 {
                    format!("{y:.1}")
                } else {
                    format!("{y:.3}")
                }
            })
            .draw()
            .map_err(|e| e.to_string())?;
        for (m, model) in models.iter().enumerate() {
            let colour = Palette99::pick(m).to_rgba();
            let points: Vec<(f64, Point)> = settings
                .iter()
                .enumerate()
                .filter_map(|(s, setting)| {
                    let g = groups
                        .iter()
                        .find(|g| g.model == *model && g.setting == *setting)?;
                    let (point, interval) = (panel.value)(g)?;
                    Some((s as f64 + offset(m), (point, interval)))
                })
                .collect();
            chart
                .draw_series(points.iter().filter_map(|&(x, (_, interval))| {
                    let (lo, hi) = interval?;
                    Some(PathElement::new(
                        vec![(x, lo), (x, hi)],
                        colour.stroke_width(2),
                    ))
                }))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, (y, _))| Circle::new((x, y), 4, colour.filled())),
                )
                .map_err(|e| e.to_string())?
                .label(model.to_string())
                .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
        if panel.title == "Success rate" {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerLeft)
                .draw()
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}
