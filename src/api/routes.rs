//! The routing table: one list of every method and path the API serves, with named `{…}` captures. The
//! dispatcher matches against it and a test checks the OpenAPI document lists every entry, so the two cannot drift.

use crate::error::ApiError;

/// What a matched route does; `api::handle` maps each to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    OpenApi,
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
}

/// One routed method and path. `{name}` segments capture one path segment.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

/// Fixed paths come before `{id}` paths that would also match them (`/api/webhooks/events`).
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/health", endpoint: Endpoint::Health },
    Route { method: "GET", path: "/api/openapi.json", endpoint: Endpoint::OpenApi },
    Route { method: "GET", path: "/api/webhooks/events", endpoint: Endpoint::EventCatalogue },
    Route { method: "GET", path: "/api/webhooks/stats", endpoint: Endpoint::Stats },
    Route { method: "POST", path: "/api/events", endpoint: Endpoint::IngestEvent },
    Route { method: "POST", path: "/api/events/batch", endpoint: Endpoint::IngestBatch },
    Route { method: "GET", path: "/api/events", endpoint: Endpoint::ListEvents },
    Route { method: "GET", path: "/api/events/{id}", endpoint: Endpoint::GetEvent },
    Route { method: "GET", path: "/api/webhooks", endpoint: Endpoint::ListWebhooks },
    Route { method: "POST", path: "/api/webhooks", endpoint: Endpoint::CreateWebhook },
    Route { method: "GET", path: "/api/webhooks/{id}", endpoint: Endpoint::GetWebhook },
    Route { method: "PATCH", path: "/api/webhooks/{id}", endpoint: Endpoint::UpdateWebhook },
    Route { method: "DELETE", path: "/api/webhooks/{id}", endpoint: Endpoint::DeleteWebhook },
    Route { method: "GET", path: "/api/webhooks/{id}/secret", endpoint: Endpoint::GetSecret },
    Route { method: "POST", path: "/api/webhooks/{id}/regenerate-secret", endpoint: Endpoint::RegenerateSecret },
    Route { method: "POST", path: "/api/webhooks/{id}/test", endpoint: Endpoint::TestSend },
    Route { method: "GET", path: "/api/webhooks/{id}/stats", endpoint: Endpoint::WebhookStats },
    Route { method: "POST", path: "/api/webhooks/{id}/recover", endpoint: Endpoint::Recover },
    Route { method: "POST", path: "/api/webhooks/{id}/replay-missing", endpoint: Endpoint::ReplayMissing },
    Route { method: "GET", path: "/api/webhooks/{id}/deliveries", endpoint: Endpoint::ListDeliveries },
    Route { method: "GET", path: "/api/webhooks/{id}/deliveries/{deliveryId}", endpoint: Endpoint::GetDelivery },
    Route {
        method: "POST",
        path: "/api/webhooks/{id}/deliveries/{deliveryId}/retry",
        endpoint: Endpoint::RetryDelivery,
    },
    Route { method: "GET", path: "/api/settings", endpoint: Endpoint::GetSettings },
    Route { method: "PUT", path: "/api/settings", endpoint: Endpoint::PutSettings },
    Route { method: "GET", path: "/api/keys", endpoint: Endpoint::ListKeys },
    Route { method: "POST", path: "/api/keys", endpoint: Endpoint::CreateKey },
    Route { method: "DELETE", path: "/api/keys/{id}", endpoint: Endpoint::DeleteKey },
    Route { method: "POST", path: "/api/portal/sessions", endpoint: Endpoint::CreatePortalSession },
    Route { method: "POST", path: "/api/portal/sessions/revoke", endpoint: Endpoint::RevokePortalSessions },
    Route { method: "GET", path: "/api/portal/sessions/current", endpoint: Endpoint::CurrentSession },
    // The `/api/webhooks-management` aliases of the webhook routes.
    Route { method: "GET", path: "/api/webhooks-management", endpoint: Endpoint::ListWebhooks },
    Route { method: "POST", path: "/api/webhooks-management", endpoint: Endpoint::CreateWebhook },
    Route { method: "PATCH", path: "/api/webhooks-management/{id}", endpoint: Endpoint::UpdateWebhook },
    Route { method: "DELETE", path: "/api/webhooks-management/{id}", endpoint: Endpoint::DeleteWebhook },
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
    Found(Endpoint, Params<'a>),
    /// The path exists but not with this method.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

/// Matches a method and path; captured `{…}` segments come back by name.
pub fn match_route<'a>(method: &str, path: &'a str) -> Match<'a> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let mut allowed = Vec::new();
    for route in ROUTES {
        let Some(params) = match_path(route.path, path) else { continue };
        if route.method == method || (method == "HEAD" && route.method == "GET") {
            return Match::Found(route.endpoint, params);
        }
        allowed.push(route.method);
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

fn match_path<'a>(pattern: &'static str, path: &'a str) -> Option<Params<'a>> {
    let mut params = Params::default();
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') && !s.is_empty() => {
                params.0.push((&p[1..p.len() - 1], s))
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_routes_match_and_others_do_not() {
        let none = || Params::default();
        assert_eq!(match_route("GET", "/health"), Match::Found(Endpoint::Health, none()));
        assert_eq!(match_route("GET", "/health/"), Match::Found(Endpoint::Health, none()));
        assert_eq!(match_route("HEAD", "/health"), Match::Found(Endpoint::Health, none()));
        assert_eq!(match_route("POST", "/health"), Match::MethodNotAllowed(vec!["GET"]));
        assert_eq!(match_route("GET", "/nope"), Match::NotFound);
        assert_eq!(match_route("GET", "/"), Match::NotFound);
    }

    #[test]
    fn fixed_paths_win_over_captures() {
        assert_eq!(
            match_route("GET", "/api/webhooks/events"),
            Match::Found(Endpoint::EventCatalogue, Params::default())
        );
        let Match::Found(Endpoint::GetWebhook, params) = match_route("GET", "/api/webhooks/wh_1") else { panic!() };
        assert_eq!(params.get("id"), Ok("wh_1"));
        assert!(matches!(
            match_route("POST", "/api/webhooks/wh_1/regenerate-secret"),
            Match::Found(Endpoint::RegenerateSecret, _)
        ));
        assert_eq!(match_route("PUT", "/api/webhooks/wh_1"), Match::MethodNotAllowed(vec!["GET", "PATCH", "DELETE"]));
    }

    #[test]
    fn captures_come_back_by_name() {
        let params = match_path("/a/{x}/b/{y}", "/a/1/b/2").unwrap();
        assert_eq!((params.get("x"), params.get("y")), (Ok("1"), Ok("2")));
        assert_eq!(params.get("z").unwrap_err().status, 404);
        assert_eq!(match_path("/a/{x}", "/a/"), None);
        assert_eq!(match_path("/a/{x}", "/a/1/2"), None);
    }

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(crate::api::docs::OPENAPI).unwrap();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is missing from openapi.json", route.method, route.path);
        }
    }
}
