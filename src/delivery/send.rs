//! One HTTP POST to a receiver: no redirects followed, a hard timeout, at most 4 KiB of the answer kept.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::platform::now_ms;

/// How much of a receiver's answer is kept in the attempt log.
pub const MAX_RESPONSE_BYTES: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct SendResult {
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// The receiver answered `webhook-delivery: abort-message`: no further retries.
    pub abort: bool,
}

impl SendResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Keeps at most `MAX_RESPONSE_BYTES` of text, cut on a character boundary.
pub fn truncate(mut text: String) -> String {
    if text.len() > MAX_RESPONSE_BYTES {
        let mut cut = MAX_RESPONSE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
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
    // One deadline for the whole exchange: connecting, the answer's headers and its body.
    let exchange = async {
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        let abort = response
            .headers()
            .get("webhook-delivery")
            .ok()
            .flatten()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("abort-message"));
        let text = response.text().await.ok().map(truncate);
        Ok::<_, worker::Error>((status, abort, text))
    };
    let timeout = Delay::from(Duration::from_secs(u64::from(timeout_seconds)));
    let (status, abort, text) = match select(Box::pin(exchange), Box::pin(timeout)).await {
        Either::Left((Ok(answer), _)) => answer,
        Either::Left((Err(e), _)) => return fail(format!("connection failed: {e}")),
        Either::Right(_) => {
            controller.abort();
            return fail(format!("timed out after {timeout_seconds} s"));
        }
    };
    let error = match status {
        200..=299 => None,
        300..=399 => Some(format!("redirect ({status}) not followed")),
        _ => Some(format!("receiver answered {status}")),
    };
    SendResult { status_code: Some(status), duration_ms: 0, response_body: text, error, abort }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc".into()), "abc");
        let long = "é".repeat(3000);
        let cut = truncate(long);
        assert!(cut.len() <= MAX_RESPONSE_BYTES && cut.len() >= MAX_RESPONSE_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn only_2xx_without_error_succeeds() {
        let ok = SendResult { status_code: Some(204), ..Default::default() };
        assert!(ok.succeeded());
        let redirect = SendResult { status_code: Some(302), error: Some("redirect".into()), ..Default::default() };
        assert!(!redirect.succeeded());
        assert!(!SendResult { error: Some("timeout".into()), ..Default::default() }.succeeded());
    }
}
