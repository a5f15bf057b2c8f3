//! Sampling distributions and the generation of one block of samples
//! (`tasks/docs/single-module-study.md` 1.3 and 2.2), consuming the random stream exactly
//! as the reference does.

use wide::f64x4;

use super::mt19937::Mt19937;
use super::normal::{ndtr, ndtri_in_place};
use super::range::{Interval, Range};

/// Mean and standard deviation of a normal distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normal {
    pub mean: f64,
    pub std: f64,
}

/// How the values of one interval are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// lo + (hi - lo) u.
    Uniform,
    /// A normal distribution truncated to the interval, by inversion; training and
    /// validation data use `interpolation`, test data `extrapolation`.
    TruncatedNormal {
        interpolation: Normal,
        extrapolation: Normal,
    },
    /// Integers whose leading digit follows Benford's law, the rest uniform.
    Benford,
    /// Exponential with the given scale, ignoring the interval (unused by the study).
    Exponential { scale: f64 },
}

/// Which data set a block belongs to (selects the truncated normal's parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Training and validation data.
    Interpolation,
    /// Test data.
    Extrapolation,
}

/// Benford's leading-digit probabilities for 1..9, as the reference lists them (they sum to
/// exactly 1 in f64).
const BENFORD: [f64; 9] = [
    0.301, 0.176, 0.125, 0.097, 0.079, 0.067, 0.058, 0.051, 0.046,
];

impl Distribution {
    /// A short label for plots, e.g. `B`, `TN(-1,3)`, `U`.
    pub fn label(&self) -> String {
        use super::range::number;
        match self {
            Distribution::Uniform => "U".into(),
            Distribution::TruncatedNormal {
                interpolation: n, ..
            } => {
                format!("TN({},{})", number(n.mean), number(n.std))
            }
            Distribution::Benford => "B".into(),
            Distribution::Exponential { scale } => format!("Exp({})", number(*scale)),
        }
    }
}

/// The command-line form: a family name and its parameters, as words
/// (`uniform`, `truncated-normal m_i s_i m_e s_e`, `exponential scale`, `benford`).
impl std::str::FromStr for Distribution {
    type Err = DistributionError;

    fn from_str(text: &str) -> Result<Self, DistributionError> {
        Distribution::from_words(text).map_err(DistributionError)
    }
}

/// A distribution that cannot be read from its command-line form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DistributionError(String);

impl Distribution {
    fn from_words(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some((&family, rest)) = words.split_first() else {
            return Err("empty distribution".into());
        };
        let numbers = rest
            .iter()
            .map(|w| {
                w.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("'{w}' is not a finite number"))
            })
            .collect::<Result<Vec<f64>, String>>()?;
        let arity = |n: usize| {
            if numbers.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "{family} takes {n} parameters, got {}",
                    numbers.len()
                ))
            }
        };
        match family.to_ascii_lowercase().as_str() {
            "uniform" => arity(0).map(|_| Distribution::Uniform),
            "benford" => arity(0).map(|_| Distribution::Benford),
            "exponential" => {
                arity(1)?;
                if numbers[0] <= 0.0 {
                    return Err(format!(
                        "exponential scale must be positive, got {}",
                        numbers[0]
                    ));
                }
                Ok(Distribution::Exponential { scale: numbers[0] })
            }
            "truncated-normal" => {
                arity(4)?;
                if numbers[1] <= 0.0 || numbers[3] <= 0.0 {
                    return Err("truncated-normal standard deviations must be positive".into());
                }
                Ok(Distribution::TruncatedNormal {
                    interpolation: Normal {
                        mean: numbers[0],
                        std: numbers[1],
                    },
                    extrapolation: Normal {
                        mean: numbers[2],
                        std: numbers[3],
                    },
                })
            }
            _ => Err(format!(
                "unknown family '{family}' (expected uniform, truncated-normal, exponential or benford)"
            )),
        }
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distribution::Uniform => f.write_str("uniform"),
            Distribution::Benford => f.write_str("benford"),
            Distribution::Exponential { scale } => write!(f, "exponential {scale}"),
            Distribution::TruncatedNormal {
                interpolation: i,
                extrapolation: e,
            } => write!(
                f,
                "truncated-normal {} {} {} {}",
                i.mean, i.std, e.mean, e.std
            ),
        }
    }
}

impl serde::Serialize for Distribution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Distribution {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Reusable buffers, so drawing a batch allocates nothing after the first.
#[derive(Clone, Debug, Default)]
pub struct Sampler {
    second: Vec<f64>,
    choices: Vec<u32>,
}

impl Sampler {
    /// Fills `out` (samples x `features`, row-major) from `range` with `distribution`.
    ///
    /// A union draws a full block for each interval and then one choice bit per element
    /// (1 picks the first interval); a split draws both blocks and takes the first
    /// floor(features / 2) features from the first.
    pub fn sample(
        &mut self,
        rng: &mut Mt19937,
        range: &Range,
        distribution: &Distribution,
        phase: Phase,
        features: usize,
        out: &mut [f64],
    ) {
        match range {
            Range::Single(interval) => self.block(rng, interval, distribution, phase, out),
            Range::Union(first, second) | Range::Split(first, second) => {
                self.block(rng, first, distribution, phase, out);
                let mut other = std::mem::take(&mut self.second);
                other.resize(out.len(), 0.0);
                self.block(rng, second, distribution, phase, &mut other);
                if let Range::Union(..) = range {
                    // one bounded draw in [0, 1] per element: with mask 1 nothing is ever
                    // rejected, so each is the low bit of one draw (1 keeps interval 0)
                    let mut choices = std::mem::take(&mut self.choices);
                    choices.resize(out.len(), 0);
                    rng.fill_u32(&mut choices);
                    for ((v, &o), &c) in out.iter_mut().zip(&other).zip(&choices) {
                        if c & 1 == 0 {
                            *v = o;
                        }
                    }
                    self.choices = choices;
                } else {
                    let half = features / 2;
                    for (row, o) in out
                        .chunks_exact_mut(features)
                        .zip(other.chunks_exact(features))
                    {
                        row[half..].copy_from_slice(&o[half..]);
                    }
                }
                self.second = other;
            }
        }
    }

    /// One block of values from one interval.
    fn block(
        &mut self,
        rng: &mut Mt19937,
        interval: &Interval,
        distribution: &Distribution,
        phase: Phase,
        out: &mut [f64],
    ) {
        let Interval { lo, hi } = *interval;
        match distribution {
            Distribution::Uniform => {
                // lo + width u, multiplied and added separately (no fused multiply-add) as
                // the reference rounds it
                let width = hi - lo;
                let (lo4, width4) = (f64x4::splat(lo), f64x4::splat(width));
                rng.fill_doubles_mapped(out, |u| lo4 + width4 * u, |u| lo + width * u);
            }
            Distribution::TruncatedNormal {
                interpolation,
                extrapolation,
            } => {
                let Normal { mean, std } = if phase == Phase::Interpolation {
                    *interpolation
                } else {
                    *extrapolation
                };
                rng.fill_doubles(out);
                let (alpha, beta) = ((lo - mean) / std, (hi - mean) / std);
                // scipy's truncnorm: through the survival function in the right tail
                let right = alpha > 0.0;
                let (at_beta, at_alpha) = if right {
                    (ndtr(-beta), ndtr(-alpha))
                } else {
                    (ndtr(beta), ndtr(alpha))
                };
                let z = |q: f64| {
                    let z = if right { -q } else { q };
                    z * std + mean
                };
                for v in out.iter_mut() {
                    *v = *v * at_beta + (1.0 - *v) * at_alpha;
                }
                ndtri_in_place(out);
                for v in out.iter_mut() {
                    *v = z(*v);
                }
            }
            Distribution::Benford => {
                rng.fill_doubles(out);
                let cumulative = benford_cdf();
                let (low, high) = ((lo / 10.0) as i64, (hi / 10.0) as i64);
                for v in out.iter_mut() {
                    let u = *v;
                    // the first digit whose cumulative share exceeds u, counted without
                    // branches (the shares rise, and the last is 1 > u)
                    let below = cumulative[..8]
                        .iter()
                        .map(|&c| i64::from(c <= u))
                        .sum::<i64>();
                    let digit = 1 + below;
                    *v = digit as f64; // the remainder follows once all digits are drawn
                }
                let mut draws = std::mem::take(&mut self.choices);
                draws.resize(out.len(), 0);
                rng.fill_bounded((high - low - 1) as u32, &mut draws);
                for (v, &draw) in out.iter_mut().zip(&draws) {
                    let remainder = low + i64::from(draw);
                    *v = (*v as i64 * 10i64.pow(decimal_width(remainder)) + remainder) as f64;
                }
                self.choices = draws;
            }
            Distribution::Exponential { scale } => {
                rng.fill_doubles(out);
                for v in out.iter_mut() {
                    *v = -(1.0 - *v).ln() * scale;
                }
            }
        }
    }
}

/// How many characters `n` takes in decimal (with its minus sign): the reference appends the
/// remainder's text to the leading digit.
fn decimal_width(n: i64) -> u32 {
    let digits = n.unsigned_abs().checked_ilog10().unwrap_or(0) + 1;
    digits + u32::from(n < 0)
}

/// The cumulative Benford probabilities, normalised by the last as NumPy's `choice` does.
fn benford_cdf() -> [f64; 9] {
    let mut cdf = [0.0; 9];
    let mut sum = 0.0;
    for (c, p) in cdf.iter_mut().zip(BENFORD) {
        sum += p;
        *c = sum;
    }
    let last = cdf[8];
    cdf.map(|c| c / last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_width_counts_the_characters_of_the_text() {
        for n in [
            0i64,
            1,
            9,
            10,
            99,
            100,
            12345,
            -1,
            -10,
            -999,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(decimal_width(n) as usize, n.to_string().len(), "{n}");
        }
    }
}
