//! Reading a request body's JSON without a tree of the whole of it: a first pass checks
//! the bytes are JSON (the syntax and nesting limit of `serde_json::Value`) and an object,
//! allocating nothing, so every dialect refuses malformed or over-nested bodies the same
//! way before anything is built. Then a dialect either deserializes straight into typed
//! structs (chat), or takes the top level as borrowed raw values ([`Fields`]) and builds a
//! `Value` of one array item at a time ([`items`]), so the largest tree alive is one
//! message's, not the body's.

use std::collections::HashSet;

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::engine::error::ApiError;

/// Why [`object`] refused a body.
#[derive(Debug)]
pub(crate) enum NotAnObject {
    /// It is not JSON, or nests deeper than `serde_json::Value` allows.
    Malformed(serde_json::Error),
    /// It is JSON, but not an object.
    Other,
}

impl NotAnObject {
    /// The refusal's message.
    pub(crate) fn message(&self) -> String {
        match self {
            NotAnObject::Malformed(e) => format!("the request body is not valid JSON: {e}"),
            NotAnObject::Other => "the request body must be a JSON object".to_string(),
        }
    }

    /// The refusal as a 400: `invalid_json`, or an invalid request naming no field.
    pub(crate) fn api_error(&self) -> ApiError {
        match self {
            NotAnObject::Malformed(_) => ApiError::malformed(self.message()),
            NotAnObject::Other => ApiError::invalid("", self.message()),
        }
    }
}

/// Checks `body` is one JSON object, walking it without keeping anything.
pub(crate) fn object(body: &[u8]) -> Result<(), NotAnObject> {
    match serde_json::from_slice::<Shape>(body) {
        Ok(Shape::Object) => Ok(()),
        Ok(Shape::Other) => Err(NotAnObject::Other),
        Err(e) => Err(NotAnObject::Malformed(e)),
    }
}

/// What a JSON document is at its top, found by walking it without keeping anything
/// (nested values go through `deserialize_any`, so serde_json's nesting limit applies as
/// it does to `Value`).
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Object,
    Other,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Shape;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Shape, A::Error> {
                while a.next_element::<Shape>()?.is_some() {}
                Ok(Shape::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Shape, A::Error> {
                while a.next_entry::<IgnoredAny, Shape>()?.is_some() {}
                Ok(Shape::Object)
            }
        }
        d.deserialize_any(Walk)
    }
}

/// The known top-level fields of a body [`object`] accepted, each the raw text it was
/// sent as; unknown fields are skipped without keeping anything, as chat's typed parse
/// skips them.
pub(crate) struct Fields<'a> {
    fields: Vec<(&'static str, &'a RawValue)>,
}

impl<'a> Fields<'a> {
    /// Checks `body` with [`object`] and takes the fields of its top level named in
    /// `known`. A known key given twice is refused, naming it, as the chat dialect refuses
    /// it, instead of the last one winning.
    pub(crate) fn parse(body: &'a [u8], known: &[&'static str]) -> Result<Self, ApiError> {
        object(body).map_err(|e| e.api_error())?;
        let fields = serde_json::Deserializer::from_slice(body)
            .deserialize_map(TopLevel(known))
            .map_err(malformed)?;
        let mut seen = HashSet::new();
        if let Some((k, _)) = fields.iter().find(|(k, _)| !seen.insert(*k)) {
            return Err(ApiError::invalid("", format!("duplicate field `{k}`")));
        }
        Ok(Fields { fields })
    }

    /// The raw value of `key`, if given (`null` included).
    pub(crate) fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// The fields given, except those named in `except` (the arrays a dialect reads one
    /// item at a time), as a map of values.
    pub(crate) fn values_except(
        &self,
        except: &[&str],
    ) -> Result<serde_json::Map<String, Value>, ApiError> {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.fields {
            if !except.contains(k) {
                map.insert((*k).to_string(), value(v)?);
            }
        }
        Ok(map)
    }
}

/// The top level's visitor: the known keys it was given, matched without allocating.
struct TopLevel<'k>(&'k [&'static str]);

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Vec<(&'static str, &'de RawValue)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = a.next_key_seed(Key(self.0))? {
            match key {
                Some(k) => out.push((k, a.next_value::<&'de RawValue>()?)),
                None => {
                    a.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A top-level key: which of the known ones it is, if any.
struct Key<'k>(&'k [&'static str]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<&'static str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<&'static str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().copied().find(|k| *k == s))
    }
}

/// `raw` is JSON `null`.
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// The tree of one raw value.
pub(crate) fn value(raw: &RawValue) -> Result<Value, ApiError> {
    serde_json::from_str(raw.get()).map_err(malformed)
}

fn malformed(e: serde_json::Error) -> ApiError {
    NotAnObject::Malformed(e).api_error()
}

/// The items of a raw JSON array: the first `max` kept (raw), all of them counted.
pub(crate) struct Items<'a> {
    /// The items kept, at most the `max` given to [`items`].
    pub(crate) kept: Vec<&'a RawValue>,
    /// How many items the array holds.
    pub(crate) len: usize,
}

/// `raw` as an array of raw items, `None` when it is not an array.
pub(crate) fn items(raw: &RawValue, max: usize) -> Option<Items<'_>> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    Capped(max).deserialize(&mut de).ok()
}

struct Capped(usize);

impl<'de> DeserializeSeed<'de> for Capped {
    type Value = Items<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Items<'de>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Capped {
    type Value = Items<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Items<'de>, A::Error> {
        let mut kept = Vec::new();
        let mut len = 0;
        loop {
            if kept.len() < self.0 {
                match a.next_element::<&'de RawValue>()? {
                    Some(v) => kept.push(v),
                    None => break,
                }
            } else if a.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            len += 1;
        }
        Ok(Items { kept, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_over_nested_and_non_object_bodies_are_told_apart() {
        assert!(matches!(object(b"{nope"), Err(NotAnObject::Malformed(_))));
        let deep = format!(r#"{{"x": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            object(deep.as_bytes()),
            Err(NotAnObject::Malformed(_))
        ));
        assert!(matches!(object(b"[1]"), Err(NotAnObject::Other)));
        assert!(object(br#"{"a": [1, {"b": null}]}"#).is_ok());
    }

    #[test]
    fn top_level_fields_are_raw_and_a_key_given_twice_is_refused() {
        let known = ["a", "b", "n", "z"];
        let body = br#"{"a": [1, 2], "b": {"c": "d"}, "n": null, "other": 1, "other": 2}"#;
        let f = Fields::parse(body, &known).unwrap();
        assert_eq!(f.raw("a").unwrap().get(), "[1, 2]");
        assert!(f.raw("n").is_some_and(is_null) && f.raw("z").is_none());
        // Unknown keys are not kept (given twice or not), as chat ignores them.
        assert!(f.raw("other").is_none() && f.fields.len() == 3);
        assert_eq!(f.values_except(&["a"]).unwrap().len(), 2);
        // An escaped key is the key it spells.
        let f = Fields::parse(br#"{"\u0061": 1}"#, &known).unwrap();
        assert_eq!(f.raw("a").unwrap().get(), "1");
        let e = Fields::parse(br#"{"a": 1, "a": 2}"#, &known).err().unwrap();
        assert!(e.message.contains("`a`"), "{e:?}");
        assert_eq!(e.code, Some("invalid_request"));
    }

    #[test]
    fn array_items_are_counted_past_the_ones_kept() {
        let raw: &RawValue = serde_json::from_str("[1, [2], {}, 4]").unwrap();
        let i = items(raw, 2).unwrap();
        assert_eq!((i.kept.len(), i.len), (2, 4));
        assert_eq!(i.kept[1].get(), "[2]");
        let raw: &RawValue = serde_json::from_str(r#""no""#).unwrap();
        assert!(items(raw, 2).is_none());
    }
}
