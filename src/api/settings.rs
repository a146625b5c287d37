//! `GET /api/settings` and `PUT /api/settings { "alertEmail" }`: the organization's settings. Admins only.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::{json, read_json, Ctx};
use crate::domain::alert::{is_valid_email, MAX_EMAIL_CHARS};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::store::{self, settings::Settings};

fn view(settings: &Settings) -> Value {
    json!({ "alertEmail": settings.alert_email, "updatedAt": settings.updated_at.map(iso8601) })
}

/// `{ "alertEmail": "…" | null }`: the address, validated; `null` or `""` clears it.
pub fn parse(body: &Value) -> ApiResult<Option<String>> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
    };
    if let Some(other) = map.keys().find(|k| *k != "alertEmail") {
        return Err(ApiError::unknown_field(other));
    }
    match map.get("alertEmail") {
        None => Err(ApiError::invalid("alertEmail", "alertEmail is required (null clears it)")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if is_valid_email(s.trim()) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ApiError::invalid(
            "alertEmail",
            format!(
                "alertEmail must be one e-mail address such as ops@example.com, at most {MAX_EMAIL_CHARS} characters"
            ),
        )),
    }
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    json(200, &view(&store::settings::get(&ctx.store()?, &ctx.caller.org).await?))
}

pub async fn put(ctx: &Ctx, req: Request) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    let alert_email = parse(&read_json(req, 4096).await?)?;
    let db = ctx.store()?;
    store::settings::set_alert_email(&db, &ctx.caller.org, alert_email.as_deref(), ctx.now).await?;
    json(200, &view(&Settings { alert_email, updated_at: Some(ctx.now) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_address_is_validated_and_can_be_cleared() {
        assert_eq!(parse(&json!({"alertEmail": " ops@example.com "})).unwrap().as_deref(), Some("ops@example.com"));
        assert_eq!(parse(&json!({"alertEmail": null})).unwrap(), None);
        assert_eq!(parse(&json!({"alertEmail": ""})).unwrap(), None);
        for body in [json!({}), json!({"alertEmail": "nope"}), json!({"alertEmail": 5})] {
            assert_eq!(parse(&body).unwrap_err().field.as_deref(), Some("alertEmail"), "{body}");
        }
        assert_eq!(parse(&json!({"alertEmail": "a@b.co", "cc": "x"})).unwrap_err().code, "unknown_field");
    }
}
