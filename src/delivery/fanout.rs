//! Ingest and fan-out: one event in, one stored delivery per subscribed active webhook, queue messages of up to ten
//! deliveries each when they are not sent from the ingest itself.
//! Shared by `POST /api/events`, the `events` queue and edgehook's own operational events (`edgehook.*`).

use serde::Serialize;
use serde_json::json;
use worker::{Env, MessageBuilder};

use super::DeliveryError;
use crate::domain::catalogue::{subscribed, WEBHOOK_DISABLED};
use crate::domain::event::IncomingEvent;
use crate::domain::filter::{stored_matches, EventView};
use crate::domain::ids::{DeliveryId, EventId, OrganizationId, WebhookId};
use crate::domain::limits::{DELIVERIES_PER_MESSAGE, QUEUE_SEND_BATCH_MAX, SENDS_AFTER_RESPONSE};
use crate::domain::payload::{self, DeliveryBody};
use crate::domain::retry::queue_hop;
use crate::domain::time::iso8601;
use crate::domain::Invalid;
use crate::platform::random;
use crate::store::deliveries::DeliveryRow;
pub use crate::store::events::RoundRef;
use crate::store::events::{self, ClaimCreated, IngestInsert, NewDelivery, QueuedRound};
use crate::store::{self, webhooks::WebhookRow, StoreError};
use crate::usage;

/// The answer to an ingest: the event's id and how many deliveries it made; `duplicate: true` when the id was
/// already ingested (nothing new is stored or sent).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ingested {
    pub id: String,
    #[schema(minimum = 0)]
    pub deliveries: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(default = false)]
    pub duplicate: bool,
}

/// The queue message of deliveries: ids only (the payloads live in their organization's object; a message is capped
/// at 128 KB), all of one organization, which says which object holds them. One delivery is `deliveryId`; several
/// set off together (a batch ingest's fan-out, the alarm's re-enqueue, a recovery step) share one message as
/// `deliveryIds`, so a queue operation carries up to [`ids_per_message`] deliveries instead of one: the queue's
/// 5,000 messages per second and its price per operation go ten times further. `rounds` names the events whose
/// round (schema v22) the message carries whole, each as its row and its deliveries' stem (`[position, stem]`):
/// those deliveries have no row until their consumer claims the round and records them.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMessage {
    pub organization_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<(i64, String)>,
}

/// What a deliveries message carries, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub organization: OrganizationId,
    pub deliveries: Vec<DeliveryId>,
    pub rounds: Vec<RoundRef>,
}

impl DeliveryMessage {
    fn of(org: &OrganizationId, ids: &[DeliveryId], rounds: &[RoundRef]) -> DeliveryMessage {
        let rounds = rounds.iter().map(|r| (r.position, r.stem.clone())).collect();
        match ids {
            [one] => DeliveryMessage {
                organization_id: org.to_string(),
                delivery_id: Some(one.to_string()),
                delivery_ids: Vec::new(),
                rounds,
            },
            many => DeliveryMessage {
                organization_id: org.to_string(),
                delivery_id: None,
                delivery_ids: many.iter().map(ToString::to_string).collect(),
                rounds,
            },
        }
    }

    /// What it carries; `None` if it names no valid organization or no delivery, or any id is not a delivery id, or
    /// a round's stem is not one (not a delivery message).
    pub fn parsed(&self) -> Option<Carried> {
        let organization = OrganizationId::parse(&self.organization_id)?;
        let deliveries = self
            .delivery_id
            .iter()
            .chain(&self.delivery_ids)
            .map(|id| DeliveryId::parse(id))
            .collect::<Option<Vec<_>>>()?;
        let stem = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let rounds = self
            .rounds
            .iter()
            .map(|(position, s)| stem(s).then(|| RoundRef { position: *position, stem: s.clone() }))
            .collect::<Option<Vec<_>>>()?;
        (!deliveries.is_empty()).then_some(Carried { organization, deliveries, rounds })
    }
}

/// The messages that set `rounds` and the deliveries `ids` off: each round whole in one message (its consumer claims
/// it by its event's row), then the other deliveries, at most `per_message` to a message (a round lists no more).
fn messages_of(
    org: &OrganizationId,
    rounds: &[QueuedRound],
    ids: &[DeliveryId],
    per_message: usize,
) -> Vec<DeliveryMessage> {
    let mut messages = Vec::new();
    let (mut carried, mut refs): (Vec<DeliveryId>, Vec<RoundRef>) = (Vec::new(), Vec::new());
    for round in rounds {
        if !carried.is_empty() && carried.len() + round.deliveries.len() > per_message {
            messages.push(DeliveryMessage::of(org, &std::mem::take(&mut carried), &std::mem::take(&mut refs)));
        }
        carried.extend(round.deliveries.iter().cloned());
        refs.push(round.event.clone());
    }
    for id in ids {
        if carried.len() >= per_message {
            messages.push(DeliveryMessage::of(org, &std::mem::take(&mut carried), &std::mem::take(&mut refs)));
        }
        carried.push(id.clone());
    }
    if !carried.is_empty() {
        messages.push(DeliveryMessage::of(org, &carried, &refs));
    }
    messages
}

/// The most deliveries one message carries: [`DELIVERIES_PER_MESSAGE`], or fewer if one consumer invocation could
/// not take that many on within its subrequest budget.
pub fn ids_per_message(env: &Env) -> usize {
    let budget = crate::config::Config::from_env(env).subrequest_budget;
    crate::domain::limits::deliveries_within_budget(budget, crate::store::IDS_PER_STATEMENT)
        .clamp(1, DELIVERIES_PER_MESSAGE)
}

/// An event stored: its answer, every delivery it created (pending in D1, due now, not yet enqueued), and those its
/// transaction claimed, with their webhooks, if it was asked to ([`store_one`]).
pub struct Stored {
    /// The answer, or why the organization's catalogue refused the event (nothing was stored).
    pub answer: Result<Ingested, Invalid>,
    pub created: Vec<DeliveryId>,
    pub claimed: Option<super::Claimed>,
    /// Without a claim: the events' rounds, for [`enqueue_or_leave`] (not in `created`).
    pub queued: Vec<QueuedRound>,
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
    let Many { mut answers, created, claimed, queued } =
        store_many(env, org, std::slice::from_ref(event), now, claim).await?;
    let answer = answers.pop().ok_or_else(|| DeliveryError::Store(StoreError("no ingest result".into())))?;
    let claimed = claimed.map(|(rows, webhooks)| super::Claimed { rows, webhooks, held: None });
    Ok(Stored { answer, created, claimed, queued })
}

/// Several events of one organization in two binding round trips: one D1 batch finds the subscribers, inserts every
/// event and delivery and detects duplicates (all or nothing: a failure leaves no delivery behind that is never
/// enqueued), then one queue send per 100 deliveries. Answers come back in order.
pub async fn ingest_many(
    env: &Env,
    org: &OrganizationId,
    incoming: &[IncomingEvent],
    now: i64,
) -> Result<Vec<Result<Ingested, Invalid>>, DeliveryError> {
    let Many { answers, created, queued, .. } = store_many(env, org, incoming, now, None).await?;
    enqueue_or_leave(env, org, &created, &queued).await;
    Ok(answers)
}

/// Enqueues stored deliveries and rounds; if the queue fails they stay pending, and the organization's alarm
/// enqueues them within two minutes (nothing is lost, the answer stands).
pub async fn enqueue_or_leave(env: &Env, org: &OrganizationId, created: &[DeliveryId], queued: &[QueuedRound]) {
    let messages = messages_of(org, queued, created, ids_per_message(env));
    if let Err(e) = send_messages(env, messages.into_iter().map(|m| (0, m)).collect()).await {
        let count = created.len() + queued.iter().map(|r| r.deliveries.len()).sum::<usize>();
        worker::console_error!("enqueue failed, leaving {count} deliveries to the alarm: {e}");
    }
}

/// Claimed deliveries with their webhooks.
type ClaimedRows = (Vec<DeliveryRow>, Vec<WebhookRow>);

/// What [`store_many`] did: the answers in order, every delivery created with a row, what it claimed, and the rounds
/// it left to the queue.
struct Many {
    answers: Vec<Result<Ingested, Invalid>>,
    created: Vec<DeliveryId>,
    claimed: Option<ClaimedRows>,
    queued: Vec<QueuedRound>,
}

/// [`store_one`] for several events: one D1 batch, answers in order, every delivery created, and what it claimed.
/// Without a claim, an event's round lists at most as many deliveries as one queue message carries (and a round
/// of sends holds).
async fn store_many(
    env: &Env,
    org: &OrganizationId,
    incoming: &[IncomingEvent],
    now: i64,
    claim: Option<&ClaimCreated>,
) -> Result<Many, DeliveryError> {
    let ids: Vec<EventId> =
        incoming.iter().map(|e| e.id.clone().unwrap_or_else(|| EventId::generate(&random()))).collect();
    if incoming.is_empty() {
        return Ok(Many { answers: Vec::new(), created: Vec::new(), claimed: None, queued: Vec::new() });
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
        inserts.push(IngestInsert {
            id,
            event,
            token: hex::encode(random::<16>()),
            stem_tail: hex::encode(random::<6>()),
            data: event.data.as_str().into(),
            head: head.into(),
            tail,
        });
    }
    let queued_most = ids_per_message(env).min(SENDS_AFTER_RESPONSE);
    let events::Ingest { outcomes, mut refused, created, claimed, queued } =
        events::ingest_many(&db, org, now, &inserts, claim, queued_most).await?;
    let mut answers = Vec::with_capacity(inserts.len());
    for (insert, outcome) in inserts.iter().zip(outcomes) {
        let id = insert.id.to_string();
        answers.push(match outcome {
            Some(Ok(record)) => Ok(Ingested { id, deliveries: record.deliveries, duplicate: false }),
            Some(Err(record)) => Ok(Ingested { id, deliveries: record.deliveries, duplicate: true }),
            None => match refused.iter().position(|(r, _)| r == insert.id) {
                Some(at) => Err(refused.swap_remove(at).1),
                None => return Err(StoreError("an ingested event is missing after its transaction".into()).into()),
            },
        });
    }
    Ok(Many { answers, created, claimed, queued })
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

/// Sets deliveries off now: [`ids_per_message`] to a message, up to 100 messages per send (the platform's batch
/// limit).
pub async fn enqueue(env: &Env, org: &OrganizationId, delivery_ids: &[DeliveryId]) -> Result<(), DeliveryError> {
    let delayed: Vec<(DeliveryId, u64)> = delivery_ids.iter().map(|id| (id.clone(), 0)).collect();
    enqueue_after(env, org, &delayed).await
}

/// Enqueues deliveries to be attempted after their delays (seconds, one hop of at most twelve hours: a longer wait
/// finds its delivery not due and waits again). Deliveries with the same delay share messages.
pub async fn enqueue_after(
    env: &Env,
    org: &OrganizationId,
    delayed: &[(DeliveryId, u64)],
) -> Result<(), DeliveryError> {
    enqueue_waiting(env, org, delayed, &[]).await
}

/// [`enqueue_after`] for deliveries of which some may be of `rounds` (a consumer's messages that it did not take on
/// whole): each round's deliveries go together with it, so the next consumer can claim a round that still has no
/// row (one that does is claimed by its rows, and the round's claim finds it taken).
pub async fn enqueue_waiting(
    env: &Env,
    org: &OrganizationId,
    delayed: &[(DeliveryId, u64)],
    rounds: &[RoundRef],
) -> Result<(), DeliveryError> {
    if delayed.is_empty() {
        return Ok(());
    }
    let per_message = ids_per_message(env);
    let mut by_delay: std::collections::BTreeMap<u32, Vec<DeliveryId>> = std::collections::BTreeMap::new();
    for (id, seconds) in delayed {
        by_delay.entry(queue_hop(*seconds)).or_default().push(id.clone());
    }
    let messages: Vec<(u32, DeliveryMessage)> = by_delay
        .into_iter()
        .flat_map(|(seconds, ids)| {
            let (queued, plain) = rounds_among(rounds, ids);
            messages_of(org, &queued, &plain, per_message).into_iter().map(move |m| (seconds, m))
        })
        .collect();
    send_messages(env, messages).await
}

/// `ids` parted into the deliveries of `rounds` (each round with those of its deliveries among them) and the rest.
fn rounds_among(rounds: &[RoundRef], ids: Vec<DeliveryId>) -> (Vec<QueuedRound>, Vec<DeliveryId>) {
    let mut queued: Vec<QueuedRound> = Vec::new();
    let mut plain = Vec::new();
    for id in ids {
        match rounds.iter().find(|r| r.holds(&id)) {
            Some(round) => match queued.iter_mut().find(|q| q.event == *round) {
                Some(q) => q.deliveries.push(id),
                None => queued.push(QueuedRound { event: round.clone(), deliveries: vec![id] }),
            },
            None => plain.push(id),
        }
    }
    (queued, plain)
}

/// Sends messages, each after its delay (seconds), up to 100 to a send (the platform's batch limit).
async fn send_messages(env: &Env, messages: Vec<(u32, DeliveryMessage)>) -> Result<(), DeliveryError> {
    if messages.is_empty() {
        return Ok(());
    }
    let queue = env.queue("DELIVERIES").map_err(|e| DeliveryError::Queue(e.to_string()))?;
    for chunk in messages.chunks(QUEUE_SEND_BATCH_MAX) {
        usage::add(|u| {
            u.queue_send_calls += 1;
            u.queue_messages_sent += chunk.len() as u64;
        });
        let batch: Vec<_> = chunk
            .iter()
            .map(|(seconds, message)| MessageBuilder::new(message.clone()).delay_seconds(*seconds).build())
            .collect();
        queue.send_batch(batch).await.map_err(|e| DeliveryError::Queue(e.to_string()))?;
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
    // A subscriber's payload filter applies to operational events as to any other.
    let view = EventView { id: id.as_str(), event_type, data: &event.data, changes: None };
    let passes = |w: &WebhookRow| w.filter.as_deref().is_none_or(|f| stored_matches(f, &view));
    let others: Vec<(Vec<String>, WebhookId)> = subscribers
        .iter()
        .filter(|w| w.id != subject.id && w.is_sent_to() && passes(w))
        .map(|w| (w.patterns(), w.id.clone()))
        .collect();
    let deliveries = deliveries_for(&others, &subject.organization_id, &id, &event, &iso8601(now))?;
    Ok((id, event, deliveries))
}

#[cfg(test)]
mod message_tests {
    use super::*;

    fn parse(json: &str) -> Option<Carried> {
        serde_json::from_str::<DeliveryMessage>(json).ok().and_then(|m| m.parsed())
    }

    fn ids(ids: &[&str]) -> Vec<DeliveryId> {
        ids.iter().map(|id| DeliveryId::parse(id).unwrap()).collect()
    }

    #[test]
    fn one_delivery_keeps_the_single_id_shape_and_several_share_one_message() {
        let org = OrganizationId::parse("org_a").unwrap();
        let ids = ids(&["dlv_1", "dlv_2"]);
        let one = serde_json::to_value(DeliveryMessage::of(&org, &ids[..1], &[])).unwrap();
        assert_eq!(one, serde_json::json!({"organizationId": "org_a", "deliveryId": "dlv_1"}));
        let many = serde_json::to_string(&DeliveryMessage::of(&org, &ids, &[])).unwrap();
        assert_eq!(many, r#"{"organizationId":"org_a","deliveryIds":["dlv_1","dlv_2"]}"#);
        assert_eq!(parse(&many), Some(Carried { organization: org, deliveries: ids, rounds: vec![] }));
    }

    #[test]
    fn a_message_without_deliveries_or_with_a_bad_id_or_stem_is_not_a_delivery_message() {
        assert_eq!(parse(r#"{"organizationId":"org_a"}"#), None);
        assert_eq!(parse(r#"{"organizationId":"org_a","deliveryIds":[]}"#), None);
        assert_eq!(parse(r#"{"organizationId":"org_a","deliveryIds":["dlv_1","nope"]}"#), None);
        assert_eq!(parse(r#"{"job":{"kind":"recover"}}"#), None);
        assert_eq!(parse(r#"{"organizationId":"org_a","deliveryId":"dlv_1","rounds":[[3,"x'"]]}"#), None);
        assert_eq!(parse(r#"{"organizationId":"org_a","deliveryId":"dlv_1","rounds":[[3,""]]}"#), None);
    }

    #[test]
    fn each_round_rides_whole_in_one_message_with_its_event_and_the_other_deliveries_fill_up() {
        let org = OrganizationId::parse("org_a").unwrap();
        let round = |position: i64, stem: &str, count: usize| QueuedRound {
            event: RoundRef { position, stem: stem.into() },
            deliveries: (0..count).map(|n| DeliveryId::parse(&format!("dlv_{stem}{n:08x}")).unwrap()).collect(),
        };
        let rounds = [round(7, "aa", 3), round(8, "bb", 3), round(9, "cc", 3), round(10, "dd", 2)];
        let others = ids(&["dlv_x1", "dlv_x2", "dlv_x3"]);
        let messages = messages_of(&org, &rounds, &others, 5);
        let carried: Vec<Carried> = messages.iter().map(|m| m.parsed().unwrap()).collect();
        let sizes: Vec<usize> = carried.iter().map(|c| c.deliveries.len()).collect();
        // 3 | 3 | 3+2 | the others, at most 5 to a message: no round is split.
        assert_eq!(sizes, vec![3, 3, 5, 3]);
        for c in &carried {
            for r in &c.rounds {
                let listed = rounds.iter().find(|q| q.event == *r).unwrap();
                assert!(listed.deliveries.iter().all(|d| c.deliveries.contains(d)), "round {} whole", r.stem);
            }
            assert!(c.deliveries.iter().all(|d| c.rounds.iter().any(|r| r.holds(d)) || others.contains(d)));
        }
        assert_eq!(carried.iter().map(|c| c.rounds.len()).sum::<usize>(), 4);
        let json = serde_json::to_value(&messages[0]).unwrap();
        assert_eq!(json["rounds"], serde_json::json!([[7, "aa"]]));
        assert_eq!(carried[3].deliveries, others);
        // Waiting deliveries go back with their rounds; the others plain.
        let refs = [RoundRef { position: 7, stem: "aa".into() }];
        let mut waiting = rounds[0].deliveries.clone();
        waiting.push(others[0].clone());
        let (queued, plain) = rounds_among(&refs, waiting);
        assert_eq!(queued, vec![round(7, "aa", 3)]);
        assert_eq!(plain, vec![others[0].clone()]);
        // Without rounds: chunks as before.
        let plain = messages_of(&org, &[], &others, 2);
        assert_eq!(plain.iter().map(|m| m.parsed().unwrap().deliveries.len()).collect::<Vec<_>>(), vec![2, 1]);
    }
}
