//! Delivery bodies: built once per delivery and stored, so every attempt sends identical bytes; and the realistic
//! sample data of test sends.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::catalogue::resource_of;

/// What a delivery body is made of.
#[derive(Debug, Clone)]
pub struct DeliveryBody<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub timestamp: &'a str,
    pub organization_id: &'a str,
    pub delivery_id: &'a str,
    /// The event's data and changes, as the JSON text stored at ingest.
    pub data: &'a str,
    pub changes: Option<&'a str>,
    pub test: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: &'a str,
    organization_id: &'a str,
    delivery_id: &'a str,
    data: &'a serde_json::value::RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test: bool,
}

/// `{ id, type, timestamp, organizationId, deliveryId, data, changes?, test? }`, with `data` and `changes` copied
/// verbatim from their stored JSON text. Fails only if the stored text is not JSON.
pub fn build(body: &DeliveryBody<'_>) -> Result<String, serde_json::Error> {
    let data: &serde_json::value::RawValue = serde_json::from_str(body.data)?;
    let changes = body.changes.map(serde_json::from_str::<&serde_json::value::RawValue>).transpose()?;
    serde_json::to_string(&Body {
        id: body.event_id,
        event_type: body.event_type,
        timestamp: body.timestamp,
        organization_id: body.organization_id,
        delivery_id: body.delivery_id,
        data,
        changes,
        test: body.test,
    })
}

/// The body of `body`'s deliveries cut around the delivery id (`body.delivery_id` is ignored): for every id,
/// `head + id + tail` is exactly what [`build`] makes with that id. D1 builds each body from the two halves in the
/// statement that names the delivery. The fields before `deliveryId` are JSON strings, which cannot hold an unescaped
/// quote, so the first `"deliveryId":""` in the body built with an empty id is the field itself.
pub fn split(body: &DeliveryBody<'_>) -> Result<(String, String), serde_json::Error> {
    const FIELD: &str = "\"deliveryId\":\"";
    let mut whole = build(&DeliveryBody { delivery_id: "", ..body.clone() })?;
    let at = whole
        .find("\"deliveryId\":\"\"")
        .ok_or_else(|| <serde_json::Error as serde::ser::Error>::custom("no deliveryId field"))?;
    let tail = whole.split_off(at + FIELD.len());
    Ok((whole, tail))
}

/// Sample data for a test send of `event_type`: a plausible record of the event's resource.
pub fn sample_data(event_type: &str) -> Value {
    let resource = resource_of(event_type);
    let mut data = match resource {
        "lead" | "contact" | "person" => {
            json!({"id": format!("{resource}_sample_1"), "firstName": "Ada", "lastName": "Lovelace",
            "email": "ada@example.com", "company": "Analytical Engines Ltd", "ownerId": "user_sample_1"})
        }
        "account" => {
            json!({"id": "account_sample_1", "name": "Analytical Engines Ltd", "domain": "example.com", "industry": "Computing"})
        }
        "opportunity" | "deal" => {
            json!({"id": format!("{resource}_sample_1"), "name": "Engine upgrade", "amount": 125000,
            "currency": "USD", "stage": "negotiation", "ownerId": "user_sample_1"})
        }
        "quote" | "order" => {
            json!({"id": format!("{resource}_sample_1"), "number": "Q-1001", "total": 4200, "currency": "USD"})
        }
        "meeting" => {
            json!({"id": "meeting_sample_1", "title": "Quarterly review", "startsAt": "2026-12-01T15:00:00Z", "durationMinutes": 30})
        }
        "task" => {
            json!({"id": "task_sample_1", "title": "Send the proposal", "dueAt": "2026-12-01T17:00:00Z", "assigneeId": "user_sample_1"})
        }
        "message" | "conversation" | "broadcast" => json!({"id": format!("{resource}_sample_1"), "channel": "sms",
            "from": "+15550100", "to": "+15550101", "text": "Hello from edgehook"}),
        "email" => json!({"id": "email_sample_1", "subject": "Your proposal", "to": "ada@example.com"}),
        "call" => {
            json!({"id": "call_sample_1", "durationSeconds": 312, "direction": "outbound", "outcome": "connected"})
        }
        "webhook" => json!({"webhookId": "wh_sample", "reason": "disabled after 50 consecutive failed deliveries"}),
        _ => json!({"id": format!("{resource}_sample_1")}),
    };
    if let Value::Object(map) = &mut data {
        map.insert("sample".into(), Value::Bool(true));
    }
    data
}

/// Sample `changes` for `*.updated` test sends.
pub fn sample_changes(event_type: &str) -> Option<Value> {
    event_type.ends_with(".updated").then(|| {
        let mut m = Map::new();
        m.insert("email".into(), json!({"from": "ada@old.example.com", "to": "ada@example.com"}));
        Value::Object(m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body<'a>(data: &'a str, changes: Option<&'a str>, test: bool) -> DeliveryBody<'a> {
        DeliveryBody {
            event_id: "evt_1",
            event_type: "lead.updated",
            timestamp: "2026-11-22T21:50:00.000Z",
            organization_id: "org_a",
            delivery_id: "dlv_1",
            data,
            changes,
            test,
        }
    }

    #[test]
    fn body_has_the_documented_fields_in_order_and_copies_data_verbatim() {
        let text = build(&body(r#"{"b":1,"a":[1,2]}"#, None, false)).unwrap();
        assert_eq!(
            text,
            r#"{"id":"evt_1","type":"lead.updated","timestamp":"2026-11-22T21:50:00.000Z","organizationId":"org_a","deliveryId":"dlv_1","data":{"b":1,"a":[1,2]}}"#
        );
    }

    #[test]
    fn changes_and_test_appear_only_when_present() {
        let text = build(&body("{}", Some(r#"{"email":{"from":"a","to":"b"}}"#), true)).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["changes"]["email"]["to"], "b");
        assert_eq!(v["test"], true);
        assert!(!build(&body("{}", None, false)).unwrap().contains("test"));
    }

    #[test]
    fn building_twice_gives_identical_bytes() {
        let b = body(r#"{"x":"é","n":1.50}"#, None, false);
        assert_eq!(build(&b).unwrap(), build(&b).unwrap());
        assert!(build(&b).unwrap().contains(r#""n":1.50"#));
    }

    #[test]
    fn the_halves_around_any_delivery_id_make_the_built_body() {
        // Strings before the id that look like the field itself must not fool the cut.
        let tricky = DeliveryBody {
            event_id: r#"evt_"deliveryId":""#,
            organization_id: r#"org_\"deliveryId\":\"\""#,
            ..body(r#"{"deliveryId":"","x":[1,2.50]}"#, Some(r#"{"a":{"from":"","to":"b"}}"#), false)
        };
        for b in [body("{}", None, false), body(r#"{"n":1}"#, None, true), tricky] {
            let (head, tail) = split(&b).unwrap();
            for id in ["dlv_1", "dlv_0123456789abcdef0000002a", ""] {
                assert_eq!(format!("{head}{id}{tail}"), build(&DeliveryBody { delivery_id: id, ..b.clone() }).unwrap());
            }
        }
    }

    #[test]
    fn stored_text_that_is_not_json_is_an_error_not_a_panic() {
        assert!(build(&body("{not json", None, false)).is_err());
    }

    #[test]
    fn samples_exist_for_every_catalogue_type() {
        for t in super::super::catalogue::EVENT_TYPES {
            assert_eq!(sample_data(t.name)["sample"], true, "{}", t.name);
        }
        assert!(sample_changes("lead.updated").is_some());
        assert!(sample_changes("lead.created").is_none());
    }
}
