//! `Authorization: Bearer …` -> the caller: who they are, which organization every query is scoped to, and what they
//! may do. The bearer is an HS256 JWT, an API key (`ehk_…`) or a portal session token (`ehp_…`), the last two looked
//! up by their SHA-256 in D1. Every refusal is a 401 that never says which secret was expected.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::ids::OrganizationId;
use crate::error::ApiError;

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and changes the organization's webhooks.
    Admin,
    /// Reads only.
    Member,
    /// A machine credential: publishes events, reads.
    Service,
}

/// The authenticated caller. `org` scopes every query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub org: OrganizationId,
    pub user: String,
    pub role: Role,
    /// Signed in through a portal session: the organization's customer-facing dashboard. It manages webhooks
    /// (`Admin`) or only reads them (`Member`, a read-only session), and never reaches the vendor's own routes.
    pub portal: Option<PortalAccess>,
}

/// What a portal session caller carries besides its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalAccess {
    /// When the session ends (epoch ms).
    pub expires_at: i64,
}

impl Caller {
    /// Admins only: creating, changing, deleting, rotating, retrying, test sends.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match (self.role, self.portal.is_some()) {
            (Role::Admin, _) => Ok(()),
            (_, true) => Err(ApiError::forbidden("this portal session is read-only")),
            _ => Err(ApiError::forbidden("this action needs the admin role")),
        }
    }

    /// Admins and services, not portal sessions: publishing events.
    pub fn require_publisher(&self) -> Result<(), ApiError> {
        self.require_vendor()?;
        match self.role {
            Role::Admin | Role::Service => Ok(()),
            Role::Member => Err(ApiError::forbidden("publishing events needs the service or admin role")),
        }
    }

    /// The vendor's own credentials (a JWT or an API key), never a portal session: API keys, portal sessions,
    /// publishing events.
    pub fn require_vendor(&self) -> Result<(), ApiError> {
        if self.portal.is_some() {
            return Err(ApiError::forbidden("a portal session cannot do this; use an API key or a token"));
        }
        Ok(())
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "service" => Some(Role::Service),
            _ => None,
        }
    }
}

/// The prefix of API keys.
pub const API_KEY_PREFIX: &str = "ehk_";
/// The prefix of portal session tokens; anything else after `Bearer` is taken for a JWT.
pub const PORTAL_TOKEN_PREFIX: &str = "ehp_";

/// Clock skew tolerated on `exp` and `nbf`, either way.
pub const LEEWAY_SECONDS: f64 = 30.0;

/// What a bearer token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    Jwt(&'a str),
    ApiKey(&'a str),
    PortalSession(&'a str),
}

/// The text after `Bearer` in an `Authorization` header; the scheme matches case-insensitively (RFC 9110).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
    let header = authorization.ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let invalid = || ApiError::unauthorized("the Authorization header must be Bearer <token>");
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(invalid());
    }
    Ok(token)
}

/// The credential of an `Authorization` header.
pub fn bearer(authorization: Option<&str>) -> Result<Credential<'_>, ApiError> {
    let token = bearer_token(authorization)?;
    Ok(if token.starts_with(API_KEY_PREFIX) {
        Credential::ApiKey(token)
    } else if token.starts_with(PORTAL_TOKEN_PREFIX) {
        Credential::PortalSession(token)
    } else {
        Credential::Jwt(token)
    })
}

/// A new API key ([`API_KEY_PREFIX`]) or portal session token ([`PORTAL_TOKEN_PREFIX`]) from 32 random bytes: the
/// prefix and their base64url.
pub fn new_credential(prefix: &str, random: &[u8; 32]) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random))
}

/// What is stored of a key or a portal token: the lowercase hex SHA-256 of its whole text. 256 random bits need no
/// slow hash.
pub fn api_key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What a JWT must satisfy besides its signature: the `iss` and `aud` claims, when configured.
#[derive(Debug, Clone, Default)]
pub struct JwtRules<'a> {
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// `aud` is one string or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    org: Option<String>,
    role: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iss: Option<String>,
    aud: Option<Audience>,
}

/// Verifies an HS256 JWT and returns its caller. Only HS256 is accepted (never `none`); `exp` is required and
/// `nbf` honoured, both with [`LEEWAY_SECONDS`]; `iss` and `aud` must match `rules` where it sets them; `sub`, `org`
/// and a known `role` are required.
///
/// Written here on RustCrypto `hmac` (`verify_slice`, constant-time) rather than with a JWT crate: measured with
/// `jsonwebtoken` 11 (`rust_crypto`, the backend that builds for wasm), the Worker grew from 389 KB to 653 KB
/// gzipped (its RSA and elliptic-curve code comes along), for one algorithm we accept.
pub fn verify_jwt(token: &str, secret: &str, rules: &JwtRules<'_>, now: i64) -> Result<Caller, ApiError> {
    let malformed = || ApiError::unauthorized("the token is malformed");
    if secret.is_empty() {
        return Err(ApiError::unauthorized("the token cannot be verified"));
    }
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let header: Header = decode_json(head).ok_or_else(malformed)?;
    if header.alg != "HS256" {
        return Err(ApiError::unauthorized("the token must be signed with HS256"));
    }
    let given = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
    let signed_len = head.len() + 1 + body.len();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| malformed())?;
    mac.update(&token.as_bytes()[..signed_len]);
    // `verify_slice` compares in constant time.
    if mac.verify_slice(&given).is_err() {
        return Err(ApiError::unauthorized("the token's signature is invalid"));
    }
    let claims: Claims = decode_json(body).ok_or_else(malformed)?;
    let exp = claims.exp.ok_or_else(|| ApiError::unauthorized("the token has no exp claim"))?;
    if (now as f64) >= exp + LEEWAY_SECONDS {
        return Err(ApiError::unauthorized("the token has expired"));
    }
    if claims.nbf.is_some_and(|nbf| (now as f64) + LEEWAY_SECONDS < nbf) {
        return Err(ApiError::unauthorized("the token is not valid yet"));
    }
    if let Some(issuer) = rules.issuer {
        if claims.iss.as_deref() != Some(issuer) {
            return Err(ApiError::unauthorized("the token's iss claim is not the expected issuer"));
        }
    }
    if let Some(audience) = rules.audience {
        let matches = match &claims.aud {
            Some(Audience::One(a)) => a == audience,
            Some(Audience::Many(all)) => all.iter().any(|a| a == audience),
            None => false,
        };
        if !matches {
            return Err(ApiError::unauthorized("the token's aud claim does not name this service"));
        }
    }
    let nonempty = |v: Option<String>, claim: &str| {
        v.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::unauthorized(format!("the token has no {claim} claim")))
    };
    let role = Role::parse(&nonempty(claims.role, "role")?)
        .ok_or_else(|| ApiError::unauthorized("the token's role must be admin, member or service"))?;
    let org = OrganizationId::parse(&nonempty(claims.org, "org")?)
        .ok_or_else(|| ApiError::unauthorized("the token's org claim must be 1 to 255 printable characters"))?;
    Ok(Caller { org, user: nonempty(claims.sub, "sub")?, role, portal: None })
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The name under which `src/entry.mjs` hands a Workers RPC call's caller to the Rust code: the calling Worker's
/// service binding `props` as JSON, in the env of that call only. An HTTP request's env never has it.
pub const RPC_CALLER_BINDING: &str = "EDGEHOOK_RPC_CALLER";

/// What a calling Worker's binding `props` must hold: `{ "organization": "acme", "role": "service" | "admin" }`
/// (`role` defaults to `service`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RpcProps {
    organization: String,
    role: Option<String>,
}

/// The caller of a Workers RPC call, from its binding's `props` (JSON text; `null` when the binding set none). The
/// props are the vendor's own configuration, so they are trusted as a verified token would be; what they must hold
/// is checked as strictly.
pub fn rpc_caller(props_json: &str) -> Result<Caller, ApiError> {
    let missing = || {
        ApiError::unauthorized(
            "the service binding must set props = { organization = \"acme\", role = \"service\" } in the calling \
             Worker's configuration",
        )
    };
    let props: RpcProps = serde_json::from_str::<Option<RpcProps>>(props_json).ok().flatten().ok_or_else(missing)?;
    let org = OrganizationId::parse(&props.organization).ok_or_else(missing)?;
    let role = match props.role.as_deref() {
        None => Role::Service,
        Some(name) => Role::parse(name).ok_or_else(|| {
            ApiError::unauthorized(format!("the service binding's role \"{name}\" is not admin, member or service"))
        })?,
    };
    Ok(Caller { org, user: "rpc".into(), role, portal: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_rpc_caller_is_the_binding_props_organization_and_role() {
        let caller = rpc_caller(r#"{"organization":"org_acme","role":"admin"}"#).unwrap();
        assert_eq!((caller.org.as_str(), caller.role, caller.portal), ("org_acme", Role::Admin, None));
        assert_eq!(rpc_caller(r#"{"organization":"org_acme"}"#).unwrap().role, Role::Service);
        for refused in [
            "null",
            "{}",
            "not json",
            r#"{"organization":"has space"}"#,
            r#"{"organization":"org_acme","role":"owner"}"#,
            r#"{"organization":"org_acme","extra":1}"#,
        ] {
            assert_eq!(rpc_caller(refused).unwrap_err().status, 401, "{refused}");
        }
    }

    const SECRET: &str = "test-secret";
    const NOW: i64 = 1_800_000_000;

    fn b64(v: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn sign(header: serde_json::Value, claims: serde_json::Value, secret: &str) -> String {
        let head = format!("{}.{}", b64(header), b64(claims));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(head.as_bytes());
        format!("{head}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn good_claims() -> serde_json::Value {
        json!({"sub": "u1", "org": "org_a", "role": "admin", "exp": NOW + 60})
    }

    fn token(claims: serde_json::Value) -> String {
        sign(json!({"alg": "HS256", "typ": "JWT"}), claims, SECRET)
    }

    #[test]
    fn a_valid_token_yields_its_caller() {
        let caller = verify_jwt(&token(good_claims()), SECRET, &JwtRules::default(), NOW).unwrap();
        assert_eq!(
            caller,
            Caller { org: OrganizationId::parse("org_a").unwrap(), user: "u1".into(), role: Role::Admin, portal: None }
        );
        let header = format!("Bearer {}", token(good_claims()));
        let Ok(Credential::Jwt(from_header)) = bearer(Some(&header)) else { panic!("not read as a JWT") };
        assert!(verify_jwt(from_header, SECRET, &JwtRules::default(), NOW).is_ok());
    }

    #[test]
    fn every_bad_token_is_401() {
        let mut cases = vec![
            token(json!({"sub": "u1", "org": "org_a", "role": "admin", "exp": NOW - 30})),
            token(json!({"sub": "u1", "org": "org_a", "role": "admin"})),
            token(json!({"sub": "u1", "org": "org_a", "role": "admin", "exp": NOW + 60, "nbf": NOW + 31})),
            token(json!({"sub": "u1", "role": "admin", "exp": NOW + 60})),
            token(json!({"org": "org_a", "role": "admin", "exp": NOW + 60})),
            token(json!({"sub": "u1", "org": "org_a", "role": "owner", "exp": NOW + 60})),
            token(json!({"sub": "u1", "org": "", "role": "admin", "exp": NOW + 60})),
            sign(json!({"alg": "HS256"}), good_claims(), "other-secret"),
            sign(json!({"alg": "HS512"}), good_claims(), SECRET),
            format!("{}.{}.", b64(json!({"alg": "none"})), b64(good_claims())),
            "abc".into(),
            "a.b.c".into(),
            "a.b.c.d".into(),
            String::new(),
        ];
        let t = token(good_claims());
        cases.push(format!("{}x", t));
        let mut tampered = t.clone();
        tampered.replace_range(t.find('.').unwrap() + 2..t.find('.').unwrap() + 3, "A");
        cases.push(tampered);
        for case in cases {
            let err = verify_jwt(&case, SECRET, &JwtRules::default(), NOW).unwrap_err();
            assert_eq!(err.status, 401, "{case}");
            assert!(!err.message.contains(SECRET));
        }
        assert_eq!(bearer(None).unwrap_err().status, 401);
        assert_eq!(bearer(Some("Basic abc")).unwrap_err().status, 401);
        assert_eq!(bearer(Some("Bearer ")).unwrap_err().status, 401);
    }

    #[test]
    fn thirty_seconds_of_clock_skew_are_tolerated() {
        let rules = JwtRules::default();
        let skewed = json!({"sub": "u1", "org": "org_a", "role": "admin", "exp": NOW - 29, "nbf": NOW + 30});
        assert!(verify_jwt(&token(skewed), SECRET, &rules, NOW).is_ok());
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_configured() {
        let rules = JwtRules { issuer: Some("https://crm.example"), audience: Some("edgehook") };
        let with = |extra: serde_json::Value| {
            let mut claims = good_claims();
            claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            verify_jwt(&token(claims), SECRET, &rules, NOW)
        };
        assert!(with(json!({"iss": "https://crm.example", "aud": "edgehook"})).is_ok());
        assert!(with(json!({"iss": "https://crm.example", "aud": ["other", "edgehook"]})).is_ok());
        assert_eq!(with(json!({"iss": "https://evil.example", "aud": "edgehook"})).unwrap_err().status, 401);
        assert_eq!(with(json!({"iss": "https://crm.example", "aud": "other"})).unwrap_err().status, 401);
        assert_eq!(with(json!({"aud": "edgehook"})).unwrap_err().status, 401);
        // Unconfigured, the claims are not required.
        assert!(verify_jwt(&token(good_claims()), SECRET, &JwtRules::default(), NOW).is_ok());
    }

    #[test]
    fn the_bearer_scheme_matches_in_any_case_and_api_keys_are_told_apart() {
        assert_eq!(bearer(Some("BEARER abc.def.ghi")), Ok(Credential::Jwt("abc.def.ghi")));
        assert_eq!(bearer(Some("bEaReR  ehk_xyz ")), Ok(Credential::ApiKey("ehk_xyz")));
        assert!(bearer(Some("Bearerabc")).is_err());
        assert!(bearer(Some("Token abc")).is_err());
        assert_eq!(bearer(Some("Bearer ehp_abc")), Ok(Credential::PortalSession("ehp_abc")));
        assert!(new_credential(PORTAL_TOKEN_PREFIX, &[7; 32]).starts_with("ehp_"));
        let key = new_credential(API_KEY_PREFIX, &[7; 32]);
        assert!(key.starts_with("ehk_") && key.len() == 4 + 43);
        assert_eq!(api_key_hash(&key).len(), 64);
        assert_ne!(api_key_hash(&key), api_key_hash(&new_credential(API_KEY_PREFIX, &[8; 32])));
    }

    #[test]
    fn nbf_in_the_past_is_fine() {
        let claims = json!({"sub": "u1", "org": "org_a", "role": "member", "exp": NOW + 60, "nbf": NOW - 10});
        assert_eq!(verify_jwt(&token(claims), SECRET, &JwtRules::default(), NOW).unwrap().role, Role::Member);
    }

    #[test]
    fn roles_gate_actions() {
        let caller = |role| Caller { org: OrganizationId::parse("o").unwrap(), user: "u".into(), role, portal: None };
        assert!(caller(Role::Admin).require_admin().is_ok());
        assert_eq!(caller(Role::Member).require_admin().unwrap_err().status, 403);
        assert_eq!(caller(Role::Service).require_admin().unwrap_err().status, 403);
        assert!(caller(Role::Service).require_publisher().is_ok());
        assert_eq!(caller(Role::Member).require_publisher().unwrap_err().status, 403);
        // Portal sessions manage webhooks (or only read them) and never reach the vendor's routes.
        let portal = |role| Caller { portal: Some(PortalAccess { expires_at: 0 }), ..caller(role) };
        assert!(portal(Role::Admin).require_admin().is_ok());
        let read_only = portal(Role::Member).require_admin().unwrap_err();
        assert_eq!((read_only.status, read_only.message.as_str()), (403, "this portal session is read-only"));
        assert_eq!(portal(Role::Admin).require_publisher().unwrap_err().status, 403);
        assert_eq!(portal(Role::Admin).require_vendor().unwrap_err().status, 403);
        assert!(caller(Role::Service).require_vendor().is_ok());
    }
}
