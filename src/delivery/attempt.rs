//! Delivery attempts: the signed headers, the decision that follows an answer (pure, host-tested), and sending a
//! set of claimed deliveries, six at a time, with all their results recorded in one fenced D1 transaction.

use core::future::Future;
use core::pin::pin;
use core::time::Duration;
use std::cell::{Cell, RefCell};

use futures_util::future::{select, Either};
use serde_json::{Map, Value};
use worker::{Delay, Env};

use super::send::{self, SendResult};
use super::DeliveryError;
use super::{bounded, fanout};
use crate::config::Config;
use crate::domain::destination::Service;
use crate::domain::ids::{AttemptId, DeliveryId, OrganizationId, WebhookId};
use crate::domain::limits::{MAX_CONCURRENT_SENDS, MAX_SENDS_PER_WEBHOOK};
use crate::domain::model::DeliveryStatus::{self, Failed, Pending, Succeeded};
use crate::domain::retry::{honour_retry_after, longest_wait, next_retry};
use crate::domain::secrets::SecretBox;
use crate::domain::time::iso8601;
use crate::domain::transform::Program;
use crate::domain::url_guard::check_url;
use crate::platform::{now_ms, random};
use crate::store::deliveries::{
    self, AttemptRecord, Counter, DeliveryRow, DisableNotice, OpsNotice, LOST_ATTEMPTS_LIMIT,
};
use crate::store::events::{EventInsert, Guard};
use crate::store::{self, webhooks::WebhookRow, StoreError};
use edgehook_verifier::asymmetric::{is_secret_key, Ed25519Signer};
use edgehook_verifier::scheme::{simple_signature, SigningKey};

/// The headers of one attempt: Standard Webhooks (one `v1` or `v1a` entry per valid secret or key), the older
/// scheme's `X-Webhook-*` (simple scheme, current HMAC secret) and the webhook's custom headers.
pub fn delivery_headers(
    delivery: &DeliveryRow,
    body: &str,
    secrets: &[&str],
    custom: &Map<String, Value>,
    now_ms: i64,
) -> Vec<(String, String)> {
    let timestamp = now_ms.div_euclid(1000);
    let body = body.as_bytes();
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), format!("edgehook/{}", crate::VERSION)),
        ("webhook-id".to_string(), delivery.id.to_string()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        ("webhook-signature".to_string(), signature_header(delivery.id.as_str(), timestamp, body, secrets)),
        ("X-Webhook-Id".to_string(), delivery.id.to_string()),
        ("X-Webhook-Event".to_string(), delivery.event_type.clone()),
        ("X-Webhook-Timestamp".to_string(), iso8601(now_ms)),
    ];
    // The simple scheme is HMAC with a shared secret: an Ed25519 webhook has none to share.
    if let Some(current) = secrets.first().filter(|s| !is_secret_key(s)).and_then(|s| simple_signature(s, body).ok()) {
        headers.push(("X-Webhook-Signature".to_string(), current));
    }
    for (name, value) in custom {
        if let Some(v) = value.as_str() {
            headers.push((name.clone(), v.to_string()));
        }
    }
    headers
}

/// The Standard Webhooks `webhook-signature` value of a message: one entry per valid secret, `v1` for HMAC secrets
/// and `v1a` for Ed25519 secret keys, space-separated.
pub fn signature_header(id: &str, timestamp: i64, body: &[u8], secrets: &[&str]) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|s| {
            if is_secret_key(s) {
                Ed25519Signer::from_secret(s).ok().map(|key| key.sign(id, timestamp, body))
            } else {
                SigningKey::from_secret(s).ok().map(|key| key.sign(id, timestamp, body))
            }
        })
        .collect();
    signatures.join(" ")
}

/// An attempt that took this long marks its endpoint slow: its deliveries go through its lane for a while.
pub const SLOW_ATTEMPT_MS: i64 = 2_000;
/// How long a slow or unreachable attempt keeps its webhook's deliveries in its lane (where the breaker watches them).
pub const LANE_HOLD_MS: i64 = 10 * 60_000;
/// How long a quick success lets the consumer send a webhook's deliveries itself. A webhook not heard from quickly
/// for this long (new or idle) starts in its lane again, so an endpoint that turned slow meanwhile cannot hold up
/// a consumer batch.
pub const FAST_HOLD_MS: i64 = 60 * 60_000;

/// The failed attempt of a delivery's chain that `edgehook.delivery.failing` reports.
const FAILING_AFTER: i64 = 3;
const DELIVERY_FAILING: &str = "edgehook.delivery.failing";
const DELIVERY_EXHAUSTED: &str = "edgehook.delivery.exhausted";
const WEBHOOK_RECOVERED: &str = "edgehook.webhook.recovered";

/// Custom header names that suggest a credential: their values are masked in the attempt log.
const SENSITIVE_NAME_PARTS: &[&str] =
    &["auth", "token", "secret", "key", "cookie", "password", "session", "credential"];

/// The headers of an attempt as the delivery log keeps them (JSON `[[name, value], …]`): signatures are shown, since
/// they prove what was sent and reveal nothing of the secret; a custom header whose name suggests a credential is
/// masked, since the log is shown to everyone who may read the webhook.
pub fn headers_for_log(headers: &[(String, String)], custom: &Map<String, Value>) -> String {
    let logged: Vec<[&str; 2]> = headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let sensitive = custom.contains_key(name) && SENSITIVE_NAME_PARTS.iter().any(|part| lower.contains(part));
            [name.as_str(), if sensitive { "••••••" } else { value.as_str() }]
        })
        .collect();
    serde_json::to_string(&logged).unwrap_or_else(|_| "[]".into())
}

/// What follows from one attempt's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The delivery's status after it: `Pending` with a retry in `retry_in` seconds, or finished.
    pub status: DeliveryStatus,
    pub retry_in: Option<u64>,
    pub counter: Counter,
    pub error: Option<String>,
}

/// What an attempt's facts mean for its delivery and webhook. Test sends and refused URLs are never retried and
/// never count against the webhook; a receiver's `abort-message` ends the retries without counting either.
pub fn decide(
    result: &SendResult,
    refused: bool,
    is_test: bool,
    attempts_made: u32,
    retry_attempts: u32,
    retry_delay_seconds: u32,
) -> Outcome {
    if result.succeeded() {
        let counter = if is_test { Counter::Keep } else { Counter::Reset };
        return Outcome { status: Succeeded, retry_in: None, counter, error: None };
    }
    let error = result.error.clone().unwrap_or_else(|| "the attempt failed".into());
    if result.abort {
        let error = format!("{error}; receiver asked not to retry (webhook-delivery: abort-message)");
        return Outcome { status: Failed, retry_in: None, counter: Counter::Keep, error: Some(error) };
    }
    if is_test || refused {
        return Outcome { status: Failed, retry_in: None, counter: Counter::Keep, error: Some(error) };
    }
    match next_retry(attempts_made, retry_attempts, retry_delay_seconds) {
        Some(scheduled) => {
            let longest = longest_wait(retry_attempts, retry_delay_seconds);
            let seconds = honour_retry_after(scheduled, result.retry_after, longest);
            Outcome { status: Pending, retry_in: Some(seconds), counter: Counter::Keep, error: Some(error) }
        }
        None => Outcome { status: Failed, retry_in: None, counter: Counter::Increment, error: Some(error) },
    }
}

/// What came of an attempt.
pub struct Attempted {
    pub result: SendResult,
    pub outcome: Outcome,
    /// Whether the outcome was recorded: false when the attempt no longer held its delivery (the webhook was
    /// deleted meanwhile, or a later attempt started after its lease ran out).
    pub applied: bool,
}

/// What the webhook's transformation made of a body (`None`: it has none), and the evaluation steps it took.
pub struct Transformed {
    pub body: Result<Option<String>, String>,
    pub steps: u64,
}

/// Runs the webhook's transformation, if it has one, on a body: what an attempt signs and sends, or a polling
/// message carries (`None`: the body as it is). A program that fails or runs over fails the attempt with the
/// reason: the untransformed body is never sent in its place.
pub fn transformed(webhook: &WebhookRow, body: &str) -> Transformed {
    let Some(source) = webhook.transformation.as_deref() else { return Transformed { body: Ok(None), steps: 0 } };
    let program = match Program::compile(source) {
        Ok(program) => program,
        Err(e) => return Transformed { body: Err(format!("transformation failed: {}", e.message)), steps: 0 },
    };
    let run = program.run(body, crate::platform::allocated);
    Transformed {
        body: run.body.map(Some).map_err(|failure| format!("transformation failed: {failure}")),
        steps: run.steps,
    }
}

/// Why a delivery is not sent again: its last [`LOST_ATTEMPTS_LIMIT`] attempts ended without a result. It ends
/// failed, like a refused URL (no retry, no count against its webhook); a recover or a manual retry tries it again.
pub fn lost_too_often(delivery: &DeliveryRow) -> Option<String> {
    (delivery.lost_attempts >= LOST_ATTEMPTS_LIMIT).then(|| {
        format!(
            "not sent: its last {} attempts ended without a result (the invocation sending them was lost: a crash, \
             a restart or a platform limit); it is not retried automatically",
            delivery.lost_attempts
        )
    })
}

/// What every send of a batch to one webhook shares, worked out once per batch instead of once per send: its URL
/// checked by the guard, its signing secrets opened (AES-GCM) and its custom headers parsed. In `make profile`'s
/// batch shape (50 deliveries per webhook in a batch) the three took 5.6 % of the Worker's samples, done per send.
struct Prepared {
    /// Why the URL is refused at send time, if it is.
    refused: Option<String>,
    /// The secrets that sign at the batch's start (the previous one within its grace window), or why they will not
    /// open.
    signing: Result<Vec<String>, String>,
    custom: Map<String, Value>,
}

impl Prepared {
    fn of(webhook: &WebhookRow, config: &Config, secrets: &SecretBox, now: i64) -> Prepared {
        Prepared {
            refused: check_url(&webhook.url, config.allow_insecure).err().map(|refused| refused.0),
            signing: webhook.signing_secrets(now, secrets).map_err(|e| e.to_string()),
            custom: webhook.custom_headers(),
        }
    }
}

/// Sends one claimed delivery (re-checking the URL guard first); never fails.
async fn send_one(
    config: &Config,
    secrets: &SecretBox,
    delivery: &DeliveryRow,
    webhook: &WebhookRow,
    prepared: &Prepared,
) -> (SendResult, bool) {
    let now = now_ms();
    if let Some(reason) = lost_too_often(delivery) {
        return (SendResult::not_sent(reason), true);
    }
    let transformed = match transformed(webhook, &delivery.body).body {
        Ok(transformed) => transformed,
        Err(reason) => return (SendResult::not_sent(reason), false),
    };
    let body = transformed.as_deref().unwrap_or(&delivery.body);
    let (mut result, refused) = match webhook.service() {
        Some(service) => send_to_service(config, secrets, delivery, body, webhook, prepared, &service, now).await,
        None => send_http(config, delivery, body, webhook, prepared, now).await,
    };
    result.request_body = transformed;
    (result, refused)
}

async fn send_http(
    config: &Config,
    delivery: &DeliveryRow,
    body: &str,
    webhook: &WebhookRow,
    prepared: &Prepared,
    now: i64,
) -> (SendResult, bool) {
    if let Some(refused) = &prepared.refused {
        return (
            SendResult { error: Some(format!("url refused at send time: {refused}")), ..SendResult::default() },
            true,
        );
    }
    match &prepared.signing {
        Ok(secrets) => {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let headers = delivery_headers(delivery, body, &secrets, &prepared.custom, now);
            let mut result = send::post(&webhook.url, &headers, body, config.delivery_timeout_seconds).await;
            result.request_headers = Some(headers_for_log(&headers, &prepared.custom));
            (result, false)
        }
        // Never send unsigned: the attempt fails with the reason, and retries once the key is right again.
        Err(e) => {
            worker::console_error!("webhook {}: {e}", webhook.id);
            (SendResult { error: Some(format!("not sent: {e}")), ..SendResult::default() }, false)
        }
    }
}

/// One attempt of a delivery to a service destination: signed like an HTTP delivery (its `webhook-*` values ride
/// as the service's message attributes, metadata or properties), the call made with the destination's credential,
/// opened only for this call. Never sent unsigned: a secret or credential that will not open fails the attempt.
#[allow(clippy::too_many_arguments)]
async fn send_to_service(
    config: &Config,
    secrets: &SecretBox,
    delivery: &DeliveryRow,
    body: &str,
    webhook: &WebhookRow,
    prepared: &Prepared,
    service: &Service,
    now: i64,
) -> (SendResult, bool) {
    let opened = prepared.signing.as_ref().map_err(String::clone).and_then(|signing| {
        let credential = secrets.open(service.credential(), webhook.id.as_str()).map_err(|e| e.to_string())?;
        Ok((signing, credential))
    });
    let (signing, credential) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            worker::console_error!("webhook {}: {e}", webhook.id);
            return (SendResult::not_sent(format!("not sent: {e}")), false);
        }
    };
    let signing: Vec<&str> = signing.iter().map(String::as_str).collect();
    let timestamp = now.div_euclid(1000);
    let signature = signature_header(delivery.id.as_str(), timestamp, body.as_bytes(), &signing);
    let message = super::aws::Message {
        id: delivery.id.as_str(),
        event_id: delivery.event_id.as_str(),
        created_at: delivery.created_at,
        event_type: &delivery.event_type,
        timestamp,
        signature: &signature,
        body,
    };
    let (timeout, insecure) = (config.delivery_timeout_seconds, config.allow_insecure);
    match service {
        Service::Aws(aws) => super::aws::send(aws, &credential, &message, now, timeout, insecure).await,
        Service::Azure(bus) => super::azure::send(bus, &credential, &message, now, timeout, insecure).await,
        Service::Gcp(pubsub) => super::gcp::send(pubsub, &credential, &message, now, timeout, insecure).await,
    }
}

/// Watches a consumer batch's sends for endpoints that hold requests: once one of a webhook's sends has taken
/// [`SLOW_ATTEMPT_MS`] without an answer, the batch starts no more of that webhook's sends (they go to its lane,
/// where a slow endpoint holds up nobody else). One timer per batch looks at the sends in flight every
/// [`WATCH_TICK_MS`]; a timer per send cost 0.5 CPU-ms per delivery (`make bench-delivery`: 1.78 → 2.34).
#[derive(Default)]
pub struct SlowWatch {
    slow: RefCell<Vec<WebhookId>>,
    /// Sends in flight: a token, their webhook, when they started.
    running: RefCell<Vec<(usize, WebhookId, i64)>>,
    next_token: Cell<usize>,
}

/// How often a batch's watch looks at its sends in flight.
const WATCH_TICK_MS: u64 = 500;

impl SlowWatch {
    fn is_slow(&self, webhook: &WebhookId) -> bool {
        self.slow.borrow().contains(webhook)
    }

    async fn timed<T>(&self, webhook: &WebhookId, send: impl Future<Output = T>) -> T {
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        self.running.borrow_mut().push((token, webhook.clone(), now_ms()));
        let out = send.await;
        self.running.borrow_mut().retain(|(t, _, _)| *t != token);
        out
    }

    /// Runs `sends`, marking webhooks slow as their sends pass [`SLOW_ATTEMPT_MS`].
    async fn watching<T>(&self, sends: impl Future<Output = T>) -> T {
        let mut sends = pin!(sends);
        loop {
            let tick = Delay::from(Duration::from_millis(WATCH_TICK_MS));
            match select(sends.as_mut(), tick).await {
                Either::Left((out, _)) => return out,
                Either::Right(((), _)) => {
                    let now = now_ms();
                    let overdue: Vec<WebhookId> = self
                        .running
                        .borrow()
                        .iter()
                        .filter(|(_, _, started)| now - started >= SLOW_ATTEMPT_MS)
                        .map(|(_, w, _)| w.clone())
                        .collect();
                    let mut slow = self.slow.borrow_mut();
                    for w in overdue {
                        if !slow.contains(&w) {
                            slow.push(w);
                        }
                    }
                }
            }
        }
    }
}

/// Sends claimed deliveries, at most [`MAX_CONCURRENT_SENDS`] at once and `per_webhook` per webhook (each send's deadline
/// starts when its request does), and records every result in one transaction: the attempts, the deliveries' new
/// states (each fenced by its attempt number), the webhooks' failure counts, and, for a webhook reaching
/// `AUTO_DISABLE_AFTER`, the disable together with its `webhook.disabled` notice. Results whose attempt no longer
/// held its delivery are logged but change nothing (`applied` is false). With a `watch`, deliveries of a webhook found
/// slow are not sent: their answer is `None`. Every delivery is of one organization, whose object records them.
pub async fn attempt_all(
    env: &Env,
    config: &Config,
    claimed: &[(DeliveryRow, WebhookRow)],
    watch: Option<&SlowWatch>,
    per_webhook: usize,
) -> Result<Vec<Option<Attempted>>, DeliveryError> {
    // The AES key schedule that opens stored secrets is set up once per batch, not once per send; each webhook's
    // secrets are opened once too.
    let secrets = config.secret_box();
    let now = now_ms();
    // Each send with the one `Prepared` of its webhook, in `claimed`'s order.
    let mut prepared: Vec<(&WebhookId, Prepared)> = Vec::new();
    let mut each = Vec::with_capacity(claimed.len());
    for (d, w) in claimed {
        let at = match prepared.iter().position(|(id, _)| **id == w.id) {
            Some(at) => at,
            None => {
                prepared.push((&w.id, Prepared::of(w, config, &secrets, now)));
                prepared.len() - 1
            }
        };
        each.push((d, w, at));
    }
    // Six at a time, at most `per_webhook` per webhook (two in a consumer batch: a stalled receiver cannot take the
    // other webhooks' connections; a lane's own share in a lane, which serves one webhook).
    let per_webhook = per_webhook.clamp(1, MAX_CONCURRENT_SENDS);
    // The watch holds back only sends that have not started: when all start at once (an ingest's own round) it has
    // nothing to do, and its timer is not set.
    let watch =
        watch.filter(|_| !bounded::starts_all_at_once(&each, |(_, w, _)| &w.id, per_webhook, MAX_CONCURRENT_SENDS));
    let sends = bounded::fair_in_order(
        &each,
        |(_, w, _)| w.id.clone(),
        per_webhook,
        MAX_CONCURRENT_SENDS,
        |&(d, w, at)| {
            let (secrets, prepared) = (&secrets, &prepared[at].1);
            async move {
                match watch {
                    None => Some(send_one(config, secrets, d, w, prepared).await),
                    Some(watch) if watch.is_slow(&w.id) => None,
                    Some(watch) => Some(watch.timed(&w.id, send_one(config, secrets, d, w, prepared)).await),
                }
            }
        },
    );
    let sent = match watch {
        None => sends.await,
        Some(watch) => watch.watching(sends).await,
    };
    let mut at = Vec::with_capacity(claimed.len());
    let mut results = Vec::with_capacity(claimed.len());
    for (i, result) in sent.into_iter().enumerate() {
        if let Some(result) = result {
            at.push(i);
            results.push(result);
        }
    }
    let attempted_ones: Vec<&(DeliveryRow, WebhookRow)> = at.iter().map(|i| &claimed[*i]).collect();
    let recorded = record_all(env, config, &attempted_ones, results).await?;
    let mut out: Vec<Option<Attempted>> = (0..claimed.len()).map(|_| None).collect();
    for (i, a) in at.into_iter().zip(recorded) {
        out[i] = Some(a);
    }
    Ok(out)
}

/// Records the results of sent deliveries (see [`attempt_all`]).
async fn record_all(
    env: &Env,
    config: &Config,
    claimed: &[&(DeliveryRow, WebhookRow)],
    sent: Vec<(SendResult, bool)>,
) -> Result<Vec<Attempted>, DeliveryError> {
    // Every claimed delivery is of one organization (see `attempt_all`), whose object records them.
    let Some(org) = claimed.first().map(|c| c.0.organization_id.clone()) else { return Ok(Vec::new()) };
    let finished = now_ms();
    let mut attempted = Vec::with_capacity(claimed.len());
    for ((delivery, webhook), (result, refused)) in claimed.iter().map(|c| (&c.0, &c.1)).zip(sent) {
        let outcome = decide(
            &result,
            refused,
            delivery.is_test,
            // The budget counts the attempts of the current chain (a recover starts a new one).
            u32::try_from(delivery.attempts - delivery.chain_start).unwrap_or(u32::MAX),
            u32::try_from(webhook.retry_attempts).unwrap_or(0),
            u32::try_from(webhook.retry_delay_seconds).unwrap_or(60),
        );
        attempted.push(Attempted { result, outcome, applied: false });
    }
    let ids: Vec<String> = claimed.iter().map(|_| AttemptId::generate(&random()).to_string()).collect();
    let records: Vec<AttemptRecord<'_>> = claimed
        .iter()
        .zip(&attempted)
        .zip(&ids)
        .map(|(((delivery, webhook), a), id)| AttemptRecord {
            attempt_id: id,
            delivery,
            status_code: a.result.status_code,
            duration_ms: a.result.duration_ms,
            response_body: a.result.response_body.as_deref(),
            request_headers: a.result.request_headers.as_deref(),
            request_body: a.result.request_body.as_deref(),
            error: a.outcome.error.as_deref(),
            new_status: a.outcome.status,
            next_attempt_at: a.outcome.retry_in.map(|s| finished + (s as i64) * 1000),
            // A reset of a count that is already zero is no change: skip the write.
            webhook_counter: match a.outcome.counter {
                Counter::Reset if webhook.consecutive_failures == 0 => Counter::Keep,
                other => other,
            },
            // A slow attempt, one that could not connect or timed out, or a 429 (slow down) sends the webhook to its
            // lane at once; any other failure the receiver answered quickly only counts in its failure window
            // (sustained failure does).
            lane_until: (!delivery.is_test
                && (a.result.status_code.is_none()
                    || a.result.status_code == Some(429)
                    || a.result.duration_ms >= SLOW_ATTEMPT_MS))
                .then_some(finished + LANE_HOLD_MS),
            window_failed: (!delivery.is_test).then(|| !a.result.succeeded()),
            // Extended when less than half of it is left: a busy webhook writes it a few times an hour.
            fast_until: (a.result.succeeded()
                && a.result.duration_ms < SLOW_ATTEMPT_MS
                && webhook.fast_until.is_none_or(|t| t < finished + FAST_HOLD_MS / 2))
            .then_some(finished + FAST_HOLD_MS),
            now: finished,
        })
        .collect();
    let db = store::organization(env, &org)?;
    let reason = format!("disabled after {} consecutive failed deliveries", config.auto_disable_after);
    let at_risk = reaching_threshold(claimed, &records, config.auto_disable_after);
    let candidates = operational_candidates(claimed, &records);
    // Subscribers are read once per organization that has something to report; the happy path reads none.
    let mut orgs: Vec<&OrganizationId> = candidates.iter().map(|(i, _)| &claimed[*i].0.organization_id).collect();
    orgs.extend(at_risk.first().map(|w| &w.organization_id));
    orgs.sort_unstable();
    orgs.dedup();
    let mut subscribers_of: Vec<(&OrganizationId, Vec<WebhookRow>)> = Vec::with_capacity(orgs.len());
    for org in orgs {
        subscribers_of.push((org, store::webhooks::list(&db, org, Some(true)).await?));
    }
    let subscribers = |org: &OrganizationId| -> &[WebhookRow] {
        subscribers_of.iter().find(|(o, _)| *o == org).map_or(&[], |(_, s)| s.as_slice())
    };
    // A notice is prepared for each webhook that may reach the threshold; the transaction writes it only if the
    // disable happens there.
    let mut heads = Vec::with_capacity(at_risk.len());
    let mut bodies = Vec::with_capacity(at_risk.len());
    for webhook in &at_risk {
        let (id, event, deliveries) =
            fanout::disabled_notice(webhook, subscribers(&webhook.organization_id), &reason, finished)?;
        heads.push((id, event));
        bodies.push(deliveries);
    }
    let notices: Vec<DisableNotice<'_>> = at_risk
        .iter()
        .zip(&heads)
        .zip(bodies)
        .map(|((webhook, (id, event)), deliveries)| DisableNotice {
            org: &webhook.organization_id,
            webhook_id: &webhook.id,
            threshold: config.auto_disable_after,
            reason: &reason,
            event: EventInsert { id, event, token: hex::encode(random::<16>()), deliveries },
        })
        .collect();
    // Operational events about attempts: each is written only if its attempt's result applies.
    let mut op_heads = Vec::with_capacity(candidates.len());
    let mut op_bodies = Vec::with_capacity(candidates.len());
    for (i, event_type) in &candidates {
        let (delivery, webhook) = &claimed[*i];
        let data = operational_data(event_type, delivery, webhook, &records[*i]);
        let source = format!("{event_type}\n{}\n{}", delivery.id, delivery.attempts);
        let (id, event, deliveries) = fanout::operational_event(
            event_type,
            webhook,
            data,
            &source,
            subscribers(&webhook.organization_id),
            finished,
        )?;
        op_heads.push((id, event));
        op_bodies.push(deliveries);
    }
    let ops: Vec<OpsNotice<'_>> = candidates
        .iter()
        .zip(&op_heads)
        .zip(op_bodies)
        .map(|(((i, _), (id, event)), deliveries)| {
            let delivery = &claimed[*i].0;
            OpsNotice {
                org: &delivery.organization_id,
                event: EventInsert { id, event, token: hex::encode(random::<16>()), deliveries },
                guard: Guard::Recorded {
                    delivery_id: &delivery.id,
                    attempts: delivery.attempts,
                    status: records[*i].new_status.as_str(),
                    at: finished,
                },
            }
        })
        .collect();
    let recorded = deliveries::record_attempts(&db, &records, &notices, &ops).await?;
    // A `fifo` line moves when its head has ended: the next delivery's message went back unclaimed, so it gets a
    // fresh one below.
    let mut moved: Vec<&WebhookId> = claimed
        .iter()
        .zip(&records)
        .zip(&recorded.applied)
        .filter(|(((d, w), r), applied)| w.is_fifo() && !d.is_test && **applied && r.new_status != Pending)
        .map(|(((_, w), _), _)| &w.id)
        .collect();
    moved.sort_unstable();
    moved.dedup();
    for (a, applied) in attempted.iter_mut().zip(recorded.applied) {
        a.applied = applied;
    }
    for (webhook, _) in at_risk.iter().zip(&recorded.disabled).filter(|(_, written)| **written) {
        super::alerts::webhook_disabled(env, config, webhook, &reason, finished).await;
    }
    let disabled = notices.iter().zip(recorded.disabled).filter(|(_, written)| *written).map(|(n, _)| &n.event);
    let reported = ops.iter().zip(recorded.ops).filter(|(_, written)| *written).map(|(n, _)| &n.event);
    let mut notified: Vec<DeliveryId> =
        disabled.chain(reported).flat_map(|event| event.deliveries.iter().map(|d| d.id.clone())).collect();
    notified.extend(deliveries::heads(&db, &moved).await?);
    if let Err(e) = fanout::enqueue(env, &org, &notified).await {
        worker::console_error!("could not enqueue operational events, leaving them to the alarm: {}", e);
    }
    Ok(attempted)
}

/// Which attempts of this batch edgehook reports as operational events (never for test sends): a delivery's third
/// failed attempt (`edgehook.delivery.failing`), a delivery that used up its retries or lost too many attempts
/// (`…exhausted`), and the first
/// success of a webhook after failed deliveries (`edgehook.webhook.recovered`, once per webhook).
fn operational_candidates(
    claimed: &[&(DeliveryRow, WebhookRow)],
    records: &[AttemptRecord<'_>],
) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    let mut recovered: Vec<&WebhookId> = Vec::new();
    for (i, ((delivery, webhook), record)) in claimed.iter().zip(records).enumerate() {
        if delivery.is_test {
            continue;
        }
        // Out of retries, or not sent again because its attempts kept ending without a result (which does not
        // count against its webhook).
        let exhausted = record.webhook_counter == Counter::Increment
            || (record.new_status == Failed && lost_too_often(delivery).is_some());
        let failed_attempt = record.new_status == Pending || exhausted;
        if failed_attempt && delivery.attempts - delivery.chain_start == FAILING_AFTER {
            out.push((i, DELIVERY_FAILING));
        }
        if exhausted {
            out.push((i, DELIVERY_EXHAUSTED));
        }
        if record.new_status == Succeeded && webhook.consecutive_failures > 0 && !recovered.contains(&&webhook.id) {
            recovered.push(&webhook.id);
            out.push((i, WEBHOOK_RECOVERED));
        }
    }
    out
}

/// The `data` of an operational event about an attempt.
fn operational_data(
    event_type: &str,
    delivery: &DeliveryRow,
    webhook: &WebhookRow,
    record: &AttemptRecord<'_>,
) -> Value {
    let mut data = serde_json::json!({
        "webhookId": webhook.id,
        "webhookName": webhook.name,
        "url": webhook.url,
        "deliveryId": delivery.id,
    });
    if event_type == WEBHOOK_RECOVERED {
        data["failedDeliveriesBefore"] = webhook.consecutive_failures.into();
        data["recoveredAt"] = iso8601(record.now).into();
        return data;
    }
    data["eventId"] = delivery.event_id.to_string().into();
    data["eventType"] = delivery.event_type.clone().into();
    data["attempts"] = (delivery.attempts - delivery.chain_start).into();
    data["statusCode"] = record.status_code.into();
    data["error"] = record.error.into();
    data["nextAttemptAt"] = record.next_attempt_at.map(iso8601).into();
    data
}

/// The webhooks of this batch whose failure count may reach `threshold` with its exhausted deliveries (at most one
/// organization's: a batch's notices share one subscriber read, the rest wait for their next exhaustion).
fn reaching_threshold<'a>(
    claimed: &[&'a (DeliveryRow, WebhookRow)],
    records: &[AttemptRecord<'_>],
    threshold: u32,
) -> Vec<&'a WebhookRow> {
    let mut at_risk: Vec<&WebhookRow> = Vec::new();
    for ((_, webhook), record) in claimed.iter().zip(records) {
        if record.webhook_counter != Counter::Increment || at_risk.iter().any(|w| w.id == webhook.id) {
            continue;
        }
        if at_risk.first().is_some_and(|w| w.organization_id != webhook.organization_id) {
            continue;
        }
        let increments = claimed
            .iter()
            .zip(records)
            .filter(|((_, w), r)| w.id == webhook.id && r.webhook_counter == Counter::Increment)
            .count() as i64;
        if webhook.consecutive_failures + increments >= i64::from(threshold) {
            at_risk.push(webhook);
        }
    }
    at_risk
}

/// One delivery, for the API's test sends and manual retries.
pub async fn attempt_one(
    env: &Env,
    config: &Config,
    delivery: DeliveryRow,
    webhook: WebhookRow,
) -> Result<Attempted, DeliveryError> {
    let mut all = attempt_all(env, config, &[(delivery, webhook)], None, MAX_SENDS_PER_WEBHOOK).await?;
    all.pop().flatten().ok_or_else(|| DeliveryError::Store(StoreError("no attempt result".into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgehook_verifier::scheme::verify_simple;

    #[test]
    fn the_logged_headers_show_signatures_and_mask_credentials() {
        let mut custom = Map::new();
        custom.insert("Authorization".into(), Value::String("Bearer s3cret".into()));
        custom.insert("X-Api-Key".into(), Value::String("k3y".into()));
        custom.insert("X-Tenant".into(), Value::String("acme".into()));
        let headers = delivery_headers(
            &delivery(),
            &delivery().body,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            &custom,
            1_700_000_000_000,
        );
        let logged: Vec<[String; 2]> = serde_json::from_str(&headers_for_log(&headers, &custom)).unwrap();
        let value = |name: &str| logged.iter().find(|[n, _]| n == name).map(|[_, v]| v.clone()).unwrap();
        assert!(value("webhook-signature").starts_with("v1,"));
        assert_eq!(value("webhook-id"), "dlv_1");
        assert_eq!(value("X-Tenant"), "acme");
        assert_eq!(value("Authorization"), "••••••");
        assert_eq!(value("X-Api-Key"), "••••••");
        let text = headers_for_log(&headers, &custom);
        assert!(!text.contains("s3cret") && !text.contains("k3y") && !text.contains("whsec_"));
    }

    fn webhook(url: &str, secret: &str, previous: Option<(&str, i64)>) -> WebhookRow {
        serde_json::from_value(serde_json::json!({
            "id": "wh_1", "organization_id": "org_a", "name": "n", "description": null, "url": url,
            "events": "[]", "headers": r#"{"X-Tenant":"t1"}"#, "secret": secret,
            "previous_secret": previous.map(|(p, _)| p), "previous_secret_expires_at": previous.map(|(_, at)| at),
            "is_active": 1, "retry_attempts": 3, "retry_delay_seconds": 60, "consecutive_failures": 0,
            "disabled_reason": null, "disabled_at": null, "created_at": 1, "updated_at": 1
        }))
        .unwrap()
    }

    #[test]
    fn a_batch_prepares_each_webhook_as_its_sends_did() {
        let config = Config::from_lookup(|_| None);
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let secrets = SecretBox::from_config(Some(key));
        let sealed = secrets.seal("whsec_current", "wh_1", &[7; 12]).unwrap();
        // Within the previous secret's grace window both sign; after it, only the current one.
        let rotated = webhook("https://example.com/hook", &sealed, Some(("whsec_previous", 2_000)));
        let prepared = Prepared::of(&rotated, &config, &secrets, 1_000);
        assert_eq!(prepared.refused, None);
        assert_eq!(prepared.signing, Ok(vec!["whsec_current".to_string(), "whsec_previous".to_string()]));
        assert_eq!(prepared.custom.get("X-Tenant"), Some(&Value::String("t1".into())));
        assert_eq!(Prepared::of(&rotated, &config, &secrets, 2_000).signing, Ok(vec!["whsec_current".to_string()]));
        // A URL the guard refuses at send time, and a secret that will not open without the key: both are reasons.
        let private = webhook("http://127.0.0.1/hook", &sealed, None);
        let refused = Prepared::of(&private, &config, &SecretBox::from_config(None), 1_000);
        assert!(refused.refused.is_some_and(|r| !r.is_empty()));
        assert!(refused.signing.is_err());
    }

    fn delivery() -> DeliveryRow {
        DeliveryRow::sample("dlv_1", "wh_1")
    }

    #[test]
    fn a_delivery_that_lost_its_last_three_attempts_is_not_sent_again() {
        let mut d = delivery();
        for lost in 0..LOST_ATTEMPTS_LIMIT {
            d.lost_attempts = lost;
            assert_eq!(lost_too_often(&d), None, "{lost} lost");
        }
        d.lost_attempts = LOST_ATTEMPTS_LIMIT;
        let reason = lost_too_often(&d).unwrap();
        assert!(reason.contains("its last 3 attempts ended without a result"), "{reason}");
        // Refused: it ends failed at once, without a retry and without counting against its webhook.
        let outcome = decide(&SendResult::not_sent(reason), true, false, 9, 5, 60);
        assert_eq!((outcome.status, outcome.retry_in, outcome.counter), (Failed, None, Counter::Keep));
    }

    #[test]
    fn headers_carry_one_signature_per_secret_and_both_schemes_verify() {
        let d = delivery();
        let now = 1_800_000_000_000;
        let mut custom = Map::new();
        custom.insert("X-Tenant".into(), Value::String("t1".into()));
        let headers = delivery_headers(
            &d,
            &d.body,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "old-secret-1234567890"],
            &custom,
            now,
        );
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
        assert!(verify_simple(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            d.body.as_bytes(),
            &get("X-Webhook-Signature")
        ));
    }

    fn answered(status: u16) -> SendResult {
        let error = (!(200..300).contains(&status)).then(|| format!("receiver answered {status}"));
        SendResult { status_code: Some(status), error, ..SendResult::default() }
    }

    #[test]
    fn success_resets_the_count_failure_schedules_a_retry_and_exhaustion_counts() {
        assert_eq!(
            decide(&answered(204), false, false, 1, 3, 60),
            Outcome { status: Succeeded, retry_in: None, counter: Counter::Reset, error: None }
        );
        let retry = decide(&answered(500), false, false, 2, 3, 60);
        assert_eq!((retry.status, retry.retry_in, retry.counter), (Pending, Some(300), Counter::Keep));
        let exhausted = decide(&answered(500), false, false, 4, 3, 60);
        assert_eq!((exhausted.status, exhausted.retry_in, exhausted.counter), (Failed, None, Counter::Increment));
        assert_eq!(exhausted.error.as_deref(), Some("receiver answered 500"));
    }

    #[test]
    fn aborts_tests_and_refused_urls_end_without_counting() {
        let mut abort = answered(410);
        abort.abort = true;
        let o = decide(&abort, false, false, 1, 5, 60);
        assert_eq!((o.status, o.retry_in, o.counter), (Failed, None, Counter::Keep));
        assert!(o.error.unwrap().contains("abort-message"));
        let test = decide(&answered(500), false, true, 1, 5, 60);
        assert_eq!((test.status, test.counter), (Failed, Counter::Keep));
        assert_eq!(decide(&answered(200), false, true, 1, 5, 60).counter, Counter::Keep);
        let refused =
            decide(&SendResult { error: Some("url refused".into()), ..SendResult::default() }, true, false, 1, 5, 60);
        assert_eq!((refused.status, refused.counter), (Failed, Counter::Keep));
    }

    #[test]
    fn redirects_and_timeouts_are_failures() {
        assert_eq!(decide(&answered(302), false, false, 1, 0, 60).status, Failed);
        let timeout = SendResult { error: Some("timed out after 10 s".into()), ..SendResult::default() };
        assert_eq!(decide(&timeout, false, false, 1, 1, 60).retry_in, Some(60));
    }

    #[test]
    fn retry_after_spaces_the_next_attempt_but_adds_none() {
        let slow_down = SendResult { retry_after: Some(3), ..answered(429) };
        assert_eq!(decide(&slow_down, false, false, 1, 2, 1).retry_in, Some(3));
        // The last attempt of the budget stays the last.
        let last = decide(&slow_down, false, false, 3, 2, 1);
        assert_eq!((last.status, last.retry_in), (Failed, None));
    }
}
