//! `GET /api/webhooks/stats`: the organization's webhooks and the last 24 hours of deliveries; `GET
//! /api/webhooks/{id}/stats`: one webhook's last 24 hours by hour, for the dashboard's chart.

use serde::Serialize;
use utoipa::ToSchema;
use worker::Response;

use super::{json, Ctx};
use crate::domain::ids::WebhookId;
use crate::domain::time::iso8601;
use crate::error::{ApiResult, ErrorBody};
use crate::store::deliveries::{self, HourCounts};

/// Delivery statistics of the organization.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    pub webhooks: WebhookCounts,
    pub deliveries: DeliveryStats,
}

/// How many webhooks the organization has, and how many receive deliveries.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCounts {
    pub total: i64,
    pub active: i64,
    pub disabled: i64,
}

/// The last 24 hours of deliveries.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryStats {
    pub last24h: DeliveryCounts,
    #[schema(minimum = 0, maximum = 1)]
    pub success_rate: f64,
    #[schema(minimum = 0)]
    pub avg_response_ms: i64,
}

/// Deliveries by status.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryCounts {
    #[schema(minimum = 0)]
    pub total: i64,
    #[schema(minimum = 0)]
    pub succeeded: i64,
    #[schema(minimum = 0)]
    pub failed: i64,
    #[schema(minimum = 0)]
    pub pending: i64,
}

/// One webhook's last 24 hours.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookStats {
    pub webhook_id: WebhookId,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(minimum = 0)]
    pub total: i64,
    #[schema(minimum = 0)]
    pub succeeded: i64,
    #[schema(minimum = 0)]
    pub failed: i64,
    #[schema(minimum = 0)]
    pub pending: i64,
    #[schema(required, minimum = 0, maximum = 1)]
    pub failure_rate: Option<f64>,
    #[schema(required)]
    pub avg_response_ms: Option<i64>,
    /// The 24 whole hours ending with the current one, oldest first
    #[schema(min_items = 24, max_items = 24)]
    pub hourly: Vec<HourStats>,
}

/// One hour of a webhook's deliveries, by outcome.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HourStats {
    #[schema(format = DateTime)]
    pub hour: String,
    #[schema(minimum = 0)]
    pub succeeded: i64,
    #[schema(minimum = 0)]
    pub failed: i64,
    #[schema(minimum = 0)]
    pub pending: i64,
}

#[utoipa::path(get, path = "/api/webhooks/stats", tag = "deliveries", operation_id = "stats",
    summary = "Delivery statistics of the organization",
    responses(
        (status = 200, description = "Statistics", body = Stats),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let s = deliveries::stats(&ctx.store()?, &ctx.caller.org, ctx.now - 86_400_000).await?;
    let total = s.webhooks_total.unwrap_or(0);
    let active = s.webhooks_active.unwrap_or(0);
    let succeeded = s.deliveries_succeeded.unwrap_or(0);
    let failed = s.deliveries_failed.unwrap_or(0);
    let finished = succeeded + failed;
    let success_rate = if finished > 0 { (succeeded as f64) / (finished as f64) } else { 0.0 };
    json(
        200,
        &Stats {
            webhooks: WebhookCounts { total, active, disabled: total - active },
            deliveries: DeliveryStats {
                last24h: DeliveryCounts {
                    total: s.deliveries_total.unwrap_or(0),
                    succeeded,
                    failed,
                    pending: s.deliveries_pending.unwrap_or(0),
                },
                success_rate: (success_rate * 10_000.0).round() / 10_000.0,
                avg_response_ms: s.avg_response_ms.map(|v| v.round() as i64).unwrap_or(0),
            },
        },
    )
}

const HOUR_MS: i64 = 3_600_000;
/// The chart's window: the current hour and the 23 before it.
const HOURS: i64 = 24;

/// The share of finished deliveries that failed, to four places; `None` before any finished.
pub fn failure_rate(succeeded: i64, failed: i64) -> Option<f64> {
    let finished = succeeded + failed;
    (finished > 0).then(|| ((failed as f64) / (finished as f64) * 10_000.0).round() / 10_000.0)
}

/// Where the chart's window starts: the beginning of the hour 23 hours before `now`'s.
pub fn window_start(now: i64) -> i64 {
    (now.div_euclid(HOUR_MS) - (HOURS - 1)) * HOUR_MS
}

/// The 24 hours ending with `now`'s, oldest first, each with its counts (zero where `counts` has none).
pub fn hourly_series(counts: &[HourCounts], now: i64) -> Vec<HourCounts> {
    let first = window_start(now) / HOUR_MS;
    (first..first + HOURS)
        .map(|hour| {
            counts.iter().find(|c| c.hour == hour).cloned().unwrap_or(HourCounts { hour, ..Default::default() })
        })
        .collect()
}

/// `GET /api/webhooks/{id}/stats`: the last 24 hours of one webhook, by hour and outcome, for its chart.
#[utoipa::path(get, path = "/api/webhooks/{id}/stats", tag = "deliveries", operation_id = "webhookStats",
    summary = "One webhook's last 24 hours, by hour and outcome",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The 24 whole hours ending with the current one, oldest first", body = WebhookStats),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No webhook with this id in the caller's organization", body = ErrorBody),
    ))]
pub async fn webhook(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    let webhook = super::webhooks::load(ctx, id).await?;
    let since = window_start(ctx.now);
    let (counts, avg) = deliveries::hourly(&ctx.store()?, &ctx.caller.org, &webhook.id, since).await?;
    let series = hourly_series(&counts, ctx.now);
    let sum = |f: fn(&HourCounts) -> i64| series.iter().map(f).sum::<i64>();
    let (succeeded, failed, pending) = (sum(|h| h.succeeded), sum(|h| h.failed), sum(|h| h.pending));
    let hourly = series
        .iter()
        .map(|h| HourStats {
            hour: iso8601(h.hour * HOUR_MS),
            succeeded: h.succeeded,
            failed: h.failed,
            pending: h.pending,
        })
        .collect();
    json(
        200,
        &WebhookStats {
            webhook_id: webhook.id,
            since: iso8601(since),
            total: succeeded + failed + pending,
            succeeded,
            failed,
            pending,
            failure_rate: failure_rate(succeeded, failed),
            avg_response_ms: avg.map(|v| v.round() as i64),
            hourly,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_covers_24_whole_hours_ending_now() {
        let now = 100 * HOUR_MS + 1_234;
        assert_eq!(window_start(now), 77 * HOUR_MS);
        let counts = [
            HourCounts { hour: 77, succeeded: 2, failed: 1, pending: 0 },
            HourCounts { hour: 100, succeeded: 0, failed: 0, pending: 3 },
        ];
        let series = hourly_series(&counts, now);
        assert_eq!(series.len(), 24);
        assert_eq!((series[0].hour, series[0].succeeded, series[0].failed), (77, 2, 1));
        assert_eq!((series[23].hour, series[23].pending), (100, 3));
        assert!(series[1..23].iter().all(|h| h.succeeded + h.failed + h.pending == 0));
    }

    #[test]
    fn failure_rate_counts_finished_deliveries_only() {
        assert_eq!(failure_rate(0, 0), None);
        assert_eq!(failure_rate(3, 1), Some(0.25));
        assert_eq!(failure_rate(2, 1), Some(0.3333));
    }
}
