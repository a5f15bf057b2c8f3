//! JSON for f32 values that may be NaN or infinite (a diverged or exploding run): finite
//! values as numbers, the others as the strings "NaN", "inf" and "-inf".

use serde::{Deserialize, Deserializer, Serializer, de::Error};

pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f32(*v)
    } else if v.is_nan() {
        s.serialize_str("NaN")
    } else if *v > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Number(f32),
    Text(String),
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    match Stored::deserialize(d)? {
        Stored::Number(v) => Ok(v),
        Stored::Text(t) => match t.as_str() {
            "NaN" => Ok(f32::NAN),
            "inf" => Ok(f32::INFINITY),
            "-inf" => Ok(f32::NEG_INFINITY),
            _ => Err(D::Error::custom(format!("not a number: {t}"))),
        },
    }
}

/// The same for a list of values (parameters of a diverged run are NaN).
pub mod list {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    #[derive(serde::Serialize)]
    struct Item(#[serde(with = "super")] f32);

    #[derive(Deserialize)]
    struct Stored(#[serde(with = "super")] f32);

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(values.len()))?;
        for &v in values {
            seq.serialize_element(&Item(v))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Ok(Vec::<Stored>::deserialize(d)?
            .into_iter()
            .map(|s| s.0)
            .collect())
    }
}
