//! Serde building blocks shared by the venue parsers: borrowed strings and
//! non-negative decimals. Each venue's own wire module keeps its message
//! shapes; only what is the same everywhere lives here.

use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A string, borrowed from the frame unless it contained escapes.
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Parses a decimal string that must be finite and not negative (no price,
/// quantity or volume can be NaN, infinite or negative); `expected` names
/// what was wanted in the error.
#[inline]
pub(crate) fn non_negative<E: de::Error>(v: &str, expected: &'static str) -> Result<f64, E> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(E::invalid_value(de::Unexpected::Str(v), &expected)),
    }
}
