//! One HTTP POST to a receiver: no redirects followed, one deadline from the moment the request starts, and at most
//! `MAX_RESPONSE_BYTES` of the answer read; the status code decides the outcome the moment it arrives.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

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
}

impl SendResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Posts `body` with `headers`; never errors: every failure becomes the result's `error`.
pub async fn post(url: &str, headers: &[(String, String)], body: &str, timeout_seconds: u32) -> SendResult {
    let started = now_ms();
    let mut result = send(url, headers, body, timeout_seconds).await;
    result.duration_ms = (now_ms() - started).max(0);
    result
}

async fn send(url: &str, headers: &[(String, String)], body: &str, timeout_seconds: u32) -> SendResult {
    let fail = |error: String| SendResult { error: Some(error), ..SendResult::default() };
    let h = Headers::new();
    for (name, value) in headers {
        if h.set(name, value).is_err() {
            return fail(format!("header {name} could not be set"));
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(h).with_redirect(RequestRedirect::Manual).with_body(Some(body.into()));
    let request = match Request::new_with_init(url, &init) {
        Ok(r) => r,
        Err(e) => return fail(format!("invalid request: {e}")),
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    usage::add(|u| u.fetches += 1);
    // One deadline for the whole exchange, started now: connecting, the answer's headers and the part of its body
    // that is read.
    let mut deadline = Delay::from(Duration::from_secs(u64::from(timeout_seconds)));
    let mut response = match select(Box::pin(Fetch::Request(request).send_with_signal(&signal)), &mut deadline).await {
        Either::Left((Ok(response), _)) => response,
        Either::Left((Err(e), _)) => return fail(format!("connection failed: {e}")),
        Either::Right(_) => {
            controller.abort();
            return fail(format!("timed out after {timeout_seconds} s"));
        }
    };
    let status = response.status_code();
    let retry_after = if matches!(status, 429 | 503) {
        response.headers().get("retry-after").ok().flatten().and_then(|v| retry_after_seconds(&v, now_ms()))
    } else {
        None
    };
    let abort = response
        .headers()
        .get("webhook-delivery")
        .ok()
        .flatten()
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("abort-message"));
    // The status has decided the outcome; the body only feeds the log. Whatever of it arrives before the limit, its
    // end or the deadline is kept, and the rest is cancelled.
    let mut kept = Vec::new();
    if let Ok(mut stream) = response.stream() {
        let _ = select(Box::pin(read_at_most(&mut stream, &mut kept, MAX_RESPONSE_BYTES)), &mut deadline).await;
    }
    controller.abort();
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
