//! Recover and replay-missing run through the deliveries queue, never inside the request: the API counts what the
//! job will do and enqueues one job message; each consumer invocation does one bounded step of it and, while more
//! remains, enqueues the next step. Every step can run twice (the queue is at-least-once) without doing anything
//! twice: a recovered delivery leaves the window, and a replayed event is skipped once its delivery exists.

use serde::{Deserialize, Serialize};
use worker::Env;

use super::{fanout, DeliveryError};
use crate::domain::filter::stored_matches;
use crate::domain::ids::{DeliveryId, OrganizationId, WebhookId};
use crate::domain::payload::{self, DeliveryBody};
use crate::domain::time::iso8601;
use crate::platform::random;
use crate::store::events::EventRow;
use crate::store::recovery::{self, Cursor, MissedDelivery, Missing, Window};
use crate::store::{self};
use crate::usage;

/// The most deliveries one recover or replay call takes on; the API's answer says when more remain.
pub const MAX_PER_CALL: i64 = 10_000;
/// Deliveries one step recovers or creates (a few D1 statements and one queue send of at most 100 messages each).
const STEP: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    Recover,
    ReplayMissing,
}

/// One step of a job, as its queue message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub kind: JobKind,
    pub organization_id: String,
    pub webhook_id: String,
    /// The window: `[since, until)` in epoch ms (`until` is when the call was made, for replays and at most then for
    /// recovers, so what the job does later cannot grow it).
    pub since: i64,
    pub until: i64,
    /// How many deliveries this job may still take on.
    pub remaining: i64,
    /// Replays: the last event looked at.
    #[serde(default)]
    pub cursor: Cursor,
}

/// The queue message of a job step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobMessage {
    pub job: Job,
}

/// Enqueues a job step on the deliveries queue.
pub async fn enqueue(env: &Env, job: Job) -> Result<(), DeliveryError> {
    let queue = env.queue("DELIVERIES").map_err(|e| DeliveryError::Queue(e.to_string()))?;
    usage::add(|u| {
        u.queue_send_calls += 1;
        u.queue_messages_sent += 1;
    });
    queue.send(JobMessage { job }).await.map_err(|e| DeliveryError::Queue(e.to_string()))
}

/// Does one step of `job` and enqueues the next while more remains.
pub async fn step(env: &Env, job: &Job, now: i64) -> Result<(), DeliveryError> {
    let (Some(org), Some(webhook_id)) =
        (OrganizationId::parse(&job.organization_id), WebhookId::parse(&job.webhook_id))
    else {
        worker::console_error!("dropping a job with malformed ids");
        return Ok(());
    };
    let limit = job.remaining.min(STEP);
    if limit <= 0 {
        return Ok(());
    }
    let db = store::organization(env, &org)?;
    let (done, next_cursor) = match job.kind {
        JobKind::Recover => {
            let window = Window { org: &org, webhook_id: &webhook_id, since: job.since, until: job.until };
            let ids = recovery::recover(&db, &window, limit, now).await?;
            fanout::enqueue(env, &org, &ids).await?;
            (ids.len() as i64, None)
        }
        JobKind::ReplayMissing => {
            let Some(webhook) = store::webhooks::get(&db, &org, &webhook_id).await? else {
                worker::console_log!("replay of {webhook_id} stopped: the webhook is gone");
                return Ok(());
            };
            let Some(condition) = recovery::pattern_condition(&webhook.patterns()) else {
                worker::console_error!("replay of {webhook_id} stopped: a subscription pattern is not valid");
                return Ok(());
            };
            let scope = Missing {
                org: &org,
                webhook_id: &webhook_id,
                since: job.since,
                until: job.until,
                condition: &condition,
            };
            let events = recovery::missing_events(&db, &scope, &job.cursor, limit).await?;
            // The webhook's payload filter applies as at ingest; the cursor still moves past what it leaves out.
            let passes = |event: &&EventRow| webhook.filter.as_deref().is_none_or(|f| stored_matches(f, &event.view()));
            let delivered: Vec<&EventRow> = events.iter().filter(passes).collect();
            let ids: Vec<DeliveryId> = delivered.iter().map(|_| DeliveryId::generate(&random())).collect();
            let mut deliveries = Vec::with_capacity(delivered.len());
            for (i, (event, id)) in delivered.into_iter().zip(&ids).enumerate() {
                let body = payload::build(&DeliveryBody {
                    event_id: event.id.as_str(),
                    event_type: &event.event_type,
                    timestamp: &iso8601(event.created_at),
                    organization_id: org.as_str(),
                    delivery_id: id.as_str(),
                    data: &event.data,
                    changes: event.changes.as_deref(),
                    test: false,
                })
                .map_err(|e| DeliveryError::Payload(e.to_string()))?;
                // One millisecond apart, so the delivery log lists them in the events' order.
                deliveries.push(MissedDelivery { id, event, body, created_at: now + i as i64 });
            }
            let created = recovery::insert_missing(&db, &org, &webhook_id, &deliveries, now).await?;
            fanout::enqueue(env, &org, &created).await?;
            let cursor = events.last().map(|e| Cursor { created_at: e.created_at, id: e.id.to_string() });
            (if events.len() as i64 == limit { limit } else { 0 }, cursor)
        }
    };
    // A full step may have left more; a short one finished the job.
    if done == limit && job.remaining > done {
        let mut next = job.clone();
        next.remaining -= done;
        if let Some(cursor) = next_cursor {
            next.cursor = cursor;
        }
        enqueue(env, next).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_message_round_trips_and_tells_itself_apart_from_a_delivery_message() {
        let job = Job {
            kind: JobKind::ReplayMissing,
            organization_id: "org_a".into(),
            webhook_id: "wh_1".into(),
            since: 1,
            until: 2,
            remaining: 10_000,
            cursor: Cursor { created_at: 5, id: "evt_1".into() },
        };
        let text = serde_json::to_string(&JobMessage { job: job.clone() }).unwrap();
        assert!(text.contains(r#""kind":"replayMissing""#), "{text}");
        assert_eq!(serde_json::from_str::<JobMessage>(&text).unwrap().job, job);
        assert!(serde_json::from_str::<JobMessage>(r#"{"deliveryId":"dlv_1"}"#).is_err());
        let without_cursor =
            r#"{"job":{"kind":"recover","organizationId":"o","webhookId":"wh_1","since":0,"until":1,"remaining":3}}"#;
        assert_eq!(serde_json::from_str::<JobMessage>(without_cursor).unwrap().job.cursor, Cursor::default());
    }
}
