//! The delivery log of a webhook, one delivery with its attempts, manual retries, and test sends.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use worker::{Request, Response};

use super::webhooks::load;
use super::{json, query_param, read_optional_json, Ctx, ListIterator};
use crate::delivery::attempt::{attempt_one, Attempted};
use crate::delivery::fanout;
use crate::domain::catalogue::{is_known_type, EVENT_TYPES};
use crate::domain::ids::{DeliveryId, EventId, WebhookId};
use crate::domain::model::DeliveryStatus;
use crate::domain::payload::{self, sample_changes, sample_data, DeliveryBody};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::platform::random;
use crate::store::deliveries::{self, AttemptRow, DeliveryRow, LogQuery};

/// A delivery of an event to a webhook, as its log lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub success: bool,
    #[schema(minimum = 0)]
    pub attempts: i64,
    #[schema(required)]
    pub last_status_code: Option<i64>,
    #[schema(required)]
    pub last_error: Option<String>,
    #[schema(required, format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub test: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Delivery {
    fn of(d: &DeliveryRow) -> Delivery {
        Delivery {
            id: d.id.clone(),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status,
            success: d.status == DeliveryStatus::Succeeded,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            next_attempt_at: d.next_attempt_at.filter(|_| d.status == DeliveryStatus::Pending).map(iso8601),
            test: d.is_test,
            created_at: iso8601(d.created_at),
            updated_at: iso8601(d.updated_at),
        }
    }
}

/// A page of a webhook's deliveries, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
    #[schema(minimum = 1)]
    pub page: u32,
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// How many match, counted up to 10,000 (past it, 10,000 and `totalCapped`).
    #[schema(minimum = 0, maximum = 10_000)]
    pub total: i64,
    /// More than 10,000 match: `total` stops counting there, and later pages go on.
    pub total_capped: bool,
    /// Pass as `iterator` for the next page (the deliveries written before this page's last); null on the last
    /// page.
    #[schema(required)]
    pub iterator: Option<String>,
    /// This is the last page.
    pub done: bool,
}

/// A delivery log's iterators start with this.
const DELIVERY_ITERATOR: &str = "dit_";

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attempt {
    pub id: String,
    #[schema(minimum = 1)]
    pub attempt: i64,
    #[schema(required)]
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    #[schema(required, max_length = 4096)]
    pub response_body: Option<String>,
    #[schema(required)]
    pub error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The request's headers as sent, `[name, value]` pairs: signatures shown, the signing secret never, and custom
    /// headers whose name suggests a credential masked. Null for attempts that sent nothing.
    #[schema(required, value_type = Option<Vec<(String, String)>>)]
    pub request_headers: Option<Value>,
    /// The body this attempt signed and sent, when it was not the delivery's `body`: the webhook's transformation
    /// made it. Null: the delivery's body as it is
    #[schema(required)]
    pub request_body: Option<String>,
}

impl Attempt {
    fn of(a: &AttemptRow) -> Attempt {
        Attempt {
            id: a.id.clone(),
            attempt: a.attempt,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response_body: a.response_body.clone(),
            error: a.error.clone(),
            created_at: iso8601(a.created_at),
            request_headers: a.request_headers.as_deref().and_then(|h| serde_json::from_str::<Value>(h).ok()),
            request_body: a.request_body.clone(),
        }
    }
}

/// One delivery: the body it sends and every attempt.
#[derive(Serialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Every attempt, oldest first (in place of the summary's count)
    pub attempts: Vec<Attempt>,
    /// The request body exactly as sent on every attempt (byte for byte, as text)
    pub body: String,
    /// The body parsed as JSON (numbers and member order normalised; use `body` for the exact bytes)
    pub payload: Value,
}

impl PartialSchema for DeliveryDetail {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let about = |text: &str| ObjectBuilder::new().description(Some(text));
        super::openapi::extended::<Delivery>(
            "One delivery: its payload and every attempt",
            &["attempts"],
            vec![
                ("attempts", ArrayBuilder::new().items(super::openapi::reference::<Attempt>()).into()),
                (
                    "body",
                    about("The request body exactly as sent on every attempt (byte for byte, as text)")
                        .schema_type(Type::String)
                        .into(),
                ),
                (
                    "payload",
                    about(
                        "The body parsed as JSON (numbers and member order normalised; use `body` for the exact bytes)",
                    )
                    .into(),
                ),
            ],
        )
    }
}

impl ToSchema for DeliveryDetail {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Attempt::name().into(), Attempt::schema()));
        <Delivery as ToSchema>::schemas(schemas);
    }
}

/// What one attempt made now (a test send) showed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttemptResult {
    pub success: bool,
    #[schema(required)]
    pub status_code: Option<u16>,
    #[schema(minimum = 0)]
    pub duration_ms: i64,
    #[schema(required)]
    pub response_body: Option<String>,
    #[schema(required)]
    pub error: Option<String>,
    pub delivery_id: DeliveryId,
}

impl AttemptResult {
    fn of(attempted: &Attempted, delivery_id: DeliveryId) -> AttemptResult {
        let r = &attempted.result;
        AttemptResult {
            success: r.succeeded(),
            status_code: r.status_code,
            duration_ms: r.duration_ms,
            response_body: r.response_body.clone(),
            error: attempted.outcome.error.clone(),
            delivery_id,
        }
    }
}

/// What a manual retry showed, and where the delivery stands after it.
#[derive(Serialize)]
pub struct RetryResult {
    #[serde(flatten)]
    pub attempt: AttemptResult,
    pub status: DeliveryStatus,
}

impl PartialSchema for RetryResult {
    fn schema() -> RefOr<Schema> {
        super::openapi::extended::<AttemptResult>(
            "What the attempt showed, and where the delivery stands after it",
            &[],
            vec![("status", super::openapi::reference::<DeliveryStatus>())],
        )
    }
}

impl ToSchema for RetryResult {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((DeliveryStatus::name().into(), DeliveryStatus::schema()));
        <AttemptResult as ToSchema>::schemas(schemas);
    }
}

/// `POST /api/webhooks/{id}/test`'s body (optional).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// The body is checked in [`test`]; this type documents it.
#[allow(dead_code)]
pub struct TestRequest {
    /// The sample's event type; the webhook's first subscribed type when absent
    #[schema(nullable = false)]
    event_type: Option<String>,
}

/// `GET /api/webhooks/{id}/deliveries?success=&event=&page=&limit=`
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "deliveries", operation_id = "listDeliveries",
    summary = "The webhook's delivery log, newest first",
    params(
        ("id" = WebhookId, Path, description = "The webhook's id"),
        ("success" = Option<bool>, Query, description = "Only succeeded (true) or failed (false) deliveries"),
        ("status" = Option<DeliveryStatus>, Query, description = "Only deliveries in this status"),
        ("event" = Option<String>, Query, description = "Only deliveries of this event type"),
        ("page" = Option<u32>, Query, minimum = 1, description = "Page, from 1 (default 1)"),
        ("iterator" = Option<String>, Query, description = "Where a previous page said the next starts (its \
            `iterator`); in place of `page`, and it reads only the page it answers"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Deliveries per page (default 20)"),
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
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
        if !crate::domain::catalogue::could_be_type(e) {
            return Err(ApiError::invalid("event", format!("unknown event type {e:?}")));
        }
    }
    let (page, at, rounds_before) = ListIterator::pair_page_at(req, DELIVERY_ITERATOR)?;
    let limit = at.limit;
    let query = LogQuery {
        org: &ctx.caller.org,
        webhook_id: &webhook.id,
        status,
        event_type: event.as_deref(),
        page: at,
        rounds_before,
    };
    let deliveries::LogPage { page: listed, next_before, next_rounds_before } =
        deliveries::list(&ctx.store()?, &query).await?;
    let (total, done) = (listed.total, !listed.more);
    let iterator = listed.more.then(|| ListIterator::after_pair(DELIVERY_ITERATOR, next_before, next_rounds_before));
    let data = listed.rows.iter().map(|d| Delivery::of(&d.delivery)).collect();
    json(200, &DeliveryPage { data, page, limit, total: total.total, total_capped: total.capped, iterator, done })
}

async fn load_delivery(ctx: &Ctx, webhook_id: &WebhookId, delivery_id: &str) -> ApiResult<DeliveryRow> {
    let not_found = || ApiError::not_found("no delivery with this id");
    let delivery_id = DeliveryId::parse(delivery_id).ok_or_else(not_found)?;
    let db = ctx.store()?;
    if let Some(d) = deliveries::get_scoped(&db, &ctx.caller.org, webhook_id, &delivery_id).await? {
        return Ok(d);
    }
    // A delivery of an ingest's round has no row until its first attempt is recorded (schema v22), nor after it when
    // that attempt succeeded (schema v23).
    deliveries::of_round(&db, &ctx.caller.org, webhook_id, &delivery_id).await?.ok_or_else(not_found)
}

/// `GET /api/webhooks/{id}/deliveries/{deliveryId}`: the payload and every attempt.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries/{deliveryId}", tag = "deliveries",
    operation_id = "getDelivery", summary = "One delivery: its payload and every attempt",
    params(("id" = WebhookId, Path, description = "The webhook's id"), ("deliveryId" = DeliveryId, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryDetail),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery", body = ErrorBody),
    ))]
pub async fn get(ctx: &Ctx, id: &str, delivery_id: &str) -> ApiResult<Response> {
    let webhook = load(ctx, id).await?;
    let d = load_delivery(ctx, &webhook.id, delivery_id).await?;
    let attempts = deliveries::attempts(&ctx.store()?, &d.id).await?;
    json(
        200,
        &DeliveryDetail {
            delivery: Delivery::of(&d),
            attempts: attempts.iter().map(Attempt::of).collect(),
            payload: serde_json::from_str(&d.body).unwrap_or(Value::String(d.body.clone())),
            // The bytes every attempt sent, as text: `payload` is parsed JSON, which cannot keep `1.50` or member
            // order.
            body: d.body,
        },
    )
}

/// `POST /api/webhooks/{id}/deliveries/{deliveryId}/retry`: one attempt now, also for failed deliveries; `409
/// attempt_in_progress` (and nothing sent) while another attempt of it is in flight.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{deliveryId}/retry", tag = "deliveries",
    operation_id = "retryDelivery", summary = "Resend now (also failed deliveries)",
    description = "Makes one attempt now, whatever the delivery's state. While another attempt of the same delivery \
        is in flight (a queue attempt waiting on a slow receiver), nothing is sent and the answer is 409 \
        `attempt_in_progress` (`ordered_behind` for a fifo webhook whose earlier delivery is still pending).",
    params(("id" = WebhookId, Path, description = "The webhook's id"), ("deliveryId" = DeliveryId, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The attempt", body = RetryResult),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery", body = ErrorBody),
        (status = 409, description = "`attempt_in_progress`: an attempt of this delivery is in flight; nothing was sent",
            body = ErrorBody),
    ))]
pub async fn retry(ctx: &Ctx, id: &str, delivery_id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = load(ctx, id).await?;
    let d = load_delivery(ctx, &webhook.id, delivery_id).await?;
    let db = ctx.store()?;
    if d.unwritten && d.status == DeliveryStatus::Succeeded {
        // Its first attempt succeeded and lives in its event's round (schema v23): the retry claims a row.
        deliveries::write_round_success(&db, &d).await?;
    }
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
    let status = attempted.outcome.status;
    json(200, &RetryResult { attempt: AttemptResult::of(&attempted, delivery_id), status })
}

/// `POST /api/webhooks/{id}/test` `{ "eventType"? }`: a realistic sample with `"test": true`, sent now and logged.
#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "deliveries", operation_id = "testWebhook",
    summary = "Send a sample event (test: true) now; logged like any delivery",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    request_body(content = Option<TestRequest>, description = "Optional: the sample's event type"),
    responses(
        (status = 200, description = "The attempt", body = AttemptResult),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
pub async fn test(ctx: &Ctx, id: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = load(ctx, id).await?;
    if !webhook.is_sent_to() {
        return Err(ApiError::new(409, "polling_webhook", "a polling webhook has no url to send a test event to"));
    }
    let body = read_optional_json(req, 4096).await?.unwrap_or_else(|| json!({}));
    let map = super::object_with(&body, &["eventType"])?;
    let own = crate::store::event_types::list(&ctx.store()?, &ctx.caller.org).await?;
    let known = |t: &str| is_known_type(t) || own.iter().any(|o| o.name == t);
    let event_type = match map.get("eventType") {
        None | Some(Value::Null) => {
            webhook.patterns().into_iter().find(|p| known(p)).unwrap_or_else(|| EVENT_TYPES[0].name.to_string())
        }
        Some(Value::String(t)) if known(t) => t.clone(),
        Some(_) => return Err(ApiError::invalid("eventType", "eventType must be a known event type")),
    };
    let delivery_id = DeliveryId::generate(&random());
    let event_id = EventId::parse(&format!("{}_test", EventId::generate(&random())))
        .ok_or_else(|| ApiError::internal("a generated event id did not parse"))?;
    // The type's example (the catalogue's), else the default sample.
    let data = match own.iter().find(|o| o.name == event_type).and_then(|o| o.example.clone()) {
        Some(example) => example,
        None => sample_data(&event_type).to_string(),
    };
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
        lost_attempts: 0,
        unwritten: false,
        ingest_round: None,
    };
    deliveries::insert_claimed(&ctx.store()?, &row).await?;
    let delivery_id = row.id.clone();
    let attempted = attempt_one(&ctx.env, &ctx.config, row, webhook).await?;
    json(200, &AttemptResult::of(&attempted, delivery_id))
}
