//! The gradient stability lab (`nalm grad-stability`): how healthy each division model's
//! training-loss gradients are across the study's input settings.
//!
//! For every (model, setting) cell, many points are sampled: one training sample from the
//! setting's input distribution, and parameters from the unit's initialisation (or from real
//! training runs). At each point the gradient of the training loss with respect to every
//! parameter and every input is computed twice, on the f32 tape training uses and from the
//! closed form of `modules/README.md` in f64 ([`probe`]), and the cell counts non-finite, exploding and
//! vanishing entries and measures the f32 error ([`health`]). The worst points are kept with
//! their exact inputs and parameters, as `nalm grad-audit` commands that replay them
//! ([`lab`]); [`heatmap`] draws the headline indicators.
//!
//! [`landscape`] evaluates the training loss over a line or plane of parameters
//! (`nalm landscape`), drawn with [`contour`] lines by [`landscape_figure`].
//!
//! Gradients are those before any gradient-norm clipping: clipping rescales a finite
//! gradient and cannot repair a non-finite one.

pub mod contour;
pub mod health;
pub mod heatmap;
pub mod lab;
pub mod landscape;
pub mod landscape_figure;
pub mod probe;

pub use health::Health;
pub use lab::{Cell, CellPlan, DEFAULT_MODELS, LabModel, ParamSource, Worst, measure_all};
pub use probe::Probe;
