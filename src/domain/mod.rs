//! Pure logic, free of platform calls, so plain `cargo test` covers it.

pub mod alert;
pub mod catalogue;
pub mod destination;
pub mod egress;

pub mod event;
pub mod filter;
pub mod flow;
pub mod ids;
pub mod limits;
pub mod model;
pub mod payload;
pub mod retry;
pub mod schema;
pub mod secrets;
pub mod sigv4;
pub mod time;
pub mod transform;
pub mod url_guard;
pub mod webhook;

/// Input that breaks a rule: which one (`code`), in words, and the field it is about. Pure code answers this; the
/// API turns it into a 400 (`ApiError`), and the events queue into a dead letter's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl Invalid {
    /// A field that fails validation (`validation_error`).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid { code: "validation_error", message: message.into(), field: Some(field.into()) }
    }

    /// A body that is wrong as a whole (`invalid_json`, `invalid_body`).
    pub fn body(code: &'static str, message: impl Into<String>) -> Self {
        Invalid { code, message: message.into(), field: None }
    }

    /// A member the body may not have: refused rather than silently ignored.
    pub fn unknown_field(field: &str) -> Self {
        Invalid { code: "unknown_field", message: format!("unknown field {field:?}"), field: Some(field.to_string()) }
    }
}
