//! Ingest and fan-out: one event in, one stored delivery per subscribed active webhook, one queue message each.
//! Shared by `POST /api/events`, the `events` queue and edgehook's own `webhook.disabled` events.

use serde::Serialize;
use serde_json::json;
use worker::{BatchMessageBuilder, Env};

use crate::domain::catalogue::subscribed;
use crate::domain::event::IncomingEvent;
use crate::domain::ids::{DeliveryId, EventId};
use crate::domain::payload::{self, DeliveryBody};
use crate::domain::time::iso8601;
use crate::error::ApiError;
use crate::platform::random;
use crate::store::events::{self, IngestRecord, NewDelivery, NewEvent};
use crate::store::{self, webhooks::WebhookRow};
use edgehook_verifier::scheme::hex;

/// The answer to an ingest.
#[derive(Debug, Clone, Serialize)]
pub struct Ingested {
    pub id: String,
    pub deliveries: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The queue message of a delivery: ids only (the payload lives in D1; a message is capped at 128 KB).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMessage {
    pub delivery_id: String,
}

/// Stores the event and its deliveries and enqueues them. The same (organization, id) twice never creates a
/// second set: KV answers recent repeats fast, D1's unique key decides.
pub async fn ingest(env: &Env, org: &str, event: &IncomingEvent, now: i64) -> Result<Ingested, ApiError> {
    let id = event.id.clone().unwrap_or_else(|| EventId::generate(&random()).to_string());
    let duplicate = |record: IngestRecord| Ingested { id: id.clone(), deliveries: record.deliveries, duplicate: true };
    if let Some(record) = events::recent(env, org, &id).await {
        return Ok(duplicate(record));
    }
    let db = store::db(env)?;
    let webhooks: Vec<WebhookRow> =
        store::webhooks::list(&db, org, Some(true)).await?.into_iter().filter(|w| subscribed(&w.patterns(), &event.event_type)).collect();
    let timestamp = iso8601(now);
    let mut deliveries = Vec::with_capacity(webhooks.len());
    for webhook in &webhooks {
        let delivery_id = DeliveryId::generate(&random()).to_string();
        let body = payload::build(&DeliveryBody {
            event_id: &id,
            event_type: &event.event_type,
            timestamp: &timestamp,
            organization_id: org,
            delivery_id: &delivery_id,
            data: &event.data,
            changes: event.changes.as_deref(),
            test: false,
        })
        .map_err(ApiError::internal)?;
        deliveries.push(NewDelivery { id: delivery_id, webhook_id: webhook.id.clone(), body });
    }
    let new_event = NewEvent { org, id: &id, event_type: &event.event_type, data: &event.data, changes: event.changes.as_deref(), now };
    let token = hex(&random::<16>());
    if !events::insert_with_deliveries(&db, &new_event, &token, &deliveries).await? {
        let record = events::existing(&db, org, &id).await?.unwrap_or(IngestRecord { deliveries: 0 });
        return Ok(duplicate(record));
    }
    let ids: Vec<String> = deliveries.into_iter().map(|d| d.id).collect();
    if let Err(e) = enqueue(env, &ids).await {
        // The deliveries are pending in D1, due now: the sweeper enqueues them within a minute.
        worker::console_error!("enqueue failed, leaving {} deliveries to the sweeper: {}", ids.len(), e.message);
    }
    let record = IngestRecord { deliveries: ids.len() as i64 };
    events::remember(env, org, &id, &record).await;
    Ok(Ingested { id, deliveries: record.deliveries, duplicate: false })
}

/// Sends one message per delivery, in batches of 100 (the platform's batch limit).
pub async fn enqueue(env: &Env, delivery_ids: &[String]) -> Result<(), ApiError> {
    if delivery_ids.is_empty() {
        return Ok(());
    }
    let queue = env.queue("DELIVERIES").map_err(ApiError::internal)?;
    for chunk in delivery_ids.chunks(100) {
        let messages: Vec<DeliveryMessage> = chunk.iter().map(|id| DeliveryMessage { delivery_id: id.clone() }).collect();
        queue.send_batch(BatchMessageBuilder::new().messages(messages).build()).await.map_err(ApiError::internal)?;
    }
    Ok(())
}

/// Tells the organization's subscribers that a webhook was disabled.
pub async fn webhook_disabled(env: &Env, webhook: &WebhookRow, reason: &str, now: i64) -> Result<Ingested, ApiError> {
    let data = json!({
        "webhookId": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "reason": reason,
        "disabledAt": iso8601(now),
    });
    let event = IncomingEvent {
        id: None,
        event_type: "webhook.disabled".into(),
        data: data.to_string(),
        changes: None,
        organization_id: Some(webhook.organization_id.clone()),
    };
    ingest(env, &webhook.organization_id, &event, now).await
}
