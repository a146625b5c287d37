//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every route, served as written in `openapi.json`.

use worker::Response;

use crate::error::{json_response, ApiResult};

/// The document; `api::routes` tests that it names every routed method and path.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn get() -> ApiResult<Response> {
    Ok(json_response(200, OPENAPI.to_string()))
}
