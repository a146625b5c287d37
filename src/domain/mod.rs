//! Pure logic, free of platform calls, so plain `cargo test` covers it.

pub mod catalogue;
pub mod event;
pub mod ids;
pub mod limits;
pub mod model;
pub mod payload;
pub mod retry;
pub mod secrets;
pub mod time;
pub mod url_guard;
pub mod webhook;
