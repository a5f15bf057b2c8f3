//! Reports of a sweep: group statistics, tables and the study's figure.

pub mod figure;
pub mod groups;
pub mod mnist;
pub mod tables;

pub use groups::{Group, groups};

/// A plotting error as text (the figures' errors are reported with the file they were for).
pub(crate) fn plot_error(e: impl std::fmt::Display) -> String {
    e.to_string()
}
