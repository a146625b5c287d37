//! edgehook's receiver-side verifier: the pure signing [`scheme`] (HMAC `v1`) and [`asymmetric`] (Ed25519 `v1a`), plus, with the `js` feature, the wasm-bindgen
//! exports that `js/` wraps into a drop-in for the `standardwebhooks` package's `Webhook` class.

pub mod asymmetric;
pub mod scheme;

#[cfg(feature = "js")]
mod js;
