//! Optimisers and gradient clipping over the flat parameter vector and its gradient
//! ([`Grads::params`](crate::Grads::params)).
//!
//! Update rules follow PyTorch's single-tensor implementations, including the order of the
//! float32 operations, so a run can be compared step by step with the reference code.

mod adam;
mod clip;
mod health;
mod sgd;

pub use adam::Adam;
pub use clip::clip_grad_norm;
pub use health::{GradientHealth, GradientTracker};
pub use sgd::Sgd;

/// An optimiser that updates parameters in place from their gradients.
pub trait Optimizer {
    /// One update step.
    fn step(&mut self, params: &mut [f32], grads: &[f32]);
    /// Forgets all state (moments, step count).
    fn reset(&mut self);
}
