//! JSON for floats that may be NaN or infinite (a diverged or exploding run, a loss before
//! the first step): finite values as numbers, the others as the strings "NaN", "inf" and
//! "-inf" (JSON has no such numbers, and serde_json would write them as null, which does not
//! read back). Binary formats keep the plain value. For f32 and f64 fields: `#[serde(with = "crate::evaluate::float")]`.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A float type that can stand for the three special values.
pub trait Float: Copy + Serialize + DeserializeOwned {
    const NAN: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn is_sign_positive(self) -> bool;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            const NAN: $t = <$t>::NAN;
            const INFINITY: $t = <$t>::INFINITY;
            const NEG_INFINITY: $t = <$t>::NEG_INFINITY;
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn is_sign_positive(self) -> bool {
                <$t>::is_sign_positive(self)
            }
        }
    };
}
float!(f32);
float!(f64);

pub fn serialize<T: Float, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    let v = *v;
    // binary formats (checkpoints) hold every float as its bits
    if v.is_finite() || !s.is_human_readable() {
        v.serialize(s)
    } else if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_sign_positive() {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stored<T> {
    Number(T),
    Text(String),
}

pub fn deserialize<'de, T: Float, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    if !d.is_human_readable() {
        return T::deserialize(d);
    }
    match Stored::<T>::deserialize(d)? {
        Stored::Number(v) => Ok(v),
        Stored::Text(t) => match t.as_str() {
            "NaN" => Ok(T::NAN),
            "inf" => Ok(T::INFINITY),
            "-inf" => Ok(T::NEG_INFINITY),
            _ => Err(D::Error::custom(format!("not a number: {t}"))),
        },
    }
}

/// The same for a list of values (parameters of a diverged run are NaN).
pub mod list {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    use super::Float;

    #[derive(serde::Serialize)]
    #[serde(bound = "")]
    struct Item<T: Float>(#[serde(with = "super")] T);

    #[derive(Deserialize)]
    #[serde(bound = "")]
    struct Stored<T: Float>(#[serde(with = "super")] T);

    pub fn serialize<T: Float, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(values.len()))?;
        for &v in values {
            seq.serialize_element(&Item(v))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, T: Float, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Vec::<Stored<T>>::deserialize(d)?
            .into_iter()
            .map(|s| s.0)
            .collect())
    }
}

/// The same for an optional value (with `default` and `skip_serializing_if =
/// "Option::is_none"`).
pub mod option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Float;

    #[derive(Serialize, Deserialize)]
    #[serde(bound = "")]
    struct Item<T: Float>(#[serde(with = "super")] T);

    pub fn serialize<T: Float, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Item).serialize(s)
    }

    pub fn deserialize<'de, T: Float, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        Ok(Option::<Item<T>>::deserialize(d)?.map(|i| i.0))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Both {
        #[serde(with = "super")]
        single: f32,
        #[serde(with = "super")]
        double: f64,
        #[serde(with = "super::list")]
        list: Vec<f64>,
    }

    #[test]
    fn special_values_round_trip_as_strings_and_numbers_exactly() {
        let cases = [
            (
                f32::NAN,
                f64::INFINITY,
                vec![f64::NEG_INFINITY, 0.1, f64::NAN],
            ),
            (0.1f32, 1e-300, vec![f64::MAX, -0.0]),
        ];
        for (single, double, list) in cases {
            let value = Both {
                single,
                double,
                list,
            };
            let json = serde_json::to_string(&value).unwrap();
            assert!(!json.contains("null"), "{json}");
            let back: Both = serde_json::from_str(&json).unwrap();
            assert_eq!(back.single.to_bits(), value.single.to_bits(), "{json}");
            assert_eq!(back.double.to_bits(), value.double.to_bits(), "{json}");
            let bits = |l: &[f64]| l.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back.list), bits(&value.list), "{json}");
        }
        assert!(serde_json::from_str::<Both>(r#"{"single":"many","double":1,"list":[]}"#).is_err());
    }
}
