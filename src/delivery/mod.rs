//! The data plane: queue consumers (deliveries and events), one delivery attempt from claim to record, and the
//! cron sweeper that makes sure no pending delivery is forgotten.

pub mod attempt;
pub mod fanout;
pub mod send;

use serde_json::Value;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::config::Config;
use crate::domain::event::{self, Source};
use crate::domain::retry::queue_hop;
use crate::error::ApiError;
use crate::platform::now_ms;
use crate::store::{self, deliveries, events};
use fanout::DeliveryMessage;

/// A pending delivery this far past due has lost its queue message; the sweeper re-enqueues it.
const OVERDUE_MS: i64 = 60_000;
const SWEEP_LIMIT: u32 = 500;

/// What to do with a delivery's queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Ack,
    RetryIn(u64),
}

/// Claims every delivery of a batch in one round trip, sends the claimed ones concurrently and records them in
/// one more; answers what to do with each message, in order.
async fn process_batch(env: &Env, config: &Config, ids: &[&str]) -> Result<Vec<Next>, ApiError> {
    let db = store::db(env)?;
    let now = now_ms();
    let claimed = deliveries::claim_many(&db, ids, now, config.lease_until(now)).await?;
    let mut next = vec![Next::Ack; ids.len()];

    // Not claimable: finished, unknown, leased by another attempt, or not due yet (then wait for it).
    let unclaimed: Vec<&str> = ids.iter().zip(&claimed).filter(|(_, c)| c.is_none()).map(|(id, _)| *id).collect();
    if !unclaimed.is_empty() {
        let states = deliveries::get_many(&db, &unclaimed).await?;
        for (i, id) in ids.iter().enumerate() {
            if claimed[i].is_some() {
                continue;
            }
            if let Some(Some(due)) =
                states.iter().find(|d| d.id == *id && d.status == "pending").map(|d| d.next_attempt_at)
            {
                if due > now {
                    next[i] = Next::RetryIn(((due - now) as u64).div_ceil(1000));
                }
            }
        }
    }

    let mut webhook_ids: Vec<&str> = claimed.iter().flatten().map(|d| d.webhook_id.as_str()).collect();
    webhook_ids.sort_unstable();
    webhook_ids.dedup();
    let webhooks = store::webhooks::get_many(&db, &webhook_ids).await?;
    let mut to_send = Vec::new();
    let mut sent_index = Vec::new();
    for (i, delivery) in claimed.into_iter().enumerate() {
        let Some(delivery) = delivery else { continue };
        let webhook =
            webhooks.iter().find(|w| w.id == delivery.webhook_id && w.organization_id == delivery.organization_id);
        match webhook {
            None => deliveries::abandon(&db, &delivery.id, "webhook deleted", now).await?,
            Some(w) if w.is_active == 0 => {
                let reason = w
                    .disabled_reason
                    .as_deref()
                    .map_or("webhook inactive".to_string(), |r| format!("webhook inactive: {r}"));
                deliveries::abandon(&db, &delivery.id, &reason, now).await?;
            }
            Some(w) => {
                to_send.push((delivery, w.clone()));
                sent_index.push(i);
            }
        }
    }
    let attempted = attempt::attempt_all(env, config, &to_send).await?;
    for (i, a) in sent_index.into_iter().zip(attempted) {
        next[i] = a.outcome.retry_in.map_or(Next::Ack, Next::RetryIn);
    }
    Ok(next)
}

fn body_of(message: &RawMessage) -> Option<Value> {
    serde_wasm_bindgen::from_value(message.body()).ok()
}

fn retry_in(message: &RawMessage, seconds: u64) {
    message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(queue_hop(seconds)).build());
}

/// The deliveries queue: one attempt per message; retries ride on the message's delayed retry, in hops of at most
/// twelve hours. A platform error retries the messages; D1 keeps the truth either way.
pub async fn consume_deliveries(batch: MessageBatch<Value>, env: &Env) {
    let config = Config::from_env(env);
    let mut messages = Vec::new();
    let mut ids = Vec::new();
    for message in batch.raw_iter() {
        match body_of(&message).and_then(|v| serde_json::from_value::<DeliveryMessage>(v).ok()) {
            Some(DeliveryMessage { delivery_id }) => {
                ids.push(delivery_id);
                messages.push(message);
            }
            None => {
                worker::console_error!("dropping a malformed delivery message");
                message.ack();
            }
        }
    }
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    match process_batch(env, &config, &id_refs).await {
        Ok(next) => {
            for (message, next) in messages.iter().zip(next) {
                match next {
                    Next::Ack => message.ack(),
                    Next::RetryIn(seconds) => retry_in(message, seconds),
                }
            }
        }
        Err(e) => {
            worker::console_error!("delivery batch failed, retrying its messages: {}", e.message);
            for message in &messages {
                retry_in(message, 5);
            }
        }
    }
}

/// The events queue: `{ organizationId, type, data, id?, changes? }` from other Workers. A bad message is recorded
/// with its reason and dead-lettered; it never fails the rest of its batch. Good messages are ingested together,
/// one organization at a time.
pub async fn consume_events(batch: MessageBatch<Value>, env: &Env) {
    let mut by_org: Vec<(String, Vec<(RawMessage, event::IncomingEvent)>)> = Vec::new();
    for message in batch.raw_iter() {
        let body = body_of(&message).unwrap_or(Value::Null);
        match event::parse(&body, Source::Queue, None) {
            Ok(incoming) => {
                let org = incoming.organization_id.clone().unwrap_or_default();
                match by_org.iter_mut().find(|(o, _)| *o == org) {
                    Some((_, group)) => group.push((message, incoming)),
                    None => by_org.push((org, vec![(message, incoming)])),
                }
            }
            Err(e) => {
                let reason = match &e.field {
                    Some(field) => format!("{} ({field})", e.message),
                    None => e.message.clone(),
                };
                dead_letter(env, &body, &reason).await;
                message.ack();
            }
        }
    }
    for (org, group) in by_org {
        let incoming: Vec<_> = group.iter().map(|(_, e)| e.clone()).collect();
        match fanout::ingest_many(env, &org, &incoming, now_ms()).await {
            Ok(_) => group.iter().for_each(|(m, _)| m.ack()),
            Err(e) => {
                worker::console_error!("event ingest failed, will retry: {}", e.message);
                group.iter().for_each(|(m, _)| m.retry());
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
