//! Events: the catalogue (`GET /api/webhooks/events`) and ingest (`POST /api/events`, `POST /api/events/batch`).

use serde_json::json;
use worker::{Request, Response};

use super::{json, read_text, Ctx};
use crate::delivery::fanout;
use crate::domain::catalogue;
use crate::domain::event::{self, Source};
use crate::error::{ApiError, ApiResult};

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
pub async fn ingest(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_publisher()?;
    let key = req.headers().get("idempotency-key").ok().flatten();
    let text = read_text(req, MAX_EVENT_BYTES).await?;
    let incoming = event::parse(&text, Source::Api, key.as_deref())?;
    let ingested = fanout::ingest(&ctx.env, &ctx.caller.org, &incoming, ctx.now).await?;
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
