//! wasm-bindgen exports. They speak in numbers and bytes; `js/webhook.mjs` turns them into the JavaScript API,
//! so nothing here allocates a JS error object on the hot path.

use wasm_bindgen::prelude::*;

use crate::asymmetric::Ed25519Verifier;
use crate::scheme::{self, SigningKey, VerifyError};

/// Consecutive pieces of `buf` with the given lengths, or `None` if they overrun it.
fn split<const N: usize>(buf: &[u8], lengths: [usize; N]) -> Option<[&[u8]; N]> {
    let mut rest = buf;
    let mut out = [&buf[..0]; N];
    for (slot, len) in out.iter_mut().zip(lengths) {
        if len > rest.len() {
            return None;
        }
        let (piece, tail) = rest.split_at(len);
        *slot = piece;
        rest = tail;
    }
    Some(out)
}

/// Result codes of [`Verifier::verify`]; `js/webhook.mjs` maps each to its `WebhookVerificationError`.
fn code(result: Result<i64, VerifyError>) -> u32 {
    match result {
        Ok(_) => 0,
        Err(VerifyError::MissingHeader("webhook-id")) => 1,
        Err(VerifyError::MissingHeader("webhook-timestamp")) => 2,
        Err(VerifyError::MissingHeader(_)) => 3,
        Err(VerifyError::InvalidHeader(_)) => 4,
        Err(VerifyError::TimestampTooOld) => 5,
        Err(VerifyError::TimestampTooNew) => 6,
        Err(VerifyError::NoMatchingSignature) => 7,
    }
}

/// A scratch buffer in wasm memory that JavaScript encodes a delivery straight into as `[id][timestamp][signature]
/// [body or MAC]` (one copy across the boundary, no allocation per call once it has grown). Both verifiers use it.
#[derive(Default)]
struct Packed {
    scratch: Vec<u8>,
}

impl Packed {
    fn reserve(&mut self, len: usize) -> *mut u8 {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
        self.scratch.as_mut_ptr()
    }

    /// Splits the buffer by `lengths` and runs `check` on the three headers (as text) and the last piece.
    fn verify(&self, lengths: [usize; 4], check: impl Fn(&str, &str, &str, &[u8]) -> Result<i64, VerifyError>) -> u32 {
        let invalid = || code(Err(VerifyError::InvalidHeader("webhook-id")));
        let Some([id, ts, sig, rest]) = split(&self.scratch, lengths) else { return invalid() };
        match (core::str::from_utf8(id), core::str::from_utf8(ts), core::str::from_utf8(sig)) {
            (Ok(id), Ok(ts), Ok(sig)) => code(check(id, ts, sig, rest)),
            _ => invalid(),
        }
    }
}

/// One key, with its HMAC pad states computed once at construction, and its scratch buffer.
#[wasm_bindgen]
pub struct Verifier {
    key: SigningKey,
    packed: Packed,
}

#[wasm_bindgen]
impl Verifier {
    /// Keys a verifier from raw key bytes; throws on an empty key.
    #[wasm_bindgen(constructor)]
    pub fn new(key: &[u8]) -> Result<Verifier, JsError> {
        let key = SigningKey::from_bytes(key).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Verifier { key, packed: Packed::default() })
    }

    /// Makes room for `len` bytes in the scratch buffer and returns where they start in wasm memory.
    pub fn reserve(&mut self, len: usize) -> *mut u8 {
        self.packed.reserve(len)
    }

    /// Verifies a delivery JavaScript wrote into the scratch buffer as `[id][timestamp][signature][body]` (the
    /// lengths say where each ends): one call, no string conversions, the body copied into wasm once.
    #[wasm_bindgen(js_name = verifyPacked)]
    pub fn verify_packed(
        &self,
        id_len: usize,
        ts_len: usize,
        sig_len: usize,
        body_len: usize,
        now: f64,
        tolerance: f64,
    ) -> u32 {
        self.packed.verify([id_len, ts_len, sig_len, body_len], |id, ts, sig, body| {
            self.key.verify(id, ts, sig, body, now as i64, tolerance as u64)
        })
    }

    /// Like [`Verifier::verify_packed`], with the 32-byte MAC of the message (computed outside wasm) in place of the
    /// body.
    #[wasm_bindgen(js_name = verifyMacPacked)]
    pub fn verify_mac_packed(&self, id_len: usize, ts_len: usize, sig_len: usize, now: f64, tolerance: f64) -> u32 {
        self.packed.verify([id_len, ts_len, sig_len, 32], |id, ts, sig, mac| {
            scheme::verify_with_mac(id, ts, sig, mac, now as i64, tolerance as u64)
        })
    }

    /// The `v1,<base64>` signature of a message.
    pub fn sign(&self, msg_id: &str, timestamp: f64, payload: &[u8]) -> String {
        self.key.sign(msg_id, timestamp as i64, payload)
    }
}

/// A `whpk_` public key (Standard Webhooks `v1a`, Ed25519), with the same packed calling convention as
/// [`Verifier`]: `js/webhook.mjs` uses whichever the key calls for.
#[wasm_bindgen]
pub struct PublicKeyVerifier {
    key: Ed25519Verifier,
    packed: Packed,
}

#[wasm_bindgen]
impl PublicKeyVerifier {
    /// Throws on anything but a `whpk_` key of 32 bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(public_key: &str) -> Result<PublicKeyVerifier, JsError> {
        let key = Ed25519Verifier::from_public(public_key).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(PublicKeyVerifier { key, packed: Packed::default() })
    }

    /// See [`Verifier::reserve`].
    pub fn reserve(&mut self, len: usize) -> *mut u8 {
        self.packed.reserve(len)
    }

    /// See [`Verifier::verify_packed`]; accepts `v1a` entries.
    #[wasm_bindgen(js_name = verifyPacked)]
    pub fn verify_packed(
        &self,
        id_len: usize,
        ts_len: usize,
        sig_len: usize,
        body_len: usize,
        now: f64,
        tolerance: f64,
    ) -> u32 {
        self.packed.verify([id_len, ts_len, sig_len, body_len], |id, ts, sig, body| {
            self.key.verify(id, ts, sig, body, now as i64, tolerance as u64)
        })
    }
}

/// The key bytes a secret stands for (`whsec_` + base64 decoded, otherwise UTF-8).
#[wasm_bindgen(js_name = secretKeyBytes)]
pub fn secret_key_bytes(secret: &str) -> Vec<u8> {
    scheme::secret_key_bytes(secret)
}

/// Checks the simple scheme's `X-Webhook-Signature` (hex HMAC-SHA256 of the body) in constant time.
#[wasm_bindgen(js_name = verifySimple)]
pub fn verify_simple(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    scheme::verify_simple(secret, body, signature_hex)
}

/// The simple scheme's signature of a body; throws on an empty secret.
#[wasm_bindgen(js_name = signSimple)]
pub fn sign_simple(secret: &str, body: &[u8]) -> Result<String, JsError> {
    scheme::simple_signature(secret, body).map_err(|e| JsError::new(&e.to_string()))
}

/// The wasm memory, so JavaScript can encode bodies straight into a verifier's scratch buffer.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_cuts_consecutive_pieces_and_refuses_overruns() {
        let buf = b"idtsSIGbody";
        assert_eq!(split(buf, [2, 2, 3, 4]), Some([&b"id"[..], b"ts", b"SIG", b"body"]));
        assert_eq!(split(buf, [2, 2, 3, 0]), Some([&b"id"[..], b"ts", b"SIG", b""]));
        assert_eq!(split(buf, [2, 2, 3, 5]), None);
        assert_eq!(split(buf, [usize::MAX, 0, 0, 0]), None);
    }
}
