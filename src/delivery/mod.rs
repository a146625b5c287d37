//! The data plane: queue consumers (deliveries and events) and one delivery attempt from claim to record. Each
//! organization's object makes sure none of its pending deliveries is forgotten (its alarm, `org::Organization`);
//! the cron prunes what D1 keeps across organizations.

pub mod alerts;
pub mod attempt;
pub mod aws;
pub mod azure;
pub mod bounded;
pub mod fanout;
pub mod gcp;
pub mod held;
pub mod jobs;
pub mod send;

use std::cell::RefCell;
use std::collections::HashSet;

use worker::{js_sys, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::config::Config;
use crate::domain::event::{self, IncomingEvent, Source};
use crate::domain::ids::{DeliveryId, EventId, OrganizationId, WebhookId};
use crate::domain::limits::{
    calls_for_deliveries, deliveries_within_budget, DELIVERIES_PER_INVOCATION, MAX_SENDS_PER_WEBHOOK,
};
use crate::domain::model::DeliveryStatus;
use crate::domain::retry::queue_hop;
use crate::domain::Invalid;
use crate::platform::now_ms;
use crate::store::deliveries::DeliveryRow;
use crate::store::webhooks::WebhookRow;
use crate::store::{self, deliveries, events, Database, StoreError, IDS_PER_STATEMENT};
use crate::usage;
use fanout::{Carried, DeliveryMessage, RoundRef};

/// A failure of the data plane: D1, the queue, or a stored body that no longer builds. Its text is for the log; the
/// consumer retries the messages, and the API answers 500 without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    Store(StoreError),
    Queue(String),
    Payload(String),
    /// A webhook's lane (its Durable Object) could not be reached or refused a hand-over.
    Lane(String),
}

impl core::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeliveryError::Store(e) => e.fmt(f),
            DeliveryError::Queue(e) => write!(f, "queue: {e}"),
            DeliveryError::Payload(e) => write!(f, "payload: {e}"),
            DeliveryError::Lane(e) => write!(f, "lane: {e}"),
        }
    }
}

impl From<StoreError> for DeliveryError {
    fn from(e: StoreError) -> Self {
        DeliveryError::Store(e)
    }
}

/// What to do with a delivery's queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Ack,
    RetryIn(u64),
}

/// Claims the deliveries of one organization's messages in one round trip to its object, sends the claimed ones six
/// at a time and records them in one more; answers what to do with each message, in order. At most `budget`
/// deliveries are taken on (never part of a round: [`taken_within`]); the rest go back to the queue at once,
/// untouched. The deliveries of the messages' `rounds` have no row: their claim is their event's.
async fn process_batch(
    env: &Env,
    config: &Config,
    db: &Database,
    ids: &[&DeliveryId],
    rounds: &[RoundRef],
    budget: usize,
) -> Result<Vec<Next>, DeliveryError> {
    let now = now_ms();
    let taken = &ids[..taken_within(ids, rounds, budget)];
    if taken.is_empty() {
        return Ok(vec![Next::RetryIn(0); ids.len()]);
    }
    let rounds: Vec<&RoundRef> = rounds.iter().filter(|r| taken.iter().any(|id| r.holds(id))).collect();
    // A webhook has at most two sends in flight: if the whole batch is one webhook's, half of its sends may run one
    // after another, and the lease must outlast the last.
    let longest_run = taken.len().div_ceil(MAX_SENDS_PER_WEBHOOK);
    // One round trip claims the deliveries and reads their webhooks; the sends are the second, the record the third.
    let (claimed, webhooks) =
        deliveries::claim_with_webhooks(db, taken, &rounds, now, config.lease_for_sends(now, longest_run)).await?;
    let mut next = vec![Next::Ack; ids.len()];
    for n in next.iter_mut().skip(taken.len()) {
        *n = Next::RetryIn(0);
    }

    // Not claimable: finished, unknown, held by an attempt in flight (whose message carries the chain on), or not
    // due yet (then this message waits for it).
    let unclaimed: Vec<&DeliveryId> =
        taken.iter().zip(&claimed).filter(|(_, c)| c.is_none()).map(|(id, _)| *id).collect();
    if !unclaimed.is_empty() {
        let states = deliveries::get_many(db, &unclaimed).await?;
        for (i, id) in taken.iter().enumerate() {
            if claimed[i].is_some() {
                continue;
            }
            let Some(d) = states.iter().find(|d| d.id == **id && d.status == DeliveryStatus::Pending) else { continue };
            let in_flight = d.lease_until.is_some_and(|until| until > now);
            if let (false, Some(due)) = (in_flight, d.next_attempt_at) {
                if due > now {
                    next[i] = Next::RetryIn(((due - now) as u64).div_ceil(1000));
                }
            }
        }
    }

    send_claimed(env, config, db, claimed, &webhooks, &mut next).await?;
    Ok(next)
}

/// How many of `ids` (in order) a consumer with room for `budget` takes on: at most `budget`, and never some of a
/// round's deliveries without the others (their claim is one, by their event): a round cut by the budget is left
/// whole for the next consumer (if it comes first, nothing is taken: the invocation's subrequests are spent, and a
/// fresh one's budget holds a whole message, [`fanout::ids_per_message`]).
fn taken_within(ids: &[&DeliveryId], rounds: &[RoundRef], budget: usize) -> usize {
    let mut cut = ids.len().min(budget);
    if cut == ids.len() {
        return cut;
    }
    for round in rounds {
        let first = ids.iter().position(|id| round.holds(id));
        let last = ids.iter().rposition(|id| round.holds(id));
        if let (Some(first), Some(last)) = (first, last) {
            if first < cut && cut <= last {
                cut = first;
            }
        }
    }
    cut
}

/// Sends claimed deliveries (`claimed[i]` answers for `next[i]`; `None`: not claimed, left as it is): those of gone
/// or stopped webhooks end failed, those whose webhook needs its lane (flow control, a slow or failing endpoint) go
/// there, and the rest are sent six at a time and recorded in one round trip. Every delivery is of the organization
/// whose object `db` is. Sets what becomes of each message.
async fn send_claimed(
    env: &Env,
    config: &Config,
    db: &Database,
    claimed: Vec<Option<DeliveryRow>>,
    webhooks: &[WebhookRow],
    next: &mut [Next],
) -> Result<(), DeliveryError> {
    let now = now_ms();
    let mut index_of: Vec<(DeliveryId, usize)> = Vec::new();
    let mut fast = Vec::new();
    let mut laned = Vec::new();
    for (i, delivery) in claimed.into_iter().enumerate() {
        let Some(delivery) = delivery else { continue };
        index_of.push((delivery.id.clone(), i));
        let needs_lane = webhooks.iter().any(|w| w.id == delivery.webhook_id && w.needs_lane(now));
        if needs_lane {
            laned.push(delivery);
        } else {
            fast.push(delivery);
        }
    }
    let position = |id: &DeliveryId| index_of.iter().find(|(d, _)| d == id).map(|(_, i)| *i);
    let (to_send, abandoned) = sendable(fast, webhooks);
    deliveries::abandon_many(db, &abandoned, now).await?;
    // Endpoints that hold requests past SLOW_ATTEMPT_MS get no more sends from this batch: theirs join the lane.
    let watch = attempt::SlowWatch::default();
    let attempted = attempt::attempt_all(env, config, &to_send, Some(&watch), MAX_SENDS_PER_WEBHOOK).await?;
    for ((delivery, _), a) in to_send.into_iter().zip(attempted) {
        let Some(i) = position(&delivery.id) else { continue };
        match a {
            // A result that no longer held its delivery changes nothing: whoever holds it carries the chain on.
            Some(a) if a.applied => next[i] = a.outcome.retry_in.map_or(Next::Ack, Next::RetryIn),
            Some(_) => next[i] = Next::Ack,
            None => laned.push(delivery),
        }
    }
    for (i, handed) in to_lanes(env, db, &laned, now_ms()).await? {
        if let Some(at) = laned.get(i).and_then(|d| position(&d.id)) {
            next[at] = if handed { Next::Ack } else { Next::RetryIn(5) };
        }
    }
    Ok(())
}

/// Deliveries an ingest created and claimed in its own transaction, with their webhooks: its invocation sends them
/// right after its answer ([`send_now`]).
pub struct Claimed {
    pub rows: Vec<DeliveryRow>,
    pub webhooks: Vec<WebhookRow>,
    /// The ingest's share of what the isolate holds for such sends, given back once they are done.
    pub held: Option<held::Held>,
}

/// Sends an ingest's own deliveries from its invocation, after its answer: what a queue batch does after its claim,
/// without the queue hop in front (no message written, read and deleted on the way to a receiver that answers, and
/// no claim round trip: the ingest's transaction claimed them). What stays pending (a retry, a lane that could not
/// take its deliveries, a D1 failure) is enqueued with its delay; if even that fails, or the invocation is cut off,
/// the deliveries are pending in their organization's object, whose alarm enqueues them once their lease has passed.
pub async fn send_now(env: &Env, claimed: Claimed) {
    // Kept until the sends, their record and any enqueueing are done.
    let _held = claimed.held;
    let config = Config::from_env(env);
    let ids: Vec<DeliveryId> = claimed.rows.iter().map(|d| d.id.clone()).collect();
    let Some(org) = claimed.rows.first().map(|d| d.organization_id.clone()) else { return };
    let mut next = vec![Next::Ack; ids.len()];
    let sent = match store::organization(env, &org) {
        Ok(db) => {
            let rows = claimed.rows.into_iter().map(Some).collect();
            send_claimed(env, &config, &db, rows, &claimed.webhooks, &mut next).await
        }
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        worker::console_error!("sending {} new deliveries failed, enqueueing them: {}", ids.len(), e);
        next.fill(Next::RetryIn(5));
    }
    let later: Vec<(DeliveryId, u64)> = ids
        .into_iter()
        .zip(next)
        .filter_map(|(id, next)| match next {
            Next::Ack => None,
            Next::RetryIn(seconds) => Some((id, seconds)),
        })
        .collect();
    if let Err(e) = fanout::enqueue_after(env, &org, &later).await {
        worker::console_error!("could not enqueue {} deliveries, leaving them to the alarm: {}", later.len(), e);
    }
}

/// A claimed delivery that ends failed without an attempt, and why.
pub type Abandoned = (DeliveryRow, String);

/// Claimed deliveries that may be sent, each with its webhook, and those that may not (webhook gone or no longer
/// taking deliveries), with the reason they end failed without an attempt.
pub fn sendable(
    claimed: Vec<DeliveryRow>,
    webhooks: &[WebhookRow],
) -> (Vec<(DeliveryRow, WebhookRow)>, Vec<Abandoned>) {
    let mut to_send = Vec::with_capacity(claimed.len());
    let mut abandoned = Vec::new();
    for delivery in claimed {
        let webhook =
            webhooks.iter().find(|w| w.id == delivery.webhook_id && w.organization_id == delivery.organization_id);
        match webhook {
            None => abandoned.push((delivery, "webhook deleted".to_string())),
            Some(w) => match w.state().refusal() {
                Some(reason) => abandoned.push((delivery, reason)),
                None => to_send.push((delivery, w.clone())),
            },
        }
    }
    (to_send, abandoned)
}

/// Gives claimed deliveries back (attempt number returned, budget untouched), held by their webhooks' lanes, and
/// wakes each lane, one call per webhook. Answers, per delivery index, whether its lane was woken (if not, its
/// message comes back in a few seconds and routes it again).
async fn to_lanes(
    env: &Env,
    db: &Database,
    laned: &[DeliveryRow],
    now: i64,
) -> Result<Vec<(usize, bool)>, DeliveryError> {
    // All of one organization, the one whose object `db` is.
    let Some(org) = laned.first().map(|d| &d.organization_id) else { return Ok(Vec::new()) };
    deliveries::release_many(db, &laned.iter().collect::<Vec<_>>(), now).await?;
    let mut by_webhook: Vec<(&WebhookId, Vec<usize>)> = Vec::new();
    for (i, d) in laned.iter().enumerate() {
        match by_webhook.iter_mut().find(|(w, _)| *w == &d.webhook_id) {
            Some((_, members)) => members.push(i),
            None => by_webhook.push((&d.webhook_id, vec![i])),
        }
    }
    let calls = by_webhook.iter().map(|(webhook_id, members)| async move {
        let woken = crate::flow::wake(env, org, webhook_id).await;
        if let Err(e) = &woken {
            worker::console_error!("could not wake the lane of {webhook_id}: {e}");
        }
        members.iter().map(|i| (*i, woken.is_ok())).collect::<Vec<_>>()
    });
    Ok(futures_util::future::join_all(calls).await.into_iter().flatten().collect())
}

fn retry_in(message: &RawMessage, seconds: u64) {
    usage::add(|u| u.queue_retries += 1);
    message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(queue_hop(seconds)).build());
}

fn ack(message: &RawMessage) {
    usage::add(|u| u.queue_acks += 1);
    message.ack();
}

/// Both queues land here; the queue's exact name (as configured) says which consumer takes the batch.
pub async fn consume(batch: MessageBatch<serde_json::Value>, env: &Env) {
    let config = Config::from_env(env);
    let queue = batch.queue();
    if queue == config.events_queue {
        consume_events(batch, env, &config).await;
    } else if queue == config.deliveries_queue {
        consume_deliveries(batch, env, &config).await;
    } else {
        worker::console_error!("no consumer for queue {queue:?}; its messages are retried");
        batch.retry_all();
    }
}

/// The deliveries queue: one attempt per message; retries ride on the message's delayed retry, in hops of at most
/// twelve hours. The messages are taken one organization at a time (each organization's deliveries live in its
/// own object), one after another so that the invocation's six connections are never oversubscribed. A platform
/// error retries the messages; the objects keep the truth either way.
async fn consume_deliveries(batch: MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    let before = usage::subrequests(&usage::snapshot());
    take_deliveries(batch, env, config).await;
    let spent = usage::subrequests(&usage::snapshot()).saturating_sub(before);
    usage::add(|u| u.max_consumer_subrequests = u.max_consumer_subrequests.max(spent));
}

/// [`consume_deliveries`]' work.
async fn take_deliveries(batch: MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    // Each organization's messages, each with its deliveries.
    let mut by_org: Vec<(OrganizationId, Vec<MessageOfDeliveries>)> = Vec::new();
    let mut job_messages = Vec::new();
    for message in batch.raw_iter() {
        let parsed = serde_wasm_bindgen::from_value::<DeliveryMessage>(message.body()).ok().and_then(|m| m.parsed());
        if let Some(Carried { organization, deliveries, rounds }) = parsed {
            let carried = MessageOfDeliveries { message, deliveries, rounds };
            match by_org.iter_mut().find(|(o, _)| *o == organization) {
                Some((_, group)) => group.push(carried),
                None => by_org.push((organization, vec![carried])),
            }
        } else if let Ok(m) = serde_wasm_bindgen::from_value::<jobs::JobMessage>(message.body()) {
            job_messages.push((message, m.job));
        } else {
            worker::console_error!("dropping a malformed delivery message");
            ack(&message);
        }
    }
    // Recover and replay steps: one bounded step each.
    for (message, job) in &job_messages {
        match jobs::step(env, job, now_ms()).await {
            Ok(()) => ack(message),
            Err(e) => {
                worker::console_error!("a {:?} step failed, retrying it: {}", job.kind, e);
                retry_in(message, 5);
            }
        }
    }
    // The subrequests left: each organization's share costs its sends plus its own claim and record calls. And the
    // deliveries left: one invocation takes on at most DELIVERIES_PER_INVOCATION.
    let mut calls_left = config.subrequest_budget;
    let mut deliveries_left = DELIVERIES_PER_INVOCATION;
    for (org, group) in by_org {
        let ids: Vec<&DeliveryId> = group.iter().flat_map(|m| &m.deliveries).collect();
        let rounds: Vec<RoundRef> = group.iter().flat_map(|m| m.rounds.iter().cloned()).collect();
        if calls_left < calls_for_deliveries(1, IDS_PER_STATEMENT) || deliveries_left == 0 {
            // Nothing left for this organization: its messages come back at once, untouched.
            group.iter().for_each(|m| retry_in(&m.message, 0));
            continue;
        }
        let budget = deliveries_within_budget(calls_left, IDS_PER_STATEMENT).min(deliveries_left);
        let outcome = match store::organization(env, &org) {
            Ok(db) => process_batch(env, config, &db, &ids, &rounds, budget).await,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(next) => settle(env, &org, &group, &next).await,
            Err(e) => {
                worker::console_error!("delivery batch of {org} failed, retrying its messages: {}", e);
                for m in &group {
                    retry_in(&m.message, 5);
                }
            }
        }
        let taken = ids.len().min(budget);
        deliveries_left -= taken;
        calls_left = calls_left.saturating_sub(calls_for_deliveries(taken as u32, IDS_PER_STATEMENT));
    }
}

/// A deliveries-queue message, the deliveries it carries and the rounds among them.
struct MessageOfDeliveries {
    message: RawMessage,
    deliveries: Vec<DeliveryId>,
    rounds: Vec<RoundRef>,
}

/// What becomes of one message, by what became of its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settlement {
    /// All of its deliveries ask the same: the message is acknowledged or retried whole.
    Whole(Next),
    /// Its deliveries part ways (one sent, another waiting for its retry): these (index in the message, delay)
    /// still wait and go back on the queue in new messages; then the message is acknowledged.
    Split(Vec<(usize, u64)>),
}

/// The settlement of each message of `sizes` deliveries, given `next` (one per delivery, in message order).
fn settlements(sizes: &[usize], next: &[Next]) -> Vec<Settlement> {
    let mut cursor = 0;
    sizes
        .iter()
        .map(|size| {
            let mine = next.get(cursor..cursor + size).unwrap_or_default();
            cursor += size;
            match mine {
                [first, rest @ ..] if rest.iter().all(|n| n == first) => Settlement::Whole(*first),
                [] => Settlement::Whole(Next::Ack),
                _ => Settlement::Split(
                    mine.iter()
                        .enumerate()
                        .filter_map(|(i, n)| match n {
                            Next::RetryIn(seconds) => Some((i, *seconds)),
                            Next::Ack => None,
                        })
                        .collect(),
                ),
            }
        })
        .collect()
}

/// Acknowledges or retries each message by what became of its deliveries ([`settlements`]). The waiting deliveries
/// of split messages go back on the queue in one send for the organization (with their rounds, if they still have
/// no row), and only then are those messages acknowledged; if the send fails, each split message comes back whole (its finished deliveries are then no
/// longer claimable and cost nothing but a look).
async fn settle(env: &Env, org: &OrganizationId, group: &[MessageOfDeliveries], next: &[Next]) {
    let sizes: Vec<usize> = group.iter().map(|m| m.deliveries.len()).collect();
    let mut split = Vec::new();
    let mut waiting: Vec<(DeliveryId, u64)> = Vec::new();
    let mut rounds: Vec<RoundRef> = Vec::new();
    for (MessageOfDeliveries { message, deliveries: ids, rounds: carried }, settlement) in
        group.iter().zip(settlements(&sizes, next))
    {
        match settlement {
            Settlement::Whole(Next::Ack) => ack(message),
            Settlement::Whole(Next::RetryIn(seconds)) => retry_in(message, seconds),
            Settlement::Split(waits) => {
                split.push(message);
                waiting.extend(waits.into_iter().filter_map(|(i, seconds)| Some((ids.get(i)?.clone(), seconds))));
                // A round left untaken goes back with its event, for the next consumer to claim.
                rounds.extend(carried.iter().cloned());
            }
        }
    }
    if split.is_empty() {
        return;
    }
    match fanout::enqueue_waiting(env, org, &waiting, &rounds).await {
        Ok(()) => split.into_iter().for_each(ack),
        Err(e) => {
            worker::console_error!("could not re-enqueue the waiting deliveries of split messages of {org}: {e}");
            split.into_iter().for_each(|message| retry_in(message, 5));
        }
    }
}

/// The JSON text of a message body: a string body is taken as the JSON text itself (byte for byte, the way to send
/// an event whose numbers JavaScript would round); an object is the text `JSON.stringify` gives it.
fn text_of(message: &RawMessage) -> String {
    let body = message.body();
    match body.as_string() {
        Some(text) => text,
        None => js_sys::JSON::stringify(&body).ok().and_then(|s| s.as_string()).unwrap_or_else(|| "null".into()),
    }
}

/// The id of an event the queue delivered without one: derived from the queue message's id, which stays the same
/// when the queue retries the message, so a retried batch finds its events already ingested.
fn id_from_message(queue: &str, message_id: &str) -> EventId {
    EventId::derived(&format!("queue-message\n{queue}\n{message_id}"))
}

thread_local! {
    /// (test fault, message id) pairs a `…-once` test fault has struck.
    static STRUCK_ONCE: RefCell<HashSet<(&'static str, String)>> = RefCell::new(HashSet::new());
}

/// Whether the test fault `fault` is configured and has not struck this message yet (it strikes each message once).
fn fault_once(config: &Config, fault: &'static str, message_id: &str) -> bool {
    config.fault(fault) && STRUCK_ONCE.with(|struck| struck.borrow_mut().insert((fault, message_id.to_string())))
}

/// The events queue: `{ organizationId, type, data, id?, changes? }` from other Workers. A bad message is recorded
/// with its reason and dead-lettered; it never fails the rest of its batch. Good messages are ingested together,
/// one organization at a time.
async fn consume_events(batch: MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    let queue = batch.queue();
    let mut by_org: Vec<(OrganizationId, Vec<(RawMessage, IncomingEvent)>)> = Vec::new();
    for message in batch.raw_iter() {
        let text = text_of(&message);
        match event::parse(&text, Source::Queue, None) {
            Ok(mut incoming) => {
                if incoming.id.is_none() {
                    incoming.id = Some(id_from_message(&queue, &message.id()));
                }
                // A queue event always names its organization (parse requires it for this source).
                let Some(org) = incoming.organization_id.clone() else { continue };
                match by_org.iter_mut().find(|(o, _)| *o == org) {
                    Some((_, group)) => group.push((message, incoming)),
                    None => by_org.push((org, vec![(message, incoming)])),
                }
            }
            Err(e) => refuse_message(env, config, &queue, &message, &text, &e).await,
        }
    }
    for (org, group) in by_org {
        let incoming: Vec<_> = group.iter().map(|(_, e)| e.clone()).collect();
        match fanout::ingest_many(env, &org, &incoming, now_ms()).await {
            Ok(answers) => {
                for ((message, _), answer) in group.iter().zip(answers) {
                    if let Err(refused) = answer {
                        // Refused by the organization's catalogue (an unknown type, data that fails its schema).
                        refuse_message(env, config, &queue, message, &text_of(message), &refused).await;
                    } else if fault_once(config, "retry-event-messages-once", &message.id()) {
                        // Test fault: as if the invocation died after ingesting, the queue delivers it again.
                        usage::add(|u| u.queue_retries += 1);
                        message.retry();
                    } else {
                        ack(message);
                    }
                }
            }
            Err(e) => {
                worker::console_error!("event ingest failed, will retry: {}", e);
                usage::add(|u| u.queue_retries += group.len() as u64);
                group.iter().for_each(|(m, _)| m.retry());
            }
        }
    }
}

/// A bad event message: dead-lettered with its reason, then acknowledged; never acknowledged without its dead
/// letter (the queue delivers it again, and after its last retry moves it to the queue's own dead-letter queue).
async fn refuse_message(env: &Env, config: &Config, queue: &str, message: &RawMessage, text: &str, e: &Invalid) {
    let reason = match &e.field {
        Some(field) => format!("{} ({field})", e.message),
        None => e.message.clone(),
    };
    match dead_letter(env, config, queue, &message.id(), text, &reason).await {
        Ok(()) => ack(message),
        Err(e) => {
            worker::console_error!("could not dead-letter an event message, retrying it: {e}");
            usage::add(|u| u.dead_letters_failed += 1);
            retry_in(message, 5);
        }
    }
}

/// Records a bad event message with its reason (once per message id) and sends it to the events dead-letter queue.
/// An error means neither may have happened: the caller retries the message.
async fn dead_letter(
    env: &Env,
    config: &Config,
    queue: &str,
    message_id: &str,
    text: &str,
    reason: &str,
) -> Result<(), String> {
    worker::console_warn!("dead-lettering an event message: {reason}");
    if fault_once(config, "fail-dead-letters-once", message_id) {
        return Err("test fault: the dead-letter write failed".into());
    }
    let db = store::global(env).map_err(|e| e.to_string())?;
    events::record_dead_letter(&db, queue, message_id, text, reason, now_ms()).await.map_err(|e| e.to_string())?;
    let dlq = env.queue("EVENTS_DLQ").map_err(|e| e.to_string())?;
    usage::add(|u| {
        u.queue_send_calls += 1;
        u.queue_messages_sent += 1;
    });
    dlq.send(serde_json::json!({ "message": text, "reason": reason })).await.map_err(|e| e.to_string())
}

/// Every minute: prune what D1 keeps across organizations (dead letters, expired portal sessions) past the retention
/// window. Each organization's object looks after its own deliveries and rows (its alarm).
pub async fn sweep(env: &Env) {
    let config = Config::from_env(env);
    let now = now_ms();
    let Ok(db) = store::global(env) else { return };
    let retention_ms = i64::from(config.retention_days) * 86_400_000;
    if let Err(e) = deliveries::prune_global(&db, now - retention_ms, deliveries::PRUNE_LIMIT).await {
        worker::console_error!("prune failed: {}", e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_from_a_queue_message_is_stable_and_well_formed() {
        let a = id_from_message("edgehook-events", "0f1e2d");
        assert_eq!(a, id_from_message("edgehook-events", "0f1e2d"));
        assert_ne!(a, id_from_message("edgehook-events", "0f1e2e"));
        assert!(a.as_str().starts_with(EventId::PREFIX) && EventId::parse(a.as_str()).is_some());
    }
}

#[cfg(test)]
mod taken_tests {
    use super::{taken_within, RoundRef};
    use crate::domain::ids::DeliveryId;

    #[test]
    fn a_budget_never_takes_part_of_a_round() {
        let ids: Vec<DeliveryId> = ["dlv_aa01", "dlv_aa02", "dlv_aa03", "dlv_x1", "dlv_bb01", "dlv_bb02", "dlv_x2"]
            .iter()
            .map(|id| DeliveryId::parse(id).unwrap())
            .collect();
        let ids: Vec<&DeliveryId> = ids.iter().collect();
        let rounds = [RoundRef { position: 1, stem: "aa".into() }, RoundRef { position: 2, stem: "bb".into() }];
        assert_eq!(taken_within(&ids, &rounds, 100), 7);
        assert_eq!(taken_within(&ids, &rounds, 4), 4, "a cut between rounds stands");
        assert_eq!(taken_within(&ids, &rounds, 5), 4, "a cut through a round leaves it whole for later");
        assert_eq!(taken_within(&ids, &rounds, 2), 0, "a first round that does not fit waits whole");
        assert_eq!(taken_within(&ids, &[], 5), 5, "deliveries with rows are taken one by one");
    }
}

#[cfg(test)]
mod settlement_tests {
    use super::{settlements, Next, Settlement};

    #[test]
    fn a_message_whose_deliveries_agree_is_settled_whole_and_one_that_parts_ways_is_split() {
        use Next::{Ack, RetryIn};
        let next = [Ack, RetryIn(30), RetryIn(30), Ack, RetryIn(0), RetryIn(60), Ack];
        assert_eq!(
            settlements(&[1, 2, 4], &next),
            vec![
                Settlement::Whole(Ack),
                Settlement::Whole(RetryIn(30)),
                // Sent, back now (past the budget), waiting a minute for its retry, sent.
                Settlement::Split(vec![(1, 0), (2, 60)]),
            ]
        );
    }

    #[test]
    fn deliveries_missing_from_the_outcome_leave_their_message_acknowledged_not_out_of_bounds() {
        assert_eq!(settlements(&[2], &[]), vec![Settlement::Whole(Next::Ack)]);
    }
}
