//! The `deliveries` and `attempts` tables: delivery state (D1 is its source of truth), the attempt log, the
//! sweeper's queries and the statistics.

use serde::Deserialize;
use worker::D1Database;

use super::{changed, flag, int, opt_int, opt_text, placeholders, select_by_ids, text, IDS_PER_STATEMENT};
use crate::error::ApiError;

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub organization_id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub is_test: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttemptRow {
    pub id: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, organization_id, webhook_id, event_id, event_type, body, status, attempts, last_status_code, \
    last_error, next_attempt_at, is_test, created_at, updated_at";

/// One delivery of one of the organization's webhooks.
pub async fn get_scoped(
    db: &D1Database,
    org: &str,
    webhook_id: &str,
    id: &str,
) -> Result<Option<DeliveryRow>, ApiError> {
    Ok(db
        .prepare(format!("SELECT {COLUMNS} FROM deliveries WHERE organization_id = ?1 AND webhook_id = ?2 AND id = ?3"))
        .bind(&[text(org), text(webhook_id), text(id)])?
        .first(None)
        .await?)
}

/// Takes the right to make the next attempt: counts it and leases the delivery until `lease_until`, only if it is
/// pending and due. At most one attempt per due time, however many queue messages or sweeps arrive for it.
pub async fn claim(db: &D1Database, id: &str, now: i64, lease_until: i64) -> Result<Option<DeliveryRow>, ApiError> {
    Ok(claim_many(db, &[id], now, lease_until).await?.pop().flatten())
}

/// [`claim`] for every id of a queue batch, one statement per chunk of ids; the answers come back in the ids'
/// order (a repeated id is claimed once).
pub async fn claim_many(
    db: &D1Database,
    ids: &[&str],
    now: i64,
    lease_until: i64,
) -> Result<Vec<Option<DeliveryRow>>, ApiError> {
    let mut rows: Vec<DeliveryRow> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let mut binds = vec![int(now), int(lease_until)];
        binds.extend(chunk.iter().map(|id| text(id)));
        let sql = format!(
            "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?2, updated_at = ?1 \
             WHERE id IN ({}) AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) RETURNING {COLUMNS}",
            placeholders(3, chunk.len())
        );
        rows.extend(db.prepare(sql).bind(&binds)?.all().await?.results::<DeliveryRow>()?);
    }
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        let position = rows.iter().position(|r| r.id == *id);
        claimed.push(position.map(|p| rows.swap_remove(p)));
    }
    Ok(claimed)
}

/// Deliveries by id (for messages that found nothing to claim).
pub async fn get_many(db: &D1Database, ids: &[&str]) -> Result<Vec<DeliveryRow>, ApiError> {
    select_by_ids(db, &format!("SELECT {COLUMNS} FROM deliveries"), ids).await
}

/// Makes a delivery due now (manual retry), whatever its state.
pub async fn make_due(db: &D1Database, org: &str, id: &str, now: i64) -> Result<(), ApiError> {
    db.prepare(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = ?3, updated_at = ?3 WHERE organization_id = ?1 AND id = ?2",
    )
    .bind(&[text(org), text(id), int(now)])?
    .run()
    .await?;
    Ok(())
}

/// Creates a delivery that is sent at once (test sends), already claimed for its first attempt.
pub async fn insert_claimed(db: &D1Database, d: &DeliveryRow) -> Result<(), ApiError> {
    db.prepare(
        "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
         next_attempt_at, is_test, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7, ?8, ?9, ?9)",
    )
    .bind(&[
        text(&d.id),
        text(&d.organization_id),
        text(&d.webhook_id),
        text(&d.event_id),
        text(&d.event_type),
        text(&d.body),
        opt_int(d.next_attempt_at),
        flag(d.is_test != 0),
        int(d.created_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// The result of one attempt and what follows from it.
pub struct AttemptRecord<'a> {
    pub attempt_id: &'a str,
    pub delivery: &'a DeliveryRow,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
    /// `succeeded`, `failed` or `pending` (a retry is scheduled at `next_attempt_at`).
    pub new_status: &'a str,
    pub next_attempt_at: Option<i64>,
    /// How the webhook's consecutive failure count changes: reset on success, +1 on exhaustion.
    pub webhook_counter: Counter,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Keep,
    Reset,
    Increment,
}

/// Attempt rows per multi-row INSERT (8 parameters each, under D1's 100).
const ATTEMPTS_PER_STATEMENT: usize = 12;

/// Writes attempts, their deliveries' new states and their webhooks' failure counts in one transaction. Attempts
/// go in multi-row inserts and deliveries that end alike (most often: all succeeded with 200) share one update, so
/// a queue batch costs a handful of statements. For each record whose counter changed, the webhook's count
/// afterwards comes back (in order; `None` where it did not change).
pub async fn record_attempts(db: &D1Database, records: &[AttemptRecord<'_>]) -> Result<Vec<Option<i64>>, ApiError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut statements = Vec::new();
    for chunk in records.chunks(ATTEMPTS_PER_STATEMENT) {
        let rows = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 8 + 1, 8))).collect::<Vec<_>>().join(", ");
        let mut binds = Vec::with_capacity(chunk.len() * 8);
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
            ]);
        }
        let sql = format!("INSERT INTO attempts (id, delivery_id, attempt, status_code, duration_ms, response_body, error, created_at) VALUES {rows}");
        statements.push(db.prepare(sql).bind(&binds)?);
    }
    // Deliveries whose new state is the same share an update.
    let mut groups: Vec<(&AttemptRecord<'_>, Vec<&str>)> = Vec::new();
    for r in records {
        let same = |g: &&mut (&AttemptRecord<'_>, Vec<&str>)| {
            let k = g.0;
            k.new_status == r.new_status
                && k.status_code == r.status_code
                && k.error == r.error
                && k.next_attempt_at == r.next_attempt_at
                && k.now == r.now
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(group) => group.1.push(&r.delivery.id),
            None => groups.push((r, vec![&r.delivery.id])),
        }
    }
    for (r, ids) in &groups {
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut binds = vec![
                text(r.new_status),
                opt_int(r.status_code.map(i64::from)),
                opt_text(r.error),
                opt_int(r.next_attempt_at),
                int(r.now),
            ];
            binds.extend(chunk.iter().map(|id| text(id)));
            let sql = format!(
                "UPDATE deliveries SET status = ?1, last_status_code = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5 WHERE id IN ({})",
                placeholders(6, chunk.len())
            );
            statements.push(db.prepare(sql).bind(&binds)?);
        }
    }
    let mut counter_at = Vec::with_capacity(records.len());
    for r in records {
        let counter_sql = match r.webhook_counter {
            Counter::Keep => {
                counter_at.push(None);
                continue;
            }
            Counter::Reset => "0",
            Counter::Increment => "consecutive_failures + 1",
        };
        counter_at.push(Some(statements.len()));
        statements.push(
            db.prepare(format!(
                "UPDATE webhooks SET consecutive_failures = {counter_sql} WHERE organization_id = ?1 AND id = ?2 RETURNING consecutive_failures"
            ))
            .bind(&[text(&r.delivery.organization_id), text(&r.delivery.webhook_id)])?,
        );
    }
    let results = db.batch(statements).await?;
    #[derive(Deserialize)]
    struct Count {
        consecutive_failures: i64,
    }
    Ok(counter_at
        .into_iter()
        .map(|at| {
            at.and_then(|i| results.get(i))
                .and_then(|r| r.results::<Count>().ok())
                .and_then(|rows| rows.first().map(|c| c.consecutive_failures))
        })
        .collect())
}

/// Disables a webhook that reached the failure threshold; `true` only for the call that disabled it.
pub async fn disable_webhook(
    db: &D1Database,
    org: &str,
    webhook_id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let result = db
        .prepare("UPDATE webhooks SET is_active = 0, disabled_reason = ?3, updated_at = ?4 WHERE organization_id = ?1 AND id = ?2 AND is_active = 1")
        .bind(&[text(org), text(webhook_id), text(reason), int(now)])?
        .run()
        .await?;
    Ok(changed(Some(&result)))
}

/// Marks a delivery failed without an attempt (its webhook is gone or disabled).
pub async fn abandon(db: &D1Database, id: &str, reason: &str, now: i64) -> Result<(), ApiError> {
    db.prepare("UPDATE deliveries SET status = 'failed', last_error = ?2, next_attempt_at = NULL, updated_at = ?3 WHERE id = ?1 AND status = 'pending'")
        .bind(&[text(id), text(reason), int(now)])?
        .run()
        .await?;
    Ok(())
}

/// Filters of the delivery log.
pub struct LogQuery<'a> {
    pub org: &'a str,
    pub webhook_id: &'a str,
    pub status: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub limit: u32,
    pub offset: u32,
}

/// A page of the log, newest first, and the total matching.
pub async fn list(db: &D1Database, q: &LogQuery<'_>) -> Result<(Vec<DeliveryRow>, i64), ApiError> {
    let filter =
        "organization_id = ?1 AND webhook_id = ?2 AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR event_type = ?4)";
    let binds = [text(q.org), text(q.webhook_id), opt_text(q.status), opt_text(q.event_type)];
    let mut page_binds = binds.to_vec();
    page_binds.extend([int(q.limit.into()), int(q.offset.into())]);
    let results = db
        .batch(vec![
            db.prepare(format!(
                "SELECT {COLUMNS} FROM deliveries WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT ?5 OFFSET ?6"
            ))
            .bind(&page_binds)?,
            db.prepare(format!("SELECT COUNT(*) AS total FROM deliveries WHERE {filter}")).bind(&binds)?,
        ])
        .await?;
    #[derive(Deserialize)]
    struct Total {
        total: i64,
    }
    let rows = results.first().map(|r| r.results::<DeliveryRow>()).transpose()?.unwrap_or_default();
    let total =
        results.get(1).map(|r| r.results::<Total>()).transpose()?.and_then(|t| t.first().map(|t| t.total)).unwrap_or(0);
    Ok((rows, total))
}

pub async fn attempts(db: &D1Database, delivery_id: &str) -> Result<Vec<AttemptRow>, ApiError> {
    Ok(db
        .prepare("SELECT id, attempt, status_code, duration_ms, response_body, error, created_at FROM attempts WHERE delivery_id = ?1 ORDER BY attempt, created_at")
        .bind(&[text(delivery_id)])?
        .all()
        .await?
        .results()?)
}

/// Pending deliveries whose next attempt is overdue (their queue message was lost or expired).
pub async fn overdue(db: &D1Database, before: i64, limit: u32) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Vec<Id> = db
        .prepare("SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at < ?1 ORDER BY next_attempt_at LIMIT ?2")
        .bind(&[int(before), int(limit.into())])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Deletes attempts (and finished deliveries) older than the retention window.
pub async fn prune(db: &D1Database, before: i64) -> Result<(), ApiError> {
    db.batch(vec![
        db.prepare("DELETE FROM attempts WHERE created_at < ?1").bind(&[int(before)])?,
        db.prepare("DELETE FROM deliveries WHERE status != 'pending' AND updated_at < ?1").bind(&[int(before)])?,
    ])
    .await?;
    Ok(())
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
pub async fn stats(db: &D1Database, org: &str, since: i64) -> Result<Stats, ApiError> {
    let stats: Option<Stats> = db
        .prepare(
            "SELECT \
               (SELECT COUNT(*) FROM webhooks WHERE organization_id = ?1) AS webhooks_total, \
               (SELECT COUNT(*) FROM webhooks WHERE organization_id = ?1 AND is_active = 1) AS webhooks_active, \
               COUNT(*) AS deliveries_total, \
               SUM(status = 'succeeded') AS deliveries_succeeded, \
               SUM(status = 'failed') AS deliveries_failed, \
               SUM(status = 'pending') AS deliveries_pending, \
               (SELECT AVG(a.duration_ms) FROM attempts a JOIN deliveries d2 ON d2.id = a.delivery_id \
                  WHERE d2.organization_id = ?1 AND a.created_at >= ?2) AS avg_response_ms \
             FROM deliveries WHERE organization_id = ?1 AND created_at >= ?2",
        )
        .bind(&[text(org), int(since)])?
        .first(None)
        .await?;
    Ok(stats.unwrap_or_default())
}
