//! JSON Schema for an event type's `data` (the event catalogue, `/api/event-types`): checked when the type is saved,
//! and checked against each event whose type has one when a subscribed webhook asks for it
//! (`"validateSchema": true`), inside the organization's object at ingest.
//!
//! The checks of a schema's shape that need no engine are here; the engine itself is the platform's
//! ([`crate::platform::schema`]: `@cfworker/json-schema` in the Worker, 6.4 KiB gzipped). The Rust crates were
//! measured first and add far more to the bundle: `boon` 0.6 took it from 615.5 to 1,115.4 KiB gzipped (most of it
//! `regex` and its Unicode tables), `jsonschema` 0.49 is larger still in a bare wasm module (913 KiB against boon's
//! 563). docs/api.md, The event catalogue, has the numbers.

use serde_json::Value;

use super::Invalid;

/// A schema's text is at most this long.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;

/// Why an event's `data` fails its type's schema: where (a JSON pointer into `data`, `""` for all of it) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Mismatch {
    pub path: String,
    pub message: String,
}

/// What a JSON Schema engine answers: a schema's problem, if any, and whether data fits a schema.
pub trait Engine {
    fn schema_problem(&self, schema: &str) -> Option<String>;
    fn mismatch(&self, schema: &str, data: &str) -> Option<Mismatch>;
}

/// Checks a schema given as JSON text; answers its canonical text. Refuses one that is not JSON, not an object or
/// a boolean, too long, refers to anything outside itself (`$ref` not starting with `#`), or that the engine finds
/// wrong.
pub fn check(value: &Value, engine: &dyn Engine) -> Result<String, String> {
    let text = value.to_string();
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(format!("a schema is at most {MAX_SCHEMA_BYTES} bytes"));
    }
    if !matches!(value, Value::Object(_) | Value::Bool(_)) {
        return Err("a schema is a JSON object (or true or false)".into());
    }
    if let Some(outside) = external_reference(value) {
        return Err(format!("a schema may not refer to anything outside itself ({outside})"));
    }
    match engine.schema_problem(&text) {
        Some(problem) => Err(problem),
        None => Ok(text),
    }
}

/// The first `$ref` or `$dynamicRef` that points outside the schema (not `#…`).
fn external_reference(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, v)| match (key.as_str(), v) {
            ("$ref" | "$dynamicRef" | "$recursiveRef", Value::String(to)) if !to.starts_with('#') => Some(to.clone()),
            _ => external_reference(v),
        }),
        Value::Array(items) => items.iter().find_map(external_reference),
        _ => None,
    }
}

/// The refusal of an event whose `data` fails its type's schema: field `data` followed by the path (`data/amount`).
pub fn refusal(event_type: &str, m: &Mismatch) -> Invalid {
    Invalid {
        code: "schema_mismatch",
        message: format!("data does not match the schema of {event_type} at {}: {}", at(&m.path), m.message),
        field: Some(format!("data{}", m.path)),
    }
}

/// A JSON pointer as a message says it.
pub fn at(path: &str) -> &str {
    if path.is_empty() {
        "the top level"
    } else {
        path
    }
}

/// An event the organization's catalogue may refuse at ingest, as its object reads it
/// (`store::sql::FilterStep::Validate`).
pub struct Candidate<'a> {
    pub event_type: &'a str,
    /// One of the deployment's default types.
    pub is_default: bool,
    /// The organization defined a type of this name.
    pub defined: bool,
    /// The type's schema, when a subscribed webhook asks for its events to be checked.
    pub schema: Option<String>,
    pub data: &'a str,
}

/// Why the event is refused, if it is: a type neither default nor defined (`validation_error` on `type`, as before
/// catalogues), or `data` that fails its type's schema. A stored schema the engine cannot evaluate refuses nothing:
/// it was checked when saved, and an event is never lost to a fault of edgehook's.
pub fn judge(c: &Candidate<'_>, engine: &dyn Engine) -> Option<Invalid> {
    if !c.is_default && !c.defined {
        return Some(Invalid::field(
            "type",
            format!("unknown event type {:?}; see GET /api/event-types", c.event_type),
        ));
    }
    let schema = c.schema.as_deref()?;
    engine.mismatch(schema, c.data).map(|m| refusal(c.event_type, &m))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    /// An engine for host tests: a schema is wrong if it says `"wrong"`, and data fits if it has every member the
    /// schema's `required` names. (The real engine is tested end to end: tests/catalogue.test.mjs.)
    pub struct Required;

    impl Engine for Required {
        fn schema_problem(&self, schema: &str) -> Option<String> {
            schema.contains("\"wrong\"").then(|| "the engine refuses it".to_string())
        }
        fn mismatch(&self, schema: &str, data: &str) -> Option<Mismatch> {
            let schema: Value = serde_json::from_str(schema).ok()?;
            let data: Value = serde_json::from_str(data).ok()?;
            let required = schema["required"].as_array()?;
            let missing = required.iter().filter_map(Value::as_str).find(|name| data.get(name).is_none())?;
            Some(Mismatch { path: String::new(), message: format!("no {missing}") })
        }
    }

    #[test]
    fn a_schema_is_an_object_within_its_size_that_refers_to_nothing_outside() {
        assert_eq!(check(&json!({"type": "object"}), &Required), Ok(r#"{"type":"object"}"#.to_string()));
        assert!(check(&json!(true), &Required).is_ok());
        assert!(check(&json!({"properties": {"id": {"$ref": "#/$defs/id"}}}), &Required).is_ok());
        for (schema, word) in [
            (json!([1]), "JSON object"),
            (json!("x"), "JSON object"),
            (json!({"$ref": "https://example.com/schema.json"}), "outside itself"),
            (json!({"allOf": [{"$ref": "file:///etc/passwd"}]}), "outside itself"),
            (json!({"type": "wrong"}), "the engine refuses it"),
            (json!({"description": "x".repeat(MAX_SCHEMA_BYTES)}), "at most"),
        ] {
            let e = check(&schema, &Required).unwrap_err();
            assert!(e.contains(word), "{schema}: {e}");
        }
    }

    #[test]
    fn the_object_refuses_unknown_types_and_data_that_fails_a_checked_schema() {
        let c = |is_default, defined, schema: Option<&str>, data| Candidate {
            event_type: "invoice.paid",
            is_default,
            defined,
            schema: schema.map(str::to_string),
            data,
        };
        let unknown = judge(&c(false, false, None, "{}"), &Required).unwrap();
        assert_eq!((unknown.code, unknown.field.as_deref()), ("validation_error", Some("type")));
        assert!(unknown.message.contains("unknown event type \"invoice.paid\""), "{}", unknown.message);
        assert_eq!(judge(&c(true, false, None, "{}"), &Required), None);
        assert_eq!(judge(&c(false, true, None, "{}"), &Required), None);
        let schema = Some(r#"{"required": ["amount"]}"#);
        assert_eq!(judge(&c(false, true, schema, r#"{"amount": 1}"#), &Required), None);
        let refused = judge(&c(false, true, schema, "{}"), &Required).unwrap();
        assert_eq!((refused.code, refused.field.as_deref()), ("schema_mismatch", Some("data")));
        assert!(refused.message.contains("invoice.paid at the top level: no amount"), "{}", refused.message);
        let deep = refusal("deal.updated", &Mismatch { path: "/lines/1/sku".into(), message: "no".into() });
        assert_eq!(deep.field.as_deref(), Some("data/lines/1/sku"));
    }
}
