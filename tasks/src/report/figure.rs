//! The study's figure as SVG or PNG, laid out as the paper's: three panels stacked on a shared x axis
//! of settings (success rate with its 95% interval, solved-at iteration, sparsity error on a
//! log scale), the models side by side within each setting in a colour that is the same in
//! every figure, the legend above the panels (`tasks/docs/single-module-study.md` 4.7).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::groups::Group;
use super::tables::axes;
use super::{DrawError, plot_error};
use crate::stats::Estimate;

/// A point estimate and its interval, if any.
type Point = (f64, Option<(f64, f64)>);

/// How a panel's y axis runs.
#[derive(Clone, Copy, PartialEq)]
enum Scale {
    /// Success rates: 0 to 100%, with room above so that points at 100% are not clipped.
    Share,
    /// From 0 to a little above the largest value.
    Linear,
    /// Decades around the values; zeros drawn as hollow markers on the bottom edge.
    Log,
}

/// One panel: its axis title, its statistic, its scale.
struct Panel {
    title: &'static str,
    value: fn(&Group) -> Option<Point>,
    scale: Scale,
}

fn estimate(e: &Option<Estimate>) -> Option<Point> {
    e.map(|e| (e.point, e.interval))
}

const PANELS: [Panel; 3] = [
    Panel {
        title: "Success rate",
        value: |g| g.success.map(|s| (s.point, Some((s.lower, s.upper)))),
        scale: Scale::Share,
    },
    Panel {
        title: "Solved at iteration",
        value: |g| estimate(&g.solved_at),
        scale: Scale::Linear,
    },
    Panel {
        title: "Sparsity error",
        value: |g| {
            // an all-exact group is 0 (its beta fit would show the fit's floor)
            if g.sparsity_mean == Some(0.0) {
                Some((0.0, None))
            } else {
                estimate(&g.sparsity_beta_fit)
            }
        },
        scale: Scale::Log,
    },
];

/// The study's models in fixed colours, so that a model looks the same in every figure;
/// other labels take the remaining colours in order.
const NAMED: [(&str, RGBColor); 6] = [
    ("realnpu-baseline", RGBColor(31, 119, 180)),
    ("realnpu-modified", RGBColor(255, 127, 14)),
    ("nru", RGBColor(44, 160, 44)),
    ("nmru", RGBColor(214, 39, 40)),
    ("npu", RGBColor(148, 103, 189)),
    ("realnpu", RGBColor(140, 86, 75)),
];

const OTHERS: [RGBColor; 6] = [
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(173, 73, 74),
];

/// The colour of each model: a study model's own, matched by the label's first word (the
/// second label of one model, `nru in10` after `nru in2`, a darker shade of it), else the next
/// unnamed colour in the figure's model order.
///
/// An ablation's variants of one setting (`lr 0.001`, `lr 0.01`, ...: one first word that is
/// not a study model's) take a ramp from light to dark in their order instead, so that the
/// varied value reads off the shade.
fn colours(models: &[&str]) -> Vec<RGBColor> {
    let mut next = 0;
    let first_word = |m: &str| m.split_whitespace().next().unwrap_or(m).to_string();
    let first = first_word(models.first().copied().unwrap_or(""));
    let one_setting_varied = models.len() >= 3
        && models
            .iter()
            .all(|m| m.contains(' ') && first_word(m) == first)
        && NAMED.iter().all(|(name, _)| *name != first);
    if one_setting_varied {
        let (light, dark) = ([158.0, 202.0, 225.0], [8.0, 48.0, 107.0]);
        let last = (models.len() - 1) as f64;
        return (0..models.len())
            .map(|k| {
                let t = k as f64 / last;
                let c = |i: usize| (light[i] + t * (dark[i] - light[i])).round() as u8;
                RGBColor(c(0), c(1), c(2))
            })
            .collect();
    }
    models
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let first = first_word(m);
            match NAMED.iter().find(|(name, _)| *name == first) {
                Some(&(_, RGBColor(r, g, b))) => {
                    let earlier = models[..k]
                        .iter()
                        .filter(|o| first_word(o) == first)
                        .count();
                    let shade = 0.55f64.powi(earlier as i32);
                    let dim = |c: u8| (f64::from(c) * shade).round() as u8;
                    RGBColor(dim(r), dim(g), dim(b))
                }
                None => {
                    next += 1;
                    OTHERS[(next - 1) % OTHERS.len()]
                }
            }
        })
        .collect()
}

const PANEL_HEIGHT: u32 = 300;
const HEADER: u32 = 90;
const FOOTER: u32 = 60;

/// Draws the figure of `groups` into `path`: PNG when its extension says so, else SVG.
pub fn draw(path: &Path, title: &str, groups: &[Group]) -> Result<(), DrawError> {
    let (settings, _) = axes(groups);
    if settings.is_empty() {
        return Err(plot_error("no groups to draw"));
    }
    let longest = settings
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(1);
    // room for every setting's label side by side at 13 px
    let per_setting = (8 * longest as u32 + 24).max(90);
    let width = (110 + per_setting * settings.len() as u32).max(900);
    let height = HEADER + 3 * PANEL_HEIGHT + FOOTER;
    super::draw_to_file!(path, (width, height), |root| draw_on(
        root, width, title, groups
    ))
}

/// The figure on a drawing area `width` wide.
fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    width: u32,
    title: &str,
    groups: &[Group],
) -> Result<(), DrawError> {
    let (settings, models) = axes(groups);
    root.fill(&WHITE).map_err(plot_error)?;
    let (header, body) = root.split_vertically(HEADER);
    header
        .draw(&Text::new(
            title,
            (width as i32 / 2, 22),
            ("sans-serif", 22).into_font().color(&BLACK).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ),
            ),
        ))
        .map_err(plot_error)?;
    let colours = colours(&models);
    draw_legend(&header, &models, &colours, width)?;

    let spread = 0.7 / models.len().max(1) as f64;
    let offset = |m: usize| (m as f64 - (models.len() as f64 - 1.0) / 2.0) * spread;
    let panels = body.split_evenly((3, 1));
    for (p, (panel, area)) in PANELS.iter().zip(panels.iter()).enumerate() {
        let last = p == PANELS.len() - 1;
        let area = if last {
            area.clone()
        } else {
            area.margin(0, 0, 0, 0)
        };
        let values: Vec<f64> = groups
            .iter()
            .filter_map(|g| (panel.value)(g))
            .flat_map(|(v, i)| [Some(v), i.map(|i| i.0), i.map(|i| i.1)])
            .flatten()
            .filter(|v| v.is_finite())
            .collect();
        let points_of = |m: usize, model: &str| -> Vec<(f64, Point)> {
            settings
                .iter()
                .enumerate()
                .filter_map(|(s, setting)| {
                    let g = groups
                        .iter()
                        .find(|g| g.model == model && g.setting == *setting)?;
                    Some((s as f64 + offset(m), (panel.value)(g)?))
                })
                .collect()
        };
        match panel.scale {
            Scale::Log => {
                let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
                let lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = positive.iter().copied().fold(0.0, f64::max);
                let (lo, hi) = if lo.is_finite() {
                    (
                        10f64.powf(lo.log10().floor()),
                        10f64.powf(hi.log10().ceil()).max(lo * 10.0),
                    )
                } else {
                    (1e-6, 1.0)
                };
                let mut chart = chart_on(&area, last, settings.len())
                    .build_cartesian_2d(
                        -0.5f64..settings.len() as f64 - 0.5,
                        (lo / 2.0..hi * 2.0).log_scale(),
                    )
                    .map_err(plot_error)?;
                mesh(
                    &mut chart,
                    &settings,
                    last,
                    &format!("{} (log; hollow: 0)", panel.title),
                    &|v| format!("{v:.0e}"),
                )?;
                for (m, model) in models.iter().enumerate() {
                    let colour = colours[m];
                    let points = points_of(m, model);
                    // zeros sit on the bottom edge, hollow
                    let floor = lo / 2.0;
                    chart
                        .draw_series(points.iter().filter_map(|&(x, (_, i))| {
                            let (a, b) = i?;
                            Some(PathElement::new(
                                vec![(x, a.max(floor)), (x, b.max(floor))],
                                colour.stroke_width(2),
                            ))
                        }))
                        .map_err(plot_error)?;
                    chart
                        .draw_series(points.iter().map(|&(x, (y, _))| {
                            if y > 0.0 {
                                Circle::new((x, y), 5, colour.filled())
                            } else {
                                Circle::new((x, floor), 5, colour.stroke_width(2))
                            }
                        }))
                        .map_err(plot_error)?;
                }
            }
            Scale::Share | Scale::Linear => {
                let top = match panel.scale {
                    Scale::Share => 1.08,
                    _ => values.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1,
                };
                let mut chart = chart_on(&area, last, settings.len())
                    .build_cartesian_2d(-0.5f64..settings.len() as f64 - 0.5, 0.0f64..top)
                    .map_err(plot_error)?;
                let ticks: &dyn Fn(&f64) -> String = match panel.scale {
                    Scale::Share => &|v| format!("{:.0}%", 100.0 * v),
                    _ => &|v| format!("{v:.0}"),
                };
                mesh(&mut chart, &settings, last, panel.title, ticks)?;
                for (m, model) in models.iter().enumerate() {
                    let colour = colours[m];
                    let points = points_of(m, model);
                    chart
                        .draw_series(points.iter().filter_map(|&(x, (_, i))| {
                            let (a, b) = i?;
                            Some(PathElement::new(
                                vec![(x, a), (x, b)],
                                colour.stroke_width(2),
                            ))
                        }))
                        .map_err(plot_error)?;
                    chart
                        .draw_series(
                            points
                                .iter()
                                .map(|&(x, (y, _))| Circle::new((x, y), 5, colour.filled())),
                        )
                        .map_err(plot_error)?;
                }
            }
        }
    }
    root.present().map_err(plot_error)
}

/// A panel's chart builder: setting labels under the last panel only.
fn chart_on<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    last: bool,
    _settings: usize,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_left(12)
        .margin_right(20)
        .margin_top(8)
        .margin_bottom(if last { 8 } else { 4 })
        .x_label_area_size(if last { 40 } else { 8 })
        .y_label_area_size(80);
    builder
}

/// Axes of one panel: the y axis titled, the settings named under the last panel, vertical
/// rules between settings.
fn mesh<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    settings: &[&str],
    last: bool,
    title: &str,
    ticks: &dyn Fn(&f64) -> String,
) -> Result<(), DrawError>
where
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let labels: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(settings.len() * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.round();
            if last && (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_style(("sans-serif", 13))
        .y_label_style(("sans-serif", 13))
        .y_label_formatter(ticks)
        .light_line_style(WHITE)
        .y_desc(title)
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(plot_error)?;
    // light rules between the settings
    let (y0, y1) = {
        let range = chart.y_range();
        (range.start, range.end)
    };
    chart
        .draw_series((1..settings.len()).map(|s| {
            PathElement::new(
                vec![(s as f64 - 0.5, y0), (s as f64 - 0.5, y1)],
                RGBColor(220, 220, 220).stroke_width(1),
            )
        }))
        .map_err(plot_error)?;
    Ok(())
}

/// The models in one row under the title: a marker and the label each.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    models: &[&str],
    colours: &[RGBColor],
    width: u32,
) -> Result<(), DrawError> {
    let widths: Vec<i32> = models
        .iter()
        .map(|m| 36 + 9 * m.chars().count() as i32)
        .collect();
    let total: i32 = widths.iter().sum();
    let mut x = (width as i32 - total).max(0) / 2;
    let y = 62;
    for ((model, colour), w) in models.iter().zip(colours).zip(widths) {
        area.draw(&Circle::new((x + 6, y), 6, colour.filled()))
            .map_err(plot_error)?;
        area.draw(&Text::new(
            model.to_string(),
            (x + 18, y - 8),
            ("sans-serif", 15).into_font().color(&BLACK),
        ))
        .map_err(plot_error)?;
        x += w;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_model_keeps_its_colour_in_every_figure() {
        let alone = colours(&["nru", "nmru"]);
        let with_others = colours(&["lr 0.1", "nmru", "nru in2", "nru in10"]);
        assert_eq!(alone[0], with_others[2]);
        assert_eq!(alone[1], with_others[1]);
        // the second label of one model: a darker shade, not another model's colour
        let RGBColor(r, g, b) = with_others[3];
        assert_eq!((r, g, b), (24, 88, 24));
        assert_eq!(with_others[0], OTHERS[0]);
    }

    #[test]
    fn an_ablations_values_run_from_light_to_dark() {
        let ramp = colours(&["lr 0.001", "lr 0.01", "lr 0.1", "lr 1"]);
        assert_eq!(ramp[0], RGBColor(158, 202, 225));
        assert_eq!(ramp[3], RGBColor(8, 48, 107));
        let brightness = |RGBColor(r, g, b): RGBColor| u32::from(r) + u32::from(g) + u32::from(b);
        assert!(ramp.windows(2).all(|w| brightness(w[0]) > brightness(w[1])));
        // variants of a study model keep the model's colours
        assert_eq!(colours(&["nru a", "nru b", "nru c"])[0], NAMED[2].1);
    }
}
