//! Deliveries to Google Cloud Pub/Sub: an OAuth access token from the service account's JWT (RS256, signed by the
//! platform's WebCrypto; kept per isolate until a minute before it expires), then one REST `publish` per attempt:
//! the exact body as the message's data, the `webhook-*` values as attributes. A token the endpoint refuses fails
//! the attempt with its words; throttling (429, 503) and 5xx are retried, slowed.

use std::cell::RefCell;

use base64::Engine as _;
use serde_json::{json, Value};

use super::aws::Message;
use super::send::{self, SendResult};
use crate::domain::destination::GcpPubSub;

/// An access token kept in the isolate: whose, from where, and until when (epoch ms) to use it.
struct KeptToken {
    client_email: String,
    token_url: String,
    token: String,
    until: i64,
}

impl KeptToken {
    fn is_for(&self, pubsub: &GcpPubSub) -> bool {
        self.client_email == pubsub.client_email && self.token_url == pubsub.token_url
    }
}

thread_local! {
    static TOKENS: RefCell<Vec<KeptToken>> = const { RefCell::new(Vec::new()) };
}

/// At most this many tokens are kept per isolate.
const TOKENS_KEPT: usize = 64;

fn cached(pubsub: &GcpPubSub, now_ms: i64) -> Option<String> {
    TOKENS.with(|t| t.borrow().iter().find(|k| k.is_for(pubsub) && k.until > now_ms).map(|k| k.token.clone()))
}

fn keep(pubsub: &GcpPubSub, token: &str, until: i64) {
    TOKENS.with(|t| {
        let mut t = t.borrow_mut();
        t.retain(|k| !k.is_for(pubsub));
        if t.len() >= TOKENS_KEPT {
            t.remove(0);
        }
        let (client_email, token_url) = (pubsub.client_email.clone(), pubsub.token_url.clone());
        t.push(KeptToken { client_email, token_url, token: token.to_string(), until });
    });
}

/// An access token: the isolate's, or a new one for a JWT signed now.
async fn access_token(pubsub: &GcpPubSub, private_key: &str, now_ms: i64, timeout: u32) -> Result<String, SendResult> {
    if let Some(token) = cached(pubsub, now_ms) {
        return Ok(token);
    }
    let fail = |error: String| SendResult { error: Some(error), ..SendResult::default() };
    let input = pubsub.jwt_signing_input(now_ms.div_euclid(1000));
    let signature = crate::platform::rs256(private_key, input.as_bytes()).await.map_err(fail)?;
    let jwt = format!("{input}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature));
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &jwt)
        .finish();
    let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string())];
    let mut answer = send::post(&pubsub.token_url, &headers, &form, timeout).await;
    let body = answer.response_body.clone().unwrap_or_default();
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    match (answer.succeeded(), parsed["access_token"].as_str()) {
        (true, Some(token)) => {
            let lifetime = parsed["expires_in"].as_i64().unwrap_or(3600).clamp(60, 3600);
            keep(pubsub, token, now_ms + (lifetime - 60) * 1000);
            Ok(token.to_string())
        }
        _ => {
            let said = parsed["error_description"].as_str().or(parsed["error"].as_str()).unwrap_or(&body);
            let status = answer.status_code.map_or("no answer".to_string(), |s| s.to_string());
            let reason = answer.error.take().filter(|_| answer.status_code.is_none()).unwrap_or_default();
            Err(SendResult { error: Some(format!("the token endpoint answered {status}: {said}{reason}")), ..answer })
        }
    }
}

/// The publish call's body: one message, the body as base64 data, the values as attributes.
pub fn publish_body(message: &Message<'_>) -> String {
    json!({"messages": [{
        "data": base64::engine::general_purpose::STANDARD.encode(message.body),
        "attributes": {
            "webhook-id": message.id,
            "webhook-timestamp": message.timestamp.to_string(),
            "webhook-signature": message.signature,
        },
    }]})
    .to_string()
}

/// One attempt to a Pub/Sub topic; never fails. The second value is true when the destination was refused.
pub async fn send(
    pubsub: &GcpPubSub,
    private_key: &str,
    message: &Message<'_>,
    now_ms: i64,
    timeout_seconds: u32,
    allow_insecure: bool,
) -> (SendResult, bool) {
    let publish_url = pubsub.publish_url();
    if let Some(refused) = send::guard([publish_url.as_str(), pubsub.token_url.as_str()], allow_insecure) {
        return (refused, true);
    }
    let token = match access_token(pubsub, private_key, now_ms, timeout_seconds).await {
        Ok(token) => token,
        Err(failed) => return (failed, false),
    };
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Authorization".to_string(), format!("Bearer {token}")),
    ];
    let mut result = send::post(&publish_url, &headers, &publish_body(message), timeout_seconds).await;
    let masked = |name: &str, value: &str| {
        if name.eq_ignore_ascii_case("authorization") {
            "Bearer ••••••".to_string()
        } else {
            value.to_string()
        }
    };
    result.request_headers = Some(send::logged_call("POST", &publish_url, &headers, masked));
    let body = result.response_body.clone().unwrap_or_default();
    if result.succeeded() && !body.contains("\"messageIds\"") {
        result.error = Some("the endpoint's answer has no messageIds: not a Pub/Sub answer".into());
    } else if let (Some(status), Some(_)) = (result.status_code, &result.error) {
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let said = parsed["error"]["message"].as_str().unwrap_or(&body).chars().take(300).collect::<String>();
        result.refused_by("Pub/Sub", status, &said, matches!(status, 429 | 503));
    }
    (result, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_carries_the_body_as_data_and_the_values_as_attributes() {
        let body: Value = serde_json::from_str(&publish_body(&crate::delivery::aws::tests::MESSAGE)).unwrap();
        let data = body["messages"][0]["data"].as_str().unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(data).unwrap(), br#"{"amount":1.50}"#);
        assert_eq!(body["messages"][0]["attributes"]["webhook-timestamp"], "1700000000");
    }
}
