//! The `portal_sessions` table: a session is found by the SHA-256 of its token while it has not expired, and every
//! session of an organization ends at once on revoke.

use super::Database;
use serde::Deserialize;

use super::{first, flag, int, run, text, StoreError};
use crate::domain::ids::OrganizationId;
use crate::domain::model::flag as bool_flag;

/// A live session: whose it is and what it may do.
#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub organization_id: OrganizationId,
    #[serde(deserialize_with = "bool_flag")]
    pub read_only: bool,
    pub expires_at: i64,
}

pub async fn insert(db: &Database, token_hash: &str, session: &PortalSession, now: i64) -> Result<(), StoreError> {
    run(db
        .prepare(
            "INSERT INTO portal_sessions (token_hash, organization_id, read_only, expires_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&[
            text(token_hash),
            text(&session.organization_id),
            flag(session.read_only),
            int(session.expires_at),
            int(now),
        ])?)
    .await?;
    Ok(())
}

/// The session whose token hashes to `token_hash`, if it exists and has not expired at `now`.
pub async fn find(db: &Database, token_hash: &str, now: i64) -> Result<Option<PortalSession>, StoreError> {
    first(
        db.prepare(
            "SELECT organization_id, read_only, expires_at FROM portal_sessions WHERE token_hash = ?1 AND expires_at > ?2",
        )
        .bind(&[text(token_hash), int(now)])?,
    )
    .await
}

/// Ends every session of the organization; returns how many there were.
pub async fn revoke_all(db: &Database, org: &OrganizationId) -> Result<u64, StoreError> {
    let result = run(db.prepare("DELETE FROM portal_sessions WHERE organization_id = ?1").bind(&[text(org)])?).await?;
    Ok(result.changes)
}
