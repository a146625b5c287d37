//! edgehook: the Worker's entry points. Each builds or calls, nothing more; the work lives in `api`, `delivery`,
//! `domain` (pure, host-tested) and `store` (every SQL statement and KV access).

pub mod api;
pub mod auth;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod flow;
pub mod org;
pub mod platform;
pub mod store;
pub mod usage;

use serde_json::Value;
use worker::{event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent};

/// The crate version, reported by `/health` and in the `User-Agent` of deliveries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    // Another handle on the same request (`Clone::clone`: the inherent `clone` would tee its body).
    let raw = Clone::clone(req.inner());
    let api::Handled { response, send_after } = api::handle(req, env.clone()).await;
    // Whatever the answer did not need of the body is read now, before the answer goes out: the client keeps its
    // connection.
    api::drain_unread(&raw).await;
    // An ingest's own deliveries go out right after its answer (`waitUntil`), not through the queue.
    if let Some(claimed) = send_after {
        ctx.wait_until(async move { delivery::send_now(&env, claimed).await });
    }
    Ok(response)
}

/// Both queues land here; the queue's exact name says which consumer takes the batch.
#[event(queue)]
async fn queue(batch: MessageBatch<Value>, env: Env, _ctx: Context) -> Result<()> {
    delivery::consume(batch, &env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    delivery::sweep(&env).await;
}
