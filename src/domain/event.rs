//! Incoming events, from `POST /api/events` or the `events` queue: validated once into a form that can be stored
//! and fanned out.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::catalogue::is_valid_type_name;
use super::ids::{EventId, OrganizationId};
use super::Invalid;

pub const MAX_EVENT_ID_CHARS: usize = 255;

/// A valid event: `data` and `changes` are kept as the JSON text that every delivery will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub id: Option<EventId>,
    pub event_type: String,
    pub data: String,
    pub changes: Option<String>,
    /// Set by queue messages, which carry their organization.
    pub organization_id: Option<OrganizationId>,
}

/// Where the event came from decides which fields it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Queue,
}

/// The members of a JSON object in the order written, each value kept as the exact text it was sent as.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'a>, M::Error> {
                let mut members: Vec<(String, &'a RawValue)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'a RawValue>()? {
                    if members.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("duplicate member {key:?}")));
                    }
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visit(PhantomData))
    }
}

/// The members of one JSON object given as text, or the error a caller sees: 400 `invalid_json` for text that is
/// not JSON, 400 `invalid_body` for JSON that is not an object.
fn members(text: &str) -> Result<Vec<(String, &RawValue)>, Invalid> {
    let raw: &RawValue = serde_json::from_str(text)
        .map_err(|e| Invalid::body("invalid_json", format!("the body is not valid JSON: {e}")))?;
    if !raw.get().starts_with('{') {
        return Err(Invalid::body("invalid_body", "the event must be a JSON object"));
    }
    serde_json::from_str::<Members<'_>>(raw.get())
        .map(|m| m.0)
        .map_err(|e| Invalid::body("invalid_body", format!("the event is not a valid object: {e}")))
}

/// The raw text of each element of a JSON array (the batch endpoint's `events`), or `None` if `raw` is no array.
pub fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw.get()).ok()
}

/// The members of a JSON object body (the batch endpoint's envelope), as [`members`].
pub fn object_members(text: &str) -> Result<Vec<(String, &RawValue)>, Invalid> {
    members(text)
}

/// Validates an event given as JSON text. `data` and `changes` are kept as the exact text they were sent as
/// (member order, number spelling, escapes and all), so every delivery carries the caller's bytes unaltered.
/// `idempotency_key` is the `Idempotency-Key` header, an alternative to `id`.
pub fn parse(text: &str, source: Source, idempotency_key: Option<&str>) -> Result<IncomingEvent, Invalid> {
    let mut event_type = None;
    let mut data = None;
    let mut id = None;
    let mut changes = None;
    let mut organization_id = None;
    for (key, raw) in members(text)? {
        let value = || serde_json::from_str::<Value>(raw.get()).unwrap_or(Value::Null);
        match key.as_str() {
            "type" => match value() {
                Value::String(t) => event_type = Some(t),
                _ => return Err(Invalid::field("type", "type must be a string")),
            },
            "data" => {
                if !raw.get().starts_with('{') {
                    return Err(Invalid::field("data", "data must be an object"));
                }
                data = Some(raw.get().to_string());
            }
            "id" => id = Some(event_id(&value())?),
            "changes" => {
                check_changes(&value())?;
                changes = Some(raw.get().to_string());
            }
            "organizationId" if source == Source::Queue => {
                let value = value();
                organization_id = Some(value.as_str().and_then(OrganizationId::parse).ok_or_else(|| {
                    Invalid::field("organizationId", "organizationId must be 1 to 255 printable ASCII characters")
                })?);
            }
            other => return Err(Invalid::unknown_field(other)),
        }
    }
    let event_type = event_type.ok_or_else(|| Invalid::field("type", "type is required"))?;
    // Whether the type is in the organization's catalogue is the organization's object's question, asked in the
    // ingest's own transaction (`store::events`, [`crate::store::sql::FilterStep::Validate`]).
    if crate::domain::catalogue::is_operational(&event_type) {
        return Err(Invalid::field("type", format!("{event_type} is emitted by edgehook itself")));
    }
    if !is_valid_type_name(&event_type) {
        return Err(Invalid::field("type", format!("unknown event type {event_type:?}; see GET /api/event-types")));
    }
    let data = data.ok_or_else(|| Invalid::field("data", "data is required"))?;
    if let Some(key) = idempotency_key {
        let key = event_id(&Value::String(key.to_string()))
            .map_err(|e| Invalid { field: Some("Idempotency-Key".into()), ..e })?;
        match &id {
            Some(given) if *given != key => {
                return Err(Invalid::field("id", "id and the Idempotency-Key header differ"))
            }
            _ => id = Some(key),
        }
    }
    if source == Source::Queue && organization_id.is_none() {
        return Err(Invalid::field("organizationId", "organizationId is required"));
    }
    Ok(IncomingEvent { id, event_type, data, changes, organization_id })
}

fn event_id(value: &Value) -> Result<EventId, Invalid> {
    let s = value.as_str().ok_or_else(|| Invalid::field("id", "id must be a string"))?;
    EventId::parse(s).ok_or_else(|| {
        Invalid::field("id", format!("id must be 1 to {MAX_EVENT_ID_CHARS} printable ASCII characters without spaces"))
    })
}

fn check_changes(value: &Value) -> Result<(), Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::field("changes", "changes must be an object of field -> { from, to }"));
    };
    for (field, change) in map {
        let ok = matches!(change, Value::Object(c) if c.len() == 2 && c.contains_key("from") && c.contains_key("to"));
        if !ok {
            return Err(Invalid::field(format!("changes.{field}"), "each change must be { \"from\": …, \"to\": … }"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_value(body: Value, source: Source, key: Option<&str>) -> Result<IncomingEvent, Invalid> {
        parse(&body.to_string(), source, key)
    }

    fn field(body: Value) -> Option<String> {
        parse_value(body, Source::Api, None).err().and_then(|e| e.field)
    }

    #[test]
    fn a_valid_event_keeps_its_json() {
        let e = parse_value(json!({"type": "lead.updated", "data": {"id": 1}, "id": "crm-42", "changes": {"email": {"from": "a", "to": "b"}}}), Source::Api, None).unwrap();
        assert_eq!(e.id.as_ref().map(EventId::as_str), Some("crm-42"));
        assert_eq!(e.data, r#"{"id":1}"#);
        assert_eq!(e.changes.as_deref(), Some(r#"{"email":{"from":"a","to":"b"}}"#));
    }

    #[test]
    fn bad_events_name_their_field() {
        assert_eq!(field(json!({"data": {}})).as_deref(), Some("type"));
        // A well-formed name not in the catalogue is refused by the organization's object (tests/catalogue).
        assert_eq!(field(json!({"type": "lead.exploded", "data": {}})), None);
        assert_eq!(field(json!({"type": "lead exploded", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "lead..created", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "lead.*", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "edgehook.webhook.disabled", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "edgehook.delivery.failing", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": 5, "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "lead.created"})).as_deref(), Some("data"));
        assert_eq!(field(json!({"type": "lead.created", "data": [1]})).as_deref(), Some("data"));
        assert_eq!(field(json!({"type": "lead.created", "data": {}, "id": ""})).as_deref(), Some("id"));
        assert_eq!(field(json!({"type": "lead.created", "data": {}, "id": "has space"})).as_deref(), Some("id"));
        assert_eq!(field(json!({"type": "lead.created", "data": {}, "id": 7})).as_deref(), Some("id"));
        assert_eq!(
            field(json!({"type": "lead.created", "data": {}, "changes": {"a": 1}})).as_deref(),
            Some("changes.a")
        );
        assert_eq!(field(json!({"type": "lead.created", "data": {}, "changes": []})).as_deref(), Some("changes"));
        assert_eq!(
            field(json!({"type": "lead.created", "data": {}, "organizationId": "o"})).as_deref(),
            Some("organizationId")
        );
        assert_eq!(field(json!({"type": "lead.created", "data": {}, "extra": 1})).as_deref(), Some("extra"));
    }

    #[test]
    fn the_idempotency_key_header_stands_in_for_id() {
        let e = parse_value(json!({"type": "lead.created", "data": {}}), Source::Api, Some("key-1")).unwrap();
        assert_eq!(e.id.as_ref().map(EventId::as_str), Some("key-1"));
        let same = parse_value(json!({"type": "lead.created", "data": {}, "id": "key-1"}), Source::Api, Some("key-1"));
        assert!(same.is_ok());
        let differ =
            parse_value(json!({"type": "lead.created", "data": {}, "id": "a"}), Source::Api, Some("b")).unwrap_err();
        assert_eq!(differ.field.as_deref(), Some("id"));
    }

    #[test]
    fn queue_messages_need_their_organization() {
        assert!(parse_value(json!({"type": "lead.created", "data": {}}), Source::Queue, None).is_err());
        let e =
            parse_value(json!({"type": "lead.created", "data": {}, "organizationId": "org_q"}), Source::Queue, None)
                .unwrap();
        assert_eq!(e.organization_id.as_ref().map(OrganizationId::as_str), Some("org_q"));
    }

    #[test]
    fn data_and_changes_keep_the_exact_text_they_were_sent_as() {
        let data =
            r#"{"zeta":1,"alpha":1.50,"big":1234567890123456789012345,"s":"caf\u00e9","n":[2.0,3e2],"k":1,"k":2}"#;
        let changes = r#"{ "amount" : { "from" : 1.0, "to" : 18446744073709551616 } }"#;
        let text = format!(r#"{{"type":"deal.updated","data":{data},"changes":{changes},"id":"crm-1"}}"#);
        let e = parse(&text, Source::Api, None).unwrap();
        assert_eq!(e.data, data);
        assert_eq!(e.changes.as_deref(), Some(changes));
    }

    #[test]
    fn text_that_is_not_an_object_is_refused_with_its_reason() {
        let code = |t: &str| parse(t, Source::Api, None).unwrap_err().code;
        assert_eq!(code("{oops"), "invalid_json");
        assert_eq!(code("[1]"), "invalid_body");
        assert_eq!(code(r#"{"type":"lead.created","type":"lead.created","data":{}}"#), "invalid_body");
        let e = parse(r#"{"type":"lead.created","data":"{}"}"#, Source::Api, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("data"));
    }
}
