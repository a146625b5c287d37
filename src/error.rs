//! The one error type of the API: every failure a handler can meet maps to a status and a machine-readable code,
//! rendered as `{"error":{"code","message","field"?}}`.

use serde::Serialize;
use worker::Response;

/// An error a client sees. Handlers return `Result<_, ApiError>` and use `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error, example = json!({"error": {"code": "validation_error", "message": "url must use https", "field": "url"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a machine-readable `code`, a sentence for people, and the request field it is about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// `validation_error` (a value breaks a rule; `field` names it), `unknown_field`, `invalid_json`,
    /// `invalid_body`, `invalid_url`, `payload_too_large` (413), `unauthorized` (401), `forbidden` (403),
    /// `not_found` (404), `method_not_allowed` (405), `plan_limit_reached`, `webhook_inactive`,
    /// `attempt_in_progress`, `ordered_behind` (409), `internal_error`, `egress_ranges_misconfigured` (500)
    pub code: &'static str,
    pub message: String,
    /// The request field (body member, query or path parameter) the error is about
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }

    /// Names the request field the error is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// A request field that fails validation: 422 would be as defensible, 400 is what the clients this replaces expect.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, "validation_error", message).with_field(field)
    }

    /// A body field the route does not know: refused rather than silently ignored.
    pub fn unknown_field(field: &str) -> Self {
        Self::new(400, "unknown_field", format!("unknown field {field:?}")).with_field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// A platform failure (D1, KV, Queues). The detail goes to the log, never to the client.
    pub fn internal(detail: impl core::fmt::Display) -> Self {
        worker::console_error!("internal error: {detail}");
        Self::new(500, "internal_error", "an internal error occurred; it has been logged")
    }

    /// The `{code, message, field?}` object, also for answers that embed errors (batch ingest's per-event results).
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail { code: self.code, message: self.message.clone(), field: self.field.clone() }
    }

    /// The JSON body; kept apart from [`ApiError::into_response`] so host tests can check it.
    pub fn body(&self) -> String {
        let body = ErrorBody { error: self.detail() };
        serde_json::to_string(&body)
            .unwrap_or_else(|_| String::from(r#"{"error":{"code":"internal_error","message":"unrenderable error"}}"#))
    }

    pub fn into_response(self) -> Response {
        json_response(self.status, self.body())
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::internal(e)
    }
}

/// Input that breaks a rule is a 400 naming the rule and the field.
impl From<crate::domain::Invalid> for ApiError {
    fn from(e: crate::domain::Invalid) -> Self {
        ApiError { status: 400, code: e.code, message: e.message, field: e.field }
    }
}

/// The API is where the store's failures are handled: logged once (by [`ApiError::internal`]) and answered 500.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// Likewise for the data plane's failures met in a request (ingest, test sends, manual retries).
impl From<crate::delivery::DeliveryError> for ApiError {
    fn from(e: crate::delivery::DeliveryError) -> Self {
        ApiError::internal(e)
    }
}

/// A JSON response from an already-serialised body. Building a Response from bytes cannot fail, so this is the
/// one place that turns a body into a Response without a `Result`.
pub fn json_response(status: u16, body: String) -> Response {
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    Response::builder().with_status(status).with_headers(headers).fixed(body.into_bytes())
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let e = ApiError::invalid("url", "must be https");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v, serde_json::json!({"error":{"code":"validation_error","message":"must be https","field":"url"}}));
        assert_eq!(serde_json::to_value(e.detail()).unwrap(), v["error"]);
        let e = ApiError::not_found("no such route");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v, serde_json::json!({"error":{"code":"not_found","message":"no such route"}}));
    }
}
