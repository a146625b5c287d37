//! The event catalogue: `/api/event-types`. Every organization sees the deployment's default types
//! (`domain::catalogue::EVENT_TYPES`, the CRM types) and defines its own (`invoice.paid`), each with a description, an
//! optional JSON Schema of its `data`, an example and a deprecated flag. A default type the organization edits
//! becomes its own version of it; deleting that version brings the default back.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::{json as answer, read_text, Ctx};
use crate::domain::catalogue::{self, default_type, is_valid_type_name, MAX_TYPE_CHARS};
use crate::domain::payload::sample_data;
use crate::domain::schema::{self, Engine};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::platform::SchemaEngine;
use crate::store;
use crate::store::event_types::{Created, EventTypeRow, EventTypeWrite};

/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The longest example (JSON text).
pub const MAX_EXAMPLE_BYTES: usize = 16 * 1024;
/// The most types one organization defines.
pub const MAX_EVENT_TYPES: usize = 500;

/// Where a type comes from: the deployment's defaults, or the organization (its own type, or its version of a
/// default one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Default,
    Organization,
}

/// One event type of the catalogue.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypeInfo {
    #[schema(max_length = 100, example = "invoice.paid")]
    pub name: String,
    pub description: String,
    /// The JSON Schema of the event's `data`; null: none. Webhooks with `validateSchema` have events that fail it
    /// refused at ingest
    #[schema(value_type = Option<Object>, required)]
    pub schema: Option<Box<RawValue>>,
    /// An example `data`; "Send test event" sends it
    #[schema(value_type = Option<Object>, required)]
    pub example: Option<Box<RawValue>>,
    /// Still accepted and delivered; the portal marks it so subscribers move off it
    pub deprecated: bool,
    pub origin: Origin,
    /// When the organization last changed it; null for a default type it never changed
    #[schema(required, format = DateTime)]
    pub updated_at: Option<String>,
}

/// The catalogue.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypeList {
    /// The default types in catalogue order (grouped by resource), then the organization's own, by name
    pub data: Vec<EventTypeInfo>,
}

/// A new event type (`POST /api/event-types`); a change (`PATCH …/{name}`) takes any of it but `name`.
// Checked field by field by [`parse`]; this type documents it.
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "invoice.paid", "description": "An invoice was paid in full.",
    "schema": {"type": "object", "required": ["invoiceId", "amount"], "properties": {
        "invoiceId": {"type": "string"}, "amount": {"type": "number", "minimum": 0}}},
    "example": {"invoiceId": "inv_1", "amount": 120.5}}))]
#[allow(dead_code)]
pub struct EventTypeIn {
    /// Letters, digits, `_` and `-` in two or more dot-separated parts (`invoice.paid`); not `edgehook.…`
    #[schema(max_length = 100, pattern = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$")]
    name: String,
    #[schema(max_length = 1000, nullable = false)]
    description: Option<String>,
    /// A JSON Schema (draft 2020-12 by default; `$schema` picks 4, 6, 7 or 2019-09) of the event's `data`, at most
    /// 16 KiB, referring to nothing outside itself; null removes it
    #[schema(value_type = Option<Object>)]
    schema: Option<Value>,
    /// An example `data` (an object; it must match the schema); null removes it
    #[schema(value_type = Option<Object>)]
    example: Option<Value>,
    #[schema(default = false, nullable = false)]
    deprecated: Option<bool>,
}

/// A create or a change, checked: `None` is absent, `Some(None)` clears.
#[derive(Debug, Default, PartialEq)]
pub struct Fields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub schema: Option<Option<String>>,
    pub example: Option<Option<String>>,
    pub deprecated: Option<bool>,
}

/// Checks a body; `create` requires `name`, a change may not carry it.
pub fn parse(body: &Value, create: bool, engine: &dyn Engine) -> ApiResult<Fields> {
    let map = super::object(body)?;
    let mut f = Fields::default();
    for (key, value) in map {
        match key.as_str() {
            "name" if create => {
                let name = value.as_str().unwrap_or_default();
                if !is_valid_type_name(name) {
                    return Err(ApiError::invalid(
                        "name",
                        format!(
                            "name must be 1 to {MAX_TYPE_CHARS} letters, digits, _ and - in two or more dot-separated parts \
                             (invoice.paid), not edgehook.…"
                        ),
                    ));
                }
                f.name = Some(name.to_string());
            }
            "description" => match value {
                Value::String(s) if s.chars().count() <= MAX_DESCRIPTION_CHARS => f.description = Some(s.clone()),
                _ => {
                    return Err(ApiError::invalid(
                        "description",
                        format!("description must be a string of at most {MAX_DESCRIPTION_CHARS} characters"),
                    ))
                }
            },
            "schema" => {
                f.schema = Some(match value {
                    Value::Null => None,
                    v => Some(schema::check(v, engine).map_err(|e| ApiError::invalid("schema", e))?),
                })
            }
            "example" => {
                f.example = Some(match value {
                    Value::Null => None,
                    Value::Object(_) if value.to_string().len() <= MAX_EXAMPLE_BYTES => Some(value.to_string()),
                    _ => {
                        return Err(ApiError::invalid(
                            "example",
                            format!("example must be an object (an event's data) of at most {MAX_EXAMPLE_BYTES} bytes"),
                        ))
                    }
                })
            }
            "deprecated" => {
                f.deprecated = Some(
                    value.as_bool().ok_or_else(|| ApiError::invalid("deprecated", "deprecated must be a boolean"))?,
                )
            }
            other => return Err(ApiError::unknown_field(other)),
        }
    }
    if create && f.name.is_none() {
        return Err(ApiError::invalid("name", "name is required"));
    }
    Ok(f)
}

/// A create or change body, checked, with `schema` and `example` kept as the exact JSON text sent (member order,
/// number spelling): "Send test event" sends the example as written.
async fn read_fields(req: Request, create: bool) -> ApiResult<Fields> {
    let text = read_text(req, MAX_BODY_BYTES).await?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the request body is not valid JSON: {e}")))?;
    let mut f = parse(&body, create, &SchemaEngine)?;
    let members = crate::domain::event::object_members(&text).unwrap_or_default();
    let sent = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, raw)| raw.get().to_string());
    if let Some(Some(schema)) = &mut f.schema {
        *schema = sent("schema").unwrap_or_else(|| schema.clone());
    }
    if let Some(Some(example)) = &mut f.example {
        *example = sent("example").unwrap_or_else(|| example.clone());
    }
    Ok(f)
}

/// A body is at most this long.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The type as it stands: the organization's row, else the default of that name.
fn info_of_row(row: &EventTypeRow) -> EventTypeInfo {
    EventTypeInfo {
        name: row.name.clone(),
        description: row.description.clone(),
        schema: row.schema.as_deref().and_then(|s| RawValue::from_string(s.to_string()).ok()),
        example: row.example.as_deref().and_then(|s| RawValue::from_string(s.to_string()).ok()),
        deprecated: row.deprecated != 0,
        origin: Origin::Organization,
        updated_at: Some(iso8601(row.updated_at)),
    }
}

fn info_of_default(t: &catalogue::EventType) -> EventTypeInfo {
    EventTypeInfo {
        name: t.name.to_string(),
        description: t.description.to_string(),
        schema: None,
        example: RawValue::from_string(sample_data(t.name).to_string()).ok(),
        deprecated: false,
        origin: Origin::Default,
        updated_at: None,
    }
}

/// Every type the organization sees: the defaults (its versions in their place), then its own.
pub fn merged(own: &[EventTypeRow]) -> Vec<EventTypeInfo> {
    let mut out: Vec<EventTypeInfo> = catalogue::EVENT_TYPES
        .iter()
        .filter(|t| !catalogue::is_operational(t.name))
        .map(|t| own.iter().find(|r| r.name == t.name).map_or_else(|| info_of_default(t), info_of_row))
        .collect();
    out.extend(own.iter().filter(|r| default_type(&r.name).is_none()).map(info_of_row));
    out
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no event type {name:?}"))
}

#[utoipa::path(get, path = "/api/event-types", tag = "events", operation_id = "listEventTypes",
    summary = "The event catalogue: the default types and the organization's own",
    responses(
        (status = 200, description = "Every type", body = EventTypeList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    let own = store::event_types::list(&ctx.store()?, &ctx.caller.org).await?;
    answer(200, &EventTypeList { data: merged(&own) })
}

#[utoipa::path(get, path = "/api/event-types/{name}", tag = "events", operation_id = "getEventType",
    summary = "One event type",
    params(("name" = String, Path, description = "The type's name")),
    responses(
        (status = 200, description = "The type", body = EventTypeInfo),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No such type", body = ErrorBody),
    ))]
pub async fn get(ctx: &Ctx, name: &str) -> ApiResult<Response> {
    let own = store::event_types::get(&ctx.store()?, &ctx.caller.org, name).await?;
    match (own, default_type(name).filter(|t| !catalogue::is_operational(t.name))) {
        (Some(row), _) => answer(200, &info_of_row(&row)),
        (None, Some(t)) => answer(200, &info_of_default(t)),
        (None, None) => Err(not_found(name)),
    }
}

#[utoipa::path(post, path = "/api/event-types", tag = "events", operation_id = "createEventType",
    summary = "Define an event type",
    description = "Events of the type can be ingested from then on. Naming a default type makes the organization's \
        own version of it.",
    request_body = EventTypeIn,
    responses(
        (status = 201, description = "Defined", body = EventTypeInfo),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed (not a portal session)", body = ErrorBody),
        (status = 409, description = "The organization already defined a type of that name (`event_type_exists`), \
            or holds the most it may", body = ErrorBody),
    ))]
pub async fn create(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    ctx.caller.require_vendor()?;
    let f = read_fields(req, true).await?;
    let name = f.name.clone().unwrap_or_default();
    let (schema_text, example_text) = (f.schema.flatten(), f.example.flatten());
    check_example(schema_text.as_deref(), example_text.as_deref(), &SchemaEngine)?;
    let write = EventTypeWrite {
        name: &name,
        description: f.description.as_deref().or(default_type(&name).map(|t| t.description)).unwrap_or(""),
        schema: schema_text.as_deref(),
        example: example_text.as_deref(),
        deprecated: f.deprecated.unwrap_or(false),
    };
    match store::event_types::create(&ctx.store()?, &ctx.caller.org, &write, ctx.now, MAX_EVENT_TYPES).await? {
        Created::Row(row) => answer(201, &info_of_row(&row)),
        Created::Exists => {
            Err(ApiError::new(409, "event_type_exists", format!("the organization already defined {name:?}")))
        }
        Created::LimitReached => Err(ApiError::new(
            409,
            "limit_reached",
            format!("an organization defines at most {MAX_EVENT_TYPES} event types"),
        )),
    }
}

/// An example must fit the schema it is shown with.
fn check_example(schema_text: Option<&str>, example: Option<&str>, engine: &dyn Engine) -> ApiResult<()> {
    let (Some(schema_text), Some(example)) = (schema_text, example) else { return Ok(()) };
    match engine.mismatch(schema_text, example) {
        None => Ok(()),
        Some(m) => Err(ApiError::invalid(
            "example",
            format!("example does not match the schema at {}: {}", schema::at(&m.path), m.message),
        )),
    }
}

#[utoipa::path(patch, path = "/api/event-types/{name}", tag = "events", operation_id = "updateEventType",
    summary = "Change an event type",
    description = "A default type changed here becomes the organization's own version of it.",
    params(("name" = String, Path, description = "The type's name")),
    request_body = EventTypeIn,
    responses(
        (status = 200, description = "The type", body = EventTypeInfo),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed (not a portal session)", body = ErrorBody),
        (status = 404, description = "No such type", body = ErrorBody),
    ))]
pub async fn update(ctx: &Ctx, name: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    ctx.caller.require_vendor()?;
    let f = read_fields(req, false).await?;
    let db = ctx.store()?;
    let current = match store::event_types::get(&db, &ctx.caller.org, name).await? {
        Some(row) => row,
        None => {
            let t = default_type(name).filter(|t| !catalogue::is_operational(t.name)).ok_or_else(|| not_found(name))?;
            EventTypeRow {
                name: t.name.to_string(),
                description: t.description.to_string(),
                schema: None,
                example: None,
                deprecated: 0,
                created_at: ctx.now,
                updated_at: ctx.now,
            }
        }
    };
    let schema_text = f.schema.unwrap_or(current.schema);
    let example_text = f.example.unwrap_or(current.example);
    check_example(schema_text.as_deref(), example_text.as_deref(), &SchemaEngine)?;
    let write = EventTypeWrite {
        name,
        description: f.description.as_deref().unwrap_or(&current.description),
        schema: schema_text.as_deref(),
        example: example_text.as_deref(),
        deprecated: f.deprecated.unwrap_or(current.deprecated != 0),
    };
    let row = store::event_types::put(&db, &ctx.caller.org, &write, ctx.now).await?.ok_or_else(|| not_found(name))?;
    answer(200, &info_of_row(&row))
}

#[utoipa::path(delete, path = "/api/event-types/{name}", tag = "events", operation_id = "deleteEventType",
    summary = "Delete the organization's type (or its version of a default type, which comes back)",
    description = "Events of a deleted type are refused at ingest from then on (unless it is a default type). \
        Stored events and their deliveries stay.",
    params(("name" = String, Path, description = "The type's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed (not a portal session)", body = ErrorBody),
        (status = 404, description = "The organization defined no type of that name", body = ErrorBody),
        (status = 409, description = "A default type the organization never changed: deprecate it instead", body = ErrorBody),
    ))]
pub async fn delete(ctx: &Ctx, name: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    ctx.caller.require_vendor()?;
    if store::event_types::delete(&ctx.store()?, &ctx.caller.org, name).await? {
        return Ok(Response::empty()?.with_status(204));
    }
    if default_type(name).is_some() {
        return Err(ApiError::new(
            409,
            "default_event_type",
            format!("{name} is a default type: PATCH it with \"deprecated\": true instead"),
        ));
    }
    Err(not_found(name))
}

/// The patterns of a webhook's `events` that neither the default types nor the organization's own select: a
/// refusal naming the first, or nothing. Asks the store only when a pattern is not a default one.
pub async fn check_patterns(ctx: &Ctx, patterns: &[String]) -> ApiResult<()> {
    if patterns.iter().all(|p| catalogue::is_valid_pattern(p)) {
        return Ok(());
    }
    let own = store::event_types::names(&ctx.store()?, &ctx.caller.org).await?;
    match patterns.iter().find(|p| !catalogue::is_valid_pattern_with(p, &own)) {
        Some(p) => Err(ApiError::invalid(
            "events",
            format!("unknown event type {p:?}; see GET /api/event-types (patterns: type, resource.*, *)"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schema::tests::Required;
    use serde_json::json;

    #[test]
    fn bodies_are_checked_field_by_field() {
        let ok =
            parse(&json!({"name": "invoice.paid", "schema": {"type": "object"}, "example": {"a": 1}}), true, &Required)
                .unwrap();
        assert_eq!(ok.name.as_deref(), Some("invoice.paid"));
        assert_eq!(ok.schema, Some(Some(r#"{"type":"object"}"#.into())));
        for (body, field) in [
            (json!({}), "name"),
            (json!({"name": "bad name"}), "name"),
            (json!({"name": "edgehook.x"}), "name"),
            (json!({"name": "a.b", "schema": {"type": "wrong"}}), "schema"),
            (json!({"name": "a.b", "schema": {"$ref": "https://example.com/s.json"}}), "schema"),
            (json!({"name": "a.b", "example": [1]}), "example"),
            (json!({"name": "a.b", "deprecated": "yes"}), "deprecated"),
            (json!({"name": "a.b", "description": 5}), "description"),
        ] {
            assert_eq!(parse(&body, true, &Required).unwrap_err().field.as_deref(), Some(field), "{body}");
        }
        assert_eq!(parse(&json!({"name": "a.b"}), false, &Required).unwrap_err().code, "unknown_field");
        assert_eq!(parse(&json!({"deprecated": true}), false, &Required).unwrap().deprecated, Some(true));
        assert_eq!(parse(&json!({"schema": null}), false, &Required).unwrap().schema, Some(None));
    }

    #[test]
    fn an_example_must_fit_its_schema() {
        let schema = r#"{"required": ["amount"]}"#;
        assert!(check_example(Some(schema), Some(r#"{"amount": 1}"#), &Required).is_ok());
        assert_eq!(check_example(Some(schema), Some("{}"), &Required).unwrap_err().field.as_deref(), Some("example"));
        assert!(check_example(None, Some("{}"), &Required).is_ok());
    }

    #[test]
    fn the_catalogue_is_the_defaults_with_the_organizations_versions_then_its_own() {
        let row = |name: &str, deprecated| EventTypeRow {
            name: name.into(),
            description: "mine".into(),
            schema: None,
            example: None,
            deprecated,
            created_at: 1,
            updated_at: 1,
        };
        let all = merged(&[row("lead.created", 1), row("invoice.paid", 0)]);
        assert_eq!(all[0].name, "lead.created");
        assert_eq!(
            (all[0].origin, all[0].deprecated, all[0].description.as_str()),
            (Origin::Organization, true, "mine")
        );
        assert_eq!(all[1].origin, Origin::Default);
        assert!(all[1].example.is_some(), "a default type's example is its sample");
        assert_eq!(all.last().map(|t| (t.name.as_str(), t.origin)), Some(("invoice.paid", Origin::Organization)));
        assert!(!all.iter().any(|t| catalogue::is_operational(&t.name)), "edgehook's own types are not the vendor's");
    }
}
