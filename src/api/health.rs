//! `GET /health`: liveness and the running version, unauthenticated so load balancers and `make dev` can poll it.

use worker::Response;

use crate::error::{json_response, ApiResult};

pub fn get() -> ApiResult<Response> {
    let body = serde_json::json!({ "status": "ok", "version": crate::VERSION });
    Ok(json_response(200, body.to_string()))
}
