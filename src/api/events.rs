//! Events: the catalogue (`GET /api/webhooks/events`), ingest (`POST /api/events`, `POST /api/events/batch`), and
//! the organization's events with their deliveries (`GET /api/events`, `GET /api/events/{id}`).

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use worker::{Request, Response};

use super::{json, number_param, query_param, read_text, time_param, Ctx};
use crate::delivery::fanout;
use crate::domain::catalogue;
use crate::domain::event::{self, Source};
use crate::domain::ids::EventId;
use crate::domain::limits::{sends_after_response, SENDS_AFTER_RESPONSE};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::store::events::ClaimCreated;
use crate::store::{self, events::EventQuery};

pub fn catalogue() -> ApiResult<Response> {
    let groups: Vec<_> = catalogue::grouped()
        .into_iter()
        .map(|(resource, types)| json!({ "resource": resource, "events": types }))
        .collect();
    let all: Vec<&str> = catalogue::EVENT_TYPES.iter().map(|t| t.name).collect();
    json(200, &json!({ "groups": groups, "types": all, "patterns": ["<type>", "<resource>.*", "*"] }))
}

/// Ingest bodies: an event's data may be large, up to 256 KiB.
const MAX_EVENT_BYTES: usize = 256 * 1024;
/// A batch carries at most this many events.
pub const MAX_BATCH: usize = 100;

/// `POST /api/events`: 202 with `{ id, deliveries }`; a repeat of the same id answers 200 with `duplicate: true`.
/// The answer comes once the event and its deliveries are stored; the deliveries then go out from this invocation
/// (one round of sends, no queue hop in between) or, if they do not fit one, through the deliveries queue.
pub async fn ingest(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_publisher()?;
    let key = req.headers().get("idempotency-key").ok().flatten();
    let text = read_text(req, MAX_EVENT_BYTES).await?;
    let incoming = event::parse(&text, Source::Api, key.as_deref())?;
    let config = &ctx.config;
    let claim = sends_after_response(config.delivery_timeout_seconds)
        .then(|| ClaimCreated { lease_until: config.lease_for_sends(ctx.now, 1), most: SENDS_AFTER_RESPONSE });
    let stored = fanout::store_one(&ctx.env, &ctx.caller.org, &incoming, ctx.now, claim.as_ref()).await?;
    match stored.claimed {
        // Claimed in the ingest's transaction: sent from here once the answer is out. (A `fifo` delivery waiting
        // behind an earlier one is not claimed; the line sets it off when it is its turn.)
        Some(claimed) if stored.created.len() <= SENDS_AFTER_RESPONSE => {
            if !claimed.rows.is_empty() {
                *ctx.send_after.borrow_mut() = Some(claimed);
            }
        }
        _ => fanout::enqueue_or_leave(&ctx.env, &ctx.caller.org, &stored.created).await,
    }
    let ingested = stored.answer;
    json(if ingested.duplicate { 200 } else { 202 }, &ingested)
}

/// `POST /api/events/batch`: `{ "events": [...] }`, each validated and answered on its own; the valid ones are
/// stored in one transaction.
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
        results.push(match (outcome, answer) {
            (Ok(_), Some(i)) => json!({ "index": index, "status": if i.duplicate { 200 } else { 202 }, "id": i.id, "deliveries": i.deliveries, "duplicate": i.duplicate }),
            (Err(e), _) => {
                let e = ApiError::from(e.clone());
                json!({ "index": index, "status": e.status, "error": e.detail() })
            }
            (Ok(_), None) => return Err(ApiError::internal("batch ingest lost a result")),
        });
    }
    let accepted = results.iter().filter(|r| r["status"] == 202 || r["status"] == 200).count();
    json(200, &json!({ "accepted": accepted, "rejected": results.len() - accepted, "results": results }))
}

/// `GET /api/events?type=&since=&until=&page=&limit=`: the organization's events, newest first, each with how its
/// deliveries stand.
pub async fn list(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let event_type = query_param(req, "type")?.filter(|t| !t.is_empty());
    if let Some(t) = &event_type {
        if !catalogue::is_known_type(t) {
            return Err(ApiError::invalid("type", format!("unknown event type {t:?}")));
        }
    }
    let page = number_param(query_param(req, "page")?, "page", 1, 1_000_000, 1)?;
    let limit = number_param(query_param(req, "limit")?, "limit", 1, 100, 20)?;
    let query = EventQuery {
        org: &ctx.caller.org,
        event_type: event_type.as_deref(),
        since: time_param(req, "since")?,
        until: time_param(req, "until")?,
        limit,
        offset: (page - 1).saturating_mul(limit),
    };
    let (rows, total) = store::events::list(&ctx.store()?, &query).await?;
    let data: Vec<_> = rows
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "type": e.event_type,
                "createdAt": iso8601(e.created_at),
                "deliveries": e.deliveries,
                "succeeded": e.succeeded.unwrap_or(0),
                "failed": e.failed.unwrap_or(0),
                "pending": e.pending.unwrap_or(0),
            })
        })
        .collect();
    json(200, &json!({ "data": data, "page": page, "limit": limit, "total": total }))
}

/// `GET /api/events/{id}`: the event with `data` (and `changes`) exactly as ingested, and every delivery it produced.
pub async fn get(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("no event with this id");
    let id = EventId::parse(id).ok_or_else(not_found)?;
    let (event, deliveries) = store::events::get(&ctx.store()?, &ctx.caller.org, &id).await?.ok_or_else(not_found)?;
    // The stored text goes out as it came in: raw JSON, not re-serialised.
    let raw = |text: &str| RawValue::from_string(text.to_string()).map_err(ApiError::internal);
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        id: EventId,
        #[serde(rename = "type")]
        event_type: String,
        created_at: String,
        data: Box<RawValue>,
        changes: Option<Box<RawValue>>,
        /// The same texts as strings, for clients whose JSON parser would normalise numbers (the dashboard).
        data_text: String,
        changes_text: Option<String>,
        deliveries: Vec<Value>,
    }
    let out = Out {
        id: event.id,
        event_type: event.event_type,
        created_at: iso8601(event.created_at),
        data: raw(&event.data)?,
        changes: event.changes.as_deref().map(raw).transpose()?,
        data_text: event.data.clone(),
        changes_text: event.changes.clone(),
        deliveries: deliveries
            .iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    "webhookId": d.webhook_id,
                    "webhookName": d.webhook_name,
                    "status": d.status,
                    "attempts": d.attempts,
                    "lastStatusCode": d.last_status_code,
                    "createdAt": iso8601(d.created_at),
                    "updatedAt": iso8601(d.updated_at),
                })
            })
            .collect(),
    };
    json(200, &out)
}
