//! The `api_keys` table: keys are found by the SHA-256 of their text, listed and revoked within an organization.

use super::Database;
use serde::Deserialize;

use super::{changed, first, int, rows, run, text, StoreError};
use crate::auth::Role;
use crate::domain::ids::{ApiKeyId, OrganizationId};

/// A key as stored: never the key itself.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

const COLUMNS: &str = "id, organization_id, name, role, created_at";

pub async fn insert(db: &Database, row: &ApiKeyRow, key_hash: &str) -> Result<(), StoreError> {
    run(db
        .prepare("INSERT INTO api_keys (id, organization_id, name, role, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(&[text(&row.id), text(&row.organization_id), text(&row.name), text(row.role.as_str()), text(key_hash), int(row.created_at)])?)
    .await?;
    Ok(())
}

/// The organization's keys, newest first.
pub async fn list(db: &Database, org: &OrganizationId) -> Result<Vec<ApiKeyRow>, StoreError> {
    rows(
        db.prepare(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE organization_id = ?1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(&[text(org)])?,
    )
    .await
}

/// The key whose text hashes to `key_hash`, whatever its organization (the key decides the organization).
pub async fn find(db: &Database, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    first(db.prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1")).bind(&[text(key_hash)])?).await
}

/// Revokes (deletes) one of the organization's keys; `false` if it has no such key.
pub async fn delete(db: &Database, org: &OrganizationId, id: &ApiKeyId) -> Result<bool, StoreError> {
    let result =
        run(db.prepare("DELETE FROM api_keys WHERE organization_id = ?1 AND id = ?2").bind(&[text(org), text(id)])?)
            .await?;
    Ok(changed(Some(&result)))
}
