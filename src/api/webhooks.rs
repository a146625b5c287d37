//! Webhook subscriptions: list, create, read, change, delete, and the secret routes.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::{json, query_param, read_json, Ctx};
use crate::domain::ids::WebhookId;
use crate::domain::time::iso8601;
use crate::domain::webhook::{parse_create, parse_patch, SignatureScheme};
use crate::error::{ApiError, ApiResult};
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

/// The webhook with its secret in the clear, as create returns it.
fn with_secret(row: &WebhookRow, secret: &str) -> ApiResult<Value> {
    let mut value = serde_json::to_value(row.to_api()).map_err(ApiError::internal)?;
    value["secret"] = Value::String(secret.to_string());
    Ok(value)
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
        let mut value = serde_json::to_value(row.to_api()).map_err(ApiError::internal)?;
        let a = activity.iter().find(|a| a.webhook_id == row.id);
        let (succeeded, failed) = a.map_or((0, 0), |a| (a.succeeded.unwrap_or(0), a.failed.unwrap_or(0)));
        value["activity"] = json!({
            "last24h": {
                "total": a.and_then(|a| a.total).unwrap_or(0),
                "succeeded": succeeded,
                "failed": failed,
                "failureRate": super::stats::failure_rate(succeeded, failed),
            },
            "lastDeliveryAt": a.and_then(|a| a.last_delivery_at).map(iso8601),
        });
        data.push(value);
    }
    json(200, &json!({ "data": data, "total": data.len() }))
}

pub async fn create(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let body = read_json(req, MAX_BODY_BYTES).await?;
    let new = parse_create(&body, ctx.config.allow_insecure)?;
    let id = WebhookId::generate(&random());
    // HMAC: the caller's secret or a fresh one, shown once. Ed25519: a fresh key pair; only the public key is shown.
    let (secret, public_key) = match (&new.secret, new.signature) {
        (Some(given), SignatureScheme::HmacSha256) => (given.clone(), None),
        (_, scheme) => fresh_signing_key(scheme),
    };
    let db = ctx.store()?;
    let max = ctx.config.max_webhooks_per_org;
    let sealed = seal(ctx, &secret, id.as_str())?;
    let key = StoredKey { sealed: &sealed, public_key: public_key.as_deref() };
    let inserted = store::webhooks::insert(&db, &ctx.caller.org, &id, &new, &key, ctx.now, max).await?;
    let Some(row) = inserted else {
        return Err(ApiError::new(
            409,
            "plan_limit_reached",
            format!("this organization already has the maximum of {max} webhooks; delete one first"),
        ));
    };
    match public_key {
        None => json(201, &with_secret(&row, &secret)?),
        Some(_) => json(201, &row.to_api()),
    }
}

pub async fn get(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    json(200, &load(ctx, id).await?.to_api())
}

pub async fn update(ctx: &Ctx, id: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    let body = read_json(req, MAX_BODY_BYTES).await?;
    let patch = parse_patch(&body, ctx.config.allow_insecure)?;
    let db = ctx.store()?;
    // A row written before secrets were encrypted is sealed on this write.
    let resealed = row.resealed(&ctx.config.secret_box(), random).map_err(ApiError::internal)?;
    let was_inactive = !row.is_active;
    let inactive_since = row.disabled_at.unwrap_or(row.created_at);
    let row = store::webhooks::update(&db, &ctx.caller.org, &row.id, &patch, resealed.as_ref(), ctx.now)
        .await?
        .ok_or_else(not_found)?;
    let mut out = serde_json::to_value(row.to_api()).map_err(ApiError::internal)?;
    if was_inactive && row.is_active {
        // Re-activating does not replay what the webhook missed; the answer says how much that is and how to.
        let since = inactive_since.min(ctx.now - 1);
        let missed = super::recovery::count_missed(ctx, &row, since, ctx.now).await?;
        out["missedEvents"] = json!({
            "count": missed.min(crate::delivery::jobs::MAX_PER_CALL),
            "more": missed > crate::delivery::jobs::MAX_PER_CALL,
            "since": iso8601(since),
            "replay": {
                "method": "POST",
                "path": format!("/api/webhooks/{}/replay-missing", row.id),
                "body": { "since": iso8601(since) },
            },
        });
    }
    json(200, &out)
}

pub async fn delete(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    if !store::webhooks::delete(&ctx.store()?, &ctx.caller.org, &row.id, ctx.now).await? {
        return Err(not_found());
    }
    Ok(Response::empty()?.with_status(204))
}

pub async fn secret(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let row = load(ctx, id).await?;
    // An Ed25519 secret key never leaves edgehook: receivers need only the public key.
    if let Some(public_key) = &row.public_key {
        return json(200, &json!({ "publicKey": public_key }));
    }
    let secret = ctx.config.secret_box().open(&row.secret, row.id.as_str()).map_err(ApiError::internal)?;
    json(200, &json!({ "secret": secret }))
}

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
    let key = StoredKey { sealed: &sealed, public_key: public_key.as_deref() };
    let rotated =
        store::webhooks::rotate_secret(&db, &ctx.caller.org, &row.id, &key, &previous, until, ctx.now).await?;
    if !rotated {
        return Err(not_found());
    }
    match public_key {
        // The old key pair keeps signing until `until`: both public keys verify meanwhile.
        Some(public_key) => json(
            200,
            &json!({
                "publicKey": public_key,
                "previousPublicKey": row.public_key,
                "previousSecretExpiresAt": iso8601(until),
            }),
        ),
        None => json(200, &json!({ "secret": secret, "previousSecretExpiresAt": iso8601(until) })),
    }
}
