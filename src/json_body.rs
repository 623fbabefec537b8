//! JSON request bodies of the admin API, read the way their OpenAPI schemas describe them.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON *array* (fields by
//! position: `[null]` is a `StartBody` with `mode: None`), and an `Option` field accepts
//! `null` as if the field were absent. The schemas say "an object" and "a string when
//! present", and a body that breaks them must be refused rather than guessed at:
//! [`Object`] wraps a body type to refuse anything but an object, and [`present`] is the
//! `deserialize_with` of an optional field that may be left out but not sent as `null`.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

/// A body that must be a JSON object, then read as `T`.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if !value.is_object() {
            return Err(D::Error::custom(format!(
                "the body must be a JSON object, not {}",
                kind(&value)
            )));
        }
        T::deserialize(value).map(Object).map_err(D::Error::custom)
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `#[serde(default, deserialize_with = "present")]`: absent → `None` (through
/// `default`), a value → `Some`, and `null` refused by `T` itself ("invalid type: null").
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default, deserialize_with = "present")]
        mode: Option<String>,
        #[serde(default)]
        dry_run: bool,
    }

    fn read(text: &str) -> Result<Body, String> {
        serde_json::from_str::<Object<Body>>(text)
            .map(|b| b.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_object_is_read() {
        let b = read(r#"{"mode":"full","dry_run":true}"#).expect("valid body");
        assert_eq!(b.mode.as_deref(), Some("full"));
        assert!(b.dry_run);
        let b = read("{}").expect("empty object");
        assert_eq!(b.mode, None);
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        for text in ["[null]", "[]", "null", "\"full\"", "1", "true"] {
            let e = read(text).expect_err(text);
            assert!(e.contains("must be a JSON object"), "{text}: {e}");
        }
    }

    #[test]
    fn null_is_not_absent() {
        let e = read(r#"{"mode":null}"#).expect_err("null mode");
        assert!(e.contains("null"), "{e}");
    }

    #[test]
    fn unknown_fields_still_refused() {
        assert!(read(r#"{"mood":"full"}"#).is_err());
    }
}
