//! Every SQL statement (D1) and KV access, in one place, always parameterised and always scoped to an
//! organization where the data belongs to one.

pub mod api_keys;
pub mod carry;
pub mod deliveries;
pub mod events;
pub mod portal;
pub mod recovery;
pub mod settings;
pub mod webhooks;

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

use crate::domain::limits::D1_MAX_PARAMETERS;
use crate::usage;

/// A failure of D1 (or of reading a row as its type). Its text is for the log; whoever handles it decides what the
/// client or the queue sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "D1: {}", self.0)
    }
}

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        StoreError(e.to_string())
    }
}

pub fn db(env: &Env) -> Result<D1Database, StoreError> {
    Ok(env.d1("DB")?)
}

/// Text, or any id, as a bound parameter.
pub(crate) fn text(s: impl AsRef<str>) -> JsValue {
    JsValue::from_str(s.as_ref())
}

pub(crate) fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

pub(crate) fn int(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub(crate) fn opt_int(n: Option<i64>) -> JsValue {
    n.map_or(JsValue::NULL, int)
}

pub(crate) fn flag(b: bool) -> JsValue {
    int(i64::from(b))
}

/// Whether a write statement changed any row (a missing result or meta counts as no change).
pub(crate) fn changed(result: Option<&D1Result>) -> bool {
    result.and_then(|r| r.meta().ok().flatten()).and_then(|m| m.changes).unwrap_or(0) > 0
}

/// `?{first}, ?{first+1}, …` for an `IN (…)` list of `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// D1 binds at most 100 parameters per statement; id lists go in chunks below that, leaving room for a few more.
pub(crate) const IDS_PER_STATEMENT: usize = D1_MAX_PARAMETERS - 10;

fn count(statements: usize, results: &[D1Result]) {
    let (mut read, mut written) = (0, 0);
    for meta in results.iter().filter_map(|r| r.meta().ok().flatten()) {
        read += meta.rows_read.unwrap_or(0) as u64;
        written += meta.rows_written.unwrap_or(0) as u64;
    }
    usage::add(|u| {
        u.d1_calls += 1;
        u.d1_statements += statements as u64;
        u.d1_rows_read += read;
        u.d1_rows_written += written;
    });
}

/// Runs statements as one D1 batch: one round trip and one transaction (all apply or none).
pub(crate) async fn batch(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>, StoreError> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let n = statements.len();
    let results = db.batch(statements).await?;
    count(n, &results);
    Ok(results)
}

/// Runs one statement.
pub(crate) async fn run(statement: D1PreparedStatement) -> Result<D1Result, StoreError> {
    let result = statement.all().await?;
    count(1, std::slice::from_ref(&result));
    Ok(result)
}

/// The rows of one statement.
pub(crate) async fn rows<T: DeserializeOwned>(statement: D1PreparedStatement) -> Result<Vec<T>, StoreError> {
    Ok(run(statement).await?.results()?)
}

/// The first row of one statement.
pub(crate) async fn first<T: DeserializeOwned>(statement: D1PreparedStatement) -> Result<Option<T>, StoreError> {
    Ok(rows(statement).await?.into_iter().next())
}

/// A page of rows and the total matching, in one round trip: `page` selects the rows, `count` is a
/// `SELECT COUNT(*) AS total …` over the same filter (0 if it answers nothing).
pub(crate) async fn page_and_total<T: DeserializeOwned>(
    db: &D1Database,
    page: D1PreparedStatement,
    count: D1PreparedStatement,
) -> Result<(Vec<T>, i64), StoreError> {
    #[derive(serde::Deserialize)]
    struct Total {
        total: i64,
    }
    let results = batch(db, vec![page, count]).await?;
    let total = rows_of::<Total>(&results, 1)?.first().map_or(0, |t| t.total);
    Ok((rows_of(&results, 0)?, total))
}

/// The rows of the `index`th statement of a batch (none if it has no result).
pub(crate) fn rows_of<T: DeserializeOwned>(results: &[D1Result], index: usize) -> Result<Vec<T>, StoreError> {
    Ok(results.get(index).map(D1Result::results).transpose()?.unwrap_or_default())
}

/// The rows of `{select} WHERE id IN (…)` for every id, in chunks under D1's parameter limit, one round trip.
pub(crate) async fn select_by_ids<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    select: &str,
    ids: &[impl AsRef<str>],
) -> Result<Vec<T>, StoreError> {
    let mut statements = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let binds: Vec<_> = chunk.iter().map(text).collect();
        let sql = format!("{select} WHERE id IN ({})", placeholders(1, chunk.len()));
        statements.push(db.prepare(sql).bind(&binds)?);
    }
    let results = batch(db, statements).await?;
    let mut found = Vec::with_capacity(ids.len());
    for i in 0..results.len() {
        found.extend(rows_of::<T>(&results, i)?);
    }
    Ok(found)
}

/// SQLite in memory with every migration applied, for host tests of the store's SQL.
#[cfg(test)]
pub(crate) fn migrated_sqlite() -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    for migration in [
        include_str!("../../migrations/0001_init.sql"),
        include_str!("../../migrations/0002_delivery_integrity.sql"),
        include_str!("../../migrations/0003_api_keys.sql"),
        include_str!("../../migrations/0004_portal.sql"),
        include_str!("../../migrations/0005_operations.sql"),
        include_str!("../../migrations/0006_ordering.sql"),
        include_str!("../../migrations/0007_flow_control.sql"),
        include_str!("../../migrations/0008_pending_by_webhook.sql"),
    ] {
        db.execute_batch(migration).unwrap();
    }
    db
}
