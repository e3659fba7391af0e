//! `serde_json::Value` ⇄ `google.protobuf.Value`, for MCP tool schemas and arguments.
//! A JSON `null` becomes an explicit `null_value` (an empty Value is not null on the wire;
//! reference §6.4).

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// JSON → protobuf Value.
pub fn to_proto(v: &serde_json::Value) -> Value {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(to_proto).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(Struct {
            fields: o.iter().map(|(k, v)| (k.clone(), to_proto(v))).collect(),
        }),
    };
    Value { kind: Some(kind) }
}

/// protobuf Value → JSON. Integral numbers come back as integers, so `{"limit": 5}`
/// survives the round trip as `5`, not `5.0`.
pub fn from_proto(v: &Value) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(from_proto).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), from_proto(v)))
                .collect(),
        ),
    }
}

fn number(n: f64) -> serde_json::Value {
    // 2^53: beyond it f64 cannot hold every integer, so keep the float.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A JSON object → the `map<string, Value>` of `McpArgs.args`.
pub fn object_to_map(v: &serde_json::Value) -> std::collections::HashMap<String, Value> {
    match v {
        serde_json::Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), to_proto(v))).collect(),
        _ => Default::default(),
    }
}

/// The `map<string, Value>` of `McpArgs.args` → a JSON object.
pub fn map_to_object(m: &std::collections::HashMap<String, Value>) -> serde_json::Value {
    serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), from_proto(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keeps_types() {
        let v = serde_json::json!({
            "s": "x", "i": 5, "neg": -3, "f": 1.5, "b": true, "n": null,
            "a": [1, "two", {"deep": [null]}], "big": 1e300
        });
        assert_eq!(from_proto(&to_proto(&v)), v);
        assert_eq!(map_to_object(&object_to_map(&v)), v);
    }

    #[test]
    fn null_is_explicit_on_the_wire() {
        use prost::Message;
        let bytes = to_proto(&serde_json::Value::Null).encode_to_vec();
        assert_eq!(bytes, vec![0x08, 0x00]);
    }
}
