//! Training: settings and presets, the regulariser schedules, the compiled model and its
//! update step, and the training loop.

pub mod changes;
pub mod health;
mod model;
pub mod preset;
pub mod replay;
pub mod run;
pub mod schedule;
pub mod settings;

pub use changes::{ChangeError, Changes, apply};
pub use model::{Model, OptimizerKind};
pub use run::{Progress, Run, RunError, RunRecord, Tensor, data_key, train_together, training_key};
pub use settings::{Settings, SettingsError};
