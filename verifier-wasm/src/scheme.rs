//! The signing scheme, in one place: the Worker signs with it and receivers verify with it, so the two cannot drift.
//!
//! Two schemes are implemented:
//! - **Standard Webhooks** (standardwebhooks.com): `webhook-signature` is a space-separated list of
//!   `v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{raw body}"`.
//! - **Simple**, the older scheme's `X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed with the
//!   secret's UTF-8 bytes.
//!
//! Pure Rust with no wasm dependencies: host tests cover all of it.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacKey = Hmac<Sha256>;

/// How far a timestamp may be from now, either way, unless the receiver configures otherwise.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// The prefix of secrets whose remainder is the base64 of the key bytes.
pub const SECRET_PREFIX: &str = "whsec_";

/// The only signature version this scheme produces and accepts.
const VERSION: &str = "v1";

/// Length of a base64-encoded (padded) HMAC-SHA256 output.
const SIGNATURE_BASE64_LEN: usize = 44;

/// Accepts the secret's base64 with or without its `=` padding.
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a delivery failed verification. Each variant names the check that failed, so receivers can log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// A required header (`webhook-id`, `webhook-timestamp`, `webhook-signature`) is absent or empty.
    MissingHeader(&'static str),
    /// A header is present but cannot be used: not a number, duplicated, not text.
    InvalidHeader(&'static str),
    /// The timestamp is further in the past than the tolerance allows.
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    TimestampTooNew,
    /// No `v1` entry of the signature header matches the expected signature.
    NoMatchingSignature,
}

impl VerifyError {
    /// A stable machine-readable name for the failed check.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::InvalidHeader(_) => "invalid_header",
            VerifyError::TimestampTooOld => "timestamp_too_old",
            VerifyError::TimestampTooNew => "timestamp_too_new",
            VerifyError::NoMatchingSignature => "no_matching_signature",
        }
    }

    /// The header the error is about, where there is one.
    pub fn header(&self) -> Option<&'static str> {
        match self {
            VerifyError::MissingHeader(h) | VerifyError::InvalidHeader(h) => Some(h),
            _ => None,
        }
    }

    /// The message, worded as the `standardwebhooks` package words it so drop-in users see the same text.
    pub fn message(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "Missing required headers",
            VerifyError::InvalidHeader(_) => "Invalid Signature Headers",
            VerifyError::TimestampTooOld => "Message timestamp too old",
            VerifyError::TimestampTooNew => "Message timestamp too new",
            VerifyError::NoMatchingSignature => "No matching signature found",
        }
    }
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.header() {
            Some(h) => write!(f, "{} ({})", self.message(), h),
            None => f.write_str(self.message()),
        }
    }
}

/// A secret that cannot key a signer: empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptySecret;

impl core::fmt::Display for EmptySecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret can't be empty.")
    }
}

/// The key bytes a secret stands for: for `whsec_<base64>` the decoded bytes, otherwise the secret's UTF-8 bytes.
pub fn secret_key_bytes(secret: &str) -> Vec<u8> {
    if let Some(rest) = secret.strip_prefix(SECRET_PREFIX) {
        // `whsec_` alone decodes to no key at all, which signers then refuse as empty.
        if let Ok(bytes) = LENIENT_BASE64.decode(rest) {
            return bytes;
        }
    }
    secret.as_bytes().to_vec()
}

/// An HMAC-SHA256 key (RustCrypto `hmac` + `sha2`) keyed once: its inner and outer pad states are hashed when it is
/// made, and every message clones that state, so a signature costs only the blocks of the message itself.
#[derive(Clone)]
pub struct SigningKey {
    key: HmacKey,
}

impl SigningKey {
    /// Keys from raw bytes. An empty key is refused: it would make every signature forgeable.
    pub fn from_bytes(key: &[u8]) -> Result<Self, EmptySecret> {
        if key.is_empty() {
            return Err(EmptySecret);
        }
        // HMAC takes keys of any length, so this cannot fail; the empty key was refused above.
        HmacKey::new_from_slice(key).map(|key| SigningKey { key }).map_err(|_| EmptySecret)
    }

    /// Keys from a secret as users hold it (see [`secret_key_bytes`]).
    pub fn from_secret(secret: &str) -> Result<Self, EmptySecret> {
        if secret.is_empty() {
            return Err(EmptySecret);
        }
        Self::from_bytes(&secret_key_bytes(secret))
    }

    /// The raw HMAC of `"{id}.{timestamp}.{payload}"`, hashed in pieces so the payload is never copied.
    pub fn mac(&self, msg_id: &str, timestamp: i64, payload: &[u8]) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        let mut digits = [0u8; 20];
        mac.update(decimal(timestamp, &mut digits));
        mac.update(b".");
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// The `v1,<base64>` entry for one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, payload: &[u8]) -> String {
        let mut out = String::with_capacity(3 + SIGNATURE_BASE64_LEN);
        out.push_str(VERSION);
        out.push(',');
        STANDARD.encode_string(self.mac(msg_id, timestamp, payload), &mut out);
        out
    }

    /// The raw HMAC of arbitrary bytes: the simple scheme and JWTs use it.
    pub fn mac_bytes(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Checks the three header values against the payload; headers have already been looked up by the caller.
    ///
    /// Accepts when any `v1` entry matches (during a secret rotation the sender lists one per valid secret);
    /// entries of other versions are skipped. The comparison is constant-time.
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
        match_signature(&self.mac(msg_id, timestamp, payload), signature_header)?;
        Ok(timestamp)
    }
}

/// Checks the headers against a MAC the caller computed over `"{id}.{timestamp header}.{body}"` with another HMAC
/// implementation (Node's OpenSSL for large bodies). Only a canonical timestamp header (no leading zeros) may be
/// used this way, since the signed content holds the timestamp's canonical digits.
pub fn verify_with_mac(
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    mac: &[u8],
    now: i64,
    tolerance_seconds: u64,
) -> Result<i64, VerifyError> {
    let timestamp = check_headers(msg_id, timestamp_header, signature_header, now, tolerance_seconds)?;
    let mut digits = [0u8; 20];
    if decimal(timestamp, &mut digits) != timestamp_header.as_bytes() {
        return Err(VerifyError::InvalidHeader("webhook-timestamp"));
    }
    match_signature(mac, signature_header)?;
    Ok(timestamp)
}

/// The checks that come before any hashing: all three headers present, the timestamp a number within the window.
pub(crate) fn check_headers(
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    now: i64,
    tolerance_seconds: u64,
) -> Result<i64, VerifyError> {
    if msg_id.is_empty() {
        return Err(VerifyError::MissingHeader("webhook-id"));
    }
    if signature_header.is_empty() {
        return Err(VerifyError::MissingHeader("webhook-signature"));
    }
    check_timestamp(timestamp_header, now, tolerance_seconds)
}

/// Accepts when any `v1` entry of the header equals the MAC's base64, compared in constant time. Entries of other
/// versions are skipped; during a secret rotation the sender lists one entry per valid secret.
fn match_signature(mac: &[u8], signature_header: &str) -> Result<(), VerifyError> {
    let mut expected = [0u8; SIGNATURE_BASE64_LEN];
    let written = STANDARD.encode_slice(mac, &mut expected).map_err(|_| VerifyError::NoMatchingSignature)?;
    let expected = &expected[..written];
    let mut matched = false;
    for entry in signature_header.split(' ') {
        let Some((version, signature)) = entry.split_once(',') else {
            continue;
        };
        if version == VERSION && constant_time_eq(signature.as_bytes(), expected) {
            matched = true;
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// Parses a `webhook-timestamp` (unix seconds, digits only) and checks it lies within `tolerance_seconds` of `now`.
pub fn check_timestamp(header: &str, now: i64, tolerance_seconds: u64) -> Result<i64, VerifyError> {
    const NAME: &str = "webhook-timestamp";
    if header.is_empty() {
        return Err(VerifyError::MissingHeader(NAME));
    }
    if header.len() > 15 || !header.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidHeader(NAME));
    }
    let timestamp: i64 = header.parse().map_err(|_| VerifyError::InvalidHeader(NAME))?;
    let tolerance = i64::try_from(tolerance_seconds).unwrap_or(i64::MAX);
    if now.saturating_sub(timestamp) > tolerance {
        return Err(VerifyError::TimestampTooOld);
    }
    if timestamp.saturating_sub(now) > tolerance {
        return Err(VerifyError::TimestampTooNew);
    }
    Ok(timestamp)
}

/// Compares two byte strings in time that depends only on their lengths, never on where they differ (`subtle`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The simple scheme's `X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the body, keyed with the secret's UTF-8.
pub fn simple_signature(secret: &str, body: &[u8]) -> Result<String, EmptySecret> {
    let key = SigningKey::from_bytes(secret.as_bytes())?;
    Ok(hex::encode(key.mac_bytes(body)))
}

/// Checks an `X-Webhook-Signature` in constant time; accepts upper- or lowercase hex.
pub fn verify_simple(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(expected) = simple_signature(secret, body) else {
        return false;
    };
    let given = signature_hex.trim().to_ascii_lowercase();
    constant_time_eq(given.as_bytes(), expected.as_bytes())
}

/// A fresh secret in the `whsec_<base64>` form from 32 random bytes supplied by the caller (the Worker uses the
/// platform's CSPRNG; this crate stays free of randomness sources).
pub fn secret_from_random(bytes: &[u8; 32]) -> String {
    let mut out = String::from(SECRET_PREFIX);
    STANDARD.encode_string(bytes, &mut out);
    out
}

/// Decimal digits of a timestamp, written into `buf` without allocating (this runs on every verification).
pub(crate) fn decimal(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let negative = value < 0;
    let mut n = value.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative && i > 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published Standard Webhooks test vectors (standard-webhooks, libraries/javascript/src/index.test.ts and the
    // Rust library's tests): secret, id, timestamp, payload and the exact expected signature.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1614265330;
    const VECTOR_PAYLOAD: &str = r#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn key() -> SigningKey {
        SigningKey::from_secret(VECTOR_SECRET).unwrap()
    }

    #[test]
    fn signs_the_published_vector() {
        assert_eq!(key().sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD.as_bytes()), VECTOR_SIGNATURE);
    }

    #[test]
    fn verifies_the_published_vector() {
        let ts = VECTOR_TIMESTAMP.to_string();
        let got = key().verify(VECTOR_ID, &ts, VECTOR_SIGNATURE, VECTOR_PAYLOAD.as_bytes(), VECTOR_TIMESTAMP, 300);
        assert_eq!(got, Ok(VECTOR_TIMESTAMP));
    }

    #[test]
    fn secret_with_and_without_prefix_differ_only_by_decoding() {
        // Without the prefix the secret is used as UTF-8 bytes, so the vector no longer matches.
        let raw = SigningKey::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_ne!(raw.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD.as_bytes()), VECTOR_SIGNATURE);
        let decoded = SigningKey::from_bytes(&STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()).unwrap();
        assert_eq!(decoded.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD.as_bytes()), VECTOR_SIGNATURE);
    }

    #[test]
    fn whsec_prefix_with_invalid_base64_falls_back_to_utf8() {
        assert_eq!(secret_key_bytes("whsec_!!!not base64"), b"whsec_!!!not base64".to_vec());
    }

    #[test]
    fn any_matching_entry_among_several_is_accepted() {
        let ts = VECTOR_TIMESTAMP.to_string();
        let header = format!("v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXU= v2,abc {VECTOR_SIGNATURE}");
        let got = key().verify(VECTOR_ID, &ts, &header, VECTOR_PAYLOAD.as_bytes(), VECTOR_TIMESTAMP, 300);
        assert_eq!(got, Ok(VECTOR_TIMESTAMP));
    }

    #[test]
    fn unknown_versions_never_match() {
        let ts = VECTOR_TIMESTAMP.to_string();
        let header = VECTOR_SIGNATURE.replacen("v1,", "v2,", 1);
        let got = key().verify(VECTOR_ID, &ts, &header, VECTOR_PAYLOAD.as_bytes(), VECTOR_TIMESTAMP, 300);
        assert_eq!(got, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn tampered_payload_fails() {
        let ts = VECTOR_TIMESTAMP.to_string();
        let got = key().verify(VECTOR_ID, &ts, VECTOR_SIGNATURE, br#"{"test": 2432232315}"#, VECTOR_TIMESTAMP, 300);
        assert_eq!(got, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn timestamps_outside_the_tolerance_fail() {
        let k = key();
        let p = VECTOR_PAYLOAD.as_bytes();
        let ts = VECTOR_TIMESTAMP.to_string();
        assert_eq!(
            k.verify(VECTOR_ID, &ts, VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP + 301, 300),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            k.verify(VECTOR_ID, &ts, VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP - 301, 300),
            Err(VerifyError::TimestampTooNew)
        );
        assert!(k.verify(VECTOR_ID, &ts, VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP + 300, 300).is_ok());
        assert!(k.verify(VECTOR_ID, &ts, VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP + 3000, 3600).is_ok());
    }

    #[test]
    fn garbled_headers_are_named() {
        let k = key();
        let p = VECTOR_PAYLOAD.as_bytes();
        for bad in ["abc", "12a", "-5", " 1614265330", "1.5", "99999999999999999999"] {
            assert_eq!(
                k.verify(VECTOR_ID, bad, VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP, 300),
                Err(VerifyError::InvalidHeader("webhook-timestamp")),
                "{bad}"
            );
        }
        let ts = VECTOR_TIMESTAMP.to_string();
        assert_eq!(
            k.verify("", &ts, VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP, 300),
            Err(VerifyError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            k.verify(VECTOR_ID, &ts, "", p, VECTOR_TIMESTAMP, 300),
            Err(VerifyError::MissingHeader("webhook-signature"))
        );
        assert_eq!(
            k.verify(VECTOR_ID, "", VECTOR_SIGNATURE, p, VECTOR_TIMESTAMP, 300),
            Err(VerifyError::MissingHeader("webhook-timestamp"))
        );
        for garbled in
            ["v1", "v1,", "v1,!!!!", "v1,g0hM9SsE", ",,,", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=="]
        {
            assert_eq!(
                k.verify(VECTOR_ID, &ts, garbled, p, VECTOR_TIMESTAMP, 300),
                Err(VerifyError::NoMatchingSignature),
                "{garbled}"
            );
        }
    }

    #[test]
    fn a_mac_computed_elsewhere_is_checked_the_same_way() {
        let ts = VECTOR_TIMESTAMP.to_string();
        let mac = key().mac(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD.as_bytes());
        assert_eq!(
            verify_with_mac(VECTOR_ID, &ts, VECTOR_SIGNATURE, &mac, VECTOR_TIMESTAMP, 300),
            Ok(VECTOR_TIMESTAMP)
        );
        assert_eq!(
            verify_with_mac(VECTOR_ID, &format!("0{ts}"), VECTOR_SIGNATURE, &mac, VECTOR_TIMESTAMP, 300),
            Err(VerifyError::InvalidHeader("webhook-timestamp"))
        );
        assert_eq!(
            verify_with_mac(VECTOR_ID, &ts, VECTOR_SIGNATURE, &[0u8; 32], VECTOR_TIMESTAMP, 300),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verify_with_mac(VECTOR_ID, &ts, VECTOR_SIGNATURE, &mac, VECTOR_TIMESTAMP + 999, 300),
            Err(VerifyError::TimestampTooOld)
        );
    }

    #[test]
    fn empty_secrets_are_refused() {
        assert!(SigningKey::from_secret("").is_err());
        assert!(SigningKey::from_bytes(&[]).is_err());
        assert!(simple_signature("", b"x").is_err());
        assert!(SigningKey::from_secret("whsec_").is_err());
    }

    #[test]
    fn simple_scheme_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = simple_signature("Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(sig, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_simple("Jefe", b"what do ya want for nothing?", &sig));
        assert!(verify_simple("Jefe", b"what do ya want for nothing?", &sig.to_uppercase()));
        assert!(!verify_simple("Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify_simple("Jefe", b"what do ya want for nothing?", "zz"));
    }

    #[test]
    fn generated_secrets_round_trip_to_32_key_bytes() {
        let secret = secret_from_random(&[7u8; 32]);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key_bytes(&secret), vec![7u8; 32]);
    }

    #[test]
    fn decimal_matches_display() {
        for v in [0i64, 7, 10, 1614265330, -42, i64::MAX, i64::MIN + 1] {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(v, &mut buf), v.to_string().as_bytes());
        }
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn sign_then_verify_round_trips(key in proptest::collection::vec(any::<u8>(), 1..64),
                                            id in "[a-zA-Z0-9_]{1,40}", ts in 0i64..4_000_000_000,
                                            body in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let k = SigningKey::from_bytes(&key).unwrap();
                let sig = k.sign(&id, ts, &body);
                prop_assert_eq!(k.verify(&id, &ts.to_string(), &sig, &body, ts, 300), Ok(ts));
            }

            #[test]
            fn any_flipped_byte_fails(key in proptest::collection::vec(any::<u8>(), 1..64),
                                      id in "[a-zA-Z0-9_]{1,40}", ts in 1_000_000_000i64..2_000_000_000,
                                      body in proptest::collection::vec(any::<u8>(), 1..512),
                                      which in 0usize..4, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
                let k = SigningKey::from_bytes(&key).unwrap();
                let sig = k.sign(&id, ts, &body);
                let ts_s = ts.to_string();
                let flip = |s: &[u8]| { let mut v = s.to_vec(); let i = pos.index(v.len()); v[i] ^= 1 << bit; v };
                let result = match which {
                    0 => k.verify(&id, &ts_s, &sig, &flip(&body), ts, 300),
                    1 => match String::from_utf8(flip(id.as_bytes())) {
                        Ok(id2) => k.verify(&id2, &ts_s, &sig, &body, ts, 300),
                        Err(_) => Err(VerifyError::NoMatchingSignature),
                    },
                    2 => match String::from_utf8(flip(ts_s.as_bytes())) {
                        Ok(ts2) => k.verify(&id, &ts2, &sig, &body, ts, i64::MAX as u64).map(|_| ()).map(|_| 0),
                        Err(_) => Err(VerifyError::NoMatchingSignature),
                    },
                    _ => {
                        // Flip a byte of the base64 part only: flipping "v1," would be an unknown version.
                        let mut v = sig.as_bytes().to_vec();
                        let i = 3 + pos.index(v.len() - 3);
                        v[i] ^= 1 << bit;
                        match String::from_utf8(v) {
                            Ok(sig2) => k.verify(&id, &ts_s, &sig2, &body, ts, 300),
                            Err(_) => Err(VerifyError::NoMatchingSignature),
                        }
                    }
                };
                prop_assert!(result.is_err(), "flipped input verified: which={}", which);
            }
        }
    }
}
