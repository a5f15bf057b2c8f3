//! Gradient health over a stretch of training: the largest gradient norm, the largest |g|
//! and the number of non-finite gradient entries, gathered in one pass per step.

/// The gradients of the steps since the last [`GradientTracker::take`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GradientHealth {
    /// The largest 2-norm of one step's gradient (before any clipping); NaN norms are left
    /// out (they are counted in `non_finite`).
    pub norm: f32,
    /// The largest |g| of any entry (infinite entries included).
    pub largest: f32,
    /// Entries that were NaN or infinite.
    pub non_finite: u64,
}

/// What [`GradientTracker`] keeps between rows: the squared norm, so that a step costs one
/// fused multiply-add and one maximum per entry and no square root.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GradientTracker {
    squared_norm: f32,
    largest: f32,
    non_finite: u64,
}

impl GradientTracker {
    /// Folds in one step's gradient; true if some entry is NaN or infinite.
    #[inline(always)]
    pub fn observe(&mut self, grads: &[f32]) -> bool {
        let (mut squares, mut largest) = (0.0f32, self.largest);
        for &g in grads {
            squares = g.mul_add(g, squares);
            largest = largest.max(g.abs());
        }
        self.largest = largest;
        if squares.is_finite() {
            self.squared_norm = self.squared_norm.max(squares);
            false
        } else {
            self.count_non_finite(grads)
        }
    }

    /// The rare step whose sum of squares is not finite: a NaN or infinite entry, or finite
    /// entries whose squares overflow.
    #[cold]
    fn count_non_finite(&mut self, grads: &[f32]) -> bool {
        let bad = grads.iter().filter(|g| !g.is_finite()).count() as u64;
        if bad == 0 {
            self.squared_norm = f32::INFINITY;
        }
        self.non_finite += bad;
        bad > 0
    }

    /// The health gathered so far, starting afresh.
    pub fn take(&mut self) -> GradientHealth {
        let t = std::mem::take(self);
        GradientHealth {
            norm: t.squared_norm.sqrt(),
            largest: t.largest,
            non_finite: t.non_finite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_maxima_and_non_finite_entries_accumulate_until_taken() {
        let mut h = GradientTracker::default();
        assert!(!h.observe(&[3.0, 4.0]));
        assert!(h.observe(&[1.0, f32::NAN, -f32::INFINITY]));
        assert!(!h.observe(&[0.5]));
        let taken = h.take();
        assert_eq!(taken.norm, 5.0);
        assert_eq!(taken.largest, f32::INFINITY);
        assert_eq!(taken.non_finite, 2);
        assert_eq!(h, GradientTracker::default());
        // finite entries whose squares overflow: an infinite norm, nothing non-finite
        assert!(!h.observe(&[3e20, 1.0]));
        let taken = h.take();
        assert_eq!(
            (taken.norm, taken.largest, taken.non_finite),
            (f32::INFINITY, 3e20, 0)
        );
    }
}
