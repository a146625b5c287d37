//! API keys: `POST /api/keys` creates one (shown once), `GET /api/keys` lists them (never the key), `DELETE
//! /api/keys/{id}` revokes one at once. Admins only.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::{json, read_json, Ctx};
use crate::auth::{api_key_hash, new_credential, Role, API_KEY_PREFIX};
use crate::domain::ids::ApiKeyId;
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::platform::random;
use crate::store::{self, api_keys::ApiKeyRow};

const MAX_NAME_CHARS: usize = 100;

fn view(row: &ApiKeyRow) -> Value {
    json!({ "id": row.id, "name": row.name, "role": row.role.as_str(), "createdAt": iso8601(row.created_at) })
}

/// `{ "name", "role" }`, validated.
fn parse(body: &Value) -> ApiResult<(String, Role)> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
    };
    if let Some(other) = map.keys().find(|k| !matches!(k.as_str(), "name" | "role")) {
        return Err(ApiError::unknown_field(other));
    }
    let name = match map.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= MAX_NAME_CHARS => n.trim().to_string(),
        _ => return Err(ApiError::invalid("name", format!("name must be 1 to {MAX_NAME_CHARS} characters"))),
    };
    let role = map
        .get("role")
        .and_then(Value::as_str)
        .and_then(Role::parse)
        .ok_or_else(|| ApiError::invalid("role", "role must be admin, member or service"))?;
    Ok((name, role))
}

/// `POST /api/keys`: 201 with the key, which is never shown again.
pub async fn create(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_vendor()?;
    ctx.caller.require_admin()?;
    let (name, role) = parse(&read_json(req, 4096).await?)?;
    let key = new_credential(API_KEY_PREFIX, &random());
    let row = ApiKeyRow {
        id: ApiKeyId::generate(&random()),
        organization_id: ctx.caller.org.clone(),
        name,
        role,
        created_at: ctx.now,
    };
    store::api_keys::insert(&store::global(&ctx.env)?, &row, &api_key_hash(&key)).await?;
    let mut out = view(&row);
    out["key"] = Value::String(key);
    json(201, &out)
}

/// `GET /api/keys`: the organization's keys, newest first, without the keys themselves.
pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    ctx.caller.require_vendor()?;
    ctx.caller.require_admin()?;
    let rows = store::api_keys::list(&store::global(&ctx.env)?, &ctx.caller.org).await?;
    let data: Vec<Value> = rows.iter().map(view).collect();
    json(200, &json!({ "data": data, "total": data.len() }))
}

/// `DELETE /api/keys/{id}`: revokes the key; requests made with it are refused from now on.
pub async fn delete(ctx: &Ctx, id: &str) -> ApiResult<Response> {
    ctx.caller.require_vendor()?;
    ctx.caller.require_admin()?;
    let not_found = || ApiError::not_found("no API key with this id");
    let id = ApiKeyId::parse(id).ok_or_else(not_found)?;
    if !store::api_keys::delete(&store::global(&ctx.env)?, &ctx.caller.org, &id).await? {
        return Err(not_found());
    }
    Ok(Response::empty()?.with_status(204))
}
