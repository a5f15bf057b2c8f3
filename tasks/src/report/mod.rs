//! Reports of a sweep: group statistics, tables and the study's figure.

pub mod claims;
pub mod figure;
pub mod groups;
pub mod mnist;
pub mod study;
pub mod tables;

pub use groups::{Group, groups};

/// A plotting error as text (the figures' errors are reported with the file they were for).
pub(crate) fn plot_error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Makes the bundled font (DejaVu Sans, `tasks/data/fonts/`) the figures' "sans-serif", so
/// that text is laid out and rendered the same on every machine, with or without fonts.
pub(crate) fn use_bundled_font() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
            .unwrap_or_else(|_| unreachable!("the bundled font is a valid TrueType font"));
    });
}
