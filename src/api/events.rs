//! Events: the catalogue (`GET /api/webhooks/events`), ingest (`POST /api/events`, `POST /api/events/batch`), and
//! the organization's events with their deliveries (`GET /api/events`, `GET /api/events/{id}`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::{json, query_param, read_text, time_param, Ctx, ListIterator};
use crate::delivery::fanout::{self, Ingested};
use crate::delivery::held::Held;
use crate::domain::catalogue;
use crate::domain::event::{self, Source};
use crate::domain::ids::{DeliveryId, EventId, WebhookId};
use crate::domain::limits::{sends_after_response, SENDS_AFTER_RESPONSE};
use crate::domain::model::DeliveryStatus;
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::events::ClaimCreated;
use crate::store::{self, events::EventQuery};

/// Every event type, grouped by resource, and the patterns a webhook's `events` may use.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventCatalogue {
    pub groups: Vec<EventGroup>,
    pub types: Vec<String>,
    pub patterns: Vec<&'static str>,
}

/// The event types of one resource (the part of a type before its last dot).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventGroup {
    pub resource: String,
    pub events: Vec<CatalogueEntry>,
}

/// One event type and what it means to a receiver (`/api/event-types` has its schema and example).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EventType)]
pub struct CatalogueEntry {
    #[serde(rename = "type")]
    pub name: String,
    pub description: String,
    /// Present (true) when the type is deprecated
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(nullable = false)]
    pub deprecated: bool,
}

#[utoipa::path(get, path = "/api/webhooks/events", tag = "events", operation_id = "eventCatalogue",
    summary = "The event catalogue, grouped by resource",
    responses(
        (status = 200, description = "Every event type", body = EventCatalogue),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn catalogue(ctx: &Ctx) -> ApiResult<Response> {
    let own = store::event_types::list(&ctx.store()?, &ctx.caller.org).await?;
    let mut all: Vec<CatalogueEntry> = super::event_types::merged(&own)
        .into_iter()
        .map(|t| CatalogueEntry { name: t.name, description: t.description, deprecated: t.deprecated })
        .collect();
    // edgehook's own events, which webhooks subscribe to like any other (`edgehook.*`).
    all.extend(catalogue::EVENT_TYPES.iter().filter(|t| catalogue::is_operational(t.name)).map(|t| CatalogueEntry {
        name: t.name.to_string(),
        description: t.description.to_string(),
        deprecated: false,
    }));
    let types = all.iter().map(|t| t.name.clone()).collect();
    let groups = catalogue::grouped(all, |t| &t.name)
        .into_iter()
        .map(|(resource, events)| EventGroup { resource, events })
        .collect();
    json(200, &EventCatalogue { groups, types, patterns: vec!["<type>", "<resource>.*", "*"] })
}

/// An event to publish. `data` and `changes` are kept as the exact JSON text sent.
// Checked by `event::parse`, which keeps that text; this type documents the body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "crm-123",
    "type": "deal.updated",
    "data": {"id": "deal_1", "stage": "negotiation", "amount": 12500},
    "changes": {"stage": {"from": "proposal", "to": "negotiation"}}
}))]
#[allow(dead_code)]
pub struct EventIn {
    #[serde(rename = "type")]
    event_type: String,
    #[schema(value_type = Object)]
    data: Value,
    /// Your event id: the idempotency key
    #[schema(min_length = 1, max_length = 255, nullable = false)]
    id: Option<String>,
    /// For `*.updated` events: each changed field as `{"from", "to"}`
    #[schema(value_type = Option<std::collections::BTreeMap<String, Change>>, nullable = false)]
    changes: Option<Value>,
}

/// One changed field of an `*.updated` event.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct Change {
    #[schema(value_type = Value)]
    from: Value,
    #[schema(value_type = Value)]
    to: Value,
}

/// `POST /api/events/batch`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EventBatch {
    #[schema(min_items = 1, max_items = 100)]
    events: Vec<EventIn>,
}

/// Each event of a batch, answered on its own.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchResult {
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<BatchItem>,
}

/// One event of a batch: what `POST /api/events` would have answered it, with its position in the batch.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    pub index: usize,
    /// 202 stored, 200 a duplicate, 4xx refused (`error` says why)
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub deliveries: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<crate::error::ErrorDetail>,
}

/// An event with how its deliveries stand.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(minimum = 0)]
    pub deliveries: i64,
    #[schema(minimum = 0)]
    pub succeeded: i64,
    #[schema(minimum = 0)]
    pub failed: i64,
    #[schema(minimum = 0)]
    pub pending: i64,
}

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventPage {
    pub data: Vec<EventSummary>,
    #[schema(minimum = 1)]
    pub page: u32,
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// How many match, counted up to 10,000 (past it, 10,000 and `totalCapped`).
    #[schema(minimum = 0, maximum = 10_000)]
    pub total: i64,
    /// More than 10,000 match: `total` stops counting there, and later pages go on.
    pub total_capped: bool,
    /// Pass as `iterator` for the next page (the events stored before this page's last); null on the last page.
    #[schema(required)]
    pub iterator: Option<String>,
    /// This is the last page.
    pub done: bool,
}

/// Events' iterators start with this.
const EVENT_ITERATOR: &str = "eit_";

/// One event, its data as ingested, and every delivery it produced.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDetail {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The event's data exactly as ingested (the same JSON text, not re-serialised)
    #[schema(value_type = Value)]
    pub data: Box<RawValue>,
    /// For *.updated events, exactly as ingested; null otherwise
    #[schema(value_type = Value, required)]
    pub changes: Option<Box<RawValue>>,
    /// `data` as a string of the exact text ingested (for JSON parsers that would turn 1.50 into 1.5)
    pub data_text: String,
    #[schema(required)]
    pub changes_text: Option<String>,
    pub deliveries: Vec<EventDeliverySummary>,
}

/// A delivery of an event, as the event shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDeliverySummary {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    /// null once the webhook is deleted
    #[schema(required)]
    pub webhook_name: Option<String>,
    pub status: DeliveryStatus,
    #[schema(minimum = 0)]
    pub attempts: i64,
    #[schema(required)]
    pub last_status_code: Option<i64>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Ingest bodies: an event's data may be large, up to 256 KiB.
const MAX_EVENT_BYTES: usize = 256 * 1024;
/// A batch carries at most this many events.
pub const MAX_BATCH: usize = 100;

/// `POST /api/events`: 202 with `{ id, deliveries }`; a repeat of the same id answers 200 with `duplicate: true`.
/// The answer comes once the event and its deliveries are stored; the deliveries then go out from this invocation
/// (one round of sends, no queue hop in between) or, if they do not fit one, through the deliveries queue.
#[utoipa::path(post, path = "/api/events", tag = "events", operation_id = "ingestEvent",
    summary = "Ingest an event; it fans out to every subscribed active webhook",
    description = "`data` and `changes` are stored and delivered as the exact JSON text sent (member order, number \
        spelling such as `1.50` or integers beyond 2^64, escapes): receivers get the caller's bytes, not a \
        re-serialisation.",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The event's id when the body has none: a repeat with the same key is a duplicate")),
    request_body = EventIn,
    responses(
        (status = 202, description = "Accepted", body = Ingested),
        (status = 200, description = "A repeat of an id already ingested (duplicate: true)", body = Ingested),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not publish (service or admin needed)", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
    ))]
pub async fn ingest(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_publisher()?;
    let key = req.headers().get("idempotency-key").ok().flatten();
    let text = read_text(req, MAX_EVENT_BYTES).await?;
    let incoming = event::parse(&text, Source::Api, key.as_deref())?;
    let config = &ctx.config;
    // The isolate's account of what its sends after answers hold (`delivery::held`): without room, the deliveries go
    // through the queue.
    let held = sends_after_response(config.delivery_timeout_seconds)
        .then(|| Held::take(text.len(), config.sends_after_response_bytes as usize))
        .flatten();
    let claim = held
        .is_some()
        .then(|| ClaimCreated { lease_until: config.lease_for_sends(ctx.now, 1), most: SENDS_AFTER_RESPONSE });
    let stored = fanout::store_one(&ctx.env, &ctx.caller.org, &incoming, ctx.now, claim.as_ref()).await?;
    match stored.claimed {
        // Claimed in the ingest's transaction: sent from here once the answer is out. (A `fifo` delivery waiting
        // behind an earlier one is not claimed; the line sets it off when it is its turn.)
        Some(mut claimed) if stored.created.len() <= SENDS_AFTER_RESPONSE => {
            if !claimed.rows.is_empty() {
                claimed.held = held;
                *ctx.send_after.borrow_mut() = Some(claimed);
            }
        }
        _ => fanout::enqueue_or_leave(&ctx.env, &ctx.caller.org, &stored.created, &stored.queued).await,
    }
    let ingested = stored.answer?;
    json(if ingested.duplicate { 200 } else { 202 }, &ingested)
}

/// `POST /api/events/batch`: `{ "events": [...] }`, each validated and answered on its own; the valid ones are
/// stored in one transaction.
#[utoipa::path(post, path = "/api/events/batch", tag = "events", operation_id = "ingestBatch",
    summary = "Ingest up to 100 events, each answered on its own",
    request_body = EventBatch,
    responses(
        (status = 200, description = "Per-event results", body = BatchResult),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not publish (service or admin needed)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ))]
pub async fn ingest_batch(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_publisher()?;
    let text = read_text(req, MAX_BATCH * 8 * 1024 + MAX_EVENT_BYTES).await?;
    let members = event::object_members(&text)?;
    let items = match members.as_slice() {
        [(key, raw)] if key == "events" => {
            event::elements(raw).ok_or_else(|| ApiError::invalid("events", "events must be an array"))?
        }
        _ => return Err(ApiError::invalid("events", "the body must be { \"events\": [ … ] } and nothing else")),
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid("events", format!("a batch holds 1 to {MAX_BATCH} events")));
    }
    // Validate each on its own; ingest the valid ones together.
    let parsed: Vec<_> = items.iter().map(|item| event::parse(item.get(), Source::Api, None)).collect();
    let valid: Vec<_> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut ingested = fanout::ingest_many(&ctx.env, &ctx.caller.org, &valid, ctx.now).await?.into_iter();
    let mut results = Vec::with_capacity(items.len());
    for (index, outcome) in parsed.iter().enumerate() {
        let answer = if outcome.is_ok() { ingested.next() } else { None };
        let refused = |status, error| BatchItem { index, status, id: None, deliveries: None, duplicate: None, error };
        results.push(match (outcome, answer.as_ref()) {
            (Ok(_), Some(Ok(i))) => BatchItem {
                index,
                status: if i.duplicate { 200 } else { 202 },
                id: Some(i.id.clone()),
                deliveries: Some(i.deliveries),
                duplicate: Some(i.duplicate),
                error: None,
            },
            (Err(e), _) | (Ok(_), Some(Err(e))) => {
                let e = ApiError::from(e.clone());
                refused(e.status, Some(e.detail()))
            }
            (Ok(_), None) => return Err(ApiError::internal("batch ingest lost a result")),
        });
    }
    let accepted = results.iter().filter(|r| r.error.is_none()).count();
    json(200, &BatchResult { accepted, rejected: results.len() - accepted, results })
}

/// `GET /api/events?type=&since=&until=&page=&limit=`: the organization's events, newest first, each with how its
/// deliveries stand.
#[utoipa::path(get, path = "/api/events", tag = "events", operation_id = "listEvents",
    summary = "The organization's events, newest first",
    description = "Events are kept for RETENTION_DAYS (an event a pending delivery belongs to is kept until it \
        finishes).",
    params(
        ("type" = Option<String>, Query, description = "Only this event type"),
        ("since" = Option<String>, Query, format = DateTime, description = "Ingested at or after"),
        ("until" = Option<String>, Query, format = DateTime, description = "Ingested before"),
        ("page" = Option<u32>, Query, minimum = 1, description = "Page, from 1 (default 1)"),
        ("iterator" = Option<String>, Query, description = "Where a previous page said the next starts (its \
            `iterator`); in place of `page`, and it reads only the page it answers"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Events per page (default 20)"),
    ),
    responses(
        (status = 200, description = "A page of events with their delivery counts", body = EventPage),
        (status = 400, description = "Invalid request; `error.field` names the offending parameter", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn list(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let event_type = query_param(req, "type")?.filter(|t| !t.is_empty());
    if let Some(t) = &event_type {
        if !catalogue::could_be_type(t) {
            return Err(ApiError::invalid("type", format!("unknown event type {t:?}")));
        }
    }
    let (page, at) = ListIterator::page_at(req, EVENT_ITERATOR)?;
    let limit = at.limit;
    let query = EventQuery {
        org: &ctx.caller.org,
        event_type: event_type.as_deref(),
        since: time_param(req, "since")?,
        until: time_param(req, "until")?,
        page: at,
    };
    let listed = store::events::list(&ctx.store()?, &query).await?;
    let (total, done) = (listed.total, !listed.more);
    let iterator = ListIterator::next(EVENT_ITERATOR, &listed, |e| e.position);
    let data = listed
        .rows
        .iter()
        .map(|e| EventSummary {
            id: e.id.to_string(),
            event_type: e.event_type.clone(),
            created_at: iso8601(e.created_at),
            deliveries: e.deliveries,
            succeeded: e.succeeded.unwrap_or(0),
            failed: e.failed.unwrap_or(0),
            pending: e.pending.unwrap_or(0),
        })
        .collect();
    json(200, &EventPage { data, page, limit, total: total.total, total_capped: total.capped, iterator, done })
}

/// `GET /api/events/{id}`: the event with `data` (and `changes`) exactly as ingested, and every delivery it produced.
#[utoipa::path(get, path = "/api/events/{id}", tag = "events", operation_id = "getEvent",
    summary = "One event, its data as ingested, and every delivery it produced",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = EventDetail),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No event with this id in the caller's organization", body = ErrorBody),
    ))]
pub async fn get(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("no event with this id");
    let id = EventId::parse(id).ok_or_else(not_found)?;
    let (event, deliveries) = store::events::get(&ctx.store()?, &ctx.caller.org, &id).await?.ok_or_else(not_found)?;
    // The stored text goes out as it came in: raw JSON, not re-serialised.
    let raw = |text: &str| RawValue::from_string(text.to_string()).map_err(ApiError::internal);
    let out = EventDetail {
        id: event.id,
        event_type: event.event_type,
        created_at: iso8601(event.created_at),
        data: raw(&event.data)?,
        changes: event.changes.as_deref().map(raw).transpose()?,
        data_text: event.data.clone(),
        changes_text: event.changes.clone(),
        deliveries: deliveries
            .iter()
            .map(|d| EventDeliverySummary {
                id: d.id.clone(),
                webhook_id: d.webhook_id.clone(),
                webhook_name: d.webhook_name.clone(),
                status: DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Pending),
                attempts: d.attempts,
                last_status_code: d.last_status_code,
                created_at: iso8601(d.created_at),
                updated_at: iso8601(d.updated_at),
            })
            .collect(),
    };
    json(200, &out)
}
