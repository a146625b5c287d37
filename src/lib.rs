//! edgehook: the Worker's entry points. Each builds or calls, nothing more; the work lives in `api`, `delivery`,
//! `domain` (pure, host-tested) and `store` (every SQL statement and KV access).

pub mod api;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod platform;
pub mod store;

use worker::{event, Context, Env, Request, Response, Result};

/// The crate version, reported by `/health` and in the `User-Agent` of deliveries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(api::handle(req, env).await)
}
