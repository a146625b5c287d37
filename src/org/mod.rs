//! One SQLite-backed Durable Object per organization (`Organization`, addressed by `idFromName(organization id)`):
//! it holds the organization's webhooks, events, deliveries, attempts and settings, so capacity grows with the
//! number of organizations instead of sharing one D1 database among all of them.
//!
//! The Worker reaches it through `store::Database::organization`: each store call is one Workers RPC,
//! `batch(organization, statements)` (`src/entry.mjs` serves it), carrying a batch of statements, which the object
//! runs in one `transactionSync` (all apply or none). Being the only writer of its
//! data, the object serialises every claim and fence without locks.
//!
//! Its alarm is its own housekeeping, in place of a global cron sweep: it re-enqueues pending deliveries whose queue
//! message was lost, deletes what is older than the retention window, and schedules itself for the next time either
//! has work (or not at all when the organization holds nothing). The handler re-arms itself before it works, so an
//! alarm that fails is tried again a minute later instead of being dropped after the platform's retries.

pub mod schema;

use std::cell::{Cell, RefCell};

use serde::Deserialize;
use worker::js_sys;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, State};

use crate::config::Config;
use crate::delivery::fanout;
use crate::domain::ids::{DeliveryId, OrganizationId};
use crate::domain::limits::sweep_within_budget;
use crate::platform::{now_ms, random};
use crate::store::sql::{describe, execute_local, JsStatement, ORGANIZATION_HEADER};
use crate::store::{batch, deliveries, first, rows_of, run, text, Database, StoreError};

#[durable_object]
pub struct Organization {
    state: State,
    env: Env,
    /// The schema was brought up to date since this instance started.
    migrated: Cell<bool>,
    /// The organization this object holds (from its first request, or its `organization` table).
    id: RefCell<Option<OrganizationId>>,
    /// When the alarm is set for, as far as this instance knows (`Unknown` until it asks storage once).
    alarm: Cell<Alarm>,
}

impl DurableObject for Organization {
    fn new(state: State, env: Env) -> Self {
        Organization {
            state,
            env,
            migrated: Cell::new(false),
            id: RefCell::new(None),
            alarm: Cell::new(Alarm::Unknown),
        }
    }

    /// The object's HTTP face, kept for a Worker deployed before [`Organization::rpc_batch`] (a deploy window):
    /// `POST` with the organization in `x-edgehook-organization` and the statements as JSON.
    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() != Method::Post {
            return Response::error("method not allowed", 405);
        }
        let org = req.headers().get(ORGANIZATION_HEADER)?.unwrap_or_default();
        match self.batch(&org, &js_sys::JsString::from(req.text().await?)).await {
            Ok(text) => Response::ok(text),
            Err(BatchRefused::Bad(message)) => Response::error(message, 400),
            Err(BatchRefused::Failed(message)) => Response::error(message, 500),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let now = now_ms();
        let every = self.every();
        // Re-armed before the work: if the work fails, the next try is a minute away, whatever the platform's own
        // retries of a failed alarm do.
        self.set_alarm(now + every).await?;
        if let Err(e) = self.migrate().await {
            worker::console_error!("organization alarm: {}", e);
            return Response::ok("");
        }
        let org = match self.stored_id().await {
            Ok(Some(org)) => org,
            Ok(None) => {
                // Never used: nothing to look after.
                self.delete_alarm().await?;
                return Response::ok("");
            }
            Err(e) => {
                worker::console_error!("organization alarm: {}", e);
                return Response::ok("");
            }
        };
        match self.housekeeping(&org, now).await {
            Ok(Some(at)) => self.set_alarm(at.max(now + every)).await?,
            Ok(None) => self.delete_alarm().await?,
            Err(e) => worker::console_error!("organization {org}: housekeeping failed, trying again in a minute: {e}"),
        }
        Response::ok("")
    }
}

/// Workers RPC methods, served through the `Organization` class of `src/entry.mjs` (workers-rs serves only
/// `fetch`, `alarm` and the WebSocket handlers itself).
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
impl Organization {
    /// `batch(organization, statements)`: runs the statements (JSON of [`crate::store::sql::WireStatement`]s) in one
    /// transaction and answers their results as JSON text; a refusal rejects with an `Error` whose message says why.
    /// One RPC in place of an HTTP request to the object: no `Request`, headers or body streams on either side.
    #[wasm_bindgen(js_name = batch)]
    pub async fn rpc_batch(&self, organization: String, statements: js_sys::JsString) -> Result<String, JsValue> {
        self.batch(&organization, &statements).await.map_err(|refused| {
            let (BatchRefused::Bad(message) | BatchRefused::Failed(message)) = refused;
            js_sys::Error::new(&message).into()
        })
    }
}

/// Why the object did not run a batch.
enum BatchRefused {
    /// The call itself is malformed (no organization, statements that do not parse).
    Bad(String),
    /// Opening the object or running the statements failed.
    Failed(String),
}

impl Organization {
    /// Runs one batch of statements for `organization` in one transaction: the results as JSON text.
    async fn batch(&self, organization: &str, statements: &js_sys::JsString) -> Result<String, BatchRefused> {
        let Some(org) = OrganizationId::parse(organization) else {
            return Err(BatchRefused::Bad("no organization".into()));
        };
        let statements = JsStatement::parse_all(statements).map_err(BatchRefused::Bad)?;
        self.open(&org).await.map_err(|e| BatchRefused::Failed(e.0))?;
        let answer = execute_local(&self.storage(), statements).map_err(|e| BatchRefused::Failed(describe(&e)))?;
        if answer.rows_written > 0 {
            self.arm().await.map_err(|e| BatchRefused::Failed(e.to_string()))?;
        }
        Ok(answer.text)
    }

    fn storage(&self) -> JsValue {
        let storage = self.state.storage();
        let raw: &JsValue = storage.as_raw().as_ref();
        raw.clone()
    }

    /// How often, at most, the alarm runs while it has work (milliseconds).
    fn every(&self) -> i64 {
        i64::from(Config::from_env(&self.env).housekeeping_seconds) * 1000
    }

    fn local(&self) -> Database {
        Database::local(self.storage())
    }

    /// Brings the schema up to date (once per instance) and makes sure this object holds `org` and only `org`.
    async fn open(&self, org: &OrganizationId) -> Result<(), StoreError> {
        self.migrate().await?;
        if self.id.borrow().as_ref() == Some(org) {
            return Ok(());
        }
        match self.stored_id().await? {
            Some(stored) if &stored != org => {
                return Err(StoreError(format!("this object holds {stored}, not {org}")));
            }
            Some(_) => {}
            None => {
                let db = self.local();
                run(db.prepare("INSERT OR IGNORE INTO organization (id) VALUES (?1)").bind(&[text(org)])?).await?;
            }
        }
        *self.id.borrow_mut() = Some(org.clone());
        Ok(())
    }

    async fn stored_id(&self) -> Result<Option<OrganizationId>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let row: Option<Row> = first(self.local().prepare("SELECT id FROM organization LIMIT 1")).await?;
        Ok(row.and_then(|r| OrganizationId::parse(&r.id)))
    }

    /// Brings the schema to [`schema::LATEST`], one version per transaction.
    async fn migrate(&self) -> Result<(), StoreError> {
        if self.migrated.get() {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Version {
            version: i64,
        }
        let db = self.local();
        let results = batch(&db, vec![db.prepare(schema::VERSION_TABLE), db.prepare(schema::READ_VERSION)]).await?;
        let from = rows_of::<Version>(&results, 1)?.first().map_or(0, |v| v.version);
        for (version, sql) in schema::steps(schema::VERSIONS, from) {
            batch(&db, vec![db.prepare(sql), db.prepare(schema::record_version(version))]).await?;
        }
        self.migrated.set(true);
        Ok(())
    }

    /// After a write: makes sure the alarm comes within one interval, so whatever the write left pending (a retry,
    /// a claim that may be cut off) is looked after even if its queue message is lost. The alarm itself then sets
    /// the precise next time. One `setAlarm` per interval at most while writes go on.
    async fn arm(&self) -> worker::Result<()> {
        let latest = now_ms() + self.every();
        let current = match self.alarm.get() {
            Alarm::At(at) => Some(at),
            Alarm::Unset => None,
            Alarm::Unknown => self.state.storage().get_alarm().await?,
        };
        match current {
            Some(at) if at <= latest => self.alarm.set(Alarm::At(at)),
            _ => self.set_alarm(latest).await?,
        }
        Ok(())
    }

    /// Sets the alarm. What this instance knows changes before the call goes out, so a request that writes while it
    /// is on its way sees the new time and brings it forward if it must (storage applies the calls in order).
    async fn set_alarm(&self, at: i64) -> worker::Result<()> {
        self.alarm.set(Alarm::At(at));
        self.state.storage().set_alarm((at - now_ms()).max(0)).await
    }

    async fn delete_alarm(&self) -> worker::Result<()> {
        self.alarm.set(Alarm::Unset);
        self.state.storage().delete_alarm().await
    }

    /// Re-enqueues lost deliveries and prunes old rows; answers when there is more to do (`None`: nothing held).
    async fn housekeeping(&self, org: &OrganizationId, now: i64) -> Result<Option<i64>, StoreError> {
        let config = Config::from_env(&self.env);
        let db = self.local();
        let limit = deliveries::SWEEP_LIMIT.min(sweep_within_budget(config.subrequest_budget));
        let requeue_wait_ms = deliveries::REQUEUE_WAIT_INTERVALS * self.every();
        deliveries::write_lost_rounds(&db, now).await?;
        deliveries::find_lost_sends(&db, now).await?;
        let overdue =
            deliveries::take_overdue(&db, now, now - deliveries::OVERDUE_MS, now - requeue_wait_ms, limit).await?;
        if !overdue.is_empty() && config.fault("stall-alarm-after-take") {
            // Test fault: the alarm stops between marking what it took and sending it, as if the runtime died there
            // (the test kills it now). The next look after the wait must find them again.
            worker::console_log!("organization {org}: test fault, stalling after taking {} deliveries", overdue.len());
            worker::Delay::from(core::time::Duration::from_secs(600)).await;
        }
        if !overdue.is_empty() {
            worker::console_log!("organization {org}: re-enqueueing {} overdue deliveries", overdue.len());
            let interval_seconds = u64::from(config.housekeeping_seconds);
            let delayed: Vec<(DeliveryId, u64)> = overdue
                .into_iter()
                .map(|o| {
                    let spread = f64::from(u16::from_le_bytes(random::<2>())) / f64::from(u16::MAX);
                    let delay = deliveries::requeue_delay_seconds(o.lost_attempts, interval_seconds, spread);
                    (o.id, delay)
                })
                .collect();
            if let Err(e) = fanout::enqueue_after(&self.env, org, &delayed).await {
                worker::console_error!("organization {org}: could not enqueue overdue deliveries: {e}");
            }
        }
        let retention_ms = i64::from(config.retention_days) * 86_400_000;
        deliveries::prune(&db, now, now - retention_ms, deliveries::PRUNE_LIMIT).await?;
        deliveries::next_housekeeping(&db, retention_ms, requeue_wait_ms).await
    }
}

/// The alarm as an instance knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alarm {
    Unknown,
    Unset,
    At(i64),
}
