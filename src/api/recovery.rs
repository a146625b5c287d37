//! After an outage: `POST /api/webhooks/{id}/recover` gives the deliveries that ended failed in a window a fresh
//! attempt chain; `POST /api/webhooks/{id}/replay-missing` delivers the events a webhook never got (it was inactive,
//! disabled or did not exist yet). Both count what they will do, answer `202` at once, and leave the work to the
//! deliveries queue (`delivery::jobs`), at most 10,000 deliveries per call. Admins only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use worker::{Request, Response};

use super::webhooks::load;
use super::{json, read_json, Ctx};
use crate::delivery::jobs::{self, Job, JobKind, MAX_PER_CALL};
use crate::domain::ids::WebhookId;
use crate::domain::time::{iso8601, parse_iso8601};
use crate::domain::webhook::ReplayRequest;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::recovery::{self, Cursor, Missing, MissingCount, Window};
use crate::store::webhooks::WebhookRow;

/// `POST /api/webhooks/{id}/recover`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// The body is checked by [`parse_window`]; this type documents it.
#[allow(dead_code)]
pub struct RecoverRequest {
    #[schema(format = DateTime)]
    since: String,
    /// Defaults to (and is capped at) now
    #[schema(format = DateTime, nullable = false)]
    until: Option<String>,
}

/// How many failed deliveries will be attempted again.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverResult {
    #[schema(minimum = 0, maximum = 10000)]
    pub recovered: i64,
    /// More than 10,000 matched: call again for the rest
    pub more: bool,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub until: String,
}

/// How many missed events will be delivered.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayResult {
    #[schema(minimum = 0, maximum = 10000)]
    pub replayed: i64,
    /// More than 10,000 matched: call again for the rest
    pub more: bool,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub until: String,
}

/// A window `{ "since", "until"? }` of ISO 8601 times; `until` defaults to (and is capped at) now.
pub fn parse_window(body: &Value, allow_until: bool, now: i64) -> ApiResult<(i64, i64)> {
    let map = super::object_with(body, if allow_until { &["since", "until"] } else { &["since"] })?;
    let time = |map: &Map<String, Value>, field: &str| -> ApiResult<Option<i64>> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_iso8601(s).map(Some).ok_or_else(|| {
                ApiError::invalid(field, format!("{field} must be an ISO 8601 time such as 2026-01-31T09:00:00Z"))
            }),
            Some(_) => Err(ApiError::invalid(field, format!("{field} must be an ISO 8601 time string"))),
        }
    };
    let since = time(map, "since")?.ok_or_else(|| ApiError::invalid("since", "since is required"))?;
    let until = time(map, "until")?.unwrap_or(now).min(now);
    if since >= until {
        return Err(ApiError::invalid("since", "since must be before until and before now"));
    }
    Ok((since, until))
}

fn require_active(webhook: &WebhookRow) -> ApiResult<()> {
    if !webhook.is_sent_to() {
        return Err(ApiError::new(
            409,
            "polling_webhook",
            "a polling webhook's reader reads again from any earlier cursor (GET /api/poll/{id}?after=…)",
        ));
    }
    if webhook.is_active {
        return Ok(());
    }
    Err(ApiError::new(
        409,
        "webhook_inactive",
        "the webhook is inactive: activate it (PATCH isActive: true) first, or its deliveries would fail again at once",
    ))
}

/// `POST /api/webhooks/{id}/recover` `{ since, until? }`: `202 { recovered, more, since, until }`.
#[utoipa::path(post, path = "/api/webhooks/{id}/recover", tag = "deliveries", operation_id = "recover",
    summary = "Give the deliveries that ended failed in a window a fresh attempt chain",
    description = "Each failed delivery of this webhook whose last attempt ended in [since, until) is attempted \
        again with its full retry budget; the body is identical (receivers deduplicate on webhook-id). Runs through \
        the deliveries queue; at most 10,000 per call. Admin only.",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    request_body = RecoverRequest,
    responses(
        (status = 202, description = "How many deliveries will be attempted again", body = RecoverResult),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed", body = ErrorBody),
        (status = 404, description = "No webhook with this id in the caller's organization", body = ErrorBody),
        (status = 409, description = "The webhook is inactive: activate it first (`webhook_inactive`); or it is a \
            polling webhook, whose reader reads again from an earlier cursor (`polling_webhook`)", body = ErrorBody),
    ))]
pub async fn recover(ctx: &Ctx, id: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = load(ctx, id).await?;
    let (since, until) = parse_window(&read_json(req, 4096).await?, true, ctx.now)?;
    require_active(&webhook)?;
    let db = ctx.store()?;
    let window = Window { org: &ctx.caller.org, webhook_id: &webhook.id, since, until };
    let found = recovery::count_recoverable(&db, &window, MAX_PER_CALL + 1).await?;
    let recovered = found.min(MAX_PER_CALL);
    if recovered > 0 {
        jobs::enqueue(&ctx.env, job(JobKind::Recover, ctx, &webhook, since, until, recovered))
            .await
            .map_err(ApiError::internal)?;
    }
    let more = found > MAX_PER_CALL;
    json(202, &RecoverResult { recovered, more, since: iso8601(since), until: iso8601(until) })
}

/// `POST /api/webhooks/{id}/replay-missing` `{ since }`: `202 { replayed, more, since, until }`.
#[utoipa::path(post, path = "/api/webhooks/{id}/replay-missing", tag = "deliveries", operation_id = "replayMissing",
    summary = "Deliver the events this webhook never got, in their original order",
    description = "Events since `since` that the webhook subscribes to but has no delivery of (it was inactive, \
        disabled or did not exist yet) get a delivery now. Runs through the deliveries queue; at most 10,000 per \
        call. Admin only.",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "How many events will be delivered", body = ReplayResult),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed", body = ErrorBody),
        (status = 404, description = "No webhook with this id in the caller's organization", body = ErrorBody),
        (status = 409, description = "The webhook is inactive: activate it first (`webhook_inactive`); or it is a \
            polling webhook, whose reader reads again from an earlier cursor (`polling_webhook`)", body = ErrorBody),
    ))]
pub async fn replay_missing(ctx: &Ctx, id: &str, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let webhook = load(ctx, id).await?;
    let (since, until) = parse_window(&read_json(req, 4096).await?, false, ctx.now)?;
    require_active(&webhook)?;
    let missed = count_missed(ctx, &webhook, since, until).await?;
    // The job looks at every missed event of its types (its budget); the answer counts those its filter lets through.
    let looked_at = missed.of_types.min(MAX_PER_CALL);
    if looked_at > 0 {
        jobs::enqueue(&ctx.env, job(JobKind::ReplayMissing, ctx, &webhook, since, until, looked_at))
            .await
            .map_err(ApiError::internal)?;
    }
    let (replayed, more) = (missed.matching.min(MAX_PER_CALL), missed.of_types > MAX_PER_CALL);
    json(202, &ReplayResult { replayed, more, since: iso8601(since), until: iso8601(until) })
}

/// How many events of `[since, until)` the webhook subscribes to and has no delivery of, and how many of those its
/// filter lets through (each at most one more than a call takes on).
pub async fn count_missed(ctx: &Ctx, webhook: &WebhookRow, since: i64, until: i64) -> ApiResult<MissingCount> {
    let condition = recovery::pattern_condition(&webhook.patterns())
        .ok_or_else(|| ApiError::invalid("events", "a subscription pattern of this webhook is not valid"))?;
    let scope = Missing { org: &ctx.caller.org, webhook_id: &webhook.id, since, until, condition: &condition };
    Ok(recovery::count_missing(&ctx.store()?, &scope, MAX_PER_CALL + 1, webhook.filter.is_some()).await?)
}

fn job(kind: JobKind, ctx: &Ctx, webhook: &WebhookRow, since: i64, until: i64, remaining: i64) -> Job {
    Job {
        kind,
        organization_id: ctx.caller.org.to_string(),
        webhook_id: webhook.id.to_string(),
        since,
        until,
        remaining,
        cursor: Cursor::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn windows_are_validated_and_end_by_now() {
        // NOW is 2027-01-15T08:00:00Z.
        let body = json!({"since": "2027-01-15T07:00:00Z", "until": "2027-01-15T07:30:00Z"});
        assert_eq!(parse_window(&body, true, NOW).unwrap(), (NOW - 3_600_000, NOW - 1_800_000));
        let (since, until) = parse_window(&json!({"since": "2020-01-01T00:00:00Z"}), false, NOW).unwrap();
        assert_eq!((since, until), (1_577_836_800_000, NOW));
        let (_, capped) =
            parse_window(&json!({"since": "2020-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"}), true, NOW)
                .unwrap();
        assert_eq!(capped, NOW);
        for (body, field) in [
            (json!({}), "since"),
            (json!({"since": "yesterday"}), "since"),
            (json!({"since": 5}), "since"),
            (json!({"since": "2999-01-01T00:00:00Z"}), "since"),
            (json!({"since": "2020-01-01T00:00:00Z", "until": "2019-01-01T00:00:00Z"}), "since"),
            (json!({"since": "2020-01-01T00:00:00Z", "until": "soon"}), "until"),
        ] {
            assert_eq!(parse_window(&body, true, NOW).unwrap_err().field.as_deref(), Some(field), "{body}");
        }
        let until_not_allowed =
            parse_window(&json!({"since": "2020-01-01T00:00:00Z", "until": "2020-02-01T00:00:00Z"}), false, NOW);
        assert_eq!(until_not_allowed.unwrap_err().code, "unknown_field");
    }
}
