//! The `deliveries` and `attempts` tables: delivery state (D1 is its source of truth), the attempt log, the
//! sweeper's queries and the statistics.

use super::{Database, Executed, ListPage, PageAt, Statement};
use serde::Deserialize;

use crate::domain::flow::{BREAKER_MIN_ATTEMPTS, BREAKER_WINDOW_MS};
use crate::domain::ids::{DeliveryId, EventId, OrganizationId, WebhookId};
use crate::domain::limits::D1_MAX_PARAMETERS;
use crate::domain::model::{flag, DeliveryStatus};

use super::events::{fanout_statements, outcomes, per_row_statements, EventInsert, Guard, RoundRef};
use super::webhooks::{self, WebhookRow};
use super::{
    batch, delivery_ids, first, int, opt_int, opt_text, placeholders, rows, rows_of, run, select_by_ids, text,
    StoreError, IDS_PER_STATEMENT, OBJECT_ORGANIZATION,
};

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub organization_id: OrganizationId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub body: String,
    pub status: DeliveryStatus,
    /// Attempts started so far; the number of the one in flight, which fences its result.
    pub attempts: i64,
    /// `attempts` when the current attempt chain began (0, or when a recover restarted it): the retry budget counts
    /// from here.
    #[serde(default)]
    pub chain_start: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    /// While an attempt is in flight: until when it holds the delivery.
    pub lease_until: Option<i64>,
    #[serde(deserialize_with = "flag")]
    pub is_test: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// How many attempts in a row, up to the one this claim started, ended without a result: the claim found the
    /// previous attempt's lease still set (its invocation was lost). See [`LOST_ATTEMPTS_LIMIT`].
    #[serde(default)]
    pub lost_attempts: i64,
    /// Its row is not written yet: a delivery of its ingest's round (schema v22), which the record of its first
    /// attempt writes (or, before any other change of its state, [`write_unwritten`]). Never read from a row.
    #[serde(skip)]
    pub unwritten: bool,
    /// For a delivery of its ingest's round that the ingest sends itself: the round as the ingest wrote it
    /// (`events.round`, its text), so the record of its first attempt can write the round whole where it is unchanged
    /// ([`round_success_statements`]). Never read from a row.
    #[serde(skip)]
    pub ingest_round: Option<std::rc::Rc<str>>,
}

#[cfg(test)]
impl DeliveryRow {
    /// Delivery `id` of webhook `webhook` of event `evt_1`, pending with its first attempt claimed (tests).
    pub(crate) fn sample(id: &str, webhook: &str) -> DeliveryRow {
        DeliveryRow {
            id: DeliveryId::parse(id).unwrap(),
            organization_id: OrganizationId::parse("org_a").unwrap(),
            webhook_id: WebhookId::parse(webhook).unwrap(),
            event_id: EventId::parse("evt_1").unwrap(),
            event_type: "lead.created".into(),
            body: r#"{"id":"evt_1"}"#.into(),
            status: DeliveryStatus::Pending,
            attempts: 1,
            chain_start: 0,
            last_status_code: None,
            last_error: None,
            next_attempt_at: None,
            lease_until: None,
            is_test: false,
            created_at: 0,
            updated_at: 0,
            lost_attempts: 0,
            unwritten: false,
            ingest_round: None,
        }
    }
}

/// A delivery whose last attempts all ended without a result (their invocation crashed, was killed or went over
/// a limit) this many times in a row is not sent again: it ends failed with the reason. Something about it may be
/// what takes its invocation down, and every attempt would take the deliveries beside it down too. One kill of the
/// runtime loses an attempt once; the sweep spreads twice-lost deliveries over an interval (see
/// [`requeue_delay_seconds`]) so that ones lost beside such a delivery do not keep meeting it.
pub const LOST_ATTEMPTS_LIMIT: i64 = 3;

/// A claim's update of the count of attempts lost in a row: one more when the previous claim's lease is still set
/// (its result never came; `lease_until` is the row's value before the update). A result ends the count (the
/// record sets it to 0); a delivery given back unsent to its lane keeps it.
/// A delivery's lost attempts once the claim at hand counts the last one as lost if its lease is still set: what the
/// claim writes and what the alarm's overdue search reports.
macro_rules! lost_counted {
    () => {
        "lost_attempts + (lease_until IS NOT NULL)"
    };
}

const COUNT_LOST: &str = concat!("lost_attempts = ", lost_counted!());

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct AttemptRow {
    pub id: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    /// JSON `[[name, value], …]` as sent (see `delivery::attempt::headers_for_log`).
    pub request_headers: Option<String>,
    /// The body sent, when it was not the delivery's own (a transformation made it; schema v13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
}

pub(crate) const COLUMNS: &str =
    "id, organization_id, webhook_id, event_id, event_type, body, status, attempts, chain_start, last_status_code, \
    last_error, next_attempt_at, lease_until, is_test, created_at, updated_at, lost_attempts";

/// One delivery of one of the organization's webhooks.
pub async fn get_scoped(
    db: &Database,
    org: &OrganizationId,
    webhook_id: &WebhookId,
    id: &DeliveryId,
) -> Result<Option<DeliveryRow>, StoreError> {
    first(
        db.prepare(format!(
            "SELECT {COLUMNS} FROM deliveries WHERE organization_id = ?1 AND webhook_id = ?2 AND id = ?3"
        ))
        .bind(&[text(org), text(webhook_id), text(id)])?,
    )
    .await
}

/// Takes the right to make the next attempt of each delivery: counts the attempt and leases the delivery until
/// `lease_until`, only if it is pending, due and not leased to an attempt in flight. At most one attempt runs per
/// delivery, however many queue messages, sweeps or manual retries arrive for it. One round trip for all ids; the
/// answers come back in the ids' order (a repeated id is claimed once).
pub async fn claim_many(
    db: &Database,
    ids: &[&DeliveryId],
    now: i64,
    lease_until: i64,
) -> Result<Vec<Option<DeliveryRow>>, StoreError> {
    let statements = claim_statements(db, ids, now, lease_until)?;
    let results = batch(db, statements).await?;
    claimed_in(&results, 0..results.len(), ids)
}

/// [`claim_many`] and, in the same round trip, the webhooks of those deliveries (the consumer's claim: one D1 call
/// before the sends instead of two). The deliveries of `rounds` (each an event's row and its deliveries' stem: a batch
/// ingest's rounds, schema v22) have no row: each round is claimed whole by its event's row, once, if none of its
/// deliveries has a row yet, and its deliveries come back as their ingest would have written them, claimed (unwritten
/// until their record).
pub async fn claim_with_webhooks(
    db: &Database,
    ids: &[&DeliveryId],
    rounds: &[&RoundRef],
    now: i64,
    lease_until: i64,
) -> Result<(Vec<Option<DeliveryRow>>, Vec<WebhookRow>), StoreError> {
    let mut statements = claim_statements(db, ids, now, lease_until)?;
    let claims = 0..statements.len();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let binds: Vec<_> = chunk.iter().map(text).collect();
        statements.push(db.prepare(webhooks::of_deliveries_sql(chunk.len())).bind(&binds)?);
    }
    let hooks_at = claims.end..statements.len();
    let rounds_at = statements.len();
    for chunk in rounds.chunks(ROUNDS_PER_CLAIM) {
        let mut binds = vec![int(lease_until)];
        for round in chunk {
            binds.extend([int(round.position), text(&round.stem)]);
        }
        statements.push(db.prepare(claim_rounds_sql(chunk.len())).bind(&binds)?);
        let positions: Vec<_> = chunk.iter().map(|round| int(round.position)).collect();
        statements.push(db.prepare(webhooks::of_rounds_sql(chunk.len())).bind(&positions)?);
    }
    let results = batch(db, statements).await?;
    let mut hooks: Vec<WebhookRow> = Vec::new();
    let round_hooks = (rounds_at..results.len()).skip(1).step_by(2);
    for at in hooks_at.chain(round_hooks) {
        for row in rows_of::<WebhookRow>(&results, at)? {
            if !hooks.iter().any(|w| w.id == row.id) {
                hooks.push(row);
            }
        }
    }
    let mut claimed = claimed_in(&results, claims, ids)?;
    for at in (rounds_at..results.len()).step_by(2) {
        for round in rows_of::<OpenRound>(&results, at)? {
            for row in round_rows(&round)? {
                if let Some(slot) = ids.iter().position(|id| **id == row.id) {
                    claimed[slot].get_or_insert(row);
                }
            }
        }
    }
    Ok((claimed, hooks))
}

/// Rounds one claim statement takes: two parameters each, and the lease.
const ROUNDS_PER_CLAIM: usize = (D1_MAX_PARAMETERS - 1) / 2;

/// The claim of `count` rounds: `?1` the lease's end, then (event `rowid`, stem) pairs from `?2`. A round is
/// claimed once (its lease is set from none) and only while none of its deliveries has a row; the statement returns
/// each claimed round's event ([`OpenRound`]), from which its deliveries are built.
fn claim_rounds_sql(count: usize) -> String {
    let pairs = (0..count).map(|i| format!("({})", placeholders(2 + 2 * i, 2))).collect::<Vec<_>>();
    format!(
        "UPDATE events SET round_lease = ?1 WHERE rowid IN (SELECT e.rowid FROM (VALUES {}) AS v \
           JOIN events e ON e.rowid = v.column1 WHERE e.delivery_stem = v.column2 AND e.round IS NOT NULL \
           AND e.round_lease IS NULL AND {} = json_array_length(e.round)) \
         RETURNING {}",
        pairs.join(", "),
        super::round_unwritten("e.rowid", "e.delivery_stem", "e.round"),
        open_round_columns("")
    )
}

fn claim_statements(
    db: &Database,
    ids: &[&DeliveryId],
    now: i64,
    lease_until: i64,
) -> Result<Vec<Statement>, StoreError> {
    let mut statements = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let mut binds = vec![int(now), int(lease_until)];
        binds.extend(chunk.iter().map(text));
        statements.push(db.prepare(claim_sql(chunk.len())).bind(&binds)?);
    }
    Ok(statements)
}

/// The claimed rows of the results at `claims`, in the order of `ids` (`None`: not claimed).
fn claimed_in(
    results: &[Executed],
    claims: core::ops::Range<usize>,
    ids: &[&DeliveryId],
) -> Result<Vec<Option<DeliveryRow>>, StoreError> {
    let mut claimed_rows: Vec<DeliveryRow> = Vec::with_capacity(ids.len());
    for i in claims {
        claimed_rows.extend(rows_of::<DeliveryRow>(results, i)?);
    }
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        let position = claimed_rows.iter().position(|r| r.id == **id);
        claimed.push(position.map(|p| claimed_rows.swap_remove(p)));
    }
    Ok(claimed)
}

/// A manual retry's claim: makes the delivery pending and due now and claims it, whatever its state, unless an
/// attempt is in flight (`None` then: the caller answers 409 and sends nothing).
pub async fn claim_now(
    db: &Database,
    org: &OrganizationId,
    id: &DeliveryId,
    now: i64,
    lease_until: i64,
) -> Result<Option<DeliveryRow>, StoreError> {
    first(db.prepare(claim_now_sql()).bind(&[text(org), text(id), int(now), int(lease_until)])?).await
}

/// A delivery of a `fifo` webhook waits while one of the same webhook for an event ingested earlier (a smaller
/// events rowid; for the same event, an earlier delivery row) is still pending. The event's ingest order, not the
/// delivery's: a replayed or recovered delivery of an old event takes its old place in the line. Test sends neither
/// wait nor hold others up.
const FIFO_GATE: &str = "CASE WHEN (SELECT w.ordering FROM webhooks w WHERE w.id = deliveries.webhook_id) = 'fifo' \
    THEN NOT EXISTS (SELECT 1 FROM deliveries o JOIN events oe ON oe.organization_id = o.organization_id \
    AND oe.id = o.event_id WHERE o.webhook_id = deliveries.webhook_id AND o.status = 'pending' \
    AND o.next_attempt_at IS NOT NULL AND o.is_test = 0 \
    AND (oe.rowid, o.rowid) < ((SELECT e.rowid FROM events e WHERE e.organization_id = deliveries.organization_id \
    AND e.id = deliveries.event_id), deliveries.rowid)) ELSE 1 END";
// A CASE, not an AND: SQLite evaluates its branches lazily, so an unordered webhook's claim never scans the
// webhook's deliveries (measured with `make bench-delivery`, batch shape: the AND form cost 0.7 CPU-ms per delivery,
// this one about 0.15 over no gate at all).

/// The claim of `count` deliveries: `?1` now, `?2` the lease's end, `?3…` the ids. Pending, due, not leased (a
/// delivery whose attempt is in flight is not claimed until its lease ends) and, for a `fifo` webhook, first in line.
pub(crate) fn claim_sql(count: usize) -> String {
    format!(
        "UPDATE deliveries SET attempts = attempts + 1, {COUNT_LOST}, lease_until = ?2, updated_at = ?1, \
         held_until = NULL WHERE id IN ({}) AND +status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) \
         AND (lease_until IS NULL OR lease_until <= ?1) AND {FIFO_GATE} RETURNING {COLUMNS}",
        placeholders(3, count)
    )
}

/// The first pending delivery of each of these webhooks (the head of a `fifo` line), to enqueue when the one before
/// it has finished.
pub async fn heads(db: &Database, webhook_ids: &[&WebhookId]) -> Result<Vec<DeliveryId>, StoreError> {
    if webhook_ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct Head {
        id: Option<DeliveryId>,
    }
    let ids = &webhook_ids[..webhook_ids.len().min(IDS_PER_STATEMENT)];
    let statement = db
        .prepare(format!(
            "SELECT (SELECT d.id FROM deliveries d JOIN events e ON e.organization_id = d.organization_id \
             AND e.id = d.event_id WHERE d.webhook_id = w.id AND d.status = 'pending' \
             AND d.next_attempt_at IS NOT NULL AND d.is_test = 0 \
             ORDER BY e.rowid, d.rowid LIMIT 1) AS id FROM webhooks w WHERE w.id IN ({})",
            placeholders(1, ids.len())
        ))
        .bind(&ids.iter().map(text).collect::<Vec<_>>())?;
    Ok(rows::<Head>(statement).await?.into_iter().filter_map(|h| h.id).collect())
}

/// A manual retry's claim: `?1` organization, `?2` id, `?3` now, `?4` the lease's end. Any state, but not leased
/// and, for a `fifo` webhook, not behind an earlier pending delivery.
pub(crate) fn claim_now_sql() -> String {
    format!(
        "UPDATE deliveries SET status = 'pending', attempts = attempts + 1, lost_attempts = 0, next_attempt_at = ?3, \
         lease_until = ?4, updated_at = ?3, held_until = NULL WHERE organization_id = ?1 AND id = ?2 AND (lease_until IS NULL OR lease_until <= ?3) \
         AND {FIFO_GATE} RETURNING {COLUMNS}"
    )
}

/// The fenced record of `count` results that end alike: `?1` status, `?2` status code, `?3` error, `?4` next attempt,
/// `?5` now, then (id, attempt number) pairs from `?6`. A result applies only while its delivery is pending and its
/// attempt number is still the delivery's latest. `id IN (…)` (the same parameters again) lets SQLite find the rows
/// by primary key; the row values alone would walk every pending delivery. `+status` keeps SQLite off the
/// `deliveries_due (status, …)` index, which it otherwise prefers: every record then read all pending deliveries
/// (705 rows per record in `make bench-compare`, where the D1 simulator's SQLite was the runtime's largest CPU share).
pub(crate) fn record_sql(count: usize) -> String {
    let pairs = (0..count).map(|i| format!("({})", placeholders(6 + 2 * i, 2))).collect::<Vec<_>>();
    let ids = (0..count).map(|i| format!("?{}", 6 + 2 * i)).collect::<Vec<_>>();
    format!(
        "UPDATE deliveries SET status = ?1, last_status_code = ?2, last_error = ?3, next_attempt_at = ?4, \
         lease_until = NULL, lost_attempts = 0, updated_at = ?5 \
         WHERE id IN ({}) AND +status = 'pending' AND (id, attempts) IN (VALUES {}) RETURNING id",
        ids.join(", "),
        pairs.join(", ")
    )
}

/// Deliveries by id (for messages that found nothing to claim).
pub async fn get_many(db: &Database, ids: &[&DeliveryId]) -> Result<Vec<DeliveryRow>, StoreError> {
    select_by_ids(db, &format!("SELECT {COLUMNS} FROM deliveries"), ids).await
}

/// Creates a delivery that is sent at once (test sends), already claimed for its first attempt.
pub async fn insert_claimed(db: &Database, d: &DeliveryRow) -> Result<(), StoreError> {
    run(db
        .prepare(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, lease_until, is_test, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7, ?8, ?9, ?7, ?7)",
        )
        .bind(&[
            text(&d.id),
            text(&d.organization_id),
            text(&d.webhook_id),
            text(&d.event_id),
            text(&d.event_type),
            text(&d.body),
            int(d.created_at),
            opt_int(d.lease_until),
            super::flag(d.is_test),
        ])?)
    .await?;
    Ok(())
}

/// The statements that write the rows of the deliveries of `rows` not written yet (their ingest's round, schema v22)
/// as the ingest would have written them, claimed by their first attempt (`attempts`, `lease_until` as they hold),
/// so that whatever changes them next (a fenced record, a release to a lane, an abandon, the alarm's search for lost
/// sends) finds them as it would have. A delivery whose webhook is gone is written failed with the reason, as
/// deleting its webhook leaves one in flight. A row that exists is left as it is.
pub(crate) fn write_unwritten(
    db: &Database,
    org: &OrganizationId,
    rows: &[&DeliveryRow],
    now: i64,
) -> Result<Vec<Statement>, StoreError> {
    let unwritten: Vec<&DeliveryRow> = rows.iter().copied().filter(|d| d.unwritten).collect();
    let row = |d: &&DeliveryRow| {
        vec![
            text(&d.id),
            text(&d.webhook_id),
            text(&d.event_id),
            text(&d.event_type),
            text(&d.body),
            int(d.attempts),
            opt_int(d.lease_until),
            int(d.created_at),
            int(d.updated_at),
        ]
    };
    per_row_statements(db, org, now, &unwritten, 9, row, |values| {
        format!(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
               attempts, last_error, lease_until, created_at, updated_at, stemmed) \
             SELECT v.column1, ?1, v.column2, v.column3, v.column4, v.column5, \
               CASE WHEN w.id IS NULL THEN 'failed' ELSE 'pending' END, v.column6, \
               CASE WHEN w.id IS NULL THEN '{WEBHOOK_GONE}' END, CASE WHEN w.id IS NOT NULL THEN v.column7 END, \
               v.column8, CASE WHEN w.id IS NULL THEN ?2 ELSE v.column9 END, 1 \
             FROM (VALUES {values}) AS v LEFT JOIN webhooks w ON w.id = v.column2 WHERE true \
             ON CONFLICT (id) DO NOTHING"
        )
    })
}

/// Why a delivery whose webhook was deleted ended.
pub(crate) const WEBHOOK_GONE: &str = "webhook deleted";

/// The result of one attempt and what follows from it.
pub struct AttemptRecord<'a> {
    pub attempt_id: &'a str,
    /// The delivery as claimed: its `attempts` is this attempt's number, the fence of its result.
    pub delivery: &'a DeliveryRow,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub response_body: Option<&'a str>,
    /// The request's headers as logged (JSON), when a request was made.
    pub request_headers: Option<&'a str>,
    /// The body sent, when it was not the delivery's own.
    pub request_body: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The delivery's status after it (`pending`: a retry is scheduled at `next_attempt_at`).
    pub new_status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
    /// How the webhook's consecutive failure count changes: reset on success, +1 on exhaustion.
    pub webhook_counter: Counter,
    /// A slow or unreachable attempt sends its webhook's deliveries through its lane until then.
    pub lane_until: Option<i64>,
    /// Whether the attempt failed, for its webhook's failure window (`None`: a test send, which does not count).
    pub window_failed: Option<bool>,
    /// A quick success lets the consumer send its webhook's deliveries itself until then.
    pub fast_until: Option<i64>,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Keep,
    Reset,
    Increment,
}

/// A webhook that may reach `AUTO_DISABLE_AFTER` with this batch's failures, and the `webhook.disabled` notice to
/// write if it does. The disable and the notice are part of the attempts' transaction: both happen or neither.
pub struct DisableNotice<'a> {
    pub org: &'a OrganizationId,
    pub webhook_id: &'a WebhookId,
    pub threshold: u32,
    pub reason: &'a str,
    pub event: EventInsert<'a>,
}

/// An operational event about an attempt (`edgehook.delivery.*`, `edgehook.webhook.recovered`), written in the
/// attempts' transaction only if its guard holds there (the attempt's result applied).
pub struct OpsNotice<'a> {
    pub org: &'a OrganizationId,
    pub event: EventInsert<'a>,
    pub guard: Guard<'a>,
}

/// What recording a batch of attempts did.
pub struct Recorded {
    /// Per operational notice, in order: whether it was written.
    pub ops: Vec<bool>,
    /// Per record, in order: whether its result was applied (its attempt still held the delivery).
    pub applied: Vec<bool>,
    /// Per notice, in order: whether the webhook was disabled and its notice written.
    pub disabled: Vec<bool>,
}

/// How long a window of sustained failure keeps its webhook's deliveries in its lane (where the breaker opens).
pub const SUSTAINED_FAILURE_LANE_MS: i64 = 10 * 60_000;

/// Adds a batch's attempts and failures of each of `count` webhooks to its failure window, in one statement: `?1`
/// now, `?2` the window's length, `?3` the attempts a window needs before it judges, `?4` the lane's end; then
/// (webhook id, attempts, failures) for each webhook from `?5`, each webhook listed once. A window that began `?2` ms
/// or more ago starts again. When a window then holds at least `?3` attempts of which 80 % or more failed (the
/// breaker's own condition), its webhook goes to its lane until `?4`. A batch without failures writes nothing unless
/// a window with failures is open: a healthy endpoint's records never touch the row. (SQLite evaluates every `SET`
/// expression on the row as it was.) One statement for a round of sends to several webhooks, not one each.
pub fn failure_window_sql(count: usize) -> String {
    // Whether this batch starts a new window, and the window's counts after it.
    let fresh = "COALESCE(window_started_at, 0) <= ?1 - ?2";
    let attempts = format!("(CASE WHEN {fresh} THEN v.column2 ELSE window_attempts + v.column2 END)");
    let failures = format!("(CASE WHEN {fresh} THEN v.column3 ELSE window_failures + v.column3 END)");
    let rows = (0..count).map(|i| format!("({})", placeholders(5 + 3 * i, 3))).collect::<Vec<_>>().join(", ");
    format!(
        "UPDATE webhooks SET window_started_at = CASE WHEN {fresh} THEN ?1 ELSE window_started_at END, \
         window_attempts = {attempts}, window_failures = {failures}, \
         lane_until = CASE WHEN {attempts} >= ?3 AND {failures} * 5 >= {attempts} * 4 \
           THEN MAX(COALESCE(lane_until, 0), ?4) ELSE lane_until END \
         FROM (VALUES {rows}) AS v \
         WHERE webhooks.id = v.column1 AND (v.column3 > 0 OR (window_failures > 0 AND window_started_at > ?1 - ?2))"
    )
}

/// Webhooks per failure-window statement: 4 shared parameters and 3 per webhook.
const WINDOWS_PER_STATEMENT: usize = (D1_MAX_PARAMETERS - 4) / 3;

/// Whether a record's attempt rides in its delivery's row instead of a row of `attempts`: the delivery's first attempt
/// ever (attempt numbers only rise), when it succeeded.
fn carried_in_row(r: &AttemptRecord<'_>) -> bool {
    r.delivery.attempts == 1 && r.new_status == DeliveryStatus::Succeeded
}

/// Carried first attempts per statement: the update binds 3 shared parameters and 2 per delivery.
const CARRIED_PER_STATEMENT: usize = (D1_MAX_PARAMETERS - 3) / 2;

/// [`first_attempt_writes`]' statements (tests).
#[cfg(test)]
pub(crate) fn first_attempt_statements(
    db: &Database,
    group: &[&AttemptRecord<'_>],
) -> Result<Vec<Statement>, StoreError> {
    Ok(first_attempt_writes(db, group)?.statements)
}

/// What [`first_attempt_writes`] answers: its statements, and which of them write a round whole.
pub(crate) struct FirstAttemptWrites {
    pub statements: Vec<Statement>,
    /// For each round written whole: its statement's index in `statements`, and the deliveries it applies when it
    /// changes its event's row (it returns that one row).
    pub whole_rounds: Vec<(usize, Vec<DeliveryId>)>,
}

/// For first attempts that succeeded with the same answer at the same time, one statement per chunk: each attempt
/// goes into its delivery's row (`first_attempt`, which only a first attempt fills, once), and the delivery turns
/// `succeeded` only where the attempt still holds it (pending, attempt number 1; every `SET` reads the row as it was).
/// It returns each delivery with whether the result applied. So every attempt is logged once, applied or not, and
/// the attempt's answer travels once.
pub(crate) fn first_attempt_writes(
    db: &Database,
    group: &[&AttemptRecord<'_>],
) -> Result<FirstAttemptWrites, StoreError> {
    let (unwritten, written): (Vec<&AttemptRecord<'_>>, Vec<&AttemptRecord<'_>>) =
        group.iter().partition(|r| r.delivery.unwritten);
    let RoundSuccess { mut statements, whole_rounds } = round_success_statements(db, &unwritten)?;
    let inserts = finished_inserts(db, &unwritten)?;
    // When one round written whole names every delivery the insert is for, none is needed once it applied.
    match (whole_rounds.as_slice(), inserts.len()) {
        ([(at, ids)], 1) if ids.len() == unwritten.len() => {
            statements.extend(inserts.into_iter().map(|insert| insert.unless_changed(*at)))
        }
        _ => statements.extend(inserts),
    }
    for chunk in written.chunks(CARRIED_PER_STATEMENT) {
        let Some(first) = chunk.first() else { continue };
        let mut binds = vec![opt_int(first.status_code.map(i64::from)), opt_text(first.error), int(first.now)];
        let (mut cases, mut ids) = (Vec::new(), Vec::new());
        for (i, r) in chunk.iter().enumerate() {
            let attempt = carried_attempt(r)?;
            let (id_at, json_at) = (4 + 2 * i, 5 + 2 * i);
            cases.push(format!("WHEN ?{id_at} THEN ?{json_at}"));
            ids.push(format!("?{id_at}"));
            binds.extend([text(&r.delivery.id), text(&attempt)]);
        }
        statements.push(
            db.prepare(format!(
                "UPDATE deliveries SET {} WHERE id IN ({}) AND first_attempt IS NULL {}",
                carried_set("?1", "?2", "?3", &format!("CASE id {} END", cases.join(" "))),
                ids.join(", "),
                carried_returning("?3")
            ))
            .bind(&binds)?,
        );
    }
    Ok(FirstAttemptWrites { statements, whole_rounds })
}

/// What a carried first attempt sets in its delivery's row (`code`, `error` and `now` are SQL expressions for its status
/// code, its error and its time): its result, only where it still holds the delivery (pending, attempt number 1;
/// every `SET` reads the row as it was), and the attempt itself (`attempt`), always.
fn carried_set(code: &str, error: &str, now: &str, attempt: &str) -> String {
    const HELD: &str = "status = 'pending' AND attempts = 1";
    format!(
        "status = CASE WHEN {HELD} THEN 'succeeded' ELSE status END, \
         last_status_code = CASE WHEN {HELD} THEN {code} ELSE last_status_code END, \
         last_error = CASE WHEN {HELD} THEN {error} ELSE last_error END, \
         next_attempt_at = CASE WHEN {HELD} THEN NULL ELSE next_attempt_at END, \
         lease_until = CASE WHEN {HELD} THEN NULL ELSE lease_until END, \
         updated_at = CASE WHEN {HELD} THEN {now} ELSE updated_at END, \
         first_attempt = {attempt}"
    )
}

/// Each delivery a carried first attempt made at `now` (an SQL expression) wrote, and whether its result applied.
fn carried_returning(now: &str) -> String {
    format!("RETURNING id, (attempts = 1 AND status = 'succeeded' AND updated_at = {now}) AS applied")
}

/// A carried first attempt as its delivery's row keeps it (`first_attempt`: JSON with the `attempts` table's column
/// names).
fn carried_attempt(r: &AttemptRecord<'_>) -> Result<String, StoreError> {
    Ok(serde_json::to_string(&attempt_row(r))?)
}

/// The attempt a record logs.
fn attempt_row(r: &AttemptRecord<'_>) -> AttemptRow {
    AttemptRow {
        id: r.attempt_id.to_string(),
        attempt: r.delivery.attempts,
        status_code: r.status_code.map(i64::from),
        duration_ms: r.duration_ms,
        response_body: r.response_body.map(str::to_string),
        error: r.error.map(str::to_string),
        created_at: r.now,
        request_headers: r.request_headers.map(str::to_string),
        request_body: r.request_body.map(str::to_string),
    }
}

/// For the first attempts of `unwritten` (that succeeded) whose deliveries have no row and whose ids begin with their
/// event's position (schema v23): each attempt goes into its delivery's entry in the event's round
/// (`[number, webhook, attempt]`), where the entry holds none, no row exists (the alarm writes one for a round it
/// takes for lost) and the webhook does: one update of each event's row, where each delivery wrote a row and its
/// id's index entry. Then each delivery whose entry now holds its attempt, as applied. [`finished_inserts`] writes
/// the others' rows.
///
/// Where the ingest that sends them knows its round (`ingest_round`), a cheaper statement goes first: it writes the
/// round whole, with every attempt in its entry, only where the round is still as the ingest wrote it (no entry holds
/// an attempt), none of the deliveries has a row and every webhook exists, which is when the general update would
/// apply every attempt. Then the general update and its read are skipped ([`Statement::unless_changed`]); where
/// it does not apply, they do what they always did. Replayed on SQLite (the records of 504 events of
/// `make bench-delivery`'s shape, each statement timed alone), the general pair took 49–55 µs per event (it walks the
/// round and the attempts' JSON for every entry, twice) and the whole write 14–16 µs; the insert after them, which
/// then writes nothing, is skipped as well.
fn round_success_statements(db: &Database, unwritten: &[&AttemptRecord<'_>]) -> Result<RoundSuccess, StoreError> {
    // Each event's own (at most a round's six): one small update and read of its row by its `rowid`, where one
    // statement for every event of a batch matched each entry against every attempt.
    struct EventAttempts<'r, 'a> {
        position: i64,
        attempts: serde_json::Map<String, serde_json::Value>,
        records: Vec<&'r AttemptRecord<'a>>,
    }
    let mut by_event: Vec<EventAttempts<'_, '_>> = Vec::new();
    for r in unwritten {
        let Some(position) = RoundRef::position_of(&r.delivery.id) else { continue };
        let attempt = serde_json::to_value(attempt_row(r))?;
        match by_event.iter_mut().find(|e| e.position == position) {
            Some(event) => {
                event.attempts.insert(r.delivery.id.to_string(), attempt);
                event.records.push(r);
            }
            None => by_event.push(EventAttempts {
                position,
                attempts: serde_json::Map::from_iter([(r.delivery.id.to_string(), attempt)]),
                records: vec![r],
            }),
        }
    }
    let [update, applied] = round_success_sql();
    let mut statements = Vec::with_capacity(3 * by_event.len());
    let mut whole_rounds = Vec::new();
    for EventAttempts { position, attempts, records } in by_event {
        let whole = whole_round(&records, &attempts)?;
        // The read compares only each attempt's id: it is bound those alone, not the attempts whole.
        let ids: serde_json::Map<String, serde_json::Value> = attempts
            .iter()
            .map(|(delivery, attempt)| (delivery.clone(), serde_json::json!({ "id": attempt.get("id") })))
            .collect();
        let update =
            db.prepare(&update).bind(&[text(serde_json::Value::Object(attempts).to_string()), int(position)])?;
        let applied = db.prepare(&applied).bind(&[text(serde_json::Value::Object(ids).to_string()), int(position)])?;
        match whole {
            Some(WholeRound { old, new }) => {
                let at = statements.len();
                let mut whole_binds = vec![int(position), text(new), text(&*old)];
                whole_binds.extend(records.iter().map(|r| text(&r.delivery.id)));
                whole_binds.extend(records.iter().map(|r| text(&r.delivery.webhook_id)));
                statements.push(db.prepare(whole_round_sql(records.len())).bind(&whole_binds)?);
                statements.extend([update.unless_changed(at), applied.unless_changed(at)]);
                whole_rounds.push((at, records.iter().map(|r| r.delivery.id.clone()).collect()));
            }
            None => statements.extend([update, applied]),
        }
    }
    Ok(RoundSuccess { statements, whole_rounds })
}

/// [`round_success_statements`]' statements, and which of them write a round whole.
struct RoundSuccess {
    statements: Vec<Statement>,
    whole_rounds: Vec<(usize, Vec<DeliveryId>)>,
}

/// An event's round as its ingest wrote it (`old`), and with each of `records`' attempts in its entry (`new`).
#[derive(Debug)]
struct WholeRound {
    old: std::rc::Rc<str>,
    new: String,
}

/// The round of `records` (deliveries of one event) with their `attempts` (by delivery id) in their entries, if
/// every record knows the round as its ingest wrote it and has its entry there: the entry of a delivery is the one
/// of its webhook (an event has one delivery per webhook) whose number ends its id.
fn whole_round(
    records: &[&AttemptRecord<'_>],
    attempts: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<WholeRound>, StoreError> {
    let Some(old) = records.first().and_then(|r| r.delivery.ingest_round.clone()) else { return Ok(None) };
    if records.iter().any(|r| r.delivery.ingest_round.as_deref() != Some(&*old)) {
        return Ok(None);
    }
    let mut entries: Vec<Vec<serde_json::Value>> = match serde_json::from_str(&old) {
        Ok(entries) => entries,
        Err(_) => return Ok(None),
    };
    let mut placed = 0;
    for entry in &mut entries {
        let (Some(serde_json::Value::String(number)), Some(serde_json::Value::String(webhook)), 2) =
            (entry.first(), entry.get(1), entry.len())
        else {
            return Ok(None);
        };
        let Some(r) = records
            .iter()
            .find(|r| r.delivery.webhook_id.as_str() == webhook && r.delivery.id.as_str().ends_with(number.as_str()))
        else {
            continue;
        };
        let Some(attempt) = attempts.get(r.delivery.id.as_str()) else { return Ok(None) };
        entry.push(attempt.clone());
        placed += 1;
    }
    if placed != records.len() {
        return Ok(None);
    }
    Ok(Some(WholeRound { old, new: serde_json::to_string(&entries)? }))
}

/// Writes the round of the event at `?1` whole (`?2`) where it is still `?3`, none of the `count` deliveries
/// (`?4`…) has a row and each of their webhooks (the `count` after) exists; returns the event's row if it did.
fn whole_round_sql(count: usize) -> String {
    format!(
        "UPDATE events SET round = ?2 WHERE rowid = {} AND round = ?3 \
           AND NOT EXISTS (SELECT 1 FROM deliveries WHERE id IN ({})) \
           AND (SELECT COUNT(*) FROM webhooks WHERE id IN ({})) = {count} \
         RETURNING 1 AS applied",
        super::kept_compiled("?1"),
        placeholders(4, count),
        placeholders(4 + count, count),
    )
}

/// [`round_success_statements`]' statements for the attempts `?1` (a JSON object: each delivery's id to its attempt;
/// for the read, to an object with the attempt's `id` only) of deliveries of the event at `?2`: the update of its
/// round, and the read of the deliveries whose entry holds their attempt now. The read looks each attempt up by its
/// path in `?1` (a delivery id is `dlv_` and hex digits, nothing to quote), which SQLite parses once per statement,
/// rather than walking `?1` for each entry (a third less time on SQLite in memory).
fn round_success_sql() -> [String; 2] {
    let id = super::round_entry_id("e");
    [
        format!(
            "UPDATE events SET round = (SELECT json_group_array(CASE WHEN {applies} \
               THEN json_insert(j.value, '$[2]', json(a.value)) ELSE json(j.value) END) \
             FROM json_each(events.round) j LEFT JOIN json_each(?1) a ON a.key = {entry}) \
             WHERE rowid = ?2 AND round IS NOT NULL \
               AND EXISTS (SELECT 1 FROM json_each(events.round) j JOIN json_each(?1) a ON a.key = {entry} \
                 WHERE {applies})",
            entry = super::round_entry_id("events"),
            applies = "a.value IS NOT NULL AND json_type(j.value, '$[2]') IS NULL \
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.key) \
               AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = json_extract(j.value, '$[1]'))",
        ),
        format!(
            "SELECT {id} AS id, 1 AS applied FROM events e, json_each(e.round) j WHERE e.rowid = {position} AND {} \
               AND json_extract(j.value, '$[2].id') = json_extract(?1, '$.\"' || {id} || '\".id')",
            super::ROUND_ENTRY_SUCCEEDED,
            position = super::kept_compiled("?2"),
        ),
    ]
}

/// For the first attempts of `unwritten` (that succeeded with the same answer at the same time) whose deliveries have no
/// row yet (their ingest's round, schema v22) and whose entry does not hold their attempt
/// ([`round_success_statements`]): each row written once, finished, with its attempt in it. A row that exists (the
/// alarm wrote it, taking the round for lost) gets the fenced update of [`first_attempt_statements`] instead; a
/// delivery whose webhook is gone is written failed with the reason, its attempt kept, not applied.
fn finished_inserts(db: &Database, unwritten: &[&AttemptRecord<'_>]) -> Result<Vec<Statement>, StoreError> {
    let Some(first) = unwritten.first() else { return Ok(Vec::new()) };
    let mut rows = Vec::with_capacity(unwritten.len());
    for r in unwritten {
        let d = r.delivery;
        rows.push(vec![
            text(&d.id),
            text(&d.webhook_id),
            text(&d.event_id),
            text(&d.event_type),
            text(&d.body),
            int(d.created_at),
            text(&carried_attempt(r)?),
            opt_int(r.status_code.map(i64::from)),
            opt_text(r.error),
            opt_int(RoundRef::position_of(&d.id)),
        ]);
    }
    per_row_statements(db, &first.delivery.organization_id, first.now, &rows, 10, Vec::clone, |values| {
        format!(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
               attempts, last_status_code, last_error, first_attempt, created_at, updated_at, stemmed) \
             SELECT v.column1, ?1, v.column2, v.column3, v.column4, v.column5, \
               CASE WHEN w.id IS NULL THEN 'failed' ELSE 'succeeded' END, 1, \
               CASE WHEN w.id IS NOT NULL THEN v.column8 END, \
               CASE WHEN w.id IS NULL THEN '{WEBHOOK_GONE}' ELSE v.column9 END, v.column7, v.column6, ?2, 1 \
             FROM (VALUES {values}) AS v LEFT JOIN webhooks w ON w.id = v.column2 \
             WHERE NOT EXISTS (SELECT 1 {}) \
             ON CONFLICT (id) DO UPDATE SET {} WHERE first_attempt IS NULL {}",
            super::round_success_of("v.column10", "v.column1"),
            carried_set("excluded.last_status_code", "excluded.last_error", "?2", "excluded.first_attempt"),
            carried_returning("?2")
        )
    })
}

/// The update of webhook `?2`'s (of organization `?1`) failures in a row to `counter` (an SQL expression), if delivery
/// `?3` shows the result of its attempt `?4` with status `?5` (`?6`: its event's position, for a success in its round).
fn failure_counter_sql(counter: &str) -> String {
    format!(
        "UPDATE webhooks SET consecutive_failures = {counter} WHERE organization_id = ?1 AND id = ?2 AND {}",
        super::shows_result("?3", "?4", "?5", "?6", None)
    )
}

/// Attempt rows per multi-row INSERT (10 parameters each).
const ATTEMPTS_PER_STATEMENT: usize = D1_MAX_PARAMETERS / 10;
/// (id, attempt) pairs per fenced update, after its 5 shared parameters.
const FENCED_PER_STATEMENT: usize = (D1_MAX_PARAMETERS - 5) / 2;

/// Writes attempts, their deliveries' new states, their webhooks' failure counts and any disable with its notice,
/// in one transaction. Every attempt is logged (it happened), but its delivery's state changes only if the attempt
/// still holds it: the delivery is pending and its attempt number is the claimed one (a deleted webhook's failed
/// delivery stays failed; a later attempt's result is not overwritten). The failure counts follow only applied
/// results.
pub async fn record_attempts(
    db: &Database,
    records: &[AttemptRecord<'_>],
    notices: &[DisableNotice<'_>],
    ops: &[OpsNotice<'_>],
) -> Result<Recorded, StoreError> {
    if records.is_empty() {
        return Ok(Recorded { ops: Vec::new(), applied: Vec::new(), disabled: Vec::new() });
    }
    let whole = record_batch(db, records, notices, ops)?;
    record_in_calls(whole, records, notices, ops, |statements| batch(db, statements)).await
}

/// Runs a record's batch (`run` makes one call with its statements) and reads what it did. With notices or
/// operational events, whose reads follow every result, or without a round written whole, the record is one call;
/// otherwise it is split in two ([`split_record`]), and the second call is made only for the rounds whose whole
/// write did not apply.
pub(crate) async fn record_in_calls<F>(
    whole: RecordBatch,
    records: &[AttemptRecord<'_>],
    notices: &[DisableNotice<'_>],
    ops: &[OpsNotice<'_>],
    run: impl Fn(Vec<Statement>) -> F,
) -> Result<Recorded, StoreError>
where
    F: core::future::Future<Output = Result<Vec<Executed>, StoreError>>,
{
    if !notices.is_empty() || !ops.is_empty() || whole.at.whole_rounds.is_empty() {
        let results = run(whole.statements).await?;
        return read_recorded(records, notices, ops, &results, whole.at);
    }
    let SplitRecord { first, unless_whole } = split_record(whole);
    let results = run(first.statements).await?;
    let mut recorded = read_recorded(records, notices, ops, &results, first.at)?;
    let second = unwritten_rounds(unless_whole, |at| wrote_whole(&results, at));
    if !second.statements.is_empty() {
        let results = run(second.statements).await?;
        let again = read_recorded(records, &[], &[], &results, second.at)?;
        for (applied, now) in recorded.applied.iter_mut().zip(again.applied) {
            *applied |= now;
        }
    }
    Ok(recorded)
}

/// Whether the round written whole by statement `at` changed its event's row (it returns that one row).
fn wrote_whole(results: &[Executed], at: usize) -> bool {
    results.get(at).is_some_and(|written| !written.rows.is_empty())
}

/// A record in two calls ([`split_record`]).
pub(crate) struct SplitRecord {
    /// The record without the statements its rounds written whole make needless (about two thirds of a round's
    /// record on the wire: the attempts' JSON twice more, and the bodies).
    pub first: RecordBatch,
    /// For each round written whole (its statement's index in `first`): what records its deliveries when that write
    /// did not apply, a record by itself (see [`split_record`]).
    pub unless_whole: Vec<(usize, RecordBatch)>,
}

/// Splits a record in two calls ([`record_in_calls`] splits only one without notices or operational events, whose
/// reads follow every result, the second call's included). The first carries every statement but the
/// general ones each round written whole makes needless (those marked [`Statement::unless_changed`] by it): the
/// object would skip them when the round is written whole, the common case, yet a call carries them whole, and they
/// were two thirds of a single-event round's record (10 of 15 KB). A round whose whole write did not apply gets a
/// second call ([`unwritten_rounds`]): its general statements, unmarked, then its records' failure counters again (a
/// round's records are successes, so a reset: the first call's found nothing to reset, or reset it already). What
/// the first call wrote unconditionally (the failure window, `fast_until`) is not sent again. Each general statement
/// is fenced on its own (attempt numbers, the round's entries), so a crash between the calls leaves the round to the
/// alarm, as a crash before any record does.
pub(crate) fn split_record(whole: RecordBatch) -> SplitRecord {
    /// A round written whole: its statement in the batch, its deliveries, and its second call.
    struct Round {
        at: usize,
        ids: Vec<DeliveryId>,
        second: RecordBatch,
    }
    let RecordBatch { statements, at } = whole;
    let RecordAt { applied_at, whole_rounds, notice_at, ops_at, counter_at } = at;
    let mut rounds: Vec<Round> =
        whole_rounds.into_iter().map(|(at, ids)| Round { at, ids, second: RecordBatch::default() }).collect();
    let mut first = RecordBatch::default();
    // Where each statement of the batch went in the first call, if it went there.
    let mut in_first: Vec<Option<usize>> = Vec::with_capacity(statements.len());
    for (i, mut statement) in statements.into_iter().enumerate() {
        // A counter of a round's delivery runs in both calls.
        let counted = counter_at.iter().find(|(at, _)| *at == i).map(|(_, delivery)| delivery);
        if let Some(round) = counted.and_then(|d| rounds.iter_mut().find(|round| round.ids.contains(d))) {
            round.second.statements.push(statement.clone());
        }
        let round = statement.skip_if_changed.take().and_then(|at| rounds.iter().position(|round| round.at == at));
        let target = match round {
            Some(r) => &mut rounds[r].second,
            None => &mut first,
        };
        in_first.push(round.is_none().then_some(target.statements.len()));
        if applied_at.contains(&i) {
            target.at.applied_at.push(target.statements.len());
        }
        target.statements.push(statement);
    }
    let mut unless_whole = Vec::with_capacity(rounds.len());
    for Round { at, ids, second } in rounds {
        // A round's whole write is never skippable itself: it is always in the first call.
        let Some(at) = in_first.get(at).copied().flatten() else { continue };
        first.at.whole_rounds.push((at, ids));
        unless_whole.push((at, second));
    }
    // The reads of notices and operational events are never skippable: they are in the first call, in order.
    let moved = |range: core::ops::Range<usize>| {
        let start = in_first.get(range.start).copied().flatten().unwrap_or(first.statements.len());
        start..start + range.len()
    };
    first.at.notice_at = notice_at.into_iter().map(moved).collect();
    first.at.ops_at = ops_at.into_iter().map(moved).collect();
    SplitRecord { first, unless_whole }
}

/// The second call of a split record: the statements of each round whose whole write (at its index in the first
/// call) did not apply, as `wrote` tells from the first call's answers.
pub(crate) fn unwritten_rounds(unless_whole: Vec<(usize, RecordBatch)>, wrote: impl Fn(usize) -> bool) -> RecordBatch {
    let mut second = RecordBatch::default();
    for (_, round) in unless_whole.into_iter().filter(|(at, _)| !wrote(*at)) {
        let offset = second.statements.len();
        second.at.applied_at.extend(round.at.applied_at.into_iter().map(|at| offset + at));
        second.statements.extend(round.statements);
    }
    second
}

/// The statements of [`record_attempts`]' one transaction, and where their answers are read.
#[derive(Default)]
pub(crate) struct RecordBatch {
    pub statements: Vec<Statement>,
    pub at: RecordAt,
}

/// Where [`record_attempts`] reads its batch's answers.
#[derive(Default)]
pub(crate) struct RecordAt {
    /// The statements whose rows name the deliveries they applied.
    applied_at: Vec<usize>,
    /// Each round written whole: its statement, and the deliveries it applies when it changes its event's row.
    pub whole_rounds: Vec<(usize, Vec<DeliveryId>)>,
    /// Each disable notice's read of its event.
    notice_at: Vec<core::ops::Range<usize>>,
    /// Each operational event's read of itself.
    ops_at: Vec<core::ops::Range<usize>>,
    /// Each failure counter's update, and the delivery whose result it follows.
    counter_at: Vec<(usize, DeliveryId)>,
}

/// [`record_attempts`]' statements.
pub(crate) fn record_batch(
    db: &Database,
    records: &[AttemptRecord<'_>],
    notices: &[DisableNotice<'_>],
    ops: &[OpsNotice<'_>],
) -> Result<RecordBatch, StoreError> {
    // A delivery's first attempt, when it succeeded, rides in the delivery's own row (see `first_attempt_statements`).
    let (carried, logged): (Vec<&AttemptRecord<'_>>, Vec<&AttemptRecord<'_>>) =
        records.iter().partition(|r| carried_in_row(r));
    // The other results of a round's deliveries change rows written first as their ingest would have.
    let logged_deliveries: Vec<&DeliveryRow> = logged.iter().map(|r| r.delivery).collect();
    let mut statements = write_unwritten(db, &records[0].delivery.organization_id, &logged_deliveries, records[0].now)?;
    for chunk in logged.chunks(ATTEMPTS_PER_STATEMENT) {
        let rows =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * 10 + 1, 10))).collect::<Vec<_>>().join(", ");
        let mut binds = Vec::with_capacity(chunk.len() * 10);
        for r in chunk {
            binds.extend([
                text(r.attempt_id),
                text(&r.delivery.id),
                int(r.delivery.attempts),
                opt_int(r.status_code.map(i64::from)),
                int(r.duration_ms),
                opt_text(r.response_body),
                opt_text(r.error),
                int(r.now),
                opt_text(r.request_headers),
                opt_text(r.request_body),
            ]);
        }
        let sql = format!(
            "INSERT INTO attempts (id, delivery_id, attempt, status_code, duration_ms, response_body, error, \
             created_at, request_headers, request_body) VALUES {rows}"
        );
        statements.push(db.prepare(sql).bind(&binds)?);
    }
    // Deliveries whose new state is the same share an update; each is fenced by its own attempt number.
    let mut groups: Vec<(&AttemptRecord<'_>, Vec<&AttemptRecord<'_>>)> = Vec::new();
    for r in logged.iter().copied() {
        let same = |g: &&mut (&AttemptRecord<'_>, Vec<&AttemptRecord<'_>>)| {
            let k = g.0;
            k.new_status == r.new_status
                && k.status_code == r.status_code
                && k.error == r.error
                && k.next_attempt_at == r.next_attempt_at
                && k.now == r.now
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(group) => group.1.push(r),
            None => groups.push((r, vec![r])),
        }
    }
    let mut applied_at = Vec::new();
    let mut whole_rounds: Vec<(usize, Vec<DeliveryId>)> = Vec::new();
    for (r, members) in &groups {
        for chunk in members.chunks(FENCED_PER_STATEMENT) {
            let mut binds = vec![
                text(r.new_status.as_str()),
                opt_int(r.status_code.map(i64::from)),
                opt_text(r.error),
                opt_int(r.next_attempt_at),
                int(r.now),
            ];
            for m in chunk {
                binds.extend([text(&m.delivery.id), int(m.delivery.attempts)]);
            }
            applied_at.push(statements.len());
            statements.push(db.prepare(record_sql(chunk.len())).bind(&binds)?);
        }
    }
    // Carried first attempts with the same answer at the same time share a statement pair.
    let mut carried_groups: Vec<Vec<&AttemptRecord<'_>>> = Vec::new();
    for r in carried {
        let same = |g: &&mut Vec<&AttemptRecord<'_>>| {
            g.first().is_some_and(|k| k.status_code == r.status_code && k.error == r.error && k.now == r.now)
        };
        match carried_groups.iter_mut().find(same) {
            Some(group) => group.push(r),
            None => carried_groups.push(vec![r]),
        }
    }
    for group in &carried_groups {
        let FirstAttemptWrites { statements: updates, whole_rounds: mut rounds } = first_attempt_writes(db, group)?;
        // A group's skip marks name statements of its own list: in the batch they follow what is already there.
        let offset = statements.len();
        for (i, mut update) in updates.into_iter().enumerate() {
            update.skip_if_changed = update.skip_if_changed.map(|at| offset + at);
            // A round written whole answers its event's row, not the deliveries' (read below by its own rule).
            match rounds.iter().position(|(at, _)| *at == i) {
                Some(round) => whole_rounds.push((statements.len(), rounds.swap_remove(round).1)),
                None => applied_at.push(statements.len()),
            }
            statements.push(update);
        }
    }
    let mut counter_at = Vec::new();
    for r in records {
        let counter_sql = match r.webhook_counter {
            Counter::Keep => continue,
            Counter::Reset => "0",
            Counter::Increment => "consecutive_failures + 1",
        };
        // Only if this record's result was applied just above (its delivery now shows this attempt's outcome).
        counter_at.push((statements.len(), r.delivery.id.clone()));
        statements.push(db.prepare(failure_counter_sql(counter_sql)).bind(&[
            text(&r.delivery.organization_id),
            text(&r.delivery.webhook_id),
            text(&r.delivery.id),
            int(r.delivery.attempts),
            text(r.new_status.as_str()),
            opt_int(RoundRef::position_of(&r.delivery.id)),
        ])?);
    }
    for (column, until_of) in [
        ("lane_until", (|r: &AttemptRecord<'_>| r.lane_until) as fn(&AttemptRecord<'_>) -> Option<i64>),
        ("fast_until", |r: &AttemptRecord<'_>| r.fast_until),
    ] {
        let mut latest: Vec<(&WebhookId, i64)> = Vec::new();
        for r in records {
            let Some(until) = until_of(r) else { continue };
            match latest.iter_mut().find(|(w, _)| *w == &r.delivery.webhook_id) {
                Some((_, t)) => *t = (*t).max(until),
                None => latest.push((&r.delivery.webhook_id, until)),
            }
        }
        for (webhook_id, until) in latest {
            statements.push(
                db.prepare(format!("UPDATE webhooks SET {column} = MAX(COALESCE({column}, 0), ?2) WHERE id = ?1"))
                    .bind(&[text(webhook_id), int(until)])?,
            );
        }
    }
    let now = records[0].now;
    // Each webhook's failure window: sustained failure (not one failed attempt) sends it to its lane.
    let mut windows: Vec<(&WebhookId, i64, i64)> = Vec::new();
    for r in records {
        let Some(failed) = r.window_failed else { continue };
        match windows.iter_mut().find(|(w, _, _)| *w == &r.delivery.webhook_id) {
            Some((_, attempts, failures)) => {
                *attempts += 1;
                *failures += i64::from(failed);
            }
            None => windows.push((&r.delivery.webhook_id, 1, i64::from(failed))),
        }
    }
    for chunk in windows.chunks(WINDOWS_PER_STATEMENT) {
        let mut binds = vec![
            int(now),
            int(BREAKER_WINDOW_MS),
            int(BREAKER_MIN_ATTEMPTS as i64),
            int(now + SUSTAINED_FAILURE_LANE_MS),
        ];
        for (webhook_id, attempts, failures) in chunk {
            binds.extend([text(*webhook_id), int(*attempts), int(*failures)]);
        }
        statements.push(db.prepare(failure_window_sql(chunk.len())).bind(&binds)?);
    }
    let mut notice_at = Vec::new();
    for notice in notices {
        statements.push(
            db.prepare(
                "UPDATE webhooks SET is_active = 0, disabled_reason = ?3, disabled_at = ?4, updated_at = ?4 \
                 WHERE organization_id = ?1 AND id = ?2 AND is_active = 1 AND consecutive_failures >= ?5",
            )
            .bind(&[
                text(notice.org),
                text(notice.webhook_id),
                text(notice.reason),
                int(now),
                int(notice.threshold.into()),
            ])?,
        );
        let guard = Guard::Disabled { org: notice.org, webhook_id: notice.webhook_id, at: now };
        let (notice_statements, read_back) =
            fanout_statements(db, notice.org, now, std::slice::from_ref(&notice.event), Some(&guard))?;
        notice_at.push(statements.len() + read_back.start..statements.len() + read_back.end);
        statements.extend(notice_statements);
    }
    let mut ops_at = Vec::new();
    for op in ops {
        let (op_statements, read_back) =
            fanout_statements(db, op.org, now, std::slice::from_ref(&op.event), Some(&op.guard))?;
        ops_at.push(statements.len() + read_back.start..statements.len() + read_back.end);
        statements.extend(op_statements);
    }
    Ok(RecordBatch { statements, at: RecordAt { applied_at, whole_rounds, notice_at, ops_at, counter_at } })
}

/// What [`record_attempts`] read from its batch's `results`.
fn read_recorded(
    records: &[AttemptRecord<'_>],
    notices: &[DisableNotice<'_>],
    ops: &[OpsNotice<'_>],
    results: &[Executed],
    at: RecordAt,
) -> Result<Recorded, StoreError> {
    let RecordAt { applied_at, whole_rounds, notice_at, ops_at, counter_at: _ } = at;
    /// A delivery a fenced update returned: applied unless it says otherwise (a carried first attempt is logged in
    /// its row even when its result no longer applies).
    #[derive(Deserialize)]
    struct Returned {
        id: DeliveryId,
        applied: Option<i64>,
    }
    let mut applied_ids = Vec::new();
    // A round written whole returns its event's row: then every delivery it names applied.
    for (at, ids) in whole_rounds {
        if wrote_whole(results, at) {
            applied_ids.extend(ids);
        }
    }
    for at in applied_at {
        let returned = rows_of::<Returned>(results, at)?;
        applied_ids.extend(returned.into_iter().filter(|r| r.applied != Some(0)).map(|r| r.id));
    }
    let applied = records.iter().map(|r| applied_ids.contains(&r.delivery.id)).collect();
    let mut disabled = Vec::with_capacity(notices.len());
    for (notice, at) in notices.iter().zip(notice_at) {
        let outcome = outcomes(results, at, std::slice::from_ref(&notice.event))?;
        disabled.push(matches!(outcome.first(), Some(Some(Ok(_)))));
    }
    let mut written = Vec::with_capacity(ops.len());
    for (op, at) in ops.iter().zip(ops_at) {
        let outcome = outcomes(results, at, std::slice::from_ref(&op.event))?;
        written.push(matches!(outcome.first(), Some(Some(Ok(_)))));
    }
    Ok(Recorded { ops: written, applied, disabled })
}

/// Marks deliveries failed without an attempt (their webhook is gone or inactive), one round trip for all. Each
/// was just claimed, so its attempt number fences it like a result.
pub async fn abandon_many(db: &Database, abandoned: &[(DeliveryRow, String)], now: i64) -> Result<(), StoreError> {
    let Some(org) = abandoned.first().map(|(d, _)| &d.organization_id) else { return Ok(()) };
    let rows: Vec<&DeliveryRow> = abandoned.iter().map(|(d, _)| d).collect();
    let mut statements = write_unwritten(db, org, &rows, now)?;
    for (d, reason) in abandoned {
        statements.push(
            db.prepare(
                "UPDATE deliveries SET status = 'failed', last_error = ?3, next_attempt_at = NULL, lease_until = NULL, \
                 updated_at = ?4 WHERE id = ?1 AND attempts = ?2 AND status = 'pending'",
            )
            .bind(&[text(&d.id), int(d.attempts), text(reason), int(now)])?,
        );
    }
    batch(db, statements).await?;
    Ok(())
}

/// Gives claimed deliveries back unsent (their webhook's lane sends them, or its circuit is open): the attempt number
/// the claim took is returned, so the retry budget is untouched, and the lease ends. Fenced like a result: a claim
/// that no longer holds its delivery gives nothing back.
pub async fn release_many(db: &Database, released: &[&DeliveryRow], now: i64) -> Result<(), StoreError> {
    let Some(org) = released.first().map(|d| &d.organization_id) else { return Ok(()) };
    let mut statements = write_unwritten(db, org, released, now)?;
    for d in released {
        statements.push(db.prepare(RELEASE_SQL).bind(&[
            text(&d.id),
            int(d.attempts),
            int(now),
            int(now + LANE_HOLD_MS),
        ])?);
    }
    batch(db, statements).await?;
    Ok(())
}

/// `?1` id, `?2` the claim's attempt number, `?3` now, `?4` until when its lane holds it (the alarm leaves it alone
/// until then). A delivery its ingest was sending gets its ingest's time as `next_attempt_at` (and so its entry in
/// the index of pending deliveries, which the alarm's backstop reads): due already, whatever moment a lane's round
/// took as its `now` (a release's own clock could be later, and the lane would find it not yet due).
pub(crate) const RELEASE_SQL: &str =
    "UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL, updated_at = ?3, held_until = ?4, \
    next_attempt_at = COALESCE(next_attempt_at, created_at) WHERE id = ?1 AND attempts = ?2 AND status = 'pending'";

/// A delivery handed to its webhook's lane waits there on purpose (a rate limit, an open circuit's cool-down of up
/// to ten minutes, a line of slow sends): the alarm does not count it overdue for this long. The lane keeps its ids
/// in its own storage, so this is only the backstop for a lane that lost them. A claim (the lane's, when it sends)
/// ends the hold.
pub const LANE_HOLD_MS: i64 = 60 * 60_000;

/// A webhook's lane's line: the pending deliveries its lane holds, oldest first, at most `limit`
/// (`deliveries_held`: reads `limit` rows, whatever the length of the line).
pub async fn held(db: &Database, webhook_id: &WebhookId, limit: usize) -> Result<Vec<DeliveryId>, StoreError> {
    delivery_ids(db.prepare(HELD_SQL).bind(&[text(webhook_id), int(limit as i64)])?).await
}

/// `INDEXED BY`: without statistics SQLite prefers `deliveries_by_webhook`, which would walk every delivery the
/// webhook ever had to find the few held. `+?1`: the same search of the index, but SQLite does not compile the
/// statement again on every run (see [`super::kept_compiled`]), which it does for `?1` against this partial index.
const HELD_SQL: &str =
    "SELECT id FROM deliveries INDEXED BY deliveries_held WHERE webhook_id = +?1 AND held_until IS NOT NULL \
    AND status = 'pending' ORDER BY created_at, rowid LIMIT +?2";

/// Ends the hold of these deliveries (its lane let them go: attempted by someone else, not claimable, or back to
/// the consumer's path).
pub async fn unhold(db: &Database, ids: &[&DeliveryId]) -> Result<(), StoreError> {
    if !ids.is_empty() {
        select_by_ids::<serde_json::Value>(db, "UPDATE deliveries SET held_until = NULL", ids).await?;
    }
    Ok(())
}

/// Ends the hold of every delivery a webhook's lane holds and answers their ids (the webhook no longer needs its
/// lane: they go back to the consumer's path).
pub async fn unhold_all(db: &Database, webhook_id: &WebhookId) -> Result<Vec<DeliveryId>, StoreError> {
    delivery_ids(
        db.prepare(
            "UPDATE deliveries SET held_until = NULL WHERE webhook_id = ?1 AND held_until IS NOT NULL \
             AND status = 'pending' RETURNING id",
        )
        .bind(&[text(webhook_id)])?,
    )
    .await
}

/// Filters of the delivery log.
pub struct LogQuery<'a> {
    pub org: &'a OrganizationId,
    pub webhook_id: &'a WebhookId,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<&'a str>,
    /// Where the page starts in the list of rows (`page.before`) and of successes in rounds (`rounds_before`).
    pub page: PageAt,
    pub rounds_before: Option<i64>,
}

/// A page of the log, newest first, and the total matching. It merges two lists: the deliveries' rows, in the order
/// they were written (the webhook's pages, schema v19), and the deliveries whose success lives in their event's round
/// (schema v23), in the order of their events (the webhook's round pages); the newer of the two heads comes first
/// (by creation time; the row on a tie). Each list is read below its own bound (`page.before`, `rounds_before`: a
/// previous page's last item of each), so a page from an iterator reads only what it answers, and an offset reads
/// what it skips of both.
pub async fn list(db: &Database, q: &LogQuery<'_>) -> Result<LogPage, StoreError> {
    let filter =
        [text(q.org), text(q.webhook_id), opt_text(q.status.map(DeliveryStatus::as_str)), opt_text(q.event_type)];
    let read = i64::from(q.page.offset) + i64::from(q.page.limit) + 1;
    let page_binds = |before: Option<i64>| {
        let mut binds = filter.to_vec();
        binds.extend([int(read), int(0), int(before.unwrap_or(i64::MAX))]);
        binds
    };
    let count_binds = super::count_binds(&filter);
    let results = batch(
        db,
        vec![
            db.prepare(log_page_sql()).bind(&page_binds(q.page.before))?,
            db.prepare(log_round_page_sql()).bind(&page_binds(q.rounds_before))?,
            db.prepare(log_count_sql()).bind(&count_binds)?,
            db.prepare(log_round_count_sql()).bind(&count_binds)?,
        ],
    )
    .await?;
    let total = super::counted(&results, 2)? + super::counted(&results, 3)?;
    Ok(log_page(rows_of(&results, 0)?, rows_of(&results, 1)?, total, &q.page, q.rounds_before))
}

/// The log's page at `at` (and `rounds_before`) from what its two reads answered (`rows`, `rounds`: each up to
/// the page's end and one more) and the count of both (`total`).
fn log_page(
    rows: Vec<LoggedDelivery>,
    rounds: Vec<LoggedDelivery>,
    total: i64,
    at: &PageAt,
    rounds_before: Option<i64>,
) -> LogPage {
    let rounds = rounds.into_iter().map(|d| LoggedDelivery { log: Log::Rounds, ..d }).collect();
    let (listed, more) = merged_log(rows, rounds, at.offset as usize, at.limit as usize);
    let last = |log: Log| listed.iter().rev().find(|d| d.log == log).map(|d| d.position);
    LogPage {
        next_before: last(Log::Rows).or(at.before),
        next_rounds_before: last(Log::Rounds).or(rounds_before),
        page: ListPage { rows: listed, more, total: super::ListTotal::of(total) },
    }
}

/// Which of the log's two lists a delivery comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// A row of `deliveries`; its position is its `rowid`.
    Rows,
    /// A success in its event's round; its position is the event's `rowid`.
    Rounds,
}

/// A page of the log, and where the next page starts in each of its lists (`None`: from the newest).
pub struct LogPage {
    pub page: ListPage<LoggedDelivery>,
    pub next_before: Option<i64>,
    pub next_rounds_before: Option<i64>,
}

/// The log's page of `limit` from the `offset`th on of the merge of `rows` and `rounds` (each newest first), and
/// whether more follow: at each step the head created later, the row on a tie.
fn merged_log(
    rows: Vec<LoggedDelivery>,
    rounds: Vec<LoggedDelivery>,
    offset: usize,
    limit: usize,
) -> (Vec<LoggedDelivery>, bool) {
    let (mut rows, mut rounds) = (rows.into_iter().peekable(), rounds.into_iter().peekable());
    let mut merged = Vec::with_capacity(limit + 1);
    let mut at = 0;
    while merged.len() <= limit {
        let take_row = match (rows.peek(), rounds.peek()) {
            (Some(r), Some(e)) => r.delivery.created_at >= e.delivery.created_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let Some(d) = (if take_row { rows.next() } else { rounds.next() }) else { break };
        if at >= offset {
            merged.push(d);
        }
        at += 1;
    }
    let more = merged.len() > limit;
    merged.truncate(limit);
    (merged, more)
}

/// A delivery of a webhook's log, and where it was written (`rowid` of its row, or of its event for a success in
/// its round): a page's iterator names its last one's in each list.
#[derive(Debug, Deserialize)]
pub struct LoggedDelivery {
    pub position: i64,
    #[serde(skip, default = "rows_log")]
    pub log: Log,
    #[serde(flatten)]
    pub delivery: DeliveryRow,
}

fn rows_log() -> Log {
    Log::Rows
}

/// The log's capped count (`?5`: the most rows it reads).
fn log_count_sql() -> String {
    super::capped_count_sql(&super::webhook_deliveries(LOG_WEBHOOK, "0", LOG_FILTER, ""), "?5")
}

/// The log's webhook, `?2`, kept compiled ([`super::kept_compiled`]): `?2` and the organization `?1` as written
/// made SQLite compile the log's statements again on every request. Same search (host test:
/// `the_logs_statements_keep_their_compiled_statements_and_plans`).
const LOG_WEBHOOK: &str = "+?2";

/// The log's filter on `d`: organization `?1` (kept compiled, as [`LOG_WEBHOOK`]), status `?3` and event type `?4`
/// (each may be NULL).
const LOG_FILTER: &str =
    "d.organization_id = +?1 AND (?3 IS NULL OR d.status = ?3) AND (?4 IS NULL OR d.event_type = ?4)";

/// The columns of a delivery the log reads: not its body, which it does not show.
fn log_columns() -> String {
    COLUMNS.replace(" body,", " '' AS body,")
}

/// A page of the log's rows: `?5` deliveries from the `?6`th on, written before `?7`, newest first (the pages up to
/// `?7`'s; `+` keeps `?7` from being the range a page's `rowid`s are searched in).
pub(crate) fn log_page_sql() -> String {
    format!(
        "SELECT rowid AS position, {} FROM deliveries WHERE rowid IN ({}) ORDER BY rowid DESC",
        log_columns(),
        super::webhook_deliveries(
            LOG_WEBHOOK,
            "0",
            &format!("{LOG_FILTER} AND +d.rowid < ?7 AND p.page <= ?7 / {}", super::WEBHOOK_PAGE),
            "ORDER BY p.page DESC, d.rowid DESC LIMIT +?5 OFFSET +?6"
        )
    )
}

/// The log's successes in rounds (schema v23) that `condition` selects, for webhook `?2` of organization `?1`, with
/// status `?3` and event type `?4` (each may be NULL): the webhook's round pages, newest first, and in each the
/// page's events, newest first.
fn log_round_successes(condition: &str, order_and_limit: &str) -> String {
    format!(
        "{} AND json_extract(j.value, '$[1]') = {LOG_WEBHOOK} AND p.webhook_id = {LOG_WEBHOOK} \
           AND +e.organization_id = ?1 \
           AND (?3 IS NULL OR ?3 = 'succeeded') AND (?4 IS NULL OR e.type = ?4) AND {condition} {order_and_limit}",
        super::round_successes(&format!(
            "webhook_round_pages p JOIN events e ON e.rowid >= p.page * {page} AND e.rowid < (p.page + 1) * {page}",
            page = super::WEBHOOK_PAGE
        ))
    )
}

/// A page of the log's successes in rounds: `?5` from the events before `?7` on, newest first.
pub(crate) fn log_round_page_sql() -> String {
    log_round_successes(
        &format!("+e.rowid < ?7 AND p.page <= ?7 / {}", super::WEBHOOK_PAGE),
        "ORDER BY p.page DESC, e.rowid DESC LIMIT +?5",
    )
}

/// The capped count of the log's successes in rounds (`?5`: the most it reads).
fn log_round_count_sql() -> String {
    super::capped_count_sql(&log_round_successes("1", ""), "?5")
}

/// Every attempt of a delivery, in order: the rows of `attempts` and, when its first attempt succeeded, that attempt
/// as its own row carries it (`first_attempt`) or, without a row, its entry in its event's round (schema v23).
pub async fn attempts(db: &Database, delivery_id: &DeliveryId) -> Result<Vec<AttemptRow>, StoreError> {
    #[derive(Deserialize)]
    struct Carried {
        first_attempt: String,
    }
    let binds = [text(delivery_id)];
    let results = batch(
        db,
        vec![
            db.prepare(
                "SELECT id, attempt, status_code, duration_ms, response_body, error, created_at, request_headers, \
                 request_body FROM attempts WHERE delivery_id = ?1",
            )
            .bind(&binds)?,
            db.prepare("SELECT first_attempt FROM deliveries WHERE id = ?1 AND first_attempt IS NOT NULL")
                .bind(&binds)?,
            db.prepare(format!(
                "SELECT json_extract(j.value, '$[2]') AS first_attempt {} \
                 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)",
                super::round_success_of("?2", "?1")
            ))
            .bind(&[text(delivery_id), opt_int(RoundRef::position_of(delivery_id))])?,
        ],
    )
    .await?;
    let mut all: Vec<AttemptRow> = rows_of(&results, 0)?;
    for carried in rows_of::<Carried>(&results, 1)?.into_iter().chain(rows_of::<Carried>(&results, 2)?) {
        all.push(serde_json::from_str(&carried.first_attempt)?);
    }
    all.sort_by_key(|a| (a.attempt, a.created_at));
    Ok(all)
}

/// Takes pending deliveries whose queue message was lost: due before `due_before`, not held by an attempt in
/// flight, and not re-enqueued by a sweep since `requeued_before` (a message sent then may still arrive). Marks
/// them re-enqueued at `now` in the same statement, so neither the next sweep nor a concurrent one takes them
/// again while that message can arrive.
pub async fn take_overdue(
    db: &Database,
    now: i64,
    due_before: i64,
    requeued_before: i64,
    limit: usize,
) -> Result<Vec<Overdue>, StoreError> {
    rows(db.prepare(TAKE_OVERDUE_SQL).bind(&[int(now), int(due_before), int(requeued_before), int(limit as i64)])?)
        .await
}

/// Deliveries an ingest wrote without a `next_attempt_at` (schema v16: claimed as they went in and sent by the
/// ingest, or on their way to a consumer through the queue) that look lost get their ingest's time as
/// `next_attempt_at`, which puts them in the index of pending deliveries and before the overdue search: a claimed
/// one whose lease ran out with no result (the invocation was lost), and an unclaimed one older than [`OVERDUE_MS`]
/// (its message was lost, or waits behind a backlog: the claim is fenced either way). Then `in_flight_from` moves up
/// to the first such delivery still in flight, or past the last delivery. Both read only the deliveries from
/// `in_flight_from` on: what was written since the last look, and what is still in flight.
pub async fn find_lost_sends(db: &Database, now: i64) -> Result<(), StoreError> {
    batch(
        db,
        vec![
            db.prepare(FIND_LOST_SENDS_SQL).bind(&[int(now), int(now - OVERDUE_MS)])?,
            db.prepare(ADVANCE_IN_FLIGHT_SQL),
        ],
    )
    .await?;
    Ok(())
}

/// Events with an unwritten round one alarm writes the rows of, at most: their payloads come back whole (up to 256 KiB
/// each, `api::events::MAX_EVENT_BYTES`), so 100 keep one read under 26 MB of the isolate's 128; with at most six
/// deliveries each, about as many as one alarm re-enqueues ([`SWEEP_LIMIT`]). A crash that left more is worked off one
/// run after another.
pub const ROUNDS_LIMIT: i64 = 100;
/// Events one alarm reads for unwritten rounds, at most, from `rounds_from` on (as many as an organization's object
/// stores in a minute at its ceiling; see [`COUNT_LIMIT`]).
pub const ROUNDS_SCAN: i64 = 60_000;

/// An event from `rounds_from` on whose round (schema v22) has deliveries without a row.
#[derive(Deserialize)]
struct OpenRound {
    position: i64,
    organization_id: OrganizationId,
    id: EventId,
    #[serde(rename = "type")]
    event_type: String,
    data: String,
    changes: Option<String>,
    created_at: i64,
    delivery_stem: String,
    round: String,
    /// None while a batch ingest's round waits for its consumer (nothing claimed it yet).
    round_lease: Option<i64>,
    /// Where the alarm's look for lost rounds starts (read by [`of_round`] only).
    #[serde(default)]
    rounds_from: i64,
}

impl OpenRound {
    /// Until when its deliveries may still be on their way without a row: the lease of its sends or, while no
    /// consumer has claimed it, [`OVERDUE_MS`] after its ingest (its queue message may wait behind others; after
    /// that, it is looked after as a delivery whose message was lost).
    fn in_flight_until(&self) -> i64 {
        self.round_lease.unwrap_or(self.created_at + OVERDUE_MS)
    }
}

/// `?1` at most this many, `?2` reading at most this many events. An event's round is open while fewer of its
/// deliveries have a row than it lists (a range of the primary key's index, its stem's).
fn open_rounds_sql() -> String {
    format!(
        "SELECT {} FROM events e WHERE e.rowid >= (SELECT rounds_from FROM organization) \
           AND e.rowid < (SELECT rounds_from FROM organization) + ?2 AND e.round IS NOT NULL AND {} > 0 \
         ORDER BY e.rowid LIMIT +?1",
        open_round_columns("e."),
        super::round_unwritten("e.rowid", "e.delivery_stem", "e.round")
    )
}

/// What the reads of open rounds (and a consumer's claim of one) answer of an event ([`OpenRound`]), each column
/// after `prefix` (`"e."`, or nothing where the statement names one table).
fn open_round_columns(prefix: &str) -> String {
    [
        "rowid AS position",
        "organization_id",
        "id",
        "type",
        "data",
        "changes",
        "created_at",
        "delivery_stem",
        "round",
        "round_lease",
    ]
    .map(|column| format!("{prefix}{column}"))
    .join(", ")
}

/// A delivery without a row (schema v22): webhook `webhook_id`'s delivery `id` in its event's round, pending as its
/// ingest claimed it while its first attempt may be under way (the event from `organization.rounds_from` on), or
/// succeeded with that attempt in its entry (schema v23; [`attempts`] reads it). So a delivery's page, its attempts and
/// a manual retry find a delivery that its event's page shows.
pub async fn of_round(
    db: &Database,
    org: &OrganizationId,
    webhook_id: &WebhookId,
    id: &DeliveryId,
) -> Result<Option<DeliveryRow>, StoreError> {
    let position = RoundRef::position_of(id);
    let binds = [text(org), text(webhook_id), text(id), opt_int(position)];
    let round: Option<OpenRound> = first(db.prepare(of_round_sql(position.is_some())).bind(&binds)?).await?;
    let Some(round) = round else { return Ok(None) };
    let entry = super::events::round_entries(&round.delivery_stem, Some(&round.round))?
        .into_iter()
        .find(|e| e.id == *id && e.webhook_id == *webhook_id);
    let Some(entry) = entry else { return Ok(None) };
    let row = round_row(&round, entry.id, entry.webhook_id)?;
    Ok(match entry.attempt {
        Some(attempt) => Some(DeliveryRow {
            status: DeliveryStatus::Succeeded,
            attempts: 1,
            last_status_code: attempt.status_code,
            lease_until: None,
            updated_at: attempt.created_at,
            ..row
        }),
        None if round.position >= round.rounds_from => Some(row),
        None => None,
    })
}

/// Before a manual retry of a delivery whose first attempt succeeded and lives in its event's round (schema v23, no
/// row): the attempt moves to a row written as the record would have written it (succeeded, the attempt in it,
/// `delivery`'s body), which the retry then claims as any other. Its entry keeps no attempt, so every reader finds
/// the row alone; and if the 24-hour counts held it through the round, they let it go (the row is counted as rows
/// are). One transaction; nothing when the entry holds no attempt (another retry moved it).
pub async fn write_round_success(db: &Database, delivery: &DeliveryRow) -> Result<(), StoreError> {
    let Some(position) = RoundRef::position_of(&delivery.id) else { return Ok(()) };
    let binds = [text(&delivery.id), text(&delivery.webhook_id), text(&delivery.body), int(position)];
    let statements = round_success_to_row_sql().into_iter().map(|sql| db.prepare(sql).bind(&binds));
    batch(db, statements.collect::<Result<Vec<_>, _>>()?).await?;
    Ok(())
}

/// [`write_round_success`]'s statements, in order, for delivery `?1` of webhook `?2` with body `?3` in the round of
/// event `?4`: the counts let it go, its row is written, its entry drops the attempt.
fn round_success_to_row_sql() -> [String; 3] {
    let entry = super::round_success_of("?4", "?1");
    let duration = "json_extract(j.value, '$[2].duration_ms')";
    [
        format!(
            "UPDATE delivery_counts SET succeeded = succeeded - 1, \
               first_attempt_ms = first_attempt_ms - COALESCE((SELECT {duration} {entry}), 0), \
               first_attempts = first_attempts - (SELECT {duration} IS NOT NULL {entry}) \
             WHERE webhook_id = ?2 AND bucket = (SELECT e.created_at / {COUNT_BUCKET_MS} {entry}) \
               AND ?4 < (SELECT rounds_counted_to FROM organization)"
        ),
        format!(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
               attempts, last_status_code, first_attempt, created_at, updated_at, stemmed) \
             SELECT ?1, e.organization_id, ?2, e.id, e.type, ?3, 'succeeded', 1, \
               json_extract(j.value, '$[2].status_code'), json_extract(j.value, '$[2]'), e.created_at, \
               COALESCE(json_extract(j.value, '$[2].created_at'), e.created_at), 1 {entry} ON CONFLICT (id) DO NOTHING"
        ),
        format!(
            "UPDATE events SET round = json_remove(round, (SELECT '$[' || j.key || '][2]' {entry})) \
             WHERE rowid = ?4 AND EXISTS (SELECT 1 {entry})"
        ),
    ]
}

/// `?1` the organization, `?2` the webhook, `?3` the delivery id, `?4` its event's position when the id begins with
/// it (schema v23; `by_position`), else the events from `rounds_from` on (those written since the alarm last looked)
/// are searched for the stem that begins the id: the event, if its round lists the webhook for a reason
/// ([`super::in_round`]) and the delivery has no row.
fn of_round_sql(by_position: bool) -> String {
    let at = if by_position { "e.rowid = ?4" } else { "e.rowid >= (SELECT rounds_from FROM organization)" };
    format!(
        "SELECT {}, (SELECT rounds_from FROM organization) AS rounds_from FROM events e WHERE {at} \
         AND e.round IS NOT NULL AND +e.organization_id = ?1 \
         AND substr(?3, 5, length(e.delivery_stem)) = e.delivery_stem AND {} \
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = ?3) LIMIT 1",
        open_round_columns("e."),
        super::in_round("e.rowid", "e.round", "?2")
    )
}

/// Where the look for open rounds ends when it finds none past what it read: the next event, or `?1` events on.
const ROUNDS_READ_TO_SQL: &str =
    concat!("SELECT MIN(", next_event_rowid!(), ", (SELECT rounds_from FROM organization) + ?1) AS read_to");

/// Rounds whose record never came (schema v22: their ingest's invocation was lost, or its record failed): once a
/// round's lease has run out, the rows its deliveries lack are written as their ingest would have written them,
/// claimed and leased, each body built again from the event (the same bytes: a body depends only on the event and
/// the delivery id), so that [`find_lost_sends`] resends them. Then `rounds_from` moves up to the first event whose
/// round may still be in flight, or past what was read. Reads the events from `rounds_from` on.
pub async fn write_lost_rounds(db: &Database, now: i64) -> Result<(), StoreError> {
    #[derive(Deserialize)]
    struct ReadTo {
        read_to: i64,
    }
    let results = batch(
        db,
        vec![
            db.prepare(open_rounds_sql()).bind(&[int(ROUNDS_LIMIT), int(ROUNDS_SCAN)])?,
            db.prepare(ROUNDS_READ_TO_SQL).bind(&[int(ROUNDS_SCAN)])?,
        ],
    )
    .await?;
    let open: Vec<OpenRound> = rows_of(&results, 0)?;
    let Some(read_to) = rows_of::<ReadTo>(&results, 1)?.first().map(|r| r.read_to) else { return Ok(()) };
    let LostRounds { rows, rounds_from } = lost_rounds(&open, read_to, ROUNDS_LIMIT, now)?;
    let mut statements = match open.first() {
        Some(one) => write_unwritten(db, &one.organization_id, &rows.iter().collect::<Vec<_>>(), now)?,
        None => Vec::new(),
    };
    statements.push(db.prepare(ADVANCE_ROUNDS_SQL).bind(&[int(rounds_from)])?);
    batch(db, statements).await?;
    Ok(())
}

/// What one look at the open rounds does.
#[derive(Debug)]
struct LostRounds {
    /// The rows of the rounds whose lease has run out, as their ingests claimed them.
    rows: Vec<DeliveryRow>,
    /// Where `organization.rounds_from` moves: the first round that may still be in flight, or past what was read.
    rounds_from: i64,
}

/// [`LostRounds`] of the open rounds read (`open`, in `rowid` order, at most `limit`; the read saw the events below
/// `read_to`) at `now`. Rounds after the first one still leased wait for the next look; so do events past the last
/// read when the read was full.
fn lost_rounds(open: &[OpenRound], read_to: i64, limit: i64, now: i64) -> Result<LostRounds, StoreError> {
    let mut rows = Vec::new();
    let mut rounds_from =
        if open.len() as i64 >= limit { open.last().map_or(read_to, |r| r.position + 1) } else { read_to };
    for round in open {
        if round.in_flight_until() >= now {
            rounds_from = round.position;
            break;
        }
        rows.extend(round_rows(round)?);
    }
    Ok(LostRounds { rows, rounds_from })
}

const ADVANCE_ROUNDS_SQL: &str = "UPDATE organization SET rounds_from = ?1 WHERE rounds_from < ?1";

/// The deliveries of a round as its ingest wrote them: claimed (attempt 1, leased until the round's lease), or not
/// yet claimed by a consumer (attempt 0, no lease).
/// Its deliveries whose entries hold no attempt ([`super::events::round_deliveries`]).
fn round_rows(round: &OpenRound) -> Result<Vec<DeliveryRow>, StoreError> {
    super::events::round_deliveries(&round.delivery_stem, Some(&round.round))?
        .into_iter()
        .map(|(id, webhook_id)| round_row(round, id, webhook_id))
        .collect()
}

/// Delivery `id` to `webhook_id` of a round as its ingest wrote it ([`round_rows`]), its body built again from the
/// event.
fn round_row(round: &OpenRound, id: DeliveryId, webhook_id: WebhookId) -> Result<DeliveryRow, StoreError> {
    let timestamp = crate::domain::time::iso8601(round.created_at);
    let body = crate::domain::payload::build(&crate::domain::payload::DeliveryBody {
        event_id: round.id.as_str(),
        event_type: &round.event_type,
        timestamp: &timestamp,
        organization_id: round.organization_id.as_str(),
        delivery_id: id.as_str(),
        data: &round.data,
        changes: round.changes.as_deref(),
        test: false,
    })?;
    Ok(DeliveryRow {
        id,
        organization_id: round.organization_id.clone(),
        webhook_id,
        event_id: round.id.clone(),
        event_type: round.event_type.clone(),
        body,
        status: DeliveryStatus::Pending,
        attempts: i64::from(round.round_lease.is_some()),
        chain_start: 0,
        last_status_code: None,
        last_error: None,
        next_attempt_at: None,
        lease_until: round.round_lease,
        is_test: false,
        created_at: round.created_at,
        updated_at: round.created_at,
        lost_attempts: 0,
        unwritten: true,
        ingest_round: None,
    })
}

/// Where `in_flight_from` moves to: the first delivery an ingest may still be sending, or past the last delivery.
macro_rules! in_flight_next {
    () => {
        concat!(
            "COALESCE((SELECT rowid FROM deliveries WHERE ",
            in_flight!(),
            " ORDER BY rowid LIMIT 1), ",
            next_delivery_rowid!(),
            ")"
        )
    };
}

const FIND_LOST_SENDS_SQL: &str = concat!(
    "UPDATE deliveries SET next_attempt_at = created_at WHERE ",
    in_flight!(),
    " AND (lease_until < ?1 OR (lease_until IS NULL AND created_at < ?2))"
);

const ADVANCE_IN_FLIGHT_SQL: &str = concat!(
    "UPDATE organization SET in_flight_from = ",
    in_flight_next!(),
    " WHERE in_flight_from != ",
    in_flight_next!()
);

/// A delivery the alarm re-enqueues.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Overdue {
    pub id: DeliveryId,
    /// Its attempts in a row that ended without a result, the one whose lease has just run out included.
    pub lost_attempts: i64,
}

const TAKE_OVERDUE_SQL: &str = concat!(
    "UPDATE deliveries SET requeued_at = ?1 WHERE id IN (\
    SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at < ?2 \
    AND (lease_until IS NULL OR lease_until < ?1) AND (requeued_at IS NULL OR requeued_at < ?3) \
    AND (held_until IS NULL OR held_until < ?1) ORDER BY next_attempt_at LIMIT +?4) \
    RETURNING id, ",
    lost_counted!(),
    " AS lost_attempts"
);

/// When the alarm sends a re-enqueued delivery, in seconds from now: at once unless it has lost two attempts in a
/// row or more; those are spread over one alarm interval (`spread` in 0..1, random), so that deliveries lost in the
/// same invocation as one that takes its invocation down do not keep meeting it in the next. One lost attempt (a
/// kill of the runtime, a deploy) is resent at once.
pub fn requeue_delay_seconds(lost_attempts: i64, interval_seconds: u64, spread: f64) -> u64 {
    if lost_attempts < 2 {
        return 0;
    }
    (interval_seconds as f64 * spread.clamp(0.0, 1.0)).round() as u64
}

/// A pending delivery this far past due has lost its queue message; the organization's alarm re-enqueues it.
pub const OVERDUE_MS: i64 = 60_000;
/// After re-enqueueing a delivery, the alarm leaves it alone for this many of its intervals (5 minutes at the
/// default minute): its message may still be waiting behind others in the queue, and an alarm cut off after marking
/// it (the runtime killed between the mark and the send) is covered by the next look after that.
pub const REQUEUE_WAIT_INTERVALS: i64 = 5;
/// The most one alarm re-enqueues, whatever the budget allows.
pub const SWEEP_LIMIT: usize = 500;
/// Rows of each table one alarm's retention prune deletes at most (the object has one thread: keep it short).
pub const PRUNE_LIMIT: usize = 1_000;

/// Deletes what of an organization is older than the retention window, at most `limit` rows of each table per
/// call: attempts, finished deliveries and events that no pending delivery still belongs to, by creation time. Every
/// delete walks an index on its age, or for deliveries the `rowid`s below the last time mark older than the window
/// (see [`MARK_DELIVERIES_SQL`]). Marks the deliveries written since the last mark first, when it is time to.
pub async fn prune(db: &Database, now: i64, before: i64, limit: usize) -> Result<(), StoreError> {
    let binds = [int(before), int(limit as i64)];
    batch(
        db,
        vec![
            db.prepare(PRUNE_MARKS_SQL).bind(&[int(before)])?,
            db.prepare(MARK_DELIVERIES_SQL).bind(&[int(now), int(MARK_EVERY_MS)])?,
            db.prepare(COUNT_DELIVERIES_SQL).bind(&[int(COUNT_LIMIT)])?,
            db.prepare(ADVANCE_COUNT_SQL).bind(&[int(COUNT_LIMIT)])?,
            db.prepare(count_round_successes_sql()).bind(&[int(ROUNDS_COUNT_LIMIT)])?,
            db.prepare(ADVANCE_ROUNDS_COUNT_SQL).bind(&[int(ROUNDS_COUNT_LIMIT)])?,
            db.prepare(PRUNE_COUNTS_SQL).bind(&[int(before), int(limit as i64)])?,
            db.prepare(PRUNE_ATTEMPTS_SQL).bind(&binds)?,
            db.prepare(prune_deliveries_sql()).bind(&binds)?,
            db.prepare(prune_events_sql()).bind(&binds)?,
            db.prepare(PRUNE_POLL_MESSAGES_SQL).bind(&binds)?,
            db.prepare(prune_webhook_pages_sql()).bind(&[int(limit as i64)])?,
            db.prepare(prune_pages_sql("webhook_round_pages", "events")).bind(&[int(limit as i64)])?,
            db.prepare(prune_event_type_pages_sql()).bind(&[int(limit as i64)])?,
        ],
    )
    .await?;
    Ok(())
}

/// How often, at most, the alarm marks the deliveries and events written (`time_marks`) while they keep coming; one more
/// mark when the organization goes quiet (nothing pending) covers the rest. Retention is as fine as this.
pub const MARK_EVERY_MS: i64 = 10 * 60_000;

/// A time mark at `?1`: every delivery with a `rowid` below `next_rowid`, and every event below `next_event_rowid`,
/// was written before `at` (SQLite numbers rows in the order they are written). Taken when deliveries or events were
/// written since the last mark and that mark is older than `?2`, or nothing is pending (the organization may sleep
/// until the oldest row expires).
pub(crate) const MARK_DELIVERIES_SQL: &str = concat!(
    "INSERT OR IGNORE INTO time_marks (at, next_rowid, next_event_rowid) SELECT ?1, ",
    next_delivery_rowid!(),
    ", ",
    next_event_rowid!(),
    " WHERE (",
    next_delivery_rowid!(),
    " > COALESCE((SELECT next_rowid FROM time_marks ORDER BY at DESC LIMIT 1), 1) OR ",
    next_event_rowid!(),
    " > COALESCE((SELECT next_event_rowid FROM time_marks ORDER BY at DESC LIMIT 1), 1)) \
    AND (NOT EXISTS (SELECT 1 FROM time_marks WHERE at > ?1 - ?2) \
         OR NOT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL))"
);

/// What `delivery_counts` keeps of deliveries `d`, in its columns' order: how many succeeded, failed and are pending,
/// and the sum and number of their first attempts' durations. The count and the reads of what it does not hold yet
/// add up the same way.
macro_rules! delivery_outcomes {
    () => {
        "TOTAL(d.status = 'succeeded') AS succeeded, TOTAL(d.status = 'failed') AS failed, \
         TOTAL(d.status = 'pending') AS pending, \
         TOTAL(json_extract(d.first_attempt, '$.duration_ms')) AS first_attempt_ms, \
         COUNT(json_extract(d.first_attempt, '$.duration_ms')) AS first_attempts"
    };
}

/// `delivery_counts` (schema v20) counts deliveries by webhook and by this much of their creation time.
pub(crate) const COUNT_BUCKET_MS: i64 = 600_000;

/// Deliveries one alarm adds to `delivery_counts` at most: a read of each (about 40 ms for 60,000 on this machine's
/// SQLite); more than an organization's object writes in a minute at its ceiling (about 1,000 a second, docs/
/// data-plane.md), so counting keeps up, and an upgraded object catches up at this pace.
pub const COUNT_LIMIT: i64 = 60_000;

/// Adds the deliveries from `counted_to` up to `count_next` (written before the alarm's previous run, so their first
/// attempt is usually over), at most `?1` of them, to their webhook's counts for their ten minutes; a deleted
/// webhook's are left out (its counts went with it).
const COUNT_DELIVERIES_SQL: &str = concat!(
    "INSERT INTO delivery_counts (webhook_id, bucket, succeeded, failed, pending, first_attempt_ms, first_attempts) \
     SELECT d.webhook_id, d.created_at / 600000, ",
    delivery_outcomes!(),
    " FROM deliveries d WHERE d.rowid >= (SELECT counted_to FROM organization) \
       AND d.rowid < (SELECT MIN(count_next, counted_to + ?1) FROM organization) \
       AND d.webhook_id IN (SELECT id FROM webhooks) \
     GROUP BY 1, 2 \
     ON CONFLICT (webhook_id, bucket) DO UPDATE SET succeeded = succeeded + excluded.succeeded, \
       failed = failed + excluded.failed, pending = pending + excluded.pending, \
       first_attempt_ms = first_attempt_ms + excluded.first_attempt_ms, \
       first_attempts = first_attempts + excluded.first_attempts"
);

/// After [`COUNT_DELIVERIES_SQL`]: `counted_to` moves past what it counted, and `count_next` to the next delivery's
/// `rowid` (the next run counts up to it). Writes the row only when either moves.
const ADVANCE_COUNT_SQL: &str = concat!(
    "UPDATE organization SET counted_to = MIN(count_next, counted_to + ?1), count_next = ",
    next_delivery_rowid!(),
    " WHERE counted_to != MIN(count_next, counted_to + ?1) OR count_next != ",
    next_delivery_rowid!()
);

/// Adds the successes in the rounds of the events from `rounds_counted_to` up to `rounds_from` (schema v23: every
/// round below it is settled, each delivery in a row or its success in its entry), at most `?1` events, to their
/// webhook's counts for their ten minutes, as [`COUNT_DELIVERIES_SQL`] adds rows; a deleted webhook's are left out.
fn count_round_successes_sql() -> String {
    format!(
        "INSERT INTO delivery_counts (webhook_id, bucket, succeeded, failed, pending, first_attempt_ms, \
           first_attempts) \
         SELECT json_extract(j.value, '$[1]'), e.created_at / {COUNT_BUCKET_MS}, COUNT(*), 0, 0, \
           TOTAL(json_extract(j.value, '$[2].duration_ms')), COUNT(json_extract(j.value, '$[2].duration_ms')) \
         FROM events e, json_each(e.round) j \
         WHERE e.rowid >= (SELECT rounds_counted_to FROM organization) \
           AND e.rowid < (SELECT MIN(rounds_from, rounds_counted_to + ?1) FROM organization) AND {} \
           AND json_extract(j.value, '$[1]') IN (SELECT id FROM webhooks) \
         GROUP BY 1, 2 \
         ON CONFLICT (webhook_id, bucket) DO UPDATE SET succeeded = succeeded + excluded.succeeded, \
           first_attempt_ms = first_attempt_ms + excluded.first_attempt_ms, \
           first_attempts = first_attempts + excluded.first_attempts",
        super::ROUND_ENTRY_SUCCEEDED
    )
}

/// Events one alarm reads at most for [`count_round_successes_sql`]: a round lists up to six deliveries
/// (`SENDS_AFTER_RESPONSE`), so at most [`COUNT_LIMIT`] successes.
pub const ROUNDS_COUNT_LIMIT: i64 = COUNT_LIMIT / 6;

/// After [`count_round_successes_sql`]: `rounds_counted_to` moves past what it counted.
const ADVANCE_ROUNDS_COUNT_SQL: &str = "UPDATE organization SET rounds_counted_to = MIN(rounds_from, \
     rounds_counted_to + ?1) WHERE rounds_counted_to < MIN(rounds_from, rounds_counted_to + ?1)";

/// Counts older than the window (`?1`) go, at most `?2`, read per webhook.
const PRUNE_COUNTS_SQL: &str = "DELETE FROM delivery_counts WHERE (webhook_id, bucket) IN (SELECT c.webhook_id, \
     c.bucket FROM webhooks w CROSS JOIN delivery_counts c ON c.webhook_id = w.id \
     AND c.bucket < CAST(?1 AS INTEGER) / 600000 LIMIT +?2)";

/// The `rowid`s of the deliveries created at or after `since` that `delivery_counts` does not hold from bucket
/// `first_bucket` on (both SQL expressions; `first_bucket` is the first whole bucket at or after `since`): those
/// before that bucket (the window's first partial ten minutes; `partial` false when `since` starts a bucket), and
/// those not yet counted. Two ranges of `rowid`s, from the time marks and `counted_to`.
pub(crate) fn uncounted_since(since: &str, first_bucket: &str, partial: bool) -> String {
    uncounted_ranges(&COUNTED_ROWS, since, first_bucket, partial)
        .iter()
        .map(|range| format!("SELECT rowid FROM deliveries WHERE {range}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// A table whose rows `delivery_counts` holds up to a cursor: the deliveries' rows, or the events whose rounds hold
/// successes (schema v23). Each is an SQL expression.
struct Counted {
    /// A row's `rowid` and creation time.
    rowid: &'static str,
    created_at: &'static str,
    /// The column of `time_marks` that holds the table's next `rowid`, and that `rowid` now.
    marks: &'static str,
    next: &'static str,
    /// Where the counts hold the table's rows up to.
    cursor: &'static str,
}

const COUNTED_ROWS: Counted = Counted {
    rowid: "rowid",
    created_at: "created_at",
    marks: "next_rowid",
    next: next_delivery_rowid!(),
    cursor: "(SELECT counted_to FROM organization)",
};

const COUNTED_ROUNDS: Counted = Counted {
    rowid: "e.rowid",
    created_at: "e.created_at",
    marks: "next_event_rowid",
    next: next_event_rowid!(),
    cursor: "(SELECT rounds_counted_to FROM organization)",
};

/// The conditions on the rows of `table` created at or after `since` that the counts do not hold from bucket
/// `first_bucket` on: when `partial`, those before that bucket (a range of `rowid`s from the time marks, below the
/// cursor), and those not yet counted (from the cursor on). The marks give the bounds with
/// [`super::INGEST_CLOCK_SLACK_MS`] to spare.
fn uncounted_ranges(table: &Counted, since: &str, first_bucket: &str, partial: bool) -> Vec<String> {
    let Counted { rowid, created_at, marks, next, cursor } = table;
    let from = super::marked_rowid(marks, &format!("{since} - {}", super::INGEST_CLOCK_SLACK_MS));
    let not_yet = format!("{rowid} >= MAX({cursor}, {from}) AND {created_at} >= {since}");
    if !partial {
        return vec![not_yet];
    }
    let bucket_start = format!("{first_bucket} * {COUNT_BUCKET_MS}");
    let before = super::marked_rowid_after(marks, &format!("{bucket_start} + {}", super::INGEST_CLOCK_SLACK_MS), next);
    vec![
        format!(
            "{rowid} >= {from} AND {rowid} < MIN({cursor}, {before}) AND {created_at} >= {since} \
             AND {created_at} < {bucket_start}"
        ),
        not_yet,
    ]
}

/// The deliveries created at or after `since` that `delivery_counts` does not hold from bucket `first_bucket` on, as
/// [`uncounted_since`] (the rows) and the successes in rounds (schema v23) of the events of the same two ranges
/// (from the events' time marks and `rounds_counted_to`): `webhook_id`, `status`, `created_at`, `first_attempt`
/// and `organization_id` of each.
pub(crate) fn uncounted_deliveries(since: &str, first_bucket: &str, partial: bool) -> String {
    const COLUMNS: &str = "webhook_id, status, created_at, first_attempt, organization_id";
    let rows =
        format!("SELECT {COLUMNS} FROM deliveries WHERE rowid IN ({})", uncounted_since(since, first_bucket, partial));
    let successes = uncounted_ranges(&COUNTED_ROUNDS, since, first_bucket, partial)
        .into_iter()
        .map(|range| format!("SELECT {COLUMNS} FROM ({} AND {range})", super::round_successes("events e")));
    std::iter::once(rows).chain(successes).collect::<Vec<_>>().join(" UNION ALL ")
}

/// The first whole bucket of `delivery_counts` at or after `since` (an SQL expression).
fn first_bucket(since: &str) -> String {
    format!("((CAST({since} AS INTEGER) + {}) / {COUNT_BUCKET_MS})", COUNT_BUCKET_MS - 1)
}

/// Finished deliveries written before the last mark older than the window (`?1`), oldest first: a range of `rowid`s,
/// no index. The creation time is checked too, so a `rowid` out of order is never deleted early. The newest delivery
/// stays, whatever its age: with none left SQLite would number the next one 1 again, and the marks and
/// `in_flight_from` count on numbers that only grow.
fn prune_deliveries_sql() -> String {
    format!(
        "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE rowid < {} \
         AND rowid < (SELECT MAX(rowid) FROM deliveries) \
         AND created_at < ?1 AND status != 'pending' ORDER BY rowid LIMIT +?2)",
        super::marked_rowid("next_rowid", "?1")
    )
}

/// Marks older than the window (`?1`) go, but the newest of them, which bounds the next delete.
const PRUNE_MARKS_SQL: &str = "DELETE FROM time_marks WHERE at < (SELECT MAX(at) FROM time_marks WHERE at <= ?1)";

/// A webhook's pages (schema v19) below the oldest delivery left: all of their deliveries are gone. Read per webhook
/// (a range of each one's pages), at most `?1`.
fn prune_webhook_pages_sql() -> String {
    prune_pages_sql("webhook_pages", "deliveries")
}

/// [`prune_webhook_pages_sql`] for the pages of `table` (`webhook_pages`, or `webhook_round_pages` of schema v23),
/// below the oldest row left of `rows` (`deliveries`, or `events`).
fn prune_pages_sql(table: &str, rows: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE (webhook_id, page) IN (SELECT p.webhook_id, \
         p.page FROM webhooks w CROSS JOIN {table} p ON p.webhook_id = w.id \
         AND p.page < (SELECT MIN(rowid) FROM {rows}) / {} LIMIT +?1)",
        super::WEBHOOK_PAGE
    )
}

/// A type's pages (schema v21) below the oldest event left: all of their events are gone. Read per type (the types
/// found through the primary key, one seek each), at most `?1`.
pub(crate) fn prune_event_type_pages_sql() -> String {
    format!(
        "WITH RECURSIVE types (type) AS (SELECT MIN(type) FROM event_type_pages \
           UNION ALL SELECT (SELECT MIN(type) FROM event_type_pages WHERE type > types.type) FROM types \
           WHERE types.type IS NOT NULL) \
         DELETE FROM event_type_pages WHERE (type, page) IN (SELECT p.type, p.page FROM types t \
           CROSS JOIN event_type_pages p ON p.type = t.type AND p.page < (SELECT MIN(rowid) FROM events) / {} \
           LIMIT +?1)",
        super::EVENT_TYPE_PAGE
    )
}

/// A polling webhook's messages leave with their events, at the end of the retention window, read or not.
const PRUNE_POLL_MESSAGES_SQL: &str =
    "DELETE FROM poll_messages WHERE seq IN (SELECT seq FROM poll_messages WHERE created_at < ?1 LIMIT +?2)";

const PRUNE_ATTEMPTS_SQL: &str =
    "DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE created_at < ?1 LIMIT +?2)";

/// Events written before the last mark older than the window (`?1`) that no pending delivery still needs, oldest
/// first: a range of `rowid`s, no index (schema v18). As for deliveries, the creation time is checked too and the
/// newest event stays.
pub(crate) fn prune_events_sql() -> String {
    format!(
        "DELETE FROM events WHERE rowid IN (SELECT e.rowid FROM events e \
         WHERE e.rowid < {} AND e.rowid < (SELECT MAX(rowid) FROM events) AND +e.organization_id = {OBJECT_ORGANIZATION} \
         AND e.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.rowid IN ({}) \
         AND d.status = 'pending') ORDER BY e.rowid LIMIT +?2)",
        super::marked_rowid("next_event_rowid", "?1"),
        super::deliveries_of_event("e.id", "e.delivery_stem")
    )
}

/// The deployment-wide rows past their time, in D1: dead letters older than `before` and portal sessions expired
/// before it (a lookup checks the expiry; they go with the rest of the old rows).
pub async fn prune_global(db: &Database, before: i64, limit: usize) -> Result<(), StoreError> {
    let binds = [int(before), int(limit as i64)];
    batch(
        db,
        vec![
            db.prepare("DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE created_at < ?1 LIMIT +?2)")
                .bind(&binds)?,
            db.prepare(
                "DELETE FROM portal_sessions WHERE rowid IN (SELECT rowid FROM portal_sessions WHERE expires_at < ?1 LIMIT +?2)",
            )
            .bind(&binds)?,
        ],
    )
    .await?;
    Ok(())
}

/// When an organization's alarm next has work: the first time a pending delivery may be overdue (due, unleased,
/// not re-enqueued lately), at once while deliveries wait to be counted (`delivery_counts`), or when an old row
/// reaches the end of the retention window (for deliveries and events, the first time mark past the oldest finished
/// delivery or the oldest event); `None` if it holds none of these.
pub async fn next_housekeeping(
    db: &Database,
    retention_ms: i64,
    requeue_wait_ms: i64,
) -> Result<Option<i64>, StoreError> {
    #[derive(Deserialize)]
    struct Next {
        overdue: Option<i64>,
        in_flight: Option<i64>,
        event: Option<i64>,
        attempt: Option<i64>,
        finished: Option<i64>,
        counting: Option<i64>,
        rounds: Option<i64>,
    }
    let next: Option<Next> =
        first(db.prepare(next_housekeeping_sql()).bind(&[int(OVERDUE_MS + 1), int(requeue_wait_ms + 1)])?).await?;
    let Some(next) = next else { return Ok(None) };
    let aged = [next.event, next.attempt, next.finished].into_iter().flatten().map(|t| t + retention_ms + 1);
    let rounds = next.rounds.map(|lease| lease + 1);
    Ok(next.overdue.into_iter().chain(next.in_flight).chain(next.counting).chain(rounds).chain(aged).min())
}

fn next_housekeeping_sql() -> String {
    format!(
        "SELECT \
           (SELECT MIN(MAX(COALESCE(next_attempt_at, 0) + ?1, COALESCE(lease_until, 0), COALESCE(requeued_at + ?2, 0), \
              COALESCE(held_until, 0))) \
              FROM deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL) AS overdue, \
           (SELECT MIN(MAX(COALESCE(lease_until, 0), created_at + ?1)) FROM deliveries WHERE {in_flight}) \
              AS in_flight, \
           (SELECT MIN(m.at) FROM time_marks m WHERE m.next_event_rowid > \
              (SELECT rowid FROM events WHERE rowid < (SELECT MAX(rowid) FROM events) ORDER BY rowid LIMIT 1)) \
              AS event, \
           (SELECT MIN(created_at) FROM attempts) AS attempt, \
           (SELECT MIN(m.at) FROM time_marks m WHERE m.next_rowid > \
              (SELECT rowid FROM deliveries WHERE status != 'pending' AND rowid < (SELECT MAX(rowid) FROM deliveries) \
               ORDER BY rowid LIMIT 1)) AS finished, \
           (SELECT 0 FROM organization WHERE counted_to < count_next) AS counting, \
           (SELECT MIN(round_lease) FROM events WHERE rowid >= (SELECT rounds_from FROM organization) \
              AND round IS NOT NULL) AS rounds",
        in_flight = in_flight!()
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct Stats {
    pub webhooks_total: Option<i64>,
    pub webhooks_active: Option<i64>,
    pub deliveries_total: Option<i64>,
    pub deliveries_succeeded: Option<i64>,
    pub deliveries_failed: Option<i64>,
    pub deliveries_pending: Option<i64>,
    pub avg_response_ms: Option<f64>,
}

/// The organization's counts since `since` (deliveries) and now (webhooks).
pub async fn stats(db: &Database, org: &OrganizationId, since: i64) -> Result<Stats, StoreError> {
    let stats: Option<Stats> = first(db.prepare(stats_sql()).bind(&[text(org), int(since)])?).await?;
    Ok(stats.unwrap_or_default())
}

/// The organization's counts since `?2`, of its webhooks (a delivery of a deleted webhook is left out): their
/// counts (`delivery_counts`, schema v20) from the first whole ten minutes on, and the deliveries those do not hold
/// ([`uncounted_since`]), each looked up by its webhook (`CROSS JOIN` keeps the deliveries outside). The average
/// response time is over the attempts since `?2` and the first attempts carried in the deliveries' rows.
pub(crate) fn stats_sql() -> String {
    format!(
        "SELECT \
           (SELECT COUNT(*) FROM webhooks WHERE organization_id = +?1) AS webhooks_total, \
           (SELECT COUNT(*) FROM webhooks WHERE organization_id = +?1 AND is_active = 1) AS webhooks_active, \
           CAST(k.succeeded + k.failed + k.pending + u.total AS INTEGER) AS deliveries_total, \
           CAST(k.succeeded + u.succeeded AS INTEGER) AS deliveries_succeeded, \
           CAST(k.failed + u.failed AS INTEGER) AS deliveries_failed, \
           CAST(k.pending + u.pending AS INTEGER) AS deliveries_pending, \
           (k.first_attempt_ms + u.first_attempt_ms + t.attempt_ms) \
             / NULLIF(CAST(k.first_attempts + u.first_attempts + t.attempts AS REAL), 0) AS avg_response_ms \
         FROM (SELECT TOTAL(c.succeeded) AS succeeded, TOTAL(c.failed) AS failed, TOTAL(c.pending) AS pending, \
                 TOTAL(c.first_attempt_ms) AS first_attempt_ms, TOTAL(c.first_attempts) AS first_attempts \
               FROM webhooks w CROSS JOIN delivery_counts c ON c.webhook_id = w.id AND c.bucket >= {first_bucket} \
               WHERE w.organization_id = +?1) k, \
              ({uncounted_totals} FROM ({uncounted}) d CROSS JOIN webhooks w ON w.id = d.webhook_id \
               WHERE w.organization_id = +?1) u, \
              (SELECT TOTAL(a.duration_ms) AS attempt_ms, COUNT(a.duration_ms) AS attempts \
               FROM attempts a JOIN deliveries d2 ON d2.id = a.delivery_id \
               WHERE d2.organization_id = +?1 AND a.created_at >= ?2) t",
        first_bucket = first_bucket("?2"),
        uncounted_totals = UNCOUNTED_TOTALS,
        uncounted = uncounted_deliveries("?2", &first_bucket("?2"), true),
    )
}

/// The counts of deliveries `d` by outcome, with their first attempts' durations, as `delivery_counts` keeps them.
const UNCOUNTED_TOTALS: &str = concat!("SELECT COUNT(*) AS total, ", delivery_outcomes!());

/// One webhook's recent activity, for the dashboard's list: its deliveries since `since` by outcome, and when it
/// last got one at all.
#[derive(Debug, Deserialize)]
pub struct Activity {
    pub webhook_id: WebhookId,
    pub last_delivery_at: Option<i64>,
    pub total: Option<i64>,
    pub succeeded: Option<i64>,
    pub failed: Option<i64>,
}

/// [`Activity`] of each of the organization's webhooks: one statement, walking `deliveries_by_webhook` for each
/// (its 24 h counts and its last delivery).
pub async fn activity(db: &Database, org: &OrganizationId, since: i64) -> Result<Vec<Activity>, StoreError> {
    rows(db.prepare(activity_sql()).bind(&[text(org), int(since)])?).await
}

/// [`Activity`]: each webhook's counts since `?2` (`delivery_counts` from the first whole ten minutes on, read per
/// webhook, and the deliveries they do not hold, [`uncounted_since`]), and its last delivery from its newest page
/// (schema v19).
pub(crate) fn activity_sql() -> String {
    format!(
        "SELECT w.id AS webhook_id, \
           (SELECT MAX(at) FROM (SELECT MAX(l.created_at) AS at FROM deliveries l WHERE l.rowid IN ({last}) \
             UNION ALL SELECT MAX(e.created_at) FROM events e WHERE e.rowid >= {last_round} * {page} \
               AND e.rowid < ({last_round} + 1) * {page} AND instr(e.round, '\"' || w.id || '\"') > 0)) \
             AS last_delivery_at, \
           CAST(TOTAL(c.succeeded + c.failed + c.pending) + COALESCE(u.total, 0) AS INTEGER) AS total, \
           CAST(TOTAL(c.succeeded) + COALESCE(u.succeeded, 0) AS INTEGER) AS succeeded, \
           CAST(TOTAL(c.failed) + COALESCE(u.failed, 0) AS INTEGER) AS failed \
         FROM webhooks w LEFT JOIN delivery_counts c ON c.webhook_id = w.id AND c.bucket >= {first_bucket} \
         LEFT JOIN (SELECT d.webhook_id, COUNT(*) AS total, SUM(d.status = 'succeeded') AS succeeded, \
           SUM(d.status = 'failed') AS failed FROM ({uncounted}) d \
           GROUP BY d.webhook_id) u ON u.webhook_id = w.id \
         WHERE w.organization_id = +?1 GROUP BY w.id",
        last =
            super::webhook_deliveries("w.id", "(SELECT MAX(page) FROM webhook_pages WHERE webhook_id = w.id)", "1", ""),
        last_round = "(SELECT MAX(page) FROM webhook_round_pages WHERE webhook_id = w.id)",
        page = super::WEBHOOK_PAGE,
        first_bucket = first_bucket("?2"),
        uncounted = uncounted_deliveries("?2", &first_bucket("?2"), true),
    )
}

/// One hour of one webhook's deliveries by outcome; `hour` counts hours since the epoch.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct HourCounts {
    pub hour: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub pending: i64,
}

/// A webhook's deliveries since `since`, by hour and outcome (hours without any are absent), with its totals.
pub async fn hourly(
    db: &Database,
    org: &OrganizationId,
    webhook_id: &WebhookId,
    since: i64,
) -> Result<(Vec<HourCounts>, Option<f64>), StoreError> {
    let binds = [text(org), text(webhook_id), int(since)];
    // The chart asks from the start of an hour; any other `since` starts inside ten minutes of the counts.
    let partial = since.rem_euclid(COUNT_BUCKET_MS) != 0;
    let results = batch(
        db,
        vec![db.prepare(hourly_sql(partial)).bind(&binds)?, db.prepare(hourly_average_sql(partial)).bind(&binds)?],
    )
    .await?;
    #[derive(Deserialize)]
    struct Average {
        avg_response_ms: Option<f64>,
    }
    let hours = rows_of(&results, 0)?;
    let average: Vec<Average> = rows_of(&results, 1)?;
    Ok((hours, average.into_iter().next().and_then(|a| a.avg_response_ms)))
}

/// A webhook's (`?2`) deliveries since `?3` by hour and outcome: its counts (`delivery_counts`, schema v20) from
/// the first whole ten minutes on, read as a range of its own, and the deliveries they do not hold
/// ([`uncounted_since`]; `partial` when `?3` is not the start of ten minutes).
pub(crate) fn hourly_sql(partial: bool) -> String {
    format!(
        "SELECT hour, SUM(succeeded) AS succeeded, SUM(failed) AS failed, SUM(pending) AS pending FROM ( \
           SELECT bucket * {COUNT_BUCKET_MS} / 3600000 AS hour, succeeded, failed, pending FROM delivery_counts \
             WHERE webhook_id = ?2 AND bucket >= {first_bucket} \
           UNION ALL SELECT created_at / 3600000, status = 'succeeded', status = 'failed', status = 'pending' \
             FROM ({uncounted}) WHERE webhook_id = ?2 AND organization_id = +?1) \
         GROUP BY hour ORDER BY hour",
        first_bucket = first_bucket("?3"),
        uncounted = uncounted_deliveries("?3", &first_bucket("?3"), partial),
    )
}

/// The average response time of a webhook's (`?2`) attempts since `?3`: its attempts' rows, and its first attempts
/// as its counts and the deliveries they do not hold keep them (`partial` as for [`hourly_sql`]).
pub(crate) fn hourly_average_sql(partial: bool) -> String {
    format!(
        "SELECT (k.first_attempt_ms + u.first_attempt_ms + t.attempt_ms) \
           / NULLIF(CAST(k.first_attempts + u.first_attempts + t.attempts AS REAL), 0) AS avg_response_ms \
         FROM (SELECT TOTAL(first_attempt_ms) AS first_attempt_ms, TOTAL(first_attempts) AS first_attempts \
               FROM delivery_counts WHERE webhook_id = ?2 AND bucket >= {first_bucket}) k, \
              ({UNCOUNTED_TOTALS} FROM ({uncounted}) d WHERE d.webhook_id = ?2 AND d.organization_id = +?1) u, \
              (SELECT TOTAL(a.duration_ms) AS attempt_ms, COUNT(a.duration_ms) AS attempts \
               FROM attempts a JOIN deliveries d ON d.id = a.delivery_id \
               WHERE +d.webhook_id = ?2 AND d.organization_id = +?1 AND a.created_at >= ?3) t",
        first_bucket = first_bucket("?3"),
        uncounted = uncounted_deliveries("?3", &first_bucket("?3"), partial),
    )
}

/// The lease and its fence, run as written above against SQLite with the project's migrations applied.
#[cfg(test)]
mod fence_tests {
    use super::*;
    use rusqlite::{params, Connection};

    fn db() -> Connection {
        let db = super::super::migrated_sqlite();
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ('dlv_1', 'org_a', 'wh_1', 'evt_1', 'lead.created', '{}', \
             'pending', 0, 1000, 1000, 1000)",
            [],
        )
        .unwrap();
        db
    }

    /// Claims at `now` with a lease to `until`; the attempt number taken, if any.
    fn claim(db: &Connection, now: i64, until: i64) -> Option<i64> {
        let sql = claim_sql(1).replace(&format!("RETURNING {COLUMNS}"), "RETURNING attempts");
        db.query_row(&sql, params![now, until, "dlv_1"], |r| r.get(0)).ok()
    }

    fn claim_now(db: &Connection, now: i64, until: i64) -> Option<i64> {
        let sql = claim_now_sql().replace(&format!("RETURNING {COLUMNS}"), "RETURNING attempts");
        db.query_row(&sql, params!["org_a", "dlv_1", now, until], |r| r.get(0)).ok()
    }

    #[test]
    fn a_claim_that_finds_the_last_lease_still_set_counts_a_lost_attempt_and_a_result_ends_the_count() {
        let db = db();
        let lost = || -> i64 { db.query_row("SELECT lost_attempts FROM deliveries", [], |r| r.get(0)).unwrap() };
        assert_eq!(claim(&db, 2_000, 32_000), Some(1));
        assert_eq!(lost(), 0, "the first claim found no lease");
        // The invocation is lost: no result, the lease runs out, the alarm finds it with one lost attempt.
        let mut overdue = db.prepare(TAKE_OVERDUE_SQL).unwrap();
        let found: Vec<(String, i64)> = overdue
            .query_map(params![100_000, 100_000 - OVERDUE_MS, 0, 10], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(found, vec![("dlv_1".to_string(), 1)]);
        assert_eq!(claim(&db, 100_000, 130_000), Some(2));
        assert_eq!(lost(), 1);
        // Given back unsent to its lane, and claimed there: the count stays (nothing came of the lost attempt).
        assert_eq!(db.execute(RELEASE_SQL, params!["dlv_1", 2, 101_000, 101_000 + LANE_HOLD_MS]).unwrap(), 1);
        assert_eq!(claim(&db, 102_000, 130_000), Some(2));
        assert_eq!(lost(), 1);
        assert_eq!(claim(&db, 130_000, 160_000), Some(3), "lost again");
        assert_eq!(lost(), 2);
        // A result ends the count.
        assert!(record(&db, 3, "pending", Some(170_000), 150_000));
        assert_eq!(lost(), 0);
        assert_eq!(claim(&db, 170_000, 200_000), Some(4));
        assert_eq!(lost(), 0);
        // So does a manual retry: someone asked for this attempt.
        assert_eq!(claim_now(&db, 200_000, 230_000), Some(5));
        assert_eq!(lost(), 0);
    }

    #[test]
    fn only_deliveries_that_lost_two_attempts_in_a_row_are_spread_over_the_interval() {
        assert_eq!(requeue_delay_seconds(0, 60, 0.9), 0, "its message was lost, not its attempt");
        assert_eq!(requeue_delay_seconds(1, 60, 0.9), 0, "one kill of the runtime: resent at once");
        assert_eq!(requeue_delay_seconds(2, 60, 0.5), 30);
        assert_eq!(requeue_delay_seconds(5, 60, 1.0), 60);
        assert_eq!(requeue_delay_seconds(5, 60, 7.0), 60, "never past one interval");
        assert_eq!(requeue_delay_seconds(5, 2, 0.0), 0);
    }

    /// The ids the alarm's overdue search takes at `now` (overdue a minute, re-enqueued more than five minutes ago).
    fn take_overdue(db: &Connection, now: i64) -> Vec<String> {
        let mut statement = db.prepare(TAKE_OVERDUE_SQL).unwrap();
        let ids = statement.query_map(params![now, now - OVERDUE_MS, now - 300_000, 10], |r| r.get(0)).unwrap();
        ids.map(Result::unwrap).collect()
    }

    #[test]
    fn a_delivery_its_lane_holds_is_not_overdue_until_the_hold_ends_and_a_claim_ends_the_hold() {
        let db = db();
        assert_eq!(claim(&db, 2_000, 32_000), Some(1));
        // Handed to its lane: released (attempt number given back) and held for an hour.
        assert_eq!(db.execute(RELEASE_SQL, params!["dlv_1", 1, 3_000, 3_000 + LANE_HOLD_MS]).unwrap(), 1);
        assert!(take_overdue(&db, 3_000 + LANE_HOLD_MS - 1).is_empty(), "held by its lane");
        assert_eq!(take_overdue(&db, 3_000 + LANE_HOLD_MS + 1), vec!["dlv_1".to_string()], "the lane lost it");
        // Held again, then the lane claims it to send: the hold ends with the claim, and a retry whose message is
        // lost is the alarm's again a minute after it is due.
        db.execute("UPDATE deliveries SET requeued_at = NULL, held_until = ?1", [4_000 + LANE_HOLD_MS]).unwrap();
        assert_eq!(claim(&db, 5_000, 35_000), Some(1));
        assert!(record(&db, 1, "pending", Some(65_000), 6_000));
        assert_eq!(take_overdue(&db, 65_000 + OVERDUE_MS + 1), vec!["dlv_1".to_string()]);
    }

    /// Records attempt `attempt`'s result; whether it applied.
    fn record(db: &Connection, attempt: i64, status: &str, next: Option<i64>, now: i64) -> bool {
        let mut statement = db.prepare(&record_sql(1)).unwrap();
        let mut rows =
            statement.query(params![status, 500, "receiver answered 500", next, now, "dlv_1", attempt]).unwrap();
        rows.next().unwrap().is_some()
    }

    fn state(db: &Connection) -> (String, i64, Option<i64>) {
        db.query_row("SELECT status, attempts, lease_until FROM deliveries WHERE id = 'dlv_1'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
    }

    #[test]
    fn a_fifo_webhook_s_deliveries_go_one_after_another_in_their_events_order() {
        let db = db();
        // Ingested in this order; evt_0's delivery is created last (a replay), yet its place is first.
        for event in ["evt_0", "evt_1", "e_dlv_2", "e_dlv_3"] {
            db.execute(
                "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
                 VALUES ('org_a', ?1, 'lead.created', '{}', 't', 0)",
                params![event],
            )
            .unwrap();
        }
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at, ordering) \
             VALUES ('wh_1', 'org_a', 'n', 'https://x.example', '[\"*\"]', 's', 0, 0, 'fifo')",
            [],
        )
        .unwrap();
        for id in ["dlv_2", "dlv_3"] {
            db.execute(
                &format!(
                    "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                     attempts, next_attempt_at, created_at, updated_at) VALUES ('{id}', 'org_a', 'wh_1', 'e_{id}', \
                     'lead.created', '{{}}', 'pending', 0, 1000, 1000, 1000)"
                ),
                [],
            )
            .unwrap();
        }
        let claim_one = |id: &str, now: i64| -> bool {
            let sql = claim_sql(1).replace(&format!("RETURNING {COLUMNS}"), "RETURNING id");
            db.query_row(&sql, params![now, now + 40_000, id], |r| r.get::<_, String>(0)).is_ok()
        };
        assert!(!claim_one("dlv_3", 2_000), "dlv_3 waits behind dlv_1 and dlv_2");
        assert!(!claim_one("dlv_2", 2_000), "dlv_2 waits behind dlv_1");
        assert!(claim_one("dlv_1", 2_000), "the head goes");
        assert!(!claim_one("dlv_2", 3_000), "still behind dlv_1 while it is in flight");
        assert!(record(&db, 1, "failed", None, 4_000), "dlv_1 ends failed");
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ('dlv_0', 'org_a', 'wh_1', 'evt_0', 'lead.created', '{}', \
             'pending', 0, 1000, 4500, 4500)",
            [],
        )
        .unwrap();
        assert!(!claim_one("dlv_2", 5_000), "a replayed delivery of an older event goes before dlv_2");
        assert!(claim_one("dlv_0", 5_000));
        assert!(db.execute("UPDATE deliveries SET status = 'succeeded' WHERE id = 'dlv_0'", []).unwrap() == 1);
        assert!(claim_one("dlv_2", 5_000), "the line moves once the head has ended");
        // Other webhooks are not ordered.
        db.execute("UPDATE webhooks SET ordering = 'none'", []).unwrap();
        assert!(claim_one("dlv_3", 6_000));
    }

    #[test]
    fn one_attempt_holds_the_delivery_until_its_lease_ends() {
        let db = db();
        assert_eq!(claim(&db, 2_000, 42_000), Some(1));
        assert_eq!(claim(&db, 3_000, 43_000), None, "a second message while the first attempt is in flight");
        assert_eq!(claim_now(&db, 3_000, 43_000), None, "a manual retry while the attempt is in flight");
        assert!(record(&db, 1, "pending", Some(60_000), 5_000));
        assert_eq!(state(&db), ("pending".into(), 1, None));
        assert_eq!(claim(&db, 59_000, 99_000), None, "not due yet");
        assert_eq!(claim(&db, 60_000, 100_000), Some(2));
    }

    #[test]
    fn a_result_recorded_after_a_later_attempt_started_changes_nothing() {
        let db = db();
        assert_eq!(claim(&db, 2_000, 42_000), Some(1));
        // The first attempt's invocation died; its lease ran out and another attempt took the delivery.
        assert_eq!(claim(&db, 42_000, 82_000), Some(2));
        assert!(record(&db, 2, "succeeded", None, 43_000));
        assert!(!record(&db, 1, "pending", Some(99_000), 44_000), "the stale attempt's retry must not revive it");
        assert_eq!(state(&db), ("succeeded".into(), 2, None));
    }

    #[test]
    fn deleting_the_webhook_mid_attempt_leaves_the_delivery_failed() {
        let db = db();
        assert_eq!(claim(&db, 2_000, 42_000), Some(1));
        db.execute(
            &super::super::webhooks::STOP_PENDING_SQL
                .replace("?1", "'org_a'")
                .replace("?2", "'wh_1'")
                .replace("?3", "3000"),
            [],
        )
        .unwrap();
        assert!(!record(&db, 1, "pending", Some(60_000), 5_000));
        assert_eq!(state(&db), ("failed".into(), 1, None));
        // And a manual retry of the failed delivery may claim it again at once.
        assert_eq!(claim_now(&db, 6_000, 46_000), Some(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record's statements of a round keep their compiled form from one event to the next ([`super::super::kept_compiled`]).
    #[test]
    fn the_records_round_statements_are_not_compiled_again_for_each_event() {
        use rusqlite::types::Value;
        let runs: Vec<Vec<Value>> = (1..=3)
            .map(|n| {
                vec![
                    Value::Text(format!("{{\"dlv_{n:012x}s00000001\":{{\"id\":\"att_{n}\"}}}}")),
                    Value::Real(n as f64),
                ]
            })
            .collect();
        for sql in round_success_sql() {
            assert_eq!(super::super::recompiles(&sql, &runs), 0, "{sql}");
        }
        let written_as_is = round_success_sql()[1].replace("e.rowid = +?2", "e.rowid = ?2");
        assert!(super::super::recompiles(&written_as_is, &runs) > 0, "the host SQLite no longer shows why");
        let runs: Vec<Vec<Value>> = (1..=3)
            .map(|n| {
                vec![
                    Value::Text(format!("dlv_{n:012x}s00000001")),
                    Value::Text("wh_a".into()),
                    Value::Text("{}".into()),
                    Value::Real(n as f64),
                ]
            })
            .collect();
        for sql in round_success_to_row_sql() {
            assert_eq!(super::super::recompiles(&sql, &runs), 0, "{sql}");
        }
        // A record's count of a webhook's failures in a row, and the read of a round delivery's attempt.
        let runs: Vec<Vec<Value>> = (1..=3)
            .map(|n| {
                let id = format!("dlv_{n:012x}s00000001");
                vec![
                    Value::Text("org_a".into()),
                    Value::Text("wh_a".into()),
                    Value::Text(id),
                    Value::Real(1.0),
                    Value::Text("failed".into()),
                    Value::Real(n as f64),
                ]
            })
            .collect();
        for counter in ["0", "consecutive_failures + 1"] {
            let sql = failure_counter_sql(counter);
            assert_eq!(super::super::recompiles(&sql, &runs), 0, "{sql}");
        }
        let attempt = format!(
            "SELECT json_extract(j.value, '$[2]') AS first_attempt {}",
            super::super::round_success_of("?2", "?1")
        );
        let runs: Vec<Vec<Value>> = runs.iter().map(|r| vec![r[2].clone(), r[5].clone()]).collect();
        assert_eq!(super::super::recompiles(&attempt, &runs), 0, "{attempt}");
    }

    /// The portal's and the API's reads of an organization's stats, a webhook's activity and the webhook list keep
    /// their compiled statements (`organization_id = +?1`), with the same plans as written `?1`, unbound and with
    /// the values bound.
    #[test]
    fn the_stats_and_the_webhook_list_keep_their_compiled_statements_and_plans() {
        use rusqlite::types::Value;
        let org = || Value::Text("org_a".into());
        let since = |n: i64| Value::Real((1_796_000_000_000 + n * 600_000) as f64);
        let by_org: Vec<Vec<Value>> = (1..=3).map(|n| vec![org(), since(n)]).collect();
        let by_webhook: Vec<Vec<Value>> =
            (1..=3).map(|n| vec![org(), Value::Text(format!("wh_{n}")), since(n)]).collect();
        let list: Vec<Vec<Value>> =
            (1..=3).map(|n| vec![Value::Text(format!("org_{n}")), Value::Real((n % 2) as f64)]).collect();
        let statements = [
            (stats_sql(), &by_org),
            (activity_sql(), &by_org),
            (hourly_sql(true), &by_webhook),
            (hourly_sql(false), &by_webhook),
            (hourly_average_sql(true), &by_webhook),
            (hourly_average_sql(false), &by_webhook),
            (crate::store::webhooks::list_sql(true), &list),
        ];
        for (sql, runs) in statements {
            assert!(sql.contains("organization_id = +?1") && !sql.contains("organization_id = ?1"), "{sql}");
            assert_eq!(super::super::recompiles(&sql, runs), 0, "{sql}");
            let written_as_is = sql.replace("+?", "?");
            assert_eq!(plan(&sql), plan(&written_as_is), "{sql}");
            // And with the values bound, as SQLite plans the `?1` form each time it compiles it again.
            for values in runs.iter() {
                assert_eq!(
                    super::super::bound_query_plan(&sql, values),
                    super::super::bound_query_plan(&written_as_is, values),
                    "{sql} {values:?}"
                );
            }
        }
        let (sql, written_as_is) = (stats_sql(), stats_sql().replace("= +?1", "= ?1"));
        assert!(super::super::recompiles(&written_as_is, &by_org) > 0, "the host SQLite no longer shows why: {sql}");
        let all: Vec<Vec<Value>> = list.iter().map(|r| r[..1].to_vec()).collect();
        assert_eq!(super::super::recompiles(&crate::store::webhooks::list_sql(false), &all), 0);
    }

    /// A bound `LIMIT` is written `+?n`, or SQLite compiles the statement again on every run once its bindings are
    /// cleared (as workerd clears them after each query); so is a bound `OFFSET`, and a parameter compared with a
    /// column of a partial index the statement names (a lane's line).
    #[test]
    fn a_bound_limit_or_a_lanes_webhook_keeps_its_statement_compiled() {
        use rusqlite::types::Value;
        let runs: Vec<Vec<Value>> =
            (1..=3).map(|n| (1..=4).map(|p| Value::Real((n * 10 + p) as f64)).collect()).collect();
        assert!(TAKE_OVERDUE_SQL.contains("LIMIT +?4"));
        assert_eq!(super::super::recompiles(TAKE_OVERDUE_SQL, &runs), 0);
        let written_as_is = TAKE_OVERDUE_SQL.replace("LIMIT +?4", "LIMIT ?4");
        assert!(super::super::recompiles(&written_as_is, &runs) > 0, "the host SQLite no longer shows why");
        let line =
            [vec![Value::Text("wh_a".into()), Value::Real(25.0)], vec![Value::Text("wh_b".into()), Value::Real(25.0)]];
        assert_eq!(super::super::recompiles(HELD_SQL, &line), 0);
        assert!(
            super::super::recompiles(&HELD_SQL.replace("+?1", "?1"), &line) > 0,
            "the host SQLite no longer shows why"
        );
        assert!(plan(HELD_SQL).iter().any(|d| d.contains("deliveries_held (webhook_id=?)")), "{:?}", plan(HELD_SQL));
        let count = super::super::capped_count_sql("SELECT 1 FROM deliveries WHERE created_at > ?1", "?2");
        assert_eq!(super::super::recompiles(&count, &runs.iter().map(|r| r[..2].to_vec()).collect::<Vec<_>>()), 0);
    }

    use super::super::query_plan as plan;

    #[test]
    fn claims_and_records_find_their_deliveries_by_primary_key_not_by_walking_the_pending_ones() {
        for (name, sql) in [("claim", claim_sql(3)), ("record", record_sql(3)), ("release", RELEASE_SQL.to_string())] {
            let details = plan(&sql);
            let deliveries = details.iter().find(|d| d.contains("deliveries ")).unwrap();
            assert!(deliveries.contains("sqlite_autoindex_deliveries_1 (id=?)"), "{name}: {details:?}");
            assert!(!details.iter().any(|d| d.contains("deliveries_due")), "{name}: {details:?}");
        }
    }

    /// The alarm's statements walk indexes: none reads every delivery, event or attempt of the organization (the
    /// object's one thread would stall on a full table), and the overdue search reads only the pending ones.
    #[test]
    fn housekeeping_walks_indexes_never_whole_tables() {
        let statements = [
            PRUNE_ATTEMPTS_SQL.to_string(),
            prune_deliveries_sql(),
            prune_events_sql(),
            next_housekeeping_sql(),
            TAKE_OVERDUE_SQL.to_string(),
            MARK_DELIVERIES_SQL.to_string(),
            PRUNE_MARKS_SQL.to_string(),
            FIND_LOST_SENDS_SQL.to_string(),
            ADVANCE_IN_FLIGHT_SQL.to_string(),
        ];
        for sql in statements {
            let details = plan(&sql);
            let whole = details.iter().filter(|d| d.starts_with("SCAN ") && !d.contains(" INDEX ")).collect::<Vec<_>>();
            // `organization`: the object's one-row table that names its organization. `time_marks`: a few rows
            // per day of the retention window. `deliveries` only in `rowid` order to the first finished one (the
            // oldest, when the alarm next has one to delete; what it passes is the pending ones at the front).
            let bounded = |d: &&String| {
                d.starts_with("SCAN organization")
                    || d.starts_with("SCAN CONSTANT ROW")
                    || d.starts_with("SCAN time_marks")
                    || (d.starts_with("SCAN deliveries") && sql.contains("ORDER BY rowid LIMIT 1"))
            };
            assert!(whole.iter().all(bounded), "{sql}: {details:?}");
        }
        let prune = plan(&prune_deliveries_sql());
        assert!(prune.iter().any(|d| d.contains("USING INTEGER PRIMARY KEY (rowid<?)")), "{prune:?}");
        assert!(!prune.iter().any(|d| d.contains("TEMP B-TREE")), "in rowid order: {prune:?}");
        let line = plan(HELD_SQL);
        assert!(line.iter().any(|d| d.contains("deliveries_held")), "{line:?}");
        assert!(!line.iter().any(|d| d.contains("TEMP B-TREE")), "a lane's line is read in index order: {line:?}");
        let overdue = plan(TAKE_OVERDUE_SQL);
        assert!(overdue.iter().any(|d| d.contains("deliveries_pending")), "{overdue:?}");
    }
}

#[cfg(test)]
mod failure_window_tests {
    use super::*;
    use rusqlite::{params, Connection};

    const HOLD: i64 = 600_000;

    fn db() -> Connection {
        let db = super::super::migrated_sqlite();
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
             VALUES ('wh_1', 'org_a', 'n', 'https://example.com', '[]', 's', 1, 1)",
            [],
        )
        .unwrap();
        db
    }

    /// Records a batch of `attempts` of which `failures` failed at `now`; answers how many rows it wrote and the
    /// webhook's window and lane afterwards.
    fn record(db: &Connection, now: i64, attempts: i64, failures: i64) -> (usize, (i64, i64, Option<i64>)) {
        let written = db
            .execute(
                &failure_window_sql(1),
                params![now, BREAKER_WINDOW_MS, BREAKER_MIN_ATTEMPTS as i64, now + HOLD, "wh_1", attempts, failures],
            )
            .unwrap();
        (written, state(db, "wh_1"))
    }

    fn state(db: &Connection, webhook: &str) -> (i64, i64, Option<i64>) {
        db.query_row(
            "SELECT window_attempts, window_failures, lane_until FROM webhooks WHERE id = ?1",
            [webhook],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    #[test]
    fn one_statement_keeps_each_webhooks_window_and_writes_only_where_it_counts() {
        let db = db();
        for id in ["wh_2", "wh_3"] {
            db.execute(
                "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
                 VALUES (?1, 'org_a', 'n', 'https://example.com', '[]', 's', 1, 1)",
                [id],
            )
            .unwrap();
        }
        let window = |now: i64, rows: &[(&str, i64, i64)]| {
            let mut binds: Vec<rusqlite::types::Value> =
                vec![now.into(), BREAKER_WINDOW_MS.into(), (BREAKER_MIN_ATTEMPTS as i64).into(), (now + HOLD).into()];
            for (id, attempts, failures) in rows {
                binds.extend([id.to_string().into(), (*attempts).into(), (*failures).into()]);
            }
            db.execute(&failure_window_sql(rows.len()), rusqlite::params_from_iter(binds)).unwrap()
        };
        // wh_1 fails everything, wh_2 fails once, wh_3 is healthy: the healthy one's row is not written.
        assert_eq!(window(1_000_000, &[("wh_1", 10, 10), ("wh_2", 3, 1), ("wh_3", 3, 0)]), 2);
        assert_eq!(state(&db, "wh_1"), (10, 10, Some(1_000_000 + HOLD)));
        assert_eq!(state(&db, "wh_2"), (3, 1, None));
        assert_eq!(state(&db, "wh_3"), (0, 0, None));
        // Successes still count in a window that has failures (wh_2), and never touch a healthy row (wh_3).
        assert_eq!(window(1_001_000, &[("wh_2", 3, 0), ("wh_3", 3, 0)]), 1);
        assert_eq!(state(&db, "wh_2"), (6, 1, None));
        assert_eq!(state(&db, "wh_3"), (0, 0, None));
    }

    #[test]
    fn the_window_statement_finds_each_webhook_by_its_primary_key() {
        let plan = super::super::query_plan(&failure_window_sql(3)).join("\n");
        assert!(plan.contains("webhooks USING INDEX sqlite_autoindex_webhooks_1 (id=?)"), "{plan}");
        assert!(!plan.contains("SCAN webhooks"), "{plan}");
    }

    #[test]
    fn a_healthy_endpoint_never_writes_its_row() {
        let db = db();
        for second in 0..100 {
            assert_eq!(record(&db, 1_000_000 + second * 1000, 3, 0).0, 0);
        }
    }

    #[test]
    fn three_percent_of_fast_failures_never_send_the_webhook_to_its_lane() {
        let db = db();
        // A batch of 3 attempts every 50 ms for two minutes, one failing in every 33rd batch (1 %), or every 11th (3 %).
        for (every, ticks) in [(33, 2400), (11, 2400)] {
            for tick in 0..ticks {
                let now = 1_000_000 + tick * 50;
                let (_, (_, _, lane)) = record(&db, now, 3, i64::from(tick % every == 0));
                assert_eq!(lane, None, "at tick {tick}");
            }
        }
    }

    #[test]
    fn an_endpoint_failing_everything_goes_to_its_lane_within_its_first_ten_attempts() {
        let db = db();
        let mut lane = None;
        for tick in 0..4 {
            lane = record(&db, 1_000_000 + tick * 50, 3, 3).1 .2;
        }
        assert_eq!(lane, Some(1_000_150 + HOLD));
    }

    #[test]
    fn sustained_failure_sends_the_webhook_to_its_lane_once_ten_attempts_failed_four_in_five() {
        let db = db();
        let (_, state) = record(&db, 1_000_000, 5, 5);
        assert_eq!(state, (5, 5, None), "five attempts are not enough to judge");
        let (_, state) = record(&db, 1_001_000, 4, 3);
        assert_eq!(state, (9, 8, None));
        let (_, state) = record(&db, 1_002_000, 1, 0);
        assert_eq!(state, (10, 8, Some(1_002_000 + HOLD)), "8 of 10 failed");
    }

    #[test]
    fn a_window_starts_again_a_minute_after_it_began() {
        let db = db();
        record(&db, 1_000_000, 9, 9);
        let (_, state) = record(&db, 1_000_000 + BREAKER_WINDOW_MS, 1, 1);
        assert_eq!(state, (1, 1, None), "the old window's failures are gone");
        // Without failures, a window that has failures is still counted until it ends…
        let (written, state) = record(&db, 1_000_000 + BREAKER_WINDOW_MS + 10, 3, 0);
        assert_eq!((written, state), (1, (4, 1, None)));
        // …and not after.
        let (written, _) = record(&db, 1_000_000 + 2 * BREAKER_WINDOW_MS + 10, 3, 0);
        assert_eq!(written, 0);
    }
}

#[cfg(test)]
mod first_attempt_tests {
    use super::*;
    use crate::store::Database;
    use rusqlite::Connection;
    use worker::wasm_bindgen::JsValue;

    fn db() -> Connection {
        let db = super::super::migrated_sqlite();
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, lease_until, created_at, updated_at) VALUES ('dlv_1', 'org_a', 'wh_1', 'evt_1', \
             'lead.created', '{}', 'pending', 1, 1000, 5000, 1000, 1000)",
            [],
        )
        .unwrap();
        db
    }

    /// Runs a store statement on host SQLite; answers, per row it returned, whether it says it applied (`applied`,
    /// true where absent), and the rows it changed.
    fn execute(db: &Connection, statement: &Statement) -> (Vec<bool>, usize) {
        super::super::run_on_sqlite(db, statement)
    }

    pub(super) fn record(delivery: &DeliveryRow) -> AttemptRecord<'_> {
        AttemptRecord {
            attempt_id: "att_1",
            delivery,
            status_code: Some(200),
            duration_ms: 42,
            response_body: Some("ok"),
            request_headers: Some("[[\"webhook-id\",\"dlv_1\"]]"),
            request_body: None,
            error: None,
            new_status: DeliveryStatus::Succeeded,
            next_attempt_at: None,
            webhook_counter: Counter::Keep,
            lane_until: None,
            window_failed: Some(false),
            fast_until: None,
            now: 2000,
        }
    }

    fn claimed(db: &Connection) -> DeliveryRow {
        let raw: String = db
            .query_row(
                &format!("SELECT json_object({}) FROM deliveries WHERE id = 'dlv_1'", {
                    COLUMNS.split(", ").map(|c| format!("'{c}', {c}")).collect::<Vec<_>>().join(", ")
                }),
                [],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&raw).unwrap()
    }

    #[test]
    fn a_successful_first_attempt_rides_in_its_delivery_row_and_reads_back_as_an_attempt() {
        let db = db();
        let delivery = claimed(&db);
        let r = record(&delivery);
        assert!(carried_in_row(&r));
        let update = first_attempt_statements(&Database::local(JsValue::NULL), &[&r]).unwrap().pop().unwrap();
        assert_eq!(execute(&db, &update), (vec![true], 1), "applied");
        let (status, lease, first): (String, Option<i64>, String) = db
            .query_row("SELECT status, lease_until, first_attempt FROM deliveries WHERE id = 'dlv_1'", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap();
        assert_eq!((status.as_str(), lease), ("succeeded", None));
        let attempt: AttemptRow = serde_json::from_str(&first).unwrap();
        assert_eq!(
            attempt,
            AttemptRow {
                id: "att_1".into(),
                attempt: 1,
                status_code: Some(200),
                duration_ms: 42,
                response_body: Some("ok".into()),
                error: None,
                created_at: 2000,
                request_headers: Some("[[\"webhook-id\",\"dlv_1\"]]".into()),
                request_body: None,
            }
        );
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM attempts", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_first_attempt_that_no_longer_holds_its_delivery_is_logged_in_its_row_and_changes_nothing_else() {
        let db = db();
        let delivery = claimed(&db);
        // Its webhook was deleted mid-attempt: the delivery ended failed before the result came back.
        db.execute("UPDATE deliveries SET status = 'failed', last_error = 'webhook deleted' WHERE id = 'dlv_1'", [])
            .unwrap();
        let r = record(&delivery);
        let update = first_attempt_statements(&Database::local(JsValue::NULL), &[&r]).unwrap().pop().unwrap();
        assert_eq!(execute(&db, &update), (vec![false], 1), "logged in its row, not applied");
        let (status, error, first): (String, String, String) = db
            .query_row(
                "SELECT status, last_error, json_extract(first_attempt, '$.id') FROM deliveries WHERE id = 'dlv_1'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((status.as_str(), error.as_str(), first.as_str()), ("failed", "webhook deleted", "att_1"));
    }

    #[test]
    fn carried_first_attempts_of_a_batch_share_one_statement_and_one_that_lost_its_delivery_changes_nothing_else() {
        let db = db();
        for id in ["dlv_2", "dlv_3"] {
            db.execute(
                &format!(
                    "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                     attempts, next_attempt_at, lease_until, created_at, updated_at) VALUES ('{id}', 'org_a', 'wh_1', \
                     'evt_1', 'lead.created', '{{}}', 'pending', 1, 1000, 5000, 1000, 1000)"
                ),
                [],
            )
            .unwrap();
        }
        let one = claimed(&db);
        let mut two = one.clone();
        two.id = DeliveryId::parse("dlv_2").unwrap();
        let mut three = one.clone();
        three.id = DeliveryId::parse("dlv_3").unwrap();
        db.execute("UPDATE deliveries SET status = 'failed' WHERE id = 'dlv_3'", []).unwrap();
        let mut records = [record(&one), record(&two), record(&three)];
        let ids = ["att_1", "att_2", "att_3"];
        for (r, id) in records.iter_mut().zip(ids) {
            r.attempt_id = id;
        }
        let group: Vec<&AttemptRecord<'_>> = records.iter().collect();
        let statements = first_attempt_statements(&Database::local(JsValue::NULL), &group).unwrap();
        assert_eq!(statements.len(), 1, "one statement for the three");
        let (mut applied, changed) = execute(&db, &statements[0]);
        applied.sort();
        assert_eq!((applied, changed), (vec![false, true, true], 3), "two applied, all three logged");
        let carried: Vec<(String, String)> = db
            .prepare("SELECT id || ' ' || status, json_extract(first_attempt, '$.id') FROM deliveries ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            carried,
            [
                ("dlv_1 succeeded".into(), "att_1".into()),
                ("dlv_2 succeeded".into(), "att_2".into()),
                ("dlv_3 failed".into(), "att_3".into())
            ]
        );
    }

    #[test]
    fn later_attempts_and_failures_are_rows_of_attempts() {
        let db = db();
        let mut delivery = claimed(&db);
        let mut r = record(&delivery);
        r.new_status = DeliveryStatus::Pending;
        assert!(!carried_in_row(&r), "a failed first attempt");
        delivery.attempts = 2;
        assert!(!carried_in_row(&record(&delivery)), "a second attempt");
    }
}

/// Retention by time marks (schema v15), run as written above against SQLite with the project's migrations applied.
#[cfg(test)]
mod retention_tests {
    use super::*;
    use rusqlite::{params, Connection};

    pub(super) const HOUR: i64 = 3_600_000;
    pub(super) const RETENTION: i64 = 30 * 24 * HOUR;

    fn insert(db: &Connection, id: &str, status: &str, at: i64) {
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES (?1, 'org_a', 'wh_1', 'evt_1', 'lead.created', '{}', \
             ?2, 1, ?3, ?3, ?3)",
            params![id, status, at],
        )
        .unwrap();
    }

    /// The alarm's retention batch at `now`, as `prune` runs it, pruning with `prune` (the deliveries' or the
    /// events' statement).
    pub(super) fn housekeeping_with(db: &Connection, now: i64, prune: &str) {
        let before = now - RETENTION;
        db.execute(PRUNE_MARKS_SQL, params![before]).unwrap();
        db.execute(MARK_DELIVERIES_SQL, params![now, MARK_EVERY_MS]).unwrap();
        db.execute(prune, params![before, 1_000]).unwrap();
    }

    /// The ids left in `table`, in `rowid` order.
    pub(super) fn ids_in(db: &Connection, table: &str) -> Vec<String> {
        let mut statement = db.prepare(&format!("SELECT id FROM {table} ORDER BY rowid")).unwrap();
        let ids = statement.query_map([], |r| r.get(0)).unwrap();
        ids.map(Result::unwrap).collect()
    }

    /// Each time mark's time with the `rowid` it holds in `column`.
    pub(super) fn marks_of(db: &Connection, column: &str) -> Vec<(i64, i64)> {
        let mut statement = db.prepare(&format!("SELECT at, {column} FROM time_marks ORDER BY at")).unwrap();
        let marks = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        marks.map(Result::unwrap).collect()
    }

    /// When the next housekeeping is due for `work` (a column of [`next_housekeeping_sql`]).
    pub(super) fn due(db: &Connection, work: &str) -> Option<i64> {
        db.query_row(&next_housekeeping_sql(), params![OVERDUE_MS + 1, 1], |r| r.get(work)).unwrap()
    }

    fn housekeeping(db: &Connection, now: i64) {
        housekeeping_with(db, now, &prune_deliveries_sql());
    }

    fn ids(db: &Connection) -> Vec<String> {
        ids_in(db, "deliveries")
    }

    fn marks(db: &Connection) -> Vec<(i64, i64)> {
        marks_of(db, "next_rowid")
    }

    fn finished_at(db: &Connection) -> Option<i64> {
        due(db, "finished")
    }

    #[test]
    fn deliveries_leave_by_whole_marked_pages_once_the_window_has_passed_and_pending_ones_stay() {
        let db = super::super::migrated_sqlite();
        let t0 = 1_000 * HOUR;
        insert(&db, "dlv_a", "succeeded", t0);
        insert(&db, "dlv_b", "pending", t0 + 1);
        // Pending work: the first look marks (no mark yet), the next ones within ten minutes do not.
        housekeeping(&db, t0 + 60_000);
        assert_eq!(marks(&db), vec![(t0 + 60_000, 3)]);
        insert(&db, "dlv_c", "failed", t0 + 120_000);
        housekeeping(&db, t0 + 180_000);
        assert_eq!(marks(&db).len(), 1, "ten minutes between marks while deliveries are pending");
        // Nothing pending any more: the organization may sleep, so the alarm marks what it holds.
        db.execute("UPDATE deliveries SET status = 'succeeded' WHERE id = 'dlv_b'", []).unwrap();
        housekeeping(&db, t0 + 240_000);
        assert_eq!(marks(&db), vec![(t0 + 60_000, 3), (t0 + 240_000, 4)]);
        housekeeping(&db, t0 + 300_000);
        assert_eq!(marks(&db).len(), 2, "nothing new since: no mark");
        // The alarm next wakes when the first mark is past the window: the oldest finished delivery is below it.
        assert_eq!(finished_at(&db), Some(t0 + 60_000));

        // Just before the window ends for the first mark nothing goes; then the page below it does.
        housekeeping(&db, t0 + 60_000 + RETENTION - 1);
        assert_eq!(ids(&db), ["dlv_a", "dlv_b", "dlv_c"]);
        db.execute("UPDATE deliveries SET status = 'pending' WHERE id = 'dlv_b'", []).unwrap();
        housekeeping(&db, t0 + 60_000 + RETENTION);
        assert_eq!(ids(&db), ["dlv_b", "dlv_c"], "dlv_b is still pending");
        db.execute("UPDATE deliveries SET status = 'failed' WHERE id = 'dlv_b'", []).unwrap();
        assert_eq!(finished_at(&db), Some(t0 + 60_000), "dlv_b, finished now, is below the first mark");
        housekeeping(&db, t0 + 60_000 + RETENTION + 60_000);
        assert_eq!(ids(&db), ["dlv_c"]);
        assert_eq!(finished_at(&db), None, "the newest delivery stays, so the alarm does not wake for it");
        housekeeping(&db, t0 + 240_000 + RETENTION);
        assert_eq!(ids(&db), ["dlv_c"], "the newest delivery stays, so the numbering never starts again");
        // The marks older than the window went, but the newest of them.
        assert_eq!(marks(&db), vec![(t0 + 240_000, 4)]);
        insert(&db, "dlv_d", "succeeded", t0 + 240_000 + RETENTION);
        housekeeping(&db, t0 + 240_000 + RETENTION + 60_000);
        assert_eq!(ids(&db), ["dlv_d"]);
        let rowid: i64 = db.query_row("SELECT rowid FROM deliveries", [], |r| r.get(0)).unwrap();
        assert_eq!(rowid, 4);
        assert_eq!(finished_at(&db), None, "the newest stays: the alarm does not wake for it");
    }

    #[test]
    fn a_delivery_written_out_of_order_is_never_deleted_before_its_time() {
        let db = super::super::migrated_sqlite();
        let t0 = 1_000 * HOUR;
        insert(&db, "dlv_a", "succeeded", t0);
        // Written later but stamped with a later time than the mark that covers it (a clock step).
        insert(&db, "dlv_late", "succeeded", t0 + 10 * HOUR);
        insert(&db, "dlv_new", "succeeded", t0 + 20 * HOUR);
        db.execute("INSERT INTO time_marks (at, next_rowid) VALUES (?1, 3)", [t0 + 1]).unwrap();
        housekeeping(&db, t0 + 1 + RETENTION);
        assert_eq!(ids(&db), ["dlv_late", "dlv_new"]);
        housekeeping(&db, t0 + 10 * HOUR + RETENTION + 1);
        assert_eq!(ids(&db), ["dlv_new"]);
    }

    #[test]
    fn the_upgrade_marks_each_hour_of_what_is_stored_and_drops_the_index() {
        use crate::org::schema::{sqlite_at, upgrade, VERSIONS};
        let db = sqlite_at(VERSIONS, 14);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        let t0 = 1_000 * HOUR;
        insert(&db, "dlv_a", "succeeded", t0 + 5);
        insert(&db, "dlv_b", "succeeded", t0 + 10);
        insert(&db, "dlv_c", "succeeded", t0 + 2 * HOUR + 5);
        upgrade(&db, VERSIONS);
        assert_eq!(marks(&db), vec![(t0 + HOUR, 3), (t0 + 3 * HOUR, 4)]);
        let index: i64 = db
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'deliveries_by_org'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(index, 0);
        housekeeping(&db, t0 + HOUR + RETENTION);
        assert_eq!(ids(&db), ["dlv_c"]);
    }
}

/// A webhook's delivery log by pages (schema v19): the trigger, the log, the counts, recovery, retention, the upgrade.
#[cfg(test)]
mod webhook_pages_tests {
    use super::*;
    use rusqlite::{params, Connection};

    fn webhook(db: &Connection, id: &str) {
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
             VALUES (?1, 'org_a', ?1, 'https://example.com', '[\"*\"]', 's', 1, 1)",
            [id],
        )
        .unwrap();
    }

    fn delivery(db: &Connection, id: &str, webhook: &str, status: &str, at: i64) {
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             created_at, updated_at) VALUES (?1, 'org_a', ?2, 'evt_1', ?4, '{}', ?3, 1, ?5, ?5)",
            params![id, webhook, status, if id.ends_with('x') { "deal.won" } else { "lead.created" }, at],
        )
        .unwrap();
    }

    fn pages(db: &Connection) -> Vec<(String, i64)> {
        let mut statement = db.prepare("SELECT webhook_id, page FROM webhook_pages ORDER BY 1, 2").unwrap();
        let pages = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        pages.map(Result::unwrap).collect()
    }

    fn log(
        db: &Connection,
        webhook: &str,
        status: Option<&str>,
        event_type: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Vec<String> {
        let mut statement = db.prepare(&log_page_sql()).unwrap();
        let ids = statement
            .query_map(params!["org_a", webhook, status, event_type, limit, offset, i64::MAX], |r| {
                r.get::<_, String>("id")
            })
            .unwrap();
        ids.map(Result::unwrap).collect()
    }

    /// 200 deliveries, round robin over wh_a and wh_b, and one in 50 to wh_quiet (rowids 1..=200).
    fn filled() -> Connection {
        let db = super::super::migrated_sqlite();
        for w in ["wh_a", "wh_b", "wh_quiet"] {
            webhook(&db, w);
        }
        for n in 1..=200 {
            let webhook = if n % 50 == 0 {
                "wh_quiet"
            } else if n % 2 == 0 {
                "wh_a"
            } else {
                "wh_b"
            };
            let status = if n % 10 == 3 { "failed" } else { "succeeded" };
            let id = if n % 7 == 0 { format!("dlv_{n:03}x") } else { format!("dlv_{n:03}") };
            delivery(&db, &id, webhook, status, 1_000 + n);
        }
        db
    }

    #[test]
    fn a_webhook_takes_one_page_entry_per_64_rowids_it_has_deliveries_in_and_its_log_reads_them_newest_first() {
        let db = filled();
        // rowids 1..=200 are pages 0..=3: wh_a and wh_b have deliveries in each, wh_quiet in pages 0 (50), 1 (100),
        // 2 (150) and 3 (200).
        let of = |w: &str| pages(&db).into_iter().filter(|(x, _)| x == w).count();
        assert_eq!((of("wh_a"), of("wh_b"), of("wh_quiet")), (4, 4, 4));
        assert_eq!(log(&db, "wh_quiet", None, None, 10, 0), ["dlv_200", "dlv_150", "dlv_100", "dlv_050"]);
        assert_eq!(log(&db, "wh_a", None, None, 3, 0), ["dlv_198", "dlv_196x", "dlv_194"]);
        // Offsets cross pages: wh_a's 30th to 33rd newest (rowids 140, 138, 136, 134; 150 and 200 are wh_quiet's).
        assert_eq!(log(&db, "wh_a", None, None, 4, 30), ["dlv_136", "dlv_134", "dlv_132", "dlv_130"]);
        assert_eq!(log(&db, "wh_b", Some("failed"), None, 3, 0), ["dlv_193", "dlv_183", "dlv_173"]);
        assert_eq!(log(&db, "wh_a", None, Some("deal.won"), 2, 0), ["dlv_196x", "dlv_182x"]);
        let total: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM ({})", super::super::webhook_deliveries("?2", "0", LOG_FILTER, "")),
                params!["org_a", "wh_a", None::<String>, None::<String>],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(total, 96);
    }

    #[test]
    fn counts_and_recovery_read_a_webhooks_pages_and_retention_drops_the_pages_below_the_oldest_delivery() {
        let db = filled();
        let since = 1_000 + 151;
        let hours: Vec<(i64, i64, i64)> = {
            let mut statement = db.prepare(&hourly_sql(false)).unwrap();
            let rows = statement
                .query_map(params!["org_a", "wh_b", since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert_eq!(hours, vec![(0, 20, 5)], "wh_b's 25 deliveries from rowid 151 on, 5 of them failed");
        let activity: Vec<(String, i64, Option<i64>)> = {
            let mut statement = db.prepare(&activity_sql()).unwrap();
            let rows = statement
                .query_map(params!["org_a", since], |r| {
                    Ok((r.get("webhook_id")?, r.get("total")?, r.get("last_delivery_at")?))
                })
                .unwrap();
            let mut rows: Vec<_> = rows.map(Result::unwrap).collect();
            rows.sort();
            rows
        };
        assert_eq!(
            activity,
            vec![
                ("wh_a".into(), 24, Some(1_198)),
                ("wh_b".into(), 25, Some(1_199)),
                ("wh_quiet".into(), 1, Some(1_200))
            ]
        );
        let recovered = db.query_row(
            &crate::store::recovery::count_recoverable_sql(),
            params!["org_a", "wh_b", 1_000, 1_100, 100, ""],
            |r| r.get::<_, i64>(0),
        );
        assert_eq!(recovered, Ok(10), "wh_b's failed deliveries among rowids 1..=99");
        // Deliveries 1..=130 gone: pages 0 and 1 (rowids up to 127) go, page 2 (128..=191) stays for 131 on.
        db.execute("DELETE FROM deliveries WHERE rowid <= 130", []).unwrap();
        db.execute(&prune_webhook_pages_sql(), [1_000]).unwrap();
        assert!(pages(&db).iter().all(|(_, page)| *page >= 2), "{:?}", pages(&db));
        assert_eq!(pages(&db).len(), 6);
        // A deleted webhook's pages go with it.
        db.execute("DELETE FROM webhooks WHERE id = 'wh_quiet'", []).unwrap();
        assert_eq!(pages(&db).len(), 4);
    }

    #[test]
    fn the_upgrade_lists_each_webhooks_pages_and_drops_the_index() {
        use crate::org::schema::{sqlite_at, upgrade, VERSIONS};
        let db = sqlite_at(VERSIONS, 18);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        webhook(&db, "wh_a");
        for n in 1..=70 {
            delivery(&db, &format!("dlv_{n:03}"), "wh_a", "succeeded", n);
        }
        upgrade(&db, VERSIONS);
        assert_eq!(pages(&db), vec![("wh_a".into(), 0), ("wh_a".into(), 1)]);
        let index: i64 = db
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'deliveries_by_webhook'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(index, 0);
        assert_eq!(log(&db, "wh_a", None, None, 2, 0), ["dlv_070", "dlv_069"]);
    }

    #[test]
    fn an_iterator_walks_the_log_a_page_at_a_time_reading_only_the_page() {
        let db = filled();
        let page_before = |status: Option<&str>, before: i64| -> (Vec<(String, i64)>, i32) {
            let mut statement = db.prepare(&log_page_sql()).unwrap();
            let rows: Vec<(String, i64)> = statement
                .query_map(params!["org_a", "wh_b", status, None::<&str>, 9, 0, before], |r| {
                    Ok((r.get("id")?, r.get("position")?))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (rows, statement.get_status(rusqlite::StatementStatus::VmStep))
        };
        for status in [None, Some("failed")] {
            let (mut walked, mut before) = (Vec::new(), i64::MAX);
            loop {
                let (page, _) = page_before(status, before);
                walked.extend(page.iter().map(|(id, _)| id.clone()));
                match page.last() {
                    Some((_, position)) if page.len() == 9 => before = *position,
                    _ => break,
                }
            }
            assert_eq!(walked, log(&db, "wh_b", status, None, 1_000, 0), "{status:?}");
        }
        // The last page through an iterator reads its page of 64 rowids; through an offset, every page before it.
        let (_, from_iterator) = page_before(None, 20);
        let mut statement = db.prepare(&log_page_sql()).unwrap();
        let _ = statement
            .query_map(params!["org_a", "wh_b", None::<&str>, None::<&str>, 9, 90, i64::MAX], |_| Ok(()))
            .unwrap()
            .count();
        let from_offset = statement.get_status(rusqlite::StatementStatus::VmStep);
        assert!(
            from_iterator * 2 < from_offset,
            "{from_iterator} steps from an iterator, {from_offset} from an offset"
        );
    }

    #[test]
    fn the_logs_count_stops_at_its_limit_and_counts_what_the_log_lists() {
        let db = filled();
        let count = |webhook: &str, status: Option<&str>, limit: i64| -> i64 {
            db.query_row(&log_count_sql(), params!["org_a", webhook, status, None::<&str>, limit], |r| r.get("total"))
                .unwrap()
        };
        for webhook in ["wh_a", "wh_b", "wh_quiet"] {
            for status in [None, Some("failed"), Some("succeeded")] {
                let listed = log(&db, webhook, status, None, 1_000, 0).len();
                assert_eq!(count(webhook, status, 1_000) as usize, listed, "{webhook} {status:?}");
            }
        }
        assert_eq!(count("wh_b", Some("failed"), 1_000), 20);
        assert_eq!(count("wh_a", None, 5), 5, "reads no more than its limit");
    }

    /// The log's four statements keep their compiled statements from one request to the next (workerd clears the
    /// bindings after each), and search as they would with the webhook and organization written `?2` and `?1`,
    /// whichever status the list asks for. Written that way they are compiled again on every run.
    #[test]
    fn the_logs_statements_keep_their_compiled_statements_and_plans() {
        use rusqlite::types::Value;
        let text = |s: &str| Value::Text(s.into());
        let page = |status: Value| {
            vec![
                text("org_a"),
                text("wh_a"),
                status,
                Value::Null,
                Value::Integer(51),
                Value::Integer(0),
                Value::Integer(i64::MAX),
            ]
        };
        let count = |status: Value| vec![text("org_a"), text("wh_a"), status, Value::Null, Value::Integer(10_001)];
        let statuses = [Value::Null, text("pending"), text("succeeded"), text("failed")];
        let written_as_is = |sql: &str| sql.replace("+?1", "?1").replace("+?2", "?2");
        for (sql, binds) in [
            (log_page_sql(), statuses.clone().map(page)),
            (log_round_page_sql(), statuses.clone().map(page)),
            (log_count_sql(), statuses.clone().map(count)),
            (log_round_count_sql(), statuses.clone().map(count)),
        ] {
            assert_eq!(super::super::recompiles(&sql, &binds[..3]), 0, "{sql}");
            assert!(
                super::super::recompiles(&written_as_is(&sql), &binds[..3]) > 0,
                "the host SQLite no longer shows why"
            );
            for values in &binds {
                assert_eq!(
                    super::super::bound_query_plan(&sql, values),
                    super::super::bound_query_plan(&written_as_is(&sql), values),
                    "{sql} {values:?}"
                );
            }
        }
    }

    #[test]
    fn the_log_counts_and_recovery_walk_pages_and_page_rowids_never_a_whole_table_or_a_sort_of_the_log() {
        let statements = [
            log_page_sql(),
            hourly_sql(false),
            hourly_sql(true),
            activity_sql(),
            stats_sql(),
            crate::store::recovery::count_recoverable_sql(),
            crate::store::recovery::recover_sql(),
            prune_webhook_pages_sql(),
        ];
        for sql in statements.into_iter().chain([log_count_sql()]) {
            let details = super::super::query_plan(&sql);
            // `d` may be the deliveries not yet counted, a co-routine of ranges ([`uncounted_deliveries`]).
            let subquery = details.iter().any(|d| d == "CO-ROUTINE d");
            assert!(
                !details.iter().any(|d| d.starts_with("SCAN deliveries")
                    || d.starts_with("SCAN events")
                    || (!subquery && (d.starts_with("SCAN d ") || d == "SCAN d"))),
                "{sql}: {details:?}"
            );
            assert!(
                !details.iter().any(|d| d.starts_with("SCAN p") || d.starts_with("SCAN webhook_pages")),
                "{sql}: {details:?}"
            );
        }
        let details = super::super::query_plan(&log_page_sql());
        assert!(!details.iter().any(|d| d.contains("TEMP B-TREE FOR ORDER BY")), "{details:?}");
    }
}

/// Events by time marks (schema v18): retention, the bounds of a time window, and the upgrade.
#[cfg(test)]
mod event_marks_tests {
    use super::*;
    use crate::store::{events_window, INGEST_CLOCK_SLACK_MS};
    use rusqlite::{params, Connection};

    use super::retention_tests::{due, housekeeping_with, ids_in, marks_of, HOUR, RETENTION};

    fn event(db: &Connection, id: &str, at: i64) {
        db.execute(
            "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
             VALUES ('org_a', ?1, 'lead.created', '{}', 't', ?2)",
            params![id, at],
        )
        .unwrap();
    }

    fn housekeeping(db: &Connection, now: i64) {
        housekeeping_with(db, now, &prune_events_sql());
    }

    fn events(db: &Connection) -> Vec<String> {
        ids_in(db, "events")
    }

    fn event_marks(db: &Connection) -> Vec<(i64, i64)> {
        marks_of(db, "next_event_rowid")
    }

    fn event_due(db: &Connection) -> Option<i64> {
        due(db, "event")
    }

    #[test]
    fn events_leave_by_marked_pages_once_the_window_has_passed_and_those_a_pending_delivery_needs_stay() {
        let db = super::super::migrated_sqlite();
        let t0 = 1_000 * HOUR;
        event(&db, "evt_a", t0);
        event(&db, "evt_b", t0 + 1);
        // evt_b has a pending delivery.
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ('dlv_b', 'org_a', 'wh_1', 'evt_b', 'lead.created', \
             '{}', 'pending', 1, ?1, ?1, ?1)",
            [t0 + 1],
        )
        .unwrap();
        housekeeping(&db, t0 + 60_000);
        assert_eq!(event_marks(&db), vec![(t0 + 60_000, 3)]);
        // Events alone (no delivery: no subscriber) are marked too.
        event(&db, "evt_c", t0 + 120_000);
        db.execute("UPDATE deliveries SET status = 'succeeded' WHERE id = 'dlv_b'", []).unwrap();
        housekeeping(&db, t0 + 180_000);
        assert_eq!(event_marks(&db), vec![(t0 + 60_000, 3), (t0 + 180_000, 4)]);
        assert_eq!(event_due(&db), Some(t0 + 60_000), "the first mark past the oldest event");
        db.execute("UPDATE deliveries SET status = 'pending' WHERE id = 'dlv_b'", []).unwrap();
        housekeeping(&db, t0 + 60_000 + RETENTION - 1);
        assert_eq!(events(&db), ["evt_a", "evt_b", "evt_c"]);
        housekeeping(&db, t0 + 60_000 + RETENTION);
        assert_eq!(events(&db), ["evt_b", "evt_c"], "evt_b's delivery is pending");
        db.execute("UPDATE deliveries SET status = 'failed' WHERE id = 'dlv_b'", []).unwrap();
        housekeeping(&db, t0 + 180_000 + RETENTION);
        assert_eq!(events(&db), ["evt_c"], "the newest event stays, so the numbering never starts again");
        assert_eq!(event_due(&db), None);
    }

    #[test]
    fn a_time_window_reads_only_the_events_the_marks_leave_in_it_and_every_one_created_in_it() {
        let db = super::super::migrated_sqlite();
        let t0 = 1_000 * HOUR;
        for (i, at) in [t0, t0 + HOUR, t0 + 2 * HOUR, t0 + 3 * HOUR].into_iter().enumerate() {
            event(&db, &format!("evt_{i}"), at);
            db.execute(MARK_DELIVERIES_SQL, params![at + 1_000, 0]).unwrap();
        }
        let window = |since: Option<i64>, until: Option<i64>| -> (Vec<String>, Vec<String>) {
            let sql = format!(
                "SELECT id FROM events e WHERE {} AND (?1 IS NULL OR created_at >= ?1) \
                 AND (?2 IS NULL OR created_at < ?2) ORDER BY rowid",
                events_window("e", "?1", "?2")
            );
            let read = format!("SELECT id FROM events e WHERE {} ORDER BY rowid", events_window("e", "?1", "?2"));
            let run = |sql: &str| -> Vec<String> {
                let mut statement = db.prepare(sql).unwrap();
                let ids = statement.query_map(params![since, until], |r| r.get(0)).unwrap();
                ids.map(Result::unwrap).collect()
            };
            (run(&sql), run(&read))
        };
        let all = ["evt_0", "evt_1", "evt_2", "evt_3"];
        assert_eq!(window(None, None), (all.map(String::from).to_vec(), all.map(String::from).to_vec()));
        // Since evt_2's time: the read starts at evt_2, the first event after the last mark taken more than the slack
        // before it.
        let (selected, read) = window(Some(t0 + 2 * HOUR), None);
        assert_eq!(selected, ["evt_2", "evt_3"]);
        assert_eq!(read, ["evt_2", "evt_3"]);
        // Since just after evt_1's mark, within the slack: the read starts one mark earlier, at evt_1.
        let (selected, read) = window(Some(t0 + HOUR + 2_000), None);
        assert_eq!(selected, ["evt_2", "evt_3"]);
        assert_eq!(read, ["evt_1", "evt_2", "evt_3"]);
        // Until evt_1's time: the read stops before evt_3 (after the first mark taken more than the slack after it).
        let (selected, read) = window(None, Some(t0 + HOUR));
        assert_eq!(selected, ["evt_0"]);
        assert_eq!(read, ["evt_0", "evt_1", "evt_2"]);
        // An event written before a mark but stamped up to the slack after it (its ingest's clock ahead of the
        // object's) is still found by a window that starts after the mark.
        let at = t0 + 4 * HOUR;
        event(&db, "evt_ahead", at + INGEST_CLOCK_SLACK_MS - 1);
        db.execute(MARK_DELIVERIES_SQL, params![at, 0]).unwrap();
        let (selected, _) = window(Some(at + INGEST_CLOCK_SLACK_MS - 1), None);
        assert_eq!(selected, ["evt_ahead"]);
    }

    #[test]
    fn the_upgrade_gives_each_mark_its_first_event_and_drops_the_index() {
        use crate::org::schema::{sqlite_at, upgrade, VERSIONS};
        let db = sqlite_at(VERSIONS, 17);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        let t0 = 1_000 * HOUR;
        event(&db, "evt_a", t0);
        event(&db, "evt_b", t0 + 2 * HOUR);
        db.execute(
            "INSERT INTO delivery_marks (at, next_rowid) VALUES (?1, 1), (?2, 1), (?3, 1)",
            [t0 - HOUR, t0 + HOUR, t0 + 3 * HOUR],
        )
        .unwrap();
        upgrade(&db, VERSIONS);
        assert_eq!(event_marks(&db), vec![(t0 - HOUR, 1), (t0 + HOUR, 2), (t0 + 3 * HOUR, 3)]);
        let index: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('events_by_org', 'delivery_marks')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 0);
        event(&db, "evt_c", t0 + 4 * HOUR);
        housekeeping(&db, t0 + HOUR + RETENTION);
        assert_eq!(events(&db), ["evt_b", "evt_c"]);
    }
}

/// An ingest's own sends (schema v16): no entry in the index of pending deliveries while their first attempt is
/// under way, and found by the alarm among the deliveries written since `in_flight_from` when that attempt is lost.
#[cfg(test)]
mod in_flight_tests {
    use super::*;
    use rusqlite::{params, Connection};

    /// A delivery as an ingest writes it when it sends it itself: claimed, leased to `lease`, no next attempt.
    fn sent_by_ingest(db: &Connection, id: &str, webhook: &str, at: i64, lease: i64) {
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             next_attempt_at, lease_until, created_at, updated_at) VALUES (?1, 'org_a', ?2, 'evt_1', 'lead.created', \
             '{}', 'pending', 1, NULL, ?4, ?3, ?3)",
            params![id, webhook, at, lease],
        )
        .unwrap();
    }

    fn in_flight_from(db: &Connection) -> i64 {
        db.query_row("SELECT in_flight_from FROM organization", [], |r| r.get(0)).unwrap()
    }

    fn pending_index_entries(db: &Connection) -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_pending \
             WHERE status = 'pending' AND next_attempt_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn look(db: &Connection, now: i64) -> Vec<String> {
        db.execute(FIND_LOST_SENDS_SQL, [now, now - OVERDUE_MS]).unwrap();
        db.execute(ADVANCE_IN_FLIGHT_SQL, []).unwrap();
        let mut statement = db.prepare(TAKE_OVERDUE_SQL).unwrap();
        let ids = statement.query_map(params![now, now - OVERDUE_MS, now - 300_000, 10], |r| r.get(0)).unwrap();
        ids.map(Result::unwrap).collect()
    }

    fn in_flight_due(db: &Connection) -> Option<i64> {
        super::retention_tests::due(db, "in_flight")
    }

    #[test]
    fn a_lost_send_of_an_ingest_is_found_after_its_lease_and_the_rest_cost_no_index_entry() {
        let db = super::super::migrated_sqlite();
        sent_by_ingest(&db, "dlv_ok", "wh_1", 1_000, 31_000);
        sent_by_ingest(&db, "dlv_lost", "wh_1", 1_000, 31_000);
        sent_by_ingest(&db, "dlv_late", "wh_2", 50_000, 80_000);
        assert_eq!(pending_index_entries(&db), 0, "their first attempts are under way");
        assert_eq!(in_flight_due(&db), Some(31_000.max(1_000 + OVERDUE_MS + 1)));
        // dlv_ok's attempt succeeds (its first attempt carried in its row): it never enters the index.
        db.execute("UPDATE deliveries SET status = 'succeeded', lease_until = NULL WHERE id = 'dlv_ok'", []).unwrap();
        // While the leases run, nothing is taken and the look stops at the first one still in flight.
        assert!(look(&db, 20_000).is_empty());
        assert_eq!(in_flight_from(&db), 2, "dlv_lost, the second delivery written, is still in flight");
        // dlv_lost's invocation was lost: after its lease it is found, and a minute after its ingest it is taken.
        assert!(look(&db, 40_000).is_empty(), "a minute has not passed since its ingest");
        assert_eq!(pending_index_entries(&db), 1, "found: it waits in the index like any retry");
        assert_eq!(in_flight_from(&db), 3, "dlv_late is the first still in flight");
        assert_eq!(look(&db, 1_000 + OVERDUE_MS + 1), vec!["dlv_lost".to_string()]);
        // dlv_late succeeds; the look moves past the last delivery and finds nothing more.
        db.execute("UPDATE deliveries SET status = 'succeeded', lease_until = NULL WHERE id = 'dlv_late'", []).unwrap();
        assert!(look(&db, 200_000).is_empty());
        assert_eq!(in_flight_from(&db), 4);
        assert_eq!(in_flight_due(&db), None);
    }

    #[test]
    fn a_delivery_on_its_way_through_the_queue_is_left_alone_for_a_minute_then_found_if_no_consumer_claimed_it() {
        let db = super::super::migrated_sqlite();
        // As a batch ingest writes them: unclaimed, no lease, no next attempt; a consumer claims them by id.
        let queued = |id: &str| {
            db.execute(
                "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                 created_at, updated_at) VALUES (?1, 'org_a', 'wh_1', 'evt_1', 'lead.created', '{}', 'pending', \
                 1000, 1000)",
                [id],
            )
            .unwrap();
        };
        queued("dlv_claimed");
        queued("dlv_lost");
        assert_eq!(pending_index_entries(&db), 0);
        // An alarm while their messages are in the queue writes nothing to them.
        assert!(look(&db, 30_000).is_empty());
        assert_eq!(pending_index_entries(&db), 0);
        assert_eq!(in_flight_from(&db), 1);
        assert_eq!(in_flight_due(&db), Some(1_000 + OVERDUE_MS + 1));
        let claimed = db.query_row(
            &claim_sql(1).replace(&format!("RETURNING {COLUMNS}"), "RETURNING attempts"),
            params![31_000, 61_000, "dlv_claimed"],
            |r| r.get::<_, i64>(0),
        );
        assert_eq!(claimed, Ok(1), "a consumer claims a delivery with no next attempt");
        db.execute("UPDATE deliveries SET status = 'succeeded', lease_until = NULL WHERE id = 'dlv_claimed'", [])
            .unwrap();
        // dlv_lost's message never came: a minute after its ingest it is found and taken.
        assert_eq!(look(&db, 1_000 + OVERDUE_MS + 1), vec!["dlv_lost".to_string()]);
        assert_eq!(pending_index_entries(&db), 1);
        assert_eq!(in_flight_from(&db), 3);
    }

    #[test]
    fn deleting_a_webhook_stops_its_deliveries_an_ingest_is_sending_and_a_release_gives_them_a_time() {
        let db = super::super::migrated_sqlite();
        sent_by_ingest(&db, "dlv_1", "wh_1", 1_000, 31_000);
        sent_by_ingest(&db, "dlv_2", "wh_2", 1_000, 31_000);
        let plan = super::super::query_plan(webhooks::STOP_PENDING_SQL);
        assert!(plan.iter().any(|d| d.contains("deliveries_pending")), "{plan:?}");
        assert!(!plan.iter().any(|d| d.starts_with("SCAN deliveries")), "{plan:?}");
        let stopped = db.execute(webhooks::STOP_PENDING_SQL, params!["org_a", "wh_1", 2_000]).unwrap();
        assert_eq!(stopped, 1);
        let status: String =
            db.query_row("SELECT status FROM deliveries WHERE id = 'dlv_1'", [], |r| r.get(0)).unwrap();
        assert_eq!(status, "failed");
        // Given back to its lane unsent: it joins the index, so the alarm's backstop sees it if the lane loses it.
        assert_eq!(db.execute(RELEASE_SQL, params!["dlv_2", 1, 3_000, 3_000 + LANE_HOLD_MS]).unwrap(), 1);
        assert_eq!(pending_index_entries(&db), 1);
        // Due at its ingest's time: a lane whose round took its `now` before the release (2,500) still claims it.
        let claimed = db.query_row(
            &claim_sql(1).replace(&format!("RETURNING {COLUMNS}"), "RETURNING attempts"),
            params![2_500, 32_500, "dlv_2"],
            |r| r.get::<_, i64>(0),
        );
        assert_eq!(claimed, Ok(1));
    }
}

/// The 24-hour counts from `delivery_counts` (schema v20) against counting every delivery, as before it.
#[cfg(test)]
mod count_tests {
    use super::retention_tests::due;
    use super::*;
    use rusqlite::{params, Connection};

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const WEBHOOKS: [&str; 3] = ["wh_a", "wh_b", "wh_c"];

    /// A small deterministic generator (xorshift), so the sequence is the same on every run.
    struct Draw(u64);
    impl Draw {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn organization() -> Connection {
        let db = super::super::migrated_sqlite();
        for w in WEBHOOKS.iter().chain(&["wh_gone"]) {
            db.execute(
                "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
                 VALUES (?1, 'org_a', ?1, 'https://example.com', '[\"*\"]', 's', 1, 1)",
                [w],
            )
            .unwrap();
        }
        db
    }

    /// The alarm's marking and counting at `now`, counting at most `limit` deliveries.
    fn housekeeping(db: &Connection, now: i64, limit: i64) {
        db.execute(MARK_DELIVERIES_SQL, params![now, MARK_EVERY_MS]).unwrap();
        db.execute(COUNT_DELIVERIES_SQL, [limit]).unwrap();
        db.execute(ADVANCE_COUNT_SQL, [limit]).unwrap();
        db.execute(&count_round_successes_sql(), [limit / 2]).unwrap();
        db.execute(ADVANCE_ROUNDS_COUNT_SQL, [limit / 2]).unwrap();
    }

    /// Every delivery, as counting every one reads them: the rows and (schema v23) the successes in rounds.
    const ALL: &str = "(SELECT webhook_id, status, created_at, first_attempt FROM deliveries UNION ALL \
        SELECT json_extract(j.value, '$[1]'), 'succeeded', e.created_at, json_extract(j.value, '$[2]') \
        FROM events e, json_each(e.round) j WHERE json_type(j.value, '$[2]') = 'object')";

    /// What the counts say for `since` (stats, each webhook's activity, and each webhook's hours from the hour of
    /// `since` on), as text to compare.
    fn counted(db: &Connection, since: i64) -> String {
        let stats: (i64, i64, i64, i64, Option<f64>) = db
            .query_row(&stats_sql(), params!["org_a", since], |r| {
                Ok((
                    r.get("deliveries_total")?,
                    r.get("deliveries_succeeded")?,
                    r.get("deliveries_failed")?,
                    r.get("deliveries_pending")?,
                    r.get("avg_response_ms")?,
                ))
            })
            .unwrap();
        let mut out = format!("stats {:?} avg {:.6}\n", &(stats.0, stats.1, stats.2, stats.3), stats.4.unwrap_or(-1.0));
        let mut activity = db.prepare(&activity_sql()).unwrap();
        let mut rows: Vec<String> = activity
            .query_map(params!["org_a", since], |r| {
                Ok(format!(
                    "{} {} {} {}",
                    r.get::<_, String>("webhook_id")?,
                    r.get::<_, i64>("total")?,
                    r.get::<_, i64>("succeeded")?,
                    r.get::<_, i64>("failed")?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out += &rows.join("\n");
        let partial = since.rem_euclid(COUNT_BUCKET_MS) != 0;
        for w in WEBHOOKS {
            let mut hourly = db.prepare(&hourly_sql(partial)).unwrap();
            let hours: Vec<(i64, i64, i64, i64)> = hourly
                .query_map(params!["org_a", w, since], |r| {
                    Ok((r.get("hour")?, r.get("succeeded")?, r.get("failed")?, r.get("pending")?))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let average: Option<f64> =
                db.query_row(&hourly_average_sql(partial), params!["org_a", w, since], |r| r.get(0)).unwrap();
            out += &format!("\n{w} {hours:?} avg {:.6}", average.unwrap_or(-1.0));
        }
        out
    }

    /// The same, counting every delivery (the statements before schema v20, without their bounds).
    fn recounted(db: &Connection, since: i64) -> String {
        let totals = "COUNT(*), COALESCE(SUM(d.status = 'succeeded'), 0), COALESCE(SUM(d.status = 'failed'), 0), \
                      COALESCE(SUM(d.status = 'pending'), 0)";
        let average = |webhook: &str, from: i64| -> Option<f64> {
            db.query_row(
                &format!(
                    "SELECT AVG(ms) FROM (SELECT a.duration_ms AS ms FROM attempts a JOIN deliveries d ON \
                     d.id = a.delivery_id WHERE (?1 IS NULL OR d.webhook_id = ?1) AND a.created_at >= ?2 UNION ALL \
                     SELECT json_extract(d.first_attempt, '$.duration_ms') FROM {ALL} d JOIN webhooks w ON \
                     w.id = d.webhook_id WHERE (?1 IS NULL OR d.webhook_id = ?1) AND d.created_at >= ?2)"
                ),
                params![if webhook.is_empty() { None } else { Some(webhook) }, from],
                |r| r.get(0),
            )
            .unwrap()
        };
        let stats: (i64, i64, i64, i64) = db
            .query_row(
                &format!(
                    "SELECT {totals} FROM {ALL} d JOIN webhooks w ON w.id = d.webhook_id \
                     WHERE d.created_at >= ?1"
                ),
                [since],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let mut out = format!("stats {stats:?} avg {:.6}\n", average("", since).unwrap_or(-1.0));
        let mut rows = Vec::new();
        for w in WEBHOOKS.iter().chain(&["wh_gone"]) {
            let (total, succeeded, failed, _): (i64, i64, i64, i64) = db
                .query_row(
                    &format!("SELECT {totals} FROM {ALL} d WHERE d.webhook_id = ?1 AND d.created_at >= ?2"),
                    params![w, since],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            let exists: bool =
                db.query_row("SELECT COUNT(*) > 0 FROM webhooks WHERE id = ?1", [w], |r| r.get(0)).unwrap();
            if exists {
                rows.push(format!("{w} {total} {succeeded} {failed}"));
            }
        }
        rows.sort();
        out += &rows.join("\n");
        for w in WEBHOOKS {
            let mut hourly = db
                .prepare(&format!(
                    "SELECT created_at / 3600000, SUM(status = 'succeeded'), SUM(status = 'failed'), \
                     SUM(status = 'pending') FROM {ALL} WHERE webhook_id = ?1 AND created_at >= ?2 \
                     GROUP BY 1 ORDER BY 1"
                ))
                .unwrap();
            let hours: Vec<(i64, i64, i64, i64)> = hourly
                .query_map(params![w, since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            out += &format!("\n{w} {hours:?} avg {:.6}", average(w, since).unwrap_or(-1.0));
        }
        out
    }

    #[test]
    fn the_counts_answer_what_counting_every_delivery_answers_as_deliveries_come_finish_fail_and_recover() {
        let db = organization();
        let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
        let start = 500_000 * HOUR + 7 * MINUTE;
        let mut pending: Vec<String> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        // Round entries not yet ended (their event's position, index, webhook), and successes in entries.
        let mut open: Vec<(i64, usize, String)> = Vec::new();
        let mut successes: Vec<(i64, String, String)> = Vec::new();
        let mut n = 0;
        // 30 hours in steps of 7 minutes: deliveries come (stamped up to 4 minutes early, as an ingest's clock may
        // be), some finish or fail, some failed ones are recovered, and the alarm counts a few at a time.
        for step in 0..(30 * 60 / 7) {
            let now = start + step * 7 * MINUTE;
            for _ in 0..draw.below(6) {
                n += 1;
                let id = format!("dlv_{n:05}");
                let webhook =
                    if step < 200 && draw.below(9) == 0 { "wh_gone" } else { WEBHOOKS[draw.below(3) as usize] };
                let at = now - draw.below(4 * MINUTE as u64) as i64;
                db.execute(
                    "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                     attempts, created_at, updated_at) VALUES (?1, 'org_a', ?2, 'evt_1', 'lead.created', '{}', \
                     'pending', 1, ?3, ?3)",
                    params![id, webhook, at],
                )
                .unwrap();
                pending.push(id);
            }
            while !pending.is_empty() && draw.below(3) != 0 {
                let id = pending.remove(draw.below(pending.len() as u64) as usize);
                if draw.below(5) == 0 {
                    db.execute("UPDATE deliveries SET status = 'failed' WHERE id = ?1", [&id]).unwrap();
                    db.execute(
                        "INSERT INTO attempts (id, delivery_id, attempt, status_code, duration_ms, created_at) \
                         VALUES (?1 || '_' || ?3, ?1, 1, 500, ?2, ?3)",
                        params![id, draw.below(900) as i64, now],
                    )
                    .unwrap();
                    failed.push(id);
                } else {
                    let first = format!("{{\"status_code\":200,\"duration_ms\":{}}}", draw.below(400));
                    db.execute(
                        "UPDATE deliveries SET status = 'succeeded', first_attempt = ?2 WHERE id = ?1",
                        params![id, first],
                    )
                    .unwrap();
                }
            }
            let settled_before: i64 =
                db.query_row("SELECT COALESCE(MAX(rowid), 0) FROM events", [], |r| r.get(0)).unwrap();
            // Events whose rounds (schema v23) list deliveries: each ends a success in its entry or (a failure) a
            // row; some successes are retried by hand, which moves them to a row first.
            for _ in 0..draw.below(3) {
                let at = now - draw.below(4 * MINUTE as u64) as i64;
                let hooks: Vec<&str> = WEBHOOKS.iter().copied().filter(|_| draw.below(2) == 0).collect();
                let round: Vec<serde_json::Value> =
                    hooks.iter().enumerate().map(|(k, w)| serde_json::json!([format!("{k:08x}"), w])).collect();
                n += 1;
                db.execute(
                    "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at, delivery_stem, \
                     round) VALUES ('org_a', ?1, 'lead.created', '{}', 't', ?2, \
                     printf('%012x', (SELECT COALESCE(MAX(rowid), 0) + 1 FROM events)) || 'aaaaaaaaaaaa', ?3)",
                    params![format!("evt_{n:05}"), at, serde_json::Value::Array(round).to_string()],
                )
                .unwrap();
                let position = db.last_insert_rowid();
                open.extend((0..hooks.len()).map(|k| (position, k, hooks[k].to_string())));
            }
            // Each entry ends within its step, as a record comes within its round's lease: the counts' first
            // partial ten minutes find a row by its `rowid`'s time mark, so a row written long after its creation
            // time (a manual retry of an old success, as of an old failure) is not in that partial range.
            while let Some((position, k, webhook)) = open.pop() {
                let id = format!("dlv_{position:012x}aaaaaaaaaaaa{k:08x}");
                if draw.below(5) == 0 {
                    db.execute(
                        "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                         attempts, created_at, updated_at, stemmed) SELECT ?1, 'org_a', ?2, id, type, '{}', \
                         'failed', 1, created_at, created_at, 1 FROM events WHERE rowid = ?3",
                        params![id, webhook, position],
                    )
                    .unwrap();
                } else {
                    let attempt = format!("{{\"status_code\":200,\"duration_ms\":{}}}", draw.below(400));
                    db.execute(
                        "UPDATE events SET round = json_insert(round, '$[' || ?2 || '][2]', json(?3)) WHERE rowid = ?1",
                        params![position, k as i64, attempt],
                    )
                    .unwrap();
                    successes.push((position, id, webhook));
                }
            }
            successes.retain(|(position, _, _)| *position > settled_before);
            let settled: i64 = db
                .query_row(
                    "SELECT COALESCE(MIN(position), (SELECT COALESCE(MAX(rowid), 0) + 1 FROM events)) FROM \
                     (SELECT value AS position FROM json_each(?1))",
                    [serde_json::to_string(&open.iter().map(|o| o.0).collect::<Vec<_>>()).unwrap()],
                    |r| r.get(0),
                )
                .unwrap();
            db.execute(ADVANCE_ROUNDS_SQL, [settled]).unwrap();
            if !successes.is_empty() && draw.below(3) == 0 {
                let (position, id, webhook) = successes.remove(draw.below(successes.len() as u64) as usize);
                for sql in round_success_to_row_sql() {
                    db.execute(&sql, params![id, webhook, "{}", position]).unwrap();
                }
                // The retry then fails, now and then.
                if draw.below(2) == 0 {
                    db.execute("UPDATE deliveries SET status = 'failed' WHERE id = ?1", [&id]).unwrap();
                }
            }
            if !failed.is_empty() && draw.below(4) == 0 {
                let id = failed.remove(draw.below(failed.len() as u64) as usize);
                db.execute("UPDATE deliveries SET status = 'pending' WHERE id = ?1", [&id]).unwrap();
                pending.push(id);
            }
            if step == 200 {
                db.execute("DELETE FROM webhooks WHERE id = 'wh_gone'", []).unwrap();
            }
            housekeeping(&db, now, 7);
            if step % 5 == 4 {
                // Windows that start inside ten minutes of the counts (the stats' "24 hours ago" is any
                // millisecond), and one at the start of an hour (the chart's).
                let hour_start = (now - 24 * HOUR).div_euclid(HOUR) * HOUR;
                let odd = [197_000, 4 * MINUTE + 1, 123_456];
                for since in [now - 24 * HOUR + odd[0], hour_start, now - 3 * HOUR - odd[1], now - 20 * MINUTE + odd[2]]
                {
                    assert_eq!(counted(&db, since), recounted(&db, since), "step {step}, since {since}");
                }
            }
        }
        let counted_to: i64 = db.query_row("SELECT counted_to FROM organization", [], |r| r.get(0)).unwrap();
        assert!(counted_to > n / 4, "the alarm counted most of the deliveries' rows: {counted_to}");
        let rounds_counted_to: i64 =
            db.query_row("SELECT rounds_counted_to FROM organization", [], |r| r.get(0)).unwrap();
        assert!(rounds_counted_to > n / 4, "and most of the rounds: {rounds_counted_to}");
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM delivery_counts", [], |r| r.get(0)).unwrap();
        assert!(rows > 0 && rows <= 3 * (30 * 6 + 1), "at most one row per webhook and ten minutes: {rows}");
        let gone: i64 = db
            .query_row("SELECT COUNT(*) FROM delivery_counts WHERE webhook_id = 'wh_gone'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(gone, 0, "a deleted webhook's counts go with it");
    }

    #[test]
    fn a_success_in_a_round_is_counted_once_before_and_after_a_retry_moves_it_to_a_row() {
        let db = organization();
        let at = 500_000 * HOUR;
        db.execute(
            "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at, delivery_stem, round) \
             VALUES ('org_a', 'evt_1', 'lead.created', '{}', 't', ?1, '000000000001aaaaaaaaaaaa', \
             '[[\"00000000\",\"wh_a\",{\"status_code\":200,\"duration_ms\":40,\"created_at\":1}], \
               [\"00000001\",\"wh_b\"]]')",
            [at],
        )
        .unwrap();
        // wh_b's delivery failed: its row.
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             created_at, updated_at, stemmed) VALUES ('dlv_000000000001aaaaaaaaaaaa00000001', 'org_a', 'wh_b', \
             'evt_1', 'lead.created', '{}', 'failed', 1, ?1, ?1, 1)",
            [at],
        )
        .unwrap();
        db.execute(ADVANCE_ROUNDS_SQL, [2]).unwrap();
        let stats = |db: &Connection| -> (i64, i64, i64, Option<f64>) {
            db.query_row(&stats_sql(), params!["org_a", at - HOUR], |r| {
                Ok((
                    r.get("deliveries_total")?,
                    r.get("deliveries_succeeded")?,
                    r.get("deliveries_failed")?,
                    r.get("avg_response_ms")?,
                ))
            })
            .unwrap()
        };
        let expected = (2, 1, 1, Some(40.0));
        assert_eq!(stats(&db), expected, "not counted yet: read from the round and the row");
        housekeeping(&db, at + 2 * MINUTE, 10);
        housekeeping(&db, at + 3 * MINUTE, 10);
        let counted: (i64, i64) = db
            .query_row("SELECT counted_to, rounds_counted_to FROM organization", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(counted, (2, 2), "the row and the round counted");
        assert_eq!(stats(&db), expected, "counted");
        // A manual retry moves the success to a row: counted once, by the row from now on.
        let id = "dlv_000000000001aaaaaaaaaaaa00000000";
        for sql in round_success_to_row_sql() {
            db.execute(&sql, params![id, "wh_a", "{}", 1]).unwrap();
        }
        assert_eq!(stats(&db), expected, "moved, not yet counted as a row");
        housekeeping(&db, at + 4 * MINUTE, 10);
        housekeeping(&db, at + 5 * MINUTE, 10);
        assert_eq!(stats(&db), expected, "counted as a row");
        // Its retry fails: the counts follow the row.
        db.execute("UPDATE deliveries SET status = 'failed' WHERE id = ?1", [id]).unwrap();
        assert_eq!(stats(&db), (2, 0, 2, Some(40.0)));
        // A second move finds no attempt in the entry and changes nothing.
        for sql in round_success_to_row_sql() {
            db.execute(&sql, params![id, "wh_a", "{}", 1]).unwrap();
        }
        assert_eq!(stats(&db), (2, 0, 2, Some(40.0)));
    }

    #[test]
    fn every_statement_that_buckets_a_delivery_uses_the_same_ten_minutes() {
        let bucket = format!("created_at / {COUNT_BUCKET_MS}");
        assert!(COUNT_DELIVERIES_SQL.contains(&bucket));
        assert!(PRUNE_COUNTS_SQL.contains(&format!("/ {COUNT_BUCKET_MS}")));
        let trigger = crate::org::schema::VERSIONS[19];
        assert!(trigger.contains("delivery_counts_on_change") && trigger.contains(&format!("NEW.{bucket}")));
    }

    #[test]
    fn an_upgraded_object_counts_from_its_first_delivery_and_reads_as_before_meanwhile() {
        use crate::org::schema::{sqlite_at, upgrade, VERSIONS};
        let db = sqlite_at(VERSIONS, 19);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
             VALUES ('wh_a', 'org_a', 'a', 'https://example.com', '[\"*\"]', 's', 1, 1)",
            [],
        )
        .unwrap();
        let now = 500_000 * HOUR;
        for n in 0..40 {
            db.execute(
                "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                 attempts, created_at, updated_at, first_attempt) VALUES (?1, 'org_a', 'wh_a', 'evt_1', \
                 'lead.created', '{}', 'succeeded', 1, ?2, ?2, '{\"duration_ms\":10}')",
                params![format!("dlv_{n:03}"), now - 30 * HOUR + n * HOUR],
            )
            .unwrap();
        }
        upgrade(&db, VERSIONS);
        let since = now + 9 * HOUR - 24 * HOUR;
        let before = recounted(&db, since);
        assert_eq!(counted(&db, since), before, "nothing counted yet");
        housekeeping(&db, now + 10 * HOUR, 15);
        assert_eq!(counted(&db, since), before, "counting up to the previous run: none yet");
        for run in 1..=4 {
            housekeeping(&db, now + 10 * HOUR + run * MINUTE, 15);
            assert_eq!(counted(&db, since), before, "after run {run}");
        }
        let counted_to: i64 = db.query_row("SELECT counted_to FROM organization", [], |r| r.get(0)).unwrap();
        assert_eq!(counted_to, 41, "caught up, 15 at a time");
        assert_eq!(due(&db, "counting"), None, "nothing left to count: no alarm for it");
        db.execute("UPDATE organization SET count_next = 50", []).unwrap();
        assert_eq!(due(&db, "counting"), Some(0), "deliveries to count bring the alarm at once");
    }

    #[test]
    fn the_counts_read_ranges_of_counts_and_rowids_never_a_whole_table() {
        // The readers walk ranges of every table; the housekeeping's prune reads each webhook (as the pages' does).
        let readers = [stats_sql(), activity_sql(), hourly_sql(true), hourly_average_sql(true), hourly_sql(false)]
            .map(|sql| (sql, true));
        let housekeeping = [COUNT_DELIVERIES_SQL, ADVANCE_COUNT_SQL, PRUNE_COUNTS_SQL].map(|sql| (sql.into(), false));
        for (sql, reader) in readers.into_iter().chain(housekeeping) {
            let details = super::super::query_plan(&sql);
            // `d` may be the deliveries not yet counted: rows and rounds' successes, each read by ranges (a
            // co-routine's scan reads what it yields).
            let subquery = details.iter().any(|d| d == "CO-ROUTINE d");
            let scans = |table: &str| {
                (table != "d" || !subquery)
                    && details.iter().any(|d| d == &format!("SCAN {table}") || d.starts_with(&format!("SCAN {table} ")))
            };
            for table in ["deliveries", "d", "delivery_counts", "c", "attempts", "a", "events", "e"] {
                assert!(!scans(table), "{table} in {sql}: {details:?}");
            }
            if reader {
                assert!(!scans("webhooks") && !scans("w"), "{sql}: {details:?}");
            }
        }
    }
}

/// Schema v22: the deliveries of an ingest's round get their rows from their record, or from the alarm.
#[cfg(test)]
mod round_tests {
    use super::*;
    use crate::domain::payload::{self, DeliveryBody};
    use crate::store::{run_batch_on_sqlite, Database};
    use rusqlite::{params, Connection};
    use worker::wasm_bindgen::JsValue;

    /// The stem of the first event's deliveries: its position (1), then the ingest's random tail.
    const STEM: &str = "00000000000123456789abcd";

    fn local() -> Database {
        Database::local(JsValue::NULL)
    }

    /// An organization with webhook `wh_1` and event `evt_1`, ingested at 1 000 with a round to `wh_1` leased to
    /// 41 000; answers the round's delivery as its ingest built it.
    fn ingested() -> (Connection, DeliveryRow) {
        let (db, mut rows) = ingested_to(&["wh_1"]);
        (db, rows.remove(0))
    }

    /// [`ingested`] with a round to each of `webhooks`, in order; answers each round delivery as its ingest built it.
    fn ingested_to(webhooks: &[&str]) -> (Connection, Vec<DeliveryRow>) {
        let db = crate::store::migrated_sqlite();
        for webhook in webhooks {
            db.execute(
                "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
                 VALUES (?1, 'org_a', 'n', 'https://example.com', '[\"*\"]', 's', 1, 1)",
                [webhook],
            )
            .unwrap();
        }
        db.execute(
            "INSERT INTO events (organization_id, id, type, data, delivery_count, ingest_token, created_at, \
             delivery_stem, round, round_lease) SELECT 'org_a', 'evt_1', 'lead.created', '{\"n\":1}', COUNT(*), 't', \
             1000, ?1, json_group_array(json_array(printf('%08x', rowid), id)), 41000 \
             FROM (SELECT rowid, id FROM webhooks ORDER BY rowid)",
            params![STEM],
        )
        .unwrap();
        // The ingest's copy, its body from the halves the ingest cuts (`payload::split`).
        let (head, tail) = payload::split(&DeliveryBody {
            event_id: "evt_1",
            event_type: "lead.created",
            timestamp: &crate::domain::time::iso8601(1000),
            organization_id: "org_a",
            delivery_id: "",
            data: "{\"n\":1}",
            changes: None,
            test: false,
        })
        .unwrap();
        let rows = webhooks
            .iter()
            .map(|webhook| {
                let number: String = db
                    .query_row("SELECT printf('%08x', rowid) FROM webhooks WHERE id = ?1", [webhook], |r| r.get(0))
                    .unwrap();
                let id = format!("dlv_{STEM}{number}");
                DeliveryRow {
                    body: format!("{head}{id}{tail}"),
                    lease_until: Some(41_000),
                    created_at: 1000,
                    updated_at: 1000,
                    unwritten: true,
                    ..DeliveryRow::sample(&id, webhook)
                }
            })
            .collect();
        (db, rows)
    }

    /// [`ingested_to`], each delivery as the ingest that sends it knows it: with the round as it wrote it
    /// (`ingest_round`).
    fn sent_by_ingest(webhooks: &[&str]) -> (Connection, Vec<DeliveryRow>) {
        let (db, rows) = ingested_to(webhooks);
        let round: std::rc::Rc<str> =
            db.query_row("SELECT round FROM events", [], |r| r.get::<_, String>(0)).unwrap().into();
        let rows = rows.into_iter().map(|row| DeliveryRow { ingest_round: Some(round.clone()), ..row }).collect();
        (db, rows)
    }

    fn succeeded(delivery: &DeliveryRow) -> AttemptRecord<'_> {
        super::first_attempt_tests::record(delivery)
    }

    /// Runs the statements in order; answers every row's `applied` and the rows they changed in all.
    /// Skips what the organization's object skips ([`Statement::unless_changed`]).
    fn run_all(db: &Connection, statements: &[Statement]) -> (Vec<bool>, usize) {
        let mut all = (Vec::new(), 0);
        for (applied, changed) in run_batch_on_sqlite(db, statements, true) {
            all.0.extend(applied);
            all.1 += changed;
        }
        all
    }

    fn state(db: &Connection, id: &DeliveryId) -> (String, Option<i64>, Option<i64>, Option<String>, bool) {
        db.query_row(
            "SELECT status, last_status_code, lease_until, last_error, first_attempt IS NOT NULL FROM deliveries \
             WHERE id = ?1",
            [id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap()
    }

    /// The open rounds' events, as the alarm reads them at `now` (their positions, and whether each lease ran out).
    fn open_rounds(db: &Connection, now: i64) -> Vec<(String, bool)> {
        let mut read = db.prepare(&open_rounds_sql()).unwrap();
        read.query_map(params![ROUNDS_LIMIT, ROUNDS_SCAN], |r| {
            Ok((r.get("id")?, r.get::<_, i64>("round_lease")? < now))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// The status code of the attempt that delivery `id`'s entry in its event's round holds (schema v23), if any.
    fn entry_attempt(db: &Connection, id: &DeliveryId) -> Option<i64> {
        db.query_row(
            &format!(
                "SELECT json_extract(j.value, '$[2].status_code') FROM events e, json_each(e.round) j \
                 WHERE {} = ?1 AND {}",
                crate::store::round_entry_id("e"),
                crate::store::ROUND_ENTRY_SUCCEEDED
            ),
            [id.as_str()],
            |r| r.get(0),
        )
        .ok()
    }

    fn has_row(db: &Connection, id: &DeliveryId) -> bool {
        db.query_row("SELECT COUNT(*) FROM deliveries WHERE id = ?1", [id.as_str()], |r| r.get::<_, i64>(0)).unwrap()
            == 1
    }

    /// An event as a record can change it: its id, round (as JSON) and lease.
    type RecordedEvent = (String, Option<serde_json::Value>, Option<i64>);

    /// What a record can change of the organization's rows: its events, and each delivery's row (as JSON).
    fn rows_of_record(db: &Connection) -> (Vec<RecordedEvent>, Vec<String>) {
        let events = db
            .prepare("SELECT id, round, round_lease FROM events ORDER BY rowid")
            .unwrap()
            .query_map([], |r| {
                let round: Option<String> = r.get(1)?;
                Ok((r.get(0)?, round.map(|text| serde_json::from_str(&text).unwrap()), r.get(2)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let columns = COLUMNS.split(", ").map(|c| format!("'{c}', {c}")).collect::<Vec<_>>().join(", ");
        let deliveries = db
            .prepare(&format!(
                "SELECT json_object({columns}, 'first_attempt', first_attempt) FROM deliveries ORDER BY id"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (events, deliveries)
    }

    /// A change done on a database to a round's delivery.
    type RoundChange = fn(&Connection, &DeliveryRow);

    /// What may have changed a round before its record comes (each named, and done on `db` to the round's
    /// delivery): nothing; the alarm wrote the delivery's row; its webhook was deleted; it was recorded already.
    fn round_changes() -> [(&'static str, RoundChange); 4] {
        [
            ("unchanged", |_, _| {}),
            ("its row written by the alarm", |db, _| {
                let lost = round_rows(&read_open_round(db)).unwrap();
                run_all(db, &write_unwritten(&local(), &lost[0].organization_id, &[&lost[0]], 50_000).unwrap());
            }),
            ("its webhook deleted", |db, _| {
                db.execute("DELETE FROM webhooks WHERE id = 'wh_1'", []).unwrap();
            }),
            ("recorded already", |db, row| {
                let mut earlier = succeeded(row);
                earlier.attempt_id = "att_0";
                run_all(db, &first_attempt_statements(&local(), &[&earlier]).unwrap());
            }),
        ]
    }

    /// Where the record of a round's success knows the round as its ingest wrote it, its first statement writes the
    /// round whole when nothing changed it since, and the object skips the general statements after it. In every
    /// case (nothing changed; the alarm wrote the delivery's row; its webhook was deleted; it was recorded already),
    /// the rows end as the general statements alone leave them, whether the object skips or runs them all (as D1
    /// would), and the record applies as it does there.
    #[test]
    fn a_round_written_whole_ends_as_the_general_record_does_in_every_case() {
        for (case, change) in round_changes() {
            let (general_db, row) = ingested();
            change(&general_db, &row);
            let general = run_all(&general_db, &first_attempt_statements(&local(), &[&succeeded(&row)]).unwrap());
            for skipping in [true, false] {
                let (db, mut rows) = sent_by_ingest(&["wh_1"]);
                let row = rows.remove(0);
                change(&db, &row);
                let statements = first_attempt_statements(&local(), &[&succeeded(&row)]).unwrap();
                assert!(statements[0].sql.starts_with("UPDATE events SET round = ?2"), "{case}: the whole write first");
                assert!(statements[1..].iter().all(|s| s.skip_if_changed == Some(0)), "{case}: the others skippable");
                let answers = run_batch_on_sqlite(&db, &statements, skipping);
                assert_eq!(rows_of_record(&db), rows_of_record(&general_db), "{case}, skipping: {skipping}");
                let whole = answers[0].0 == vec![true];
                assert_eq!(whole, case == "unchanged", "{case}: written whole only when nothing changed");
                if skipping {
                    let applied: Vec<bool> = answers.into_iter().flat_map(|(applied, _)| applied).collect();
                    assert_eq!(applied, general.0, "{case}: applied as the general record");
                }
            }
        }
    }

    /// One event's round to two webhooks whose receivers answer different codes (200 and 204): their successes are
    /// two groups of the record, each with its own round written whole after the other's. The second group's whole
    /// write finds the round changed by the first, so its general statements must run: their skip marks name the
    /// second group's own whole write in the batch, not a statement before it. Both attempts end in their entries,
    /// as when every statement runs.
    #[test]
    fn a_record_of_two_groups_skips_each_groups_statements_by_its_own_whole_write() {
        let mut ended = Vec::new();
        for skipping in [true, false] {
            let (db, rows) = sent_by_ingest(&["wh_1", "wh_2"]);
            let first = succeeded(&rows[0]);
            let second = AttemptRecord { attempt_id: "att_2", status_code: Some(204), ..succeeded(&rows[1]) };
            let batch = record_batch(&local(), &[first, second], &[], &[]).unwrap();
            assert_eq!(batch.at.whole_rounds.len(), 2, "one round written whole per group");
            run_batch_on_sqlite(&db, &batch.statements, skipping);
            assert_eq!(entry_attempt(&db, &rows[0].id), Some(200), "skipping: {skipping}");
            assert_eq!(entry_attempt(&db, &rows[1].id), Some(204), "skipping: {skipping}");
            ended.push(rows_of_record(&db));
        }
        assert_eq!(ended[0], ended[1], "the object's skips change nothing");
    }

    /// Records `records` on `db` as the Worker does ([`record_in_calls`]); answers which applied and the calls made.
    fn recorded_in_calls(db: &Connection, records: &[AttemptRecord<'_>]) -> (Vec<bool>, usize) {
        let calls = std::cell::Cell::new(0);
        let whole = record_batch(&local(), records, &[], &[]).unwrap();
        let recorded = futures::executor::block_on(record_in_calls(whole, records, &[], &[], |statements| {
            calls.set(calls.get() + 1);
            std::future::ready(Ok(crate::store::call_on_sqlite(db, &statements)))
        }))
        .unwrap();
        (recorded.applied, calls.get())
    }

    /// Records `records` on `db` in one call with every statement (the object skipping what it may); answers which
    /// applied.
    fn recorded_in_one_call(db: &Connection, records: &[AttemptRecord<'_>]) -> Vec<bool> {
        let whole = record_batch(&local(), records, &[], &[]).unwrap();
        let results = crate::store::call_on_sqlite(db, &whole.statements);
        read_recorded(records, &[], &[], &results, whole.at).unwrap().applied
    }

    /// Webhook `id`'s failures in a row.
    fn failures(db: &Connection, id: &str) -> i64 {
        db.query_row("SELECT consecutive_failures FROM webhooks WHERE id = ?1", [id], |r| r.get(0)).unwrap_or(-1)
    }

    /// A record whose round is written whole is split in two calls, and the second is made only when that write
    /// did not apply. In every case (nothing changed; the alarm wrote the delivery's row; its webhook was deleted; it
    /// was recorded already) the rows, the webhook's failures in a row (reset where the delivery shows the success)
    /// and what applied end as the record in one call leaves them.
    #[test]
    fn a_record_in_two_calls_ends_as_in_one_call_in_every_case() {
        for (case, change) in round_changes() {
            let mut ended = Vec::new();
            for in_two_calls in [true, false] {
                let (db, mut rows) = sent_by_ingest(&["wh_1"]);
                let row = rows.remove(0);
                db.execute("UPDATE webhooks SET consecutive_failures = 2", []).unwrap();
                change(&db, &row);
                let record =
                    AttemptRecord { webhook_counter: Counter::Reset, fast_until: Some(9_000), ..succeeded(&row) };
                let applied = if in_two_calls {
                    let (applied, calls) = recorded_in_calls(&db, std::slice::from_ref(&record));
                    assert_eq!(
                        calls,
                        if case == "unchanged" { 1 } else { 2 },
                        "{case}: a second call only when needed"
                    );
                    applied
                } else {
                    recorded_in_one_call(&db, std::slice::from_ref(&record))
                };
                let fast_until: Option<i64> =
                    db.query_row("SELECT fast_until FROM webhooks", [], |r| r.get(0)).unwrap_or(None);
                ended.push((rows_of_record(&db), failures(&db, "wh_1"), fast_until, applied));
            }
            assert_eq!(ended[0], ended[1], "{case}");
            let (_, failures, _, applied) = &ended[0];
            let applies = matches!(case, "unchanged" | "its row written by the alarm");
            assert_eq!(applied, &vec![applies], "{case}");
            if case != "its webhook deleted" {
                assert_eq!(*failures, 0, "{case}: reset, the delivery showing a success");
            }
        }
    }

    /// The first call of a split record carries no statement the object could skip, and the round's attempt once;
    /// the two groups of one event's round (receivers answering 200 and 204) each get their own second call when
    /// the other's whole write changed the round first, and both attempts end in their entries.
    #[test]
    fn a_split_record_sends_the_general_statements_only_for_a_round_not_written_whole() {
        let (db, rows) = sent_by_ingest(&["wh_1", "wh_2"]);
        let records = [
            AttemptRecord { webhook_counter: Counter::Reset, ..succeeded(&rows[0]) },
            AttemptRecord {
                attempt_id: "att_2",
                status_code: Some(204),
                webhook_counter: Counter::Reset,
                ..succeeded(&rows[1])
            },
        ];
        let whole = record_batch(&local(), &records, &[], &[]).unwrap();
        let bytes = |statements: &[Statement]| -> usize {
            statements
                .iter()
                .map(|s| s.sql.len() + s.params.iter().map(|p| format!("{p:?}").len()).sum::<usize>())
                .sum()
        };
        let whole_bytes = bytes(&whole.statements);
        let SplitRecord { first, unless_whole } = split_record(whole);
        assert!(first.statements.iter().all(|s| s.skip_if_changed.is_none()), "nothing to skip in the first call");
        assert!(bytes(&first.statements) * 2 < whole_bytes, "{} of {whole_bytes}", bytes(&first.statements));
        assert_eq!(unless_whole.len(), 2, "one second call per round written whole");
        for (_, second) in &unless_whole {
            assert!(second.statements.iter().all(|s| s.skip_if_changed.is_none()), "unmarked");
            assert!(second.statements.last().is_some_and(|s| s.sql.contains("consecutive_failures")), "its counter");
        }
        let (applied, calls) = recorded_in_calls(&db, &records);
        assert_eq!((applied, calls), (vec![true, true], 2), "the 204's round was changed by the 200's whole write");
        assert_eq!(entry_attempt(&db, &rows[0].id), Some(200));
        assert_eq!(entry_attempt(&db, &rows[1].id), Some(204));
    }

    /// The whole round puts each record's attempt in the entry of its webhook whose number ends its id, and leaves
    /// the other entries; a record that is not in the round, or knows another round, leaves it to the general
    /// statements.
    #[test]
    fn a_whole_round_puts_each_attempt_in_its_own_entry() {
        let round: std::rc::Rc<str> = r#"[["0000000a","wh_1"],["0000000b","wh_2"],["0000000c","wh_3"]]"#.into();
        let delivery = |id: &str, webhook: &str| DeliveryRow {
            unwritten: true,
            ingest_round: Some(round.clone()),
            ..DeliveryRow::sample(&format!("dlv_00000000000100{id}"), webhook)
        };
        let (first, third) = (delivery("0000000a", "wh_1"), delivery("0000000c", "wh_3"));
        let records = [succeeded(&first), succeeded(&third)];
        let records: Vec<&AttemptRecord<'_>> = records.iter().collect();
        let attempts = |records: &[&AttemptRecord<'_>]| {
            records
                .iter()
                .map(|r| (r.delivery.id.to_string(), serde_json::json!({ "id": r.delivery.id.as_str() })))
                .collect::<serde_json::Map<_, _>>()
        };
        let whole = whole_round(&records, &attempts(&records)).unwrap().expect("written whole");
        assert_eq!(&*whole.old, &*round);
        let new: serde_json::Value = serde_json::from_str(&whole.new).unwrap();
        assert_eq!(
            new,
            serde_json::json!([
                ["0000000a", "wh_1", { "id": first.id.as_str() }],
                ["0000000b", "wh_2"],
                ["0000000c", "wh_3", { "id": third.id.as_str() }]
            ])
        );
        // Another webhook with the same number, a number not in the round, another round: not written whole.
        let strangers = [
            delivery("0000000a", "wh_2"),
            delivery("0000000d", "wh_1"),
            DeliveryRow { ingest_round: Some(r#"[["0000000a","wh_1"]]"#.into()), ..delivery("0000000a", "wh_1") },
        ];
        for stranger in &strangers {
            let records = [succeeded(&third), succeeded(stranger)];
            let records: Vec<&AttemptRecord<'_>> = records.iter().collect();
            assert!(whole_round(&records, &attempts(&records)).unwrap().is_none(), "{}", stranger.id);
        }
    }

    #[test]
    fn a_successful_first_attempt_of_a_round_goes_in_its_entry_once_and_closes_the_round() {
        let (db, row) = ingested();
        assert_eq!(open_rounds(&db, 50_000), vec![("evt_1".to_string(), true)]);
        let record = succeeded(&row);
        let statements = first_attempt_statements(&local(), &[&record]).unwrap();
        let (applied, changed) = run_all(&db, &statements);
        assert_eq!(applied, vec![true]);
        assert_eq!(changed, 1, "one update of the event's row, no delivery row");
        assert!(!has_row(&db, &row.id));
        assert_eq!(entry_attempt(&db, &row.id), Some(200));
        assert!(open_rounds(&db, 50_000).is_empty(), "nothing left for the alarm");
        // The alarm, were it to look at the round, finds nothing to write: its delivery is done.
        assert!(round_rows(&read_event_round(&db)).unwrap().is_empty());
        // A record of it again changes nothing and writes no row.
        let (_, changed) = run_all(&db, &first_attempt_statements(&local(), &[&record]).unwrap());
        assert_eq!(changed, 0);
        assert!(!has_row(&db, &row.id));
        // A delivery whose id does not begin with its event's position (an ingest before schema v23) gets its row.
        let old = DeliveryRow { id: DeliveryId::parse("dlv_0123456789abcdef0100000001").unwrap(), ..row.clone() };
        db.execute(
            "UPDATE events SET delivery_stem = '0123456789abcdef01', round = json_array(json_array('00000001', 'wh_1'))",
            [],
        )
        .unwrap();
        let (applied, _) = run_all(&db, &first_attempt_statements(&local(), &[&succeeded(&old)]).unwrap());
        assert_eq!(applied, vec![true]);
        assert_eq!(state(&db, &old.id), ("succeeded".into(), Some(200), None, None, true));
        assert_eq!(entry_attempt(&db, &old.id), None);
    }

    #[test]
    fn a_success_in_its_entry_is_found_by_its_id_shown_succeeded_and_not_missing_after_rounds_from_moves_on() {
        let (db, row) = ingested();
        let record = succeeded(&row);
        run_all(&db, &first_attempt_statements(&local(), &[&record]).unwrap());
        db.execute(ADVANCE_ROUNDS_SQL, [2]).unwrap();
        // A delivery's page finds its event by the position its id begins with.
        let mut read = db.prepare(&of_round_sql(true)).unwrap();
        let found: Vec<OpenRound> = open_rounds_of(&mut read, params!["org_a", "wh_1", row.id.as_str(), 1]);
        assert_eq!(found.len(), 1);
        let entries = crate::store::events::round_entries(&found[0].delivery_stem, Some(&found[0].round)).unwrap();
        let attempt = entries[0].attempt.clone().expect("its attempt");
        assert_eq!((attempt.id.as_str(), attempt.status_code, attempt.attempt), (record.attempt_id, Some(200), 1));
        assert!(open_rounds_of(&mut read, params!["org_a", "wh_2", row.id.as_str(), 1]).is_empty(), "another webhook");
        // The event's page shows it succeeded; a replay of what wh_1 missed leaves it alone.
        let shown: (String, i64, Option<i64>) = db
            .query_row(
                &crate::store::unwritten_round_deliveries("e.organization_id = 'org_a' AND e.id = 'evt_1'"),
                [],
                |r| Ok((r.get("status")?, r.get("attempts")?, r.get("last_status_code")?)),
            )
            .unwrap();
        assert_eq!(shown, ("succeeded".into(), 1, Some(200)));
        let not_missing: bool = db
            .query_row(
                &format!("SELECT {} FROM events e", crate::store::in_round("e.rowid", "e.round", "'wh_1'")),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(not_missing);
        // The record's result shows for the webhook's failure count and its operational events.
        let shows = |attempts: i64, status: &str, at: i64| -> bool {
            db.query_row(
                &format!("SELECT {}", crate::store::shows_result("?1", "?2", "?3", "?4", Some("?5"))),
                params![row.id.as_str(), attempts, status, 1, at],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert!(shows(1, "succeeded", record.now));
        assert!(!shows(1, "succeeded", record.now + 1), "another record's time");
        assert!(!shows(1, "failed", record.now));
        assert!(!shows(2, "succeeded", record.now));
        // The event's own reads count it once.
        let n: i64 = db
            .query_row(
                &format!(
                    "SELECT {} FROM events e WHERE id = 'evt_1'",
                    crate::store::round_unwritten("e.rowid", "e.delivery_stem", "e.round")
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_record_that_comes_after_the_alarm_wrote_its_row_is_fenced_as_before() {
        let (db, row) = ingested();
        // The lease ran out: the alarm writes the row as the ingest would have, and its search for lost sends finds it.
        let lost = round_rows(&read_open_round(&db)).unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].body, row.body, "the same bytes as the ingest's send");
        assert_eq!(lost[0].id, row.id, "the same id");
        run_all(&db, &write_unwritten(&local(), &row.organization_id, &[&lost[0]], 50_000).unwrap());
        assert_eq!(state(&db, &row.id), ("pending".into(), None, Some(41_000), None, false));
        assert!(open_rounds(&db, 50_000).is_empty());
        let found: i64 =
            db.query_row(&format!("SELECT COUNT(*) FROM deliveries WHERE {}", in_flight!()), [], |r| r.get(0)).unwrap();
        assert_eq!(found, 1, "in flight, for the search for lost sends");
        // The late record of the first attempt still holds it (nothing claimed it again): it applies, once.
        let (applied, _) = run_all(&db, &first_attempt_statements(&local(), &[&succeeded(&row)]).unwrap());
        assert_eq!(applied, vec![true]);
        assert_eq!(state(&db, &row.id), ("succeeded".into(), Some(200), None, None, true));
        // Claimed again (attempt 2) before a late record: that record no longer applies.
        let (db, row) = ingested();
        run_all(&db, &write_unwritten(&local(), &row.organization_id, &[&row], 50_000).unwrap());
        db.execute("UPDATE deliveries SET attempts = 2", []).unwrap();
        let (applied, _) = run_all(&db, &first_attempt_statements(&local(), &[&succeeded(&row)]).unwrap());
        assert_eq!(applied, vec![false]);
        assert_eq!(state(&db, &row.id).0, "pending");
    }

    #[test]
    fn a_round_whose_webhook_was_deleted_writes_its_delivery_failed_with_the_reason() {
        for carried in [true, false] {
            let (db, row) = ingested();
            db.execute("DELETE FROM webhooks WHERE id = 'wh_1'", []).unwrap();
            let statements = if carried {
                first_attempt_statements(&local(), &[&succeeded(&row)]).unwrap()
            } else {
                write_unwritten(&local(), &row.organization_id, &[&row], 2000).unwrap()
            };
            let (applied, _) = run_all(&db, &statements);
            assert!(applied.iter().all(|a| !a), "not applied");
            let (status, code, lease, error, first) = state(&db, &row.id);
            assert_eq!((status.as_str(), code, lease, error.as_deref()), ("failed", None, None, Some(WEBHOOK_GONE)));
            assert_eq!(first, carried, "the attempt that happened is kept");
        }
    }

    #[test]
    fn an_open_round_is_found_while_a_listed_delivery_has_no_row_and_its_reads_count_it_pending() {
        let (db, row) = ingested();
        assert_eq!(open_rounds(&db, 20_000), vec![("evt_1".to_string(), false)], "in flight: its lease holds");
        // The event's deliveries show it pending, with its id and webhook.
        let mut read = db
            .prepare(&crate::store::unwritten_round_deliveries("e.organization_id = 'org_a' AND e.id = 'evt_1'"))
            .unwrap();
        let shown: Vec<(String, String, String, i64)> = read
            .query_map([], |r| Ok((r.get("id")?, r.get("webhook_id")?, r.get("status")?, r.get("attempts")?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(shown, vec![(row.id.to_string(), "wh_1".to_string(), "pending".to_string(), 1)]);
        // A replay of what wh_1 missed leaves it alone; another webhook's replay does not.
        let open = |webhook: &str| -> bool {
            db.query_row(
                &format!(
                    "SELECT {} FROM events e WHERE id = 'evt_1'",
                    crate::store::in_round("e.rowid", "e.round", "?1")
                ),
                [webhook],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert!(open("wh_1"));
        assert!(!open("wh_2"));
        // Past `rounds_from` (the alarm wrote what the round lacked), the event holds nothing open.
        db.execute(ADVANCE_ROUNDS_SQL, [2]).unwrap();
        assert!(!open("wh_1"));
        assert!(open_rounds(&db, 50_000).is_empty());
        db.execute(ADVANCE_ROUNDS_SQL, [1]).unwrap();
        let from: i64 = db.query_row("SELECT rounds_from FROM organization", [], |r| r.get(0)).unwrap();
        assert_eq!(from, 2, "rounds_from only moves up");
    }

    #[test]
    fn the_alarm_writes_the_rounds_whose_lease_ran_out_and_moves_rounds_from_to_the_first_still_in_flight() {
        let (db, _) = ingested();
        let round = read_open_round(&db);
        let at = |position: i64, round_lease: i64| OpenRound {
            position,
            round_lease: Some(round_lease),
            organization_id: round.organization_id.clone(),
            id: round.id.clone(),
            event_type: round.event_type.clone(),
            data: round.data.clone(),
            changes: None,
            created_at: round.created_at,
            delivery_stem: round.delivery_stem.clone(),
            round: round.round.clone(),
            rounds_from: 0,
        };
        let plan = |open: &[OpenRound], limit: i64| {
            let LostRounds { rows, rounds_from } = lost_rounds(open, 100, limit, 50_000).unwrap();
            (rows.len(), rounds_from)
        };
        // Nothing open: past what was read.
        assert_eq!(plan(&[], 10), (0, 100));
        // Leases run out: their rows, and past what was read.
        assert_eq!(plan(&[at(3, 41_000), at(7, 41_000)], 10), (2, 100));
        // One still leased: the ones before it, and it is where the next look starts (the one after it waits).
        assert_eq!(plan(&[at(3, 41_000), at(7, 60_000), at(9, 41_000)], 10), (1, 7));
        // A full read: the next look starts after its last.
        assert_eq!(plan(&[at(3, 41_000), at(7, 41_000)], 2), (2, 8));
        // Each row as the ingest claimed it: attempt 1, the round's lease, unwritten.
        let LostRounds { rows, .. } = lost_rounds(&[at(3, 41_000)], 100, 10, 50_000).unwrap();
        assert!(rows.iter().all(|r| r.attempts == 1 && r.lease_until == Some(41_000) && r.unwritten));
    }

    #[test]
    fn a_rounds_delivery_without_a_row_is_found_by_its_id_and_webhook_until_its_row_is_written() {
        let (db, row) = ingested();
        let found = |webhook: &str, id: &str| -> Option<String> {
            let mut read = db.prepare(&of_round_sql(true)).unwrap();
            let position = RoundRef::position_of(&DeliveryId::parse(id).unwrap());
            let mut events = read
                .query_map(params!["org_a", webhook, id, position], |r| r.get::<_, String>("id"))
                .unwrap()
                .map(Result::unwrap);
            events.next()
        };
        assert_eq!(found("wh_1", row.id.as_str()), Some("evt_1".to_string()));
        // Built as the ingest claimed it: the same id, body and lease.
        let built = round_rows(&read_open_round(&db)).unwrap();
        assert_eq!((&built[0].id, &built[0].body, built[0].lease_until), (&row.id, &row.body, row.lease_until));
        assert_eq!(found("wh_2", row.id.as_str()), None, "another webhook's");
        let other_tail = format!("dlv_000000000001ffffffffffff{}", &row.id.as_str()[28..]);
        assert_eq!(found("wh_1", &other_tail), None, "another stem at its event's position");
        let other_position = format!("dlv_00000000000223456789abcd{}", &row.id.as_str()[28..]);
        assert_eq!(found("wh_1", &other_position), None, "its stem at another position");
        run_all(&db, &write_unwritten(&local(), &row.organization_id, &[&row], 2000).unwrap());
        assert_eq!(found("wh_1", row.id.as_str()), None, "its row answers now");
    }

    #[test]
    fn the_record_of_a_rounds_successes_finds_their_events_and_rows_by_primary_keys() {
        let [update, applied] = round_success_sql();
        for sql in [update, applied, whole_round_sql(3)] {
            let details = crate::store::query_plan(&sql);
            assert!(
                !details.iter().any(|d| d.starts_with("SCAN events") || d.starts_with("SCAN e ") || d == "SCAN e"),
                "{sql}: {details:?}"
            );
            assert!(
                !details
                    .iter()
                    .any(|d| ["SCAN d", "SCAN w", "SCAN deliveries", "SCAN webhooks"].iter().any(|t| d.starts_with(t))),
                "{sql}: {details:?}"
            );
        }
        let whole = crate::store::query_plan(&whole_round_sql(3));
        assert!(whole.iter().any(|d| d.contains("SEARCH events USING INTEGER PRIMARY KEY (rowid=?)")), "{whole:?}");
        use rusqlite::types::Value::{Integer, Text};
        let runs: Vec<Vec<rusqlite::types::Value>> = (1..=3)
            .map(|n| vec![Integer(n), Text("[]".into()), Text("[]".into()), Text("dlv_1".into()), Text("wh_1".into())])
            .collect();
        assert_eq!(crate::store::recompiles(&whole_round_sql(1), &runs), 0, "kept compiled");
    }

    #[test]
    fn the_alarm_reads_rounds_from_rounds_from_through_the_primary_keys() {
        for sql in [open_rounds_sql(), ROUNDS_READ_TO_SQL.to_string()] {
            let details = crate::store::query_plan(&sql);
            assert!(
                !details.iter().any(|d| d.starts_with("SCAN events") || d.starts_with("SCAN deliveries")),
                "{sql}: {details:?}"
            );
        }
        let details = crate::store::query_plan(&open_rounds_sql());
        assert!(
            details.iter().any(|d| d.contains("SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
            "{details:?}"
        );
        assert!(
            details.iter().any(|d| d.contains("USING COVERING INDEX sqlite_autoindex_deliveries_1 (id=?)")),
            "{details:?}"
        );
    }

    /// The first event's round as the alarm reads an open one, whatever it holds.
    fn read_event_round(db: &Connection) -> OpenRound {
        let mut read =
            db.prepare(&format!("SELECT {} FROM events e WHERE e.rowid = 1", open_round_columns("e."))).unwrap();
        open_rounds_of(&mut read, []).remove(0)
    }

    /// The alarm's read of the first open round.
    fn read_open_round(db: &Connection) -> OpenRound {
        let mut read = db.prepare(&open_rounds_sql()).unwrap();
        open_rounds_of(&mut read, params![ROUNDS_LIMIT, ROUNDS_SCAN]).remove(0)
    }

    /// The events a statement returns as [`OpenRound`]s (the alarm's read, a consumer's claim).
    fn open_rounds_of(statement: &mut rusqlite::Statement<'_>, binds: impl rusqlite::Params) -> Vec<OpenRound> {
        let raw: Vec<String> = statement
            .query_map(binds, |r| {
                Ok(serde_json::json!({
                    "position": r.get::<_, i64>("position")?, "organization_id": r.get::<_, String>("organization_id")?,
                    "id": r.get::<_, String>("id")?, "type": r.get::<_, String>("type")?,
                    "data": r.get::<_, String>("data")?, "changes": r.get::<_, Option<String>>("changes")?,
                    "created_at": r.get::<_, i64>("created_at")?, "delivery_stem": r.get::<_, String>("delivery_stem")?,
                    "round": r.get::<_, String>("round")?, "round_lease": r.get::<_, Option<i64>>("round_lease")?,
                })
                .to_string())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        raw.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
    }

    /// [`ingested`] by a batch: its round waits for the consumer of its queue message (no lease).
    fn queued() -> (Connection, DeliveryRow) {
        let (db, row) = ingested();
        db.execute("UPDATE events SET round_lease = NULL", []).unwrap();
        (db, DeliveryRow { attempts: 0, lease_until: None, ..row })
    }

    /// A consumer's claim of event `position`'s round by stem `stem`, leased to 70 000: the rounds it claimed.
    fn claim_round(db: &Connection, position: i64, stem: &str) -> Vec<OpenRound> {
        let mut claim = db.prepare(&claim_rounds_sql(1)).unwrap();
        open_rounds_of(&mut claim, params![70_000, position, stem])
    }

    #[test]
    fn a_consumer_claims_a_queued_round_once_by_its_event_and_builds_what_the_ingest_would_have_sent() {
        let (db, row) = queued();
        // Listed, unwritten, pending, not yet attempted.
        let shown: i64 = db
            .query_row(
                &format!(
                    "SELECT attempts FROM ({})",
                    crate::store::unwritten_round_deliveries("e.organization_id = 'org_a' AND e.id = 'evt_1'")
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(shown, 0);
        assert!(claim_round(&db, 1, "000000000001ffffffffffff").is_empty(), "another stem at that row");
        assert!(claim_round(&db, 2, STEM).is_empty(), "no event there");
        let claimed = claim_round(&db, 1, STEM);
        assert_eq!(claimed.len(), 1);
        let rows = round_rows(&claimed[0]).unwrap();
        assert_eq!(rows.len(), 1);
        let built = &rows[0];
        assert_eq!((&built.id, &built.body), (&row.id, &row.body), "the ingest's id and bytes");
        assert_eq!((built.attempts, built.lease_until, built.unwritten), (1, Some(70_000), true));
        assert!(claim_round(&db, 1, STEM).is_empty(), "claimed once: a repeated message finds it taken");
        // Its lease now holds it from the alarm; then its record writes the row, as for an ingest's own round.
        assert_eq!(open_rounds(&db, 60_000), vec![("evt_1".to_string(), false)]);
        run_all(&db, &first_attempt_statements(&local(), &[&succeeded(built)]).unwrap());
        assert_eq!(entry_attempt(&db, &row.id), Some(200), "its success in its entry");
        assert!(!has_row(&db, &row.id));
        assert!(open_rounds(&db, 80_000).is_empty());
    }

    #[test]
    fn a_queued_round_with_a_row_or_behind_rounds_from_is_not_claimed() {
        let (db, row) = queued();
        run_all(&db, &write_unwritten(&local(), &row.organization_id, &[&row], 2000).unwrap());
        assert!(claim_round(&db, 1, STEM).is_empty(), "the alarm wrote its rows: claimed by row from now on");
        let (db, _) = queued();
        db.execute(ADVANCE_ROUNDS_SQL, [2]).unwrap();
        assert!(claim_round(&db, 1, STEM).is_empty());
    }

    #[test]
    fn the_alarm_leaves_a_queued_round_to_its_consumer_for_a_minute_then_writes_it_for_the_search_for_lost_sends() {
        let (db, row) = queued();
        let round = read_open_round(&db);
        assert_eq!(round.in_flight_until(), 1000 + OVERDUE_MS);
        let plan = |now: i64| lost_rounds(std::slice::from_ref(&round), 100, 10, now).unwrap();
        let waiting = plan(1000 + OVERDUE_MS);
        assert!(waiting.rows.is_empty());
        assert_eq!(waiting.rounds_from, 1, "the next look starts at it");
        let lost = plan(1001 + OVERDUE_MS);
        assert_eq!(lost.rounds_from, 100);
        let written = &lost.rows[0];
        assert_eq!((written.attempts, written.lease_until, &written.body), (0, None, &row.body), "unclaimed");
        run_all(&db, &write_unwritten(&local(), &row.organization_id, &[written], 2000).unwrap());
        let now = 1001 + OVERDUE_MS;
        db.execute(FIND_LOST_SENDS_SQL, params![now, now - OVERDUE_MS]).unwrap();
        let due: Option<i64> = db
            .query_row("SELECT next_attempt_at FROM deliveries WHERE id = ?1", [row.id.as_str()], |r| r.get(0))
            .unwrap();
        assert_eq!(due, Some(1000), "due since its ingest: the overdue search re-enqueues it");
    }

    #[test]
    fn a_consumers_claim_finds_the_round_and_its_webhooks_by_the_events_rowid() {
        let details = crate::store::query_plan(&claim_rounds_sql(2));
        assert!(!details.iter().any(|d| d.starts_with("SCAN e") || d.starts_with("SCAN events")), "{details:?}");
        let details = crate::store::query_plan(&webhooks::of_rounds_sql(2));
        assert!(!details.iter().any(|d| d.starts_with("SCAN e") || d.starts_with("SCAN webhooks")), "{details:?}");
        let (db, _) = queued();
        let mut read = db.prepare(&webhooks::of_rounds_sql(1)).unwrap();
        let hooks: Vec<String> = read.query_map([1], |r| r.get("id")).unwrap().map(Result::unwrap).collect();
        assert_eq!(hooks, vec!["wh_1".to_string()]);
    }
}

/// A webhook's log merged from its rows and its successes in rounds (schema v23).
#[cfg(test)]
mod round_log_tests {
    use super::*;
    use rusqlite::{params, Connection};

    /// 150 events, one a minute, whose rounds list wh_a (and every third wh_b): most of wh_a's succeed in their entry,
    /// every fifth fails (a row), every seventh is still open; a delivery with a random id (a replay) now and then.
    fn organization() -> Connection {
        let db = super::super::migrated_sqlite();
        for w in ["wh_a", "wh_b"] {
            db.execute(
                "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at) \
                 VALUES (?1, 'org_a', ?1, 'https://example.com', '[\"*\"]', 's', 1, 1)",
                [w],
            )
            .unwrap();
        }
        for n in 1..=150i64 {
            let at = 1_000_000 + n * 60_000;
            let attempt = |code: i64| serde_json::json!({"status_code": code, "duration_ms": 5, "created_at": at + 10});
            let mut round = vec![if n % 7 == 0 || n % 5 == 0 {
                serde_json::json!(["00000000", "wh_a"])
            } else {
                serde_json::json!(["00000000", "wh_a", attempt(200)])
            }];
            if n % 3 == 0 {
                round.push(serde_json::json!(["00000001", "wh_b", attempt(204)]));
            }
            let event_type = if n % 2 == 0 { "lead.created" } else { "deal.won" };
            db.execute(
                "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at, delivery_stem, round) \
                 VALUES ('org_a', ?1, ?2, '{}', 't', ?3, printf('%012x', ?4) || 'aaaaaaaaaaaa', ?5)",
                params![format!("evt_{n:03}"), event_type, at, n, serde_json::Value::Array(round).to_string()],
            )
            .unwrap();
            let row = |id: String, status: &str, created_at: i64| {
                db.execute(
                    "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                     attempts, created_at, updated_at) VALUES (?1, 'org_a', 'wh_a', ?2, ?3, '{}', ?4, 1, ?5, ?5)",
                    params![id, format!("evt_{n:03}"), event_type, status, created_at],
                )
                .unwrap();
            };
            if n % 5 == 0 {
                row(format!("dlv_{n:012x}aaaaaaaaaaaa00000000"), "failed", at);
            }
            if n % 11 == 0 {
                row(format!("dlv_replay{n:03}"), "succeeded", at + 30_000);
            }
        }
        db.execute("UPDATE organization SET rounds_from = 140", []).unwrap();
        db
    }

    fn read(
        db: &Connection,
        sql: &str,
        filter: (&str, Option<&str>, Option<&str>),
        read: i64,
        before: i64,
    ) -> Vec<LoggedDelivery> {
        let mut statement = db.prepare(sql).unwrap();
        let rows = statement
            .query_map(params!["org_a", filter.0, filter.1, filter.2, read, 0, before], |r| {
                let status = match r.get::<_, String>("status")?.as_str() {
                    "succeeded" => DeliveryStatus::Succeeded,
                    _ => DeliveryStatus::Failed,
                };
                Ok(LoggedDelivery {
                    position: r.get("position")?,
                    log: Log::Rows,
                    delivery: DeliveryRow {
                        event_id: EventId::parse(&r.get::<_, String>("event_id")?).unwrap(),
                        event_type: r.get("event_type")?,
                        status,
                        last_status_code: r.get("last_status_code")?,
                        updated_at: r.get("updated_at")?,
                        ..delivery(&r.get::<_, String>("id")?, &r.get::<_, String>("webhook_id")?, r.get("created_at")?)
                    },
                })
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    }

    /// Delivery `id` of webhook `webhook`, created at `created_at`, succeeded.
    fn delivery(id: &str, webhook: &str, created_at: i64) -> DeliveryRow {
        DeliveryRow {
            status: DeliveryStatus::Succeeded,
            created_at,
            updated_at: created_at,
            ..DeliveryRow::sample(id, webhook)
        }
    }

    /// A page of the log as [`list`] answers it, on SQLite.
    fn page(
        db: &Connection,
        filter: (&str, Option<&str>, Option<&str>),
        at: &PageAt,
        rounds_before: Option<i64>,
    ) -> LogPage {
        let n = i64::from(at.offset) + i64::from(at.limit) + 1;
        let rows = read(db, &log_page_sql(), filter, n, at.before.unwrap_or(i64::MAX));
        let rounds = read(db, &log_round_page_sql(), filter, n, rounds_before.unwrap_or(i64::MAX));
        let count = |sql: &str| -> i64 {
            db.query_row(sql, params!["org_a", filter.0, filter.1, filter.2, 10_001], |r| r.get("total")).unwrap()
        };
        log_page(rows, rounds, count(&log_count_sql()) + count(&log_round_count_sql()), at, rounds_before)
    }

    fn ids(page: &LogPage) -> Vec<String> {
        page.page.rows.iter().map(|d| d.delivery.id.to_string()).collect()
    }

    /// Every delivery of the webhook the filter selects, newest first by creation time (the row first on a tie, then
    /// the later written): what the merge answers when each list is in the order of creation.
    fn everything(db: &Connection, filter: (&str, Option<&str>, Option<&str>)) -> Vec<String> {
        let sql = format!(
            "SELECT id FROM (SELECT id, created_at, 0 AS kind, rowid AS position FROM deliveries \
               WHERE webhook_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR event_type = ?3) \
             UNION ALL SELECT id, created_at, 1, position FROM ({}) WHERE webhook_id = ?1 \
               AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR event_type = ?3)) \
             ORDER BY created_at DESC, kind, position DESC",
            super::super::round_successes("events e")
        );
        let mut statement = db.prepare(&sql).unwrap();
        let all = statement
            .query_map(params![filter.0, filter.1, filter.2], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        all
    }

    #[test]
    fn the_log_lists_rows_and_successes_in_rounds_newest_first_by_offset_and_by_iterator_alike() {
        let db = organization();
        let filters = [
            ("wh_a", None, None),
            ("wh_a", Some("succeeded"), None),
            ("wh_a", Some("failed"), None),
            ("wh_a", None, Some("lead.created")),
            ("wh_b", None, None),
            ("wh_b", Some("failed"), None),
        ];
        for filter in filters {
            let all = everything(&db, filter);
            assert!(
                filter.1 == Some("failed") || all.iter().any(|id| id.ends_with("00000000") || id.ends_with("00000001"))
            );
            // Offsets.
            let mut by_offset = Vec::new();
            for n in 0.. {
                let listed = page(&db, filter, &PageAt { limit: 7, offset: n * 7, before: None }, None);
                by_offset.extend(ids(&listed));
                assert_eq!(listed.page.total.total as usize, all.len(), "{filter:?}");
                if !listed.page.more {
                    break;
                }
            }
            assert_eq!(by_offset, all, "{filter:?}");
            // Iterators: each page starts where the one before ended, in both lists.
            let (mut walked, mut before, mut rounds_before) = (Vec::new(), None, None);
            loop {
                let listed = page(&db, filter, &PageAt { limit: 7, offset: 0, before }, rounds_before);
                walked.extend(ids(&listed));
                if !listed.page.more {
                    break;
                }
                (before, rounds_before) = (listed.next_before, listed.next_rounds_before);
            }
            assert_eq!(walked, all, "{filter:?}");
        }
        // A success still open is not listed; a success in its entry is, with its attempt's answer.
        let listed = page(&db, ("wh_a", None, None), &PageAt { limit: 100, offset: 0, before: None }, None);
        assert!(!ids(&listed).contains(&format!("dlv_{:012x}aaaaaaaaaaaa00000000", 147)), "open");
        let success =
            listed.page.rows.iter().find(|d| d.delivery.id.as_str() == "dlv_00000000008faaaaaaaaaaaa00000000");
        let success = success.expect("event 143's success");
        assert_eq!(
            (success.log, success.delivery.last_status_code, success.delivery.updated_at),
            (Log::Rounds, Some(200), 1_000_000 + 143 * 60_000 + 10)
        );
    }

    #[test]
    fn the_merge_takes_the_newer_head_the_row_on_a_tie() {
        let at = |id: &str, created_at: i64, position: i64, log: Log| LoggedDelivery {
            position,
            log,
            delivery: delivery(id, "wh_a", created_at),
        };
        let rows = vec![at("dlv_r3", 30, 3, Log::Rows), at("dlv_r2", 20, 2, Log::Rows), at("dlv_r1", 10, 1, Log::Rows)];
        let rounds = vec![at("dlv_e2", 25, 9, Log::Rounds), at("dlv_e1", 20, 8, Log::Rounds)];
        let (page, more) = merged_log(rows, rounds, 1, 3);
        let ids: Vec<&str> = page.iter().map(|d| d.delivery.id.as_str()).collect();
        assert_eq!(ids, ["dlv_e2", "dlv_r2", "dlv_e1"]);
        assert!(more, "dlv_r1 follows");
        assert_eq!(page.iter().map(|d| d.log).collect::<Vec<_>>(), [Log::Rounds, Log::Rows, Log::Rounds]);
    }

    #[test]
    fn the_logs_successes_walk_the_webhooks_round_pages_and_the_events_rowids_never_a_table_or_a_sort() {
        for sql in [log_round_page_sql(), log_round_count_sql()] {
            let details = super::super::query_plan(&sql);
            assert!(
                !details
                    .iter()
                    .any(|d| d.starts_with("SCAN events") || d.starts_with("SCAN e ") || d.starts_with("SCAN p")),
                "{details:?}"
            );
            assert!(details.iter().any(|d| d.contains("SEARCH p USING PRIMARY KEY (webhook_id=?")), "{details:?}");
            assert!(
                details.iter().any(|d| d.contains("SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
                "{details:?}"
            );
        }
        let details = super::super::query_plan(&log_round_page_sql());
        assert!(!details.iter().any(|d| d.contains("TEMP B-TREE")), "{details:?}");
    }

    #[test]
    fn an_upgraded_object_counts_rounds_from_its_next_event_and_pages_the_rounds_written_after() {
        use crate::org::schema::{sqlite_at, upgrade, VERSIONS};
        let db = sqlite_at(VERSIONS, 22);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        let event = |id: &str| {
            db.execute(
                "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at, delivery_stem, round) \
                 VALUES ('org_a', ?1, 'lead.created', '{}', 't', 1, 'aaaaaaaaaaaaaaaaaa', '[[\"00000001\",\"wh_a\"]]')",
                [id],
            )
            .unwrap();
        };
        for id in ["evt_1", "evt_2", "evt_3"] {
            event(id);
        }
        upgrade(&db, VERSIONS);
        let from: i64 = db.query_row("SELECT rounds_counted_to FROM organization", [], |r| r.get(0)).unwrap();
        assert_eq!(from, 4, "the events before hold no success: nothing to count");
        let pages = || -> i64 { db.query_row("SELECT COUNT(*) FROM webhook_round_pages", [], |r| r.get(0)).unwrap() };
        assert_eq!(pages(), 0);
        event("evt_4");
        assert_eq!(pages(), 1);
    }

    #[test]
    fn each_webhook_of_a_round_takes_one_page_entry_per_64_events() {
        let db = organization();
        let pages = |w: &str| -> Vec<i64> {
            let mut s = db.prepare("SELECT page FROM webhook_round_pages WHERE webhook_id = ?1 ORDER BY page").unwrap();
            let pages = s.query_map([w], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            pages
        };
        assert_eq!(pages("wh_a"), [0, 1, 2], "events 1 to 150");
        assert_eq!(pages("wh_b"), [0, 1, 2]);
        db.execute("DELETE FROM webhooks WHERE id = 'wh_b'", []).unwrap();
        assert!(pages("wh_b").is_empty(), "a deleted webhook's pages go with it");
    }
}
