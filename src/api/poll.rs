//! Polling endpoints: a webhook created with `"destination": {"type": "poll"}` has no URL; its events wait, in order,
//! filters applied, and its reader fetches them with `GET /api/poll/{id}?after=<cursor>&limit=` and a token scoped to
//! that webhook (`POST /api/webhooks/{id}/poll-tokens`, shown once). Each message carries the Standard Webhooks
//! headers, so the same verifier checks it.

use serde::Serialize;
use utoipa::ToSchema;
use worker::{Env, Request, Response};

use super::webhooks::load;
use super::{json, number_param, query_param, Ctx};
use crate::auth::{api_key_hash, bearer_token, new_credential};
use crate::config::Config;
use crate::delivery::attempt::{signature_header, transformed};
use crate::domain::ids::{PollTokenId, WebhookId};
use crate::domain::payload::{self, DeliveryBody};
use crate::domain::time::iso8601;
use crate::domain::webhook::PollStatus;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::platform::{now_ms, random};
use crate::store::poll::{PollPosition, PollTokenRow, PENDING_COUNTED};
use crate::store::{self, webhooks::WebhookRow};

/// The prefix of poll tokens.
pub const POLL_TOKEN_PREFIX: &str = "ehpl_";
/// A read answers at most this many messages.
pub const MAX_POLL_LIMIT: u32 = 100;
/// Evaluation steps a read's transformations may take between them (5 runs at the full budget of one; about 6 ms
/// of CPU at 0.12 µs a step natively): past it, the page ends and `next` says where the next read starts.
pub const POLL_STEPS: u64 = 5 * crate::domain::transform::STEP_BUDGET;
/// The most tokens one webhook has.
pub const MAX_POLL_TOKENS: usize = 10;

/// One message: its id, its event, the Standard Webhooks headers and the exact body.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollMessage {
    /// The message's id, also its `webhook-id`
    #[schema(pattern = "^msg_[0-9]+$")]
    pub id: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub headers: PollHeaders,
    /// The body exactly as a push delivery would carry it (the text the signature covers): the event, or what the
    /// webhook's transformation made of it. Null when the transformation failed (`error` says why): the event is
    /// never given in its place
    #[schema(required)]
    pub body: Option<String>,
    /// Why the webhook's transformation made no body for this message
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

/// The Standard Webhooks headers of a message, signed when it is read (`webhook-timestamp` is the read's time, so
/// a verifier's tolerance holds however late the reader comes).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollHeaders {
    #[serde(rename = "webhook-id")]
    pub id: String,
    #[serde(rename = "webhook-timestamp")]
    pub timestamp: String,
    #[serde(rename = "webhook-signature")]
    pub signature: String,
}

/// A page of messages and the cursor to read after them.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollPage {
    pub data: Vec<PollMessage>,
    /// Pass as `after` to read the next messages (and acknowledge these); the same cursor again when there are none
    pub next: String,
}

/// A new token, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollTokenCreated {
    pub id: PollTokenId,
    /// `Authorization: Bearer <token>` for `GET /api/poll/{id}`. Shown once: only its SHA-256 is stored.
    #[schema(pattern = "^ehpl_")]
    pub token: String,
}

/// A token as the list shows it: never the token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollToken {
    pub id: PollTokenId,
    /// The token's first characters, to tell tokens apart
    pub hint: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollTokenList {
    pub data: Vec<PollToken>,
}

/// Where a polling webhook's reader stands (its page shows it).
pub fn status_of(p: &PollPosition) -> PollStatus {
    PollStatus {
        cursor: p.acked.to_string(),
        latest: p.latest.to_string(),
        pending: p.pending.min(PENDING_COUNTED),
        oldest_pending_at: p.oldest_pending_at.map(iso8601),
    }
}

/// The cursor of a message (its `poll_messages` seq) as the API writes it.
fn cursor(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid("after", "after must be a cursor this endpoint answered (`next`)"))
}

#[utoipa::path(get, path = "/api/poll/{id}", tag = "webhooks", operation_id = "poll",
    summary = "Read a polling webhook's messages, in order",
    description = "Authenticated by one of the webhook's poll tokens (`Authorization: Bearer ehpl_…`), not an API \
        key. Without `after`: from the oldest message not yet acknowledged. With `after`: the messages after that \
        cursor, and every message up to it is acknowledged. Reading again with the same cursor answers the same \
        messages (ids and bodies; the signature is made at each read). Messages leave with their events at the end \
        of the retention window, read or not.",
    security(("pollToken" = [])),
    params(
        ("id" = WebhookId, Path, description = "The polling webhook"),
        ("after" = Option<String>, Query, description = "A cursor: the `next` of an earlier read"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Messages per read (default 50)"),
    ),
    responses(
        (status = 200, description = "Messages after the cursor, oldest first", body = PollPage),
        (status = 400, description = "Invalid request; `error.field` names the offending parameter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked poll token", body = ErrorBody),
        (status = 403, description = "The token reads another webhook", body = ErrorBody),
        (status = 404, description = "No such polling webhook", body = ErrorBody),
    ))]
pub async fn read(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    let authorization = req.headers().get("authorization").ok().flatten();
    let token = bearer_token(authorization.as_deref())?;
    if !token.starts_with(POLL_TOKEN_PREFIX) {
        return Err(ApiError::unauthorized("a polling endpoint is read with one of its poll tokens (ehpl_…)"));
    }
    let found = store::poll::find_token(&store::global(env)?, &api_key_hash(token)).await?;
    let found = found.ok_or_else(|| ApiError::unauthorized("the poll token is unknown or revoked"))?;
    if found.webhook_id.as_str() != id {
        return Err(ApiError::forbidden("this token reads another webhook"));
    }
    let after = query_param(req, "after")?.filter(|a| !a.is_empty()).map(|a| cursor(&a)).transpose()?;
    let limit = number_param(query_param(req, "limit")?, "limit", 1, MAX_POLL_LIMIT, 50)?;
    let db = store::organization(env, &found.organization_id)?;
    let page = store::poll::read(&db, &found.organization_id, &found.webhook_id, after, limit).await?;
    let webhook = page.webhook.ok_or_else(|| ApiError::not_found("no such polling webhook"))?;
    let config = Config::from_env(env);
    let now = now_ms();
    let secrets = webhook.signing_secrets(now, &config.secret_box()).map_err(ApiError::internal)?;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let mut data = Vec::with_capacity(page.messages.len());
    let (mut steps, mut last) = (0u64, None);
    for m in &page.messages {
        // A page of transformed messages ends early once its programs have taken POLL_STEPS between them (the
        // read runs in one request's CPU time); the cursor then points after the last message answered.
        if steps > POLL_STEPS {
            break;
        }
        let id = format!("msg_{}", m.seq);
        let body = payload::build(&DeliveryBody {
            event_id: m.event_id.as_str(),
            event_type: &m.event_type,
            timestamp: &iso8601(m.created_at),
            organization_id: webhook.organization_id.as_str(),
            delivery_id: &id,
            data: &m.data,
            changes: m.changes.as_deref(),
            test: false,
        })
        .map_err(ApiError::internal)?;
        let run = transformed(&webhook, &body);
        steps += run.steps;
        let (body, error) = match run.body {
            Ok(transformed) => (Some(transformed.unwrap_or(body)), None),
            Err(reason) => (None, Some(reason)),
        };
        let timestamp = now.div_euclid(1000);
        let signature =
            body.as_deref().map(|b| signature_header(&id, timestamp, b.as_bytes(), &secrets)).unwrap_or_default();
        data.push(PollMessage {
            headers: PollHeaders { id: id.clone(), timestamp: timestamp.to_string(), signature },
            id,
            event_id: m.event_id.to_string(),
            event_type: m.event_type.clone(),
            body,
            error,
        });
        last = Some(m.seq);
    }
    let next = last.or(after).unwrap_or(webhook.poll_acked);
    json(200, &PollPage { data, next: next.to_string() })
}

/// The webhook, if it is a polling one.
async fn polling(ctx: &Ctx, id: &str) -> ApiResult<WebhookRow> {
    let webhook = load(ctx, id).await?;
    if webhook.is_sent_to() {
        return Err(ApiError::new(
            409,
            "not_polling",
            "this webhook is sent to its url; only a polling webhook has poll tokens",
        ));
    }
    Ok(webhook)
}

#[utoipa::path(post, path = "/api/webhooks/{id}/poll-tokens", tag = "webhooks", operation_id = "createPollToken",
    summary = "A token that reads this polling webhook, shown once",
    params(("id" = WebhookId, Path, description = "The polling webhook")),
    responses(
        (status = 201, description = "The token", body = PollTokenCreated),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 409, description = "Not a polling webhook (`not_polling`), or it has 10 tokens (`limit_reached`)", body = ErrorBody),
    ))]
pub async fn create_token(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = polling(ctx, id).await?;
    let global = store::global(&ctx.env)?;
    if store::poll::tokens(&global, &ctx.caller.org, &webhook.id).await?.len() >= MAX_POLL_TOKENS {
        return Err(ApiError::new(
            409,
            "limit_reached",
            format!("a webhook has at most {MAX_POLL_TOKENS} poll tokens; revoke one first"),
        ));
    }
    let token = new_credential(POLL_TOKEN_PREFIX, &random());
    let row = PollTokenRow {
        id: PollTokenId::generate(&random()),
        organization_id: ctx.caller.org.clone(),
        webhook_id: webhook.id.clone(),
        hint: format!("{}…", &token[..POLL_TOKEN_PREFIX.len() + 4]),
        created_at: ctx.now,
    };
    store::poll::insert_token(&global, &row, &api_key_hash(&token)).await?;
    json(201, &PollTokenCreated { id: row.id, token })
}

#[utoipa::path(get, path = "/api/webhooks/{id}/poll-tokens", tag = "webhooks", operation_id = "listPollTokens",
    summary = "The polling webhook's tokens (never the tokens themselves)",
    params(("id" = WebhookId, Path, description = "The polling webhook")),
    responses(
        (status = 200, description = "Its tokens, newest first", body = PollTokenList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 409, description = "Not a polling webhook", body = ErrorBody),
    ))]
pub async fn list_tokens(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    let webhook = polling(ctx, id).await?;
    let rows = store::poll::tokens(&store::global(&ctx.env)?, &ctx.caller.org, &webhook.id).await?;
    let data =
        rows.into_iter().map(|r| PollToken { id: r.id, hint: r.hint, created_at: iso8601(r.created_at) }).collect();
    json(200, &PollTokenList { data })
}

#[utoipa::path(delete, path = "/api/webhooks/{id}/poll-tokens/{tokenId}", tag = "webhooks",
    operation_id = "deletePollToken", summary = "Revoke a poll token at once",
    params(
        ("id" = WebhookId, Path, description = "The polling webhook"),
        ("tokenId" = PollTokenId, Path, description = "The token's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such webhook or token", body = ErrorBody),
        (status = 409, description = "Not a polling webhook", body = ErrorBody),
    ))]
pub async fn delete_token(ctx: &Ctx, id: &str, token_id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = polling(ctx, id).await?;
    let not_found = || ApiError::not_found("no such poll token");
    let token_id = PollTokenId::parse(token_id).ok_or_else(not_found)?;
    if !store::poll::delete_token(&store::global(&ctx.env)?, &ctx.caller.org, &webhook.id, &token_id).await? {
        return Err(not_found());
    }
    Ok(Response::empty()?.with_status(204))
}
