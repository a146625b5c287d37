//! Where a statement runs. The store's functions build [`Statement`]s and run them in batches (one round trip, one
//! transaction: all apply or none) against a [`Database`], which is one of:
//! - the deployment's D1 database (what must be found across organizations),
//! - an organization's Durable Object, from the Worker: the batch travels in one Workers RPC to the object, which
//!   runs it inside `transactionSync` against its own SQLite ([`execute_local`]),
//! - that SQLite itself, from inside the object (its alarm's housekeeping).
//!
//! The same SQL runs on all three (SQLite's dialect), so the store's functions do not care which.

use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::js_sys::{self, Array, Function, JsString};
use worker::wasm_bindgen::{self, prelude::*, JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, Env};

use super::StoreError;
use crate::domain::ids::OrganizationId;
use crate::usage;

/// A bound parameter: what D1 and Durable Object SQL accept (integers travel as JavaScript numbers; every integer
/// edgehook binds, times and counts, is far below 2^53). It travels as the JSON value itself (`null`, a number, a
/// string).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Null,
    Int(i64),
    Real(f64),
    /// Shared, not copied, by the statements that bind the same text (an ingest's six statements each bind its
    /// event's payload).
    Text(Rc<str>),
}

impl Param {
    fn to_js(&self) -> JsValue {
        match self {
            Param::Null => JsValue::NULL,
            Param::Int(n) => JsValue::from_f64(*n as f64),
            Param::Real(x) => JsValue::from_f64(*x),
            Param::Text(s) => JsValue::from_str(s),
        }
    }
}

/// One SQL statement with its parameters, bound to the database it will run on.
#[derive(Debug, Clone)]
pub struct Statement {
    database: Database,
    pub sql: String,
    pub params: Vec<Param>,
    pub filters: FilterStep,
    /// Skipped by the organization's object when the statement at this index of its batch changed rows: see
    /// [`Statement::unless_changed`].
    pub skip_if_changed: Option<usize>,
}

/// A statement's part in payload filtering (`domain::filter`). Filters are evaluated in Rust on the exact event
/// text, inside the organization's object and the batch's transaction, so a fan-out still takes one round trip:
/// one statement lists the (event, webhook, filter) pairs to evaluate, and later statements of the batch are handed
/// the pairs whose filter did not match, the misses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum FilterStep {
    #[default]
    None,
    /// Its rows are `event_id, webhook_id, filter, type, data, changes`: each filter is evaluated on its event; the
    /// pairs that do not match join the misses.
    Evaluate,
    /// Its parameter `?n` is set to the misses so far: `"\n<event id>\t<webhook id>\n"` for each, `""` for none (see
    /// [`not_missed`]).
    Bind(usize),
    /// Its rows are `event_id, type, data, is_default, defined, schema`: events the organization's catalogue may
    /// refuse (a type neither default nor defined; `data` failing the type's schema, which a subscribed webhook asked
    /// to be checked). Each refused event joins the misses as `"\n<event id>\t!\n"` (so it is not inserted), and the
    /// statement answers the refusals instead (`event_id, code, message, field`).
    Validate,
}

/// The webhook column of a refused event's miss ([`FilterStep::Validate`]): no webhook id is `!`.
pub const REFUSED: &str = "!";

/// [`REFUSED`] as an SQL literal.
pub fn refused_sql() -> String {
    format!("'{REFUSED}'")
}

impl FilterStep {
    fn is_none(&self) -> bool {
        *self == FilterStep::None
    }
}

/// The SQL condition "the pair (`event`, `webhook`) is not a filter miss", with `?misses` the parameter bound to
/// them ([`FilterStep::Bind`]). An empty text (no webhook of the batch has a filter) decides at once.
pub fn not_missed(misses: usize, event: &str, webhook: &str) -> String {
    format!("(?{misses} = '' OR instr(?{misses}, char(10) || {event} || char(9) || {webhook} || char(10)) = 0)")
}

/// A text parameter at least this long that a batch binds again (an event's payload, which an ingest's statements
/// each bind: its validation, its filters, its insert, its deliveries, its pollers and its claim read it) travels
/// once: a later statement's binding of the same text (the same `Rc`) travels as a reference to the first
/// ([`WireParam::Same`]). A 256 KiB event made an ingest's call 1.5 MB, built, escaped and parsed six times over;
/// shorter texts are left as they are, so the object walks no parameters for a batch of small events.
const SHARED_TEXT_BYTES: usize = 1024;

/// A parameter as it travels: the value itself, or the place (statement, parameter) in the batch of an earlier
/// parameter with the same text.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WireParam {
    Value(Param),
    Same { same: [usize; 2] },
}

/// A statement as it travels to an organization's object (which reads it as JavaScript values: [`JsStatement`]).
#[derive(Debug, Serialize)]
pub struct WireStatement {
    pub sql: String,
    pub params: Vec<WireParam>,
    /// Some parameter is a [`WireParam::Same`]: the object looks at this statement's parameters only then.
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub shares: bool,
    #[serde(skip_serializing_if = "FilterStep::is_none")]
    pub filters: FilterStep,
    #[serde(rename = "skip", skip_serializing_if = "Option::is_none")]
    pub skip_if_changed: Option<usize>,
}

/// A statement as `sql.exec` takes it: its text and bindings already JavaScript values.
pub struct JsStatement {
    sql: JsString,
    params: Array,
    filters: FilterStep,
    skip_if_changed: Option<usize>,
}

impl JsStatement {
    fn of(s: &Statement) -> JsStatement {
        JsStatement {
            sql: JsString::from(s.sql.as_str()),
            params: s.params.iter().map(Param::to_js).collect(),
            filters: s.filters,
            skip_if_changed: s.skip_if_changed,
        }
    }

    /// The statements of a batch from their JSON text (an array of [`WireStatement`]s), parsed by the runtime's own
    /// `JSON.parse` and kept as JavaScript values: what `sql.exec` takes, with no copy into WebAssembly memory and no
    /// JavaScript string made again from Rust for each statement's text and parameters.
    pub fn parse_all(text: &JsString) -> Result<Vec<JsStatement>, String> {
        let parsed = json_parse(text).map_err(|e| format!("bad batch: {}", describe(&e)))?;
        let statements: Array = parsed.dyn_into().map_err(|_| "bad batch: not an array of statements".to_string())?;
        let mut read: Vec<JsStatement> = Vec::with_capacity(statements.length() as usize);
        for (i, s) in statements.iter().enumerate() {
            let statement = JsStatement::read(&s, &read).map_err(|e| format!("bad batch: statement {i}: {e}"))?;
            read.push(statement);
        }
        Ok(read)
    }

    /// One statement of a batch; `earlier` are the ones before it, which its shared parameters name.
    fn read(statement: &JsValue, earlier: &[JsStatement]) -> Result<JsStatement, String> {
        WIRE_KEYS.with(|keys| {
            let get = |key: &JsValue| js_sys::Reflect::get(statement, key).unwrap_or(JsValue::UNDEFINED);
            let sql: JsString = get(&keys.sql).dyn_into().map_err(|_| "no sql text".to_string())?;
            // A parameter other than null, a number or a string (none that `Param` writes) makes `sql.exec` throw,
            // which rolls the batch back and says why.
            let params: Array = get(&keys.params).dyn_into().map_err(|_| "no params array".to_string())?;
            if get(&keys.shares).is_truthy() {
                share(&params, &keys.same, earlier)?;
            }
            let filters = get(&keys.filters);
            let filters = if filters.is_undefined() {
                FilterStep::None
            } else if let Some(step) = filters.as_string() {
                match step.as_str() {
                    "Evaluate" => FilterStep::Evaluate,
                    "Validate" => FilterStep::Validate,
                    other => return Err(format!("unknown filter step {other}")),
                }
            } else {
                let n = js_sys::Reflect::get(&filters, &keys.bind).ok().and_then(|n| n.as_f64());
                match n {
                    Some(n) if n >= 1.0 && n.fract() == 0.0 => FilterStep::Bind(n as usize),
                    _ => return Err("unknown filter step".into()),
                }
            };
            // An index that is not a whole number runs the statement: skipping is only ever a saving.
            let skip_if_changed =
                get(&keys.skip).as_f64().filter(|n| *n >= 0.0 && n.fract() == 0.0).map(|n| n as usize);
            Ok(JsStatement { sql, params, filters, skip_if_changed })
        })
    }
}

/// The field names of a [`WireStatement`] (and of [`FilterStep::Bind`]) as JavaScript strings, made once.
struct WireKeys {
    sql: JsValue,
    params: JsValue,
    filters: JsValue,
    bind: JsValue,
    skip: JsValue,
    shares: JsValue,
    same: JsValue,
}

/// Puts in place of each shared parameter ([`WireParam::Same`]) the value it names in an earlier statement (or an
/// earlier parameter of this one, already in place): the runtime's same string, not a copy.
fn share(params: &Array, same: &JsValue, earlier: &[JsStatement]) -> Result<(), String> {
    for k in 0..params.length() {
        let param = params.get(k);
        if !param.is_object() {
            continue;
        }
        let place = js_sys::Reflect::get(&param, same).ok().and_then(|p| p.dyn_into::<Array>().ok());
        let index = |n: u32| place.as_ref().and_then(|p| p.get(n).as_f64()).filter(|n| *n >= 0.0 && n.fract() == 0.0);
        let (Some(at), Some(j)) = (index(0), index(1)) else { return Err("a shared parameter names no place".into()) };
        let (at, j) = (at as usize, j as u32);
        let value = match earlier.get(at) {
            Some(statement) if j < statement.params.length() => statement.params.get(j),
            None if at == earlier.len() && j < k => params.get(j),
            _ => return Err(format!("a shared parameter names ({at}, {j}), which is not before it")),
        };
        if !value.is_string() {
            return Err(format!("a shared parameter names ({at}, {j}), which is not a text"));
        }
        params.set(k, value);
    }
    Ok(())
}

thread_local! {
    static WIRE_KEYS: WireKeys = WireKeys {
        sql: JsValue::from_str("sql"),
        params: JsValue::from_str("params"),
        filters: JsValue::from_str("filters"),
        bind: JsValue::from_str("Bind"),
        skip: JsValue::from_str("skip"),
        shares: JsValue::from_str("shares"),
        same: JsValue::from_str("same"),
    };
}

impl Statement {
    /// Binds the parameters (`?1`, `?2`, … in order).
    pub fn bind(mut self, params: &[Param]) -> Result<Statement, StoreError> {
        self.params = params.to_vec();
        Ok(self)
    }

    /// Marks the statement as one that changes and returns nothing when the statement at `at` of its batch (an
    /// earlier one) changed rows, such as the general form of a write that a cheaper one before it may have done
    /// already. The organization's object then skips it (its result: no rows, no changes); D1, or an object
    /// deployed before this, runs it, to the same effect. So the mark saves work and never changes an outcome.
    pub fn unless_changed(mut self, at: usize) -> Statement {
        self.skip_if_changed = Some(at);
        self
    }

    /// Marks the statement's part in payload filtering ([`FilterStep`]).
    pub fn filtering(mut self, step: FilterStep) -> Statement {
        self.filters = step;
        self
    }

    pub fn database(&self) -> &Database {
        &self.database
    }
}

/// What one statement answered: its rows (JSON objects by column name, kept as their text until a caller reads
/// them as its type, so each is parsed once) and how many rows it changed.
#[derive(Debug, Default, Deserialize)]
pub struct Executed {
    #[serde(default)]
    pub rows: Vec<Box<serde_json::value::RawValue>>,
    /// Rows the statement wrote (D1: `changes`; an object's SQLite: `rowsWritten`, which also counts index entries).
    /// Only "any" or "none" is read from it.
    #[serde(default)]
    pub changes: u64,
}

impl Executed {
    /// The rows as `T`.
    pub fn results<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.rows.iter().map(|row| serde_json::from_str(row.get()).map_err(StoreError::from)).collect()
    }
}

#[derive(Debug, Clone)]
enum Target {
    D1(Rc<D1Database>),
    Organization { stub: Rc<ObjectStub>, org: OrganizationId },
    Local(JsValue),
}

/// Where statements run (see the module's doc). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database(Target);

/// The binding of the organizations' Durable Objects (`wrangler.toml`).
pub const ORGANIZATIONS_BINDING: &str = "ORGANIZATIONS";
/// The header that names the organization in a request to its object (the object's name is the same id).
pub const ORGANIZATION_HEADER: &str = "x-edgehook-organization";

impl Database {
    pub fn d1(db: D1Database) -> Database {
        Database(Target::D1(Rc::new(db)))
    }

    /// The organization's object, addressed by its id (`idFromName`): created on first use, nothing to set up.
    pub fn organization(env: &Env, org: &OrganizationId) -> Result<Database, StoreError> {
        let stub = env.durable_object(ORGANIZATIONS_BINDING)?.id_from_name(org.as_str())?.get_stub()?;
        Ok(Database(Target::Organization { stub: Rc::new(stub.into_rpc()), org: org.clone() }))
    }

    /// The object's own SQLite, from inside it: `storage` is its `ctx.storage`.
    pub fn local(storage: JsValue) -> Database {
        Database(Target::Local(storage))
    }

    pub fn prepare(&self, sql: impl Into<String>) -> Statement {
        Statement {
            database: self.clone(),
            sql: sql.into(),
            params: Vec::new(),
            filters: FilterStep::None,
            skip_if_changed: None,
        }
    }

    /// Runs the statements as one transaction, in one round trip; answers in order.
    pub async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Executed>, StoreError> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let n = statements.len() as u64;
        match &self.0 {
            Target::D1(db) => {
                let mut prepared = Vec::with_capacity(statements.len());
                for s in &statements {
                    let binds: Vec<JsValue> = s.params.iter().map(Param::to_js).collect();
                    prepared.push(db.prepare(&s.sql).bind(&binds)?);
                }
                let results = db.batch(prepared).await?;
                let mut out = Vec::with_capacity(results.len());
                let (mut read, mut written) = (0, 0);
                for r in &results {
                    let meta = r.meta().ok().flatten();
                    read += meta.as_ref().and_then(|m| m.rows_read).unwrap_or(0) as u64;
                    written += meta.as_ref().and_then(|m| m.rows_written).unwrap_or(0) as u64;
                    let changes = meta.and_then(|m| m.changes).unwrap_or(0) as u64;
                    let rows = r.results::<serde_json::Value>()?;
                    let rows = rows.iter().map(serde_json::value::to_raw_value).collect::<Result<_, _>>()?;
                    out.push(Executed { rows, changes });
                }
                usage::add(|u| {
                    u.d1_calls += 1;
                    u.d1_statements += n;
                    u.d1_rows_read += read;
                    u.d1_rows_written += written;
                });
                Ok(out)
            }
            Target::Organization { stub, org } => {
                let body = wire_text(statements)?;
                usage::add(|u| {
                    u.object_calls += 1;
                    u.object_statements += n;
                });
                // Workers RPC (`Organization::rpc_batch`), not an HTTP request to the object: no `Request`, headers,
                // `cf` or body streams to build and read on either side.
                let refused = |e: JsValue| StoreError(format!("organization {org}: {}", describe(&e)));
                let answer =
                    JsFuture::from(stub.batch(org.as_str(), &body).map_err(refused)?).await.map_err(refused)?;
                Ok(serde_json::from_str(&answer.as_string().unwrap_or_default())?)
            }
            Target::Local(storage) => {
                let statements = statements.iter().map(JsStatement::of).collect();
                let answer = execute_local(storage, statements).map_err(|e| StoreError(describe(&e)))?;
                Ok(serde_json::from_str(&answer.text)?)
            }
        }
    }
}

/// Statements as they travel to an organization's object, each long text once ([`SHARED_TEXT_BYTES`]).
fn wire(statements: Vec<Statement>) -> Vec<WireStatement> {
    let mut out: Vec<WireStatement> = Vec::with_capacity(statements.len());
    // Where each long text travels whole: (statement, parameter).
    let mut whole: Vec<[usize; 2]> = Vec::new();
    for (i, s) in statements.into_iter().enumerate() {
        let mut shares = false;
        let mut params = Vec::with_capacity(s.params.len());
        for (j, param) in s.params.into_iter().enumerate() {
            let Param::Text(text) = &param else {
                params.push(WireParam::Value(param));
                continue;
            };
            if text.len() < SHARED_TEXT_BYTES {
                params.push(WireParam::Value(param));
                continue;
            }
            // The same text is the same allocation: the statement builders share one (`Param::Text` holds an `Rc`).
            // Comparing contents instead would cost a batch of 100 similar events millions of bytes compared.
            let earlier = |[at, k]: &[usize; 2]| {
                let earlier = if *at == i { params.get(*k) } else { out.get(*at).and_then(|w| w.params.get(*k)) };
                matches!(earlier, Some(WireParam::Value(Param::Text(t))) if Rc::ptr_eq(t, text))
            };
            match whole.iter().find(|place| earlier(place)) {
                Some(&same) => {
                    shares = true;
                    params.push(WireParam::Same { same });
                }
                None => {
                    whole.push([i, j]);
                    params.push(WireParam::Value(param));
                }
            }
        }
        out.push(WireStatement { sql: s.sql, params, shares, filters: s.filters, skip_if_changed: s.skip_if_changed });
    }
    out
}

/// The JSON text of a batch's call, written into one buffer of about its size: growing a buffer of a large event's
/// batch by doubling left the Worker's WebAssembly memory (which never shrinks) several times larger than what it held.
fn wire_text(statements: Vec<Statement>) -> Result<String, serde_json::Error> {
    let statements = wire(statements);
    let params: usize = statements
        .iter()
        .flat_map(|s| &s.params)
        .map(|p| match p {
            WireParam::Value(Param::Text(t)) => t.len() + 2,
            _ => 24,
        })
        .sum();
    let size = statements.iter().map(|s| s.sql.len() + 48).sum::<usize>() + params;
    let mut text = Vec::with_capacity(size + size / 8);
    serde_json::to_writer(&mut text, &statements)?;
    // serde_json writes UTF-8 only.
    String::from_utf8(text).map_err(|_| <serde_json::Error as serde::ser::Error>::custom("a batch that is not UTF-8"))
}

#[wasm_bindgen]
extern "C" {
    /// A stub of an organization's object, as the runtime gives it.
    #[derive(Debug)]
    type ObjectStub;
    /// `Organization::rpc_batch` through Workers RPC.
    #[wasm_bindgen(method, catch)]
    fn batch(this: &ObjectStub, organization: &str, statements: &str) -> Result<js_sys::Promise, JsValue>;

    type ObjectStorage;
    #[wasm_bindgen(method, getter)]
    fn sql(this: &ObjectStorage) -> ObjectSql;
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(this: &ObjectStorage, work: &Function) -> Result<JsValue, JsValue>;

    type ObjectSql;
    #[wasm_bindgen(method, catch, variadic)]
    fn exec(this: &ObjectSql, query: &JsString, bindings: &Array) -> Result<Cursor, JsValue>;

    type Cursor;
    #[wasm_bindgen(method, js_name = toArray)]
    fn to_array(this: &Cursor) -> Array;
    #[wasm_bindgen(method, getter, js_name = rowsRead)]
    fn rows_read(this: &Cursor) -> f64;
    #[wasm_bindgen(method, getter, js_name = rowsWritten)]
    fn rows_written(this: &Cursor) -> f64;

    /// `JSON.parse` of a JavaScript string as it is (`js_sys::JSON::parse` takes a Rust `&str`, copied out again).
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsString) -> Result<JsValue, JsValue>;
}

/// A row's column as text (`None`: absent, null or not text).
fn field(row: &JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(row, &JsValue::from_str(name)).ok().and_then(|v| v.as_string())
}

/// A row's 0/1 column as a flag.
fn flag_field(row: &JsValue, name: &str) -> bool {
    js_sys::Reflect::get(row, &JsValue::from_str(name)).ok().and_then(|v| v.as_f64()).is_some_and(|n| n != 0.0)
}

/// The misses among rows of a [`FilterStep::Evaluate`] statement, in [`not_missed`]'s form.
fn filter_misses(rows: &Array) -> String {
    let mut misses = String::new();
    for row in rows.iter() {
        let (Some(event_id), Some(webhook_id)) = (field(&row, "event_id"), field(&row, "webhook_id")) else { continue };
        // No filter: every event of its types.
        let Some(filter) = field(&row, "filter") else { continue };
        let data = field(&row, "data").unwrap_or_default();
        let (event_type, changes) = (field(&row, "type").unwrap_or_default(), field(&row, "changes"));
        let view = crate::domain::filter::EventView {
            id: &event_id,
            event_type: &event_type,
            data: &data,
            changes: changes.as_deref(),
        };
        if !crate::domain::filter::stored_matches(&filter, &view) {
            misses.push_str(&crate::domain::filter::miss(&event_id, &webhook_id));
        }
    }
    misses
}

/// The refusals among rows of a [`FilterStep::Validate`] statement, as rows `event_id, code, message, field`; each
/// refused event joins `misses`.
fn validation_refusals(rows: &Array, misses: &mut String) -> Result<Array, JsValue> {
    let refusals = Array::new();
    for row in rows.iter() {
        let Some(event_id) = field(&row, "event_id") else { continue };
        let event_type = field(&row, "type").unwrap_or_default();
        let candidate = crate::domain::schema::Candidate {
            event_type: &event_type,
            is_default: flag_field(&row, "is_default"),
            defined: flag_field(&row, "defined"),
            schema: field(&row, "schema"),
            data: &field(&row, "data").unwrap_or_default(),
        };
        let Some(refused) = crate::domain::schema::judge(&candidate, &crate::platform::SchemaEngine) else { continue };
        misses.push_str(&crate::domain::filter::miss(&event_id, REFUSED));
        let out = js_sys::Object::new();
        js_sys::Reflect::set(&out, &"event_id".into(), &JsValue::from_str(&event_id))?;
        js_sys::Reflect::set(&out, &"code".into(), &JsValue::from_str(refused.code))?;
        js_sys::Reflect::set(&out, &"message".into(), &JsValue::from_str(&refused.message))?;
        let at = refused.field.as_deref().map_or(JsValue::NULL, JsValue::from_str);
        js_sys::Reflect::set(&out, &"field".into(), &at)?;
        refusals.push(&out);
    }
    Ok(refusals)
}

/// The text of a JavaScript error (or whatever was thrown).
pub fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// What a batch answered inside the object.
pub struct LocalAnswer {
    /// The JSON text of the statements' results, in order: `[{"rows": [...], "changes": n}, …]`.
    pub text: String,
    /// Rows the batch wrote (index entries included).
    pub rows_written: u64,
}

/// Runs one statement of a batch inside [`execute_local`]'s transaction, with its part in payload filtering
/// (`misses`: the filter misses so far): its rows, and the rows it read and wrote.
fn run_one(
    sql: &ObjectSql,
    query: &JsString,
    bindings: &Array,
    step: FilterStep,
    misses: &mut String,
) -> Result<(Array, u64, u64), JsValue> {
    if let FilterStep::Bind(n) = step {
        bindings.set(n.saturating_sub(1) as u32, JsValue::from_str(misses));
    }
    let cursor = sql.exec(query, bindings)?;
    let mut rows = cursor.to_array();
    match step {
        FilterStep::Evaluate => {
            misses.push_str(&filter_misses(&rows));
            rows = Array::new();
        }
        FilterStep::Validate => rows = validation_refusals(&rows, misses)?,
        FilterStep::None | FilterStep::Bind(_) => {}
    }
    // Read after the rows: a cursor counts as it is consumed.
    Ok((rows, cursor.rows_read() as u64, cursor.rows_written() as u64))
}

/// Runs statements against an object's SQLite in one `transactionSync` (all apply or none: a failing statement
/// rolls back the ones before it). SQL storage refuses `BEGIN`, and writes without an `await` between them only
/// commit together if none fails; `transactionSync` is the platform's way to get both.
pub fn execute_local(storage: &JsValue, statements: Vec<JsStatement>) -> Result<LocalAnswer, JsValue> {
    let storage: &ObjectStorage = storage.unchecked_ref();
    let sql = storage.sql();
    let rows_counted: Rc<core::cell::Cell<(u64, u64)>> = Rc::default();
    let results = Array::new();
    let work = {
        let (results, rows_counted) = (results.clone(), rows_counted.clone());
        Closure::<dyn FnMut() -> Result<JsValue, JsValue>>::new(move || {
            let mut misses = String::new();
            let mut changed = Vec::with_capacity(statements.len());
            for JsStatement { sql: query, params: bindings, filters: step, skip_if_changed } in &statements {
                // A skipped statement answers no rows and no changes.
                let skipped = skip_if_changed.is_some_and(|at| changed.get(at).copied().unwrap_or(false));
                let (rows, read, written) =
                    if skipped { (Array::new(), 0, 0) } else { run_one(&sql, query, bindings, *step, &mut misses)? };
                changed.push(written > 0);
                let result = js_sys::Object::new();
                js_sys::Reflect::set(&result, &"rows".into(), &rows)?;
                js_sys::Reflect::set(&result, &"changes".into(), &JsValue::from_f64(written as f64))?;
                results.push(&result);
                let (r, w) = rows_counted.get();
                rows_counted.set((r + read, w + written));
            }
            Ok(JsValue::UNDEFINED)
        })
    };
    // Runs the closure at once, synchronously; a statement that throws rolls the whole batch back.
    storage.transaction_sync(work.as_ref().unchecked_ref())?;
    let (read, written) = rows_counted.get();
    usage::add(|u| {
        u.object_rows_read += read;
        u.object_rows_written += written;
    });
    let text =
        js_sys::JSON::stringify(&results)?.as_string().ok_or_else(|| JsValue::from_str("results are not text"))?;
    Ok(LocalAnswer { text, rows_written: written })
}

#[cfg(test)]
mod tests {
    use super::Param;

    /// The object hands each parameter to `sql.exec` as `JSON.parse` reads it: null, a number or a string.
    #[test]
    fn a_parameter_travels_as_the_json_value_itself() {
        let params = vec![
            Param::Null,
            Param::Int(-7),
            Param::Int(1_733_400_000_000),
            Param::Real(0.25),
            Param::Text("{\"quote\":\"\\\"\",\"n\":1}".into()),
            Param::Text("".into()),
        ];
        let json = serde_json::to_string(&params).unwrap();
        assert_eq!(json, r#"[null,-7,1733400000000,0.25,"{\"quote\":\"\\\"\",\"n\":1}",""]"#);
        let read: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        let expected = [
            serde_json::Value::Null,
            serde_json::json!(-7),
            serde_json::json!(1_733_400_000_000_i64),
            serde_json::json!(0.25),
            serde_json::json!("{\"quote\":\"\\\"\",\"n\":1}"),
            serde_json::json!(""),
        ];
        assert_eq!(read, expected);
    }

    /// A long text that later statements (or a later parameter of the same one) bind again travels once; each later
    /// copy names the first one's place, short texts and other values travel as they are, and the batch's text is
    /// far shorter than with every copy.
    #[test]
    fn a_long_text_bound_again_travels_once() {
        use super::{wire, wire_text, Database, Param, WireParam, SHARED_TEXT_BYTES};
        use worker::wasm_bindgen::JsValue;
        let db = Database::local(JsValue::NULL);
        let payload = format!("{{\"blob\":\"{}\"}}", "x\"\\é".repeat(64 * 1024));
        let short = "s".repeat(SHARED_TEXT_BYTES - 1);
        let other = "o".repeat(SHARED_TEXT_BYTES);
        // An equal text made apart (not the same allocation) travels whole.
        let apart = Param::Text(other.as_str().into());
        let (payload, short, other) =
            (Param::Text(payload.into()), Param::Text(short.into()), Param::Text(other.into()));
        let statements = vec![
            db.prepare("SELECT ?1, ?2, ?3").bind(&[Param::Int(1), payload.clone(), short.clone()]).unwrap(),
            db.prepare("SELECT ?1, ?2, ?3, ?4, ?5")
                .bind(&[short.clone(), other.clone(), payload.clone(), other.clone(), apart.clone()])
                .unwrap(),
            db.prepare("SELECT ?1").bind(std::slice::from_ref(&payload)).unwrap(),
        ];
        let whole = serde_json::to_string(
            &statements.iter().map(|s| serde_json::json!({ "sql": s.sql, "params": s.params })).collect::<Vec<_>>(),
        )
        .unwrap();
        let wired = wire(statements.clone());
        assert_eq!(wired[0].params[1], WireParam::Value(payload.clone()));
        assert!(!wired[0].shares);
        assert_eq!(wired[1].params[0], WireParam::Value(short), "a short text is not shared");
        assert_eq!(wired[1].params[1], WireParam::Value(other));
        assert_eq!(wired[1].params[2], WireParam::Same { same: [0, 1] });
        assert_eq!(wired[1].params[3], WireParam::Same { same: [1, 1] }, "an earlier parameter of the same statement");
        assert_eq!(wired[1].params[4], WireParam::Value(apart));
        assert!(wired[1].shares);
        assert_eq!(wired[2].params[0], WireParam::Same { same: [0, 1] });
        let sent = wire_text(statements.clone()).unwrap();
        assert!(sent.len() * 2 < whole.len(), "{} against {} bytes", sent.len(), whole.len());
        // Read back as the object does (`share`): every statement binds what it was built with.
        let mut read: Vec<Vec<serde_json::Value>> = Vec::new();
        for statement in serde_json::from_str::<Vec<serde_json::Value>>(&sent).unwrap() {
            let mut params = statement["params"].as_array().unwrap().clone();
            for k in 0..params.len() {
                if let Some([at, j]) = params[k].get("same").map(|p| [p[0].as_u64().unwrap(), p[1].as_u64().unwrap()]) {
                    let (at, j) = (at as usize, j as usize);
                    params[k] = if at == read.len() { params[j].clone() } else { read[at][j].clone() };
                }
            }
            read.push(params);
        }
        let built: Vec<Vec<serde_json::Value>> =
            statements.iter().map(|s| s.params.iter().map(|p| serde_json::to_value(p).unwrap()).collect()).collect();
        assert_eq!(read, built);
    }

    /// The object reads a statement's `filters` by hand (`JsStatement::read`) in this form.
    #[test]
    fn a_filter_step_travels_as_the_object_reads_it() {
        use super::{FilterStep, WireStatement};
        let wire = |filters| {
            serde_json::to_value(WireStatement {
                sql: "SELECT 1".into(),
                params: vec![],
                shares: false,
                filters,
                skip_if_changed: None,
            })
            .unwrap()
        };
        assert_eq!(wire(FilterStep::None).get("filters"), None);
        assert_eq!(wire(FilterStep::Evaluate)["filters"], serde_json::json!("Evaluate"));
        assert_eq!(wire(FilterStep::Validate)["filters"], serde_json::json!("Validate"));
        assert_eq!(wire(FilterStep::Bind(3))["filters"], serde_json::json!({ "Bind": 3 }));
    }

    /// The object reads a statement's `skip` (`JsStatement::read`) as the index of the statement whose change skips it.
    #[test]
    fn a_skip_travels_as_the_index_of_the_statement_it_waits_on() {
        use super::{FilterStep, WireStatement};
        let wire = |skip_if_changed| {
            serde_json::to_value(WireStatement {
                sql: "SELECT 1".into(),
                params: vec![],
                shares: false,
                filters: FilterStep::None,
                skip_if_changed,
            })
            .unwrap()
        };
        assert_eq!(wire(None).get("skip"), None);
        assert_eq!(wire(Some(2))["skip"], serde_json::json!(2));
    }
}
