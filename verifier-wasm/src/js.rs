//! wasm-bindgen exports. They speak in numbers and bytes; `js/webhook.mjs` turns them into the JavaScript API,
//! so nothing here allocates a JS error object on the hot path.

use wasm_bindgen::prelude::*;

use crate::scheme::{self, SigningKey, VerifyError};

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

/// One key, with its HMAC pad states computed once at construction, and a scratch buffer that JavaScript encodes
/// string bodies straight into (one copy across the boundary, no allocation per call once it has grown).
#[wasm_bindgen]
pub struct Verifier {
    key: SigningKey,
    scratch: Vec<u8>,
}

#[wasm_bindgen]
impl Verifier {
    /// Keys a verifier from raw key bytes; throws on an empty key.
    #[wasm_bindgen(constructor)]
    pub fn new(key: &[u8]) -> Result<Verifier, JsError> {
        let key = SigningKey::from_bytes(key).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Verifier { key, scratch: Vec::new() })
    }

    /// Makes room for `len` bytes in the scratch buffer and returns where they start in wasm memory.
    pub fn reserve(&mut self, len: usize) -> *mut u8 {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
        self.scratch.as_mut_ptr()
    }

    /// Verifies a delivery whose body JavaScript wrote into the first `len` bytes of the scratch buffer.
    #[wasm_bindgen(js_name = verifyScratch)]
    pub fn verify_scratch(&self, len: usize, msg_id: &str, timestamp: &str, signature: &str, now: f64, tolerance: f64) -> u32 {
        let payload = self.scratch.get(..len).unwrap_or(&[]);
        self.verify(msg_id, timestamp, signature, payload, now, tolerance)
    }

    /// Verifies a delivery whose body is bytes; returns 0 or a result code.
    pub fn verify(&self, msg_id: &str, timestamp: &str, signature: &str, payload: &[u8], now: f64, tolerance: f64) -> u32 {
        code(self.key.verify(msg_id, timestamp, signature, payload, now as i64, tolerance as u64))
    }


    /// The `v1,<base64>` signature of a message.
    pub fn sign(&self, msg_id: &str, timestamp: f64, payload: &[u8]) -> String {
        self.key.sign(msg_id, timestamp as i64, payload)
    }
}

/// Checks the headers against a MAC computed outside wasm (Node's OpenSSL, for large bodies); 0 or a result code.
#[wasm_bindgen(js_name = verifyMac)]
pub fn verify_mac(msg_id: &str, timestamp: &str, signature: &str, mac: &[u8], now: f64, tolerance: f64) -> u32 {
    code(scheme::verify_with_mac(msg_id, timestamp, signature, mac, now as i64, tolerance as u64))
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
