//! Range arguments: `[lo, hi]`, the union `[[l0, h0], [l1, h1]]` and the split
//! `[[l0, h0], [l1, h1], []]` (`tasks/docs/single-module-study.md` 1.2).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// One interval [lo, hi).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// Where the elements of a batch come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    /// Every element from one interval.
    Single(Interval),
    /// Every element from one of two equally wide intervals, each with probability 1/2.
    Union(Interval, Interval),
    /// Elements of the first floor(n/2) features from the first interval, the rest from the
    /// second.
    Split(Interval, Interval),
}

/// Why a range argument was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "not a range: expected [lo, hi], [[l0, h0], [l1, h1]] or [[l0, h0], [l1, h1], []] ({0})"
    )]
    Malformed(String),
    #[error("interval [{lo}, {hi}] is empty: lo must be below hi")]
    Empty { lo: f64, hi: f64 },
    #[error("the two intervals must be equally wide, got widths {0} and {1}")]
    UnequalWidths(f64, f64),
    #[error("bound {0} lies beyond the largest f32 (about 3.4e38): the inputs are f32")]
    BeyondF32(f64),
    #[error(
        "the union's intervals [{}, {}] and [{}, {}] overlap: a union draws from two separate intervals",
        .0.lo, .0.hi, .1.lo, .1.hi
    )]
    Overlapping(Interval, Interval),
}

fn interval(value: &Value) -> Result<Interval, RangeError> {
    let malformed = || RangeError::Malformed(format!("{value} is not [lo, hi]"));
    let items = value.as_array().ok_or_else(malformed)?;
    let [lo, hi] = items.as_slice() else {
        return Err(malformed());
    };
    let (lo, hi) = (
        lo.as_f64().ok_or_else(malformed)?,
        hi.as_f64().ok_or_else(malformed)?,
    );
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(malformed());
    }
    if let Some(&beyond) = [lo, hi].iter().find(|v| v.abs() > f64::from(f32::MAX)) {
        return Err(RangeError::BeyondF32(beyond));
    }
    if lo >= hi {
        return Err(RangeError::Empty { lo, hi });
    }
    Ok(Interval { lo, hi })
}

fn pair(first: &Value, second: &Value) -> Result<(Interval, Interval), RangeError> {
    let (a, b) = (interval(first)?, interval(second)?);
    // compared in f64, as the reference does
    if a.width() != b.width() {
        return Err(RangeError::UnequalWidths(a.width(), b.width()));
    }
    Ok((a, b))
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, RangeError> {
        let value: Value =
            serde_json::from_str(text.trim()).map_err(|e| RangeError::Malformed(e.to_string()))?;
        let items = value
            .as_array()
            .ok_or_else(|| RangeError::Malformed(format!("{value} is not a list")))?;
        match items.as_slice() {
            [lo, _] if lo.is_number() => interval(&value).map(Range::Single),
            [first, second] => {
                let (a, b) = pair(first, second)?;
                if a.lo < b.hi && b.lo < a.hi {
                    return Err(RangeError::Overlapping(a, b));
                }
                Ok(Range::Union(a, b))
            }
            [first, second, marker] if marker.as_array().is_some_and(Vec::is_empty) => {
                pair(first, second).map(|(a, b)| Range::Split(a, b))
            }
            _ => Err(RangeError::Malformed(format!("{value}"))),
        }
    }
}

/// A number as the study's labels print it: integers without a decimal point.
pub fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Range {
    /// The lowest value the range can draw.
    pub fn lowest(&self) -> f64 {
        match self {
            Range::Single(i) => i.lo,
            Range::Union(a, b) | Range::Split(a, b) => a.lo.min(b.lo),
        }
    }

    /// The label of the study's plots: `U[lo,hi]`, or `U[l0,h0] & U[l1,h1]` for both unions
    /// and splits (the plots do not tell them apart).
    pub fn label(&self) -> String {
        let one = |i: &Interval| format!("U[{},{}]", number(i.lo), number(i.hi));
        match self {
            Range::Single(i) => one(i),
            Range::Union(a, b) | Range::Split(a, b) => format!("{} & {}", one(a), one(b)),
        }
    }

    /// The range in the notation it is parsed from.
    pub fn notation(&self) -> String {
        let one = |i: &Interval| format!("[{},{}]", number(i.lo), number(i.hi));
        match self {
            Range::Single(i) => one(i),
            Range::Union(a, b) => format!("[{},{}]", one(a), one(b)),
            Range::Split(a, b) => format!("[{},{},[]]", one(a), one(b)),
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.notation())
    }
}

impl serde::Serialize for Range {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.notation())
    }
}

impl<'de> serde::Deserialize<'de> for Range {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_shapes() {
        assert_eq!(
            "[1,2]".parse(),
            Ok(Range::Single(Interval { lo: 1.0, hi: 2.0 }))
        );
        assert_eq!(
            "[[-6,-2],[2,6]]".parse(),
            Ok(Range::Union(
                Interval { lo: -6.0, hi: -2.0 },
                Interval { lo: 2.0, hi: 6.0 }
            ))
        );
        assert_eq!(
            " [[-2,-0.1], [0.1,2], []] ".parse(),
            Ok(Range::Split(
                Interval { lo: -2.0, hi: -0.1 },
                Interval { lo: 0.1, hi: 2.0 }
            ))
        );
    }

    #[test]
    fn rejects_bad_ranges_with_a_reason() {
        assert_eq!(
            "[2,1]".parse::<Range>(),
            Err(RangeError::Empty { lo: 2.0, hi: 1.0 })
        );
        assert_eq!(
            "[1,1]".parse::<Range>(),
            Err(RangeError::Empty { lo: 1.0, hi: 1.0 })
        );
        assert_eq!(
            "[[-6,-2],[2,7]]".parse::<Range>(),
            Err(RangeError::UnequalWidths(4.0, 5.0))
        );
        // inputs are f32: bounds beyond it would be infinite inputs (or an infinite width)
        assert_eq!(
            "[1e39,1e40]".parse::<Range>(),
            Err(RangeError::BeyondF32(1e39))
        );
        assert_eq!(
            "[-1e308,1e308]".parse::<Range>(),
            Err(RangeError::BeyondF32(-1e308))
        );
        assert!("[-3e38,3e38]".parse::<Range>().is_ok());
        // a union of overlapping intervals; a split may overlap (its features are apart)
        assert!(matches!(
            "[[1,3],[2,4]]".parse::<Range>(),
            Err(RangeError::Overlapping(..))
        ));
        assert!("[[1,3],[3,5]]".parse::<Range>().is_ok());
        assert!("[[1,3],[2,4],[]]".parse::<Range>().is_ok());
        for bad in [
            "",
            "1,2",
            "[1]",
            "[1,2,3]",
            "[[1,2],[3,4],[5]]",
            "[a,b]",
            "[[1,2]]",
            "{\"lo\":1}",
        ] {
            assert!(
                matches!(bad.parse::<Range>(), Err(RangeError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_as_the_plots_print_them() {
        assert_eq!("[-20,-10]".parse::<Range>().unwrap().label(), "U[-20,-10]");
        assert_eq!("[1.1,1.2]".parse::<Range>().unwrap().label(), "U[1.1,1.2]");
        assert_eq!(
            "[[-6,-2],[2,6]]".parse::<Range>().unwrap().label(),
            "U[-6,-2] & U[2,6]"
        );
        assert_eq!("[0,1e-4]".parse::<Range>().unwrap().label(), "U[0,0.0001]");
        assert_eq!(
            "[[2,6],[-6,-2],[]]".parse::<Range>().unwrap().notation(),
            "[[2,6],[-6,-2],[]]"
        );
    }
}
