//! The `event_types` table: an organization's own event catalogue (schema v11). The deployment's default types are
//! compiled in (`domain::catalogue::EVENT_TYPES`); a row named like one of them is the organization's version of it.

use serde::Deserialize;

use super::{changed, first, flag, int, is_caller_organization, opt_text, rows, run, text, Database, StoreError};
use crate::domain::ids::OrganizationId;

/// One stored event type. `schema` and `example` are JSON text.
#[derive(Debug, Clone, Deserialize)]
pub struct EventTypeRow {
    pub name: String,
    pub description: String,
    pub schema: Option<String>,
    pub example: Option<String>,
    pub deprecated: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a create or an update writes.
pub struct EventTypeWrite<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub schema: Option<&'a str>,
    pub example: Option<&'a str>,
    pub deprecated: bool,
}

const COLUMNS: &str = "name, description, schema, example, deprecated, created_at, updated_at";

/// Every type the organization defined, by name.
pub async fn list(db: &Database, org: &OrganizationId) -> Result<Vec<EventTypeRow>, StoreError> {
    rows(
        db.prepare(format!(
            "SELECT {COLUMNS} FROM event_types WHERE {} ORDER BY name",
            is_caller_organization("organization_id")
        ))
        .bind(&[text(org)])?,
    )
    .await
}

/// The names the organization defined (for checking subscription patterns).
pub async fn names(db: &Database, org: &OrganizationId) -> Result<Vec<String>, StoreError> {
    #[derive(Deserialize)]
    struct Name {
        name: String,
    }
    let found: Vec<Name> = rows(
        db.prepare(format!("SELECT name FROM event_types WHERE {}", is_caller_organization("organization_id")))
            .bind(&[text(org)])?,
    )
    .await?;
    Ok(found.into_iter().map(|n| n.name).collect())
}

pub async fn get(db: &Database, org: &OrganizationId, name: &str) -> Result<Option<EventTypeRow>, StoreError> {
    first(
        db.prepare(format!(
            "SELECT {COLUMNS} FROM event_types WHERE {} AND name = ?2",
            is_caller_organization("organization_id")
        ))
        .bind(&[text(org), text(name)])?,
    )
    .await
}

/// Creates the type; `false` if the organization already has one of that name.
pub async fn create(db: &Database, org: &OrganizationId, t: &EventTypeWrite<'_>, now: i64) -> Result<bool, StoreError> {
    write(db, org, t, now, "DO NOTHING").await
}

/// Writes the type whole (created if the organization had none of that name: its version of a default type).
pub async fn put(db: &Database, org: &OrganizationId, t: &EventTypeWrite<'_>, now: i64) -> Result<(), StoreError> {
    let on_conflict = "DO UPDATE SET description = excluded.description, schema = excluded.schema, \
                       example = excluded.example, deprecated = excluded.deprecated, updated_at = excluded.updated_at";
    write(db, org, t, now, on_conflict).await.map(drop)
}

/// Inserts the type, doing `on_conflict` if the organization has one of that name; whether a row was written.
async fn write(
    db: &Database,
    org: &OrganizationId,
    t: &EventTypeWrite<'_>,
    now: i64,
    on_conflict: &str,
) -> Result<bool, StoreError> {
    let written = run(db
        .prepare(format!(
            "INSERT INTO event_types (organization_id, name, description, schema, example, deprecated, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (organization_id, name) {on_conflict}"
        ))
        .bind(&[
            text(org),
            text(t.name),
            text(t.description),
            opt_text(t.schema),
            opt_text(t.example),
            flag(t.deprecated),
            int(now),
        ])?)
    .await?;
    Ok(changed(Some(&written)))
}

/// Deletes the organization's type; `false` if it had none of that name.
pub async fn delete(db: &Database, org: &OrganizationId, name: &str) -> Result<bool, StoreError> {
    let deleted = run(db
        .prepare(format!("DELETE FROM event_types WHERE {} AND name = ?2", is_caller_organization("organization_id")))
        .bind(&[text(org), text(name)])?)
    .await?;
    Ok(changed(Some(&deleted)))
}
