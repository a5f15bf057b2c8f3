//! The study's group statistics (`../shared/spec/data-and-evaluation.md` 4.6).

pub mod wilson;

pub use wilson::{Interval, wilson};
