//! The dashboard: `/`, `/portal…` and its files come from the built dashboard (Workers Static Assets, the `ASSETS`
//! binding; the page's own routes get its `index.html`, the single-page-app fallback). The Worker runs first
//! so each answer carries the security headers, including `frame-ancestors` from `PORTAL_FRAME_ANCESTORS`.

use worker::{Headers, Request, Response};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};

/// Scripts, styles, images and API calls from this origin only; no inline script or style, no plugins, no forms to
/// elsewhere. Ends with `frame-ancestors`, which [`content_security_policy`] appends.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'";

/// The dashboard's Content-Security-Policy. `frame_ancestors` is the configured list of origins that may frame the
/// portal (space-separated); entries that are not an origin, `'self'` or `'none'` are dropped, so configuration
/// cannot inject other directives. Nothing valid configured: only this origin may frame it.
pub fn content_security_policy(frame_ancestors: &str) -> String {
    let allowed: Vec<&str> = frame_ancestors.split_whitespace().filter(|source| is_frame_source(source)).collect();
    let ancestors = if allowed.is_empty() { "'self'".to_string() } else { allowed.join(" ") };
    format!("{POLICY}; frame-ancestors {ancestors}")
}

/// `'self'`, `'none'`, or `https://host[:port]` / `http://host[:port]` with an optional leading `*.` label.
fn is_frame_source(source: &str) -> bool {
    if source == "'self'" || source == "'none'" {
        return true;
    }
    let Some((scheme, rest)) = source.split_once("://") else { return false };
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    matches!(scheme, "https" | "http")
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Serves one dashboard file through the `ASSETS` binding, with the security headers added.
pub async fn serve(req: Request, config: &Config, env: &worker::Env) -> ApiResult<Response> {
    let bundled = req.path().starts_with("/assets/");
    let assets = env.assets("ASSETS").map_err(ApiError::internal)?;
    let response = assets.fetch_request(req).await.map_err(ApiError::internal)?;
    // The page fallback is for the dashboard's routes: a missing bundle file is a 404, not the page.
    let is_page = response.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("text/html"));
    if bundled && is_page {
        return Err(ApiError::not_found("no such dashboard file"));
    }
    // A fetched response's headers are immutable: copy them into a fresh set.
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.append(&name, &value).map_err(ApiError::internal)?;
    }
    for (name, value) in [
        ("Content-Security-Policy", content_security_policy(&config.portal_frame_ancestors).as_str()),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ] {
        headers.set(name, value).map_err(ApiError::internal)?;
    }
    Ok(response.with_headers(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_take_only_origins() {
        let policy = content_security_policy("");
        assert!(policy.ends_with("; frame-ancestors 'self'"));
        assert!(policy.contains("script-src 'self';") && !policy.contains("unsafe-inline"));
        let policy = content_security_policy(" https://app.example.com  https://*.crm.example:8443 'self' ");
        assert!(policy.ends_with("frame-ancestors https://app.example.com https://*.crm.example:8443 'self'"));
        // Anything else is dropped: no directive can be smuggled in.
        let policy = content_security_policy("https://a.example; script-src * javascript:alert(1) *");
        assert!(policy.ends_with("frame-ancestors 'self'"), "{policy}");
        assert_eq!(policy.matches("script-src").count(), 1);
    }
}
