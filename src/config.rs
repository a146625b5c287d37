//! Configuration: `wrangler.toml` [vars] and secrets (`.dev.vars` locally), read once per isolate into one type.

use worker::Env;

use crate::domain::limits::SUBREQUESTS_PAID;
use crate::domain::secrets::SecretBox;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// HS256 key of the management API's bearer tokens.
    pub jwt_secret: String,
    /// The Worker secret that seals webhook signing secrets at rest (base64 of 32 bytes).
    pub secrets_key: Option<String>,
    /// When set, a JWT's `iss` must equal it.
    pub jwt_issuer: Option<String>,
    /// When set, a JWT's `aud` must name it.
    pub jwt_audience: Option<String>,
    /// Local development: allow `http` and plain loopback endpoints.
    pub allow_insecure: bool,
    pub max_webhooks_per_org: u32,
    /// How long a rotated-out secret keeps signing deliveries alongside the new one.
    pub secret_grace_seconds: u32,
    pub delivery_timeout_seconds: u32,
    /// Bytes one isolate may hold for the sends ingests make after their answers (`delivery::held`): 16 MiB, an
    /// eighth of the isolate's 128 MB. Past it, an ingest's deliveries go through the deliveries queue.
    pub sends_after_response_bytes: u32,
    /// Consecutive failed deliveries after which a webhook is disabled.
    pub auto_disable_after: u32,
    pub retention_days: u32,
    /// Subrequests (fetches and binding calls) one invocation may make: 10,000 on Workers Paid (the default), 50
    /// on Workers Free. Caps how many deliveries one consumer invocation and one sweep take on.
    pub subrequest_budget: u32,
    /// The queue names the queue handler dispatches on (exactly, as in `wrangler.toml`).
    pub events_queue: String,
    pub deliveries_queue: String,
    /// Serve `GET /__usage` (the isolate's platform operation counts) for the delivery benchmark. Never in production.
    pub expose_usage: bool,
    /// The sender of alert e-mails (a verified address of the `ALERTS` send_email binding in production).
    pub alert_email_from: String,
    /// Origins that may frame the customer portal (space-separated, sent as CSP `frame-ancestors`); empty: only
    /// this origin.
    pub portal_frame_ancestors: String,
    /// The first cool-down of an open circuit (it doubles after each failed probe, up to 10 minutes).
    pub circuit_cooldown_seconds: u32,
    /// How often, at most, an organization's object runs its housekeeping alarm while it has work (re-enqueueing
    /// lost deliveries, retention). 60 s; the end-to-end tests shorten it.
    pub housekeeping_seconds: u32,
    /// The address ranges deliveries leave from when the deployment has its own (`EGRESS_IP_RANGES`); `None`:
    /// Cloudflare's published ranges. `Err` says which entry is not a CIDR range.
    pub egress_ip_ranges: Result<Option<Vec<String>>, String>,
    /// Faults the end-to-end tests inject into the real Worker (comma-separated); empty in every deployment.
    pub test_faults: Vec<String>,
}

impl Config {
    /// Builds the config from a lookup of variable names; unset or unparsable numbers fall back to the defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let number = |name: &str, default: u32| get(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        let flag = |name: &str| get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Config {
            jwt_secret: get("JWT_SECRET").unwrap_or_default(),
            secrets_key: get("SECRETS_KEY"),
            jwt_issuer: get("JWT_ISSUER").map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
            jwt_audience: get("JWT_AUDIENCE").map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
            allow_insecure: flag("ALLOW_INSECURE_ENDPOINTS"),
            max_webhooks_per_org: number("MAX_WEBHOOKS_PER_ORG", 10),
            secret_grace_seconds: number("SECRET_GRACE_SECONDS", 86_400),
            delivery_timeout_seconds: number("DELIVERY_TIMEOUT_SECONDS", 10).clamp(1, 60),
            sends_after_response_bytes: number("SENDS_AFTER_RESPONSE_BYTES", 16 * 1024 * 1024),
            auto_disable_after: number("AUTO_DISABLE_AFTER", 50).max(1),
            retention_days: number("RETENTION_DAYS", 30).max(1),
            subrequest_budget: number("SUBREQUEST_BUDGET", SUBREQUESTS_PAID).max(1),
            events_queue: get("EVENTS_QUEUE").unwrap_or_else(|| "edgehook-events".into()),
            deliveries_queue: get("DELIVERIES_QUEUE").unwrap_or_else(|| "edgehook-deliveries".into()),
            expose_usage: flag("EXPOSE_USAGE"),
            portal_frame_ancestors: get("PORTAL_FRAME_ANCESTORS").unwrap_or_default(),
            alert_email_from: get("ALERT_EMAIL_FROM")
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "edgehook-alerts@example.com".into()),
            circuit_cooldown_seconds: number("CIRCUIT_COOLDOWN_SECONDS", 30).clamp(1, 600),
            housekeeping_seconds: number("HOUSEKEEPING_SECONDS", 60).clamp(1, 3600),
            egress_ip_ranges: crate::domain::egress::configured(get("EGRESS_IP_RANGES").as_deref()),
            test_faults: get("TEST_FAULTS")
                .map(|v| v.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect())
                .unwrap_or_default(),
        }
    }

    /// Until when a claimed attempt holds its delivery: the send timeout plus a margin for recording the result.
    /// No other message, sweep or manual retry can start an attempt of it before then; a result recorded later
    /// still applies unless another attempt has started (the attempt number fences it).
    pub fn lease_until(&self, now_ms: i64) -> i64 {
        self.lease_for_sends(now_ms, 1)
    }

    /// The lease of a batch in which up to `sends` sends may run one after another (each up to the timeout): no
    /// attempt of the batch can outlive its lease.
    pub fn lease_for_sends(&self, now_ms: i64, sends: usize) -> i64 {
        now_ms + i64::from(self.delivery_timeout_seconds) * 1000 * sends.max(1) as i64 + 30_000
    }

    /// What seals and opens webhook secrets at rest.
    pub fn secret_box(&self) -> SecretBox {
        SecretBox::from_config(self.secrets_key.as_deref())
    }

    /// Whether the e2e tests asked for `fault`.
    pub fn fault(&self, fault: &str) -> bool {
        self.test_faults.iter().any(|f| f == fault)
    }

    /// The Worker's config, read from its bindings once per isolate: vars and secrets are fixed for a deployed
    /// version (changing one deploys a new version, in new isolates). Reading the twenty-odd bindings per request
    /// cost 3% of the Worker's CPU (`make bench-delivery` profile).
    pub fn from_env(env: &Env) -> Config {
        thread_local! {
            static READ: std::cell::OnceCell<Config> = const { std::cell::OnceCell::new() };
        }
        READ.with(|read| {
            read.get_or_init(|| {
                Config::from_lookup(|name| {
                    env.var(name).map(|v| v.to_string()).ok().or_else(|| env.secret(name).map(|s| s.to_string()).ok())
                })
            })
            .clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlasts_every_send_of_its_batch() {
        let c = Config::from_lookup(|name| (name == "DELIVERY_TIMEOUT_SECONDS").then(|| "10".to_string()));
        assert_eq!(c.lease_until(1_000), 1_000 + 10_000 + 30_000);
        assert_eq!(c.lease_for_sends(1_000, 50), 1_000 + 50 * 10_000 + 30_000);
        assert_eq!(c.lease_for_sends(1_000, 0), c.lease_until(1_000));
    }

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
        assert_eq!(c.subrequest_budget, 10_000);
        assert_eq!(c.events_queue, "edgehook-events");
        let c = Config::from_lookup(|name| match name {
            "SUBREQUEST_BUDGET" => Some("50".into()),
            "TEST_FAULTS" => Some(" a, b ,".into()),
            _ => None,
        });
        assert_eq!(c.subrequest_budget, 50);
        assert_eq!(c.test_faults, vec!["a", "b"]);
    }
}
