//! The `events` table, the fan-out insert, and the KV fast path of idempotency.

use serde::{Deserialize, Serialize};
use worker::{D1Database, Env};

use super::{changed, int, opt_text, text};
use crate::domain::event::IncomingEvent;
use crate::error::ApiError;

/// One delivery to create with its event.
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: String,
    pub body: String,
}

/// What the first ingest of an event answered; replayed for duplicates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestRecord {
    pub deliveries: i64,
}

#[derive(Deserialize)]
struct EventRow {
    delivery_count: i64,
}

/// An event to insert with its deliveries; `token` is random per ingest call.
pub struct EventInsert<'a> {
    pub id: &'a str,
    pub event: &'a IncomingEvent,
    pub token: String,
    pub deliveries: Vec<NewDelivery>,
}

/// Statements per D1 transaction; larger ingests are split (each event stays whole within one).
const STATEMENTS_PER_BATCH: usize = 200;

/// Inserts events and their deliveries, one transaction per chunk. The unique (organization, id) key is the guard:
/// an event that already exists is not inserted, and its `false` comes back. Deliveries are inserted only if their
/// ingest's random token is the one stored, so a concurrent duplicate cannot add a second set.
pub async fn insert_many(
    db: &D1Database,
    org: &str,
    now: i64,
    inserts: &[EventInsert<'_>],
) -> Result<Vec<bool>, ApiError> {
    let mut inserted = Vec::with_capacity(inserts.len());
    let mut statements = Vec::new();
    let mut event_at = Vec::new();
    for (n, insert) in inserts.iter().enumerate() {
        let e = insert.event;
        event_at.push(statements.len());
        statements.push(
            db.prepare(
                "INSERT INTO events (organization_id, id, type, data, changes, delivery_count, ingest_token, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (organization_id, id) DO NOTHING",
            )
            .bind(&[
                text(org),
                text(insert.id),
                text(&e.event_type),
                text(&e.data),
                opt_text(e.changes.as_deref()),
                int(insert.deliveries.len() as i64),
                text(&insert.token),
                int(now),
            ])?,
        );
        for d in &insert.deliveries {
            statements.push(
                db.prepare(
                    "INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, body, status, attempts, \
                     next_attempt_at, created_at, updated_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7 \
                     WHERE EXISTS (SELECT 1 FROM events WHERE organization_id = ?2 AND id = ?4 AND ingest_token = ?8)",
                )
                .bind(&[text(&d.id), text(org), text(&d.webhook_id), text(insert.id), text(&e.event_type), text(&d.body), int(now), text(&insert.token)])?,
            );
        }
        let last = n + 1 == inserts.len();
        if last || statements.len() >= STATEMENTS_PER_BATCH {
            let results = db.batch(std::mem::take(&mut statements)).await?;
            inserted.extend(event_at.drain(..).map(|at| changed(results.get(at))));
        }
    }
    Ok(inserted)
}

/// The first ingest's answer for an existing event.
pub async fn existing(db: &D1Database, org: &str, id: &str) -> Result<Option<IngestRecord>, ApiError> {
    let row: Option<EventRow> = db
        .prepare("SELECT delivery_count FROM events WHERE organization_id = ?1 AND id = ?2")
        .bind(&[text(org), text(id)])?
        .first(None)
        .await?;
    Ok(row.map(|r| IngestRecord { deliveries: r.delivery_count }))
}

const IDEMPOTENCY_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

fn idempotency_key(org: &str, id: &str) -> String {
    // The length prefix keeps ("a:b", "c") and ("a", "b:c") apart.
    format!("idem:{}:{org}:{id}", org.len())
}

/// The KV fast path: a recent ingest of the same (organization, id). KV is eventually consistent, so a miss
/// proves nothing; D1's unique key decides.
pub async fn recent(env: &Env, org: &str, id: &str) -> Option<IngestRecord> {
    let kv = env.kv("KV").ok()?;
    kv.get(&idempotency_key(org, id)).json::<IngestRecord>().await.ok().flatten()
}

/// Remembers an ingest for seven days. Best effort: D1 stays the guard when KV is unavailable.
pub async fn remember(env: &Env, org: &str, id: &str, record: &IngestRecord) {
    let Ok(kv) = env.kv("KV") else { return };
    let Ok(value) = serde_json::to_string(record) else { return };
    if let Ok(put) = kv.put(&idempotency_key(org, id), value) {
        let _ = put.expiration_ttl(IDEMPOTENCY_TTL_SECONDS).execute().await;
    }
}

/// Keeps a message that could not be ingested, with its reason.
pub async fn record_dead_letter(
    db: &D1Database,
    queue: &str,
    body: &str,
    reason: &str,
    now: i64,
) -> Result<(), ApiError> {
    db.prepare("INSERT INTO dead_letters (queue, body, reason, created_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(&[text(queue), text(body), text(reason), int(now)])?
        .run()
        .await?;
    Ok(())
}
