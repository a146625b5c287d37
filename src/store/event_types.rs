//! The `event_types` table: an organization's own event catalogue (schema v11). The deployment's default types are
//! compiled in (`domain::catalogue::EVENT_TYPES`); a row named like one of them is the organization's version of it.

use serde::Deserialize;

use super::{
    batch, changed, first, flag, int, is_caller_organization, opt_text, rows, rows_of, run, text, Database, Param,
    StoreError,
};
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

/// What a create did.
pub enum Created {
    Row(EventTypeRow),
    /// The organization already has a type of that name.
    Exists,
    /// The organization holds `max` types already.
    LimitReached,
}

/// Creates the type unless the organization has one of that name or holds `max` already: the count, the insert and
/// the answer are one statement, so concurrent creates cannot overshoot; why nothing was written is read in the same
/// round trip.
pub async fn create(
    db: &Database,
    org: &OrganizationId,
    t: &EventTypeWrite<'_>,
    now: i64,
    max: usize,
) -> Result<Created, StoreError> {
    #[derive(Deserialize)]
    struct Existing {
        taken: i64,
    }
    let guard = format!("(SELECT COUNT(*) FROM event_types WHERE {}) < ?8", is_caller_organization("organization_id"));
    let mut binds = write_binds(org, t, now);
    binds.push(int(max as i64));
    let statements = vec![
        db.prepare(write_sql(&guard, "DO NOTHING")).bind(&binds)?,
        db.prepare(taken_sql()).bind(&[text(org), text(t.name)])?,
    ];
    let results = batch(db, statements).await?;
    if let Some(row) = rows_of::<EventTypeRow>(&results, 0)?.into_iter().next() {
        return Ok(Created::Row(row));
    }
    let exists = rows_of::<Existing>(&results, 1)?.first().is_some_and(|e| e.taken != 0);
    Ok(if exists { Created::Exists } else { Created::LimitReached })
}

/// Whether organization `?1` has a type named `?2` (`taken`, 0 or 1).
fn taken_sql() -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM event_types WHERE {} AND name = ?2) AS taken",
        is_caller_organization("organization_id")
    )
}

/// Writes the type whole (created if the organization had none of that name: its version of a default type);
/// answers it as stored.
pub async fn put(
    db: &Database,
    org: &OrganizationId,
    t: &EventTypeWrite<'_>,
    now: i64,
) -> Result<Option<EventTypeRow>, StoreError> {
    let on_conflict = "DO UPDATE SET description = excluded.description, schema = excluded.schema, \
                       example = excluded.example, deprecated = excluded.deprecated, updated_at = excluded.updated_at";
    first(db.prepare(write_sql("1", on_conflict)).bind(&write_binds(org, t, now))?).await
}

/// Inserts a type from `?1`…`?7` when `guard` holds, doing `on_conflict` if the organization has one of that name;
/// returns the row written.
fn write_sql(guard: &str, on_conflict: &str) -> String {
    format!(
        "INSERT INTO event_types (organization_id, name, description, schema, example, deprecated, created_at, \
         updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 WHERE {guard} \
         ON CONFLICT (organization_id, name) {on_conflict} RETURNING {COLUMNS}"
    )
}

fn write_binds(org: &OrganizationId, t: &EventTypeWrite<'_>, now: i64) -> Vec<Param> {
    vec![
        text(org),
        text(t.name),
        text(t.description),
        opt_text(t.schema),
        opt_text(t.example),
        flag(t.deprecated),
        int(now),
    ]
}

/// Deletes the organization's type; `false` if it had none of that name.
pub async fn delete(db: &Database, org: &OrganizationId, name: &str) -> Result<bool, StoreError> {
    let deleted = run(db
        .prepare(format!("DELETE FROM event_types WHERE {} AND name = ?2", is_caller_organization("organization_id")))
        .bind(&[text(org), text(name)])?)
    .await?;
    Ok(changed(Some(&deleted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// The create's guard and the put's upsert on SQLite: a create past `max` or of a name taken writes nothing and
    /// returns no row; a put returns the row as stored.
    #[test]
    fn a_create_is_guarded_by_the_count_and_the_name_and_a_put_returns_the_row() {
        let db = crate::store::migrated_sqlite();
        let guard =
            format!("(SELECT COUNT(*) FROM event_types WHERE {}) < ?8", is_caller_organization("organization_id"));
        let create = |name: &str, max: i64| -> Option<String> {
            db.query_row(
                &write_sql(&guard, "DO NOTHING"),
                params!["org_a", name, "d", None::<String>, None::<String>, 0, 1, max],
                |r| r.get("name"),
            )
            .ok()
        };
        assert_eq!(create("invoice.paid", 2).as_deref(), Some("invoice.paid"));
        assert_eq!(create("invoice.paid", 2), None, "a name taken");
        assert_eq!(create("invoice.sent", 2).as_deref(), Some("invoice.sent"));
        assert_eq!(create("invoice.void", 2), None, "past the limit");
        let taken =
            |name: &str| -> i64 { db.query_row(&taken_sql(), params!["org_a", name], |r| r.get("taken")).unwrap() };
        assert_eq!((taken("invoice.paid"), taken("invoice.void")), (1, 0), "why nothing was written");
        let on_conflict = "DO UPDATE SET description = excluded.description, updated_at = excluded.updated_at";
        let description: String = db
            .query_row(
                &write_sql("1", on_conflict),
                params!["org_a", "invoice.paid", "new", None::<String>, None::<String>, 0, 2],
                |r| r.get("description"),
            )
            .unwrap();
        assert_eq!(description, "new");
    }
}
