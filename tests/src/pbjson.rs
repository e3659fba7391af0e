//! JSON ⇄ `google.protobuf.Value`, for MCP arguments and tool input schemas.
//!
//! `null` is written as an explicit `null_value` (field 1 = 0), never as an empty `Value`
//! (reference §6.4: an empty Value is what a buggy peer sends).

use std::collections::{BTreeMap, HashMap};

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// Converts any JSON value.
pub fn json_to_value(json: &serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        // protobuf Values are doubles; integers beyond 2^53 lose precision, as in JS.
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(Struct {
            fields: o
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect::<BTreeMap<_, _>>(),
        }),
    };
    Value { kind: Some(kind) }
}

/// Converts a JSON object into the `map<string, Value>` of `McpArgs.args`. A non-object
/// becomes a single entry named `value`.
pub fn json_to_args(json: &serde_json::Value) -> HashMap<String, Value> {
    match json {
        serde_json::Value::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
        other => HashMap::from([("value".to_string(), json_to_value(other))]),
    }
}

/// Converts back to JSON (an empty `Value` becomes `null`). Integral doubles become JSON
/// integers so `{"n": 3}` round-trips as written.
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                serde_json::Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn round_trips_nested_json() {
        let j = serde_json::json!({
            "city": "Paris", "days": 3, "ratio": 0.5, "tags": ["a", null, true],
            "nested": {"deep": {"x": -1}}, "nothing": null
        });
        let args = json_to_args(&j);
        let back: serde_json::Map<_, _> = args
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect();
        assert_eq!(serde_json::Value::Object(back), j);
    }

    #[test]
    fn null_is_explicit_on_the_wire() {
        let v = json_to_value(&serde_json::Value::Null);
        // field 1 (null_value), varint 0
        assert_eq!(v.encode_to_vec(), vec![0x08, 0x00]);
    }
}
