//! The HTTP surface: matches a request against the routing table and hands it to its resource's handler.
//! Every failure becomes the JSON error shape; nothing here panics.

pub mod docs;
pub mod health;

use worker::{Env, Request, Response};

use crate::domain::routes::{match_route, Endpoint, Match};
use crate::error::{ApiError, ApiResult};

/// Handles one request. Never returns an `Err`: errors are rendered as responses.
pub async fn handle(req: Request, env: Env) -> Response {
    match route(req, env).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route(req: Request, _env: Env) -> ApiResult<Response> {
    let method = req.method().to_string();
    let path = req.path();
    match match_route(&method, &path) {
        Match::Found(endpoint, _params) => match endpoint {
            Endpoint::Health => health::get(),
            Endpoint::OpenApi => docs::get(),
        },
        Match::MethodNotAllowed(allowed) => Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed on {path}; use {}", allowed.join(", ")),
        )),
        Match::NotFound => Err(ApiError::not_found(format!("no route for {method} {path}"))),
    }
}
