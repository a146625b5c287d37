//! Every SQL statement (D1) and KV access, in one place, always parameterised and always scoped to an
//! organization where the data belongs to one.

pub mod deliveries;
pub mod events;
pub mod webhooks;

use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1Result, Env};

use crate::error::ApiError;

pub fn db(env: &Env) -> Result<D1Database, ApiError> {
    env.d1("DB").map_err(ApiError::internal)
}

pub(crate) fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
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

/// D1 binds at most 100 parameters per statement; id lists are read in chunks below that.
pub(crate) const IDS_PER_STATEMENT: usize = 90;

/// The rows of `{select} WHERE id IN (…)` for every id, read in chunks under D1's parameter limit.
pub(crate) async fn select_by_ids<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    select: &str,
    ids: &[&str],
) -> Result<Vec<T>, ApiError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let binds: Vec<_> = chunk.iter().map(|id| text(id)).collect();
        let sql = format!("{select} WHERE id IN ({})", placeholders(1, chunk.len()));
        rows.extend(db.prepare(sql).bind(&binds)?.all().await?.results::<T>()?);
    }
    Ok(rows)
}
