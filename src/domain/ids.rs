//! Identifiers: a prefix that says what they name (`wh_`, `evt_`, `dlv_`, `att_`) and random characters. A value
//! of one id type cannot be passed where another belongs, and parsing rejects anything malformed before a query.

use core::fmt;

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `prefix` + 26 characters of Crockford base32 from 16 random bytes (128 bits).
pub fn encode(prefix: &str, random: &[u8; 16]) -> String {
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in random {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Whether `s` is `prefix` followed by 1–64 ASCII letters, digits, `_` or `-`.
fn well_formed(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 64
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Display and `AsRef<str>` for a string newtype.
macro_rules! text_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(random: &[u8; 16]) -> Self {
                $name(encode($prefix, random))
            }

            /// Accepts only well-formed ids; anything else cannot name a row.
            pub fn parse(s: &str) -> Option<Self> {
                well_formed(s, $prefix).then(|| $name(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        text_impls!($name);
        string_schema!($name, Some(concat!("^", $prefix, "[A-Za-z0-9_-]{1,64}$")));
    };
}

/// The OpenAPI schema of a string newtype: a string, with the pattern its parser enforces.
macro_rules! string_schema {
    ($name:ident, $pattern:expr) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern($pattern)
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

/// An id whose text comes from outside (a caller's event id, an organization named by a token): any 1 to 255
/// printable ASCII characters without spaces, checked once, at construction.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = 255;

            pub fn parse(s: &str) -> Option<Self> {
                (!s.is_empty() && s.len() <= Self::MAX_CHARS && s.bytes().all(|b| b.is_ascii_graphic()))
                    .then(|| $name(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        text_impls!($name);
        string_schema!($name, Some("^[!-~]{1,255}$"));
    };
}

id_type!(
    /// A webhook subscription.
    WebhookId, "wh_"
);
name_type!(
    /// An event: the caller's own id (its idempotency key), or `evt_…` generated or derived by edgehook.
    EventId
);

impl EventId {
    pub const PREFIX: &'static str = "evt_";

    /// `evt_` + 26 characters of Crockford base32 from 16 random bytes.
    pub fn generate(random: &[u8; 16]) -> Self {
        EventId(encode(Self::PREFIX, random))
    }

    /// The `evt_` id that `source` always yields (the first 16 bytes of its SHA-256): the same event seen twice, a
    /// queue message delivered again or one disable written twice, gets one id, and D1's unique key keeps one row.
    pub fn derived(source: &str) -> Self {
        let digest = Sha256::digest(source.as_bytes());
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&digest[..16]);
        Self::generate(&seed)
    }
}

name_type!(
    /// An organization, as a token or an API key names it; every query is scoped to one.
    OrganizationId
);
id_type!(
    /// One delivery of one event to one webhook.
    DeliveryId, "dlv_"
);
id_type!(
    /// One HTTP attempt of a delivery.
    AttemptId, "att_"
);
id_type!(
    /// An API key (its id, not the key: the key is `ehk_…` and is never stored).
    ApiKeyId, "key_"
);
id_type!(
    /// A polling endpoint's token (its id, not the token: the token is `ehpl_…` and is never stored).
    PollTokenId, "ptk_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = WebhookId::generate(&[0xff; 16]);
        assert!(id.as_str().starts_with("wh_"));
        assert_eq!(id.as_str().len(), 3 + 26);
        assert_eq!(WebhookId::parse(id.as_str()), Some(id));
        assert_ne!(WebhookId::generate(&[1; 16]), WebhookId::generate(&[2; 16]));
    }

    #[test]
    fn malformed_ids_do_not_parse() {
        for bad in ["", "wh_", "dlv_abc", "wh_a b", "wh_'; drop table", "WH_abc", &format!("wh_{}", "a".repeat(65))] {
            assert_eq!(WebhookId::parse(bad), None, "{bad}");
        }
        assert!(DeliveryId::parse("dlv_abc").is_some());
    }

    #[test]
    fn derived_event_ids_are_stable_per_source_and_well_formed() {
        let a = EventId::derived("queue-message\nq\n1");
        assert_eq!(a, EventId::derived("queue-message\nq\n1"));
        assert_ne!(a, EventId::derived("queue-message\nq\n2"));
        assert!(a.as_str().starts_with(EventId::PREFIX) && a.as_str().len() == 4 + 26);
    }
}
