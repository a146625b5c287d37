//! Ingest and fan-out: one event in, one stored delivery per subscribed active webhook, one queue message each.
//! Shared by `POST /api/events`, the `events` queue and edgehook's own operational events (`edgehook.*`).

use serde::Serialize;
use serde_json::json;
use worker::{BatchMessageBuilder, Env, MessageBuilder};

use super::DeliveryError;
use crate::domain::catalogue::{subscribed, WEBHOOK_DISABLED};
use crate::domain::event::IncomingEvent;
use crate::domain::ids::{DeliveryId, EventId, OrganizationId, WebhookId};
use crate::domain::limits::QUEUE_SEND_BATCH_MAX;
use crate::domain::payload::{self, DeliveryBody};
use crate::domain::retry::queue_hop;
use crate::domain::time::iso8601;
use crate::platform::random;
use crate::store::deliveries::DeliveryRow;
use crate::store::events::{self, ClaimCreated, IngestInsert, NewDelivery};
use crate::store::{self, webhooks::WebhookRow, StoreError};
use crate::usage;

/// The answer to an ingest.
#[derive(Debug, Clone, Serialize)]
pub struct Ingested {
    pub id: String,
    pub deliveries: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The queue message of a delivery: ids only (the payload lives in its organization's object; a message is capped
/// at 128 KB). The organization says which object holds the delivery.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMessage {
    pub organization_id: String,
    pub delivery_id: String,
}

impl DeliveryMessage {
    fn of(org: &OrganizationId, id: &DeliveryId) -> DeliveryMessage {
        DeliveryMessage { organization_id: org.to_string(), delivery_id: id.to_string() }
    }
}

/// An event stored: its answer, every delivery it created (pending in D1, due now, not yet enqueued), and those its
/// transaction claimed, with their webhooks, if it was asked to ([`store_one`]).
pub struct Stored {
    pub answer: Ingested,
    pub created: Vec<DeliveryId>,
    pub claimed: Option<super::Claimed>,
}

/// Stores the event and its deliveries; with `claim`, the same transaction claims them for the caller to send
/// ([`super::send_now`]); otherwise [`enqueue`] sets them off. The same (organization, id) twice never creates a
/// second set: D1's unique key decides, in the same transaction that inserts (no KV look-up in front of it: measured
/// with `make bench-delivery`, a KV fast path cost a read and a write per event and saved no round trip).
pub async fn store_one(
    env: &Env,
    org: &OrganizationId,
    event: &IncomingEvent,
    now: i64,
    claim: Option<&ClaimCreated>,
) -> Result<Stored, DeliveryError> {
    let (mut answers, created, claimed) = store_many(env, org, std::slice::from_ref(event), now, claim).await?;
    let answer = answers.pop().ok_or_else(|| DeliveryError::Store(StoreError("no ingest result".into())))?;
    let claimed = claimed.map(|(rows, webhooks)| super::Claimed { rows, webhooks });
    Ok(Stored { answer, created, claimed })
}

/// Several events of one organization in two binding round trips: one D1 batch finds the subscribers, inserts every
/// event and delivery and detects duplicates (all or nothing: a failure leaves no delivery behind that is never
/// enqueued), then one queue send per 100 deliveries. Answers come back in order.
pub async fn ingest_many(
    env: &Env,
    org: &OrganizationId,
    incoming: &[IncomingEvent],
    now: i64,
) -> Result<Vec<Ingested>, DeliveryError> {
    let (answers, created, _) = store_many(env, org, incoming, now, None).await?;
    enqueue_or_leave(env, org, &created).await;
    Ok(answers)
}

/// Enqueues stored deliveries; if the queue fails they stay pending, due now, and the organization's alarm enqueues
/// them within two minutes (nothing is lost, the answer stands).
pub async fn enqueue_or_leave(env: &Env, org: &OrganizationId, created: &[DeliveryId]) {
    if let Err(e) = enqueue(env, org, created).await {
        worker::console_error!("enqueue failed, leaving {} deliveries to the alarm: {}", created.len(), e);
    }
}

/// Claimed deliveries with their webhooks.
type ClaimedRows = (Vec<DeliveryRow>, Vec<WebhookRow>);

/// [`store_one`] for several events: one D1 batch, answers in order, every delivery created, and what it claimed.
async fn store_many(
    env: &Env,
    org: &OrganizationId,
    incoming: &[IncomingEvent],
    now: i64,
    claim: Option<&ClaimCreated>,
) -> Result<(Vec<Ingested>, Vec<DeliveryId>, Option<ClaimedRows>), DeliveryError> {
    let ids: Vec<EventId> =
        incoming.iter().map(|e| e.id.clone().unwrap_or_else(|| EventId::generate(&random()))).collect();
    if incoming.is_empty() {
        return Ok((Vec::new(), Vec::new(), None));
    }
    let db = store::organization(env, org)?;
    let timestamp = iso8601(now);
    let mut inserts = Vec::with_capacity(incoming.len());
    for (id, event) in ids.iter().zip(incoming) {
        let (head, tail) = payload::split(&DeliveryBody {
            event_id: id.as_str(),
            event_type: &event.event_type,
            timestamp: &timestamp,
            organization_id: org.as_str(),
            delivery_id: "",
            data: &event.data,
            changes: event.changes.as_deref(),
            test: false,
        })
        .map_err(|e| DeliveryError::Payload(e.to_string()))?;
        let stem = random::<9>();
        inserts.push(IngestInsert {
            id,
            event,
            token: hex::encode(random::<16>()),
            id_stem: hex::encode(stem),
            head,
            tail,
        });
    }
    let events::Ingest { outcomes, created, claimed } = events::ingest_many(&db, org, now, &inserts, claim).await?;
    let mut answers = Vec::with_capacity(inserts.len());
    for (insert, outcome) in inserts.iter().zip(outcomes) {
        let id = insert.id.to_string();
        answers.push(match outcome {
            Some(Ok(record)) => Ingested { id, deliveries: record.deliveries, duplicate: false },
            Some(Err(record)) => Ingested { id, deliveries: record.deliveries, duplicate: true },
            None => return Err(StoreError("an ingested event is missing after its transaction".into()).into()),
        });
    }
    Ok((answers, created, claimed))
}

/// One delivery, with its body built once, for each subscriber of the event's type.
fn deliveries_for(
    subscribers: &[(Vec<String>, WebhookId)],
    org: &OrganizationId,
    id: &EventId,
    event: &IncomingEvent,
    timestamp: &str,
) -> Result<Vec<NewDelivery>, DeliveryError> {
    let mut deliveries = Vec::new();
    for (_, webhook_id) in subscribers.iter().filter(|(patterns, _)| subscribed(patterns, &event.event_type)) {
        let delivery_id = DeliveryId::generate(&random());
        let body = payload::build(&DeliveryBody {
            event_id: id.as_str(),
            event_type: &event.event_type,
            timestamp,
            organization_id: org.as_str(),
            delivery_id: delivery_id.as_str(),
            data: &event.data,
            changes: event.changes.as_deref(),
            test: false,
        })
        .map_err(|e| DeliveryError::Payload(e.to_string()))?;
        deliveries.push(NewDelivery { id: delivery_id, webhook_id: webhook_id.clone(), body });
    }
    Ok(deliveries)
}

/// Sends one message per delivery, in batches of at most 100 (the platform's batch limit).
pub async fn enqueue(env: &Env, org: &OrganizationId, delivery_ids: &[DeliveryId]) -> Result<(), DeliveryError> {
    if delivery_ids.is_empty() {
        return Ok(());
    }
    let queue = env.queue("DELIVERIES").map_err(|e| DeliveryError::Queue(e.to_string()))?;
    for chunk in delivery_ids.chunks(QUEUE_SEND_BATCH_MAX) {
        let messages: Vec<DeliveryMessage> = chunk.iter().map(|id| DeliveryMessage::of(org, id)).collect();
        usage::add(|u| {
            u.queue_send_calls += 1;
            u.queue_messages_sent += chunk.len() as u64;
        });
        queue
            .send_batch(BatchMessageBuilder::new().messages(messages).build())
            .await
            .map_err(|e| DeliveryError::Queue(e.to_string()))?;
    }
    Ok(())
}

/// Enqueues deliveries to be attempted after their delays (seconds, one hop of at most twelve hours: a longer wait
/// finds its delivery not due and waits again).
pub async fn enqueue_after(
    env: &Env,
    org: &OrganizationId,
    delayed: &[(DeliveryId, u64)],
) -> Result<(), DeliveryError> {
    if delayed.is_empty() {
        return Ok(());
    }
    let queue = env.queue("DELIVERIES").map_err(|e| DeliveryError::Queue(e.to_string()))?;
    for chunk in delayed.chunks(QUEUE_SEND_BATCH_MAX) {
        let messages: Vec<MessageBuilder<DeliveryMessage>> = chunk
            .iter()
            .map(|(id, seconds)| MessageBuilder::new(DeliveryMessage::of(org, id)).delay_seconds(queue_hop(*seconds)))
            .collect();
        usage::add(|u| {
            u.queue_send_calls += 1;
            u.queue_messages_sent += chunk.len() as u64;
        });
        queue
            .send_batch(messages.into_iter().map(|m| m.build()).collect::<Vec<_>>())
            .await
            .map_err(|e| DeliveryError::Queue(e.to_string()))?;
    }
    Ok(())
}

/// The `edgehook.webhook.disabled` event for `webhook`, with one delivery per subscriber of it (other than the
/// webhook itself), ready to be written in the same transaction as the disable. Its id is derived from the webhook
/// and the time of the disable, so the notice of one disable is one event whoever writes it.
pub fn disabled_notice(
    webhook: &WebhookRow,
    subscribers: &[WebhookRow],
    reason: &str,
    now: i64,
) -> Result<(EventId, IncomingEvent, Vec<NewDelivery>), DeliveryError> {
    let data = json!({
        "webhookId": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "reason": reason,
        "disabledAt": iso8601(now),
    });
    let source = format!("webhook.disabled\n{}\n{now}", webhook.id);
    operational_event(WEBHOOK_DISABLED, webhook, data, &source, subscribers, now)
}

/// An operational event (`edgehook.*`) about `subject`, with one delivery per active subscriber of its type other
/// than `subject` itself (an event about a webhook never goes to that webhook). Its id is derived from `source`, so
/// the same report is one event however often it is prepared.
pub fn operational_event(
    event_type: &str,
    subject: &WebhookRow,
    data: serde_json::Value,
    source: &str,
    subscribers: &[WebhookRow],
    now: i64,
) -> Result<(EventId, IncomingEvent, Vec<NewDelivery>), DeliveryError> {
    let id = EventId::derived(source);
    let event = IncomingEvent {
        id: Some(id.clone()),
        event_type: event_type.into(),
        data: data.to_string(),
        changes: None,
        organization_id: Some(subject.organization_id.clone()),
    };
    let others: Vec<(Vec<String>, WebhookId)> =
        subscribers.iter().filter(|w| w.id != subject.id).map(|w| (w.patterns(), w.id.clone())).collect();
    let deliveries = deliveries_for(&others, &subject.organization_id, &id, &event, &iso8601(now))?;
    Ok((id, event, deliveries))
}
