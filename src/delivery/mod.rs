//! The data plane: queue consumers (deliveries and events), one delivery attempt from claim to record, and the
//! cron sweeper that makes sure no pending delivery is forgotten.

pub mod fanout;
pub mod send;

use serde_json::{Map, Value};
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::config::Config;
use crate::domain::event::{self, Source};
use crate::domain::ids::AttemptId;
use crate::domain::retry::{next_retry, queue_hop};
use crate::domain::time::iso8601;
use crate::domain::url_guard::check_url;
use crate::error::ApiError;
use crate::platform::{now_ms, random};
use crate::store::deliveries::{AttemptRecord, Counter, DeliveryRow};
use crate::store::webhooks::WebhookRow;
use crate::store::{self, deliveries, events};
use edgehook_verifier::scheme::{simple_signature, SigningKey};
use fanout::DeliveryMessage;
use send::SendResult;

/// How long a claimed attempt may take before another message or sweep may try again.
const LEASE_MARGIN_MS: i64 = 30_000;
/// A pending delivery this far past due has lost its queue message; the sweeper re-enqueues it.
const OVERDUE_MS: i64 = 60_000;
const SWEEP_LIMIT: u32 = 500;

/// The headers of one attempt: Standard Webhooks (one `v1` entry per valid secret), the seed products'
/// `X-Webhook-*` (simple scheme, current secret) and the webhook's custom headers.
pub fn delivery_headers(delivery: &DeliveryRow, secrets: &[&str], custom: &Map<String, Value>, now_ms: i64) -> Vec<(String, String)> {
    let timestamp = now_ms.div_euclid(1000);
    let body = delivery.body.as_bytes();
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|s| SigningKey::from_secret(s).ok())
        .map(|key| key.sign(&delivery.id, timestamp, body))
        .collect();
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), format!("edgehook/{}", crate::VERSION)),
        ("webhook-id".to_string(), delivery.id.clone()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        ("webhook-signature".to_string(), signatures.join(" ")),
        ("X-Webhook-Id".to_string(), delivery.id.clone()),
        ("X-Webhook-Event".to_string(), delivery.event_type.clone()),
        ("X-Webhook-Timestamp".to_string(), iso8601(now_ms)),
    ];
    if let Some(current) = secrets.first().and_then(|s| simple_signature(s, body).ok()) {
        headers.push(("X-Webhook-Signature".to_string(), current));
    }
    for (name, value) in custom {
        if let Some(v) = value.as_str() {
            headers.push((name.clone(), v.to_string()));
        }
    }
    headers
}

/// What came of an attempt.
pub struct Attempted {
    pub result: SendResult,
    pub status: &'static str,
    /// Seconds until the scheduled retry, if one is.
    pub retry_in: Option<u64>,
}

/// Sends a claimed delivery once and records what happened: the attempt, the delivery's new state, the webhook's
/// failure count, and (at the threshold) the webhook's disabling and the `webhook.disabled` event.
pub async fn attempt(env: &Env, config: &Config, delivery: &DeliveryRow, webhook: &WebhookRow) -> Result<Attempted, ApiError> {
    let now = now_ms();
    let (result, refused) = match check_url(&webhook.url, config.allow_insecure) {
        Err(refused) => (SendResult { error: Some(format!("url refused at send time: {}", refused.0)), ..SendResult::default() }, true),
        Ok(_) => {
            let headers = delivery_headers(delivery, &webhook.signing_secrets(now), &webhook.custom_headers(), now);
            (send::post(&webhook.url, &headers, &delivery.body, config.delivery_timeout_seconds).await, false)
        }
    };
    let finished = now_ms();
    let is_test = delivery.is_test != 0;
    let attempts_made = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
    let retry_attempts = u32::try_from(webhook.retry_attempts).unwrap_or(0);
    let delay = u32::try_from(webhook.retry_delay_seconds).unwrap_or(60);
    let (status, retry_in, counter) = if result.succeeded() {
        ("succeeded", None, if is_test { Counter::Keep } else { Counter::Reset })
    } else if is_test || refused || result.abort {
        ("failed", None, Counter::Keep)
    } else {
        match next_retry(attempts_made, retry_attempts, delay) {
            Some(seconds) => ("pending", Some(seconds), Counter::Keep),
            None => ("failed", None, Counter::Increment),
        }
    };
    let error = match (&result.error, result.abort && !result.succeeded()) {
        (Some(e), true) => Some(format!("{e}; receiver asked not to retry (webhook-delivery: abort-message)")),
        (e, _) => e.clone(),
    };
    let db = store::db(env)?;
    let attempt_id = AttemptId::generate(&random()).to_string();
    let failures = deliveries::record_attempt(
        &db,
        &AttemptRecord {
            attempt_id: &attempt_id,
            delivery,
            status_code: result.status_code,
            duration_ms: result.duration_ms,
            response_body: result.response_body.as_deref(),
            error: error.as_deref(),
            new_status: status,
            next_attempt_at: retry_in.map(|s| finished + (s as i64) * 1000),
            webhook_counter: counter,
            now: finished,
        },
    )
    .await?;
    if counter == Counter::Increment && failures >= i64::from(config.auto_disable_after) {
        let reason = format!("disabled after {failures} consecutive failed deliveries");
        if deliveries::disable_webhook(&db, &webhook.organization_id, &webhook.id, &reason, finished).await? {
            fanout::webhook_disabled(env, webhook, &reason, finished).await?;
        }
    }
    Ok(Attempted { result: SendResult { error, ..result }, status, retry_in })
}

/// What to do with a delivery's queue message.
enum Next {
    Ack,
    RetryIn(u64),
}

async fn process_delivery(env: &Env, config: &Config, delivery_id: &str) -> Result<Next, ApiError> {
    let db = store::db(env)?;
    let now = now_ms();
    let lease_until = now + i64::from(config.delivery_timeout_seconds) * 1000 + LEASE_MARGIN_MS;
    let Some(delivery) = deliveries::claim(&db, delivery_id, now, lease_until).await? else {
        // Not claimable: finished, unknown, leased by another attempt, or not due yet (wait for it).
        return Ok(match deliveries::get(&db, delivery_id).await? {
            Some(d) if d.status == "pending" => match d.next_attempt_at {
                Some(due) if due > now => Next::RetryIn(((due - now) as u64).div_ceil(1000)),
                _ => Next::Ack,
            },
            _ => Next::Ack,
        });
    };
    let webhook = store::webhooks::get(&db, &delivery.organization_id, &delivery.webhook_id).await?;
    let Some(webhook) = webhook else {
        deliveries::abandon(&db, &delivery.id, "webhook deleted", now).await?;
        return Ok(Next::Ack);
    };
    if webhook.is_active == 0 {
        let reason = webhook.disabled_reason.as_deref().map_or("webhook inactive".to_string(), |r| format!("webhook inactive: {r}"));
        deliveries::abandon(&db, &delivery.id, &reason, now).await?;
        return Ok(Next::Ack);
    }
    let attempted = attempt(env, config, &delivery, &webhook).await?;
    Ok(attempted.retry_in.map_or(Next::Ack, Next::RetryIn))
}

fn body_of(message: &RawMessage) -> Option<Value> {
    serde_wasm_bindgen::from_value(message.body()).ok()
}

/// The deliveries queue: one attempt per message; retries ride on the message's delayed retry, in hops of at most
/// twelve hours. A platform error retries the message; D1 keeps the truth either way.
pub async fn consume_deliveries(batch: MessageBatch<Value>, env: &Env) {
    let config = Config::from_env(env);
    for message in batch.raw_iter() {
        let parsed = body_of(&message).and_then(|v| serde_json::from_value::<DeliveryMessage>(v).ok());
        let Some(DeliveryMessage { delivery_id }) = parsed else {
            worker::console_error!("dropping a malformed delivery message");
            message.ack();
            continue;
        };
        match process_delivery(env, &config, &delivery_id).await {
            Ok(Next::Ack) => message.ack(),
            Ok(Next::RetryIn(seconds)) => {
                message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(queue_hop(seconds)).build())
            }
            Err(e) => {
                worker::console_error!("delivery {delivery_id}: {}", e.message);
                message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(5).build());
            }
        }
    }
}

/// The events queue: `{ organizationId, type, data, id?, changes? }` from other Workers. A bad message is recorded
/// with its reason and dead-lettered; it never fails the rest of its batch.
pub async fn consume_events(batch: MessageBatch<Value>, env: &Env) {
    for message in batch.raw_iter() {
        let body = body_of(&message).unwrap_or(Value::Null);
        let parsed = event::parse(&body, Source::Queue, None);
        let incoming = match parsed {
            Ok(incoming) => incoming,
            Err(e) => {
                let reason = match &e.field {
                    Some(field) => format!("{} ({field})", e.message),
                    None => e.message.clone(),
                };
                dead_letter(env, &body, &reason).await;
                message.ack();
                continue;
            }
        };
        let org = incoming.organization_id.clone().unwrap_or_default();
        match fanout::ingest(env, &org, &incoming, now_ms()).await {
            Ok(_) => message.ack(),
            Err(e) => {
                worker::console_error!("event ingest failed, will retry: {}", e.message);
                message.retry();
            }
        }
    }
}

async fn dead_letter(env: &Env, body: &Value, reason: &str) {
    let text = body.to_string();
    worker::console_warn!("dead-lettering an event message: {reason}");
    if let Ok(db) = store::db(env) {
        let _ = events::record_dead_letter(&db, "edgehook-events", &text, reason, now_ms()).await;
    }
    if let Ok(queue) = env.queue("EVENTS_DLQ") {
        let _ = queue.send(serde_json::json!({ "message": body, "reason": reason })).await;
    }
}

/// Every minute: re-enqueue pending deliveries whose message was lost, and prune old attempts.
pub async fn sweep(env: &Env) {
    let config = Config::from_env(env);
    let now = now_ms();
    let Ok(db) = store::db(env) else { return };
    match deliveries::overdue(&db, now - OVERDUE_MS, SWEEP_LIMIT).await {
        Ok(ids) if !ids.is_empty() => {
            if let Err(e) = fanout::enqueue(env, &ids).await {
                worker::console_error!("sweep could not enqueue: {}", e.message);
            }
        }
        Ok(_) => {}
        Err(e) => worker::console_error!("sweep could not query: {}", e.message),
    }
    let retention_ms = i64::from(config.retention_days) * 86_400_000;
    if let Err(e) = deliveries::prune(&db, now - retention_ms).await {
        worker::console_error!("prune failed: {}", e.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgehook_verifier::scheme::{verify_simple, SigningKey};

    fn delivery() -> DeliveryRow {
        DeliveryRow {
            id: "dlv_1".into(),
            organization_id: "org_a".into(),
            webhook_id: "wh_1".into(),
            event_id: "evt_1".into(),
            event_type: "lead.created".into(),
            body: r#"{"id":"evt_1"}"#.into(),
            status: "pending".into(),
            attempts: 1,
            last_status_code: None,
            last_error: None,
            next_attempt_at: None,
            is_test: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn headers_carry_one_signature_per_secret_and_both_schemes_verify() {
        let d = delivery();
        let now = 1_800_000_000_000;
        let mut custom = Map::new();
        custom.insert("X-Tenant".into(), Value::String("t1".into()));
        let headers = delivery_headers(&d, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "old-secret-1234567890"], &custom, now);
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("webhook-id"), "dlv_1");
        assert_eq!(get("webhook-timestamp"), "1800000000");
        assert_eq!(get("X-Webhook-Event"), "lead.created");
        assert_eq!(get("X-Webhook-Timestamp"), "2027-01-15T08:00:00.000Z");
        assert_eq!(get("X-Tenant"), "t1");
        assert!(get("User-Agent").starts_with("edgehook/"));
        let signature = get("webhook-signature");
        assert_eq!(signature.split(' ').count(), 2);
        for secret in ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "old-secret-1234567890"] {
            let key = SigningKey::from_secret(secret).unwrap();
            assert!(key.verify("dlv_1", "1800000000", &signature, d.body.as_bytes(), 1_800_000_000, 300).is_ok());
        }
        assert!(verify_simple("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", d.body.as_bytes(), &get("X-Webhook-Signature")));
    }
}
