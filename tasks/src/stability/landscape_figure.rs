//! A landscape as SVG: over a plane, log10 of the loss as a heat map with contour lines at
//! every half decade, the gold solution as a white star and training trajectories as lines
//! from a circle (start) to a square (end); over a line, the loss on a log axis.

use std::path::Path;

use plotters::prelude::*;

use super::contour::segments;
use super::landscape::Landscape;
use crate::report::{DrawError, plot_error};

/// A run's path projected onto the axes: (x, y) at every logged row.
pub type Path2 = Vec<(f64, f64)>;

/// A perceptual ramp from dark blue (low loss) through green to yellow (high).
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (68.0, 1.0, 84.0)),
        (0.25, (59.0, 82.0, 139.0)),
        (0.5, (33.0, 145.0, 140.0)),
        (0.75, (94.0, 201.0, 98.0)),
        (1.0, (253.0, 231.0, 37.0)),
    ];
    let t = if t.is_nan() { 1.0 } else { t.clamp(0.0, 1.0) };
    let k = STOPS.iter().position(|s| s.0 >= t).unwrap_or(4).max(1);
    let ((t0, a), (t1, b)) = (STOPS[k - 1], STOPS[k]);
    let u = (t - t0) / (t1 - t0);
    let mix = |x: f64, y: f64| (x + u * (y - x)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// log10 of a loss; a zero or negative loss (a perfect fit) at the bottom of the scale.
fn log_loss(v: f64) -> f64 {
    if v > 0.0 { v.log10() } else { f64::NAN }
}

/// Draws `land` into an SVG file at `path`, with the gold point and trajectories if any.
pub fn draw(
    path: &Path,
    title: &str,
    land: &Landscape,
    gold: Option<(f64, f64)>,
    trajectories: &[Path2],
) -> Result<(), DrawError> {
    match &land.y {
        None => draw_line(path, title, land, gold.map(|g| g.0)),
        Some(_) => draw_plane(path, title, land, gold, trajectories),
    }
}

fn draw_line(
    path: &Path,
    title: &str,
    land: &Landscape,
    gold: Option<f64>,
) -> Result<(), DrawError> {
    let points: Vec<(f64, f64)> = (0..land.x.steps)
        .map(|i| (f64::from(land.x.value(i)), log_loss(land.loss[i])))
        .filter(|p| p.1.is_finite())
        .collect();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    } else {
        (-1.0, 1.0)
    };
    crate::report::use_bundled_font();
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(f64::from(land.x.from)..f64::from(land.x.to), lo..hi)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(land.x.name.as_str())
        .y_desc("log10 training loss")
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
        .map_err(plot_error)?;
    if let Some(g) = gold {
        chart
            .draw_series([PathElement::new(
                vec![(g, lo), (g, hi)],
                RED.stroke_width(1),
            )])
            .map_err(plot_error)?
            .label("gold solution")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)
}

fn draw_plane(
    path: &Path,
    title: &str,
    land: &Landscape,
    gold: Option<(f64, f64)>,
    trajectories: &[Path2],
) -> Result<(), DrawError> {
    let y_axis = land.y.as_ref().expect("a plane has a y axis");
    let (nx, ny) = land.shape();
    let logs: Vec<f64> = land.loss.iter().map(|&v| log_loss(v)).collect();
    // the colour scale spans the 2nd percentile to the maximum: a minimum that is one grid
    // point deep (an exact solution) would otherwise wash out everything else
    let mut sorted: Vec<f64> = logs.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = match (sorted.first(), sorted.last()) {
        (Some(_), Some(&hi)) => (crate::stats::sample::quantile(&sorted, 0.02), hi),
        _ => (f64::INFINITY, f64::NEG_INFINITY),
    };
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let (x0, x1) = (f64::from(land.x.from), f64::from(land.x.to));
    let (y0, y1) = (f64::from(y_axis.from), f64::from(y_axis.to));
    let (dx, dy) = (
        (x1 - x0) / (nx.max(2) - 1) as f64,
        (y1 - y0) / (ny.max(2) - 1) as f64,
    );
    crate::report::use_bundled_font();
    let root = SVGBackend::new(path, (860, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (plot, legend) = root.split_horizontally(760);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(46)
        .y_label_area_size(60)
        .build_cartesian_2d(x0 - dx / 2.0..x1 + dx / 2.0, y0 - dy / 2.0..y1 + dy / 2.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(land.x.name.as_str())
        .y_desc(y_axis.name.as_str())
        .draw()
        .map_err(plot_error)?;
    let scale = |v: f64| (v - lo) / (hi - lo);
    chart
        .draw_series((0..ny).flat_map(|j| {
            let logs = &logs;
            (0..nx).map(move |i| {
                let (x, y) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
                // a zero loss sits at the bottom of the scale
                let v = logs[j * nx + i];
                let t = if v.is_nan() && land.loss[j * nx + i] <= 0.0 {
                    0.0
                } else {
                    scale(v)
                };
                Rectangle::new(
                    [(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)],
                    ramp(t).filled(),
                )
            })
        }))
        .map_err(plot_error)?;
    // contour lines every half decade
    let mut level = (lo * 2.0).ceil() / 2.0;
    while level <= hi {
        let to_plot = |(i, j): (f64, f64)| (x0 + i * dx, y0 + j * dy);
        let lines: Vec<PathElement<(f64, f64)>> = segments(&logs, nx, ny, level)
            .into_iter()
            .map(|(a, b)| {
                PathElement::new(vec![to_plot(a), to_plot(b)], WHITE.mix(0.7).stroke_width(1))
            })
            .collect();
        chart.draw_series(lines).map_err(plot_error)?;
        level += 0.5;
    }
    for (k, path) in trajectories.iter().enumerate() {
        let colour = Palette99::pick(k + 1).to_rgba();
        chart
            .draw_series([PathElement::new(path.clone(), colour.stroke_width(2))])
            .map_err(plot_error)?;
        if let (Some(&first), Some(&last)) = (path.first(), path.last()) {
            chart
                .draw_series([EmptyElement::at(first) + Circle::new((0, 0), 5, colour.filled())])
                .map_err(plot_error)?;
            chart
                .draw_series([
                    EmptyElement::at(last) + Rectangle::new([(-5, -5), (5, 5)], colour.filled())
                ])
                .map_err(plot_error)?;
        }
    }
    if let Some(g) = gold {
        chart
            .draw_series([EmptyElement::at(g)
                + Cross::new((0, 0), 8, WHITE.stroke_width(3))
                + Text::new(
                    "gold",
                    (10, -14),
                    ("sans-serif", 14).into_font().color(&WHITE),
                )])
            .map_err(plot_error)?;
    }
    // the colour scale
    let bar = legend.margin(80, 80, 10, 40);
    let (_, h) = bar.dim_in_pixel();
    for p in 0..h {
        let t = 1.0 - p as f64 / h as f64;
        bar.draw(&Rectangle::new(
            [(0, p as i32), (20, p as i32 + 1)],
            ramp(t).filled(),
        ))
        .map_err(plot_error)?;
    }
    for (t, v) in [(1.0, hi), (0.5, (lo + hi) / 2.0), (0.0, lo)] {
        let y = ((1.0 - t) * h as f64) as i32;
        bar.draw(&Text::new(
            format!("{v:.1}"),
            (24, y - 6),
            ("sans-serif", 12).into_font().color(&BLACK),
        ))
        .map_err(plot_error)?;
    }
    legend
        .draw(&Text::new(
            "log10 loss",
            (50, 52),
            ("sans-serif", 12).into_font().color(&BLACK),
        ))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}
