//! Portal sessions: `POST /api/portal/sessions` opens the dashboard for the caller's organization through a link the
//! vendor hands its customer (or frames in its own settings page); `POST /api/portal/sessions/revoke` ends every
//! session of the organization at once. Only the vendor's own credentials (admin or service) may do either.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::{json, read_optional_json, Ctx};
use crate::auth::{api_key_hash, new_credential, Role, PORTAL_TOKEN_PREFIX};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult};
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
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
    };
    if let Some(other) = map.keys().find(|k| !matches!(k.as_str(), "expiresInSeconds" | "readOnly")) {
        return Err(ApiError::unknown_field(other));
    }
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

fn require_session_issuer(ctx: &Ctx) -> ApiResult<()> {
    ctx.caller.require_vendor()?;
    match ctx.caller.role {
        Role::Admin | Role::Service => Ok(()),
        Role::Member => Err(ApiError::forbidden("portal sessions need the admin or service role")),
    }
}

/// `POST /api/portal/sessions`: 201 `{ token, url, expiresAt, readOnly }`. The token rides in the URL's fragment,
/// which browsers never send to a server, so it stays out of every access log.
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
        &json!({
            "url": format!("{origin}/portal#token={token}"),
            "token": token,
            "expiresAt": iso8601(session.expires_at),
            "readOnly": session.read_only,
        }),
    )
}

/// `POST /api/portal/sessions/revoke`: every session of the organization ends now; answers how many did.
pub async fn revoke(ctx: &Ctx) -> ApiResult<Response> {
    require_session_issuer(ctx)?;
    let revoked = store::portal::revoke_all(&store::global(&ctx.env)?, &ctx.caller.org).await?;
    json(200, &json!({ "revoked": revoked }))
}

/// `GET /api/portal/sessions/current`: who the bearer is, for the dashboard to choose what it shows: the
/// organization, whether it may only read, and when a portal session ends (`null` for other credentials).
pub fn current(ctx: &Ctx) -> ApiResult<Response> {
    json(
        200,
        &json!({
            "organizationId": ctx.caller.org,
            "role": ctx.caller.role.as_str(),
            "readOnly": ctx.caller.role == Role::Member,
            "portal": ctx.caller.portal.is_some(),
            "expiresAt": ctx.caller.portal.map(|p| iso8601(p.expires_at)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
