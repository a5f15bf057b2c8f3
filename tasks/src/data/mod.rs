//! The single module task's data, bit-exact with the reference's NumPy streams.

pub mod distribution;
pub mod mt19937;
pub mod normal;
pub mod range;
pub mod task;

pub use distribution::{Distribution, Normal, Phase, Sampler};
pub use mt19937::Mt19937;
pub use range::{Interval, Range, RangeError};
pub use task::{DataSet, Operation, TaskData, TaskError, TaskSpec};
