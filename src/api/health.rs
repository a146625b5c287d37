//! `GET /health`: liveness and the running version, unauthenticated so load balancers and `make dev` can poll it.

use serde::Serialize;
use utoipa::ToSchema;
use worker::Response;

use super::json;
use crate::error::ApiResult;

/// The Worker is up, and which version runs.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub status: Up,
    pub version: &'static str,
}

/// `ok`: the only answer a running Worker gives.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Up {
    Ok,
}

#[utoipa::path(get, path = "/health", tag = "meta", operation_id = "health", summary = "Liveness and version",
    security(()), responses((status = 200, description = "The Worker is up", body = Health)))]
pub fn get() -> ApiResult<Response> {
    json(200, &Health { status: Up::Ok, version: crate::VERSION })
}
