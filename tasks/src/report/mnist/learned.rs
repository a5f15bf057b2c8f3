//! What a run of the MNIST task learned, read from its digit readings at the chosen epoch:
//! the digits (the gold solution, d1 / d2), each digit x as 9 / x under a head that divides
//! the right reading by the left (the mirror solution, which the quotient alone cannot tell
//! from the gold one), one digit whatever the image (a collapse), or none of these.

use crate::mnist::metrics::Metrics;

/// The share of readings, in percent, that must round to their digit for a run to count as
/// reading the digits; the encoder of the fixed DIV head reads well above it.
pub const READS_DIGITS: f64 = 50.0;
/// The share of readings, in percent, that must round to one digit for a reading to count
/// as collapsed.
pub const COLLAPSED: f64 = 90.0;

/// What a run learned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Solution {
    /// The readings round to the digits (`accuracy`: the mean of the two rounded label
    /// accuracies).
    Gold { accuracy: f64 },
    /// The readings decoded as 9 / reading round to the digits.
    Mirror { accuracy: f64 },
    /// Both readings round to one digit each whatever the image.
    Collapsed {
        digits: (f64, f64),
        shares: (f64, f64),
    },
    /// A record made before the mirror code and the commonest readings were measured, whose
    /// readings are not the digits: what it learned cannot be told.
    Unmeasured { direct: f64 },
    /// Neither: the shares read as digits and as their mirror code, and the readings' mode
    /// shares.
    Neither {
        direct: f64,
        mirror: f64,
        shares: (f64, f64),
    },
}

impl Solution {
    /// The solution the readings of `m` (one split at one epoch) show.
    pub fn of(m: &Metrics) -> Solution {
        let direct = digits_read(m);
        let mirror = digits_read_mirrored(m);
        let shares = (m.label1_mode_share, m.label2_mode_share);
        // a soft-argmax reading rounds to a digit 1..9: 0 means not measured
        let measured = m.label1_mode != 0.0;
        if direct >= READS_DIGITS && direct >= mirror {
            Solution::Gold { accuracy: direct }
        } else if !measured {
            Solution::Unmeasured { direct }
        } else if mirror >= READS_DIGITS {
            Solution::Mirror { accuracy: mirror }
        } else if shares.0 >= COLLAPSED && shares.1 >= COLLAPSED {
            Solution::Collapsed {
                digits: (m.label1_mode, m.label2_mode),
                shares,
            }
        } else {
            Solution::Neither {
                direct,
                mirror,
                shares,
            }
        }
    }

    /// One word for tables.
    pub fn name(&self) -> &'static str {
        match self {
            Solution::Gold { .. } => "gold",
            Solution::Mirror { .. } => "mirror",
            Solution::Collapsed { .. } => "collapsed",
            Solution::Unmeasured { .. } => "unmeasured",
            Solution::Neither { .. } => "neither",
        }
    }

    /// The solution with the numbers behind it.
    pub fn describe(&self) -> String {
        match *self {
            Solution::Gold { accuracy } => format!("gold: digits read {accuracy:.1}%"),
            Solution::Mirror { accuracy } => {
                format!("mirror: digits read as 9 / digit {accuracy:.1}%")
            }
            Solution::Collapsed { digits, shares } => format!(
                "collapsed: reads {} ({:.0}%) and {} ({:.0}%)",
                digits.0, shares.0, digits.1, shares.1
            ),
            Solution::Unmeasured { direct } => format!(
                "unmeasured: digits read {direct:.1}%; the record predates the mirror and \
                 collapse metrics"
            ),
            Solution::Neither {
                direct,
                mirror,
                shares,
            } => format!(
                "neither: digits read {direct:.1}%, as 9 / digit {mirror:.1}%, commonest readings \
                 {:.0}% and {:.0}%",
                shares.0, shares.1
            ),
        }
    }
}

/// The mean of the two rounded label accuracies: the digits read right.
pub fn digits_read(m: &Metrics) -> f64 {
    (m.label1_rounded_accuracy + m.label2_rounded_accuracy) / 2.0
}

/// The same through the mirror code: readings decoded as 9 / reading.
pub fn digits_read_mirrored(m: &Metrics) -> f64 {
    (m.label1_mirror_rounded_accuracy + m.label2_mirror_rounded_accuracy) / 2.0
}

/// The digits read right in either code: the better of the two.
pub fn digits_read_either_code(m: &Metrics) -> f64 {
    digits_read(m).max(digits_read_mirrored(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(direct: (f64, f64), mirror: (f64, f64), shares: (f64, f64)) -> Metrics {
        Metrics {
            label1_rounded_accuracy: direct.0,
            label2_rounded_accuracy: direct.1,
            label1_mirror_rounded_accuracy: mirror.0,
            label2_mirror_rounded_accuracy: mirror.1,
            label1_mode: 1.0,
            label2_mode: 2.0,
            label1_mode_share: shares.0,
            label2_mode_share: shares.1,
            ..Metrics::default()
        }
    }

    #[test]
    fn each_solution_is_told_by_its_readings() {
        let gold = Solution::of(&readings((97.0, 95.0), (12.0, 11.0), (12.0, 12.0)));
        assert_eq!(gold, Solution::Gold { accuracy: 96.0 });
        let mirror = Solution::of(&readings((12.0, 10.0), (90.0, 80.0), (12.0, 12.0)));
        assert_eq!(mirror, Solution::Mirror { accuracy: 85.0 });
        assert_eq!(mirror.name(), "mirror");
        // every image read as 1 on the left and 2 on the right
        let collapsed = Solution::of(&readings((11.0, 11.0), (11.0, 11.0), (99.0, 95.0)));
        assert_eq!(collapsed.describe(), "collapsed: reads 1 (99%) and 2 (95%)");
        // one side collapsed, the other not: neither
        let neither = Solution::of(&readings((30.0, 11.0), (11.0, 20.0), (99.0, 40.0)));
        assert_eq!(neither.name(), "neither");
        // a record from before the mirror and collapse metrics: gold shows, the rest cannot
        let old = Metrics {
            label1_rounded_accuracy: 11.0,
            label2_rounded_accuracy: 11.0,
            ..Metrics::default()
        };
        assert_eq!(Solution::of(&old), Solution::Unmeasured { direct: 11.0 });
        let old_gold = Metrics {
            label1_rounded_accuracy: 95.0,
            label2_rounded_accuracy: 93.0,
            ..Metrics::default()
        };
        assert_eq!(Solution::of(&old_gold), Solution::Gold { accuracy: 94.0 });
        assert_eq!(
            digits_read_either_code(&readings((30.0, 11.0), (60.0, 80.0), (0.0, 0.0))),
            70.0
        );
    }
}
