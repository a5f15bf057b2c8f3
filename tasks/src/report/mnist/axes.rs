//! What the MNIST study's two figures share: heads along the x axis, percent up the y axis.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::{DrawError, plot_error};

/// The chart's axes: head `h` centred at x = h and named there, `y_title` up the y axis.
pub fn head_axis<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    names: &[&str],
    y_title: &str,
) -> Result<(), DrawError> {
    let labels: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(names.len() * 4 + 1)
        .x_label_formatter(&move |x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_style(("sans-serif", 16))
        .y_label_style(("sans-serif", 14))
        .y_desc(y_title)
        .axis_desc_style(("sans-serif", 16))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(plot_error)
}

/// Each head's colour, the same in every figure (matplotlib's palette).
pub fn head_colour(label: &str) -> RGBColor {
    use crate::mnist::network::Head;
    match Head::ALL.iter().find(|h| h.label() == label) {
        Some(Head::Div) => RGBColor(127, 127, 127),
        Some(Head::Mlp) => RGBColor(148, 103, 189),
        Some(Head::RealNpu) => RGBColor(31, 119, 180),
        Some(Head::Nru) => RGBColor(255, 127, 14),
        Some(Head::Nmru) => RGBColor(44, 160, 44),
        None => RGBColor(140, 86, 75),
    }
}
