//! The delivery log of a webhook, one delivery with its attempts, manual retries, and test sends.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::webhooks::load;
use super::{json, number_param, query_param, read_optional_json, Ctx};
use crate::delivery::attempt::{attempt_one, Attempted};
use crate::delivery::fanout;
use crate::domain::catalogue::{is_known_type, EVENT_TYPES};
use crate::domain::ids::{DeliveryId, EventId, WebhookId};
use crate::domain::model::DeliveryStatus;
use crate::domain::payload::{self, sample_changes, sample_data, DeliveryBody};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::platform::random;
use crate::store::deliveries::{self, AttemptRow, DeliveryRow, LogQuery};

fn summary(d: &DeliveryRow) -> Value {
    json!({
        "id": d.id,
        "webhookId": d.webhook_id,
        "eventId": d.event_id,
        "eventType": d.event_type,
        "status": d.status,
        "success": d.status == DeliveryStatus::Succeeded,
        "attempts": d.attempts,
        "lastStatusCode": d.last_status_code,
        "lastError": d.last_error,
        "nextAttemptAt": d.next_attempt_at.filter(|_| d.status == DeliveryStatus::Pending).map(iso8601),
        "test": d.is_test,
        "createdAt": iso8601(d.created_at),
        "updatedAt": iso8601(d.updated_at),
    })
}

fn attempt_json(a: &AttemptRow) -> Value {
    json!({
        "id": a.id,
        "attempt": a.attempt,
        "statusCode": a.status_code,
        "durationMs": a.duration_ms,
        "responseBody": a.response_body,
        "error": a.error,
        "requestHeaders": a.request_headers.as_deref().and_then(|h| serde_json::from_str::<Value>(h).ok()),
        "createdAt": iso8601(a.created_at),
    })
}

/// `GET /api/webhooks/{id}/deliveries?success=&event=&page=&limit=`
pub async fn list(ctx: &Ctx, id: &str, req: &Request) -> ApiResult<Response> {
    let webhook = load(ctx, id).await?;
    let status = match query_param(req, "success")?.as_deref() {
        None | Some("") => None,
        Some("true") => Some(DeliveryStatus::Succeeded),
        Some("false") => Some(DeliveryStatus::Failed),
        Some(_) => return Err(ApiError::invalid("success", "success must be true or false")),
    };
    let status = match query_param(req, "status")?.as_deref() {
        None | Some("") => status,
        Some(s) => Some(
            DeliveryStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status", "status must be pending, succeeded or failed"))?,
        ),
    };
    let event = query_param(req, "event")?.filter(|e| !e.is_empty());
    if let Some(e) = &event {
        if !is_known_type(e) {
            return Err(ApiError::invalid("event", format!("unknown event type {e:?}")));
        }
    }
    let page = number_param(query_param(req, "page")?, "page", 1, 1_000_000, 1)?;
    let limit = number_param(query_param(req, "limit")?, "limit", 1, 100, 20)?;
    let query = LogQuery {
        org: &ctx.caller.org,
        webhook_id: &webhook.id,
        status,
        event_type: event.as_deref(),
        limit,
        offset: (page - 1).saturating_mul(limit),
    };
    let (rows, total) = deliveries::list(&ctx.store()?, &query).await?;
    let data: Vec<Value> = rows.iter().map(summary).collect();
    json(200, &json!({ "data": data, "page": page, "limit": limit, "total": total }))
}

async fn load_delivery(ctx: &Ctx, webhook_id: &WebhookId, delivery_id: &str) -> ApiResult<DeliveryRow> {
    let not_found = || ApiError::not_found("no delivery with this id");
    let delivery_id = DeliveryId::parse(delivery_id).ok_or_else(not_found)?;
    deliveries::get_scoped(&ctx.store()?, &ctx.caller.org, webhook_id, &delivery_id).await?.ok_or_else(not_found)
}

/// `GET /api/webhooks/{id}/deliveries/{deliveryId}`: the payload and every attempt.
pub async fn get(ctx: &Ctx, id: &str, delivery_id: &str) -> ApiResult<Response> {
    let webhook = load(ctx, id).await?;
    let d = load_delivery(ctx, &webhook.id, delivery_id).await?;
    let attempts = deliveries::attempts(&ctx.store()?, &d.id).await?;
    let mut out = summary(&d);
    out["payload"] = serde_json::from_str(&d.body).unwrap_or(Value::String(d.body.clone()));
    // The bytes every attempt sent, as text: `payload` is parsed JSON, which cannot keep `1.50` or member order.
    out["body"] = Value::String(d.body.clone());
    out["attempts"] = Value::Array(attempts.iter().map(attempt_json).collect());
    json(200, &out)
}

fn attempt_result(attempted: &Attempted) -> Value {
    let r = &attempted.result;
    json!({
        "success": r.succeeded(),
        "statusCode": r.status_code,
        "durationMs": r.duration_ms,
        "responseBody": r.response_body,
        "error": attempted.outcome.error,
    })
}

/// `POST /api/webhooks/{id}/deliveries/{deliveryId}/retry`: one attempt now, also for failed deliveries; `409
/// attempt_in_progress` (and nothing sent) while another attempt of it is in flight.
pub async fn retry(ctx: &Ctx, id: &str, delivery_id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = load(ctx, id).await?;
    let d = load_delivery(ctx, &webhook.id, delivery_id).await?;
    let db = ctx.store()?;
    let Some(claimed) =
        deliveries::claim_now(&db, &ctx.caller.org, &d.id, ctx.now, ctx.config.lease_until(ctx.now)).await?
    else {
        if webhook.is_fifo() {
            return Err(ApiError::new(
                409,
                "ordered_behind",
                "an attempt of this delivery is in flight, or an earlier delivery of this webhook (ordering: fifo) is \
                 still pending; it goes when the line reaches it",
            ));
        }
        return Err(ApiError::new(
            409,
            "attempt_in_progress",
            "an attempt of this delivery is in flight; retry once it has finished",
        ));
    };
    let delivery_id = claimed.id.clone();
    let attempted = attempt_one(&ctx.env, &ctx.config, claimed, webhook).await?;
    if attempted.applied && attempted.outcome.retry_in.is_some() {
        // The next scheduled attempt rides on a fresh queue message, which waits until it is due.
        let _ = fanout::enqueue(&ctx.env, &ctx.caller.org, std::slice::from_ref(&delivery_id)).await;
    }
    let mut out = attempt_result(&attempted);
    out["deliveryId"] = Value::String(delivery_id.to_string());
    out["status"] = Value::String(attempted.outcome.status.as_str().into());
    json(200, &out)
}

/// `POST /api/webhooks/{id}/test` `{ "eventType"? }`: a realistic sample with `"test": true`, sent now and logged.
pub async fn test(ctx: &Ctx, id: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = load(ctx, id).await?;
    let body = read_optional_json(req, 4096).await?.unwrap_or_else(|| json!({}));
    let Value::Object(map) = &body else {
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
    };
    if let Some(other) = map.keys().find(|k| *k != "eventType") {
        return Err(ApiError::unknown_field(other));
    }
    let event_type = match map.get("eventType") {
        None | Some(Value::Null) => {
            webhook.patterns().into_iter().find(|p| is_known_type(p)).unwrap_or_else(|| EVENT_TYPES[0].name.to_string())
        }
        Some(Value::String(t)) if is_known_type(t) => t.clone(),
        Some(_) => return Err(ApiError::invalid("eventType", "eventType must be a known event type")),
    };
    let delivery_id = DeliveryId::generate(&random());
    let event_id = EventId::parse(&format!("{}_test", EventId::generate(&random())))
        .ok_or_else(|| ApiError::internal("a generated event id did not parse"))?;
    let data = sample_data(&event_type).to_string();
    let changes = sample_changes(&event_type).map(|c| c.to_string());
    let timestamp = iso8601(ctx.now);
    let body = payload::build(&DeliveryBody {
        event_id: event_id.as_str(),
        event_type: &event_type,
        timestamp: &timestamp,
        organization_id: ctx.caller.org.as_str(),
        delivery_id: delivery_id.as_str(),
        data: &data,
        changes: changes.as_deref(),
        test: true,
    })
    .map_err(ApiError::internal)?;
    let row = DeliveryRow {
        id: delivery_id,
        organization_id: ctx.caller.org.clone(),
        webhook_id: webhook.id.clone(),
        event_id,
        event_type,
        body,
        status: DeliveryStatus::Pending,
        attempts: 1,
        chain_start: 0,
        last_status_code: None,
        last_error: None,
        next_attempt_at: Some(ctx.now),
        lease_until: Some(ctx.config.lease_until(ctx.now)),
        is_test: true,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    deliveries::insert_claimed(&ctx.store()?, &row).await?;
    let delivery_id = row.id.clone();
    let attempted = attempt_one(&ctx.env, &ctx.config, row, webhook).await?;
    let mut out = attempt_result(&attempted);
    out["deliveryId"] = Value::String(delivery_id.to_string());
    json(200, &out)
}
