//! Configuration: `wrangler.toml` [vars] and secrets (`.dev.vars` locally), read once per request into one type.

use worker::Env;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// HS256 key of the management API's bearer tokens.
    pub jwt_secret: String,
    /// Local development: allow `http` and plain loopback endpoints.
    pub allow_insecure: bool,
    pub max_webhooks_per_org: u32,
    /// How long a rotated-out secret keeps signing deliveries alongside the new one.
    pub secret_grace_seconds: u32,
    pub delivery_timeout_seconds: u32,
    /// Consecutive failed deliveries after which a webhook is disabled.
    pub auto_disable_after: u32,
    pub retention_days: u32,
}

impl Config {
    /// Builds the config from a lookup of variable names; unset or unparsable numbers fall back to the defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let number = |name: &str, default: u32| get(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Config {
            jwt_secret: get("JWT_SECRET").unwrap_or_default(),
            allow_insecure: get("ALLOW_INSECURE_ENDPOINTS").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            max_webhooks_per_org: number("MAX_WEBHOOKS_PER_ORG", 10),
            secret_grace_seconds: number("SECRET_GRACE_SECONDS", 86_400),
            delivery_timeout_seconds: number("DELIVERY_TIMEOUT_SECONDS", 10).clamp(1, 60),
            auto_disable_after: number("AUTO_DISABLE_AFTER", 50).max(1),
            retention_days: number("RETENTION_DAYS", 30).max(1),
        }
    }

    /// Until when a claimed attempt holds its delivery: the send timeout plus a margin for recording the result.
    /// No other message, sweep or manual retry can start an attempt of it before then.
    pub fn lease_until(&self, now_ms: i64) -> i64 {
        now_ms + i64::from(self.delivery_timeout_seconds) * 1000 + 30_000
    }

    pub fn from_env(env: &Env) -> Config {
        Config::from_lookup(|name| {
            env.var(name).map(|v| v.to_string()).ok().or_else(|| env.secret(name).map(|s| s.to_string()).ok())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_garbled() {
        let c = Config::from_lookup(|name| (name == "MAX_WEBHOOKS_PER_ORG").then(|| "lots".to_string()));
        assert_eq!(c.max_webhooks_per_org, 10);
        assert_eq!(c.secret_grace_seconds, 86_400);
        assert!(!c.allow_insecure);
        let c = Config::from_lookup(|name| match name {
            "ALLOW_INSECURE_ENDPOINTS" => Some("TRUE".into()),
            "AUTO_DISABLE_AFTER" => Some("3".into()),
            _ => None,
        });
        assert!(c.allow_insecure);
        assert_eq!(c.auto_disable_after, 3);
    }
}
