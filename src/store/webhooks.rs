//! The `webhooks` table.

use super::Database;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{batch, changed, first, flag, int, opt_int, opt_text, rows, run, select_by_ids, text, StoreError};
use crate::domain::destination::{Aws, Service};
use crate::domain::flow::{Breaker, CircuitState};
use crate::domain::ids::{OrganizationId, WebhookId};
use crate::domain::model::{self, WebhookState};
use crate::domain::secrets::{is_sealed, SecretBox, SecretError};
use crate::domain::time::iso8601;
use crate::domain::webhook::{
    Circuit, CircuitStatus, Destination, DestinationType, NewWebhook, Ordering, SignatureScheme, Transformation,
    Webhook, WebhookFields,
};

/// A row's secrets sealed anew (see [`WebhookRow::resealed`]).
pub struct Resealed {
    pub secret: String,
    pub previous: Option<String>,
}

fn http() -> String {
    DestinationType::Http.as_str().to_string()
}

/// A row as D1 returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookRow {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub events: String,
    pub headers: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    #[serde(deserialize_with = "model::flag")]
    pub is_active: bool,
    pub retry_attempts: i64,
    pub retry_delay_seconds: i64,
    pub consecutive_failures: i64,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    /// `whpk_…` for an Ed25519 webhook.
    #[serde(default)]
    pub public_key: Option<String>,
    /// `none` or `fifo` (see `domain::webhook::Ordering`).
    #[serde(default = "no_ordering")]
    pub ordering: String,
    #[serde(default)]
    pub rate_limit_per_second: Option<i64>,
    /// The breaker's state as the webhook's lane last wrote it (see `domain::flow`).
    #[serde(default = "closed")]
    pub circuit_state: String,
    #[serde(default)]
    pub circuit_opened_at: Option<i64>,
    #[serde(default)]
    pub circuit_next_probe_at: Option<i64>,
    /// The breaker's next cool-down (it doubles after each failed probe); none until its lane first wrote it.
    #[serde(default)]
    pub circuit_cooldown_ms: Option<i64>,
    /// When its lane last let deliveries start under its rate limit.
    #[serde(default)]
    pub rate_last_grant_at: Option<i64>,
    /// Until when its deliveries go through its lane (a failed or slow attempt sets it).
    #[serde(default)]
    pub lane_until: Option<i64>,
    /// Its payload filter's JSON text (`domain::filter`); none: every event of its types.
    #[serde(default)]
    pub filter: Option<String>,
    /// Events of types with a schema are checked against it at ingest (schema v11).
    #[serde(default)]
    pub validate_schema: i64,
    /// Its transformation's jq program (`domain::transform`; schema v13); none: the event is the body.
    #[serde(default)]
    pub transformation: Option<String>,
    /// `http` (sent to its url) or `poll` (kept for its reader; schema v12).
    #[serde(default = "http")]
    pub destination: String,
    /// A destination's fields as JSON (`domain::destination`), its credentials sealed.
    #[serde(default)]
    pub destination_config: Option<String>,
    /// How far a polling webhook's reader acknowledged (a `poll_messages` seq).
    #[serde(default)]
    pub poll_acked: i64,
    /// Until when the consumer may send its deliveries itself (quick successes set it).
    #[serde(default)]
    pub fast_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn no_ordering() -> String {
    "none".into()
}

fn closed() -> String {
    "closed".into()
}

impl WebhookRow {
    /// The breaker as its lane last wrote it; a lane that starts (new, evicted or restarted) takes it from here.
    /// `first_cooldown_ms` is the configured first cool-down.
    pub fn breaker(&self, first_cooldown_ms: i64) -> Breaker {
        let state = match (self.circuit_state.as_str(), self.circuit_opened_at, self.circuit_next_probe_at) {
            ("open", Some(opened_at), Some(next_probe_at)) => CircuitState::Open { opened_at, next_probe_at },
            ("half_open", Some(opened_at), Some(next_probe_at)) => {
                CircuitState::HalfOpen { opened_at, next_probe_at, probe_until: None }
            }
            _ => CircuitState::Closed,
        };
        Breaker::restored(first_cooldown_ms, state, self.circuit_cooldown_ms.unwrap_or(first_cooldown_ms))
    }

    /// How its deliveries are signed: an Ed25519 webhook is the one with a public key.
    pub fn signature(&self) -> SignatureScheme {
        if self.public_key.is_some() {
            SignatureScheme::Ed25519
        } else {
            SignatureScheme::HmacSha256
        }
    }

    /// The rate limit, if any.
    pub fn rate_limit(&self) -> Option<u32> {
        self.rate_limit_per_second.and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0)
    }

    /// Whether its deliveries go through its lane (its Durable Object) rather than straight out of the consumer: it
    /// has a rate limit, its circuit is not closed, an attempt of the last minutes failed or was slow, or it is not
    /// known to answer quickly (new, or idle for an hour). A slow endpoint then never holds up a consumer batch.
    pub fn needs_lane(&self, now: i64) -> bool {
        self.rate_limit().is_some()
            || self.circuit_state != "closed"
            || self.lane_until.is_some_and(|t| t > now)
            || self.fast_until.is_none_or(|t| t <= now)
    }

    /// Whether deliveries go one after another in their events' ingest order.
    pub fn is_fifo(&self) -> bool {
        self.ordering == "fifo"
    }

    pub fn patterns(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    /// Where its events go.
    pub fn destination_type(&self) -> DestinationType {
        DestinationType::parse(&self.destination).unwrap_or_default()
    }

    /// Whether its events become deliveries (sent to its url or its destination), rather than kept for a reader to
    /// poll.
    pub fn is_sent_to(&self) -> bool {
        self.destination_type() != DestinationType::Poll
    }

    /// Its service destination as stored (credentials sealed); `None` for `http` and `poll`, or a configuration
    /// that does not read as its type.
    pub fn service(&self) -> Option<Service> {
        let config = self.destination_config.as_deref()?;
        match self.destination_type() {
            kind if kind.aws_service().is_some() => {
                let stored: Aws = serde_json::from_str(config).ok()?;
                (Some(stored.service) == kind.aws_service()).then_some(Service::Aws(stored))
            }
            DestinationType::AzureServiceBus => serde_json::from_str(config).ok().map(Service::Azure),
            DestinationType::GcpPubsub => serde_json::from_str(config).ok().map(Service::Gcp),
            _ => None,
        }
    }

    /// Its destination as answers show it: no credential but the access key id, masked.
    fn destination_answer(&self) -> Destination {
        let mut out = Destination { kind: self.destination_type(), ..Destination::default() };
        match self.service() {
            Some(Service::Aws(aws)) => {
                out.access_key_id = Some(aws.masked_key());
                out.queue_url = aws.queue_url;
                out.topic_arn = aws.topic_arn;
                out.event_bus_name = aws.event_bus_name;
                out.source = aws.source;
                out.bucket = aws.bucket;
                out.prefix = aws.prefix;
                out.region = Some(aws.region);
                out.endpoint = aws.endpoint;
            }
            Some(Service::Gcp(pubsub)) => {
                out.topic = Some(pubsub.topic);
                out.client_email = Some(pubsub.client_email);
                out.endpoint = pubsub.endpoint;
            }
            Some(Service::Azure(bus)) => {
                out.namespace = Some(bus.namespace);
                out.entity = Some(bus.entity);
                out.key_name = Some(bus.key_name);
                out.endpoint = bus.endpoint;
            }
            None => {}
        }
        out
    }

    pub fn custom_headers(&self) -> Map<String, Value> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }

    /// The secrets that sign a delivery at `now`, opened: the current one, and the previous one during its grace
    /// window.
    pub fn signing_secrets(&self, now: i64, secrets: &SecretBox) -> Result<Vec<String>, SecretError> {
        let mut open = vec![secrets.open(&self.secret, self.id.as_str())?];
        if let (Some(previous), Some(until)) = (self.previous_secret.as_deref(), self.previous_secret_expires_at) {
            if now < until {
                open.push(secrets.open(previous, self.id.as_str())?);
            }
        }
        Ok(open)
    }

    /// The current and previous secrets sealed, where this row still holds them as written before encryption
    /// (`None` if both are sealed already): its next write stores these instead.
    pub fn resealed(&self, secrets: &SecretBox, nonce: impl Fn() -> [u8; 12]) -> Result<Option<Resealed>, SecretError> {
        let previous_plain = self.previous_secret.as_deref().is_some_and(|p| !is_sealed(p));
        if is_sealed(&self.secret) && !previous_plain {
            return Ok(None);
        }
        let seal = |stored: &str| -> Result<String, SecretError> {
            if is_sealed(stored) {
                Ok(stored.to_string())
            } else {
                secrets.seal(stored, self.id.as_str(), &nonce())
            }
        };
        Ok(Some(Resealed {
            secret: seal(&self.secret)?,
            previous: self.previous_secret.as_deref().map(seal).transpose()?,
        }))
    }

    /// Whether the webhook receives deliveries, and if not, why.
    pub fn state(&self) -> WebhookState {
        WebhookState::of(self.is_active, self.disabled_reason.as_deref())
    }

    /// The API's view of the row, without secrets.
    pub fn to_api(&self) -> Webhook {
        Webhook {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            url: (self.destination_type() == DestinationType::Http).then(|| self.url.clone()),
            events: self.patterns(),
            headers: self.custom_headers(),
            is_active: self.is_active,
            retry_attempts: u32::try_from(self.retry_attempts).unwrap_or(0),
            retry_delay_seconds: u32::try_from(self.retry_delay_seconds).unwrap_or(1),
            consecutive_failures: u32::try_from(self.consecutive_failures).unwrap_or(0),
            disabled_reason: self.disabled_reason.clone(),
            disabled_at: self.disabled_at.filter(|_| !self.is_active).map(iso8601),
            signature: self.signature(),
            public_key: self.public_key.clone(),
            ordering: if self.is_fifo() { Ordering::Fifo } else { Ordering::None },
            rate_limit_per_second: self.rate_limit(),
            circuit: Circuit {
                state: match self.circuit_state.as_str() {
                    "open" => CircuitStatus::Open,
                    "half_open" => CircuitStatus::HalfOpen,
                    _ => CircuitStatus::Closed,
                },
                opened_at: self.circuit_opened_at.map(iso8601),
                next_probe_at: self.circuit_next_probe_at.map(iso8601),
            },
            created_at: iso8601(self.created_at),
            updated_at: iso8601(self.updated_at),
            filter: self.filter.as_deref().and_then(|f| serde_json::from_str(f).ok()),
            validate_schema: self.validate_schema != 0,
            transformation: self.transformation.clone().map(|jq| Transformation { jq }),
            destination: self.destination_answer(),
            poll: None,
            activity: None,
            missed_events: None,
        }
    }
}

pub(crate) const COLUMNS: &str = "id, organization_id, name, description, url, events, headers, secret, previous_secret, \
    previous_secret_expires_at, is_active, retry_attempts, retry_delay_seconds, consecutive_failures, disabled_reason, \
    disabled_at, public_key, ordering, rate_limit_per_second, circuit_state, circuit_opened_at, circuit_next_probe_at, \
    circuit_cooldown_ms, rate_last_grant_at, lane_until, fast_until, filter, validate_schema, destination, destination_config, poll_acked, transformation, created_at, \
    updated_at";

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// What signs a webhook's deliveries, as stored: the sealed secret (HMAC) or secret key (Ed25519), and for Ed25519
/// the public key.
pub struct StoredKey<'a> {
    pub sealed: &'a str,
    pub public_key: Option<&'a str>,
    /// A destination's fields as JSON, its credentials sealed.
    pub destination_config: Option<&'a str>,
}

/// Inserts a webhook unless the organization already holds `max` of them; returns the new row, or `None` at the
/// limit. The count and the insert are one statement, so concurrent creates cannot overshoot the limit.
pub async fn insert(
    db: &Database,
    org: &OrganizationId,
    id: &WebhookId,
    new: &NewWebhook,
    key: &StoredKey<'_>,
    now: i64,
    max: u32,
) -> Result<Option<WebhookRow>, StoreError> {
    first(
        db.prepare(format!(
            "INSERT INTO webhooks (id, organization_id, name, description, url, events, headers, secret, is_active, \
             retry_attempts, retry_delay_seconds, consecutive_failures, public_key, ordering, rate_limit_per_second, \
             filter, validate_schema, destination, destination_config, transformation, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?12, ?12 \
             WHERE (SELECT COUNT(*) FROM webhooks WHERE organization_id = ?2) < ?13 RETURNING {COLUMNS}"
        ))
        .bind(&[
            text(id),
            text(org),
            text(&new.name),
            opt_text(new.description.as_deref()),
            text(&new.url),
            text(json(&new.events)),
            text(json(&new.headers)),
            text(key.sealed),
            flag(new.is_active),
            int(new.retry_attempts.into()),
            int(new.retry_delay_seconds.into()),
            int(now),
            int(max.into()),
            opt_text(key.public_key),
            text(new.ordering.as_str()),
            opt_int(new.rate_limit_per_second.map(i64::from)),
            opt_text(new.filter.as_deref()),
            flag(new.validate_schema),
            text(new.destination.as_str()),
            opt_text(key.destination_config),
            opt_text(new.transformation.as_deref()),
        ])?,
    )
    .await
}

/// The organization's webhooks, newest first, optionally only active or inactive ones.
pub async fn list(db: &Database, org: &OrganizationId, active: Option<bool>) -> Result<Vec<WebhookRow>, StoreError> {
    let statement = match active {
        None => db.prepare(list_sql(false)).bind(&[text(org)])?,
        Some(active) => db.prepare(list_sql(true)).bind(&[text(org), flag(active)])?,
    };
    rows(statement).await
}

/// [`list`]'s statement: the organization's (`?1`) webhooks, newest first, `by_state` only those whose `is_active` is
/// `?2`. `+?n`: SQLite would otherwise compile it again on every run (see [`super::kept_compiled`]).
pub(crate) fn list_sql(by_state: bool) -> String {
    let state = if by_state { " AND is_active = +?2" } else { "" };
    format!("SELECT {COLUMNS} FROM webhooks WHERE organization_id = +?1{state} ORDER BY created_at DESC, id DESC")
}

/// One webhook of the organization; another organization's id is as absent as an unknown one.
pub async fn get(db: &Database, org: &OrganizationId, id: &WebhookId) -> Result<Option<WebhookRow>, StoreError> {
    first(
        db.prepare(format!("SELECT {COLUMNS} FROM webhooks WHERE organization_id = ?1 AND id = ?2"))
            .bind(&[text(org), text(id)])?,
    )
    .await
}

/// The webhooks of the deliveries `?1…?{count}`, whatever their organization (the consumer checks each against its
/// delivery's).
pub(crate) fn of_deliveries_sql(count: usize) -> String {
    format!(
        "SELECT {COLUMNS} FROM webhooks WHERE id IN (SELECT webhook_id FROM deliveries WHERE id IN ({}))",
        super::placeholders(1, count)
    )
}

/// The webhooks the rounds of the events at `count` `rowid`s (`?1…`) list (schema v22).
pub(crate) fn of_rounds_sql(count: usize) -> String {
    format!(
        "SELECT {COLUMNS} FROM webhooks WHERE id IN (SELECT json_extract(j.value, '$[1]') FROM events e \
         JOIN json_each(e.round) j WHERE e.rowid IN ({}))",
        super::placeholders(1, count)
    )
}

/// Webhooks by id, whatever their organization: the delivery consumer checks each against its delivery's.
pub async fn get_many(db: &Database, ids: &[&WebhookId]) -> Result<Vec<WebhookRow>, StoreError> {
    select_by_ids(db, &format!("SELECT {COLUMNS} FROM webhooks"), ids).await
}

/// Applies a validated patch and returns the changed row (`None` if there is no such webhook). Re-activating a
/// webhook clears its failure count and disabled reason.
pub async fn update(
    db: &Database,
    org: &OrganizationId,
    id: &WebhookId,
    patch: &WebhookFields,
    resealed: Option<&Resealed>,
    now: i64,
) -> Result<Option<WebhookRow>, StoreError> {
    let reactivate = patch.is_active == Some(true);
    first(
        db.prepare(format!(
            "UPDATE webhooks SET \
               name = COALESCE(?3, name), \
               description = CASE WHEN ?4 THEN ?5 ELSE description END, \
               url = COALESCE(?6, url), \
               events = COALESCE(?7, events), \
               headers = COALESCE(?8, headers), \
               is_active = COALESCE(?9, is_active), \
               retry_attempts = COALESCE(?10, retry_attempts), \
               retry_delay_seconds = COALESCE(?11, retry_delay_seconds), \
               consecutive_failures = CASE WHEN ?12 THEN 0 ELSE consecutive_failures END, \
               disabled_reason = CASE WHEN ?12 THEN NULL ELSE disabled_reason END, \
               disabled_at = CASE WHEN ?12 THEN NULL WHEN ?9 = 0 AND is_active = 1 THEN ?13 ELSE disabled_at END, \
               secret = COALESCE(?14, secret), \
               previous_secret = CASE WHEN ?14 IS NULL THEN previous_secret ELSE ?15 END, \
               ordering = COALESCE(?16, ordering), \
               rate_limit_per_second = CASE WHEN ?17 THEN ?18 ELSE rate_limit_per_second END, \
               filter = CASE WHEN ?19 THEN ?20 ELSE filter END, \
               validate_schema = COALESCE(?21, validate_schema), \
               transformation = CASE WHEN ?22 THEN ?23 ELSE transformation END, \
               updated_at = ?13 \
             WHERE organization_id = ?1 AND id = ?2 RETURNING {COLUMNS}"
        ))
        .bind(&[
            text(org),
            text(id),
            opt_text(patch.name.as_deref()),
            flag(patch.description.is_some()),
            opt_text(patch.description.clone().flatten().as_deref()),
            opt_text(patch.url.as_deref()),
            opt_text(patch.events.as_ref().map(json).as_deref()),
            opt_text(patch.headers.as_ref().map(json).as_deref()),
            opt_int(patch.is_active.map(i64::from)),
            opt_int(patch.retry_attempts.map(i64::from)),
            opt_int(patch.retry_delay_seconds.map(i64::from)),
            flag(reactivate),
            int(now),
            opt_text(resealed.map(|r| r.secret.as_str())),
            opt_text(resealed.and_then(|r| r.previous.as_deref())),
            opt_text(patch.ordering.map(|o| o.as_str())),
            flag(patch.rate_limit_per_second.is_some()),
            opt_int(patch.rate_limit_per_second.flatten().map(i64::from)),
            flag(patch.filter.is_some()),
            opt_text(patch.filter.clone().flatten().as_deref()),
            opt_int(patch.validate_schema.map(i64::from)),
            flag(patch.transformation.is_some()),
            opt_text(patch.transformation.clone().flatten().as_deref()),
        ])?,
    )
    .await
}

/// Writes the breaker, as the webhook's lane decided it: its state for the API and the consumer's routing, and its
/// cool-down, so that a lane evicted or restarted restores the whole breaker from here ([`WebhookRow::breaker`]).
pub async fn set_circuit(db: &Database, id: &WebhookId, breaker: &Breaker) -> Result<(), StoreError> {
    let (state, times) = (breaker.state, breaker.state.times());
    run(db
        .prepare(
            "UPDATE webhooks SET circuit_state = ?2, circuit_opened_at = ?3, circuit_next_probe_at = ?4, \
             circuit_cooldown_ms = ?5 WHERE id = ?1",
        )
        .bind(&[
            text(id),
            text(state.name()),
            opt_int(times.map(|t| t.0)),
            opt_int(times.map(|t| t.1)),
            int(breaker.cooldown_ms()),
        ])?)
    .await?;
    Ok(())
}

/// Records when a webhook's lane last let deliveries start under its rate limit ([`WebhookRow::rate_last_grant_at`]).
pub async fn note_rate_grant(db: &Database, id: &WebhookId, at: i64) -> Result<(), StoreError> {
    run(db.prepare("UPDATE webhooks SET rate_last_grant_at = ?2 WHERE id = ?1").bind(&[text(id), int(at)])?).await?;
    Ok(())
}

/// Stops a webhook's pending deliveries (`?1` organization, `?2` webhook, `?3` now), an attempt in flight included:
/// those in the index of pending deliveries, and those an ingest is sending itself (written since the
/// organization's `in_flight_from`).
pub(crate) const STOP_PENDING_SQL: &str = concat!(
    "UPDATE deliveries SET status = 'failed', last_error = 'webhook deleted', \
    next_attempt_at = NULL, lease_until = NULL, updated_at = ?3 \
    WHERE organization_id = ?1 AND rowid IN (\
      SELECT rowid FROM deliveries WHERE webhook_id = ?2 AND status = 'pending' AND next_attempt_at IS NOT NULL \
      UNION ALL SELECT rowid FROM deliveries WHERE webhook_id = ?2 AND ",
    in_flight!(),
    ")"
);

/// Deletes a webhook and stops its pending deliveries, an attempt in flight included: they are marked failed with
/// the reason, and the in-flight attempt's result, fenced, cannot make its delivery pending again.
pub async fn delete(db: &Database, org: &OrganizationId, id: &WebhookId, now: i64) -> Result<bool, StoreError> {
    let results = batch(
        db,
        vec![
            db.prepare(STOP_PENDING_SQL).bind(&[text(org), text(id), int(now)])?,
            db.prepare("DELETE FROM webhooks WHERE organization_id = ?1 AND id = ?2").bind(&[text(org), text(id)])?,
        ],
    )
    .await?;
    Ok(changed(results.get(1)))
}

/// Replaces the secret (both values sealed by the caller); the old one keeps signing (as a second `v1` entry) until
/// `previous_expires_at`.
pub async fn rotate_secret(
    db: &Database,
    org: &OrganizationId,
    id: &WebhookId,
    key: &StoredKey<'_>,
    previous: &str,
    previous_expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let result = run(db
        .prepare(
            "UPDATE webhooks SET previous_secret = ?6, previous_secret_expires_at = ?4, secret = ?3, public_key = ?7, \
             updated_at = ?5 WHERE organization_id = ?1 AND id = ?2",
        )
        .bind(&[
            text(org),
            text(id),
            text(key.sealed),
            int(previous_expires_at),
            int(now),
            text(previous),
            opt_text(key.public_key),
        ])?)
    .await?;
    Ok(changed(Some(&result)))
}

#[cfg(test)]
mod breaker_tests {
    use super::*;

    fn row(circuit: serde_json::Value) -> WebhookRow {
        let mut fields = serde_json::json!({
            "id": "wh_1", "organization_id": "org_a", "name": "n", "description": null, "url": "https://example.com",
            "events": "[]", "headers": "{}", "secret": "s", "previous_secret": null, "previous_secret_expires_at": null,
            "is_active": 1, "retry_attempts": 3, "retry_delay_seconds": 60, "consecutive_failures": 0,
            "disabled_reason": null, "disabled_at": null, "created_at": 1, "updated_at": 1
        });
        fields.as_object_mut().unwrap().extend(circuit.as_object().unwrap().clone());
        serde_json::from_value(fields).unwrap()
    }

    #[test]
    fn a_lane_restores_the_whole_breaker_from_the_webhooks_row() {
        let open = row(serde_json::json!({
            "circuit_state": "open", "circuit_opened_at": 1_000, "circuit_next_probe_at": 121_000,
            "circuit_cooldown_ms": 240_000
        }));
        let breaker = open.breaker(30_000);
        assert_eq!(breaker.state, CircuitState::Open { opened_at: 1_000, next_probe_at: 121_000 });
        assert_eq!(breaker.cooldown_ms(), 240_000, "the doubled cool-down survives, not the first one");
        // A row no lane has written yet: closed, with the configured first cool-down.
        let fresh = row(serde_json::json!({}));
        assert_eq!(fresh.breaker(30_000).state, CircuitState::Closed);
        assert_eq!(fresh.breaker(30_000).cooldown_ms(), 30_000);
    }
}
