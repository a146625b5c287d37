//! Webhook subscriptions: list, create, read, change, delete, and the secret routes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::{json, query_param, read_json, Ctx};
use crate::domain::filter::Filter;
use crate::domain::ids::{EventId, WebhookId};
use crate::domain::time::iso8601;
use crate::domain::transform::Program;
use crate::domain::webhook::{
    parse_create, parse_patch, Activity, ActivityCounts, MissedEvents, ReplayCall, ReplayMethod, ReplayRequest,
    SignatureScheme, Webhook, WebhookCreate, WebhookCreated, WebhookPatch, WebhookWithSecret,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::platform::random;
use crate::store::webhooks::{StoredKey, WebhookRow};
use crate::store::{self};
use edgehook_verifier::asymmetric::keypair_from_random;
use edgehook_verifier::scheme::secret_from_random;

/// Management bodies are small; anything larger is refused before parsing.
const MAX_BODY_BYTES: usize = 64 * 1024;

fn not_found() -> ApiError {
    ApiError::not_found("no webhook with this id")
}

/// Loads one of the caller's webhooks. A malformed id, an unknown one and another organization's all give the
/// same 404.
pub async fn load(ctx: &Ctx, id: &str) -> ApiResult<WebhookRow> {
    let id = WebhookId::parse(id).ok_or_else(not_found)?;
    store::webhooks::get(&ctx.store()?, &ctx.caller.org, &id).await?.ok_or_else(not_found)
}

/// The organization's webhooks.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookList {
    pub data: Vec<Webhook>,
    pub total: usize,
}

/// A webhook's signing secret, or for an ed25519 webhook its public key (its secret key never leaves edgehook).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Secret {
    Hmac(HmacSecret),
    Ed25519(PublicKey),
}

/// The shared secret of an HMAC webhook.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacSecret {
    pub secret: String,
}

/// An ed25519 webhook: its secret key never leaves edgehook
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicKey {
    #[schema(pattern = "^whpk_")]
    pub public_key: String,
}

/// The new secret (or key pair) and when the previous one stops signing.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RotatedSecret {
    Hmac(RotatedHmacSecret),
    Ed25519(RotatedKeyPair),
}

/// An HMAC webhook's new secret; the previous one keeps signing until `previousSecretExpiresAt`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotatedHmacSecret {
    pub secret: String,
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: String,
}

/// An ed25519 webhook's new public key; the previous key pair keeps signing until `previousSecretExpiresAt`, so
/// both public keys verify meanwhile.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotatedKeyPair {
    #[schema(pattern = "^whpk_")]
    pub public_key: String,
    #[schema(required)]
    pub previous_public_key: Option<String>,
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: String,
}

/// A new signing secret for `scheme`, and for Ed25519 its public key: `(whsec_…, None)` or `(whsk_…, Some(whpk_…))`.
fn fresh_signing_key(scheme: SignatureScheme) -> (String, Option<String>) {
    match scheme {
        SignatureScheme::HmacSha256 => (secret_from_random(&random()), None),
        SignatureScheme::Ed25519 => {
            let (secret, public) = keypair_from_random(&random());
            (secret, Some(public))
        }
    }
}

/// Seals a secret of webhook `id` for storage; a Worker without `SECRETS_KEY` cannot store one (and says so in its
/// log, never to the caller).
fn seal(ctx: &Ctx, secret: &str, id: &str) -> ApiResult<String> {
    ctx.config.secret_box().seal(secret, id, &random()).map_err(ApiError::internal)
}

#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    summary = "List the organization's webhooks, newest first (never with secrets)",
    params(("isActive" = Option<bool>, Query, description = "Only active (true) or inactive (false) webhooks")),
    responses(
        (status = 200, description = "Webhooks", body = WebhookList),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn list(ctx: &Ctx, req: &Request) -> ApiResult<Response> {
    let active = match query_param(req, "isActive")?.or(query_param(req, "active")?).as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("isActive", "isActive must be true or false")),
    };
    let db = ctx.store()?;
    let rows = store::webhooks::list(&db, &ctx.caller.org, active).await?;
    let activity = store::deliveries::activity(&db, &ctx.caller.org, ctx.now - 86_400_000).await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        let a = activity.iter().find(|a| a.webhook_id == row.id);
        let (succeeded, failed) = a.map_or((0, 0), |a| (a.succeeded.unwrap_or(0), a.failed.unwrap_or(0)));
        data.push(Webhook {
            activity: Some(Activity {
                last24h: ActivityCounts {
                    total: a.and_then(|a| a.total).unwrap_or(0),
                    succeeded,
                    failed,
                    failure_rate: super::stats::failure_rate(succeeded, failed),
                },
                last_delivery_at: a.and_then(|a| a.last_delivery_at).map(iso8601),
            }),
            ..row.to_api()
        });
    }
    json(200, &WebhookList { total: data.len(), data })
}

#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", operation_id = "createWebhook",
    summary = "Create a webhook",
    request_body = WebhookCreate,
    responses(
        (status = 201, description = "Created; the only response besides the secret routes that includes the secret",
            body = WebhookCreated),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 409, description = "plan_limit_reached: the organization holds MAX_WEBHOOKS_PER_ORG webhooks",
            body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
    ))]
pub async fn create(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let body = read_json(req, MAX_BODY_BYTES).await?;
    let new = parse_create(&body, ctx.config.allow_insecure)?;
    super::event_types::check_patterns(ctx, &new.events).await?;
    let id = WebhookId::generate(&random());
    // HMAC: the caller's secret or a fresh one, shown once. Ed25519: a fresh key pair; only the public key is shown.
    let (secret, public_key) = match (&new.secret, new.signature) {
        (Some(given), SignatureScheme::HmacSha256) => (given.clone(), None),
        (_, scheme) => fresh_signing_key(scheme),
    };
    let db = ctx.store()?;
    let max = ctx.config.max_webhooks_per_org;
    let sealed = seal(ctx, &secret, id.as_str())?;
    // A destination's credentials are sealed like the signing secret, bound to the webhook's id.
    let destination_config = match &new.service {
        Some(service) => {
            let sealed_credential = seal(ctx, service.credential(), id.as_str())?;
            Some(service.clone().with_credential(sealed_credential).to_config().map_err(ApiError::internal)?)
        }
        None => None,
    };
    let key = StoredKey {
        sealed: &sealed,
        public_key: public_key.as_deref(),
        destination_config: destination_config.as_deref(),
    };
    let inserted = store::webhooks::insert(&db, &ctx.caller.org, &id, &new, &key, ctx.now, max).await?;
    let Some(row) = inserted else {
        return Err(ApiError::new(
            409,
            "plan_limit_reached",
            format!("this organization already has the maximum of {max} webhooks; delete one first"),
        ));
    };
    let created = match public_key {
        None => WebhookCreated::WithSecret(WebhookWithSecret { webhook: row.to_api(), secret }),
        Some(_) => WebhookCreated::WithPublicKey(row.to_api()),
    };
    json(201, &created)
}

#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks", operation_id = "getWebhook",
    summary = "Read a webhook",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No such webhook in this organization", body = ErrorBody),
    ))]
pub async fn get(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    let row = load(ctx, id).await?;
    let mut out = row.to_api();
    if !row.is_sent_to() {
        let position = store::poll::position(&ctx.store()?, &ctx.caller.org, &row).await?;
        out.poll = Some(super::poll::status_of(&position));
    }
    json(200, &out)
}

#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "webhooks", operation_id = "updateWebhook",
    summary = "Change a webhook (any subset of the create fields except secret)",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The changed webhook", body = Webhook),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
    ))]
pub async fn update(ctx: &Ctx, id: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    let body = read_json(req, MAX_BODY_BYTES).await?;
    let patch = parse_patch(&body, ctx.config.allow_insecure)?;
    if !row.is_sent_to() && patch.url.is_some() {
        return Err(ApiError::invalid("url", "a polling webhook has no url: its reader fetches its events"));
    }
    if let Some(events) = &patch.events {
        super::event_types::check_patterns(ctx, events).await?;
    }
    let db = ctx.store()?;
    // A row written before secrets were encrypted is sealed on this write.
    let resealed = row.resealed(&ctx.config.secret_box(), random).map_err(ApiError::internal)?;
    let was_inactive = !row.is_active;
    let inactive_since = row.disabled_at.unwrap_or(row.created_at);
    let row = store::webhooks::update(&db, &ctx.caller.org, &row.id, &patch, resealed.as_ref(), ctx.now)
        .await?
        .ok_or_else(not_found)?;
    let mut out = row.to_api();
    if was_inactive && row.is_active && row.is_sent_to() {
        // Re-activating does not replay what the webhook missed; the answer says how much that is and how to.
        let since = inactive_since.min(ctx.now - 1);
        let missed = super::recovery::count_missed(ctx, &row, since, ctx.now).await?;
        out.missed_events = Some(MissedEvents {
            count: missed.matching.min(crate::delivery::jobs::MAX_PER_CALL),
            more: missed.of_types > crate::delivery::jobs::MAX_PER_CALL,
            since: iso8601(since),
            replay: ReplayCall {
                method: ReplayMethod::Post,
                path: format!("/api/webhooks/{}/replay-missing", row.id),
                body: ReplayRequest { since: iso8601(since) },
            },
        });
    }
    json(200, &out)
}

#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    summary = "Delete a webhook; its pending deliveries stop",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
pub async fn delete(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    if !store::webhooks::delete(&ctx.store()?, &ctx.caller.org, &row.id, ctx.now).await? {
        return Err(not_found());
    }
    if !row.is_sent_to() {
        store::poll::delete_tokens_of(&store::global(&ctx.env)?, &ctx.caller.org, &row.id).await?;
    }
    Ok(Response::empty()?.with_status(204))
}

#[utoipa::path(get, path = "/api/webhooks/{id}/secret", tag = "webhooks", operation_id = "getSecret",
    summary = "The current signing secret",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The secret", body = Secret),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
pub async fn secret(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    // An Ed25519 secret key never leaves edgehook: receivers need only the public key.
    if let Some(public_key) = &row.public_key {
        return json(200, &Secret::Ed25519(PublicKey { public_key: public_key.clone() }));
    }
    let secret = ctx.config.secret_box().open(&row.secret, row.id.as_str()).map_err(ApiError::internal)?;
    json(200, &Secret::Hmac(HmacSecret { secret }))
}

#[utoipa::path(post, path = "/api/webhooks/{id}/regenerate-secret", tag = "webhooks",
    operation_id = "regenerateSecret",
    summary = "Rotate the signing secret; the previous one keeps signing during the grace window",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
pub async fn regenerate_secret(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    let (secret, public_key) = fresh_signing_key(row.signature());
    let until = ctx.now + i64::from(ctx.config.secret_grace_seconds) * 1000;
    let sealed = seal(ctx, &secret, row.id.as_str())?;
    // The outgoing secret keeps signing during the grace window: sealed too (if it was written before encryption).
    let previous = match row.resealed(&ctx.config.secret_box(), random).map_err(ApiError::internal)? {
        Some(resealed) => resealed.secret,
        None => row.secret.clone(),
    };
    let db = ctx.store()?;
    let key = StoredKey { sealed: &sealed, public_key: public_key.as_deref(), destination_config: None };
    let rotated =
        store::webhooks::rotate_secret(&db, &ctx.caller.org, &row.id, &key, &previous, until, ctx.now).await?;
    if !rotated {
        return Err(not_found());
    }
    let previous_secret_expires_at = iso8601(until);
    let rotated = match public_key {
        // The old key pair keeps signing until `until`: both public keys verify meanwhile.
        Some(public_key) => RotatedSecret::Ed25519(RotatedKeyPair {
            public_key,
            previous_public_key: row.public_key,
            previous_secret_expires_at,
        }),
        None => RotatedSecret::Hmac(RotatedHmacSecret { secret, previous_secret_expires_at }),
    };
    json(200, &rotated)
}

/// `POST /api/webhooks/filter-preview`'s body: a filter to try on the organization's last events.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"filter": {"data": {"amount": {"$gte": 10000}}}, "events": ["deal.*"]}))]
// Checked by `parse_preview`, which names the failing field; this type documents the body.
#[allow(dead_code)]
pub struct FilterPreviewRequest {
    /// The filter, as a webhook's `filter` would hold it
    #[schema(value_type = std::collections::BTreeMap<String, Value>)]
    filter: Value,
    /// Only events these patterns select (the webhook's `events`); absent: every type
    #[schema(nullable = false)]
    events: Option<Vec<String>>,
    /// How many of the last events to try it on (1 to 50, default 20)
    #[schema(minimum = 1, maximum = 50, nullable = false)]
    limit: Option<u32>,
}

/// Which of the last events a filter lets through.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterPreview {
    /// Newest first
    pub data: Vec<FilterPreviewEvent>,
    /// How many of them match
    pub matched: usize,
}

/// One event and whether the filter lets it through.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterPreviewEvent {
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub matches: bool,
}

/// How far back a preview looks for events of the given types.
const PREVIEW_SCAN: u32 = 200;
/// What one preview may spend evaluating, across its events (a preview runs in the request's own CPU time): each
/// event gets an even share, and one that would take more counts as let through, as at fan-out.
const PREVIEW_STEPS: u32 = 500_000;

#[utoipa::path(post, path = "/api/webhooks/filter-preview", tag = "webhooks", operation_id = "previewFilter",
    summary = "Try a payload filter on the organization's last events",
    description = "Evaluates the filter exactly as fan-out does, on the events as they were ingested; nothing is \
        stored or sent. The portal's webhook form uses it.",
    request_body = FilterPreviewRequest,
    responses(
        (status = 200, description = "The last events and whether each matches", body = FilterPreview),
        (status = 400, description = "Invalid request; `error.field` names the offending field (`filter`: the message gives the position)", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn preview_filter(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    let (filter, patterns, limit) = parse_preview(&read_json(req, MAX_BODY_BYTES).await?)?;
    let recent = store::events::recent(&ctx.store()?, &ctx.caller.org, PREVIEW_SCAN).await?;
    let per_event = (PREVIEW_STEPS / limit.max(1) as u32).min(crate::domain::filter::STEP_BUDGET);
    let data: Vec<FilterPreviewEvent> = recent
        .iter()
        .filter(|e| patterns.as_ref().is_none_or(|p| crate::domain::catalogue::subscribed(p, &e.event_type)))
        .take(limit)
        .map(|e| FilterPreviewEvent {
            event_id: e.id.clone(),
            event_type: e.event_type.clone(),
            created_at: iso8601(e.created_at),
            matches: filter.evaluate(&e.view(), per_event).unwrap_or(true),
        })
        .collect();
    json(200, &FilterPreview { matched: data.iter().filter(|e| e.matches).count(), data })
}

/// A preview's body: the filter, the patterns (if any) and how many events.
pub fn parse_preview(body: &Value) -> ApiResult<(Filter, Option<Vec<String>>, usize)> {
    let map = super::object_with(body, &["filter", "events", "limit"])?;
    let filter = Filter::parse(map.get("filter").ok_or_else(|| ApiError::invalid("filter", "filter is required"))?)?;
    let patterns = match map.get("events") {
        None | Some(Value::Null) => None,
        Some(v) => Some(crate::domain::webhook::patterns(v)?),
    };
    let limit = match map.get("limit") {
        None | Some(Value::Null) => 20,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "limit must be an integer from 1 to 50"))?
            as usize,
    };
    Ok((filter, patterns, limit))
}

/// `POST /api/webhooks/transformation-preview`'s body: a program and the event to run it on.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"transformation": {"jq": "{text: \"\\(.type): \\(.data.name)\"}"},
    "event": {"id": "evt_1", "type": "deal.updated", "timestamp": "2026-12-05T08:00:00Z", "data": {"name": "Acme"}}}))]
// Checked by `parse_transformation_preview`, which names the failing field; this type documents the body.
#[allow(dead_code)]
pub struct TransformationPreviewRequest {
    transformation: crate::domain::webhook::Transformation,
    /// The event as receivers would see it (`{id, type, timestamp, organizationId, deliveryId, data, changes?}`;
    /// the portal uses the catalogue's example or the last event of the type)
    #[schema(value_type = std::collections::BTreeMap<String, Value>)]
    event: Value,
}

/// What a program made of the event, exactly as an attempt would: the body, or why there is none.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformationPreview {
    /// The body an attempt would sign and send, as its exact text; null when the program failed
    #[schema(required)]
    pub body: Option<String>,
    /// Why there is no body: the program's error, or the budget it ran over; null when there is one
    #[schema(required)]
    pub error: Option<String>,
    /// Evaluation steps the run took (of 10,000)
    pub steps: u64,
}

#[utoipa::path(post, path = "/api/webhooks/transformation-preview", tag = "webhooks",
    operation_id = "previewTransformation",
    summary = "Run a transformation on an event",
    description = "Runs the jq program exactly as an attempt does (same engine, budgets and output rules) on the \
        event given; nothing is stored or sent. A program that does not compile is a 400 naming the line and column; \
        one that fails or runs over its budget is a 200 with `error`.",
    request_body = TransformationPreviewRequest,
    responses(
        (status = 200, description = "The body the program makes, or why it makes none", body = TransformationPreview),
        (status = 400, description = "Invalid request; `error.field` names the offending field (`transformation.jq`: the message gives the line and column)", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn preview_transformation(_ctx: &Ctx, req: Request) -> ApiResult<Response> {
    let (program, event) = parse_transformation_preview(&read_json(req, MAX_BODY_BYTES).await?)?;
    let run = program.run(&event, crate::platform::allocated);
    let (body, error) = match run.body {
        Ok(body) => (Some(body), None),
        Err(failure) => (None, Some(failure.to_string())),
    };
    json(200, &TransformationPreview { body, error, steps: run.steps })
}

/// A transformation preview's body: the compiled program and the event's JSON text.
pub fn parse_transformation_preview(body: &Value) -> ApiResult<(Program, String)> {
    let map = super::object_with(body, &["transformation", "event"])?;
    let missing = |field: &str| ApiError::invalid(field, format!("{field} is required"));
    let (_, program) = crate::domain::webhook::compiled_transformation(
        map.get("transformation").ok_or_else(|| missing("transformation"))?,
    )?
    .ok_or_else(|| missing("transformation"))?;
    let event = match map.get("event") {
        Some(event @ Value::Object(_)) => event.to_string(),
        Some(_) => {
            return Err(ApiError::invalid("event", "event must be a JSON object (the event as receivers see it)"))
        }
        None => return Err(missing("event")),
    };
    Ok((program, event))
}

/// The programs the portal offers for chat services' incoming webhooks.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformationPresets {
    pub data: Vec<TransformationPreset>,
}

/// One preset: a program that makes the body a chat service's incoming webhook accepts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformationPreset {
    /// `slack`, `discord` or `teams`
    pub name: String,
    pub title: String,
    /// The program, for a webhook's `transformation.jq`
    pub jq: String,
}

#[utoipa::path(get, path = "/api/transformation-presets", tag = "webhooks", operation_id = "listTransformationPresets",
    summary = "Transformations for Slack, Discord and Microsoft Teams",
    description = "jq programs that turn any event into the body the service's incoming webhook accepts (Slack's \
        `text` and blocks, Discord's `content` and embed, a Teams Adaptive Card). Use one as a webhook's \
        `transformation.jq`, as it is or as a start.",
    responses(
        (status = 200, description = "The presets", body = TransformationPresets),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn transformation_presets(_ctx: &Ctx) -> ApiResult<Response> {
    let data = crate::domain::transform::PRESETS
        .iter()
        .map(|(name, title, jq)| TransformationPreset {
            name: (*name).to_string(),
            title: (*title).to_string(),
            jq: (*jq).to_string(),
        })
        .collect();
    json(200, &TransformationPresets { data })
}
