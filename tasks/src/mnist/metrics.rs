//! The metrics of one split (`tasks/docs/mnist-task.md` section 7), from the network's outputs in evaluation mode.

use serde::{Deserialize, Serialize};

/// One split's metrics at one epoch; accuracies in percent of the samples. The last six, which
/// tell what the encoder reads (the digits, their mirror code 9 / digit, or one digit
/// throughout), are not the paper's; records made before them read them as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metrics {
    /// Infinite or NaN once a run explodes (written as "inf", "NaN" in JSON).
    #[serde(with = "crate::evaluate::float")]
    pub output_mse: f64,
    #[serde(with = "crate::evaluate::float")]
    pub label1_mse: f64,
    #[serde(with = "crate::evaluate::float")]
    pub label2_mse: f64,
    /// The output equal to the target (f32).
    pub output_accuracy: f64,
    /// A digit reading equal to its digit (f32): only when the softmax has saturated.
    pub label1_accuracy: f64,
    pub label2_accuracy: f64,
    pub output_rounded_accuracy: f64,
    pub label1_rounded_accuracy: f64,
    pub label2_rounded_accuracy: f64,
    /// The output equal to the target when both are rounded to 4 (5) decimal places.
    pub output_4dp_accuracy: f64,
    pub output_5dp_accuracy: f64,
    /// The left (right) reading decoded as 9 / reading, rounded, equal to its digit: the
    /// mirror solution, an encoder that reads each digit x as 9 / x under a head that divides
    /// the right reading by the left, (9 / b) / (9 / a) = a / b. (The encoder reads each half
    /// alone, so it cannot swap the two digits; a head that divides one reading by the other
    /// gets the quotient from readings x or 9 / x, the two codes that span the soft-argmax's
    /// [1, 9].)
    pub label1_mirror_rounded_accuracy: f64,
    pub label2_mirror_rounded_accuracy: f64,
    /// The digit the left (right) readings most often round to, the smallest on ties.
    pub label1_mode: f64,
    pub label2_mode: f64,
    /// The share of the left (right) readings that round to that digit: near 100% once the
    /// encoder reads one digit whatever the image.
    pub label1_mode_share: f64,
    pub label2_mode_share: f64,
}

impl Metrics {
    /// Every metric's name, in the order of [`Self::values`].
    pub const NAMES: [&'static str; 17] = [
        "output_mse",
        "label1_mse",
        "label2_mse",
        "output_accuracy",
        "label1_accuracy",
        "label2_accuracy",
        "output_rounded_accuracy",
        "label1_rounded_accuracy",
        "label2_rounded_accuracy",
        "output_4dp_accuracy",
        "output_5dp_accuracy",
        "label1_mirror_rounded_accuracy",
        "label2_mirror_rounded_accuracy",
        "label1_mode",
        "label2_mode",
        "label1_mode_share",
        "label2_mode_share",
    ];

    /// Every metric's value, in the order of [`Self::NAMES`].
    pub fn values(&self) -> [f64; 17] {
        [
            self.output_mse,
            self.label1_mse,
            self.label2_mse,
            self.output_accuracy,
            self.label1_accuracy,
            self.label2_accuracy,
            self.output_rounded_accuracy,
            self.label1_rounded_accuracy,
            self.label2_rounded_accuracy,
            self.output_4dp_accuracy,
            self.output_5dp_accuracy,
            self.label1_mirror_rounded_accuracy,
            self.label2_mirror_rounded_accuracy,
            self.label1_mode,
            self.label2_mode,
            self.label1_mode_share,
            self.label2_mode_share,
        ]
    }
}

/// The mirror code's numerator: a digit x read as 9 / x spans the same [1, 9].
pub const MIRROR: f32 = 9.0;

/// One metric read off a split's [`Metrics`].
pub type MetricOf = fn(&Metrics) -> f64;

/// Sums over the samples of a split, turned into [`Metrics`] at the end.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    count: usize,
    squares: [f64; 3],
    hits: [usize; 10],
    /// How many left (right) readings round to each digit 1..9.
    readings: [[usize; 9]; 2],
}

/// `round(v * 10^places) / 10^places` in f32, half to even, as the reference compares.
fn rounded(v: f32, places: i32) -> f32 {
    let scale = 10f32.powi(places);
    (v * scale).round_ties_even() / scale
}

impl Tally {
    /// One sample: the output `y` for target `t`, the readings `d1`, `d2` of digits `a`, `b`.
    pub fn add(&mut self, y: f32, t: f32, d1: f32, d2: f32, a: u8, b: u8) {
        let (a, b) = (f32::from(a), f32::from(b));
        self.count += 1;
        for (square, (v, w)) in self.squares.iter_mut().zip([(y, t), (d1, a), (d2, b)]) {
            let d = v - w;
            *square += f64::from(d * d);
        }
        let hits = [
            y == t,
            d1 == a,
            d2 == b,
            y.round_ties_even() == t,
            d1.round_ties_even() == a,
            d2.round_ties_even() == b,
            rounded(y, 4) == rounded(t, 4),
            rounded(y, 5) == rounded(t, 5),
            (MIRROR / d1).round_ties_even() == a,
            (MIRROR / d2).round_ties_even() == b,
        ];
        for (count, hit) in self.hits.iter_mut().zip(hits) {
            *count += usize::from(hit);
        }
        for (counts, d) in self.readings.iter_mut().zip([d1, d2]) {
            // a soft-argmax reads within [1, 9]; NaN counts as 1
            let digit = d.round_ties_even().clamp(1.0, 9.0) as usize;
            counts[digit.max(1) - 1] += 1;
        }
    }

    pub fn metrics(&self) -> Metrics {
        let n = self.count.max(1) as f64;
        let share = |i: usize| 100.0 * self.hits[i] as f64 / n;
        let [mode1, mode2] = self.readings.map(|counts| {
            // the first of the most frequent digits
            let (digit, count) =
                counts.iter().enumerate().fold(
                    (0, 0),
                    |best, (d, &c)| if c > best.1 { (d, c) } else { best },
                );
            ((digit + 1) as f64, 100.0 * count as f64 / n)
        });
        Metrics {
            output_mse: self.squares[0] / n,
            label1_mse: self.squares[1] / n,
            label2_mse: self.squares[2] / n,
            output_accuracy: share(0),
            label1_accuracy: share(1),
            label2_accuracy: share(2),
            output_rounded_accuracy: share(3),
            label1_rounded_accuracy: share(4),
            label2_rounded_accuracy: share(5),
            output_4dp_accuracy: share(6),
            output_5dp_accuracy: share(7),
            label1_mirror_rounded_accuracy: share(8),
            label2_mirror_rounded_accuracy: share(9),
            label1_mode: mode1.0,
            label2_mode: mode2.0,
            label1_mode_share: mode1.1,
            label2_mode_share: mode2.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_metric_counts_what_the_spec_says() {
        let mut tally = Tally::default();
        // exact: every accuracy hits
        tally.add(2.0 / 3.0, 2.0 / 3.0, 2.0, 3.0, 2, 3);
        // off by 3e-5: 4 d.p. hit, 5 d.p. miss; readings round to the digits
        tally.add(0.5 + 3e-5, 0.5, 1.2, 2.4, 1, 2);
        // far off
        tally.add(3.0, 1.0, 5.0, 5.1, 4, 4);
        let m = tally.metrics();
        let third = 100.0 / 3.0;
        assert_eq!(m.output_accuracy, third);
        assert_eq!(m.label1_accuracy, third);
        assert_eq!(m.output_4dp_accuracy, 2.0 * third);
        assert_eq!(m.output_5dp_accuracy, third);
        assert_eq!(m.label1_rounded_accuracy, 2.0 * third);
        assert_eq!(m.label2_rounded_accuracy, 2.0 * third);
        // round(y) == t only for whole quotients: none of these
        assert_eq!(m.output_rounded_accuracy, 0.0);
        let want = (f64::from(3e-5f32 + 0.5 - 0.5).powi(2) + 4.0) / 3.0;
        assert!((m.output_mse - want).abs() < 1e-9, "{}", m.output_mse);
        // decoded as 9 / d: left 4.5, 7.5, 1.8 round to 4, 8, 2 against 2, 1, 4: none; right
        // 3, 3.75, 1.76 to 3, 4, 2 against 3, 2, 4: the first
        assert_eq!(m.label1_mirror_rounded_accuracy, 0.0);
        assert_eq!(m.label2_mirror_rounded_accuracy, third);
        // left readings round to 2, 1, 5, one each: the tie goes to the smallest digit, 1, a
        // third; right readings 3, 2, 5 likewise to 2
        assert_eq!((m.label1_mode, m.label1_mode_share), (1.0, third));
        assert_eq!((m.label2_mode, m.label2_mode_share), (2.0, third));
    }

    #[test]
    fn a_mirror_encoder_and_a_constant_one_are_told_apart() {
        // the mirror solution: each digit x read as 9 / x (a little off), the right reading
        // divided by the left
        let mut mirror = Tally::default();
        for (a, b) in [(6u8, 3u8), (8, 2), (9, 3), (4, 4)] {
            let (d1, d2) = (9.0 / f32::from(a) + 0.01, 9.0 / f32::from(b) - 0.02);
            mirror.add(d2 / d1, f32::from(a) / f32::from(b), d1, d2, a, b);
        }
        let m = mirror.metrics();
        assert_eq!(m.label1_mirror_rounded_accuracy, 100.0);
        assert_eq!(m.label2_mirror_rounded_accuracy, 100.0);
        // as digits, only the 3s read right (9 / 3 = 3): the right digit of two pairs
        assert_eq!(m.label1_rounded_accuracy, 0.0);
        assert_eq!(m.label2_rounded_accuracy, 50.0);
        // readings of every image near 1: one digit throughout
        let mut constant = Tally::default();
        for (a, b) in [(6u8, 3u8), (8, 2), (9, 3), (4, 4)] {
            constant.add(1.0, f32::from(a) / f32::from(b), 1.02, 1.4, a, b);
        }
        let m = constant.metrics();
        assert_eq!((m.label1_mode, m.label1_mode_share), (1.0, 100.0));
        assert_eq!((m.label2_mode, m.label2_mode_share), (1.0, 100.0));
    }

    #[test]
    fn rounding_is_half_to_even_in_f32() {
        assert_eq!(rounded(0.12345, 4), 0.1234); // 1234.5 rounds to even
        assert_eq!(rounded(2.5, 0), 2.0);
    }
}
