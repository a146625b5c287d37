//! API keys: `POST /api/keys` creates one (shown once), `GET /api/keys` lists them (never the key), `DELETE
//! /api/keys/{id}` revokes one at once. Admins only.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::{json, read_json, Ctx};
use crate::auth::{api_key_hash, new_credential, Role, API_KEY_PREFIX};
use crate::domain::ids::ApiKeyId;
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::platform::random;
use crate::store::{self, api_keys::ApiKeyRow};

const MAX_NAME_CHARS: usize = 100;

/// An API key as the list shows it: never the key itself.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub role: Role,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A new API key with the key, shown this once.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyWithKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key. Shown once: only its SHA-256 is stored.
    #[schema(pattern = "^ehk_")]
    pub key: String,
}

/// The organization's API keys, newest first.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKey>,
    pub total: usize,
}

/// `POST /api/keys`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// The body is checked field by field ([`parse`]); this type documents it.
#[allow(dead_code)]
pub struct ApiKeyCreate {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    role: Role,
}

fn view(row: &ApiKeyRow) -> ApiKey {
    ApiKey { id: row.id.clone(), name: row.name.clone(), role: row.role, created_at: iso8601(row.created_at) }
}

/// `{ "name", "role" }`, validated.
pub fn parse(body: &Value) -> ApiResult<(String, Role)> {
    let map = super::object_with(body, &["name", "role"])?;
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
#[utoipa::path(post, path = "/api/keys", tag = "keys", operation_id = "createKey", summary = "Create an API key",
    description = "Answers the key once (`ehk_…`); only its SHA-256 is stored. Use it as `Authorization: Bearer \
        ehk_…` with the role given here, scoped to the caller's organization.",
    request_body = ApiKeyCreate,
    responses(
        (status = 201, description = "The new key", body = ApiKeyWithKey),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
    ))]
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
    json(201, &ApiKeyWithKey { api_key: view(&row), key })
}

/// `GET /api/keys`: the organization's keys, newest first, without the keys themselves.
#[utoipa::path(get, path = "/api/keys", tag = "keys", operation_id = "listKeys",
    summary = "List the organization's API keys (never the keys themselves)",
    responses(
        (status = 200, description = "The keys, newest first", body = ApiKeyList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
    ))]
pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    ctx.caller.require_vendor()?;
    ctx.caller.require_admin()?;
    let rows = store::api_keys::list(&store::global(&ctx.env)?, &ctx.caller.org).await?;
    let data: Vec<ApiKey> = rows.iter().map(view).collect();
    json(200, &ApiKeyList { total: data.len(), data })
}

/// `DELETE /api/keys/{id}`: revokes the key; requests made with it are refused from now on.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", operation_id = "deleteKey",
    summary = "Revoke an API key at once",
    params(("id" = ApiKeyId, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked: requests with the key are refused from now on"),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (admin needed)", body = ErrorBody),
        (status = 404, description = "No such key in this organization", body = ErrorBody),
    ))]
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
