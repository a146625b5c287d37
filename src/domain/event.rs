//! Incoming events, from `POST /api/events` or the `events` queue: validated once into a form that can be stored
//! and fanned out.

use serde_json::{Map, Value};

use super::catalogue::is_known_type;
use crate::error::ApiError;

pub const MAX_EVENT_ID_CHARS: usize = 255;
/// Types that only edgehook itself emits.
pub const RESERVED_TYPES: &[&str] = &["webhook.disabled"];

/// A valid event: `data` and `changes` are kept as the JSON text that every delivery will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub id: Option<String>,
    pub event_type: String,
    pub data: String,
    pub changes: Option<String>,
    /// Set by queue messages, which carry their organization.
    pub organization_id: Option<String>,
}

/// Where the event came from decides which fields it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Queue,
}

/// Validates an event body. `idempotency_key` is the `Idempotency-Key` header, an alternative to `id`.
pub fn parse(body: &Value, source: Source, idempotency_key: Option<&str>) -> Result<IncomingEvent, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request("invalid_body", "the event must be a JSON object"));
    };
    let mut event_type = None;
    let mut data = None;
    let mut id = None;
    let mut changes = None;
    let mut organization_id = None;
    for (key, value) in map {
        match key.as_str() {
            "type" => {
                event_type = Some(value.as_str().ok_or_else(|| ApiError::invalid("type", "type must be a string"))?)
            }
            "data" => {
                if !value.is_object() {
                    return Err(ApiError::invalid("data", "data must be an object"));
                }
                data = Some(value.to_string());
            }
            "id" => id = Some(event_id(value)?),
            "changes" => changes = Some(parse_changes(value)?),
            "organizationId" if source == Source::Queue => {
                let org = value.as_str().filter(|s| !s.is_empty() && s.len() <= 255);
                organization_id = Some(
                    org.ok_or_else(|| {
                        ApiError::invalid("organizationId", "organizationId must be a non-empty string")
                    })?
                    .to_string(),
                );
            }
            other => return Err(ApiError::unknown_field(other)),
        }
    }
    let event_type = event_type.ok_or_else(|| ApiError::invalid("type", "type is required"))?;
    if !is_known_type(event_type) {
        return Err(ApiError::invalid(
            "type",
            format!("unknown event type {event_type:?}; see GET /api/webhooks/events"),
        ));
    }
    if RESERVED_TYPES.contains(&event_type) {
        return Err(ApiError::invalid("type", format!("{event_type} is emitted by edgehook itself")));
    }
    let data = data.ok_or_else(|| ApiError::invalid("data", "data is required"))?;
    if let Some(key) = idempotency_key {
        let key = event_id(&Value::String(key.to_string()))
            .map_err(|e| ApiError { field: Some("Idempotency-Key".into()), ..e })?;
        match &id {
            Some(given) if *given != key => {
                return Err(ApiError::invalid("id", "id and the Idempotency-Key header differ"))
            }
            _ => id = Some(key),
        }
    }
    if source == Source::Queue && organization_id.is_none() {
        return Err(ApiError::invalid("organizationId", "organizationId is required"));
    }
    Ok(IncomingEvent { id, event_type: event_type.to_string(), data, changes, organization_id })
}

fn event_id(value: &Value) -> Result<String, ApiError> {
    let s = value.as_str().ok_or_else(|| ApiError::invalid("id", "id must be a string"))?;
    if s.is_empty() || s.chars().count() > MAX_EVENT_ID_CHARS || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "id",
            format!("id must be 1 to {MAX_EVENT_ID_CHARS} printable ASCII characters without spaces"),
        ));
    }
    Ok(s.to_string())
}

fn parse_changes(value: &Value) -> Result<String, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("changes", "changes must be an object of field -> { from, to }"));
    };
    for (field, change) in map {
        let ok = matches!(change, Value::Object(c) if c.len() == 2 && c.contains_key("from") && c.contains_key("to"));
        if !ok {
            return Err(ApiError::invalid(
                format!("changes.{field}"),
                "each change must be { \"from\": …, \"to\": … }",
            ));
        }
    }
    Ok(Value::Object(Map::clone(map)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(body: Value) -> Option<String> {
        parse(&body, Source::Api, None).err().and_then(|e| e.field)
    }

    #[test]
    fn a_valid_event_keeps_its_json() {
        let e = parse(&json!({"type": "lead.updated", "data": {"id": 1}, "id": "crm-42", "changes": {"email": {"from": "a", "to": "b"}}}), Source::Api, None).unwrap();
        assert_eq!(e.id.as_deref(), Some("crm-42"));
        assert_eq!(e.data, r#"{"id":1}"#);
        assert_eq!(e.changes.as_deref(), Some(r#"{"email":{"from":"a","to":"b"}}"#));
    }

    #[test]
    fn bad_events_name_their_field() {
        assert_eq!(field(json!({"data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "lead.exploded", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "lead.*", "data": {}})).as_deref(), Some("type"));
        assert_eq!(field(json!({"type": "webhook.disabled", "data": {}})).as_deref(), Some("type"));
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
        let e = parse(&json!({"type": "lead.created", "data": {}}), Source::Api, Some("key-1")).unwrap();
        assert_eq!(e.id.as_deref(), Some("key-1"));
        let same = parse(&json!({"type": "lead.created", "data": {}, "id": "key-1"}), Source::Api, Some("key-1"));
        assert!(same.is_ok());
        let differ =
            parse(&json!({"type": "lead.created", "data": {}, "id": "a"}), Source::Api, Some("b")).unwrap_err();
        assert_eq!(differ.field.as_deref(), Some("id"));
    }

    #[test]
    fn queue_messages_need_their_organization() {
        assert!(parse(&json!({"type": "lead.created", "data": {}}), Source::Queue, None).is_err());
        let e = parse(&json!({"type": "lead.created", "data": {}, "organizationId": "org_q"}), Source::Queue, None)
            .unwrap();
        assert_eq!(e.organization_id.as_deref(), Some("org_q"));
    }
}
