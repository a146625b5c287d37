//! The `events` table, the fan-out insert (idempotent on the event id), and dead letters.

use std::rc::Rc;

use super::{is_caller_organization, Database, Executed, ListPage, PageAt, Statement};
use crate::store::sql::{not_missed, refused_sql, FilterStep};
use crate::store::Param;
use serde::Deserialize;

use core::ops::Range;

use super::deliveries::DeliveryRow;
use super::webhooks::WebhookRow;
use super::{
    batch, flag, int, opt_int, opt_text, placeholders, rows, rows_of, run, text, StoreError, IDS_PER_STATEMENT,
};
use crate::domain::catalogue;
use crate::domain::event::IncomingEvent;
use crate::domain::filter::EventView;
use crate::domain::ids::{DeliveryId, EventId, OrganizationId, WebhookId};
use crate::domain::limits::D1_MAX_PARAMETERS;
use crate::domain::model::DeliveryStatus;
use crate::domain::Invalid;

/// One delivery to create with its event.
pub struct NewDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub body: String,
}

/// An ingested event as stored: how many deliveries it made (what its ingest answers, and a repeat replays).
#[derive(Debug, Clone)]
pub struct IngestRecord {
    pub deliveries: i64,
}

/// An event to insert with its deliveries; `token` is random per ingest call.
pub struct EventInsert<'a> {
    pub id: &'a EventId,
    pub event: &'a IncomingEvent,
    pub token: String,
    pub deliveries: Vec<NewDelivery>,
}

/// A condition on the whole insert, checked inside the transaction that makes it true: this is how edgehook's
/// operational events share the fate of what they report.
pub enum Guard<'a> {
    /// The webhook was disabled at exactly `at` (the `edgehook.webhook.disabled` notice and its disable).
    Disabled { org: &'a OrganizationId, webhook_id: &'a WebhookId, at: i64 },
    /// The attempt numbered `attempts` of the delivery was recorded at `at` with `status` (the result held its
    /// fence: `edgehook.delivery.*` and `edgehook.webhook.recovered`).
    Recorded { delivery_id: &'a DeliveryId, attempts: i64, status: &'a str, at: i64 },
}

/// Events per multi-row insert: 2 shared parameters, 6 per event, up to 4 for the guard.
const EVENTS_PER_STATEMENT: usize = (D1_MAX_PARAMETERS - 6) / 6;

/// One multi-row statement per chunk of `items` under D1's parameter limit: `?1` the organization, `?2` the time,
/// then `width` parameters per item from `row`, as a `VALUES` list that `sql` places.
pub(crate) fn per_row_statements<T>(
    db: &Database,
    org: &OrganizationId,
    now: i64,
    items: &[T],
    width: usize,
    row: impl Fn(&T) -> Vec<Param>,
    sql: impl Fn(&str) -> String,
) -> Result<Vec<Statement>, StoreError> {
    per_row_statements_filtered(db, org, now, items, width, row, |rows, _| sql(rows), false)
}

/// [`per_row_statements`] whose statements also take the batch's payload-filter misses as their last parameter
/// (`sql` is given its number; see [`FilterStep::Bind`]) when `misses` is set.
#[allow(clippy::too_many_arguments)]
fn per_row_statements_filtered<T>(
    db: &Database,
    org: &OrganizationId,
    now: i64,
    items: &[T],
    width: usize,
    row: impl Fn(&T) -> Vec<Param>,
    sql: impl Fn(&str, usize) -> String,
    misses: bool,
) -> Result<Vec<Statement>, StoreError> {
    let mut statements = Vec::new();
    for chunk in items.chunks((D1_MAX_PARAMETERS - 3) / width) {
        let mut binds = vec![text(org), int(now)];
        let mut rows = Vec::with_capacity(chunk.len());
        for item in chunk {
            rows.push(format!("({})", placeholders(binds.len() + 1, width)));
            binds.extend(row(item));
        }
        let statement = if misses {
            binds.push(text(""));
            let at = binds.len();
            db.prepare(sql(&rows.join(", "), at)).bind(&binds)?.filtering(FilterStep::Bind(at))
        } else {
            db.prepare(sql(&rows.join(", "), 0)).bind(&binds)?
        };
        statements.push(statement);
    }
    Ok(statements)
}

/// The statements that insert events and their deliveries, to run in one transaction, and the indices of the last
/// ones: reads of every event's stored (id, token, delivery count) after the inserts. The unique (organization, id)
/// key is the idempotency guard: an event that exists is not inserted again, and a delivery goes in only if its
/// ingest's random token is the one stored, so neither a repeat nor a concurrent duplicate adds a second set.
pub fn fanout_statements(
    db: &Database,
    org: &OrganizationId,
    now: i64,
    inserts: &[EventInsert<'_>],
    guard: Option<&Guard<'_>>,
) -> Result<(Vec<Statement>, Range<usize>), StoreError> {
    let mut statements = Vec::new();
    for chunk in inserts.chunks(EVENTS_PER_STATEMENT) {
        let mut binds = vec![text(org), int(now)];
        let mut rows = Vec::with_capacity(chunk.len());
        for insert in chunk {
            let e = insert.event;
            rows.push(format!("({})", placeholders(binds.len() + 1, 6)));
            binds.extend([
                text(insert.id),
                text(&e.event_type),
                text(&e.data),
                opt_text(e.changes.as_deref()),
                int(insert.deliveries.len() as i64),
                text(&insert.token),
            ]);
        }
        let n = binds.len();
        let condition = match guard {
            None => "1".to_string(),
            Some(Guard::Disabled { org, webhook_id, at }) => {
                binds.extend([text(org), text(webhook_id), int(*at)]);
                format!(
                    "EXISTS (SELECT 1 FROM webhooks WHERE organization_id = ?{} AND id = ?{} AND is_active = 0 AND disabled_at = ?{})",
                    n + 1,
                    n + 2,
                    n + 3
                )
            }
            Some(Guard::Recorded { delivery_id, attempts, status, at }) => {
                binds.extend([
                    text(delivery_id),
                    int(*attempts),
                    text(status),
                    int(*at),
                    opt_int(RoundRef::position_of(delivery_id)),
                ]);
                let p = |k: usize| format!("?{}", n + k);
                super::shows_result(&p(1), &p(2), &p(3), &p(5), Some(&p(4)))
            }
        };
        // INSERT … SELECT needs its WHERE for SQLite to parse the ON CONFLICT clause after it.
        let sql = format!(
            "INSERT INTO events (organization_id, id, type, data, changes, delivery_count, ingest_token, created_at) \
             SELECT ?1, column1, column2, column3, column4, column5, column6, ?2 FROM (VALUES {}) WHERE {condition} \
             ON CONFLICT (organization_id, id) DO NOTHING",
            rows.join(", ")
        );
        statements.push(db.prepare(sql).bind(&binds)?);
    }
    let deliveries: Vec<(&EventInsert<'_>, &NewDelivery)> =
        inserts.iter().flat_map(|i| i.deliveries.iter().map(move |d| (i, d))).collect();
    statements.extend(per_row_statements(
        db,
        org,
        now,
        &deliveries,
        6,
        |(insert, d)| {
            vec![
                text(&d.id),
                text(&d.webhook_id),
                text(insert.id),
                text(&insert.event.event_type),
                text(&d.body),
                text(&insert.token),
            ]
        },
        |rows| {
            format!(
                "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
                 next_attempt_at, created_at, updated_at) \
                 SELECT v.column1, ?1, v.column2, v.column3, v.column4, v.column5, 'pending', 0, ?2, ?2, ?2 \
                 FROM (VALUES {rows}) AS v \
                 WHERE EXISTS (SELECT 1 FROM events e WHERE e.organization_id = ?1 AND e.id = v.column3 AND e.ingest_token = v.column6)"
            )
        },
    )?);
    let read_back = read_back_statements(db, org, inserts.iter().map(|i| i.id), &mut statements)?;
    Ok((statements, read_back))
}

/// An event whose subscribers D1 finds in the same transaction that inserts it (API and queue ingest): its
/// deliveries' bodies are `head` + delivery id + `tail` ([`crate::domain::payload::split`]), and their ids are
/// `dlv_` + the event's stem + the webhook's rowid in hex, so one statement names and builds them without reading the
/// webhooks first. The stem is the event's `rowid` ([`STEM_OF_POSITION`]) and `stem_tail`, 12 random hex characters
/// per ingest: hex is a subset of the ids' base32 alphabet, and the webhook's rowid tells the event's deliveries
/// apart.
pub struct IngestInsert<'a> {
    pub id: &'a EventId,
    pub event: &'a IncomingEvent,
    pub token: String,
    pub stem_tail: String,
    /// The event's payload and its deliveries' body up to their id, made once and shared by every statement that
    /// binds them.
    pub data: Rc<str>,
    pub head: Rc<str>,
    pub tail: String,
}

/// The SQL condition "subscription pattern `p` selects the event type `t`", where `r` is the type's resource
/// (everything before its last dot) and `op` is 1 for edgehook's own (`edgehook.*`) types: the SQL twin of
/// [`crate::domain::catalogue::pattern_matches`], unit-tested against it over the whole catalogue.
pub fn pattern_matches_sql(p: &str, t: &str, r: &str, op: &str) -> String {
    format!(
        "({p} = {t} OR {p} = {r} || '.*' OR ({op} = 0 AND {p} = '*') \
         OR ({op} = 1 AND ({p} = 'edgehook.*' OR ({p} = 'webhook.disabled' AND {t} = 'edgehook.webhook.disabled'))))"
    )
}

/// Active webhooks of organization `?1` (alias `w`) that subscribe to the type in columns `t`, `r`, `op`: a join on
/// their patterns' rows (`webhook_events`, schema v8).
/// Only webhooks that are sent to (any destination but `poll`): a polling webhook's events are rows of
/// `poll_messages` ([`poll_messages_sql`]), not deliveries.
fn subscribers_sql(t: &str, r: &str, op: &str) -> String {
    format!("{} AND w.destination != 'poll'", subscribers_through_sql("", t, r, op))
}

/// Records, for each polling webhook (`destination = 'poll'`) that subscribes to an event of `rows` of (id, type,
/// resource, operational, data, changes, token) and whose filter does not miss it, the event as its next message,
/// if this ingest inserted the event (its token is stored). Reads nothing when the organization has no polling
/// webhook (`webhooks_polling` is empty).
fn poll_messages_sql(rows: &str, misses: usize) -> String {
    format!(
        "INSERT INTO poll_messages (organization_id, webhook_id, event_id, created_at) \
         SELECT ?1, w.id, v.column1, ?2 FROM (VALUES {rows}) AS v, {} AND w.destination = 'poll' \
         AND EXISTS (SELECT 1 FROM events e WHERE {} AND e.id = v.column1 AND e.ingest_token = v.column7) AND {}",
        subscribers_through_sql("webhooks_polling", "v.column2", "v.column3", "v.column4"),
        is_caller_organization("e.organization_id"),
        not_missed(misses, "v.column1", "w.id"),
    )
}

/// [`subscribers_sql`] reading the webhooks through `index` (`""`: the one SQLite chooses).
fn subscribers_through_sql(index: &str, t: &str, r: &str, op: &str) -> String {
    let indexed_by = if index.is_empty() { String::new() } else { format!(" INDEXED BY {index}") };
    format!(
        "webhooks w{indexed_by} WHERE {} AND w.is_active = 1 \
         AND EXISTS (SELECT 1 FROM webhook_events p WHERE p.webhook_id = w.id AND {})",
        is_caller_organization("w.organization_id"),
        pattern_matches_sql("p.pattern", t, r, op)
    )
}

/// The subscribers of events `rows` of (id, type, resource, operational, data, changes, token) whose webhook has a
/// payload filter, with what the filter is evaluated on ([`FilterStep::Evaluate`]). Reads nothing when no webhook
/// of the organization has one (`webhooks_filtered` is empty).
fn filter_candidates_sql(rows: &str) -> String {
    let subscribers = subscribers_through_sql("webhooks_filtered", "v.column2", "v.column3", "v.column4");
    format!(
        "SELECT v.column1 AS event_id, w.id AS webhook_id, w.filter AS filter, v.column2 AS type, v.column5 AS data, \
         v.column6 AS changes FROM (VALUES {rows}) AS v, {subscribers} AND w.filter IS NOT NULL"
    )
}

/// Inserts events from `rows` of (id, type, resource, operational, data, changes, token, delivery id stem, lease of
/// its round or NULL, the most one round lists), with `?1` the organization and `?2` the time, each counting its
/// subscribers (less its filter misses, `?misses`); returns the stored record of each event it inserted (an event
/// that exists is not inserted and not returned). When the event has no more deliveries than `v.column10`, its row
/// lists those of its subscribers that are not `fifo` (`round`, schema v22) with the lease (`v.column9`: the ingest
/// sends them itself; NULL: a consumer claims the round from its queue message), and returns the list and where the
/// row is (`position`). Those deliveries get no row until their first attempt is recorded (the delivery inserts
/// leave them out). The insert numbers its rows itself (the next `rowid`s, as SQLite would) so that the stem of the
/// event's delivery ids begins with its `rowid` ([`STEM_OF_POSITION`] + the ingest's random `v.column8`): a delivery's
/// id finds its event by the primary key, with or without a row of its own.
///
/// The subscribers are walked once per event, for their count and its round together (`v.subscribers`: a JSON
/// array of both), in the numbering subquery, which SQLite does not flatten (it has a window function), so it computes
/// them once. Two walks, one for each, took a third of the statement's time on SQLite (replayed: 32 µs → 24 µs).
fn ingest_events_sql(rows: &str, misses: usize) -> String {
    let subscribers = format!(
        "(SELECT json_array(COUNT(*), json(CASE WHEN COUNT(*) <= r.column10 \
           THEN NULLIF(json_group_array(json_array({WEBHOOK_NUMBER}, w.id)) FILTER (WHERE w.ordering != 'fifo'), '[]') \
           END)) FROM {} AND {})",
        subscribers_sql("r.column2", "r.column3", "r.column4"),
        not_missed(misses, "r.column1", "w.id"),
    );
    format!(
        "INSERT INTO events (rowid, organization_id, id, type, data, changes, delivery_count, ingest_token, \
           created_at, delivery_stem, round, round_lease) \
         SELECT v.position, ?1, v.column1, v.column2, v.column5, v.column6, v.subscribers ->> 0, v.column7, ?2, \
           {STEM_OF_POSITION} || v.column8, v.subscribers ->> 1, v.column9 \
         FROM (SELECT (SELECT COALESCE(MAX(rowid), 0) FROM events) + row_number() OVER () AS position, r.*, \
           {subscribers} AS subscribers FROM (VALUES {rows}) AS r) AS v WHERE {} \
         ON CONFLICT (organization_id, id) DO NOTHING \
         RETURNING id, ingest_token, delivery_count, round, rowid AS position, delivery_stem AS stem",
        not_missed(misses, "v.column1", &refused_sql()),
    )
}

/// The events of `rows` of (id, type, resource, operational, data, changes, token, is_default) that the
/// organization's catalogue may refuse ([`FilterStep::Validate`]): a type that is neither a default one nor defined
/// by the organization, or one with a schema that a subscribed active webhook asked to be checked
/// (`validate_schema`). An event already stored is not judged again (its repeat is a duplicate). Reads nothing
/// for default types when the organization defined no type and no webhook checks schemas.
fn validation_candidates_sql(rows: &str) -> String {
    let validating = subscribers_through_sql("webhooks_validating", "v.column2", "v.column3", "v.column4");
    format!(
        "SELECT v.column1 AS event_id, v.column2 AS type, v.column5 AS data, v.column8 AS is_default, \
         t.name IS NOT NULL AS defined, t.schema AS schema \
         FROM (VALUES {rows}) AS v LEFT JOIN event_types t ON {} AND t.name = v.column2 \
         WHERE ((v.column8 = 0 AND t.name IS NULL) \
         OR (t.schema IS NOT NULL AND EXISTS (SELECT 1 FROM {validating} AND w.validate_schema = 1))) \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE {} AND e.id = v.column1)",
        is_caller_organization("t.organization_id"),
        is_caller_organization("e.organization_id"),
    )
}

/// Inserts one delivery per subscriber of each event of `rows` of (event id, type, resource, operational, head, tail,
/// token) whose stored token is this ingest's (its row `s`), but those its event's round lists
/// ([`ingest_events_sql`]), returning the deliveries' ids. They go to a consumer through the queue, with no
/// `next_attempt_at` (see [`IN_FLIGHT_NEXT_ATTEMPT`]).
fn ingest_deliveries_sql(rows: &str, misses: usize) -> String {
    deliveries_insert_sql(rows, misses, NOT_IN_ROUND, "0", "NULL", IN_FLIGHT_NEXT_ATTEMPT, "id")
}

/// The condition "subscriber `w` of event `s` is not in the event's round": a `fifo` webhook never is. Its first
/// term reads only `s`, so SQLite tests it before it walks the subscribers: a round lists every subscriber but the
/// `fifo` ones (its length is then `delivery_count`), so an event whose round lists them all, the usual case, needs
/// no row. With 20 subscribers SQLite runs 91 steps for it instead of 340 (a test checks the difference).
const NOT_IN_ROUND: &str =
    "(s.round IS NULL OR json_array_length(s.round) < s.delivery_count) AND (w.ordering = 'fifo' OR s.round IS NULL)";

/// How the stem of an event's delivery ids begins (schema v23): its `rowid` (`v.position` in [`ingest_events_sql`]) in
/// 12 lowercase hex digits. [`RoundRef::position_of`] reads it back.
const STEM_OF_POSITION: &str = "printf('%012x', v.position)";

/// What follows its event's stem in the id of a delivery an ingest names: its webhook's number (`w.rowid`), in
/// lowercase hex.
const WEBHOOK_NUMBER: &str = "printf('%08x', w.rowid)";

/// The `next_attempt_at` of a delivery an ingest writes: none, whether the ingest sends it itself (claimed as it
/// goes in) or a consumer does (its queue message). It takes no entry in the index of pending deliveries (schema
/// v16) unless it needs a retry, and the alarm looks after it through `in_flight_from`
/// ([`super::deliveries::find_lost_sends`]). A `fifo` webhook's line reads that index, so its deliveries always
/// have one.
const IN_FLIGHT_NEXT_ATTEMPT: &str = "CASE WHEN w.ordering != 'fifo' THEN NULL ELSE ?2 END";

/// [`ingest_deliveries_sql`] for an ingest that sends its deliveries itself: the deliveries its event's round lists
/// ([`ingest_events_sql`]) get no row here, and of the others each is claimed as it goes in (attempt 1, leased
/// until `v.column8`) when its event has at most `v.column9` deliveries (one round of sends) and, for a `fifo` webhook,
/// none is pending before it (a new event is the last in every line). Returns what the ingest does not know of each
/// row (its id, webhook and claim): it wrote the rest. Claiming in the insert writes each row once; a separate claim
/// rewrote every row just inserted.
fn ingest_claimed_deliveries_sql(rows: &str, misses: usize) -> String {
    let claim = "(s.delivery_count <= v.column9 \
        AND (w.ordering != 'fifo' OR NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.webhook_id = w.id \
        AND o.status = 'pending' AND o.next_attempt_at IS NOT NULL AND o.is_test = 0)))";
    deliveries_insert_sql(
        rows,
        misses,
        NOT_IN_ROUND,
        &format!("CASE WHEN {claim} THEN 1 ELSE 0 END"),
        &format!("CASE WHEN {claim} THEN v.column8 END"),
        IN_FLIGHT_NEXT_ATTEMPT,
        "id, webhook_id, attempts, lease_until, next_attempt_at",
    )
}

/// The delivery insert of an ingest, for the subscribers `only` selects (an SQL condition on `w`, `v` and the event's
/// row `s`; each delivery's id is `dlv_` + the event's stem + [`WEBHOOK_NUMBER`]), with the
/// new rows' `attempts` and `lease_until` and what it returns; a subscriber whose filter missed the event
/// (`?misses`) gets none.
fn deliveries_insert_sql(
    rows: &str,
    misses: usize,
    only: &str,
    attempts: &str,
    lease_until: &str,
    next_attempt_at: &str,
    returning: &str,
) -> String {
    let id = format!("'dlv_' || s.delivery_stem || {WEBHOOK_NUMBER}");
    format!(
        "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
         next_attempt_at, lease_until, created_at, updated_at, stemmed) \
         SELECT {id}, ?1, w.id, v.column1, v.column2, v.column5 || {id} || v.column6, 'pending', {attempts}, \
         {next_attempt_at}, {lease_until}, ?2, ?2, 1 \
         FROM (VALUES {rows}) AS v JOIN events s ON {} AND s.id = v.column1 AND s.ingest_token = v.column7, {} \
         AND {} AND {only} RETURNING {returning}",
        is_caller_organization("s.organization_id"),
        subscribers_sql("v.column2", "v.column3", "v.column4"),
        not_missed(misses, "v.column1", "w.id"),
    )
}

/// One ingest transaction's statements, with the index ranges of the event inserts and of the delivery inserts.
pub struct IngestStatements {
    pub statements: Vec<Statement>,
    /// The catalogue's checks ([`FilterStep::Validate`]): their rows are the refusals.
    pub validations: Range<usize>,
    pub events: Range<usize>,
    pub deliveries: Range<usize>,
    /// With a claim: the webhooks of its deliveries.
    pub webhooks: Range<usize>,
}

/// The statements of one ingest transaction: insert the events (counting their subscribers, `RETURNING` the record
/// of each new one) and one delivery per subscriber of each new event (`RETURNING` its id), but those of its round.
/// The same idempotency guard as [`fanout_statements`]: a delivery goes in only if its event's stored token is this
/// ingest's. A duplicate is not returned; [`ingest_many`] reads its stored record after the transaction, which a new
/// event (the usual case) does not need. With `claim`, an event's round is sent from the ingest; without, a consumer
/// claims it from its queue message, and a round lists at most `queued_most` deliveries (0: none).
pub fn ingest_statements(
    db: &Database,
    org: &OrganizationId,
    now: i64,
    inserts: &[IngestInsert<'_>],
    claim: Option<&ClaimCreated>,
    queued_most: usize,
) -> Result<IngestStatements, StoreError> {
    let columns = |insert: &IngestInsert<'_>| {
        let t = &insert.event.event_type;
        (text(insert.id), text(t), text(catalogue::resource_of(t)), int(i64::from(catalogue::is_operational(t))))
    };
    let event_row = |insert: &IngestInsert<'_>| {
        let (id, t, r, op) = columns(insert);
        let e = insert.event;
        vec![id, t, r, op, Param::Text(Rc::clone(&insert.data)), opt_text(e.changes.as_deref()), text(&insert.token)]
    };
    let delivery_row = |insert: &IngestInsert<'_>| {
        let (id, t, r, op) = columns(insert);
        vec![id, t, r, op, Param::Text(Rc::clone(&insert.head)), text(&insert.tail), text(&insert.token)]
    };
    // The catalogue first: a refused event is not inserted. Then payload filters: the (event, subscriber) pairs
    // whose filter misses are left out of the count and of the deliveries.
    let validation_row = |insert: &IngestInsert<'_>| {
        let mut row = event_row(insert);
        row.push(flag(catalogue::default_type(&insert.event.event_type).is_some()));
        row
    };
    let mut statements: Vec<Statement> =
        per_row_statements(db, org, now, inserts, 8, validation_row, validation_candidates_sql)?
            .into_iter()
            .map(|s| s.filtering(FilterStep::Validate))
            .collect();
    let validations = 0..statements.len();
    statements.extend(
        per_row_statements(db, org, now, inserts, 7, event_row, filter_candidates_sql)?
            .into_iter()
            .map(|s| s.filtering(FilterStep::Evaluate)),
    );
    let first_event = statements.len();
    let stored_row = |insert: &IngestInsert<'_>| {
        let mut row = event_row(insert);
        row.push(text(&insert.stem_tail));
        row
    };
    // Each row also carries the lease of its round (none: a consumer claims it) and the most it lists
    // (`v.column9`, `v.column10`).
    let round = |mut row: Vec<Param>| {
        match claim {
            Some(c) => row.extend([int(c.lease_until), int(c.most as i64)]),
            None => row.extend([Param::Null, int(queued_most as i64)]),
        }
        row
    };
    let deliveries_sql: fn(&str, usize) -> String = match claim {
        Some(_) => ingest_claimed_deliveries_sql,
        None => ingest_deliveries_sql,
    };
    let stored = |insert: &IngestInsert<'_>| round(stored_row(insert));
    statements.extend(per_row_statements_filtered(db, org, now, inserts, 10, stored, ingest_events_sql, true)?);
    let first_delivery = statements.len();
    let delivery = |insert: &IngestInsert<'_>| round(delivery_row(insert));
    statements.extend(per_row_statements_filtered(db, org, now, inserts, 9, delivery, deliveries_sql, true)?);
    let deliveries = first_delivery..statements.len();
    statements.extend(per_row_statements_filtered(db, org, now, inserts, 7, event_row, poll_messages_sql, true)?);
    let first_webhook = statements.len();
    if claim.is_some() {
        statements.extend(per_row_statements_filtered(
            db,
            org,
            now,
            inserts,
            7,
            event_row,
            subscribers_read_sql,
            true,
        )?);
    }
    let webhooks = first_webhook..statements.len();
    Ok(IngestStatements { statements, validations, events: first_event..first_delivery, deliveries, webhooks })
}

/// The webhooks that the deliveries of events `rows` of (id, type, resource, operational, data, changes, token) go
/// to: their subscribers, less those whose filter missed (`?misses`), as the delivery inserts and the round choose
/// them.
fn subscribers_read_sql(rows: &str, misses: usize) -> String {
    let columns: Vec<String> = super::webhooks::COLUMNS.split(',').map(|c| format!("w.{}", c.trim())).collect();
    format!(
        "SELECT {} FROM (VALUES {rows}) AS v, {} AND {}",
        columns.join(", "),
        subscribers_sql("v.column2", "v.column3", "v.column4"),
        not_missed(misses, "v.column1", "w.id"),
    )
}

/// Appends reads of every event's stored (id, ingest token, delivery count); returns their index range.
fn read_back_statements<'a>(
    db: &Database,
    org: &OrganizationId,
    ids: impl Iterator<Item = &'a EventId>,
    statements: &mut Vec<Statement>,
) -> Result<Range<usize>, StoreError> {
    let mut ids: Vec<&EventId> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let first_read = statements.len();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let mut binds = vec![text(org)];
        binds.extend(chunk.iter().map(text));
        statements.push(
            db.prepare(format!(
                "SELECT id, ingest_token, delivery_count FROM events WHERE organization_id = ?1 AND id IN ({})",
                placeholders(2, chunk.len())
            ))
            .bind(&binds)?,
        );
    }
    Ok(first_read..statements.len())
}

#[derive(Deserialize)]
struct InsertedDelivery {
    id: DeliveryId,
}

/// What a claiming delivery insert returns of each row; the ingest wrote the rest.
#[derive(Deserialize)]
struct ClaimedInsert {
    id: DeliveryId,
    webhook_id: WebhookId,
    attempts: i64,
    lease_until: Option<i64>,
    /// None while its first attempt is under way from the ingest (schema v16).
    next_attempt_at: Option<i64>,
}

/// An ingest of one event that claims its deliveries in the same transaction (they go out from the ingest's own
/// invocation): until when, and at most how many (more are left to the queue, unclaimed).
pub struct ClaimCreated {
    pub lease_until: i64,
    pub most: usize,
}

/// What one ingest transaction did.
pub struct Ingest {
    /// Per insert, as [`outcomes`].
    pub outcomes: Vec<Option<Result<IngestRecord, IngestRecord>>>,
    /// The events the organization's catalogue refused (not stored), with why.
    pub refused: Vec<(EventId, Invalid)>,
    /// Every delivery it created.
    pub created: Vec<DeliveryId>,
    /// With a [`ClaimCreated`]: the deliveries it claimed, and their webhooks.
    pub claimed: Option<(Vec<DeliveryRow>, Vec<WebhookRow>)>,
    /// Without: the events' rounds, for their consumers to claim (not in `created`).
    pub queued: Vec<QueuedRound>,
}

/// An event's round (schema v22) as a queue message names it: the event's row (`position`) and the stem its
/// deliveries' ids begin with, which the claim checks the row against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundRef {
    pub position: i64,
    pub stem: String,
}

impl RoundRef {
    /// The `rowid` of the event whose deliveries' ids begin like `id`'s: an ingest's stem begins with it
    /// ([`STEM_OF_POSITION`], schema v23). None for an id another way named (random, or before v23).
    pub fn position_of(id: &DeliveryId) -> Option<i64> {
        let rest = id.as_str().strip_prefix(DeliveryId::PREFIX)?;
        // The stem (12 digits of position, 12 random) and the webhook's number (8).
        if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        i64::from_str_radix(&rest[..12], 16).ok()
    }

    /// Whether delivery `id` is one of this round's (its id begins with the stem).
    pub fn holds(&self, id: &DeliveryId) -> bool {
        id.as_str().strip_prefix(DeliveryId::PREFIX).is_some_and(|rest| rest.starts_with(&self.stem))
    }
}

/// The round of an event a batch ingest stored (schema v22): its deliveries have no row; the consumer of their queue
/// message claims them together by the event's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRound {
    pub event: RoundRef,
    pub deliveries: Vec<DeliveryId>,
}

/// Runs one ingest transaction; `claim` applies to an ingest of one event only. Without it, an event's round lists
/// at most `queued_most` deliveries ([`ingest_statements`]).
pub async fn ingest_many(
    db: &Database,
    org: &OrganizationId,
    now: i64,
    inserts: &[IngestInsert<'_>],
    claim: Option<&ClaimCreated>,
    queued_most: usize,
) -> Result<Ingest, StoreError> {
    if inserts.is_empty() {
        return Ok(Ingest {
            outcomes: Vec::new(),
            refused: Vec::new(),
            created: Vec::new(),
            claimed: None,
            queued: Vec::new(),
        });
    }
    // The claim applies to an ingest of one event only.
    let claim = match (claim, inserts) {
        (Some(c), [one]) => Some((c, one)),
        _ => None,
    };
    let IngestStatements { statements, validations, events, deliveries, webhooks } =
        ingest_statements(db, org, now, inserts, claim.map(|(c, _)| c), queued_most)?;
    let results = batch(db, statements).await?;
    let mut created = Vec::new();
    let mut claimed_rows = Vec::new();
    for at in deliveries {
        match &claim {
            Some((_, one)) => {
                for row in rows_of::<ClaimedInsert>(&results, at)? {
                    created.push(row.id.clone());
                    if row.lease_until.is_some() {
                        claimed_rows.push(claimed_row(org, one, now, row));
                    }
                }
            }
            None => created.extend(rows_of::<InsertedDelivery>(&results, at)?.into_iter().map(|d| d.id)),
        }
    }
    let mut refused = Vec::new();
    for at in validations {
        refused.extend(rows_of::<RefusalRow>(&results, at)?.into_iter().map(RefusalRow::into_pair));
    }
    let mut stored = stored_events(&results, events)?;
    // The deliveries of the event's round (schema v22): sent from here, their rows written when they are recorded.
    if let Some((c, one)) = &claim {
        let ours = stored.iter().find(|s| s.id == *one.id && s.ingest_token == one.token);
        let (round, stem) = (ours.and_then(|s| s.round.as_deref()), ours.and_then(|s| s.stem.as_deref()));
        let ingest_round: Option<std::rc::Rc<str>> = round.map(Into::into);
        for (id, webhook_id) in round_deliveries(stem.unwrap_or_default(), round)? {
            created.push(id.clone());
            let listed =
                ClaimedInsert { id, webhook_id, attempts: 1, lease_until: Some(c.lease_until), next_attempt_at: None };
            let ingest_round = ingest_round.clone();
            claimed_rows.push(DeliveryRow { unwritten: true, ingest_round, ..claimed_row(org, one, now, listed) });
        }
    }
    // Without a claim, the rounds go to the queue, each in one message.
    let mut queued = Vec::new();
    if claim.is_none() {
        for s in &stored {
            let (Some(round), Some(position), Some(stem)) = (s.round.as_deref(), s.position, s.stem.as_deref()) else {
                continue;
            };
            let deliveries = round_deliveries(stem, Some(round))?.into_iter().map(|(id, _)| id).collect();
            queued.push(QueuedRound { event: RoundRef { position, stem: stem.to_string() }, deliveries });
        }
    }
    // Duplicates (not inserted, so not returned): their stored records, read after the transaction.
    let missing: Vec<&EventId> = inserts
        .iter()
        .map(|i| i.id)
        .filter(|id| !stored.iter().any(|s| s.id == **id) && !refused.iter().any(|(r, _)| r == *id))
        .collect();
    if !missing.is_empty() {
        let mut reads = Vec::new();
        let read_back = read_back_statements(db, org, missing.into_iter(), &mut reads)?;
        stored.extend(stored_events(&batch(db, reads).await?, read_back)?);
    }
    let outcomes = decide_stored(&stored, inserts.iter().map(|i| (i.id, i.token.as_str())));
    let claimed = match claim {
        Some(_) => {
            let mut hooks = Vec::new();
            for at in webhooks {
                hooks.extend(rows_of::<WebhookRow>(&results, at)?);
            }
            Some((claimed_rows, hooks))
        }
        None => None,
    };
    Ok(Ingest { outcomes, refused, created, claimed, queued })
}

/// A refusal as the object answers it ([`FilterStep::Validate`]).
#[derive(Deserialize)]
struct RefusalRow {
    event_id: EventId,
    code: String,
    message: String,
    field: Option<String>,
}

impl RefusalRow {
    fn into_pair(self) -> (EventId, Invalid) {
        let code = match self.code.as_str() {
            "schema_mismatch" => "schema_mismatch",
            _ => "validation_error",
        };
        (self.event_id, Invalid { code, message: self.message, field: self.field })
    }
}

#[derive(Deserialize)]
struct StoredEvent {
    id: EventId,
    ingest_token: String,
    delivery_count: i64,
    /// What an insert that wrote a round returns of it, and where its row is ([`ingest_events_sql`]).
    #[serde(default)]
    round: Option<String>,
    #[serde(default)]
    position: Option<i64>,
    /// The stem of its deliveries' ids, which begins with its position ([`STEM_OF_POSITION`]).
    #[serde(default)]
    stem: Option<String>,
}

/// The deliveries an event's round lists (`events.round`, schema v22) whose entries hold no attempt (their first
/// attempt is under way, or their row holds it), each with its webhook.
pub(crate) fn round_deliveries(stem: &str, round: Option<&str>) -> Result<Vec<(DeliveryId, WebhookId)>, StoreError> {
    Ok(round_entries(stem, round)?.into_iter().filter(|e| e.attempt.is_none()).map(|e| (e.id, e.webhook_id)).collect())
}

/// One delivery an event's round lists: `[number, webhook]`, and its first attempt when it succeeded and the record
/// wrote it there instead of a row (schema v23).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RoundEntry {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub attempt: Option<super::deliveries::AttemptRow>,
}

/// Every delivery an event's round lists: the round holds each one's webhook number, which follows the event's
/// `stem` in its id.
pub(crate) fn round_entries(stem: &str, round: Option<&str>) -> Result<Vec<RoundEntry>, StoreError> {
    let Some(text) = round else { return Ok(Vec::new()) };
    let unreadable = |e: serde_json::Error| StoreError(format!("an event's round is not readable: {e}"));
    let listed: Vec<Vec<serde_json::Value>> = serde_json::from_str(text).map_err(unreadable)?;
    let mut entries = Vec::with_capacity(listed.len());
    for entry in listed {
        let mut parts = entry.into_iter();
        let (Some(serde_json::Value::String(number)), Some(webhook)) = (parts.next(), parts.next()) else {
            return Err(StoreError(format!("an event's round is not readable: {text}")));
        };
        let webhook_id: WebhookId = serde_json::from_value(webhook).map_err(unreadable)?;
        let attempt = parts.next().map(serde_json::from_value).transpose().map_err(unreadable)?;
        let id = format!("{}{stem}{number}", DeliveryId::PREFIX);
        let id = DeliveryId::parse(&id).ok_or_else(|| StoreError(format!("a round names {id}, not a delivery id")))?;
        entries.push(RoundEntry { id, webhook_id, attempt });
    }
    Ok(entries)
}

/// What the fan-out transaction did with each insert, in order: `Ok` with the stored record if this call inserted it,
/// `Err` with the existing event's record if it is a duplicate, or `None` if it is absent (its guard did not hold).
pub fn outcomes(
    results: &[Executed],
    read_back: Range<usize>,
    inserts: &[EventInsert<'_>],
) -> Result<Vec<Option<Result<IngestRecord, IngestRecord>>>, StoreError> {
    decide(results, read_back, inserts.iter().map(|i| (i.id, i.token.as_str())))
}

/// [`outcomes`] for (event id, ingest token) pairs.
fn decide<'a>(
    results: &[Executed],
    read_back: Range<usize>,
    inserts: impl Iterator<Item = (&'a EventId, &'a str)>,
) -> Result<Vec<Option<Result<IngestRecord, IngestRecord>>>, StoreError> {
    Ok(decide_stored(&stored_events(results, read_back)?, inserts))
}

/// The events' stored (id, token, delivery count) that the statements at `at` of a batch answered.
fn stored_events(results: &[Executed], at: Range<usize>) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stored = Vec::new();
    for i in at {
        stored.extend(rows_of::<StoredEvent>(results, i)?);
    }
    Ok(stored)
}

/// [`decide`] from the events' stored (id, token, delivery count).
fn decide_stored<'a>(
    stored: &[StoredEvent],
    inserts: impl Iterator<Item = (&'a EventId, &'a str)>,
) -> Vec<Option<Result<IngestRecord, IngestRecord>>> {
    let inserts: Vec<(&EventId, &str)> = inserts.collect();
    inserts
        .iter()
        .enumerate()
        .map(|(n, (id, token))| {
            let row = stored.iter().find(|s| s.id == **id)?;
            // Within one call the first insert of an id wins; a later one of the same id is its duplicate.
            let first_of_id = inserts.iter().position(|(other, _)| other == id) == Some(n);
            let record = IngestRecord { deliveries: row.delivery_count };
            Some(if row.ingest_token == *token && first_of_id { Ok(record) } else { Err(record) })
        })
        .collect()
}

/// A delivery an ingest of `one` event inserted and claimed, as stored: the insert wrote it from the ingest's own
/// values, and returned only its id, webhook and claim.
fn claimed_row(org: &OrganizationId, one: &IngestInsert<'_>, now: i64, row: ClaimedInsert) -> DeliveryRow {
    DeliveryRow {
        body: format!("{}{}{}", one.head, row.id.as_str(), one.tail),
        id: row.id,
        organization_id: org.clone(),
        webhook_id: row.webhook_id,
        event_id: one.id.clone(),
        event_type: one.event.event_type.clone(),
        status: DeliveryStatus::Pending,
        attempts: row.attempts,
        chain_start: 0,
        last_status_code: None,
        last_error: None,
        next_attempt_at: row.next_attempt_at,
        lease_until: row.lease_until,
        is_test: false,
        created_at: now,
        updated_at: now,
        lost_attempts: 0,
        unwritten: false,
        ingest_round: None,
    }
}

/// Keeps a message that could not be ingested, with its reason.
pub async fn record_dead_letter(
    db: &Database,
    queue: &str,
    message_id: &str,
    body: &str,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    run(db
        .prepare(
            "INSERT INTO dead_letters (queue, message_id, body, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(&[text(queue), text(message_id), text(body), text(reason), int(now)])?)
    .await?;
    Ok(())
}

/// Filters of the events list.
pub struct EventQuery<'a> {
    pub org: &'a OrganizationId,
    pub event_type: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub page: PageAt,
}

/// One event in the list, with how its deliveries stand.
#[derive(Debug, Deserialize)]
pub struct EventSummary {
    /// Where it was stored (`rowid`): a page's iterator names its last event's.
    pub position: i64,
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: i64,
    pub deliveries: i64,
    pub succeeded: Option<i64>,
    pub failed: Option<i64>,
    pub pending: Option<i64>,
}

/// A page of the organization's events, newest first (in the order they were stored, their `rowid`s: schema v18,
/// bounded by the time marks for a window), with the outcome counts of their deliveries, and the total matching.
pub async fn list(db: &Database, q: &EventQuery<'_>) -> Result<ListPage<EventSummary>, StoreError> {
    let filter = [text(q.org), opt_text(q.event_type), opt_int(q.since), opt_int(q.until)];
    let typed = q.event_type.is_some();
    super::list_page(db, &filter, &list_page_sql(typed), &list_count_sql(typed), &q.page).await
}

/// The list's capped count (`?5`: the most rows it reads).
fn list_count_sql(typed: bool) -> String {
    let select = if typed {
        format!("SELECT 1 {}", of_type("", None))
    } else {
        format!("SELECT 1 FROM events WHERE {}", list_filter("events", true, None))
    };
    super::capped_count_sql(&select, "?5")
}

/// The events `e` of the list: organization `?1`, of type `?2`, created in `[?3, ?4)` (each may be NULL), stored
/// before `below` if given (an SQL expression). The bounds on `rowid` are the range the statement reads, unless
/// `window_read` is false (a list of one type reads its type's pages, and a page's `rowid`s: the bounds then only
/// filter, `+` keeps them out of the search).
fn list_filter(e: &str, window_read: bool, below: Option<&str>) -> String {
    let rowid_of = if window_read { e.to_string() } else { format!("+{e}") };
    let window = super::events_window_below(&rowid_of, "?3", "?4", below);
    format!(
        "{window} AND +{e}.organization_id = ?1 AND (?2 IS NULL OR {e}.type = ?2) \
         AND (?3 IS NULL OR {e}.created_at >= ?3) AND (?4 IS NULL OR {e}.created_at < ?4)"
    )
}

/// `FROM …` the events `e` of the list when it names their type `?2`: the type's pages (`event_type_pages`, schema
/// v21) from the window's first on (and up to `below`'s, if given), newest first, and in each the page's events,
/// newest first. `order_and_limit` ends it (`""`, or an `ORDER BY … LIMIT …`).
fn of_type(order_and_limit: &str, below: Option<&str>) -> String {
    let page = super::EVENT_TYPE_PAGE;
    let up_to = below.map(|below| format!("AND p.page <= {below} / {page}")).unwrap_or_default();
    format!(
        "FROM event_type_pages p JOIN events e ON e.rowid >= p.page * {page} AND e.rowid < (p.page + 1) * {page} \
         WHERE p.type = ?2 AND p.page >= {from} / {page} {up_to} AND {filter} {order_and_limit}",
        from = super::marked_rowid("next_event_rowid", &format!("?3 - {}", super::INGEST_CLOCK_SLACK_MS)),
        filter = list_filter("e", false, below),
    )
}

/// A page of the list (`?5` events from `?6` on, stored before `?7`), newest first, with their deliveries'
/// outcomes; `typed` when it names a type (read through the type's pages).
fn list_page_sql(typed: bool) -> String {
    let events = if typed {
        format!(
            "SELECT e.rowid AS n, e.organization_id, e.id, e.type, e.created_at, e.delivery_stem, e.round {}",
            of_type("ORDER BY p.page DESC, e.rowid DESC LIMIT +?5 OFFSET +?6", Some("?7"))
        )
    } else {
        format!(
            "SELECT rowid AS n, organization_id, id, type, created_at, delivery_stem, round FROM events WHERE {} \
             ORDER BY rowid DESC LIMIT +?5 OFFSET +?6",
            list_filter("events", true, Some("?7"))
        )
    };
    // A round still sending (schema v22) counts its deliveries without rows as pending, and its successes (schema
    // v23) as succeeded.
    let unwritten = super::round_unwritten("e.n", "e.delivery_stem", "e.round");
    let succeeded = super::round_succeeded("e.round");
    format!(
        "SELECT e.n AS position, e.id, e.type, e.created_at, COUNT(d.id) + {unwritten} + {succeeded} AS deliveries, \
           NULLIF(COALESCE(SUM(d.status = 'succeeded'), 0) + {succeeded}, 0) AS succeeded, \
           SUM(d.status = 'failed') AS failed, \
           COALESCE(SUM(d.status = 'pending'), 0) + {unwritten} AS pending \
         FROM ({events}) e \
         LEFT JOIN deliveries d ON d.rowid IN ({}) \
         GROUP BY e.n ORDER BY e.n DESC",
        super::deliveries_of_event("e.id", "e.delivery_stem")
    )
}

/// An event as stored: `data` and `changes` are the JSON text it was ingested with (the events API shows it; a
/// replay builds its deliveries' bodies from it).
#[derive(Debug, Deserialize)]
pub struct EventRow {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: String,
    pub changes: Option<String>,
    pub created_at: i64,
}

impl EventRow {
    /// The event as a payload filter looks at it.
    pub fn view(&self) -> EventView<'_> {
        EventView {
            id: self.id.as_str(),
            event_type: &self.event_type,
            data: &self.data,
            changes: self.changes.as_deref(),
        }
    }
}

/// The organization's last `limit` events, newest first, with their data (a filter's preview).
pub async fn recent(db: &Database, org: &OrganizationId, limit: u32) -> Result<Vec<EventRow>, StoreError> {
    rows(db.prepare(RECENT_SQL).bind(&[text(org), int(i64::from(limit))])?).await
}

/// The last `?2` events, newest first: the end of the table (its `rowid`s), not a sort of the organization's events.
const RECENT_SQL: &str =
    "SELECT id, type, data, changes, created_at FROM events WHERE +organization_id = ?1 ORDER BY rowid DESC LIMIT +?2";

/// One delivery an event produced.
#[derive(Debug, Deserialize)]
pub struct EventDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub webhook_name: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One of the organization's events and every delivery it produced (oldest first).
pub async fn get(
    db: &Database,
    org: &OrganizationId,
    id: &EventId,
) -> Result<Option<(EventRow, Vec<EventDelivery>)>, StoreError> {
    let binds = [text(org), text(id)];
    let results = batch(
        db,
        vec![
            db.prepare("SELECT id, type, data, changes, created_at FROM events WHERE organization_id = ?1 AND id = ?2")
                .bind(&binds)?,
            db.prepare(event_deliveries_sql()).bind(&binds)?,
        ],
    )
    .await?;
    let Some(event) = rows_of::<EventRow>(&results, 0)?.into_iter().next() else { return Ok(None) };
    Ok(Some((event, rows_of(&results, 1)?)))
}

/// The deliveries of event `?2` of organization `?1`, oldest first: its rows, and its round's deliveries that have
/// none yet (schema v22), pending.
fn event_deliveries_sql() -> String {
    format!(
        "SELECT d.id AS id, d.webhook_id AS webhook_id, w.name AS webhook_name, d.status AS status, \
           d.attempts AS attempts, d.last_status_code AS last_status_code, d.created_at AS created_at, \
           d.updated_at AS updated_at \
         FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.rowid IN ({}) AND d.organization_id = ?1 \
         UNION ALL {} ORDER BY created_at, id",
        super::deliveries_of_stored_event("?1", "?2"),
        super::unwritten_round_deliveries("e.organization_id = ?1 AND e.id = ?2")
    )
}

/// The ingest statements, run against SQLite with the project's migrations applied.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::{pattern_matches, EVENT_TYPES};
    use rusqlite::{params, Connection};

    /// Any id type from its text, as a row would give it.
    fn id_of<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_json::from_value(serde_json::Value::String(text.into())).unwrap()
    }

    fn webhook(db: &Connection, id: &str, org: &str, events: &str, active: bool) {
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, is_active, created_at, updated_at) \
             VALUES (?1, ?2, ?1, 'https://example.com', ?3, 's', ?4, 1, 1)",
            params![id, org, events, active],
        )
        .unwrap();
    }

    #[test]
    fn the_sql_pattern_match_is_the_catalogues() {
        let db = Connection::open_in_memory().unwrap();
        let sql = format!("SELECT {}", pattern_matches_sql("?1", "?2", "?3", "?4"));
        let mut patterns: Vec<String> =
            ["*", "edgehook.*", "webhook.disabled", "lead.*", "zoom.recording.*", "edgehook.webhook.*", "x.*", ".*"]
                .map(String::from)
                .to_vec();
        patterns.extend(EVENT_TYPES.iter().map(|t| t.name.to_string()));
        for t in EVENT_TYPES {
            let (r, op) = (catalogue::resource_of(t.name), i64::from(catalogue::is_operational(t.name)));
            for p in &patterns {
                let matched: bool = db.query_row(&sql, params![p, t.name, r, op], |row| row.get(0)).unwrap();
                assert_eq!(matched, pattern_matches(p, t.name), "pattern {p} type {}", t.name);
            }
        }
    }

    /// Runs the two ingest inserts for one event as one transaction; returns the created delivery ids.
    fn ingest(db: &Connection, event_id: &str, event_type: &str, token: &str, stem: &str) -> Vec<String> {
        let (r, op) = (catalogue::resource_of(event_type), i64::from(catalogue::is_operational(event_type)));
        insert_event(db, event_id, event_type, r, op, token, stem);
        let mut s = db.prepare(&ingest_deliveries_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9)", 10)).unwrap();
        let ids = s
            .query_map(params!["org_a", 1_000, event_id, event_type, r, op, "HEAD:", ":TAIL", token, ""], |row| {
                row.get::<_, String>(0)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        ids
    }

    /// The stem of a stored event's delivery ids: its position, then the ingest's random tail.
    fn stem_of(db: &Connection, event_id: &str) -> String {
        db.query_row("SELECT delivery_stem FROM events WHERE id = ?1", [event_id], |r| r.get(0)).unwrap()
    }

    /// Runs an ingest's event insert; answers what it returns: the stored (id, token, delivery count) of a new
    /// event, nothing for one that exists.
    fn insert_event(
        db: &Connection,
        event_id: &str,
        event_type: &str,
        r: &str,
        op: i64,
        token: &str,
        stem: &str,
    ) -> Option<(String, String, i64)> {
        let mut insert = db.prepare(&ingest_events_sql("(?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, NULL, 0)", 10)).unwrap();
        let mut returned: Vec<(String, String, i64)> = insert
            .query_map(params!["org_a", 1_000, event_id, event_type, r, op, r#"{"n":1}"#, token, stem, ""], |row| {
                Ok((row.get("id")?, row.get("ingest_token")?, row.get("delivery_count")?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(returned.len() <= 1);
        returned.pop()
    }

    /// A created delivery: id, attempts, lease.
    type Created = (String, i64, Option<i64>);

    /// What an ingest that sends its deliveries itself writes and reads for one event.
    #[derive(Debug, PartialEq)]
    struct Claiming {
        /// The deliveries it inserted: id, attempts, lease.
        inserted: Vec<Created>,
        /// The deliveries its event's round lists, without rows: id, webhook.
        round: Vec<(String, String)>,
        /// The webhooks the same transaction reads.
        hooks: Vec<String>,
    }

    /// Runs an ingest's statements for one event that it sends itself (lease 50 000, at most `most` in its round):
    /// the event insert with its round, the delivery insert, and the read of their webhooks.
    fn ingest_claiming(db: &Connection, event_id: &str, token: &str, stem: &str, most: i64) -> Claiming {
        let (r, op) = (catalogue::resource_of("lead.created"), 0);
        let mut insert = db.prepare(&ingest_events_sql("(?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?10, ?11)", 12)).unwrap();
        let binds =
            params!["org_a", 1_000, event_id, "lead.created", r, op, r#"{"n":1}"#, token, stem, 50_000, most, ""];
        let returned: Vec<(Option<String>, String)> = insert
            .query_map(binds, |row| Ok((row.get("round")?, row.get("stem")?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let (round, stem) = returned.first().map_or((None, ""), |(round, stem)| (round.as_deref(), stem.as_str()));
        let mut round: Vec<(String, String)> = round_deliveries(stem, round)
            .unwrap()
            .into_iter()
            .map(|(id, webhook)| (id.to_string(), webhook.to_string()))
            .collect();
        round.sort();
        let mut insert =
            db.prepare(&ingest_claimed_deliveries_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", 12)).unwrap();
        let binds = params!["org_a", 1_000, event_id, "lead.created", r, op, "HEAD:", ":TAIL", token, 50_000, most, ""];
        let mut inserted: Vec<Created> = insert
            .query_map(binds, |row| Ok((row.get("id")?, row.get("attempts")?, row.get("lease_until")?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        inserted.sort();
        let mut hooks = db.prepare(&subscribers_read_sql("(?3, ?4, ?5, ?6, ?7, NULL, ?8)", 9)).unwrap();
        let mut hooks: Vec<String> = hooks
            .query_map(params!["org_a", 1_000, event_id, "lead.created", r, op, "{}", token, ""], |row| row.get("id"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        hooks.sort();
        Claiming { inserted, round, hooks }
    }

    #[test]
    fn a_batch_lists_each_events_round_without_a_lease_and_writes_rows_only_for_the_rest() {
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_a", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_b", "org_a", r#"["lead.*"]"#, true);
        let (r, op) = (catalogue::resource_of("lead.created"), 0);
        // A batch's event (no lease, at most `most` in its round): the insert returns its round and its row.
        let ingest =
            |event_id: &str, token: &str, stem: &str, most: i64| -> (Option<String>, Option<i64>, Vec<String>) {
                let mut insert =
                    db.prepare(&ingest_events_sql("(?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, NULL, ?10)", 11)).unwrap();
                let binds = params!["org_a", 1_000, event_id, "lead.created", r, op, "{}", token, stem, most, ""];
                let (round, position) = insert
                    .query_row(binds, |row| Ok((row.get::<_, Option<String>>("round")?, row.get("position")?)))
                    .unwrap();
                let mut rows = db.prepare(&ingest_deliveries_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9)", 10)).unwrap();
                let binds = params!["org_a", 1_000, event_id, "lead.created", r, op, "H:", ":T", token, ""];
                let written = rows.query_map(binds, |row| row.get(0)).unwrap().map(Result::unwrap).collect();
                (round, position, written)
            };
        let (round, position, written) = ingest("evt_1", "t1", "111111111111", 6);
        assert_eq!(position, Some(1));
        assert_eq!(stem_of(&db, "evt_1"), "000000000001111111111111", "the stem begins with the event's position");
        assert_eq!(round_deliveries(&stem_of(&db, "evt_1"), round.as_deref()).unwrap().len(), 2);
        assert!(written.is_empty(), "the round's deliveries get no row");
        let stored: (i64, Option<i64>) = db
            .query_row("SELECT rowid, round_lease FROM events WHERE id = 'evt_1'", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(stored, (position.unwrap(), None), "where its row is, and no lease: its consumer claims it");
        // More subscribers than one round lists: no round, every delivery written.
        let (round, _, written) = ingest("evt_2", "t2", "222222222222", 1);
        assert_eq!((round, written.len()), (None, 2));
        // A fifo webhook's delivery is written; the other's is in the round.
        db.execute("UPDATE webhooks SET ordering = 'fifo' WHERE id = 'wh_b'", []).unwrap();
        let (round, _, written) = ingest("evt_3", "t3", "333333333333", 6);
        let listed = round_deliveries(&stem_of(&db, "evt_3"), round.as_deref()).unwrap();
        assert_eq!(listed.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>(), vec!["wh_a"]);
        assert_eq!(written.len(), 1);
        let webhook: String =
            db.query_row("SELECT webhook_id FROM deliveries WHERE id = ?1", [&written[0]], |r| r.get(0)).unwrap();
        assert_eq!(webhook, "wh_b");
    }

    /// The event insert walks the subscribers once for both their count and its round: the statement names them
    /// once, and SQLite computes them once per event (measured in its steps against a second walk for the round).
    #[test]
    fn the_event_insert_walks_the_subscribers_once() {
        let db = super::super::migrated_sqlite();
        for n in 0..20 {
            webhook(&db, &format!("wh_{n}"), "org_a", r#"["*"]"#, true);
        }
        let sql = ingest_events_sql("(?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?10, ?11)", 12);
        assert_eq!(sql.matches("FROM webhooks w").count(), 1, "{sql}");
        let (r, op) = (catalogue::resource_of("lead.created"), 0);
        let steps = |sql: &str| {
            db.execute_batch("SAVEPOINT walk").unwrap();
            let mut insert = db.prepare(sql).unwrap();
            let binds =
                params!["org_a", 1_000, "evt_1", "lead.created", r, op, "{}", "t1", "111111111111", 50_000, 50, ""];
            let returned: Vec<i64> =
                insert.query_map(binds, |row| row.get("delivery_count")).unwrap().map(Result::unwrap).collect();
            assert_eq!(returned, vec![20]);
            let steps = insert.get_status(rusqlite::StatementStatus::VmStep);
            drop(insert);
            db.execute_batch("ROLLBACK TO walk; RELEASE walk").unwrap();
            steps
        };
        let once = steps(&sql);
        // The same insert with a second walk for the round, as it was written before.
        let start = sql.find("(SELECT json_array(COUNT(*)").unwrap();
        let end = sql.find(" AS subscribers FROM (VALUES").unwrap();
        let walk_again = format!("({} ->> 1)", sql[start..end].replace("r.column", "v.column"));
        let two_walks = steps(&sql.replace("v.subscribers ->> 1", &walk_again));
        assert!(once * 4 < two_walks * 3, "{once} steps walking once, {two_walks} walking twice");
    }

    /// An event whose round lists every subscriber needs no delivery row: the delivery insert sees it in the event's
    /// row, before it walks the subscribers (measured in SQLite's steps against the same insert without that test).
    #[test]
    fn the_delivery_insert_of_an_event_whose_round_lists_every_subscriber_stops_at_the_event() {
        let db = super::super::migrated_sqlite();
        for n in 0..20 {
            webhook(&db, &format!("wh_{n}"), "org_a", r#"["*"]"#, true);
        }
        let claiming = ingest_claiming(&db, "evt_1", "t1", "111111111111", 50);
        assert_eq!((claiming.round.len(), claiming.inserted.len()), (20, 0));
        let (r, op) = (catalogue::resource_of("lead.created"), 0);
        let steps = |sql: &str| {
            let mut insert = db.prepare(sql).unwrap();
            let binds = params!["org_a", 1_000, "evt_1", "lead.created", r, op, "HEAD:", ":TAIL", "t1", 50_000, 50, ""];
            assert_eq!(insert.query_map(binds, |_| Ok(())).unwrap().count(), 0, "no row to write");
            insert.get_status(rusqlite::StatementStatus::VmStep)
        };
        let sql = ingest_claimed_deliveries_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", 12);
        let (first_term, _) = NOT_IN_ROUND.split_once(" AND ").unwrap();
        let walking = sql.replace(&format!("{first_term} AND "), "");
        assert_ne!(walking, sql);
        let (stopping, walked) = (steps(&sql), steps(&walking));
        assert!(stopping * 3 < walked, "{stopping} steps, against {walked} walking the subscribers");
    }

    #[test]
    fn a_single_event_lists_its_round_in_its_row_writes_the_rest_and_never_sends_ahead_of_a_fifo_line() {
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_a", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_b", "org_a", r#"["lead.*"]"#, true);
        webhook(&db, "wh_other_org", "org_b", r#"["*"]"#, true);
        let number = |hook: &str| -> String {
            db.query_row("SELECT printf('%08x', rowid) FROM webhooks WHERE id = ?1", [hook], |r| r.get(0)).unwrap()
        };
        let (a, b) = (number("wh_a"), number("wh_b"));
        // One round: both deliveries are listed in the event's row, none is written.
        let one = ingest_claiming(&db, "evt_1", "t1", "111111111111", 6);
        let s1 = stem_of(&db, "evt_1");
        assert_eq!(
            one,
            Claiming {
                inserted: vec![],
                round: vec![(format!("dlv_{s1}{a}"), "wh_a".into()), (format!("dlv_{s1}{b}"), "wh_b".into())],
                hooks: vec!["wh_a".into(), "wh_b".into()],
            }
        );
        let lease: Option<i64> =
            db.query_row("SELECT round_lease FROM events WHERE id = 'evt_1'", [], |r| r.get(0)).unwrap();
        assert_eq!(lease, Some(50_000));
        // More deliveries than one round: no round, both written unclaimed (they go to the queue).
        let two = ingest_claiming(&db, "evt_2", "t2", "222222222222", 1);
        assert!(two.round.is_empty());
        assert_eq!(two.inserted.len(), 2);
        assert!(two.inserted.iter().all(|(_, attempts, lease)| *attempts == 0 && lease.is_none()));
        // A fifo webhook with a pending delivery before it: its new one is written and waits unclaimed; the other is
        // in the round. The deliveries it had when it became fifo get their time, so its line (the index of pending
        // ones) has them.
        let indexed = |hook: &str| -> i64 {
            db.query_row(
                "SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_pending WHERE webhook_id = ?1 \
                 AND status = 'pending' AND next_attempt_at IS NOT NULL",
                [hook],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(indexed("wh_b"), 0, "written by single-event ingests: no time, no entry");
        db.execute("UPDATE webhooks SET ordering = 'fifo' WHERE id = 'wh_b'", []).unwrap();
        assert_eq!(indexed("wh_b"), 1);
        assert_eq!(indexed("wh_a"), 0);
        let three = ingest_claiming(&db, "evt_3", "t3", "333333333333", 6);
        let s3 = stem_of(&db, "evt_3");
        assert_eq!(three.round, vec![(format!("dlv_{s3}{a}"), "wh_a".to_string())]);
        assert_eq!(three.inserted, vec![(format!("dlv_{s3}{b}"), 0, None)]);
        // A fifo webhook whose line is empty: its delivery is written claimed, the other stays in the round.
        db.execute("UPDATE deliveries SET status = 'succeeded' WHERE webhook_id = 'wh_b'", []).unwrap();
        let four = ingest_claiming(&db, "evt_4", "t4", "444444444444", 6);
        let s4 = stem_of(&db, "evt_4");
        assert_eq!(four.round, vec![(format!("dlv_{s4}{a}"), "wh_a".to_string())]);
        assert_eq!(four.inserted, vec![(format!("dlv_{s4}{b}"), 1, Some(50_000))]);
        // A repeat writes nothing and lists no round.
        let again = ingest_claiming(&db, "evt_1", "t9", "999999999999", 6);
        assert_eq!((again.inserted, again.round), (vec![], vec![]));
    }

    #[test]
    fn an_ingest_reads_a_new_events_record_from_its_insert_and_the_rows_it_builds_are_the_rows_written() {
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_a", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_b", "org_a", r#"["lead.*"]"#, true);
        db.execute("UPDATE webhooks SET ordering = 'fifo' WHERE id = 'wh_b'", []).unwrap();
        // A new event answers its record from the insert; a repeat answers nothing (its record is read afterwards).
        let r = catalogue::resource_of("lead.created");
        assert_eq!(
            insert_event(&db, "evt_1", "lead.created", r, 0, "t1", "s1"),
            Some(("evt_1".into(), "t1".into(), 2))
        );
        assert_eq!(insert_event(&db, "evt_1", "lead.created", r, 0, "t2", "s2"), None);
        let event = IncomingEvent {
            id: None,
            event_type: "lead.created".into(),
            data: "{}".into(),
            changes: None,
            organization_id: None,
        };
        let event_id: EventId = id_of("evt_2");
        let one = IngestInsert {
            id: &event_id,
            event: &event,
            token: "t3".into(),
            stem_tail: "222222222222".into(),
            data: "{}".into(),
            head: "HEAD:".into(),
            tail: ":TAIL".into(),
        };
        let ingested = ingest_claiming(&db, "evt_2", "t3", "222222222222", 6);
        // The fifo webhook's delivery is written claimed by the insert (its line is empty); the ingest's copy is the
        // row as stored.
        let (id, attempts, lease_until) = ingested.inserted.into_iter().next().unwrap();
        let returned = ClaimedInsert {
            id: id_of(&id),
            webhook_id: id_of("wh_b"),
            attempts,
            lease_until,
            next_attempt_at: Some(1_000),
        };
        let built = claimed_row(&id_of("org_a"), &one, 1_000, returned);
        assert_eq!(stored(&db, &id), of_row(&built));
        // The round's delivery has no row; the row written for it later (the record or the alarm) is the ingest's copy.
        let (id, webhook) = ingested.round.into_iter().next().unwrap();
        let listed = ClaimedInsert {
            id: id_of(&id),
            webhook_id: id_of(&webhook),
            attempts: 1,
            lease_until: Some(50_000),
            next_attempt_at: None,
        };
        let built = DeliveryRow { unwritten: true, ..claimed_row(&id_of("org_a"), &one, 1_000, listed) };
        let none: i64 = db.query_row("SELECT COUNT(*) FROM deliveries WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
        assert_eq!(none, 0);
        let local = Database::local(worker::wasm_bindgen::JsValue::NULL);
        for statement in super::super::deliveries::write_unwritten(&local, &id_of("org_a"), &[&built], 2_000).unwrap() {
            super::super::run_on_sqlite(&db, &statement);
        }
        assert_eq!(stored(&db, &id), of_row(&built));
        assert_eq!(built.body, format!("HEAD:{id}:TAIL"));
    }

    #[test]
    fn an_events_deliveries_are_its_rows_and_its_rounds_deliveries_without_one() {
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_a", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_b", "org_a", r#"["lead.*"]"#, true);
        let ingested = ingest_claiming(&db, "evt_1", "t1", "111111111111", 6);
        let listed = |db: &Connection| -> Vec<(String, String, String, i64)> {
            let mut read = db.prepare(&event_deliveries_sql()).unwrap();
            read.query_map(params!["org_a", "evt_1"], |r| {
                Ok((r.get("id")?, r.get("webhook_id")?, r.get("status")?, r.get("attempts")?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let pending: Vec<(String, String, String, i64)> =
            ingested.round.iter().map(|(id, w)| (id.clone(), w.clone(), "pending".into(), 1)).collect();
        assert_eq!(listed(&db), pending);
        // The events list counts them too, whether it reads every event or the type's pages.
        let counted = |db: &Connection| -> Vec<(i64, i64, Option<i64>)> {
            [(false, rusqlite::types::Value::Null), (true, rusqlite::types::Value::Text("lead.created".into()))]
                .into_iter()
                .map(|(typed, t)| {
                    let mut statement = db.prepare(&list_page_sql(typed)).unwrap();
                    statement
                        .query_row(params!["org_a", t, None::<i64>, None::<i64>, 10, 0, i64::MAX], |row| {
                            Ok((row.get("deliveries")?, row.get("pending")?, row.get("succeeded")?))
                        })
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(counted(&db), vec![(2, 2, None), (2, 2, None)]);
        // One is recorded: its row is listed, once.
        let (recorded, webhook) = &ingested.round[0];
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             created_at, updated_at, stemmed) VALUES (?1, 'org_a', ?2, 'evt_1', 'lead.created', '{}', 'succeeded', 1, \
             1000, 2000, 1)",
            [recorded, webhook],
        )
        .unwrap();
        let mut expected = pending.clone();
        expected[0].2 = "succeeded".into();
        assert_eq!(listed(&db), expected);
        assert_eq!(counted(&db), vec![(2, 1, Some(1)), (2, 1, Some(1))]);
        // The other succeeds in its entry (schema v23): listed succeeded, with no row, and counted once.
        let (_, other) = &ingested.round[1];
        db.execute(
            "UPDATE events SET round = json_insert(round, '$[' || (SELECT j.key FROM json_each(events.round) j \
             WHERE json_extract(j.value, '$[1]') = ?1) || '][2]', json('{\"status_code\":200,\"created_at\":3000}'))",
            [other],
        )
        .unwrap();
        expected[1].2 = "succeeded".into();
        assert_eq!(listed(&db), expected);
        assert_eq!(counted(&db), vec![(2, 0, Some(2)), (2, 0, Some(2))]);
    }

    /// A delivery's columns as the tests compare them.
    type DeliveryColumns = (
        (String, String, String),
        (String, String, String),
        (i64, i64, Option<i64>),
        (Option<String>, Option<i64>, Option<i64>),
        (bool, i64, i64),
    );

    fn of_row(built: &DeliveryRow) -> DeliveryColumns {
        (
            (built.organization_id.to_string(), built.webhook_id.to_string(), built.event_id.to_string()),
            (built.event_type.clone(), built.body.clone(), built.status.as_str().to_string()),
            (built.attempts, built.chain_start, built.last_status_code),
            (built.last_error.clone(), built.next_attempt_at, built.lease_until),
            (built.is_test, built.created_at, built.updated_at),
        )
    }

    fn stored(db: &Connection, id: &str) -> DeliveryColumns {
        db.query_row(
            "SELECT organization_id, webhook_id, event_id, event_type, body, status, attempts, chain_start, \
             last_status_code, last_error, next_attempt_at, lease_until, is_test, created_at, updated_at \
             FROM deliveries WHERE id = ?1",
            [id],
            |row| {
                Ok((
                    (row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?),
                    (row.get::<_, String>(3)?, row.get::<_, String>(4)?, row.get::<_, String>(5)?),
                    (row.get::<_, i64>(6)?, row.get::<_, i64>(7)?, row.get::<_, Option<i64>>(8)?),
                    (row.get::<_, Option<String>>(9)?, row.get::<_, Option<i64>>(10)?, row.get::<_, Option<i64>>(11)?),
                    (row.get::<_, bool>(12)?, row.get::<_, i64>(13)?, row.get::<_, i64>(14)?),
                ))
            },
        )
        .unwrap()
    }

    /// A page of the list for `event_type` stored before `before` (each event's id and position), read through the
    /// type's pages or through every event.
    fn listed(
        db: &Connection,
        typed: bool,
        event_type: &str,
        window: (Option<i64>, Option<i64>),
        limit: i64,
        offset: i64,
        before: i64,
    ) -> Vec<(String, i64)> {
        let mut statement = db.prepare(&list_page_sql(typed)).unwrap();
        let ids = statement
            .query_map(params!["org_a", event_type, window.0, window.1, limit, offset, before], |row| {
                Ok((row.get::<_, String>("id")?, row.get::<_, i64>("position")?))
            })
            .unwrap();
        ids.map(Result::unwrap).collect()
    }

    /// The ids of a page [`listed`] read.
    fn ids(page: Vec<(String, i64)>) -> Vec<String> {
        page.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn a_list_of_one_type_reads_its_pages_and_answers_what_reading_every_event_answers() {
        let db = super::super::migrated_sqlite();
        // 400 events: one type in most pages, one in a few, one once (rowids 1..=400, created 1 ms apart).
        for n in 1..=400 {
            let event_type = match n {
                n if n % 100 == 7 => "deal.won",
                333 => "invoice.paid",
                _ => "lead.created",
            };
            db.execute(
                "INSERT INTO events (id, organization_id, type, data, ingest_token, delivery_stem, created_at) \
                 VALUES (?1, 'org_a', ?2, '{}', ?1, ?1, ?3)",
                params![format!("evt_{n:03}"), event_type, 1_000 + n],
            )
            .unwrap();
        }
        let pages: i64 = db.query_row("SELECT COUNT(*) FROM event_type_pages", [], |r| r.get(0)).unwrap();
        assert_eq!(pages, 7 + 4 + 1, "lead.created in 7 pages of 64, deal.won in 4, invoice.paid in 1");
        for event_type in ["lead.created", "deal.won", "invoice.paid", "nothing.here"] {
            for window in [(None, None), (Some(1_150), None), (None, Some(1_350)), (Some(1_100), Some(1_108))] {
                for (limit, offset) in [(25, 0), (25, 50), (100, 0), (3, 2)] {
                    let through_pages = listed(&db, true, event_type, window, limit, offset, i64::MAX);
                    let through_events = listed(&db, false, event_type, window, limit, offset, i64::MAX);
                    assert_eq!(through_pages, through_events, "{event_type} {window:?} {limit} {offset}");
                }
                let count = |typed: bool| -> i64 {
                    db.query_row(
                        &list_count_sql(typed),
                        params!["org_a", event_type, window.0, window.1, 10_001],
                        |r| r.get(0),
                    )
                    .unwrap()
                };
                assert_eq!(count(true), count(false), "{event_type} {window:?}");
            }
        }
        // An iterator (the last position of a page) walks the same list as the offsets, a page at a time.
        for typed in [true, false] {
            for event_type in ["lead.created", "deal.won"] {
                let (mut walked, mut before) = (Vec::new(), i64::MAX);
                loop {
                    let page = listed(&db, typed, event_type, (Some(1_020), None), 7, 0, before);
                    walked.extend(page.iter().map(|(id, _)| id.clone()));
                    match page.last() {
                        Some((_, position)) if page.len() == 7 => before = *position,
                        _ => break,
                    }
                }
                let all = listed(&db, false, event_type, (Some(1_020), None), 1_000, 0, i64::MAX);
                assert_eq!(walked, ids(all), "{event_type}");
            }
        }
        assert_eq!(ids(listed(&db, true, "deal.won", (None, None), 2, 0, i64::MAX)), ["evt_307", "evt_207"]);
        assert_eq!(ids(listed(&db, true, "invoice.paid", (None, None), 25, 0, i64::MAX)), ["evt_333"]);
        // The work each does, in SQLite's own count of steps: the rare type's one page, against all 400 events.
        let steps = |typed: bool| -> i32 {
            let mut statement = db.prepare(&list_count_sql(typed)).unwrap();
            let _: i64 = statement
                .query_row(params!["org_a", "invoice.paid", None::<i64>, None::<i64>, 10_001], |r| r.get(0))
                .unwrap();
            statement.get_status(rusqlite::StatementStatus::VmStep)
        };
        let (through_pages, through_events) = (steps(true), steps(false));
        assert!(
            through_pages * 2 < through_events,
            "{through_pages} steps through the pages, {through_events} through every event"
        );
    }

    #[test]
    fn a_types_pages_go_when_their_events_have_gone_and_an_upgrade_builds_them() {
        use crate::org::schema::{sqlite_at, upgrade, VERSIONS};
        let db = sqlite_at(VERSIONS, 20);
        db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
        for n in 1..=200 {
            let event_type = if n % 2 == 0 { "lead.created" } else { "deal.won" };
            db.execute(
                "INSERT INTO events (id, organization_id, type, data, ingest_token, delivery_stem, created_at) \
                 VALUES (?1, 'org_a', ?2, '{}', ?1, ?1, ?3)",
                params![format!("evt_{n:03}"), event_type, n],
            )
            .unwrap();
        }
        upgrade(&db, VERSIONS);
        let pages = |db: &Connection| -> Vec<(String, i64)> {
            let mut statement = db.prepare("SELECT type, page FROM event_type_pages ORDER BY 1, 2").unwrap();
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let all: Vec<(String, i64)> =
            ["deal.won", "lead.created"].iter().flat_map(|t| (0..=3).map(move |p| (t.to_string(), p))).collect();
        assert_eq!(pages(&db), all, "built from the events at the upgrade");
        db.execute("DELETE FROM events WHERE rowid < 130", []).unwrap();
        db.execute(&crate::store::deliveries::prune_event_type_pages_sql(), [1_000]).unwrap();
        let left: Vec<(String, i64)> =
            ["deal.won", "lead.created"].iter().flat_map(|t| (2..=3).map(move |p| (t.to_string(), p))).collect();
        assert_eq!(pages(&db), left, "pages 0 and 1 (rowids below 128) went, page 2 holds events 130..");
        db.execute(&crate::store::deliveries::prune_event_type_pages_sql(), [1]).unwrap();
        assert_eq!(pages(&db), left, "nothing more to prune");
    }

    #[test]
    fn the_events_lists_count_stops_at_its_limit_and_counts_only_the_filter() {
        let db = super::super::migrated_sqlite();
        let r = catalogue::resource_of("lead.created");
        for n in 0..7 {
            insert_event(&db, &format!("evt_{n}"), "lead.created", r, 0, &format!("t{n}"), &format!("s{n}"));
        }
        insert_event(&db, "evt_other", "deal.won", catalogue::resource_of("deal.won"), 0, "tx", "sx");
        let count = |event_type: Option<&str>, limit: i64| -> i64 {
            db.query_row(
                &list_count_sql(event_type.is_some()),
                params!["org_a", event_type, None::<i64>, None::<i64>, limit],
                |row| row.get("total"),
            )
            .unwrap()
        };
        assert_eq!(count(Some("lead.created"), 100), 7);
        assert_eq!(count(None, 100), 8);
        assert_eq!(count(Some("lead.created"), 4), 4, "reads no more than its limit");
        assert_eq!(count(Some("lead.created"), 7), 7);
        let plan = super::super::query_plan(&list_count_sql(false));
        assert!(plan.iter().any(|d| d.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")), "{plan:?}");
    }

    /// An ingest as the object runs it, with payload filters: the candidates are read, each filter is evaluated in
    /// Rust on the event's exact text, and the count and the deliveries leave the misses out.
    #[test]
    fn an_ingest_leaves_out_the_subscribers_whose_filter_misses_the_event() {
        use crate::domain::filter::{miss, EventView, Filter};
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_all", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_big", "org_a", r#"["deal.*"]"#, true);
        webhook(&db, "wh_exact", "org_a", r#"["deal.*"]"#, true);
        let set = |id: &str, filter: &str| {
            db.execute("UPDATE webhooks SET filter = ?2 WHERE id = ?1", params![id, filter]).unwrap();
        };
        set("wh_big", r#"{"data":{"amount":{"$gte":10000}}}"#);
        set("wh_exact", r#"{"data":{"amount":9007199254740993}}"#);
        let ingest_filtered = |event_id: &str, data: &str| -> (i64, Vec<String>) {
            let (t, r) = ("deal.won", "deal");
            let mut candidates = db.prepare(&filter_candidates_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9)")).unwrap();
            let misses: String = candidates
                .query_map(params!["org_a", 1_000, event_id, t, r, 0, data, None::<String>, "tok"], |row| {
                    Ok((
                        row.get::<_, String>("event_id")?,
                        row.get::<_, String>("webhook_id")?,
                        row.get::<_, String>("filter")?,
                    ))
                })
                .unwrap()
                .map(Result::unwrap)
                .filter(|(e, _, f)| {
                    let view = EventView { id: e, event_type: t, data, changes: None };
                    !Filter::parse_stored(f).unwrap().matches(&view)
                })
                .map(|(e, w, _)| miss(&e, &w))
                .collect();
            let count: i64 = db
                .query_row(
                    &ingest_events_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, 'aaaaaaaaaaaa', NULL, 0)", 10),
                    params!["org_a", 1_000, event_id, t, r, 0, data, None::<String>, "tok", misses],
                    |row| row.get("delivery_count"),
                )
                .unwrap();
            let mut hooks: Vec<String> = db
                .prepare(&ingest_deliveries_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9)", 10))
                .unwrap()
                .query_map(params!["org_a", 1_000, event_id, t, r, 0, "H:", ":T", "tok", misses], |row| {
                    row.get::<_, String>("id")
                })
                .unwrap()
                .map(Result::unwrap)
                .map(|id| db.query_row("SELECT webhook_id FROM deliveries WHERE id = ?1", [id], |r| r.get(0)).unwrap())
                .collect();
            hooks.sort();
            (count, hooks)
        };
        assert_eq!(ingest_filtered("evt_1", r#"{"amount":12500.50}"#), (2, vec!["wh_all".into(), "wh_big".into()]));
        assert_eq!(ingest_filtered("evt_2", r#"{"amount":99}"#), (1, vec!["wh_all".into()]));
        // Beyond 2^53 the filter compares digits, not floats: ...992 would equal ...993 as a double.
        let exact = ingest_filtered("evt_3", r#"{"amount":9007199254740993}"#);
        assert_eq!(exact, (3, vec!["wh_all".into(), "wh_big".into(), "wh_exact".into()]));
        assert_eq!(
            ingest_filtered("evt_4", r#"{"amount":9007199254740992}"#),
            (2, vec!["wh_all".into(), "wh_big".into()])
        );
    }

    /// An ingest as the object runs it, with the catalogue: the candidates are read and judged in Rust, and a
    /// refused event is neither inserted nor given deliveries; default types of an organization with no catalogue
    /// and no checking webhook are not even candidates.
    #[test]
    fn an_ingest_refuses_unknown_types_and_data_failing_a_checked_schema() {
        use crate::domain::filter::miss;
        use crate::domain::schema::{judge, Candidate};
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_all", "org_a", r#"["*"]"#, true);
        db.execute(
            "INSERT INTO event_types (organization_id, name, schema, created_at, updated_at) \
             VALUES ('org_a', 'invoice.paid', '{\"required\": [\"amount\"]}', 1, 1)",
            [],
        )
        .unwrap();
        let rows = "(?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
        let ingest_checked = |event_id: &str, t: &str, data: &str| -> Result<i64, String> {
            let r = catalogue::resource_of(t);
            let is_default = i64::from(catalogue::default_type(t).is_some());
            let mut candidates = db.prepare(&validation_candidates_sql(rows)).unwrap();
            let judged: Vec<(String, Option<crate::domain::Invalid>)> = candidates
                .query_map(params!["org_a", 1_000, event_id, t, r, 0, data, None::<String>, "tok", is_default], |row| {
                    let candidate = Candidate {
                        event_type: t,
                        is_default: row.get::<_, i64>("is_default")? != 0,
                        defined: row.get::<_, i64>("defined")? != 0,
                        schema: row.get("schema")?,
                        data,
                    };
                    Ok((row.get::<_, String>("event_id")?, judge(&candidate, &crate::domain::schema::tests::Required)))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let misses: String =
                judged.iter().filter(|(_, j)| j.is_some()).map(|(e, _)| miss(e, crate::store::sql::REFUSED)).collect();
            if let Some((_, Some(refused))) = judged.into_iter().find(|(_, j)| j.is_some()) {
                let inserted: Option<i64> = db
                    .query_row(
                        &ingest_events_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, 'aaaaaaaaaaaa', NULL, 0)", 10),
                        params!["org_a", 1_000, event_id, t, r, 0, data, None::<String>, "tok", misses],
                        |row| row.get("delivery_count"),
                    )
                    .ok();
                assert_eq!(inserted, None, "a refused event is not inserted");
                return Err(refused.code.to_string());
            }
            Ok(db
                .query_row(
                    &ingest_events_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, 'aaaaaaaaaaaa', NULL, 0)", 10),
                    params!["org_a", 1_000, event_id, t, r, 0, data, None::<String>, "tok", misses],
                    |row| row.get("delivery_count"),
                )
                .unwrap())
        };
        assert_eq!(ingest_checked("evt_1", "lead.created", "{}"), Ok(1));
        assert_eq!(ingest_checked("evt_2", "lead.exploded", "{}"), Err("validation_error".into()));
        // Defined, with a schema no subscriber asked to be checked: accepted as sent.
        assert_eq!(ingest_checked("evt_3", "invoice.paid", "{}"), Ok(1));
        db.execute("UPDATE webhooks SET validate_schema = 1 WHERE id = 'wh_all'", []).unwrap();
        assert_eq!(ingest_checked("evt_4", "invoice.paid", "{}"), Err("schema_mismatch".into()));
        assert_eq!(ingest_checked("evt_5", "invoice.paid", r#"{"amount": 5}"#), Ok(1));
        // A repeat of a stored event is not judged again: it stays a duplicate.
        let mut stored = db.prepare(&validation_candidates_sql(rows)).unwrap();
        let judged = stored
            .query_map(params!["org_a", 1, "evt_3", "invoice.paid", "invoice", 0, "{}", None::<String>, "t", 0], |_| {
                Ok(())
            })
            .unwrap()
            .count();
        assert_eq!(judged, 0);
        let total: i64 = db.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0)).unwrap();
        assert_eq!(total, 3);
    }

    #[test]
    fn an_ingest_creates_one_delivery_per_active_subscriber_of_its_org_once() {
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_all", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_leads", "org_a", r#"["lead.*","deal.won"]"#, true);
        webhook(&db, "wh_deals", "org_a", r#"["deal.won"]"#, true);
        webhook(&db, "wh_off", "org_a", r#"["*"]"#, false);
        webhook(&db, "wh_other_org", "org_b", r#"["*"]"#, true);
        let mut ids = ingest(&db, "evt_1", "lead.created", "t1", "0123456789ab");
        ids.sort();
        assert_eq!(ids.len(), 2);
        for id in &ids {
            assert!(DeliveryId::parse(id).is_some() && id.len() == 4 + 32, "{id}");
            assert!(id.starts_with("dlv_0000000000010123456789ab"));
            assert_eq!(RoundRef::position_of(&id_of(id)), Some(1), "its event's position");
            let body: String =
                db.query_row("SELECT body FROM deliveries WHERE id = ?1", [id], |row| row.get(0)).unwrap();
            assert_eq!(body, format!("HEAD:{id}:TAIL"));
        }
        let mut hooks: Vec<String> = db
            .prepare("SELECT webhook_id FROM deliveries ORDER BY webhook_id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        hooks.sort();
        assert_eq!(hooks, ["wh_all", "wh_leads"]);
        let count: i64 =
            db.query_row("SELECT delivery_count FROM events WHERE id = 'evt_1'", [], |row| row.get(0)).unwrap();
        assert_eq!(count, 2);
        // A repeat (another ingest token) inserts nothing; the event keeps its first token and count.
        assert!(ingest(&db, "evt_1", "lead.created", "t2", "ffffffffffff").is_empty());
        let total: i64 = db.query_row("SELECT COUNT(*) FROM deliveries", [], |row| row.get(0)).unwrap();
        assert_eq!(total, 2);
        // Operational types reach only those who asked for them.
        webhook(&db, "wh_ops", "org_a", r#"["edgehook.*"]"#, true);
        assert_eq!(ingest(&db, "evt_2", "edgehook.webhook.disabled", "t3", "222222222222").len(), 1);
        assert_eq!(ingest(&db, "evt_3", "deal.won", "t4", "333333333333").len(), 3);
    }
    #[test]
    fn an_events_deliveries_are_its_stems_range_and_the_indexed_others_each_once() {
        let db = super::super::migrated_sqlite();
        webhook(&db, "wh_a", "org_a", r#"["*"]"#, true);
        webhook(&db, "wh_b", "org_a", r#"["lead.*"]"#, true);
        assert_eq!(ingest(&db, "evt_1", "lead.created", "t1", "aaaaaaaaaaa1").len(), 2);
        assert_eq!(ingest(&db, "evt_2", "lead.created", "t2", "aaaaaaaaaaa2").len(), 2);
        // A replay of evt_1 (a random id) and a delivery written before schema v17 (no stem on its event).
        let other = |id: &str, event: &str| {
            db.execute(
                "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, \
                 created_at, updated_at) VALUES (?1, 'org_a', 'wh_a', ?2, 'lead.created', '{}', 'pending', 1, 1)",
                [id, event],
            )
            .unwrap();
        };
        other("dlv_2zq4replay", "evt_1");
        db.execute(
            "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
             VALUES ('org_a', 'evt_old', 'lead.created', '{}', 't', 1)",
            [],
        )
        .unwrap();
        other("dlv_old", "evt_old");
        let of = |event: &str| -> Vec<String> {
            let sql = format!(
                "SELECT id FROM deliveries WHERE rowid IN ({}) ORDER BY id",
                super::super::deliveries_of_event("?1", "(SELECT delivery_stem FROM events WHERE id = ?1)")
            );
            let mut statement = db.prepare(&sql).unwrap();
            statement.query_map([event], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
        };
        let found = of("evt_1");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.contains(&"dlv_2zq4replay".to_string()));
        let (s1, s2) = (format!("dlv_{}", stem_of(&db, "evt_1")), format!("dlv_{}", stem_of(&db, "evt_2")));
        assert!(found.iter().filter(|id| id.starts_with(&s1)).count() == 2, "{found:?}");
        assert!(of("evt_2").iter().all(|id| id.starts_with(&s2)));
        assert_eq!(of("evt_2").len(), 2);
        assert_eq!(of("evt_old"), ["dlv_old"]);
        // Only the deliveries without a stem take an entry in the index (a partial index holds exactly the rows
        // its condition selects).
        let indexed: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_by_event \
                 WHERE organization_id = 'org_a' AND stemmed IS NULL",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 2);
        let stemmed: i64 =
            db.query_row("SELECT COUNT(*) FROM deliveries WHERE stemmed = 1", [], |row| row.get(0)).unwrap();
        assert_eq!(stemmed, 4);
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    use super::super::query_plan as plan;

    #[test]
    fn an_ingest_finds_its_event_and_subscribers_through_indexes_not_by_walking_the_organizations_events() {
        let rows = "(?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
        for sql in [
            ingest_events_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, 0)", 10),
            ingest_claimed_deliveries_sql(rows, 12),
        ] {
            let details = plan(&sql);
            assert!(!details.iter().any(|d| d.starts_with("SCAN events")), "{details:?}");
            assert!(!details.iter().any(|d| d.starts_with("SCAN deliveries")), "{details:?}");
            assert!(details.iter().any(|d| d.contains("w USING INDEX webhooks_fanout")), "{details:?}");
        }
        let details = plan(&filter_candidates_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
        assert!(details.iter().any(|d| d.contains("w USING INDEX webhooks_filtered")), "{details:?}");
        let details = plan(&poll_messages_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9)", 10));
        assert!(details.iter().any(|d| d.contains("w USING INDEX webhooks_polling")), "{details:?}");
        let details = plan(&validation_candidates_sql("(?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
        assert!(details.iter().any(|d| d.contains("w USING INDEX webhooks_validating")), "{details:?}");
        assert!(details.iter().any(|d| d.contains("SEARCH t USING PRIMARY KEY")), "{details:?}");
        assert!(!details.iter().any(|d| d.starts_with("SCAN events")), "{details:?}");
        let details = plan(&ingest_claimed_deliveries_sql(rows, 12));
        assert!(details.iter().any(|d| d.contains("SEARCH s USING INDEX sqlite_autoindex_events_1")), "{details:?}");
    }

    #[test]
    fn the_events_list_and_a_replay_read_events_in_rowid_order_within_the_marks_bounds_without_sorting() {
        let statements = [
            list_page_sql(false),
            list_page_sql(true),
            crate::store::recovery::missing_events_sql("1"),
            crate::store::deliveries::prune_events_sql(),
        ];
        for sql in statements {
            let details = plan(&sql);
            assert!(
                details.iter().any(|d| d.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")
                    || d.contains("USING INTEGER PRIMARY KEY (rowid<?)")),
                "{sql}: {details:?}"
            );
            assert!(!details.iter().any(|d| d.contains("TEMP B-TREE FOR ORDER BY")), "{sql}: {details:?}");
        }
        assert_eq!(plan(RECENT_SQL), ["SCAN events"], "read from the end of the table, no sort");
    }

    #[test]
    fn a_list_of_one_type_walks_the_types_pages_newest_first_and_its_prune_seeks_each_type() {
        for sql in [list_page_sql(true), list_count_sql(true)] {
            let details = plan(&sql);
            assert!(details.iter().any(|d| d.contains("SEARCH p USING PRIMARY KEY (type=? AND page>?")), "{details:?}");
            assert!(
                details.iter().any(|d| d.contains("SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
                "{details:?}"
            );
            // ("SCAN e" is the page of the list itself, a co-routine of at most `?5` rows.)
            assert!(
                !details.iter().any(|d| ["SCAN events", "SCAN event_type_pages", "SCAN p", "SCAN deliveries"]
                    .iter()
                    .any(|scan| d.starts_with(scan))),
                "{sql}: {details:?}"
            );
            assert!(!details.iter().any(|d| d.contains("TEMP B-TREE FOR ORDER BY")), "{details:?}");
        }
        let details = plan(&crate::store::deliveries::prune_event_type_pages_sql());
        assert!(
            !details.iter().any(|d| d.starts_with("SCAN event_type_pages") || d.starts_with("SCAN p")),
            "{details:?}"
        );
    }

    #[test]
    fn an_events_deliveries_are_found_through_the_primary_key_and_the_index_of_the_others() {
        let of_event = super::super::deliveries_of_event("e.id", "e.delivery_stem");
        let statements = [
            format!("SELECT d.id FROM events e JOIN deliveries d ON d.rowid IN ({of_event}) WHERE e.id = ?1"),
            crate::store::recovery::count_missing_sql("1"),
            crate::store::recovery::insert_missing_sql(2),
            crate::store::deliveries::prune_events_sql(),
        ];
        for sql in &statements {
            let details = plan(sql);
            assert!(!details.iter().any(|d| d.starts_with("SCAN deliveries")), "{sql}: {details:?}");
            assert!(
                details.iter().any(|d| d.contains("USING INDEX sqlite_autoindex_deliveries_1 (id>? AND id<?)")),
                "{sql}: {details:?}"
            );
            // Never a walk through a webhook's whole log to check each of its deliveries against the event's.
            assert!(!details.iter().any(|d| d.contains("deliveries_by_webhook")), "{sql}: {details:?}");
            // Each reads the index of the rest too.
            assert!(details.iter().any(|d| d.contains("USING INDEX deliveries_by_event")), "{sql}: {details:?}");
        }
    }
}
