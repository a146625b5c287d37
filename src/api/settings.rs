//! `GET /api/settings` and `PUT /api/settings { "alertEmail" }`: the organization's settings. Admins only.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::{json, read_json, Ctx};
use crate::domain::alert::{is_valid_email, MAX_EMAIL_CHARS};
use crate::domain::time::iso8601;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::{self, settings::Settings};

/// The organization's settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Settings)]
pub struct SettingsAnswer {
    /// Where edgehook e-mails alerts (a webhook disabled automatically); null: no e-mail
    #[schema(required, format = Email)]
    pub alert_email: Option<String>,
    #[schema(required, format = DateTime)]
    pub updated_at: Option<String>,
}

/// `PUT /api/settings`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// The body is checked field by field ([`parse`]); this type documents it.
#[allow(dead_code)]
pub struct SettingsUpdate {
    /// One address; null or empty clears it
    #[schema(required)]
    alert_email: Option<String>,
}

fn view(settings: &Settings) -> SettingsAnswer {
    SettingsAnswer { alert_email: settings.alert_email.clone(), updated_at: settings.updated_at.map(iso8601) }
}

/// `{ "alertEmail": "…" | null }`: the address, validated; `null` or `""` clears it.
pub fn parse(body: &Value) -> ApiResult<Option<String>> {
    let map = super::object_with(body, &["alertEmail"])?;
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

#[utoipa::path(get, path = "/api/settings", tag = "meta", operation_id = "getSettings",
    summary = "The organization's settings",
    responses(
        (status = 200, description = "The settings", body = SettingsAnswer),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed", body = ErrorBody),
    ))]
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    ctx.caller.require_admin()?;
    json(200, &view(&store::settings::get(&ctx.store()?, &ctx.caller.org).await?))
}

#[utoipa::path(put, path = "/api/settings", tag = "meta", operation_id = "putSettings",
    summary = "Set the organization's alert e-mail address",
    description = "When a webhook is disabled automatically, edgehook e-mails this address (through the `ALERTS` \
        send_email binding) which webhook, why, since when, and how to re-enable and replay it.",
    request_body = SettingsUpdate,
    responses(
        (status = 200, description = "The settings", body = SettingsAnswer),
        (status = 400, description = "Invalid request; `error.field` names the offending field", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Admin needed", body = ErrorBody),
    ))]
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
    use serde_json::json;

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
