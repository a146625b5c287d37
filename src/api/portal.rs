//! Portal sessions: `POST /api/portal/sessions` opens the dashboard for the caller's organization through a link the
//! vendor hands its customer (or frames in its own settings page); `POST /api/portal/sessions/revoke` ends every
//! session of the organization at once. Only the vendor's own credentials (admin or service) may do either.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::{json, read_optional_json, Ctx};
use crate::auth::{api_key_hash, new_credential, Role, PORTAL_TOKEN_PREFIX};
use crate::domain::ids::OrganizationId;
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::platform::random;
use crate::store::{self, portal::PortalSession};

/// A session lasts from one minute to one week; an hour unless asked otherwise.
const MIN_SECONDS: i64 = 60;
const MAX_SECONDS: i64 = 7 * 86_400;
const DEFAULT_SECONDS: i64 = 3_600;

/// What a session request asks for: its lifetime in seconds and whether it only reads.
#[derive(Debug, PartialEq, Eq)]
pub struct SessionRequest {
    pub seconds: i64,
    pub read_only: bool,
}

/// `{ "expiresInSeconds"?, "readOnly"? }`, validated; an empty body takes the defaults.
pub fn parse(body: Option<&Value>) -> ApiResult<SessionRequest> {
    let mut out = SessionRequest { seconds: DEFAULT_SECONDS, read_only: false };
    let Some(body) = body else { return Ok(out) };
    let map = super::object_with(body, &["expiresInSeconds", "readOnly"])?;
    match map.get("expiresInSeconds") {
        None | Some(Value::Null) => {}
        Some(v) => {
            out.seconds = v.as_i64().filter(|s| (MIN_SECONDS..=MAX_SECONDS).contains(s)).ok_or_else(|| {
                ApiError::invalid(
                    "expiresInSeconds",
                    format!("expiresInSeconds must be an integer from {MIN_SECONDS} to {MAX_SECONDS}"),
                )
            })?
        }
    }
    match map.get("readOnly") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.read_only = *b,
        Some(_) => return Err(ApiError::invalid("readOnly", "readOnly must be true or false")),
    }
    Ok(out)
}

/// `POST /api/portal/sessions`'s body (optional).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// The body is checked field by field ([`parse`]); this type documents it.
#[allow(dead_code)]
pub struct PortalSessionCreate {
    #[schema(minimum = 60, maximum = 604800, default = 3600)]
    expires_in_seconds: Option<u32>,
    /// A read-only session cannot create, change, delete, rotate, test or retry (403)
    #[schema(default = false)]
    read_only: Option<bool>,
}

/// A new portal session.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PortalSession)]
pub struct PortalSessionAnswer {
    /// Bearer token of the session, for the organization's /api/* routes
    #[schema(pattern = "^ehp_")]
    pub token: String,
    /// `<origin>/portal#token=…`: the token rides in the fragment, which never reaches a server
    #[schema(format = "uri")]
    pub url: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub read_only: bool,
}

/// How many portal sessions a revoke ended.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalRevoked {
    pub revoked: u64,
}

/// Who the bearer is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurrentSession {
    pub organization_id: OrganizationId,
    pub role: Role,
    /// The caller may only read (a member, or a read-only portal session)
    pub read_only: bool,
    /// The bearer is a portal session token
    pub portal: bool,
    /// When the portal session ends; null for other credentials
    #[schema(required, format = DateTime)]
    pub expires_at: Option<String>,
}

fn require_session_issuer(ctx: &Ctx) -> ApiResult<()> {
    ctx.caller.require_vendor()?;
    match ctx.caller.role {
        Role::Admin | Role::Service => Ok(()),
        Role::Member => Err(ApiError::forbidden("portal sessions need the admin or service role")),
    }
}

/// `POST /api/portal/sessions`: 201 `{ token, url, expiresAt, readOnly }`. The token rides in the URL's fragment,
/// which browsers never send to a server, so it stays out of every access log.
#[utoipa::path(post, path = "/api/portal/sessions", tag = "portal", operation_id = "createPortalSession",
    summary = "Open a portal session",
    description = "A link to the dashboard for the caller's organization, to hand to a customer or frame in the \
        vendor's settings page (origins allowed to frame it: `PORTAL_FRAME_ANCESTORS`). Admin or service credentials \
        only.",
    request_body(content = Option<PortalSessionCreate>, description = "Optional: the session's lifetime and access"),
    responses(
        (status = 201, description = "The session", body = PortalSessionAnswer),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not allowed: a member, or a portal session (portal sessions are for the vendor's own credentials)", body = ErrorBody),
    ))]
pub async fn create(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    require_session_issuer(ctx)?;
    let origin = req
        .url()
        .map_err(|_| ApiError::bad_request("invalid_url", "the request URL could not be parsed"))?
        .origin()
        .ascii_serialization();
    let asked = parse(read_optional_json(req, 4096).await?.as_ref())?;
    let token = new_credential(PORTAL_TOKEN_PREFIX, &random());
    let session = PortalSession {
        organization_id: ctx.caller.org.clone(),
        read_only: asked.read_only,
        expires_at: ctx.now + asked.seconds * 1000,
    };
    store::portal::insert(&store::global(&ctx.env)?, &api_key_hash(&token), &session, ctx.now).await?;
    json(
        201,
        &PortalSessionAnswer {
            url: format!("{origin}/portal#token={token}"),
            token,
            expires_at: iso8601(session.expires_at),
            read_only: session.read_only,
        },
    )
}

/// `POST /api/portal/sessions/revoke`: every session of the organization ends now; answers how many did.
#[utoipa::path(post, path = "/api/portal/sessions/revoke", tag = "portal", operation_id = "revokePortalSessions",
    summary = "End every portal session of the organization",
    responses(
        (status = 200, description = "How many sessions ended", body = PortalRevoked),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Not allowed: a member, or a portal session (portal sessions are for the vendor's own credentials)", body = ErrorBody),
    ))]
pub async fn revoke(ctx: &Ctx) -> ApiResult<Response> {
    require_session_issuer(ctx)?;
    let revoked = store::portal::revoke_all(&store::global(&ctx.env)?, &ctx.caller.org).await?;
    json(200, &PortalRevoked { revoked })
}

/// `GET /api/portal/sessions/current`: who the bearer is, for the dashboard to choose what it shows: the
/// organization, whether it may only read, and when a portal session ends (`null` for other credentials).
#[utoipa::path(get, path = "/api/portal/sessions/current", tag = "portal", operation_id = "currentSession",
    summary = "Who the bearer is: organization, role, and a portal session's expiry",
    responses(
        (status = 200, description = "The caller", body = CurrentSession),
        (status = 401, description = "Missing, invalid, expired or revoked bearer token", body = ErrorBody),
    ))]
pub fn current(ctx: &Ctx) -> ApiResult<Response> {
    json(
        200,
        &CurrentSession {
            organization_id: ctx.caller.org.clone(),
            role: ctx.caller.role,
            read_only: ctx.caller.role == Role::Member,
            portal: ctx.caller.portal.is_some(),
            expires_at: ctx.caller.portal.map(|p| iso8601(p.expires_at)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_requests_are_validated() {
        assert_eq!(parse(None).unwrap(), SessionRequest { seconds: 3600, read_only: false });
        let asked = parse(Some(&json!({"expiresInSeconds": 60, "readOnly": true}))).unwrap();
        assert_eq!(asked, SessionRequest { seconds: 60, read_only: true });
        assert_eq!(parse(Some(&json!({"expiresInSeconds": 604800}))).unwrap().seconds, 604800);
        for (body, field) in [
            (json!({"expiresInSeconds": 59}), "expiresInSeconds"),
            (json!({"expiresInSeconds": 604801}), "expiresInSeconds"),
            (json!({"expiresInSeconds": 90.5}), "expiresInSeconds"),
            (json!({"expiresInSeconds": "3600"}), "expiresInSeconds"),
            (json!({"readOnly": "yes"}), "readOnly"),
            (json!({"scope": "all"}), "scope"),
        ] {
            assert_eq!(parse(Some(&body)).unwrap_err().field.as_deref(), Some(field), "{body}");
        }
        assert_eq!(parse(Some(&json!([1]))).unwrap_err().status, 400);
    }
}
