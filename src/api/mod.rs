//! The HTTP surface: matches a request against the routing table, authenticates `/api/*` callers and hands the
//! request to its resource's handler. Every failure becomes the JSON error shape; nothing here panics.

pub mod assets;
pub mod deliveries;
pub mod egress;
pub mod event_types;
pub mod events;
pub mod health;
pub mod keys;
pub mod openapi;
pub mod poll;
pub mod portal;
pub mod recovery;
pub mod routes;
pub mod settings;
pub mod stats;
pub mod webhooks;

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;
use worker::{Env, Request, Response};

use crate::auth::{
    api_key_hash, bearer, rpc_caller, verify_jwt, Caller, Credential, JwtRules, PortalAccess, Role, RPC_CALLER_BINDING,
};
use crate::config::Config;
use crate::delivery::Claimed;
use crate::error::{json_response, ApiError, ApiResult};
use crate::platform::now_ms;
use crate::store;
use crate::store::{ListPage, PageAt};
use routes::{match_route, Endpoint, Match, Public, Target};

/// What every authenticated handler gets: the bindings, the config, the caller and the request's clock reading.
pub struct Ctx {
    pub env: Env,
    pub config: Config,
    pub caller: Caller,
    pub now: i64,
    /// Deliveries the request created and claimed, which its invocation sends once the answer is out.
    pub send_after: Rc<RefCell<Option<Claimed>>>,
}

impl Ctx {
    /// The caller's organization's storage (its Durable Object): every query a handler makes goes there, so none
    /// can reach another organization's data.
    pub fn store(&self) -> Result<crate::store::Database, crate::store::StoreError> {
        crate::store::organization(&self.env, &self.caller.org)
    }
}

/// A request's answer, and the deliveries its invocation sends after it (see [`crate::delivery::send_now`]).
pub struct Handled {
    pub response: Response,
    pub send_after: Option<Claimed>,
}

/// Handles one request. Never returns an `Err`: errors are rendered as responses.
pub async fn handle(req: Request, env: Env) -> Handled {
    let send_after = Rc::new(RefCell::new(None));
    let response = match route(req, env, &send_after).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    Handled { response, send_after: send_after.take() }
}

/// `POST /__sql {"organizationId", "sql"}`: runs one statement in an organization's object and answers its rows, for
/// end-to-end tests that must set up or inspect a state the API cannot reach. Served only where `/__usage` is
/// (`EXPOSE_USAGE`, never in production).
async fn organization_sql(mut req: Request, env: &Env) -> ApiResult<Response> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Query {
        organization_id: String,
        sql: String,
    }
    let query: Query =
        req.json().await.map_err(|e| ApiError::bad_request("invalid_json", format!("bad query: {e}")))?;
    let org = crate::domain::ids::OrganizationId::parse(&query.organization_id)
        .ok_or_else(|| ApiError::bad_request("invalid_field", "bad organizationId"))?;
    let db = store::organization(env, &org)?;
    let result = store::sql::Database::batch(&db, vec![db.prepare(query.sql)]).await?;
    // A test's own look is not the Worker's work: it does not count in `/__usage`.
    crate::usage::add(|u| {
        u.object_calls -= 1;
        u.object_statements -= 1;
    });
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for executed in &result {
        rows.extend(executed.results::<serde_json::Value>()?);
    }
    json(200, &rows)
}

async fn route(req: Request, env: Env, send_after: &Rc<RefCell<Option<Claimed>>>) -> ApiResult<Response> {
    let method = req.method().to_string();
    let path = req.path();
    if path == "/__usage" && Config::from_env(&env).expose_usage {
        return json(200, &crate::usage::snapshot());
    }
    if path == "/__sql" && Config::from_env(&env).expose_usage {
        return organization_sql(req, &env).await;
    }
    if is_dashboard_path(&path) {
        return assets::serve(req, &Config::from_env(&env), &env).await;
    }
    let (endpoint, params) = match match_route(&method, &path) {
        Match::Found(Target::Public(Public::Health), _) => return health::get(),
        Match::Found(Target::Public(Public::OpenApi), _) => return openapi::get(&env).await,
        Match::Found(Target::Public(Public::Poll), params) => return poll::read(&req, &env, params.get("id")?).await,
        Match::Found(Target::Api(endpoint), params) => (endpoint, params),
        Match::MethodNotAllowed(allowed) => {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                format!("{method} is not allowed on {path}; use {}", allowed.join(", ")),
            ))
        }
        Match::NotFound => return Err(ApiError::not_found(format!("no route for {method} {path}"))),
    };
    let config = Config::from_env(&env);
    let now = now_ms();
    let caller = match env.var(RPC_CALLER_BINDING).ok().map(|v| v.to_string()) {
        // A Workers RPC call (`src/entry.mjs`): the caller is the calling Worker's binding, and it only publishes.
        Some(props) => {
            if !matches!(endpoint, Endpoint::IngestEvent | Endpoint::IngestBatch) {
                return Err(ApiError::not_found(format!("no RPC method for {method} {path}")));
            }
            rpc_caller(&props)?
        }
        None => bearer_caller(&req, &env, &config, now).await?,
    };
    let ctx = Ctx { env, config, caller, now, send_after: Rc::clone(send_after) };
    let id = || params.get("id");
    match endpoint {
        Endpoint::EventCatalogue => events::catalogue(&ctx).await,
        Endpoint::ListWebhooks => webhooks::list(&ctx, &req).await,
        Endpoint::CreateWebhook => webhooks::create(&ctx, req).await,
        Endpoint::GetWebhook => webhooks::get(&ctx, id()?).await,
        Endpoint::UpdateWebhook => webhooks::update(&ctx, id()?, req).await,
        Endpoint::DeleteWebhook => webhooks::delete(&ctx, id()?).await,
        Endpoint::GetSecret => webhooks::secret(&ctx, id()?).await,
        Endpoint::RegenerateSecret => webhooks::regenerate_secret(&ctx, id()?).await,
        Endpoint::Stats => stats::get(&ctx).await,
        Endpoint::IngestEvent => events::ingest(&ctx, req).await,
        Endpoint::IngestBatch => events::ingest_batch(&ctx, req).await,
        Endpoint::ListEvents => events::list(&ctx, &req).await,
        Endpoint::GetEvent => events::get(&ctx, id()?).await,
        Endpoint::TestSend => deliveries::test(&ctx, id()?, req).await,
        Endpoint::ListDeliveries => deliveries::list(&ctx, id()?, &req).await,
        Endpoint::GetDelivery => deliveries::get(&ctx, id()?, params.get("deliveryId")?).await,
        Endpoint::RetryDelivery => deliveries::retry(&ctx, id()?, params.get("deliveryId")?).await,
        Endpoint::CreateKey => keys::create(&ctx, req).await,
        Endpoint::ListKeys => keys::list(&ctx).await,
        Endpoint::DeleteKey => keys::delete(&ctx, id()?).await,
        Endpoint::CreatePortalSession => portal::create(&ctx, req).await,
        Endpoint::RevokePortalSessions => portal::revoke(&ctx).await,
        Endpoint::CurrentSession => portal::current(&ctx),
        Endpoint::WebhookStats => stats::webhook(&ctx, id()?).await,
        Endpoint::Recover => recovery::recover(&ctx, id()?, req).await,
        Endpoint::ReplayMissing => recovery::replay_missing(&ctx, id()?, req).await,
        Endpoint::GetSettings => settings::get(&ctx).await,
        Endpoint::PutSettings => settings::put(&ctx, req).await,
        Endpoint::EgressIps => egress::get(&ctx),
        Endpoint::PreviewFilter => webhooks::preview_filter(&ctx, req).await,
        Endpoint::PreviewTransformation => webhooks::preview_transformation(&ctx, req).await,
        Endpoint::TransformationPresets => webhooks::transformation_presets(&ctx).await,
        Endpoint::ListEventTypes => event_types::list(&ctx).await,
        Endpoint::CreateEventType => event_types::create(&ctx, req).await,
        Endpoint::GetEventType => event_types::get(&ctx, params.get("name")?).await,
        Endpoint::UpdateEventType => event_types::update(&ctx, params.get("name")?, req).await,
        Endpoint::DeleteEventType => event_types::delete(&ctx, params.get("name")?).await,
        Endpoint::CreatePollToken => poll::create_token(&ctx, id()?).await,
        Endpoint::ListPollTokens => poll::list_tokens(&ctx, id()?).await,
        Endpoint::DeletePollToken => poll::delete_token(&ctx, id()?, params.get("tokenId")?).await,
    }
}

/// The caller an HTTP request's `Authorization: Bearer …` names: a JWT, an API key or a portal session.
async fn bearer_caller(req: &Request, env: &Env, config: &Config, now: i64) -> ApiResult<Caller> {
    let authorization = req.headers().get("authorization").ok().flatten();
    Ok(match bearer(authorization.as_deref())? {
        Credential::Jwt(token) => {
            let rules = JwtRules { issuer: config.jwt_issuer.as_deref(), audience: config.jwt_audience.as_deref() };
            verify_jwt(token, &config.jwt_secret, &rules, now / 1000)?
        }
        Credential::ApiKey(key) => {
            let row = store::api_keys::find(&store::global(env)?, &api_key_hash(key)).await?;
            let row = row.ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
            Caller { org: row.organization_id, user: row.id.to_string(), role: row.role, portal: None }
        }
        Credential::PortalSession(token) => {
            let session = store::portal::find(&store::global(env)?, &api_key_hash(token), now).await?;
            let session =
                session.ok_or_else(|| ApiError::unauthorized("the portal session has expired or was revoked"))?;
            let role = if session.read_only { Role::Member } else { Role::Admin };
            let portal = Some(PortalAccess { expires_at: session.expires_at });
            Caller { org: session.organization_id, user: "portal".into(), role, portal }
        }
    })
}

/// The dashboard's paths: its pages (`/`, `/portal…`, which the page routes itself) and its files. Everything else
/// is the API's, so an unknown path still gets the JSON 404.
fn is_dashboard_path(path: &str) -> bool {
    path == "/"
        || path == "/portal"
        || path.starts_with("/portal/")
        || path.starts_with("/assets/")
        || path == "/favicon.svg"
        || path == "/index.html"
}

/// Reads a JSON body of at most `limit` bytes: 413 beyond it, 400 for anything that is not JSON.
pub async fn read_json(req: Request, limit: usize) -> ApiResult<Value> {
    read_optional_json(req, limit)
        .await?
        .ok_or_else(|| ApiError::bad_request("invalid_json", "the request body must be JSON"))
}

/// Like [`read_json`], but an empty body is `None` rather than an error (for routes whose body is optional).
pub async fn read_optional_json(req: Request, limit: usize) -> ApiResult<Option<Value>> {
    let bytes = read_bytes(req, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the request body is not valid JSON: {e}")))
}

/// The body as UTF-8 text of at most `limit` bytes, for routes that keep parts of it verbatim (ingest).
pub async fn read_text(req: Request, limit: usize) -> ApiResult<String> {
    String::from_utf8(read_bytes(req, limit).await?)
        .map_err(|_| ApiError::bad_request("invalid_json", "the request body is not valid UTF-8"))
}

/// The most of a request body that is read and dropped when the answer did not need it (an unknown route, a refused
/// credential, a body past its limit). Answering with the body unread makes the runtime close the connection
/// (`connection: close`), and a client that reuses connections (every client library; undici pipelines) then sees
/// a reset socket on its next request. 2 MiB covers every body a client of this API sends by mistake (the largest
/// limit is 1 MiB); a body past it is the runtime's to cut off.
pub const DRAIN_LIMIT: usize = 2 * 1024 * 1024;

/// Reads and drops what is left of a request's body, up to [`DRAIN_LIMIT`] bytes, when nothing read it: the
/// connection then stays open for the client's next request.
pub async fn drain_unread(raw: &worker::web_sys::Request) {
    if raw.body_used() || raw.body().is_none() {
        return;
    }
    // `Clone::clone`: another handle on the same request (its inherent `clone` would tee the body).
    let mut req = Request::from(Clone::clone(raw));
    if declared_length(&req).is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return;
    }
    let Ok(mut body) = req.stream() else { return };
    let mut drained = 0;
    while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut body).await {
        drained += chunk.len();
        if drained > DRAIN_LIMIT {
            break;
        }
    }
}

/// The body's length as its `content-length` header declares it, if it does.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok())
}

/// The body's bytes: 413 beyond `limit` (declared or actual), 400 if it cannot be read. A body declared past the
/// limit is left unread here; [`drain_unread`] reads it after the answer is built, as for every refused request.
async fn read_bytes(mut req: Request, limit: usize) -> ApiResult<Vec<u8>> {
    let too_large =
        || ApiError::new(413, "payload_too_large", format!("the request body must be at most {} KiB", limit / 1024));
    if declared_length(&req).is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes =
        req.bytes().await.map_err(|_| ApiError::bad_request("invalid_body", "the request body could not be read"))?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A request body that must be a JSON object (400 `invalid_body` otherwise).
pub fn object(body: &Value) -> ApiResult<&serde_json::Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("invalid_body", "the body must be a JSON object")),
    }
}

/// A request body that must be a JSON object with no member but `allowed` (400 naming the first it does not know).
pub fn object_with<'a>(body: &'a Value, allowed: &[&str]) -> ApiResult<&'a serde_json::Map<String, Value>> {
    let map = object(body)?;
    if let Some(other) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(other));
    }
    Ok(map)
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, value: &T) -> ApiResult<Response> {
    let body = serde_json::to_string(value).map_err(ApiError::internal)?;
    Ok(json_response(status, body))
}

/// An integer query parameter within `min..=max`; absent or empty is `default`.
pub fn number_param(value: Option<String>, field: &str, min: u32, max: u32, default: u32) -> ApiResult<u32> {
    match value.as_deref() {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(field, format!("{field} must be an integer from {min} to {max}"))),
    }
}

/// Where a newest-first list goes on from (Svix's `iterator`): an opaque text, `prefix` (which list) and the
/// position of the page's last item. The next page holds what was stored before it, however many items came or went
/// meanwhile, and reads only what it answers: an offset (`page`) reads every item it skips.
pub struct ListIterator;

impl ListIterator {
    /// The iterator after an item stored at `position` (its `rowid`).
    pub fn after(prefix: &str, position: i64) -> String {
        format!("{prefix}{position}")
    }

    /// The iterator of the page after `listed` (`position` says where an item was stored); `None` on the last page.
    pub fn next<T>(prefix: &str, listed: &ListPage<T>, position: impl Fn(&T) -> i64) -> Option<String> {
        listed.rows.last().filter(|_| listed.more).map(|last| Self::after(prefix, position(last)))
    }

    /// The page a list request asks for (`page` from 1, or `iterator`, whose texts start with `prefix`), with its
    /// `limit` (1 to 100, 20 by default): the page's number and where it starts.
    pub fn page_at(req: &Request, prefix: &str) -> ApiResult<(u32, PageAt)> {
        let (page, limit) = Self::page_and_limit(req)?;
        let before = Self::param(req, prefix)?;
        Ok((page, PageAt { limit, offset: (page - 1).saturating_mul(limit), before }))
    }

    /// The `page` a list request asks for (from 1) and its `limit` (1 to 100, 20 by default).
    fn page_and_limit(req: &Request) -> ApiResult<(u32, u32)> {
        let page = number_param(query_param(req, "page")?, "page", 1, 1_000_000, 1)?;
        let limit = number_param(query_param(req, "limit")?, "limit", 1, 100, 20)?;
        Ok((page, limit))
    }

    /// The iterator of a list merged from two, each in its own order (a webhook's delivery log): where the next page
    /// starts in each (`None`: from the newest). `prefix`, then the two positions joined by `_`.
    pub fn after_pair(prefix: &str, first: Option<i64>, second: Option<i64>) -> String {
        let at = |p: Option<i64>| p.unwrap_or(i64::MAX);
        format!("{prefix}{}_{}", at(first), at(second))
    }

    /// [`Self::page_at`] for a list merged from two ([`Self::after_pair`]): the page's number, where it starts in the
    /// first list, and where in the second. An iterator of one position (from before the second list) starts the
    /// second list at its beginning (nothing in it is older).
    pub fn pair_page_at(req: &Request, prefix: &str) -> ApiResult<(u32, PageAt, Option<i64>)> {
        let (page, limit) = Self::page_and_limit(req)?;
        let (before, second) = match Self::text(req)? {
            None => (None, None),
            Some(text) => {
                let mut parts = text.strip_prefix(prefix).unwrap_or_default().splitn(2, '_');
                let first = Self::position(parts.next().unwrap_or_default())?;
                (Some(first), Some(parts.next().map_or(Ok(1), Self::position)?))
            }
        };
        Ok((page, PageAt { limit, offset: (page - 1).saturating_mul(limit), before }, second))
    }

    /// The `iterator` query parameter of a list whose iterators start with `prefix`: the position the page starts
    /// before (`None`: the newest).
    fn param(req: &Request, prefix: &str) -> ApiResult<Option<i64>> {
        let Some(text) = Self::text(req)? else { return Ok(None) };
        Self::position(text.strip_prefix(prefix).unwrap_or_default()).map(Some)
    }

    /// The `iterator` query parameter, if given. Refused with `page` beside it: they are two ways to say where a page
    /// starts.
    fn text(req: &Request) -> ApiResult<Option<String>> {
        let Some(text) = query_param(req, "iterator")?.filter(|t| !t.is_empty()) else { return Ok(None) };
        if query_param(req, "page")?.is_some_and(|p| !p.is_empty()) {
            return Err(ApiError::invalid("iterator", "give either page or iterator, not both"));
        }
        Ok(Some(text))
    }

    /// One position of an iterator: digits, above 0.
    fn position(digits: &str) -> ApiResult<i64> {
        Some(digits)
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::invalid("iterator", "iterator must be one a previous page of this list answered"))
    }
}

/// A point in time given as an ISO 8601 query parameter (`since`, `until`), as epoch milliseconds.
pub fn time_param(req: &Request, field: &str) -> ApiResult<Option<i64>> {
    match query_param(req, field)?.as_deref() {
        None | Some("") => Ok(None),
        Some(v) => crate::domain::time::parse_iso8601(v).map(Some).ok_or_else(|| {
            ApiError::invalid(field, format!("{field} must be an ISO 8601 time such as 2026-01-31T09:00:00Z"))
        }),
    }
}

/// A query-string parameter, if present.
pub fn query_param(req: &Request, name: &str) -> ApiResult<Option<String>> {
    let url = req.url().map_err(|_| ApiError::bad_request("invalid_url", "the request URL could not be parsed"))?;
    Ok(url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()))
}
