//! Pure logic, free of platform calls, so plain `cargo test` covers it.

pub mod routes;
