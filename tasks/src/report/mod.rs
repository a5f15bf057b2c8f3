//! Reports of a sweep: group statistics, tables and the study's figure.

pub mod figure;
pub mod groups;
pub mod mnist;
pub mod tables;

pub use groups::{Group, groups};
