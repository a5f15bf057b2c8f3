//! Reports of a sweep, a study and an MNIST study: group statistics, claims, tables and
//! figures.

pub mod claims;
pub mod figure;
pub mod groups;
pub mod mnist;
pub mod study;
pub mod tables;

use std::path::PathBuf;

pub use groups::{Group, groups};

/// Whether a figure's file is a bitmap (`.png`) rather than SVG.
pub(crate) fn is_png(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Runs `$draw` with `$root` bound to a drawing area on the file `$path` of `$size` pixels:
/// a PNG bitmap when the extension says so, else SVG. (The drawing code is generic over the
/// backend, so it is expanded once for each.)
macro_rules! draw_to_file {
    ($path:expr, $size:expr, |$root:ident| $draw:expr) => {{
        use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
        $crate::report::use_bundled_font();
        let path: &std::path::Path = $path;
        if $crate::report::is_png(path) {
            let $root = BitMapBackend::new(path, $size).into_drawing_area();
            $draw
        } else {
            let $root = SVGBackend::new(path, $size).into_drawing_area();
            $draw
        }
    }};
}
pub(crate) use draw_to_file;

/// A figure that could not be drawn (the caller names the file it was for).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the figure: {0}")]
pub struct DrawError(String);

/// A plotting library's error as a [`DrawError`].
pub(crate) fn plot_error(e: impl std::fmt::Display) -> DrawError {
    DrawError(e.to_string())
}

/// Why a report could not be written, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] crate::results::StoreError),
    #[error("{path}: {source}")]
    Draw { path: PathBuf, source: DrawError },
    #[error("a table: {0}")]
    Table(#[from] csv::Error),
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
