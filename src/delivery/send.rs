//! One HTTP POST to a receiver: no redirects followed, one deadline from the moment the request starts, and at most
//! `MAX_RESPONSE_BYTES` of the answer read; the status code decides the outcome the moment it arrives.

use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Response};

use super::bounded::{read_at_most, text_of};
use crate::domain::retry::retry_after_seconds;
use crate::platform::now_ms;
use crate::usage;

/// How much of a receiver's answer is read and kept in the attempt log; the rest is never read (the request is
/// cancelled), so an endless or huge answer costs at most this much memory.
pub const MAX_RESPONSE_BYTES: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct SendResult {
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// The receiver answered `webhook-delivery: abort-message`: no further retries.
    pub abort: bool,
    /// A `429` or `503` answer's `Retry-After`, in seconds from its arrival.
    pub retry_after: Option<u64>,
    /// The request's headers as logged (JSON array of `[name, value]`); `None` when nothing was sent.
    pub request_headers: Option<String>,
    /// The answer's `ETag`, if any (S3's `PutObject` answers with one).
    pub etag: Option<String>,
    /// The body sent, when it was not the delivery's own (the webhook's transformation made it).
    pub request_body: Option<String>,
}

impl SendResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    /// A failure before anything was sent.
    pub fn not_sent(error: impl Into<String>) -> SendResult {
        SendResult { error: Some(error.into()), ..SendResult::default() }
    }

    /// A service destination's refusal, in the service's words (`<service> answered <status>: <said>`); a throttle
    /// is retried a few seconds later at least (the services send no `Retry-After`).
    pub fn refused_by(&mut self, service: &str, status: u16, said: &str, throttled: bool) {
        let retry = if throttled { " (throttled: retried later)" } else { "" };
        self.error = Some(format!("{service} answered {status}: {said}{retry}"));
        if throttled && self.retry_after.is_none() {
            self.retry_after = Some(5);
        }
    }
}

/// A service call's headers as the attempt log keeps them: the call itself first, as `:method` and `:url`
/// (HTTP/2's pseudo-header names), then each header with `mask` applied to its value.
pub fn logged_call(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    mask: impl Fn(&str, &str) -> String,
) -> String {
    let mut logged = vec![[":method".to_string(), method.to_string()], [":url".to_string(), url.to_string()]];
    logged.extend(headers.iter().map(|(name, value)| [name.clone(), mask(name, value)]));
    serde_json::to_string(&logged).unwrap_or_else(|_| "[]".into())
}

/// The URL guard on every address a service destination calls, at send time (a rule or a resolver may have
/// changed since it was saved): the attempt's failure for the first one refused, if any is.
pub fn guard<'a>(urls: impl IntoIterator<Item = &'a str>, allow_insecure: bool) -> Option<SendResult> {
    urls.into_iter().find_map(|url| {
        crate::domain::url_guard::check_url(url, allow_insecure)
            .err()
            .map(|refused| SendResult::not_sent(format!("destination refused at send time: {}", refused.0)))
    })
}

/// Posts `body` with `headers`; never errors: every failure becomes the result's `error`.
pub async fn post(url: &str, headers: &[(String, String)], body: &str, timeout_seconds: u32) -> SendResult {
    request("POST", url, headers, body, timeout_seconds).await
}

/// [`post`] with another method (`PUT` for S3's `PutObject`).
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout_seconds: u32,
) -> SendResult {
    let started = now_ms();
    let mut result = send(method, url, headers, body, timeout_seconds).await;
    result.duration_ms = (now_ms() - started).max(0);
    result
}

async fn send(method: &str, url: &str, headers: &[(String, String)], body: &str, timeout_seconds: u32) -> SendResult {
    let fail = |error: String| SendResult { error: Some(error), ..SendResult::default() };
    // The headers go over as one object, parsed from one JSON text: setting them one at a time (two strings and a call
    // each) cost 0.15 CPU-ms per send in `make bench-delivery`.
    let object: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(name, value)| (name.clone(), serde_json::Value::from(value.as_str()))).collect();
    let Ok(h) = js_sys::JSON::parse(&serde_json::Value::Object(object).to_string()) else {
        return fail("the headers could not be built".into());
    };
    // One deadline for the whole exchange, from now: connecting, the answer's headers and the part of its body that
    // is read. The runtime's own timer (`AbortSignal.timeout`) aborts the fetch and any read of its body; a Rust timer
    // raced against each step cost 0.15 CPU-ms per send.
    let deadline = web_sys::AbortSignal::timeout_with_u32(timeout_seconds.saturating_mul(1000));
    // `fetch(url, init)` straight from the global scope: building a `Request` first (what `worker::Fetch` takes) cost
    // 5% of the Worker's CPU in `make bench-delivery`'s profile, for nothing the send needs.
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&h);
    init.set_body(&JsValue::from_str(body));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(&deadline));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    usage::add(|u| u.fetches += 1);
    let response = match JsFuture::from(global.fetch_with_str_and_init(url, &init)).await {
        Ok(answer) => match answer.dyn_into::<web_sys::Response>() {
            Ok(answer) => answer,
            Err(_) => return fail("the runtime answered something other than a response".into()),
        },
        Err(_) if deadline.aborted() => return fail(format!("timed out after {timeout_seconds} s")),
        Err(e) => return fail(format!("connection failed: {}", worker::Error::from(e))),
    };
    let status = response.status();
    let headers = response.headers();
    let retry_after = if matches!(status, 429 | 503) {
        headers.get("retry-after").ok().flatten().and_then(|v| retry_after_seconds(&v, now_ms()))
    } else {
        None
    };
    let abort =
        headers.get("webhook-delivery").ok().flatten().is_some_and(|v| v.trim().eq_ignore_ascii_case("abort-message"));
    let declared = headers.get("content-length").ok().flatten().and_then(|v| v.trim().parse::<usize>().ok());
    let etag = headers.get("etag").ok().flatten();
    // The status has decided the outcome; the body only feeds the log. An answer that declares a length within the
    // limit is read whole, in one call; any other is streamed until the limit, its end or the deadline, and dropping
    // the stream cancels the rest. (Streaming an answer that fits one read cost a tenth of a send's CPU: `make
    // bench-delivery` profile.)
    let mut kept = Vec::new();
    match declared {
        Some(0) => {}
        // `arrayBuffer()` itself: `worker::Response::bytes` streams a fetched body chunk by chunk.
        Some(length) if length <= MAX_RESPONSE_BYTES => {
            if let Ok(buffer) = response.array_buffer() {
                if let Ok(buffer) = JsFuture::from(buffer).await {
                    kept = js_sys::Uint8Array::new(&buffer).to_vec();
                    kept.truncate(MAX_RESPONSE_BYTES);
                }
            }
        }
        _ => {
            if let Ok(mut stream) = Response::from(response).stream() {
                let _ = read_at_most(&mut stream, &mut kept, MAX_RESPONSE_BYTES).await;
            }
        }
    }
    let error = match status {
        200..=299 => None,
        300..=399 => Some(format!("redirect ({status}) not followed")),
        _ => Some(format!("receiver answered {status}")),
    };
    SendResult {
        status_code: Some(status),
        duration_ms: 0,
        response_body: Some(text_of(&kept)),
        error,
        abort,
        retry_after,
        request_headers: None,
        etag,
        request_body: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_without_error_succeeds() {
        let ok = SendResult { status_code: Some(204), ..Default::default() };
        assert!(ok.succeeded());
        let redirect = SendResult { status_code: Some(302), error: Some("redirect".into()), ..Default::default() };
        assert!(!redirect.succeeded());
        assert!(!SendResult { error: Some("timeout".into()), ..Default::default() }.succeeded());
    }
}
