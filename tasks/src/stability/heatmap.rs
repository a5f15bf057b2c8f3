//! The lab's figure: one heat map per headline indicator, models down, settings across,
//! every cell coloured by its value and labelled with it.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::lab::Cell;
use crate::report::{DrawError, plot_error};

/// One panel: its title, the value of a cell and how to colour and print it.
struct Indicator {
    title: &'static str,
    value: fn(&Cell) -> f64,
    /// Colour intensity in [0, 1] of a value.
    scale: fn(f64) -> f64,
    label: fn(f64) -> String,
}

/// Percentages on a log scale, so that 0.01% is already visible next to 100%.
fn percent_scale(v: f64) -> f64 {
    if v <= 0.0 {
        0.0
    } else {
        ((v.log10() + 2.0) / 4.0).clamp(0.05, 1.0)
    }
}

fn percent_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.0e}")
    }
}

/// Relative errors from 1e-8 (f32 rounding) to 1 (no correct digit).
fn error_scale(v: f64) -> f64 {
    if v.is_nan() || v <= 1e-8 {
        0.0
    } else {
        ((v.log10() + 8.0) / 8.0).clamp(0.0, 1.0)
    }
}

fn exponent_label(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v == 0.0 {
        "0".into()
    } else {
        format!("{:.0}", v.log10())
    }
}

const INDICATORS: [Indicator; 4] = [
    Indicator {
        title: "Non-finite gradients, parameters and inputs (% of entries)",
        value: |c| {
            let (p, i) = (&c.params, &c.inputs);
            let entries = p.entries + i.entries;
            if entries == 0 {
                0.0
            } else {
                100.0 * (p.non_finite + i.non_finite) as f64 / entries as f64
            }
        },
        scale: percent_scale,
        label: percent_label,
    },
    Indicator {
        title: "Exploding parameter gradients, |g| > 1e6 (% of entries)",
        value: |c| c.params.exploding_percent(),
        scale: percent_scale,
        label: percent_label,
    },
    Indicator {
        title: "Exploding input gradients, |g| > 1e6 (% of entries)",
        value: |c| c.inputs.exploding_percent(),
        scale: percent_scale,
        label: percent_label,
    },
    Indicator {
        title: "f32 tape vs f64 closed form, p99 relative error of the parameter gradients (log10)",
        value: |c| c.params.relative_error[1],
        scale: error_scale,
        label: exponent_label,
    },
];

const CELL_W: i32 = 58;
const CELL_H: i32 = 24;
const LEFT: i32 = 170;
const TOP: i32 = 60;
const PANEL_GAP: i32 = 150;

/// A white-to-red ramp; NaN (no value) grey.
fn colour(intensity: f64) -> RGBColor {
    if intensity.is_nan() {
        return RGBColor(220, 220, 220);
    }
    let t = intensity.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * t).round() as u8;
    RGBColor(mix(255.0, 165.0), mix(255.0, 15.0), mix(255.0, 21.0))
}

/// Draws the heat maps of `cells` (models in `models` order down, settings in `settings`
/// order across) into an SVG file at `path`.
pub fn draw(
    path: &Path,
    title: &str,
    models: &[String],
    settings: &[String],
    cells: &[Cell],
) -> Result<(), DrawError> {
    let panel_h = CELL_H * models.len() as i32 + PANEL_GAP;
    let width = (LEFT + CELL_W * settings.len() as i32 + 30) as u32;
    let height = (TOP + panel_h * INDICATORS.len() as i32) as u32;
    crate::report::use_bundled_font();
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let centred = |size| {
        ("sans-serif", size)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center))
    };
    root.draw(&Text::new(title, (width as i32 / 2, 24), centred(22)))
        .map_err(plot_error)?;
    for (p, indicator) in INDICATORS.iter().enumerate() {
        let top = TOP + p as i32 * panel_h;
        root.draw(&Text::new(
            indicator.title,
            (LEFT, top),
            ("sans-serif", 16).into_font().color(&BLACK),
        ))
        .map_err(plot_error)?;
        let grid_top = top + 26;
        for (m, model) in models.iter().enumerate() {
            let y = grid_top + m as i32 * CELL_H;
            root.draw(&Text::new(
                model.as_str(),
                (LEFT - 8, y + CELL_H / 2),
                ("sans-serif", 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(plot_error)?;
            for (s, setting) in settings.iter().enumerate() {
                let x = LEFT + s as i32 * CELL_W;
                let cell = cells
                    .iter()
                    .find(|c| &c.model == model && &c.setting == setting);
                let value = cell.map_or(f64::NAN, indicator.value);
                let fill = colour(if cell.is_some() {
                    (indicator.scale)(value)
                } else {
                    f64::NAN
                });
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL_W - 1, y + CELL_H - 1)],
                    fill.filled(),
                ))
                .map_err(plot_error)?;
                let ink = if (indicator.scale)(value) > 0.6 {
                    WHITE
                } else {
                    BLACK
                };
                if cell.is_some() {
                    root.draw(&Text::new(
                        (indicator.label)(value),
                        (x + CELL_W / 2, y + CELL_H / 2),
                        ("sans-serif", 12)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ))
                    .map_err(plot_error)?;
                }
            }
        }
        // setting labels under the grid, turned so that long ones fit
        let below = grid_top + CELL_H * models.len() as i32 + 6;
        for (s, setting) in settings.iter().enumerate() {
            let x = LEFT + s as i32 * CELL_W + CELL_W / 2;
            root.draw(&Text::new(
                setting.as_str(),
                (x, below),
                ("sans-serif", 12)
                    .into_font()
                    .transform(FontTransform::Rotate90)
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(plot_error)?;
        }
    }
    root.present().map_err(plot_error)
}
