//! Every SQL statement, in one place, always parameterised. An organization's data lives in its own SQLite (its
//! Durable Object, `org::Organization`); D1 keeps only what must be found across organizations.

/// The deliveries an ingest may still be sending itself (schema v16): written since the organization's
/// `in_flight_from`, pending, with no `next_attempt_at` and so no entry in `deliveries_pending`. Every such delivery
/// is at or past `in_flight_from`: the alarm moves it no further than the first of them.
macro_rules! in_flight {
    () => {
        "rowid >= (SELECT in_flight_from FROM organization) AND status = 'pending' AND next_attempt_at IS NULL"
    };
}

/// The `rowid` SQLite gives the next delivery (retention keeps the newest, so it only grows).
macro_rules! next_delivery_rowid {
    () => {
        "(SELECT COALESCE(MAX(rowid), 0) + 1 FROM deliveries)"
    };
}

/// The `rowid` SQLite gives the next event (retention keeps the newest, so it only grows).
macro_rules! next_event_rowid {
    () => {
        "(SELECT COALESCE(MAX(rowid), 0) + 1 FROM events)"
    };
}

pub mod api_keys;
pub mod deliveries;
pub mod event_types;
pub mod events;
pub mod poll;
pub mod portal;
pub mod recovery;
pub mod settings;
pub mod sql;
pub mod webhooks;

use serde::de::DeserializeOwned;
use worker::Env;

use crate::domain::ids::OrganizationId;
use crate::domain::limits::{D1_MAX_PARAMETERS, LIST_TOTAL_CAP};

pub use sql::{Database, Executed, Param, Statement};

/// A failure of storage (D1, an organization's object, or reading a row as its type). Its text is for the log;
/// whoever handles it decides what the client or the queue sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "storage: {}", self.0)
    }
}

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// The deployment's D1 database: only what must be found across organizations (API keys and portal sessions by
/// their hash, events the queue could not attribute to an organization).
pub fn global(env: &Env) -> Result<Database, StoreError> {
    Ok(Database::d1(env.d1("DB")?))
}

/// The organization's own SQLite, in its Durable Object (`org::Organization`): its webhooks, events, deliveries,
/// attempts and settings.
pub fn organization(env: &Env, org: &OrganizationId) -> Result<Database, StoreError> {
    Database::organization(env, org)
}

/// Text, or any id, as a bound parameter.
pub(crate) fn text(s: impl AsRef<str>) -> Param {
    Param::Text(s.as_ref().into())
}

pub(crate) fn opt_text(s: Option<&str>) -> Param {
    s.map_or(Param::Null, |s| Param::Text(s.into()))
}

pub(crate) fn int(n: i64) -> Param {
    Param::Int(n)
}

pub(crate) fn opt_int(n: Option<i64>) -> Param {
    n.map_or(Param::Null, int)
}

pub(crate) fn flag(b: bool) -> Param {
    int(i64::from(b))
}

/// Whether a write statement changed any row (a missing result counts as no change).
pub(crate) fn changed(result: Option<&Executed>) -> bool {
    result.is_some_and(|r| r.changes > 0)
}

/// `?{first}, ?{first+1}, …` for an `IN (…)` list of `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// D1 and Durable Object SQL bind at most 100 parameters per statement; id lists go in chunks below that, leaving
/// room for a few more.
pub(crate) const IDS_PER_STATEMENT: usize = D1_MAX_PARAMETERS - 10;

/// Runs statements as one batch: one round trip and one transaction (all apply or none).
pub(crate) async fn batch(db: &Database, statements: Vec<Statement>) -> Result<Vec<Executed>, StoreError> {
    db.batch(statements).await
}

/// Runs one statement.
pub(crate) async fn run(statement: Statement) -> Result<Executed, StoreError> {
    let db = statement.database().clone();
    let mut results = db.batch(vec![statement]).await?;
    results.pop().ok_or_else(|| StoreError("a statement answered nothing".into()))
}

/// The rows of one statement.
pub(crate) async fn rows<T: DeserializeOwned>(statement: Statement) -> Result<Vec<T>, StoreError> {
    run(statement).await?.results()
}

/// The first row of one statement.
pub(crate) async fn first<T: DeserializeOwned>(statement: Statement) -> Result<Option<T>, StoreError> {
    Ok(rows(statement).await?.into_iter().next())
}

/// How many rows match a list's filter, counted up to [`LIST_TOTAL_CAP`]: past it, `total` is the cap and `capped`
/// says there are more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListTotal {
    pub total: i64,
    pub capped: bool,
}

impl ListTotal {
    /// What a count that read at most the cap and one more found.
    pub fn of(counted: i64) -> Self {
        let cap = i64::from(LIST_TOTAL_CAP);
        Self { total: counted.min(cap), capped: counted > cap }
    }
}

/// `SELECT COUNT(*) AS total …` of the rows `select` answers, reading at most `limit` of them (an SQL expression: a
/// parameter bound to [`LIST_TOTAL_CAP`] + 1, see [`list_count_limit`]).
pub(crate) fn capped_count_sql(select: &str, limit: &str) -> String {
    format!("SELECT COUNT(*) AS total FROM ({select} LIMIT +{limit})")
}

/// The bound value of a capped count's limit: the cap and one more, which tells a list at the cap from one past it.
pub(crate) fn list_count_limit() -> Param {
    int(i64::from(LIST_TOTAL_CAP) + 1)
}

/// A page of a list: its rows (at most the limit it asked for), whether more follow them, and how many match.
pub struct ListPage<T> {
    pub rows: Vec<T>,
    pub more: bool,
    pub total: ListTotal,
}

/// Where a page of a list starts and how long it is: `limit` rows from the `offset`th on, of those stored before
/// `before` (a `rowid`, a previous page's iterator) if given.
pub struct PageAt {
    pub limit: u32,
    pub offset: u32,
    pub before: Option<i64>,
}

/// A page of a list and the total matching, in one round trip. Both statements take the list's `filter` first;
/// `page_sql` then takes the rows to read (one more than the limit, which tells whether the list goes on), the
/// offset and the `rowid` the page starts below; `count_sql` (a [`capped_count_sql`]) the most rows it counts.
pub(crate) async fn list_page<T: DeserializeOwned>(
    db: &Database,
    filter: &[Param],
    page_sql: &str,
    count_sql: &str,
    at: &PageAt,
) -> Result<ListPage<T>, StoreError> {
    let mut page_binds = filter.to_vec();
    page_binds.extend([int(i64::from(at.limit) + 1), int(at.offset.into()), int(at.before.unwrap_or(i64::MAX))]);
    let statements = vec![db.prepare(page_sql).bind(&page_binds)?, db.prepare(count_sql).bind(&count_binds(filter))?];
    let results = batch(db, statements).await?;
    let total = counted(&results, 1)?;
    let mut rows: Vec<T> = rows_of(&results, 0)?;
    let more = rows.len() > at.limit as usize;
    rows.truncate(at.limit as usize);
    Ok(ListPage { rows, more, total: ListTotal::of(total) })
}

/// The binds of a list's capped count ([`capped_count_sql`]): its `filter`, then the most rows it reads.
pub(crate) fn count_binds(filter: &[Param]) -> Vec<Param> {
    let mut binds = filter.to_vec();
    binds.push(list_count_limit());
    binds
}

/// What the capped count that is the `index`th statement of a batch counted.
pub(crate) fn counted(results: &[Executed], index: usize) -> Result<i64, StoreError> {
    #[derive(serde::Deserialize)]
    struct Total {
        total: i64,
    }
    Ok(rows_of::<Total>(results, index)?.first().map_or(0, |t| t.total))
}

/// The rows of the `index`th statement of a batch (none if it has no result).
pub(crate) fn rows_of<T: DeserializeOwned>(results: &[Executed], index: usize) -> Result<Vec<T>, StoreError> {
    Ok(results.get(index).map(Executed::results).transpose()?.unwrap_or_default())
}

/// A row that is one delivery id (`SELECT id …`, `RETURNING id`).
#[derive(serde::Deserialize)]
pub(crate) struct DeliveryIdRow {
    pub id: crate::domain::ids::DeliveryId,
}

/// The delivery ids one statement answers.
pub(crate) async fn delivery_ids(statement: Statement) -> Result<Vec<crate::domain::ids::DeliveryId>, StoreError> {
    Ok(rows::<DeliveryIdRow>(statement).await?.into_iter().map(|r| r.id).collect())
}

/// The rows of `{select} WHERE id IN (…)` for every id, in chunks under the parameter limit, one round trip (an
/// `UPDATE … SET …` prefix works the same way, answering no rows).
pub(crate) async fn select_by_ids<T: serde::de::DeserializeOwned>(
    db: &Database,
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

/// The organization an object holds, as a constant of a statement run in it (its one-row `organization` table).
pub(crate) const OBJECT_ORGANIZATION: &str = "(SELECT id FROM organization)";

/// The `rowid`s of the deliveries of one event, for `rowid IN (…)`: `event` and `stem` are SQL expressions for its id
/// and its `delivery_stem` (schema v17). An ingest's deliveries (`stemmed = 1`) are the range of the primary key's
/// index that their ids share (`dlv_` + the stem + the webhook's number in lowercase hex, so every id of the range
/// is below `dlv_` + the stem + `g`); the others (random ids, and deliveries written before v17) are in
/// `deliveries_by_event`. The two halves never both hold a row.
pub(crate) fn deliveries_of_event(event: &str, stem: &str) -> String {
    format!(
        "SELECT rowid FROM deliveries WHERE {} AND stemmed = 1 AND event_id = {event} \
         UNION ALL SELECT rowid FROM deliveries INDEXED BY deliveries_by_event \
         WHERE organization_id = {OBJECT_ORGANIZATION} AND event_id = {event} AND stemmed IS NULL",
        ids_with_prefix(&format!("'dlv_' || {stem}"))
    )
}

/// The id of the delivery that entry `j` (a row of `json_each(e.round)`) of event `event`'s round names.
pub(crate) fn round_entry_id(event: &str) -> String {
    format!("'dlv_' || {event}.delivery_stem || json_extract(j.value, '$[0]')")
}

/// The condition "round entry `j` holds its delivery's first attempt, which succeeded" (schema v23:
/// `[number, webhook, attempt]`). Such a delivery has no row: the record writes the attempt in the entry only where
/// none exists, and a manual retry moves it to a row it writes ([`deliveries::write_round_success`]).
pub(crate) const ROUND_ENTRY_SUCCEEDED: &str = "json_type(j.value, '$[2]') = 'object'";

/// A bound parameter (`?n`) written so that SQLite does not plan by its value: `+?n`, the same value. Written `?n`,
/// in some places SQLite's planner makes its plan depend on the bound value: compared with a `rowid` in a join with
/// `json_each`, as a `LIMIT` or `OFFSET`, or compared with a column of a table with a partial index whose condition
/// compares a column with a literal. Such a statement is compiled again on every run once its bindings are cleared,
/// which workerd does after each query (`sqlite3_clear_bindings`); with `+?n` the compiled statement is kept, and the
/// search is the same (check the query plan). Found with `perf` on the local runtime (SQLite compiling statements
/// again: 2 % of its CPU in the single-event shape) and checked with SQLite 3.54's `SQLITE_STMTSTATUS_REPREPARE`
/// (docs/data-plane.md). Statements written as text say `+?n` themselves; test them with `recompiles`.
pub(crate) fn kept_compiled(param: &str) -> String {
    format!("+{param}")
}

/// `FROM … WHERE …` of the entry `j` that holds delivery `id`'s success in the round of its event `e` at `position`
/// (schema v23; all SQL expressions, `position` NULL for an id that does not begin with one): one event by its
/// `rowid`, then its few entries. To be followed by a select's columns' use of `e` and `j`, or `AND` conditions.
///
/// A bound `position` (`?n`) is written through [`kept_compiled`].
pub(crate) fn round_success_of(position: &str, id: &str) -> String {
    let position = if position.starts_with('?') { kept_compiled(position) } else { position.to_string() };
    format!(
        "FROM events e, json_each(e.round) j WHERE e.rowid = {position} AND {} = {id} AND {ROUND_ENTRY_SUCCEEDED}",
        round_entry_id("e")
    )
}

/// The deliveries whose successful first attempt is in the round of events `e` (schema v23), from `from` (an SQL
/// `FROM` item that names `e`, such as `events e`), with the columns of `deliveries` ([`deliveries::COLUMNS`]; no
/// body: a list does not show it) and `position`, the event's `rowid`; to be followed by `AND` conditions.
pub(crate) fn round_successes(from: &str) -> String {
    format!(
        "SELECT e.rowid AS position, {} AS id, e.organization_id, \
           json_extract(j.value, '$[1]') AS webhook_id, e.id AS event_id, e.type AS event_type, '' AS body, \
           'succeeded' AS status, 1 AS attempts, 0 AS chain_start, \
           json_extract(j.value, '$[2].status_code') AS last_status_code, NULL AS last_error, \
           NULL AS next_attempt_at, NULL AS lease_until, 0 AS is_test, e.created_at, \
           COALESCE(json_extract(j.value, '$[2].created_at'), e.created_at) AS updated_at, 0 AS lost_attempts, \
           json_extract(j.value, '$[2]') AS first_attempt \
         FROM {from}, json_each(e.round) j WHERE {ROUND_ENTRY_SUCCEEDED}",
        round_entry_id("e")
    )
}

/// The condition "delivery `id` shows the result of its attempt number `attempts` with status `status`, finished (at
/// `at`, if given)": its row does, or, for a first attempt that succeeded and has no row (schema v23), its entry in
/// the round of its event at `position` holds it. All are SQL expressions; `position` is NULL for an id that does
/// not begin with its event's position ([`events::RoundRef::position_of`]).
pub(crate) fn shows_result(id: &str, attempts: &str, status: &str, position: &str, at: Option<&str>) -> String {
    let (row_at, entry_at) = match at {
        Some(at) => (format!("AND updated_at = {at}"), format!("AND json_extract(j.value, '$[2].created_at') = {at}")),
        None => (String::new(), String::new()),
    };
    format!(
        "(EXISTS (SELECT 1 FROM deliveries WHERE id = {id} AND attempts = {attempts} AND status = {status} \
           AND lease_until IS NULL {row_at}) \
         OR ({attempts} = 1 AND {status} = 'succeeded' AND EXISTS (SELECT 1 {} {entry_at})))",
        round_success_of(position, id)
    )
}

/// How many deliveries of an event's round (schema v22) have no row yet and no success in their entry (schema v23):
/// `rowid`, `stem` and `round` are SQL expressions for the event's `rowid`, `delivery_stem` and `round`. An event below
/// `organization.rounds_from` has none (the alarm wrote what its lost round left, or it had no round).
pub(crate) fn round_unwritten(rowid: &str, stem: &str, round: &str) -> String {
    format!(
        "(CASE WHEN {round} IS NOT NULL AND {rowid} >= (SELECT rounds_from FROM organization) \
           THEN (SELECT COUNT(*) FROM json_each({round}) u WHERE json_type(u.value, '$[2]') IS NULL \
             AND NOT EXISTS (SELECT 1 FROM deliveries WHERE id = 'dlv_' || {stem} || json_extract(u.value, '$[0]'))) \
           ELSE 0 END)"
    )
}

/// How many deliveries of an event's round (`round`, an SQL expression) have their successful first attempt in their
/// entry (schema v23): none of them has a row.
pub(crate) fn round_succeeded(round: &str) -> String {
    format!("(SELECT COUNT(*) FROM json_each({round}) u WHERE json_type(u.value, '$[2]') = 'object')")
}

/// The condition "the event's round lists webhook `webhook`'s delivery, and it has no row for a reason": its first
/// attempt may still be under way (schema v22: the event is not below `organization.rounds_from`), or it succeeded
/// and its entry holds the attempt (schema v23). It is not missing.
pub(crate) fn in_round(rowid: &str, round: &str, webhook: &str) -> String {
    format!(
        "(instr(COALESCE({round}, ''), '\"' || {webhook} || '\"') > 0 AND ({rowid} >= (SELECT rounds_from FROM organization) \
           OR EXISTS (SELECT 1 FROM json_each({round}) j WHERE json_extract(j.value, '$[1]') = {webhook} \
             AND {ROUND_ENTRY_SUCCEEDED})))"
    )
}

/// The deliveries of the round of events `e` that `condition` selects that have no row (schema v22), as the columns
/// of an event's deliveries ([`events::EventDelivery`]): pending, their first attempt under way, or succeeded with
/// their first attempt in their entry (schema v23).
pub(crate) fn unwritten_round_deliveries(condition: &str) -> String {
    let id = round_entry_id("e");
    format!(
        "SELECT {id} AS id, json_extract(j.value, '$[1]') AS webhook_id, w.name AS webhook_name, \
           CASE WHEN {ROUND_ENTRY_SUCCEEDED} THEN 'succeeded' ELSE 'pending' END AS status, \
           CASE WHEN {ROUND_ENTRY_SUCCEEDED} THEN 1 ELSE (e.round_lease IS NOT NULL) END AS attempts, \
           json_extract(j.value, '$[2].status_code') AS last_status_code, e.created_at, \
           COALESCE(json_extract(j.value, '$[2].created_at'), e.created_at) AS updated_at \
         FROM events e JOIN json_each(e.round) j LEFT JOIN webhooks w ON w.id = json_extract(j.value, '$[1]') \
         WHERE {condition} AND (e.rowid >= (SELECT rounds_from FROM organization) OR {ROUND_ENTRY_SUCCEEDED}) \
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = {id})"
    )
}

/// [`deliveries_of_event`] of a stored event, its stem read from its row: `org` and `event` are SQL expressions.
pub(crate) fn deliveries_of_stored_event(org: &str, event: &str) -> String {
    deliveries_of_event(
        event,
        &format!("(SELECT delivery_stem FROM events WHERE organization_id = {org} AND id = {event})"),
    )
}

/// The condition "the delivery's `id` starts with `prefix`" (an SQL expression ending in an event's stem) as a range
/// of the primary key's index: what follows the stem is the webhook's number in lowercase hex, below `g`.
pub(crate) fn ids_with_prefix(prefix: &str) -> String {
    format!("id >= {prefix} AND id < {prefix} || 'g'")
}

/// The `rowid` that the last time mark taken at or before `at` (an SQL expression) holds in `column` (`next_rowid`
/// for deliveries, `next_event_rowid` for events): every row of its table below it was written before that mark.
/// 0 with no such mark.
pub(crate) fn marked_rowid(column: &str, at: &str) -> String {
    format!("(SELECT COALESCE(MAX({column}), 0) FROM time_marks WHERE at <= {at})")
}

/// The `rowid` that the first time mark taken at or after `at` (an SQL expression) holds in `column`: every row of
/// its table written before `at` is below it. `otherwise` (an SQL expression) with no such mark.
pub(crate) fn marked_rowid_after(column: &str, at: &str, otherwise: &str) -> String {
    format!("(SELECT COALESCE(MIN({column}), {otherwise}) FROM time_marks WHERE at >= {at})")
}

/// How far the creation time of an event or a delivery (the ingest's clock) may lag behind the moment its object
/// wrote it, for bounds read from the time marks: an ingest stamps its rows before its call reaches the object.
pub(crate) const INGEST_CLOCK_SLACK_MS: i64 = 5 * 60_000;

/// The condition "event `e` may have been created in `[since, until)`" as bounds on its `rowid` from the time marks
/// (schema v18), for statements that then check `created_at` themselves: the events below the last mark taken before
/// `since` were written before it, and those from the first mark taken after `until` on were written after it, each
/// with [`INGEST_CLOCK_SLACK_MS`] to spare. `since` and `until` are SQL expressions, either may be NULL (unbounded).
pub(crate) fn events_window(e: &str, since: &str, until: &str) -> String {
    events_window_below(e, since, until, None)
}

/// [`events_window`], and below `below` (an SQL expression, a `rowid`) if given: one upper bound, so that a search
/// of the `rowid`s starts there.
pub(crate) fn events_window_below(e: &str, since: &str, until: &str, below: Option<&str>) -> String {
    let marked_until =
        marked_rowid_after("next_event_rowid", &format!("{until} + {INGEST_CLOCK_SLACK_MS}"), "9223372036854775807");
    let upper = match below {
        Some(below) => format!("MIN({marked_until}, {below})"),
        None => marked_until,
    };
    format!(
        "{e}.rowid >= {} AND {e}.rowid < {upper}",
        marked_rowid("next_event_rowid", &format!("{since} - {INGEST_CLOCK_SLACK_MS}"))
    )
}

/// How many `rowid`s of `events` one entry of `event_type_pages` covers (schema v21; the trigger divides by it).
pub(crate) const EVENT_TYPE_PAGE: i64 = 64;

/// How many `rowid`s of `deliveries` one entry of `webhook_pages` covers (schema v19; the trigger divides by it).
pub(crate) const WEBHOOK_PAGE: i64 = 64;

/// The `rowid`s of webhook `webhook`'s deliveries that `condition` (on `d`) selects, for `rowid IN (…)`: its pages
/// (`webhook_pages`, from page `from` on), newest first, and in each the page's `rowid`s, newest first (schema v19).
/// `webhook` and `from` are SQL expressions; `order_and_limit` ends the subquery (`""`, or an `ORDER BY … LIMIT …`).
pub(crate) fn webhook_deliveries(webhook: &str, from: &str, condition: &str, order_and_limit: &str) -> String {
    format!(
        "SELECT d.rowid FROM webhook_pages p JOIN deliveries d ON d.rowid >= p.page * {WEBHOOK_PAGE} \
         AND d.rowid < (p.page + 1) * {WEBHOOK_PAGE} WHERE p.webhook_id = {webhook} AND p.page >= {from} \
         AND +d.webhook_id = {webhook} AND {condition} {order_and_limit}"
    )
}

/// The condition "`column` is the caller's organization `?1`", for statements the Worker sends to an organization's
/// object. The index term compares with the object's own organization, and `?1`, the caller's, is checked beside it
/// without being offered to an index: with `column = ?1` indexable, SQLite propagated the bound value through the
/// statement and recompiled the ingest's statements on every execution (`sqlite3Reprepare`: 70-83 % of their
/// SQLite time in a workerd object, measured with `perf`; none this way). The object serves only requests that name
/// its organization, so the two agree; a statement that reached another object would still find nothing.
pub(crate) fn is_caller_organization(column: &str) -> String {
    format!("{column} = {OBJECT_ORGANIZATION} AND +{column} = ?1")
}

/// An organization's SQLite in memory at the latest schema version, for host tests of the store's SQL.
#[cfg(test)]
pub(crate) fn migrated_sqlite() -> rusqlite::Connection {
    let db = crate::org::schema::sqlite_at(crate::org::schema::VERSIONS, crate::org::schema::LATEST);
    // The object of `org_a`, as the host tests' statements name it.
    db.execute("INSERT INTO organization (id) VALUES ('org_a')", []).unwrap();
    db
}

/// Runs a statement as the object would, on a host SQLite (host tests): answers, for each row it returns, whether
/// its `applied` column (if any) is not 0, and how many rows it changed.
#[cfg(test)]
pub(crate) fn run_on_sqlite(db: &rusqlite::Connection, statement: &Statement) -> (Vec<bool>, usize) {
    applied_and_changed(&answer_on_sqlite(db, statement))
}

/// A statement's parameters as host SQLite binds them.
#[cfg(test)]
fn sqlite_params(statement: &Statement) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    statement
        .params
        .iter()
        .map(|p| match p {
            Param::Null => Value::Null,
            Param::Int(n) => Value::Integer(*n),
            Param::Real(x) => Value::Real(*x),
            Param::Text(s) => Value::Text(s.to_string()),
        })
        .collect()
}

/// Runs a statement on host SQLite and answers it as the organization's object does: its rows (as JSON objects) and
/// whether it changed rows (a read changes nothing: SQLite's count is the last write's).
#[cfg(test)]
fn answer_on_sqlite(db: &rusqlite::Connection, statement: &Statement) -> Executed {
    use rusqlite::types::ValueRef;
    let mut prepared = db.prepare(&statement.sql).unwrap();
    let read_only = prepared.readonly();
    let names: Vec<String> = prepared.column_names().map(str::to_string).collect();
    let mut rows = Vec::new();
    let mut query = prepared.query(rusqlite::params_from_iter(sqlite_params(statement))).unwrap();
    while let Some(row) = query.next().unwrap() {
        let mut object = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let value = match row.get_ref(i).unwrap() {
                ValueRef::Null => serde_json::Value::Null,
                ValueRef::Integer(n) => n.into(),
                ValueRef::Real(x) => x.into(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                ValueRef::Blob(_) => panic!("no statement of the store returns a blob"),
            };
            object.insert(name.clone(), value);
        }
        rows.push(serde_json::value::RawValue::from_string(serde_json::Value::Object(object).to_string()).unwrap());
    }
    drop(query);
    Executed { rows, changes: if read_only { 0 } else { db.changes() } }
}

/// For each row of an answer, whether its `applied` column (if any) is not the integer 0; and the rows it changed.
#[cfg(test)]
fn applied_and_changed(answer: &Executed) -> (Vec<bool>, usize) {
    let applied = answer
        .rows
        .iter()
        .map(|row| {
            let row: serde_json::Value = serde_json::from_str(row.get()).unwrap();
            row.get("applied") != Some(&serde_json::Value::from(0))
        })
        .collect();
    (applied, answer.changes as usize)
}

/// Runs a batch's statements in order on host SQLite ([`answer_on_sqlite`] each), skipping those marked
/// [`Statement::unless_changed`] whose statement changed rows, as the organization's object does (with `skipping`
/// false: running every one, as D1 does). Each statement's answer, a skipped one's empty.
#[cfg(test)]
fn answers_on_sqlite(db: &rusqlite::Connection, statements: &[Statement], skipping: bool) -> Vec<Executed> {
    let mut answers: Vec<Executed> = Vec::with_capacity(statements.len());
    for statement in statements {
        let skip = statement.skip_if_changed.is_some_and(|at| answers.get(at).is_some_and(|a| a.changes > 0));
        answers.push(if skipping && skip {
            Executed { rows: Vec::new(), changes: 0 }
        } else {
            answer_on_sqlite(db, statement)
        });
    }
    answers
}

/// One call's statements run on host SQLite and answered as the organization's object answers them
/// ([`answers_on_sqlite`], skipping as it does).
#[cfg(test)]
pub(crate) fn call_on_sqlite(db: &rusqlite::Connection, statements: &[Statement]) -> Vec<Executed> {
    answers_on_sqlite(db, statements, true)
}

/// [`answers_on_sqlite`], each answer as [`run_on_sqlite`] gives it.
#[cfg(test)]
pub(crate) fn run_batch_on_sqlite(
    db: &rusqlite::Connection,
    statements: &[Statement],
    skipping: bool,
) -> Vec<(Vec<bool>, usize)> {
    answers_on_sqlite(db, statements, skipping).iter().map(applied_and_changed).collect()
}

/// The query plan's details of `sql` on the migrated schema (parameters left unbound), for tests that check a
/// statement walks an index.
#[cfg(test)]
pub(crate) fn query_plan(sql: &str) -> Vec<String> {
    bound_query_plan(sql, &[])
}

/// [`query_plan`] with `values` bound first: SQLite plans a statement whose plan may depend on a bound value (a
/// partial index's condition) with the values, as it does when it compiles one again ([`recompiles`]).
#[cfg(test)]
pub(crate) fn bound_query_plan(sql: &str, values: &[rusqlite::types::Value]) -> Vec<String> {
    let db = migrated_sqlite();
    let mut statement = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    for (i, value) in values.iter().enumerate() {
        statement.raw_bind_parameter(i + 1, value).unwrap();
    }
    let mut rows = statement.raw_query();
    let mut details = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        details.push(row.get::<_, String>(3).unwrap());
    }
    details
}

/// How many times `sql` was compiled again over three runs on the migrated schema, each run as workerd makes it:
/// every binding cleared, then the parameters bound (`runs` gives each run's values, all text or numbers).
#[cfg(test)]
pub(crate) fn recompiles(sql: &str, runs: &[Vec<rusqlite::types::Value>]) -> i32 {
    let db = migrated_sqlite();
    let mut statement = db.prepare(sql).unwrap();
    for values in runs {
        statement.clear_bindings();
        for (i, value) in values.iter().enumerate() {
            statement.raw_bind_parameter(i + 1, value).unwrap();
        }
        let mut rows = statement.raw_query();
        while rows.next().unwrap().is_some() {}
    }
    statement.get_status(rusqlite::StatementStatus::RePrepare)
}

#[cfg(test)]
mod list_total_tests {
    use super::{ListTotal, LIST_TOTAL_CAP};

    #[test]
    fn a_list_counts_up_to_the_cap_and_says_when_there_are_more() {
        let cap = i64::from(LIST_TOTAL_CAP);
        assert_eq!(ListTotal::of(0), ListTotal { total: 0, capped: false });
        assert_eq!(ListTotal::of(cap), ListTotal { total: cap, capped: false });
        assert_eq!(ListTotal::of(cap + 1), ListTotal { total: cap, capped: true });
        assert_eq!(super::list_count_limit(), super::int(cap + 1), "the count reads one past the cap to tell");
    }
}

#[cfg(test)]
mod plan_tests {
    use rusqlite::types::Value;

    /// `bound_query_plan` plans with the values bound, so the tests that compare a statement's plan with its `?n`
    /// form's see a partial index that only a bound value selects.
    #[test]
    fn a_bound_plan_uses_a_partial_index_only_when_the_value_matches_its_condition() {
        let sql = "SELECT id FROM deliveries WHERE webhook_id = ?1 AND status = ?2 AND next_attempt_at IS NOT NULL";
        let plan = |status: &str| super::bound_query_plan(sql, &[Value::Text("wh".into()), Value::Text(status.into())]);
        let pending_index = |details: &[String]| details.iter().any(|d| d.contains("USING INDEX deliveries_pending"));
        assert!(pending_index(&plan("pending")), "{:?}", plan("pending"));
        assert!(!pending_index(&plan("failed")), "{:?}", plan("failed"));
        assert!(!pending_index(&super::query_plan(sql)), "unbound, SQLite cannot know");
    }
}
