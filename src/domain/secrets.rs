//! Webhook signing secrets at rest: AES-256-GCM (RustCrypto `aes-gcm`) under the Worker secret `SECRETS_KEY`, with
//! the webhook's id as associated data, so a stored secret cannot be read without the key nor moved to another
//! webhook. Stored as `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>`; a value without that prefix was written before
//! encryption existed and is used as it is until its row is next written.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const PREFIX: &str = "enc:v1:";
const NONCE_BYTES: usize = 12;

/// Why a stored secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// `SECRETS_KEY` is unset or is not the base64 of 32 bytes.
    NoKey,
    /// The stored value is damaged, belongs to another webhook, or was sealed under another key.
    Unreadable,
}

impl core::fmt::Display for SecretError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SecretError::NoKey => "SECRETS_KEY is not set to the base64 of 32 bytes",
            SecretError::Unreadable => "a stored webhook secret could not be decrypted (was SECRETS_KEY changed?)",
        })
    }
}

/// The key that seals and opens stored secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Option<Aes256Gcm>,
}

impl SecretBox {
    /// From `SECRETS_KEY` (base64 of 32 bytes). Without a valid key, sealing fails and only values written before
    /// encryption can be opened.
    pub fn from_config(key_base64: Option<&str>) -> SecretBox {
        let key = key_base64.and_then(|k| STANDARD.decode(k.trim()).ok()).filter(|k| k.len() == 32);
        SecretBox { cipher: key.map(|k| Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&k))) }
    }

    /// Seals a secret for the webhook `webhook_id` with a fresh random `nonce`.
    pub fn seal(&self, secret: &str, webhook_id: &str, nonce: &[u8; NONCE_BYTES]) -> Result<String, SecretError> {
        let cipher = self.cipher.as_ref().ok_or(SecretError::NoKey)?;
        let sealed = cipher
            .encrypt(Nonce::from_slice(nonce), Payload { msg: secret.as_bytes(), aad: aad(webhook_id).as_bytes() })
            .map_err(|_| SecretError::Unreadable)?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// Opens a stored value of the webhook `webhook_id`; a value written before encryption comes back as it is.
    pub fn open(&self, stored: &str, webhook_id: &str) -> Result<String, SecretError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let cipher = self.cipher.as_ref().ok_or(SecretError::NoKey)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Unreadable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Unreadable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad(webhook_id).as_bytes() })
            .map_err(|_| SecretError::Unreadable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Unreadable)
    }
}

/// Whether a stored value is sealed (rows written before encryption are not, until their next write).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn aad(webhook_id: &str) -> String {
    format!("edgehook webhook secret\n{webhook_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef0123456789abcdef"

    #[test]
    fn a_sealed_secret_opens_only_for_its_webhook_under_its_key() {
        let sealed_box = SecretBox::from_config(Some(KEY));
        let sealed = sealed_box.seal("whsec_abc", "wh_1", &[7; 12]).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(sealed_box.open(&sealed, "wh_1").unwrap(), "whsec_abc");
        assert_eq!(sealed_box.open(&sealed, "wh_2"), Err(SecretError::Unreadable), "moved to another webhook");
        let other = SecretBox::from_config(Some("MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE="));
        assert_eq!(other.open(&sealed, "wh_1"), Err(SecretError::Unreadable), "another key");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealed_box.open(&tampered, "wh_1"), Err(SecretError::Unreadable));
        assert_ne!(sealed, sealed_box.seal("whsec_abc", "wh_1", &[8; 12]).unwrap(), "a fresh nonce, a fresh value");
    }

    #[test]
    fn values_written_before_encryption_are_read_as_they_are() {
        let b = SecretBox::from_config(Some(KEY));
        assert_eq!(b.open("whsec_legacy", "wh_1").unwrap(), "whsec_legacy");
        assert!(!is_sealed("whsec_legacy"));
        assert_eq!(SecretBox::from_config(None).open("whsec_legacy", "wh_1").unwrap(), "whsec_legacy");
    }

    #[test]
    fn without_a_valid_key_nothing_is_sealed() {
        for key in [None, Some("short"), Some("c2hvcnQ=")] {
            assert_eq!(SecretBox::from_config(key).seal("s", "wh_1", &[0; 12]), Err(SecretError::NoKey));
        }
    }
}
