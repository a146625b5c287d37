//! The `organization_settings` table: one row per organization that has set anything.

use super::Database;
use serde::Deserialize;

use super::{first, int, opt_text, run, text, StoreError};
use crate::domain::ids::OrganizationId;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Settings {
    pub alert_email: Option<String>,
    pub updated_at: Option<i64>,
}

/// The organization's settings (all unset if it never saved any).
pub async fn get(db: &Database, org: &OrganizationId) -> Result<Settings, StoreError> {
    let statement = db
        .prepare("SELECT alert_email, updated_at FROM organization_settings WHERE organization_id = ?1")
        .bind(&[text(org)])?;
    Ok(first(statement).await?.unwrap_or_default())
}

/// Sets (or clears, with `None`) the alert address.
pub async fn set_alert_email(
    db: &Database,
    org: &OrganizationId,
    alert_email: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    run(db
        .prepare(
            "INSERT INTO organization_settings (organization_id, alert_email, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (organization_id) DO UPDATE SET alert_email = excluded.alert_email, updated_at = excluded.updated_at",
        )
        .bind(&[text(org), opt_text(alert_email), int(now)])?)
    .await?;
    Ok(())
}
