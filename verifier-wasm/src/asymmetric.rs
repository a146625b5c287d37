//! Standard Webhooks asymmetric signatures (`v1a`): Ed25519 over `"{id}.{timestamp}.{raw body}"`, sent as
//! `v1a,<base64 signature>` entries of `webhook-signature`. The sender keeps a `whsk_` secret key; receivers hold
//! only its `whpk_` public key, which can verify but never sign. Keys are `whsk_`/`whpk_` followed by the base64 of
//! the 32-byte Ed25519 seed / public key. Signing and verifying use `ed25519-dalek` (strict verification).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::scheme::{check_headers, decimal, VerifyError, LENIENT_BASE64};

pub const SECRET_KEY_PREFIX: &str = "whsk_";
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// The signature version of Ed25519 entries.
pub const VERSION: &str = "v1a";

/// A key that is not a valid `whsk_` / `whpk_` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKey;

impl core::fmt::Display for InvalidKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Invalid key: expected whsk_ or whpk_ followed by the base64 of 32 bytes.")
    }
}

fn key_bytes(text: &str, prefix: &str) -> Result<[u8; 32], InvalidKey> {
    let rest = text.strip_prefix(prefix).ok_or(InvalidKey)?;
    let bytes = LENIENT_BASE64.decode(rest).map_err(|_| InvalidKey)?;
    // A 64-byte secret key is the seed followed by its public key; the seed is what signs.
    let seed = match bytes.len() {
        32 => &bytes[..],
        64 if prefix == SECRET_KEY_PREFIX => &bytes[..32],
        _ => return Err(InvalidKey),
    };
    seed.try_into().map_err(|_| InvalidKey)
}

/// The message every `v1a` signature covers.
fn message(msg_id: &str, timestamp: i64, payload: &[u8]) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let ts = decimal(timestamp, &mut digits);
    let mut out = Vec::with_capacity(msg_id.len() + ts.len() + payload.len() + 2);
    out.extend_from_slice(msg_id.as_bytes());
    out.push(b'.');
    out.extend_from_slice(ts);
    out.push(b'.');
    out.extend_from_slice(payload);
    out
}

/// A new key pair, `(whsk_…, whpk_…)`, from 32 random bytes the caller supplies (this crate has no randomness).
pub fn keypair_from_random(seed: &[u8; 32]) -> (String, String) {
    let key = SigningKey::from_bytes(seed);
    let secret = format!("{SECRET_KEY_PREFIX}{}", STANDARD.encode(seed));
    let public = format!("{PUBLIC_KEY_PREFIX}{}", STANDARD.encode(key.verifying_key().as_bytes()));
    (secret, public)
}

/// Whether a stored signing secret is an Ed25519 secret key rather than an HMAC secret.
pub fn is_secret_key(secret: &str) -> bool {
    secret.starts_with(SECRET_KEY_PREFIX)
}

/// Signs with a `whsk_` secret key.
pub struct Ed25519Signer {
    key: SigningKey,
}

impl Ed25519Signer {
    pub fn from_secret(secret: &str) -> Result<Self, InvalidKey> {
        Ok(Ed25519Signer { key: SigningKey::from_bytes(&key_bytes(secret, SECRET_KEY_PREFIX)?) })
    }

    /// The `whpk_` public key receivers verify with.
    pub fn public_key(&self) -> String {
        format!("{PUBLIC_KEY_PREFIX}{}", STANDARD.encode(self.key.verifying_key().as_bytes()))
    }

    /// The `v1a,<base64>` entry for one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, payload: &[u8]) -> String {
        let signature = self.key.sign(&message(msg_id, timestamp, payload));
        format!("{VERSION},{}", STANDARD.encode(signature.to_bytes()))
    }
}

/// Verifies with a `whpk_` public key.
#[derive(Clone)]
pub struct Ed25519Verifier {
    key: VerifyingKey,
}

impl Ed25519Verifier {
    pub fn from_public(public: &str) -> Result<Self, InvalidKey> {
        let key = VerifyingKey::from_bytes(&key_bytes(public, PUBLIC_KEY_PREFIX)?).map_err(|_| InvalidKey)?;
        Ok(Ed25519Verifier { key })
    }

    /// Checks the headers and accepts when any `v1a` entry is a valid signature of the message (during a key
    /// rotation the sender lists one per valid key); entries of other versions are skipped.
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp_header: &str,
        signature_header: &str,
        payload: &[u8],
        now: i64,
        tolerance_seconds: u64,
    ) -> Result<i64, VerifyError> {
        let timestamp = check_headers(msg_id, timestamp_header, signature_header, now, tolerance_seconds)?;
        let signed = message(msg_id, timestamp, payload);
        for entry in signature_header.split(' ') {
            let Some((VERSION, encoded)) = entry.split_once(',') else { continue };
            let Ok(bytes) = STANDARD.decode(encoded) else { continue };
            let Ok(signature) = Signature::from_slice(&bytes) else { continue };
            if self.key.verify_strict(&signed, &signature).is_ok() {
                return Ok(timestamp);
            }
        }
        Err(VerifyError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn a_signature_verifies_with_the_public_key_and_nothing_else() {
        let (secret, public) = keypair_from_random(&[7; 32]);
        assert!(secret.starts_with("whsk_") && public.starts_with("whpk_"));
        let signer = Ed25519Signer::from_secret(&secret).unwrap();
        assert_eq!(signer.public_key(), public);
        let header = signer.sign("msg_1", NOW, b"{\"a\":1.50}");
        assert!(header.starts_with("v1a,"));
        let verifier = Ed25519Verifier::from_public(&public).unwrap();
        assert_eq!(verifier.verify("msg_1", &NOW.to_string(), &header, b"{\"a\":1.50}", NOW, 300), Ok(NOW));
        // Another body, id, timestamp or key: no match.
        let no = Err(VerifyError::NoMatchingSignature);
        assert_eq!(verifier.verify("msg_1", &NOW.to_string(), &header, b"{\"a\":1.5}", NOW, 300), no);
        assert_eq!(verifier.verify("msg_2", &NOW.to_string(), &header, b"{\"a\":1.50}", NOW, 300), no);
        assert_eq!(verifier.verify("msg_1", &(NOW + 1).to_string(), &header, b"{\"a\":1.50}", NOW, 300), no);
        let (_, other) = keypair_from_random(&[8; 32]);
        assert_eq!(
            Ed25519Verifier::from_public(&other).unwrap().verify(
                "msg_1",
                &NOW.to_string(),
                &header,
                b"{\"a\":1.50}",
                NOW,
                300
            ),
            no
        );
        // A v1 (HMAC) entry with the same bytes is not accepted as v1a.
        let as_v1 = header.replacen("v1a,", "v1,", 1);
        assert_eq!(verifier.verify("msg_1", &NOW.to_string(), &as_v1, b"{\"a\":1.50}", NOW, 300), no);
        // During a rotation either entry may be the valid one.
        let old = Ed25519Signer::from_secret(&keypair_from_random(&[9; 32]).0).unwrap().sign("msg_1", NOW, b"x");
        let both = format!("{old} {}", signer.sign("msg_1", NOW, b"x"));
        assert_eq!(verifier.verify("msg_1", &NOW.to_string(), &both, b"x", NOW, 300), Ok(NOW));
        // The window still applies.
        assert_eq!(
            verifier.verify("msg_1", &(NOW - 301).to_string(), &header, b"{\"a\":1.50}", NOW, 300),
            Err(VerifyError::TimestampTooOld)
        );
    }

    #[test]
    fn keys_must_be_well_formed() {
        for bad in ["", "whpk_", "whpk_!!!", "whsec_AAAA", &format!("whpk_{}", STANDARD.encode([1u8; 31]))] {
            assert!(Ed25519Verifier::from_public(bad).is_err(), "{bad}");
        }
        assert!(Ed25519Signer::from_secret("whpk_AAAA").is_err());
        let (secret, public) = keypair_from_random(&[3; 32]);
        // The 64-byte form (seed + public key) of a secret key signs the same.
        let mut long = [0u8; 64];
        long[..32].copy_from_slice(&[3; 32]);
        long[32..].copy_from_slice(&STANDARD.decode(&public[5..]).unwrap());
        let long = format!("whsk_{}", STANDARD.encode(long));
        assert_eq!(
            Ed25519Signer::from_secret(&long).unwrap().sign("m", NOW, b"b"),
            Ed25519Signer::from_secret(&secret).unwrap().sign("m", NOW, b"b")
        );
        assert!(is_secret_key(&secret) && !is_secret_key("whsec_abc"));
    }

    /// RFC 8032 §7.1, test 2: the one-byte message 0x72, as a check that signatures are plain Ed25519.
    #[test]
    fn rfc_8032_test_vector() {
        let seed: [u8; 32] = hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
            .unwrap()
            .try_into()
            .unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
        );
        assert_eq!(
            hex::encode(key.sign(&[0x72]).to_bytes()),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
    }
}
