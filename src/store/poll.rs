//! Polling endpoints: the tokens that read a polling webhook (D1 `poll_tokens`, found by their hash like API keys)
//! and its messages (`poll_messages` in the organization's object, schema v12).

use serde::Deserialize;

use super::webhooks::{WebhookRow, COLUMNS as WEBHOOK_COLUMNS};
use super::{batch, changed, first, int, is_caller_organization, opt_int, rows, rows_of, run, text};
use super::{Database, StoreError};
use crate::domain::ids::{EventId, OrganizationId, PollTokenId, WebhookId};

/// A token as stored: never the token itself; `hint` is its first characters, to tell tokens apart.
#[derive(Debug, Clone, Deserialize)]
pub struct PollTokenRow {
    pub id: PollTokenId,
    pub organization_id: OrganizationId,
    pub webhook_id: WebhookId,
    pub hint: String,
    pub created_at: i64,
}

const TOKEN_COLUMNS: &str = "id, organization_id, webhook_id, hint, created_at";

pub async fn insert_token(db: &Database, row: &PollTokenRow, token_hash: &str) -> Result<(), StoreError> {
    run(db
        .prepare(
            "INSERT INTO poll_tokens (id, organization_id, webhook_id, token_hash, hint, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&[
            text(&row.id),
            text(&row.organization_id),
            text(&row.webhook_id),
            text(token_hash),
            text(&row.hint),
            int(row.created_at),
        ])?)
    .await?;
    Ok(())
}

/// The webhook's tokens, newest first.
pub async fn tokens(db: &Database, org: &OrganizationId, webhook: &WebhookId) -> Result<Vec<PollTokenRow>, StoreError> {
    rows(
        db.prepare(format!(
            "SELECT {TOKEN_COLUMNS} FROM poll_tokens WHERE organization_id = ?1 AND webhook_id = ?2 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(&[text(org), text(webhook)])?,
    )
    .await
}

/// The token whose text hashes to `token_hash` (the token decides the organization and the webhook).
pub async fn find_token(db: &Database, token_hash: &str) -> Result<Option<PollTokenRow>, StoreError> {
    first(
        db.prepare(format!("SELECT {TOKEN_COLUMNS} FROM poll_tokens WHERE token_hash = ?1"))
            .bind(&[text(token_hash)])?,
    )
    .await
}

/// Revokes one token of the webhook; `false` if it has no such token.
pub async fn delete_token(
    db: &Database,
    org: &OrganizationId,
    webhook: &WebhookId,
    id: &PollTokenId,
) -> Result<bool, StoreError> {
    let deleted = run(db
        .prepare("DELETE FROM poll_tokens WHERE organization_id = ?1 AND webhook_id = ?2 AND id = ?3")
        .bind(&[text(org), text(webhook), text(id)])?)
    .await?;
    Ok(changed(Some(&deleted)))
}

/// Revokes every token of a webhook (it was deleted).
pub async fn delete_tokens_of(db: &Database, org: &OrganizationId, webhook: &WebhookId) -> Result<(), StoreError> {
    run(db
        .prepare("DELETE FROM poll_tokens WHERE organization_id = ?1 AND webhook_id = ?2")
        .bind(&[text(org), text(webhook)])?)
    .await?;
    Ok(())
}

/// One message waiting for a polling webhook's reader: its position and its event.
#[derive(Debug, Clone, Deserialize)]
pub struct PollMessageRow {
    pub seq: i64,
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: String,
    pub changes: Option<String>,
    pub created_at: i64,
}

/// What one read found: the webhook (none if it is not a polling webhook of the organization) and its messages.
pub struct PollPage {
    pub webhook: Option<WebhookRow>,
    pub messages: Vec<PollMessageRow>,
}

/// Reads up to `limit` messages of a polling webhook after `after` (its acknowledged position when `None`), in one
/// round trip. Reading after a position acknowledges every message up to it (never beyond the last message there
/// is, so a made-up cursor cannot skip messages not yet stored).
pub async fn read(
    db: &Database,
    org: &OrganizationId,
    webhook: &WebhookId,
    after: Option<i64>,
    limit: u32,
) -> Result<PollPage, StoreError> {
    let mut statements = Vec::with_capacity(3);
    if let Some(after) = after {
        statements.push(db.prepare(ack_sql()).bind(&[text(org), text(webhook), int(after)])?);
    }
    let webhook_at = statements.len();
    statements.push(
        db.prepare(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE {} AND id = ?2 AND destination = 'poll'",
            is_caller_organization("organization_id")
        ))
        .bind(&[text(org), text(webhook)])?,
    );
    statements.push(db.prepare(messages_sql()).bind(&[
        text(org),
        text(webhook),
        opt_int(after),
        int(i64::from(limit)),
    ])?);
    let results = batch(db, statements).await?;
    Ok(PollPage {
        webhook: rows_of::<WebhookRow>(&results, webhook_at)?.into_iter().next(),
        messages: rows_of(&results, webhook_at + 1)?,
    })
}

/// Acknowledges webhook `?2`'s messages up to `?3`, never past the last one stored.
fn ack_sql() -> String {
    format!(
        "UPDATE webhooks SET poll_acked = MIN(?3, (SELECT COALESCE(MAX(m.seq), 0) FROM poll_messages m \
         WHERE m.webhook_id = ?2)) WHERE {} AND id = ?2 AND destination = 'poll' AND poll_acked < ?3",
        is_caller_organization("organization_id")
    )
}

/// Up to `?4` messages of webhook `?2` after `?3` (its acknowledged position when null), with their events.
fn messages_sql() -> String {
    format!(
        "SELECT m.seq, m.event_id, e.type, e.data, e.changes, m.created_at FROM poll_messages m \
         JOIN events e ON e.organization_id = m.organization_id AND e.id = m.event_id \
         WHERE {} AND m.webhook_id = ?2 \
         AND m.seq > COALESCE(?3, (SELECT poll_acked FROM webhooks WHERE id = ?2)) ORDER BY m.seq LIMIT +?4",
        is_caller_organization("m.organization_id")
    )
}

/// Where a polling webhook's reader stands: the position acknowledged, the last message stored, how many wait after
/// the acknowledged position (counted up to [`PENDING_COUNTED`]), and when the oldest of them was stored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PollPosition {
    pub acked: i64,
    pub latest: i64,
    pub pending: i64,
    pub oldest_pending_at: Option<i64>,
}

/// A position counts at most this many waiting messages (a reader far behind shows "10,000 or more").
pub const PENDING_COUNTED: i64 = 10_000;

pub async fn position(db: &Database, org: &OrganizationId, webhook: &WebhookRow) -> Result<PollPosition, StoreError> {
    let found = first(db
        .prepare(format!(
            "SELECT ?3 AS acked, \
             (SELECT COALESCE(MAX(seq), ?3) FROM poll_messages WHERE webhook_id = ?2) AS latest, \
             (SELECT COUNT(*) FROM (SELECT 1 FROM poll_messages WHERE webhook_id = ?2 AND seq > ?3 LIMIT +?4)) AS pending, \
             (SELECT created_at FROM poll_messages WHERE webhook_id = ?2 AND seq > ?3 ORDER BY seq LIMIT 1) \
             AS oldest_pending_at FROM organization WHERE {}",
            is_caller_organization("id")
        ))
        .bind(&[text(org), text(&webhook.id), int(webhook.poll_acked), int(PENDING_COUNTED)])?)
    .await?;
    Ok(found.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// The object's SQL on SQLite: messages come in the order stored, a read after a position acknowledges up to it
    /// (never past the last message), and reading again with the same cursor finds the same messages.
    #[test]
    fn messages_are_read_in_order_and_acknowledged_up_to_the_cursor() {
        let db = crate::store::migrated_sqlite();
        db.execute(
            "INSERT INTO webhooks (id, organization_id, name, url, events, secret, created_at, updated_at, destination) \
             VALUES ('wh_p', 'org_a', 'p', '', '[\"*\"]', 's', 1, 1, 'poll')",
            [],
        )
        .unwrap();
        for i in 1..=5 {
            db.execute(
                "INSERT INTO events (organization_id, id, type, data, ingest_token, created_at) \
                 VALUES ('org_a', ?1, 'lead.created', '{}', 't', ?2)",
                params![format!("evt_{i}"), i],
            )
            .unwrap();
            db.execute(
                "INSERT INTO poll_messages (organization_id, webhook_id, event_id, created_at) VALUES ('org_a', 'wh_p', ?1, ?2)",
                params![format!("evt_{i}"), i],
            )
            .unwrap();
        }
        let page = |after: Option<i64>, limit: i64| -> Vec<String> {
            if let Some(after) = after {
                db.execute(&ack_sql(), params!["org_a", "wh_p", after]).unwrap();
            }
            let mut read = db.prepare(&messages_sql()).unwrap();
            read.query_map(params!["org_a", "wh_p", after, limit], |r| r.get("event_id"))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let acked = || -> i64 { db.query_row("SELECT poll_acked FROM webhooks", [], |r| r.get(0)).unwrap() };
        assert_eq!(page(None, 2), ["evt_1", "evt_2"]);
        assert_eq!(acked(), 0, "a read without a cursor acknowledges nothing");
        assert_eq!(page(Some(2), 2), ["evt_3", "evt_4"]);
        assert_eq!(page(Some(2), 2), ["evt_3", "evt_4"], "the same cursor, the same messages");
        assert_eq!(acked(), 2);
        assert_eq!(page(None, 10), ["evt_3", "evt_4", "evt_5"], "without a cursor: from the acknowledged position");
        assert_eq!(page(Some(99), 10), Vec::<String>::new());
        assert_eq!(acked(), 5, "never acknowledged past the last message");
        assert_eq!(page(Some(1), 10), ["evt_2", "evt_3", "evt_4", "evt_5"], "an older cursor still reads; acks stay");
        assert_eq!(acked(), 5);
    }
}
