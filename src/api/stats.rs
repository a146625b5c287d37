//! `GET /api/webhooks/stats`: the organization's webhooks and the last 24 hours of deliveries.

use serde_json::json;
use worker::Response;

use super::{json, Ctx};
use crate::error::ApiResult;
use crate::store::{self, deliveries};

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let s = deliveries::stats(&store::db(&ctx.env)?, &ctx.caller.org, ctx.now - 86_400_000).await?;
    let total = s.webhooks_total.unwrap_or(0);
    let active = s.webhooks_active.unwrap_or(0);
    let succeeded = s.deliveries_succeeded.unwrap_or(0);
    let failed = s.deliveries_failed.unwrap_or(0);
    let finished = succeeded + failed;
    let success_rate = if finished > 0 { (succeeded as f64) / (finished as f64) } else { 0.0 };
    json(
        200,
        &json!({
            "webhooks": { "total": total, "active": active, "disabled": total - active },
            "deliveries": {
                "last24h": {
                    "total": s.deliveries_total.unwrap_or(0),
                    "succeeded": succeeded,
                    "failed": failed,
                    "pending": s.deliveries_pending.unwrap_or(0),
                },
                "successRate": (success_rate * 10_000.0).round() / 10_000.0,
                "avgResponseMs": s.avg_response_ms.map(|v| v.round() as i64).unwrap_or(0),
            },
        }),
    )
}
