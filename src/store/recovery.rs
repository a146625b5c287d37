//! Recover and replay-missing: the statements that give failed deliveries a fresh attempt chain, and that find and
//! create the deliveries a webhook never got. Each step is bounded and repeatable: running it twice (a queue
//! message delivered again) recovers nothing twice and creates no second delivery of an event for a webhook.

use super::Database;
use serde::Deserialize;

use super::events::EventRow;
use super::sql::{not_missed, FilterStep, Statement};
use super::{batch, int, placeholders, rows, rows_of, text, DeliveryIdRow, Param, StoreError};
use crate::domain::catalogue::{
    is_valid_pattern, ALL_OPERATIONAL, LEGACY_DISABLED, OPERATIONAL_PREFIX, WEBHOOK_DISABLED,
};
use crate::domain::ids::{DeliveryId, OrganizationId, WebhookId};
use crate::domain::limits::D1_MAX_PARAMETERS;

/// The failed deliveries of webhook `?2` (organization `?1`) that ended at or after `?3` and before `?4`, oldest
/// first: the ones a recover takes on.
fn recoverable() -> String {
    format!("FROM deliveries WHERE rowid IN ({}) AND organization_id = ?1", recoverable_rowids())
}

/// The `rowid`s of [`recoverable`], through the webhook's pages (schema v19).
fn recoverable_rowids() -> String {
    super::webhook_deliveries(
        "?2",
        "0",
        "d.status = 'failed' AND d.is_test = 0 AND d.updated_at >= ?3 AND d.updated_at < ?4",
        "",
    )
}

/// The recoverable deliveries' events, to evaluate the webhook's payload filter on ([`FilterStep::Evaluate`]):
/// none when it has no filter. A delivery whose event the webhook's current filter misses is not recovered.
fn recoverable_filtered() -> String {
    format!(
        "SELECT r.event_id AS event_id, r.webhook_id AS webhook_id, w.filter AS filter, \
         e.type AS type, e.data AS data, e.changes AS changes FROM webhooks w \
         CROSS JOIN deliveries r ON r.rowid IN ({}) \
         JOIN events e ON e.organization_id = r.organization_id AND e.id = r.event_id \
         WHERE w.id = ?2 AND w.filter IS NOT NULL AND r.organization_id = ?1",
        recoverable_rowids()
    )
}

/// How many deliveries a recover of the window would take on, counting at most `cap`; `?6` the filter misses.
pub fn count_recoverable_sql() -> String {
    format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 {} AND {} LIMIT +?5)",
        recoverable(),
        not_missed(6, "event_id", "webhook_id")
    )
}

/// Makes up to `?5` of them pending and due at `?6` with a fresh chain (the budget counts from the attempts made
/// so far; attempt numbers keep rising). Their new `updated_at` (`?6`, after the window's end) takes them out of the
/// window, so the next step continues with the rest and a repeated step finds nothing. `?7`: the filter misses,
/// which stay as they are.
pub fn recover_sql() -> String {
    format!(
        "UPDATE deliveries SET status = 'pending', chain_start = attempts, next_attempt_at = ?6, lease_until = NULL, \
         lost_attempts = 0, requeued_at = NULL, updated_at = ?6 \
         WHERE id IN (SELECT id {} AND {} ORDER BY created_at, id LIMIT +?5) RETURNING id",
        recoverable(),
        not_missed(7, "event_id", "webhook_id")
    )
}

/// The SQL condition on `type` that selects what `patterns` subscribe to. Patterns are validated (lowercase words,
/// dots and `*` only), so they are written as literals: a webhook may hold more patterns than D1 binds parameters.
/// `None` if a pattern is not valid.
pub fn pattern_condition(patterns: &[String]) -> Option<String> {
    let mut parts = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        if !is_valid_pattern(pattern) || pattern.contains('\'') {
            return None;
        }
        let operational = OPERATIONAL_PREFIX.len();
        parts.push(if pattern == "*" {
            // As in the catalogue: `*` does not select edgehook's own events.
            format!("substr(type, 1, {operational}) != '{OPERATIONAL_PREFIX}'")
        } else if pattern == ALL_OPERATIONAL {
            format!("substr(type, 1, {operational}) = '{OPERATIONAL_PREFIX}'")
        } else if pattern == LEGACY_DISABLED {
            format!("type = '{WEBHOOK_DISABLED}'")
        } else if let Some(resource) = pattern.strip_suffix(".*") {
            let prefix = format!("{resource}.");
            format!(
                "(substr(type, 1, {n}) = '{prefix}' AND instr(substr(type, {m}), '.') = 0)",
                n = prefix.len(),
                m = prefix.len() + 1
            )
        } else {
            format!("type = '{pattern}'")
        });
    }
    Some(if parts.is_empty() { "0".into() } else { format!("({})", parts.join(" OR ")) })
}

/// Events of organization `?1` ingested at or after `?3` and before `?4` that `condition` selects and webhook `?2`
/// has no delivery of, stored after the cursor's event `?5` (none: from the window's start). In the order they were
/// stored (`rowid`, schema v18), bounded by the time marks ([`super::events_window`]). An event the cursor names that
/// is gone (retention) starts the window again: what already has a delivery is skipped, so nothing is sent twice.
fn missing(condition: &str) -> String {
    format!(
        "FROM events e WHERE {} AND +e.organization_id = ?1 AND e.created_at >= ?3 AND e.created_at < ?4 \
         AND {condition} AND e.rowid > COALESCE((SELECT c.rowid FROM events c WHERE c.organization_id = ?1 \
         AND c.id = ?5), 0) \
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.rowid IN ({}) AND +d.webhook_id = ?2) AND NOT {}",
        super::events_window("e", "?3", "?4"),
        super::deliveries_of_event("e.id", "e.delivery_stem"),
        super::in_round("e.rowid", "e.round", "?2")
    )
}

/// How many missed events there are, counting at most `?6`.
pub fn count_missing_sql(condition: &str) -> String {
    format!("SELECT COUNT(*) AS n FROM (SELECT 1 {} LIMIT +?6)", missing(condition))
}

/// The next `?6` missed events in their original order.
pub fn missing_events_sql(condition: &str) -> String {
    format!("SELECT e.id, e.type, e.data, e.changes, e.created_at {} ORDER BY e.rowid LIMIT +?6", missing(condition))
}

/// Creates deliveries of `count` rows (8 parameters each, from `?3`: id, event id, event type, body, created_at,
/// next attempt, is_test, and the chain start 0) for webhook `?2` of organization `?1`, skipping any event the
/// webhook already has a delivery of. One statement: D1 runs it alone, so two concurrent replays cannot both insert.
pub fn insert_missing_sql(count: usize) -> String {
    let rows = (0..count).map(|i| format!("({})", placeholders(3 + i * 8, 8))).collect::<Vec<_>>().join(", ");
    "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
       chain_start, next_attempt_at, is_test, created_at, updated_at) \
     SELECT v.column1, ?1, ?2, v.column2, v.column3, v.column4, 'pending', 0, v.column8, v.column6, v.column7, \
       v.column5, v.column5 \
     FROM (VALUES "
        .to_string()
        + &rows
        + &format!(
            ") v WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.rowid IN ({}) AND +d.webhook_id = ?2) \
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.organization_id = ?1 AND e.id = v.column2 AND {}) RETURNING id",
            super::deliveries_of_stored_event("?1", "v.column2"),
            super::in_round("e.rowid", "e.round", "?2")
        )
}

/// Rows per [`insert_missing_sql`] statement.
pub const MISSING_PER_STATEMENT: usize = (D1_MAX_PARAMETERS - 2) / 8;

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// A recover's window: the deliveries that ended failed in `[since, until)`.
pub struct Window<'a> {
    pub org: &'a OrganizationId,
    pub webhook_id: &'a WebhookId,
    pub since: i64,
    pub until: i64,
}

impl Window<'_> {
    /// The statement that finds the window's filter misses, then `then` (which binds them as its last parameter).
    fn filtered(&self, db: &Database, sql: String, mut binds: Vec<Param>) -> Result<Vec<Statement>, StoreError> {
        let scope = [text(self.org), text(self.webhook_id), int(self.since), int(self.until)];
        binds.push(text(""));
        let at = binds.len();
        Ok(vec![
            db.prepare(recoverable_filtered()).bind(&scope)?.filtering(FilterStep::Evaluate),
            db.prepare(sql).bind(&binds)?.filtering(FilterStep::Bind(at)),
        ])
    }
}

pub async fn count_recoverable(db: &Database, w: &Window<'_>, cap: i64) -> Result<i64, StoreError> {
    let binds = vec![text(w.org), text(w.webhook_id), int(w.since), int(w.until), int(cap)];
    let results = batch(db, w.filtered(db, count_recoverable_sql(), binds)?).await?;
    Ok(rows_of::<Count>(&results, 1)?.first().map_or(0, |c| c.n))
}

/// Recovers up to `limit` deliveries of the window; returns their ids, oldest first.
pub async fn recover(db: &Database, w: &Window<'_>, limit: i64, now: i64) -> Result<Vec<DeliveryId>, StoreError> {
    let binds = vec![text(w.org), text(w.webhook_id), int(w.since), int(w.until), int(limit), int(now)];
    let results = batch(db, w.filtered(db, recover_sql(), binds)?).await?;
    Ok(rows_of::<DeliveryIdRow>(&results, 1)?.into_iter().map(|r| r.id).collect())
}

/// Where a replay stands: the events stored after event `id` are still to look at (`created_at`, its creation time,
/// is carried for the log; a message written before schema v18 resumes from its event all the same).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

/// A replay's scope: the events of `[since, until)` that `condition` selects and the webhook has no delivery of.
pub struct Missing<'a> {
    pub org: &'a OrganizationId,
    pub webhook_id: &'a WebhookId,
    pub since: i64,
    pub until: i64,
    pub condition: &'a str,
}

impl Missing<'_> {
    fn binds(&self, cursor: &Cursor, limit: i64) -> [crate::store::Param; 6] {
        [text(self.org), text(self.webhook_id), int(self.since), int(self.until), text(&cursor.id), int(limit)]
    }
}

/// How many events a webhook missed, each count at most the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingCount {
    /// Of the types it subscribes to: what a replay looks at.
    pub of_types: i64,
    /// Of those, the ones its payload filter lets through: what a replay delivers.
    pub matching: i64,
}

/// Counts the missing events, at most `cap` of each kind, in one round trip. With a payload filter (`filtered`) the
/// filter is evaluated on the first `cap` of them inside the organization's object ([`FilterStep`]); without one,
/// every event of its types is let through and one count does.
pub async fn count_missing(
    db: &Database,
    m: &Missing<'_>,
    cap: i64,
    filtered: bool,
) -> Result<MissingCount, StoreError> {
    let binds = m.binds(&Cursor::default(), cap);
    let mut statements = vec![db.prepare(count_missing_sql(m.condition)).bind(&binds)?];
    if filtered {
        let first =
            format!("SELECT e.id, e.type, e.data, e.changes {} ORDER BY e.rowid LIMIT +?6", missing(m.condition));
        let candidates = format!(
            "SELECT x.id AS event_id, w.id AS webhook_id, w.filter AS filter, x.type AS type, x.data AS data, \
             x.changes AS changes FROM ({first}) x, webhooks w WHERE w.id = ?2 AND w.filter IS NOT NULL"
        );
        let count = format!("SELECT COUNT(*) AS n FROM ({first}) x WHERE {}", not_missed(7, "x.id", "?2"));
        let mut counted = binds.to_vec();
        counted.push(text(""));
        statements.push(db.prepare(candidates).bind(&binds)?.filtering(FilterStep::Evaluate));
        statements.push(db.prepare(count).bind(&counted)?.filtering(FilterStep::Bind(7)));
    }
    let results = batch(db, statements).await?;
    let n = |at: usize| -> Result<i64, StoreError> { Ok(rows_of::<Count>(&results, at)?.first().map_or(0, |c| c.n)) };
    let of_types = n(0)?;
    Ok(MissingCount { of_types, matching: if filtered { n(2)? } else { of_types } })
}

pub async fn missing_events(
    db: &Database,
    m: &Missing<'_>,
    cursor: &Cursor,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    rows(db.prepare(missing_events_sql(m.condition)).bind(&m.binds(cursor, limit))?).await
}

/// One delivery to create for a missed event.
pub struct MissedDelivery<'a> {
    pub id: &'a DeliveryId,
    pub event: &'a EventRow,
    pub body: String,
    pub created_at: i64,
}

/// Creates the deliveries in one transaction, skipping events that meanwhile got one; returns the ids created.
pub async fn insert_missing(
    db: &Database,
    org: &OrganizationId,
    webhook_id: &WebhookId,
    deliveries: &[MissedDelivery<'_>],
    now: i64,
) -> Result<Vec<DeliveryId>, StoreError> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let mut statements = Vec::new();
    for chunk in deliveries.chunks(MISSING_PER_STATEMENT) {
        let mut binds = vec![text(org), text(webhook_id)];
        for d in chunk {
            binds.extend([
                text(d.id),
                text(&d.event.id),
                text(&d.event.event_type),
                text(&d.body),
                int(d.created_at),
                int(now),
                int(0),
                int(0),
            ]);
        }
        statements.push(db.prepare(insert_missing_sql(chunk.len())).bind(&binds)?);
    }
    let results = batch(db, statements).await?;
    let mut created = Vec::new();
    for i in 0..results.len() {
        created.extend(rows_of::<DeliveryIdRow>(&results, i)?.into_iter().map(|r| r.id));
    }
    Ok(created)
}

/// The statements above, run against SQLite with the project's migrations applied.
#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{params, Connection};

    fn db() -> Connection {
        super::super::migrated_sqlite()
    }

    fn delivery(db: &Connection, id: &str, status: &str, attempts: i64, updated_at: i64) {
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
             created_at, updated_at) VALUES (?1, 'org_a', 'wh_1', ?1, 'lead.created', '{}', ?2, ?3, ?4, ?4)",
            params![id, status, attempts, updated_at],
        )
        .unwrap();
    }

    #[test]
    fn recover_takes_failed_deliveries_of_the_window_once_with_a_fresh_chain() {
        let db = db();
        delivery(&db, "dlv_early", "failed", 4, 500);
        delivery(&db, "dlv_a", "failed", 4, 1_000);
        delivery(&db, "dlv_b", "failed", 2, 2_000);
        delivery(&db, "dlv_ok", "succeeded", 1, 1_500);
        delivery(&db, "dlv_late", "failed", 4, 9_000);
        let count = |db: &Connection| -> i64 {
            db.query_row(&count_recoverable_sql(), params!["org_a", "wh_1", 1_000, 5_000, 10_000, ""], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(&db), 2);
        let recover = |db: &Connection, limit: i64| -> Vec<String> {
            let mut s = db.prepare(&recover_sql()).unwrap();
            let ids = s
                .query_map(params!["org_a", "wh_1", 1_000, 5_000, limit, 6_000, ""], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            ids
        };
        assert_eq!(recover(&db, 1), vec!["dlv_a"]);
        assert_eq!(recover(&db, 10), vec!["dlv_b"]);
        assert!(recover(&db, 10).is_empty(), "a repeated step recovers nothing twice");
        let (status, attempts, chain_start, due): (String, i64, i64, i64) = db
            .query_row(
                "SELECT status, attempts, chain_start, next_attempt_at FROM deliveries WHERE id = 'dlv_a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((status.as_str(), attempts, chain_start, due), ("pending", 4, 4, 6_000));
        assert_eq!(count(&db), 0);
    }

    #[test]
    fn patterns_become_a_condition_that_matches_like_the_catalogue() {
        let db = db();
        for (id, t, at) in [
            ("evt_1", "lead.created", 10),
            ("evt_2", "deal.won", 20),
            ("evt_3", "zoom.recording.completed", 30),
            ("evt_4", "lead.updated", 40),
            ("evt_5", "contact.created", 50),
            ("evt_6", "edgehook.webhook.disabled", 60),
        ] {
            db.execute(
                "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
                 VALUES ('org_a', ?1, ?2, '{\"n\":1.50}', 't', ?3)",
                params![id, t, at],
            )
            .unwrap();
        }
        // evt_4 already has a delivery to wh_1.
        db.execute(
            "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, created_at, \
             updated_at) VALUES ('dlv_x', 'org_a', 'wh_1', 'evt_4', 'lead.updated', '{}', 'succeeded', 41, 41)",
            [],
        )
        .unwrap();
        let missed = |patterns: &[&str], after: &str| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            let condition = pattern_condition(&patterns).unwrap();
            let mut s = db.prepare(&missing_events_sql(&condition)).unwrap();
            let ids = s
                .query_map(params!["org_a", "wh_1", 0, 100, after, 100], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            ids
        };
        assert_eq!(missed(&["lead.*"], ""), vec!["evt_1"]);
        assert_eq!(missed(&["*"], ""), vec!["evt_1", "evt_2", "evt_3", "evt_5"], "* leaves out edgehook.*");
        assert_eq!(missed(&["edgehook.*"], ""), vec!["evt_6"]);
        assert_eq!(missed(&["webhook.disabled"], ""), vec!["evt_6"]);
        assert_eq!(missed(&["*", "edgehook.webhook.*"], ""), vec!["evt_1", "evt_2", "evt_3", "evt_5", "evt_6"]);
        assert_eq!(pattern_condition(&["zoom.*".into()]), None, "not a pattern the catalogue knows");
        assert_eq!(missed(&["zoom.recording.*", "deal.won"], ""), vec!["evt_2", "evt_3"]);
        assert_eq!(missed(&["*"], "evt_2"), vec!["evt_3", "evt_5"], "the cursor resumes after evt_2");
        assert_eq!(pattern_condition(&["lead.*'--".into()]), None);
        assert_eq!(pattern_condition(&[]).as_deref(), Some("0"));

        // Creating the missed deliveries skips an event that already has one; a repeat creates nothing.
        let insert = |ids: &[(&str, &str)]| -> Vec<String> {
            let mut values: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new("org_a"), Box::new("wh_1")];
            for (delivery, event) in ids {
                values.extend([
                    Box::new(delivery.to_string()) as Box<dyn rusqlite::ToSql>,
                    Box::new(event.to_string()),
                    Box::new("lead.created"),
                    Box::new("{\"n\":1.50}"),
                    Box::new(70),
                    Box::new(70),
                    Box::new(0),
                    Box::new(0),
                ]);
            }
            let mut s = db.prepare(&insert_missing_sql(ids.len())).unwrap();
            let created = s
                .query_map(rusqlite::params_from_iter(values.iter()), |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            created
        };
        assert_eq!(insert(&[("dlv_n1", "evt_1"), ("dlv_n4", "evt_4")]), vec!["dlv_n1"]);
        assert!(insert(&[("dlv_again", "evt_1")]).is_empty());
        assert_eq!(missed(&["lead.*"], ""), Vec::<String>::new());

        // An event whose round (schema v22) is still sending to wh_1 has no row for it yet, and is not missing; to
        // another webhook, or once the alarm has looked after the round, it is.
        db.execute(
            "UPDATE events SET round = json_array(json_array('00000001', 'wh_1')), round_lease = 99 WHERE id = 'evt_2'",
            [],
        )
        .unwrap();
        assert_eq!(missed(&["deal.won"], ""), Vec::<String>::new());
        assert!(insert(&[("dlv_n2", "evt_2")]).is_empty());
        db.execute("UPDATE events SET round = json_array(json_array('00000001', 'wh_9')) WHERE id = 'evt_2'", [])
            .unwrap();
        assert_eq!(missed(&["deal.won"], ""), vec!["evt_2"]);
        db.execute("UPDATE events SET round = json_array(json_array('00000001', 'wh_1')) WHERE id = 'evt_2'", [])
            .unwrap();
        db.execute("UPDATE organization SET rounds_from = (SELECT MAX(rowid) + 1 FROM events)", []).unwrap();
        assert_eq!(missed(&["deal.won"], ""), vec!["evt_2"]);
        assert_eq!(insert(&[("dlv_n2", "evt_2")]), vec!["dlv_n2"]);
    }
}
