//! Each webhook's lane: a Durable Object (`WebhookLane`, one per webhook, named by its id) that sends the webhook's
//! deliveries when the consumer should not send them itself, because the webhook has a rate limit, its circuit is
//! not closed, or its attempts failed or were slow in the last minutes (`WebhookRow::needs_lane`). Healthy
//! webhooks never touch it: the consumer's happy path makes no call to a Durable Object.
//!
//! A webhook not known to answer quickly (new, or idle for an hour) also starts here; once the lane sees a quick
//! success, it puts the rest of its line back on the queue for the consumer to send.
//!
//! The consumer gives a claimed delivery back (its attempt number returned, its budget untouched), marked held by
//! the lane, and wakes the lane. The line lives in the organization's object, the source of truth: the pending
//! deliveries the lane holds, oldest first (`deliveries::held`), and so is the breaker (the webhook's row, restored
//! by a lane that starts), with the time of its last start under a rate limit. The lane's own storage holds only
//! which webhook of which organization it paces; in memory it keeps the rate limiter's last second and its
//! concurrency. It works through the line in its alarm: a few at a time, no more than the rate limit
//! lets start in any second, none while the circuit is open and one probe when the cool-down ends
//! (`domain::flow`). Each round claims, sends and records exactly as the consumer does (the same fenced claim, FIFO
//! gate and attempt transaction), and a failed attempt's retry goes back on the queue with its delay. A claim ends
//! a delivery's hold; nothing is only in the lane, and an evicted or restarted lane reads its line again.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::{durable_object, js_sys, DurableObject, Env, Method, Request, RequestInit, Response, State};

use crate::config::Config;
use crate::delivery::{attempt, fanout, sendable, DeliveryError};
use crate::domain::flow::{pick, Breaker, CircuitState, Concurrency, Limiter, Load, Observed, LANE_ROUND};
use crate::domain::ids::{DeliveryId, OrganizationId, WebhookId};
use crate::platform::now_ms;
use crate::store::{self, deliveries, webhooks, Database};

/// One alarm invocation works this long at most, then hands on to the next (a fresh subrequest budget).
const SLICE_MS: i64 = 25_000;
/// A wait this short is slept inside the alarm rather than scheduled as another one.
const SLEEP_AT_MOST_MS: i64 = 2_000;
/// A probe's result is given up this long after its send's timeout.
const PROBE_MARGIN_MS: i64 = 5_000;
/// Subrequests one round may make besides its sends: the webhook read, the line's read, the claim, the release of
/// what it could not claim, the rate limit's grant time, the record, the retries' enqueue, the circuit's write, and
/// an operational notice's subscriber read and enqueue.
const CALLS_PER_ROUND: u32 = 10;

/// A wake-up: the webhook whose deliveries the consumer just gave to the lane.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wake {
    organization_id: String,
    webhook_id: String,
}

struct Lane {
    loaded: bool,
    organization_id: Option<OrganizationId>,
    webhook_id: Option<WebhookId>,
    /// Restored from the webhook's row on the instance's first round (`restored`), written back there when it
    /// changes.
    breaker: Breaker,
    /// Whether the breaker and the rate limiter were restored from the organization's object yet.
    restored: bool,
    limiter: Limiter,
    /// How many sends run at once (additive increase, multiplicative decrease; starts at two again after an
    /// eviction).
    concurrency: Concurrency,
    running: bool,
    /// Woken since the current run began (or by an alarm that found a run under way): the run may have read the
    /// line before the new deliveries joined it, so another run follows at once.
    woken: bool,
}

#[durable_object]
pub struct WebhookLane {
    state: State,
    env: Env,
    lane: RefCell<Lane>,
}

/// What a send showed about the endpoint's capacity: no answer in time, no connection, or a 429 or 503 is congestion.
fn load(result: &crate::delivery::send::SendResult) -> Load {
    match result.status_code {
        _ if result.succeeded() => Load::Served,
        None | Some(429) | Some(503) => Load::Congested,
        Some(_) => Load::Refused,
    }
}

fn observed(result: &crate::delivery::send::SendResult) -> Observed {
    if result.succeeded() {
        Observed::Success
    } else if result.status_code.is_some() {
        Observed::Failed
    } else {
        Observed::Unreachable
    }
}

impl DurableObject for WebhookLane {
    fn new(state: State, env: Env) -> Self {
        let cooldown = i64::from(Config::from_env(&env).circuit_cooldown_seconds) * 1000;
        let lane = Lane {
            loaded: false,
            organization_id: None,
            webhook_id: None,
            breaker: Breaker::new(cooldown),
            restored: false,
            limiter: Limiter::default(),
            concurrency: Concurrency::default(),
            running: false,
            woken: false,
        };
        WebhookLane { state, env, lane: RefCell::new(lane) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() != Method::Post {
            return Response::error("method not allowed", 405);
        }
        let Ok(wake) = req.json::<Wake>().await else { return Response::error("bad wake-up", 400) };
        self.load().await?;
        self.wake(wake).await?;
        Response::from_json(&serde_json::json!({ "woken": true }))
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.load().await?;
        {
            let mut lane = self.lane.borrow_mut();
            if lane.running {
                // Another alarm is mid-run: it runs again when it ends.
                lane.woken = true;
                return Response::ok("");
            }
            lane.running = true;
            lane.woken = false;
        }
        let next = self.run().await;
        let woken = {
            let mut lane = self.lane.borrow_mut();
            lane.running = false;
            std::mem::take(&mut lane.woken)
        };
        let now = now_ms();
        let next = match next {
            Ok(next) => next,
            Err(e) => {
                worker::console_error!("lane round failed, trying again in 5 s: {e}");
                Some(now + 5_000)
            }
        };
        // Deliveries given to the lane while the last round was finishing would otherwise wait for nothing.
        let next = if woken { Some(next.map_or(now, |at| at.min(now))) } else { next };
        if let Some(at) = next {
            self.state.storage().set_alarm((at - now).max(0)).await?;
        }
        Response::ok("")
    }
}

impl WebhookLane {
    /// Reads the stored identity (which webhook of which organization) once per instance.
    async fn load(&self) -> worker::Result<()> {
        if self.lane.borrow().loaded {
            return Ok(());
        }
        let storage = self.state.storage();
        let webhook_id: Option<String> = storage.get("webhook").await?;
        let organization_id: Option<String> = storage.get("organization").await?;
        let mut lane = self.lane.borrow_mut();
        if lane.loaded {
            return Ok(());
        }
        lane.loaded = true;
        lane.webhook_id = webhook_id.as_deref().and_then(WebhookId::parse);
        lane.organization_id = organization_id.as_deref().and_then(OrganizationId::parse);
        Ok(())
    }

    /// Learns its webhook the first time, and makes sure the alarm will run.
    async fn wake(&self, wake: Wake) -> worker::Result<()> {
        let storage = self.state.storage();
        let first_time = {
            let mut lane = self.lane.borrow_mut();
            // Before any await: a run under way (or one about to start) sees it and runs again.
            lane.woken = true;
            let first_time = lane.webhook_id.is_none();
            if first_time {
                lane.webhook_id = WebhookId::parse(&wake.webhook_id);
                lane.organization_id = OrganizationId::parse(&wake.organization_id);
            }
            first_time
        };
        if first_time {
            storage.put("webhook", &wake.webhook_id).await?;
            storage.put("organization", &wake.organization_id).await?;
        }
        // An alarm due later (a rate-limit wait, a cool-down) stands; none, or one that is due and has not run (a
        // restart can leave one behind), is set to now.
        if !self.lane.borrow().running && storage.get_alarm().await?.is_none_or(|at| at <= now_ms()) {
            storage.set_alarm(0).await?;
        }
        Ok(())
    }

    /// Writes the breaker to the webhook's row in the organization's object when it changed from `before`.
    async fn note_circuit(&self, db: &Database, before: CircuitState) -> Result<(), DeliveryError> {
        let (breaker, webhook_id) = {
            let lane = self.lane.borrow();
            (lane.breaker.clone(), lane.webhook_id.clone())
        };
        let Some(id) = webhook_id else { return Ok(()) };
        let state = breaker.state;
        if state.name() == before.name() && state.times() == before.times() {
            return Ok(());
        }
        worker::console_log!("webhook {id}: circuit {}", state.name());
        webhooks::set_circuit(db, &id, &breaker).await?;
        Ok(())
    }

    /// Rounds of sends from the line until nothing may start now; answers when to run again.
    async fn run(&self) -> Result<Option<i64>, DeliveryError> {
        let config = Config::from_env(&self.env);
        let Some(webhook_id) = self.lane.borrow().webhook_id.clone() else { return Ok(None) };
        let Some(org) = self.lane.borrow().organization_id.clone() else { return Ok(None) };
        let db = store::organization(&self.env, &org)?;
        let started = now_ms();
        let mut calls = 0u32;
        loop {
            let now = now_ms();
            // At least one round per invocation, however small the budget, so the lane always makes progress.
            let round_calls = CALLS_PER_ROUND + LANE_ROUND as u32;
            if calls > 0 && (now - started > SLICE_MS || calls + round_calls > config.subrequest_budget) {
                return Ok(Some(now));
            }
            calls += 1;
            let Some(webhook) = webhooks::get_many(&db, &[&webhook_id]).await?.pop() else {
                // Deleted: its pending deliveries were stopped with it, and nothing is held any more.
                return Ok(None);
            };
            // The breaker and the rate limit's last window as the organization's object keeps them, once per instance.
            {
                let mut lane = self.lane.borrow_mut();
                if !lane.restored {
                    lane.restored = true;
                    lane.breaker = webhook.breaker(i64::from(config.circuit_cooldown_seconds) * 1000);
                    lane.limiter = Limiter::restored(now, webhook.rate_last_grant_at, webhook.rate_limit());
                }
            }
            if !webhook.needs_lane(now) {
                // Quick again, no limit, circuit closed: the line goes back to the consumer's path.
                let ids = deliveries::unhold_all(&db, &webhook_id).await?;
                fanout::enqueue(&self.env, &org, &ids).await?;
                return Ok(None);
            }
            calls += 1;
            let line = deliveries::held(&db, &webhook_id, LANE_ROUND).await?;
            if line.is_empty() {
                return Ok(None);
            }
            let before = self.lane.borrow().breaker.state;
            let decision = {
                let mut guard = self.lane.borrow_mut();
                let lane = &mut *guard;
                let p = pick(now, line.len(), 0, webhook.rate_limit(), &mut lane.breaker, &mut lane.limiter);
                if p.start == 0 {
                    Err(p.wake_at)
                } else {
                    Ok((line[..p.start].to_vec(), p.probe))
                }
            };
            self.note_circuit(&db, before).await?;
            let (chosen, probe) = match decision {
                Ok(chosen) => chosen,
                Err(wake_at) => {
                    let at = wake_at.unwrap_or(now + 1_000);
                    if at - now <= SLEEP_AT_MOST_MS && at - started <= SLICE_MS {
                        worker::Delay::from(core::time::Duration::from_millis((at - now).max(1) as u64)).await;
                        continue;
                    }
                    return Ok(Some(at));
                }
            };
            let ids: Vec<&DeliveryId> = chosen.iter().collect();
            calls += 1;
            // `at_once` at a time: the last of the round may start after the others, one after another.
            let at_once = self.lane.borrow().concurrency.limit();
            let lease = config.lease_for_sends(now, ids.len().div_ceil(at_once));
            // The claim ends each claimed delivery's hold.
            let claimed = deliveries::claim_many(&db, &ids, now, lease).await?;
            let granted_at = now_ms();
            // Not claimable (finished, in flight elsewhere, not due): whoever holds it carries it on; the lane lets
            // it go.
            let unclaimed: Vec<&DeliveryId> =
                ids.iter().zip(&claimed).filter(|(_, c)| c.is_none()).map(|(id, _)| *id).collect();
            if !unclaimed.is_empty() {
                calls += 1;
                deliveries::unhold(&db, &unclaimed).await?;
            }
            let claimed: Vec<_> = claimed.into_iter().flatten().collect();
            if webhook.rate_limit().is_some() && !claimed.is_empty() {
                calls += 1;
                webhooks::note_rate_grant(&db, &webhook_id, granted_at).await?;
            }
            {
                let mut lane = self.lane.borrow_mut();
                lane.limiter.grant(granted_at, claimed.len());
                if probe && !claimed.is_empty() {
                    let deadline = granted_at + i64::from(config.delivery_timeout_seconds) * 1000 + PROBE_MARGIN_MS;
                    lane.breaker.probing(deadline);
                }
            }
            if claimed.is_empty() {
                continue;
            }
            let (to_send, abandoned) = sendable(claimed, std::slice::from_ref(&webhook));
            deliveries::abandon_many(&db, &abandoned, granted_at).await?;
            calls += to_send.len() as u32 + 1;
            let attempted = attempt::attempt_all(&self.env, &config, &to_send, None, at_once).await?;
            let before = self.lane.borrow().breaker.state;
            let mut retries = Vec::new();
            let mut loads = Vec::with_capacity(attempted.len());
            for ((delivery, _), a) in to_send.iter().zip(attempted) {
                let Some(a) = a else { continue };
                loads.push(load(&a.result));
                self.lane.borrow_mut().breaker.observe(now_ms(), observed(&a.result), probe);
                if let (true, Some(seconds)) = (a.applied, a.outcome.retry_in) {
                    retries.push((delivery.id.clone(), seconds));
                }
            }
            self.lane.borrow_mut().concurrency.observe(loads);
            self.note_circuit(&db, before).await?;
            if !retries.is_empty() {
                calls += 1;
                fanout::enqueue_after(&self.env, &org, &retries).await?;
            }
        }
    }
}

/// Wakes a webhook's lane after its claimed deliveries were given back and marked held by it
/// ([`deliveries::release_many`]): the lane reads them from the organization's object.
pub async fn wake(env: &Env, org: &OrganizationId, webhook_id: &WebhookId) -> Result<(), DeliveryError> {
    let lane_error = |e: worker::Error| DeliveryError::Lane(e.to_string());
    let namespace = env.durable_object("LANES").map_err(lane_error)?;
    let stub = namespace.id_from_name(webhook_id.as_str()).and_then(|id| id.get_stub()).map_err(lane_error)?;
    let body = serde_json::to_string(&Wake { organization_id: org.to_string(), webhook_id: webhook_id.to_string() })
        .map_err(|e| DeliveryError::Lane(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(js_sys::JsString::from(body).into()));
    let request = Request::new_with_init("https://lane/wake", &init).map_err(lane_error)?;
    crate::usage::add(|u| u.lane_calls += 1);
    let response = stub.fetch_with_request(request).await.map_err(lane_error)?;
    if response.status_code() != 200 {
        return Err(DeliveryError::Lane(format!("lane answered {}", response.status_code())));
    }
    Ok(())
}
