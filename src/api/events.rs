//! The event catalogue (`GET /api/webhooks/events`).

use serde_json::json;
use worker::Response;

use super::json;
use crate::domain::catalogue;
use crate::error::ApiResult;

pub fn catalogue() -> ApiResult<Response> {
    let groups: Vec<_> = catalogue::grouped()
        .into_iter()
        .map(|(resource, types)| json!({ "resource": resource, "events": types }))
        .collect();
    let all: Vec<&str> = catalogue::EVENT_TYPES.iter().map(|t| t.name).collect();
    json(200, &json!({ "groups": groups, "types": all, "patterns": ["<type>", "<resource>.*", "*"] }))
}
