//! The routing table: one list of every method and path the API serves, with named `{…}` captures, matched by
//! `matchit` (a radix tree: a fixed segment wins over a capture, so `/api/webhooks/events` is not a webhook id). A
//! test checks the OpenAPI document lists every entry, so the two cannot drift.

use crate::error::ApiError;

/// What a matched route leads to: a public endpoint, answered without a credential, or one of the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Public(Public),
    Api(Endpoint),
}

/// The endpoints anyone may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    Health,
    OpenApi,
    /// `GET /api/poll/{id}`: a polling webhook's reader, with a poll token instead of an API credential.
    Poll,
}

/// The API's endpoints, each for an authenticated caller; `api::route` maps each to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    EventCatalogue,
    ListWebhooks,
    CreateWebhook,
    GetWebhook,
    UpdateWebhook,
    DeleteWebhook,
    GetSecret,
    RegenerateSecret,
    Stats,
    IngestEvent,
    IngestBatch,
    ListEvents,
    GetEvent,
    TestSend,
    ListDeliveries,
    GetDelivery,
    RetryDelivery,
    CreateKey,
    ListKeys,
    DeleteKey,
    CreatePortalSession,
    RevokePortalSessions,
    CurrentSession,
    WebhookStats,
    Recover,
    ReplayMissing,
    GetSettings,
    PutSettings,
    EgressIps,
    PreviewFilter,
    PreviewTransformation,
    TransformationPresets,
    ListEventTypes,
    CreateEventType,
    GetEventType,
    UpdateEventType,
    DeleteEventType,
    CreatePollToken,
    ListPollTokens,
    DeletePollToken,
}

/// One routed method and path. `{name}` segments capture one path segment.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub target: Target,
}

use Target::{Api, Public as Open};

pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/health", target: Open(Public::Health) },
    Route { method: "GET", path: "/api/openapi.json", target: Open(Public::OpenApi) },
    Route { method: "GET", path: "/api/webhooks/events", target: Api(Endpoint::EventCatalogue) },
    Route { method: "GET", path: "/api/webhooks/stats", target: Api(Endpoint::Stats) },
    Route { method: "POST", path: "/api/events", target: Api(Endpoint::IngestEvent) },
    Route { method: "POST", path: "/api/events/batch", target: Api(Endpoint::IngestBatch) },
    Route { method: "GET", path: "/api/events", target: Api(Endpoint::ListEvents) },
    Route { method: "GET", path: "/api/events/{id}", target: Api(Endpoint::GetEvent) },
    Route { method: "GET", path: "/api/webhooks", target: Api(Endpoint::ListWebhooks) },
    Route { method: "POST", path: "/api/webhooks", target: Api(Endpoint::CreateWebhook) },
    Route { method: "GET", path: "/api/webhooks/{id}", target: Api(Endpoint::GetWebhook) },
    Route { method: "PATCH", path: "/api/webhooks/{id}", target: Api(Endpoint::UpdateWebhook) },
    Route { method: "DELETE", path: "/api/webhooks/{id}", target: Api(Endpoint::DeleteWebhook) },
    Route { method: "GET", path: "/api/webhooks/{id}/secret", target: Api(Endpoint::GetSecret) },
    Route { method: "POST", path: "/api/webhooks/{id}/regenerate-secret", target: Api(Endpoint::RegenerateSecret) },
    Route { method: "POST", path: "/api/webhooks/{id}/test", target: Api(Endpoint::TestSend) },
    Route { method: "GET", path: "/api/webhooks/{id}/stats", target: Api(Endpoint::WebhookStats) },
    Route { method: "POST", path: "/api/webhooks/{id}/recover", target: Api(Endpoint::Recover) },
    Route { method: "POST", path: "/api/webhooks/{id}/replay-missing", target: Api(Endpoint::ReplayMissing) },
    Route { method: "GET", path: "/api/webhooks/{id}/deliveries", target: Api(Endpoint::ListDeliveries) },
    Route { method: "GET", path: "/api/webhooks/{id}/deliveries/{deliveryId}", target: Api(Endpoint::GetDelivery) },
    Route {
        method: "POST",
        path: "/api/webhooks/{id}/deliveries/{deliveryId}/retry",
        target: Api(Endpoint::RetryDelivery),
    },
    Route { method: "GET", path: "/api/settings", target: Api(Endpoint::GetSettings) },
    Route { method: "PUT", path: "/api/settings", target: Api(Endpoint::PutSettings) },
    Route { method: "GET", path: "/api/egress-ips", target: Api(Endpoint::EgressIps) },
    Route { method: "POST", path: "/api/webhooks/filter-preview", target: Api(Endpoint::PreviewFilter) },
    Route {
        method: "POST",
        path: "/api/webhooks/transformation-preview",
        target: Api(Endpoint::PreviewTransformation),
    },
    Route { method: "GET", path: "/api/transformation-presets", target: Api(Endpoint::TransformationPresets) },
    Route { method: "GET", path: "/api/event-types", target: Api(Endpoint::ListEventTypes) },
    Route { method: "POST", path: "/api/event-types", target: Api(Endpoint::CreateEventType) },
    Route { method: "GET", path: "/api/event-types/{name}", target: Api(Endpoint::GetEventType) },
    Route { method: "PATCH", path: "/api/event-types/{name}", target: Api(Endpoint::UpdateEventType) },
    Route { method: "DELETE", path: "/api/event-types/{name}", target: Api(Endpoint::DeleteEventType) },
    Route { method: "GET", path: "/api/poll/{id}", target: Open(Public::Poll) },
    Route { method: "POST", path: "/api/webhooks/{id}/poll-tokens", target: Api(Endpoint::CreatePollToken) },
    Route { method: "GET", path: "/api/webhooks/{id}/poll-tokens", target: Api(Endpoint::ListPollTokens) },
    Route {
        method: "DELETE",
        path: "/api/webhooks/{id}/poll-tokens/{tokenId}",
        target: Api(Endpoint::DeletePollToken),
    },
    Route { method: "GET", path: "/api/keys", target: Api(Endpoint::ListKeys) },
    Route { method: "POST", path: "/api/keys", target: Api(Endpoint::CreateKey) },
    Route { method: "DELETE", path: "/api/keys/{id}", target: Api(Endpoint::DeleteKey) },
    Route { method: "POST", path: "/api/portal/sessions", target: Api(Endpoint::CreatePortalSession) },
    Route { method: "POST", path: "/api/portal/sessions/revoke", target: Api(Endpoint::RevokePortalSessions) },
    Route { method: "GET", path: "/api/portal/sessions/current", target: Api(Endpoint::CurrentSession) },
    // The `/api/webhooks-management` aliases of the webhook routes.
    Route { method: "GET", path: "/api/webhooks-management", target: Api(Endpoint::ListWebhooks) },
    Route { method: "POST", path: "/api/webhooks-management", target: Api(Endpoint::CreateWebhook) },
    Route { method: "PATCH", path: "/api/webhooks-management/{id}", target: Api(Endpoint::UpdateWebhook) },
    Route { method: "DELETE", path: "/api/webhooks-management/{id}", target: Api(Endpoint::DeleteWebhook) },
];

/// The `{name}` segments a path captured, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params<'a>(Vec<(&'static str, &'a str)>);

impl<'a> Params<'a> {
    /// The segment captured as `{name}`. A route's handler asks only for names its path has, so a miss is a
    /// routing-table mistake: it answers 404 rather than panic.
    pub fn get(&self, name: &str) -> Result<&'a str, ApiError> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| ApiError::not_found(format!("no {name} in this path")))
    }
}

/// The outcome of matching a request line against [`ROUTES`].
#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    Found(Target, Params<'a>),
    /// The path exists but not with this method.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

/// [`ROUTES`] by path: each path's routes, one per method. Built once per isolate.
fn router() -> &'static matchit::Router<Vec<&'static Route>> {
    static ROUTER: std::sync::OnceLock<matchit::Router<Vec<&'static Route>>> = std::sync::OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut by_path: Vec<(&'static str, Vec<&'static Route>)> = Vec::new();
        for route in ROUTES {
            match by_path.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, routes)) => routes.push(route),
                None => by_path.push((route.path, vec![route])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, routes) in by_path {
            // A path the tree refuses (a conflict) is a mistake in ROUTES, caught by the host tests; the route is
            // left out rather than the isolate aborted.
            let _ = router.insert(path, routes);
        }
        router
    })
}

/// Matches a method and path; captured `{…}` segments come back by name. `HEAD` is served as `GET`.
pub fn match_route<'a>(method: &str, path: &'a str) -> Match<'a> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let Ok(found) = router().at(path) else { return Match::NotFound };
    let method = if method == "HEAD" { "GET" } else { method };
    match found.value.iter().find(|route| route.method == method) {
        Some(route) => Match::Found(route.target, Params(found.params.iter().collect())),
        None => Match::MethodNotAllowed(found.value.iter().map(|route| route.method).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_routes_match_and_others_do_not() {
        let none = || Params::default();
        let health = || Match::Found(Open(Public::Health), none());
        assert_eq!(match_route("GET", "/health"), health());
        assert_eq!(match_route("GET", "/health/"), health());
        assert_eq!(match_route("HEAD", "/health"), health());
        assert_eq!(match_route("POST", "/health"), Match::MethodNotAllowed(vec!["GET"]));
        assert_eq!(match_route("GET", "/nope"), Match::NotFound);
        assert_eq!(match_route("GET", "/"), Match::NotFound);
    }

    #[test]
    fn fixed_paths_win_over_captures() {
        assert_eq!(
            match_route("GET", "/api/webhooks/events"),
            Match::Found(Api(Endpoint::EventCatalogue), Params::default())
        );
        let Match::Found(Api(Endpoint::GetWebhook), params) = match_route("GET", "/api/webhooks/wh_1") else {
            panic!()
        };
        assert_eq!(params.get("id"), Ok("wh_1"));
        assert!(matches!(
            match_route("POST", "/api/webhooks/wh_1/regenerate-secret"),
            Match::Found(Api(Endpoint::RegenerateSecret), _)
        ));
        assert_eq!(match_route("PUT", "/api/webhooks/wh_1"), Match::MethodNotAllowed(vec!["GET", "PATCH", "DELETE"]));
    }

    #[test]
    fn captures_come_back_by_name() {
        let Match::Found(Api(Endpoint::GetDelivery), params) =
            match_route("GET", "/api/webhooks/wh_1/deliveries/dlv_2")
        else {
            panic!()
        };
        assert_eq!((params.get("id"), params.get("deliveryId")), (Ok("wh_1"), Ok("dlv_2")));
        assert_eq!(params.get("z").unwrap_err().status, 404);
        assert_eq!(
            match_route("GET", "/api/webhooks/wh_1/deliveries/"),
            match_route("GET", "/api/webhooks/wh_1/deliveries")
        );
        assert_eq!(match_route("GET", "/api/webhooks/wh_1/deliveries/dlv_2/extra"), Match::NotFound);
    }

    #[test]
    fn every_route_is_in_the_tree() {
        for route in ROUTES {
            let path = route
                .path
                .replace("{id}", "x")
                .replace("{deliveryId}", "y")
                .replace("{name}", "z")
                .replace("{tokenId}", "t");
            match match_route(route.method, &path) {
                Match::Found(target, _) => assert_eq!(target, route.target, "{} {}", route.method, route.path),
                other => panic!("{} {} does not match: {other:?}", route.method, route.path),
            }
        }
    }

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(crate::api::openapi::document()).unwrap();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is missing from openapi.json", route.method, route.path);
        }
    }
}
