//! The 81 ordered digit pairs (a, b), a and b in 1..9, and the fixed split of the pairs into
//! ten folds (`tasks/docs/mnist-task.md` section 3: scikit-learn's `KFold(10, shuffle=True)` seeded with a fresh
//! `RandomState(0)`, hard-coded rather than reproduced).

/// A digit pair: the left digit a, the right digit b; the target is a / b.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    pub a: u8,
    pub b: u8,
}

impl Pair {
    /// The quotient a / b, formed in f64 and stored as f32.
    pub fn target(self) -> f32 {
        (f64::from(self.a) / f64::from(self.b)) as f32
    }
}

/// Number of folds.
pub const FOLDS: usize = 10;

/// The held-out pairs of each fold, as "ab" (left digit, right digit).
const HELD_OUT: [&[u8]; FOLDS] = [
    &[25, 35, 41, 44, 69, 72, 78, 89, 93],
    &[13, 39, 47, 57, 64, 66, 74, 92],
    &[14, 18, 55, 56, 84, 87, 95, 99],
    &[15, 17, 19, 29, 58, 76, 81, 91],
    &[22, 23, 36, 42, 48, 53, 71, 73],
    &[12, 26, 45, 46, 61, 68, 86, 97],
    &[11, 31, 32, 37, 43, 49, 65, 77],
    &[16, 27, 28, 33, 67, 79, 94, 98],
    &[24, 38, 52, 54, 62, 75, 83, 88],
    &[21, 34, 51, 59, 63, 82, 85, 96],
];

/// All 81 pairs in the documented order: 11, 12, ..., 19, 21, ..., 99.
pub fn all_pairs() -> Vec<Pair> {
    (1..=9)
        .flat_map(|a| (1..=9).map(move |b| Pair { a, b }))
        .collect()
}

/// The train pairs and the held-out (test) pairs of `fold`, each in the documented order.
///
/// # Panics
/// If `fold` is not below [`FOLDS`].
pub fn split(fold: usize) -> (Vec<Pair>, Vec<Pair>) {
    assert!(fold < FOLDS, "fold {fold} of {FOLDS}");
    let held: Vec<Pair> = HELD_OUT[fold]
        .iter()
        .map(|&ab| Pair {
            a: ab / 10,
            b: ab % 10,
        })
        .collect();
    let train = all_pairs()
        .into_iter()
        .filter(|p| !held.contains(p))
        .collect();
    (train, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folds_hold_out_every_pair_once_with_the_spec_counts() {
        let mut held: Vec<Pair> = Vec::new();
        for fold in 0..FOLDS {
            let (train, test) = split(fold);
            assert_eq!(test.len(), if fold == 0 { 9 } else { 8 }, "fold {fold}");
            assert_eq!(train.len() + test.len(), 81);
            // every digit still appears on both sides among the train pairs
            for d in 1..=9 {
                assert!(train.iter().any(|p| p.a == d) && train.iter().any(|p| p.b == d));
            }
            held.extend(test);
        }
        held.sort();
        assert_eq!(held, all_pairs());
        assert_eq!(split(0).1[0], Pair { a: 2, b: 5 });
        assert_eq!(Pair { a: 9, b: 3 }.target(), 3.0);
        assert_eq!(Pair { a: 1, b: 3 }.target(), (1.0f64 / 3.0) as f32);
    }
}
