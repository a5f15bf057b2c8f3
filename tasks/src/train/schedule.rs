//! The regulariser schedules of the training loop (`modules/README.md` section 6): the
//! window s_W that ramps the main regulariser in, and the stepped beta of the Lp term.

use serde::{Deserialize, Serialize};

/// How s_W(i) grows from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Window {
    /// max(0, min(1, (i - start) / (end - start))).
    Linear { start: u64, end: u64 },
    /// 1 - exp(-1e-5 i) (available in the reference, unused by the study).
    Exp,
}

impl Window {
    /// s_W at iteration `i`, in f64 as the reference forms it.
    pub fn at(&self, i: u64) -> f64 {
        match *self {
            Window::Linear { start, end } => {
                let ramp = (i as f64 - start as f64) / (end as f64 - start as f64);
                ramp.clamp(0.0, 1.0)
            }
            Window::Exp => 1.0 - (-1e-5 * i as f64).exp(),
        }
    }
}

/// The settings of the beta schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BetaSettings {
    pub start: f64,
    pub end: f64,
    /// Beta moves only at positive multiples of `step`.
    pub step: u64,
    /// The factor of one move.
    pub growth: u32,
}

/// The beta schedule's state: beta = start * growth^k, held as the exponent k so that it
/// stays an exact decimal, as the reference's `Decimal` arithmetic keeps it.
#[derive(Clone, Debug)]
pub struct Beta {
    settings: BetaSettings,
    /// The start value's shortest decimal digits and exponent (value = digits * 10^exponent).
    digits: u128,
    exponent: i32,
    k: i32,
    value: f64,
}

impl Beta {
    pub fn new(settings: BetaSettings) -> Beta {
        let (digits, exponent) = shortest_decimal(settings.start);
        Beta {
            settings,
            digits,
            exponent,
            k: 0,
            value: settings.start,
        }
    }

    /// Moves beta for iteration `i` (before the loss is formed) and returns its value.
    ///
    /// Beta moves toward `end` while it has not reached it: times growth from below,
    /// divided by growth from above. When end / start is not a power of growth this
    /// oscillates around `end`, as the reference does.
    pub fn advance(&mut self, i: u64) -> f64 {
        let s = self.settings;
        if i != 0 && i.is_multiple_of(s.step) {
            if self.value < s.end {
                self.k += 1;
            } else if self.value > s.end {
                self.k -= 1;
            }
            self.value = self.exact();
        }
        self.value
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    /// The double nearest to start * growth^k.
    fn exact(&self) -> f64 {
        scaled_decimal(
            self.digits,
            self.exponent,
            self.settings.growth,
            self.k,
            self.settings.start,
        )
    }
}

/// The shortest decimal that reads back as `v` (Python's `str(float)`), as integer digits
/// and a power of ten.
fn shortest_decimal(v: f64) -> (u128, i32) {
    let text = format!("{:e}", v.abs());
    let (mantissa, exponent) = text.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u128 = format!("{whole}{fraction}")
        .parse()
        .expect("decimal digits");
    (digits, exponent - fraction.len() as i32)
}

/// The double nearest to digits * 10^exponent * growth^k (exact for every schedule the
/// integers can hold; beyond that, the f64 product).
fn scaled_decimal(digits: u128, exponent: i32, growth: u32, k: i32, start: f64) -> f64 {
    let fallback = || start * f64::from(growth).powi(k);
    let Some(power) = u128::from(growth).checked_pow(k.unsigned_abs()) else {
        return fallback();
    };
    if k >= 0 {
        return match digits.checked_mul(power) {
            Some(n) => format!("{n}e{exponent}").parse().expect("decimal"),
            None => fallback(),
        };
    }
    // digits / power by long division to 40 significant digits, with a sticky final digit so
    // that the parse rounds exactly as the true quotient would.
    let mut text = (digits / power).to_string();
    let mut remainder = digits % power;
    let mut fraction = 0i32;
    while remainder != 0 && text.trim_start_matches('0').len() < 40 {
        let Some(r) = remainder.checked_mul(10) else {
            return fallback();
        };
        text.push(char::from(b'0' + (r / power) as u8));
        remainder = r % power;
        fraction += 1;
    }
    if remainder != 0 {
        text.push('1');
        fraction += 1;
    }
    format!("{text}e{}", exponent - fraction)
        .parse()
        .expect("decimal")
}

/// How the W-NPU and g-NPU terms are scaled: by beta ("heim") or by s_W ("madsen").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleType {
    Heim,
    Madsen,
}

modules::named_enum!(ScaleType {
    Heim = "heim",
    Madsen = "madsen",
});

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_beta() -> Beta {
        Beta::new(BetaSettings {
            start: 1e-9,
            end: 1e-7,
            step: 10_000,
            growth: 10,
        })
    }

    #[test]
    fn linear_window_ramps_between_its_ends() {
        let w = Window::Linear {
            start: 20_000,
            end: 35_000,
        };
        assert_eq!(w.at(0), 0.0);
        assert_eq!(w.at(20_000), 0.0);
        assert_eq!(w.at(27_500), 0.5);
        assert_eq!(w.at(35_000), 1.0);
        assert_eq!(w.at(50_000), 1.0);
        assert_eq!(w.at(21_000), 1_000.0 / 15_000.0);
    }

    #[test]
    fn exp_window() {
        assert_eq!(Window::Exp.at(0), 0.0);
        assert_eq!(Window::Exp.at(100_000), 1.0 - (-1.0f64).exp());
    }

    #[test]
    fn paper_beta_steps_through_exact_powers_of_ten() {
        // the beta sweep's (1e-11, 1e-9): repeated f64 products would give 9.999999999999999e-11
        let mut beta = Beta::new(BetaSettings {
            start: 1e-11,
            end: 1e-9,
            step: 10_000,
            growth: 10,
        });
        let mut seen = Vec::new();
        for i in 0..=50_000 {
            let b = beta.advance(i);
            if seen.last() != Some(&b) {
                seen.push(b);
                assert!(i % 10_000 == 0, "beta moved at {i}");
            }
        }
        assert_eq!(seen, vec![1e-11, 1e-10, 1e-9]);
        assert_ne!(1e-11 * 10.0, 1e-10);
    }

    #[test]
    fn beta_schedule_values_at_the_boundaries() {
        let mut beta = paper_beta();
        let at: Vec<f64> = (0..=30_000).map(|i| beta.advance(i)).collect();
        assert_eq!(at[9_999], 1e-9);
        assert_eq!(at[10_000], 1e-8);
        assert_eq!(at[19_999], 1e-8);
        assert_eq!(at[20_000], 1e-7);
        assert_eq!(at[30_000], 1e-7);
    }

    #[test]
    fn decreasing_beta_divides_exactly() {
        let mut beta = Beta::new(BetaSettings {
            start: 1e-3,
            end: 1e-5,
            step: 10,
            growth: 10,
        });
        let values: Vec<f64> = (0..=40).step_by(10).map(|i| beta.advance(i)).collect();
        assert_eq!(values, vec![1e-3, 1e-4, 1e-5, 1e-5, 1e-5]);
    }

    #[test]
    fn unreachable_end_oscillates_as_the_reference_does() {
        let mut beta = Beta::new(BetaSettings {
            start: 1e-5,
            end: 5e-4,
            step: 1,
            growth: 10,
        });
        let values: Vec<f64> = (0..=5).map(|i| beta.advance(i)).collect();
        assert_eq!(values, vec![1e-5, 1e-4, 1e-3, 1e-4, 1e-3, 1e-4]);
    }

    #[test]
    fn division_by_a_non_decimal_growth_rounds_to_nearest() {
        // 1 / 3 and 1 / 7 to the nearest double
        assert_eq!(scaled_decimal(1, 0, 3, -1, 1.0), 1.0 / 3.0);
        assert_eq!(scaled_decimal(1, 0, 7, -2, 1.0), 1.0 / 49.0);
        assert_eq!(scaled_decimal(25, -1, 2, 3, 2.5), 20.0);
        assert_eq!(shortest_decimal(1e-9), (1, -9));
        assert_eq!(shortest_decimal(0.1 + 0.2), (30000000000000004, -17));
    }
}
