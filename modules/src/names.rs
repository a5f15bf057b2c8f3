//! Options chosen by name on the command line and stored by name in run records.

/// A name that is none of an option's accepted names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown value '{value}' (expected one of: {})", .expected.join(", "))]
pub struct UnknownName {
    pub value: String,
    pub expected: &'static [&'static str],
}

/// Gives a field-less enum its names: `NAMES`, `name()`, `Display`, `FromStr` (case
/// insensitive, with the accepted names in the error) and string (de)serialisation.
#[macro_export]
macro_rules! named_enum {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every accepted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The canonical name.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $(
                    if text.eq_ignore_ascii_case($name) {
                        return Ok($ty::$variant);
                    }
                )+
                Err($crate::names::UnknownName {
                    value: text.to_string(),
                    expected: $ty::NAMES,
                })
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}
