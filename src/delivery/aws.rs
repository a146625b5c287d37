//! Deliveries to AWS services: one signed API call per attempt (AWS Signature V4, `domain::sigv4`), through the same
//! bounded fetch as an HTTP delivery (`send::post`: one deadline, at most 4 KiB of the answer read), its answer
//! mapped to the attempt's outcome as an HTTP answer would be: throttling and 5xx retried (a throttle's
//! `Retry-After` honoured), every other error failed with the service's own type and message in the attempt log.

use serde_json::json;

use super::send::{self, SendResult};
use crate::domain::destination::{aws_json_error, mask, AwsSqs};
use crate::domain::sigv4::{self, Credentials, Signing};
use crate::domain::url_guard::check_url;

/// What an attempt sends: the delivery's id, body and Standard Webhooks values.
pub struct Message<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: &'a str,
}

/// One signed call of a service's API: where, with which headers (the signature's included), and the body.
pub struct ServiceCall {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The `SendMessage` call of an SQS queue (SQS's JSON protocol): the exact body as the message, the `webhook-*`
/// values as string attributes.
pub fn sqs_request(
    queue: &AwsSqs,
    secret_access_key: &str,
    message: &Message<'_>,
    now_ms: i64,
) -> Result<ServiceCall, String> {
    let attribute = |value: &str| json!({"DataType": "String", "StringValue": value});
    let body = json!({
        "QueueUrl": queue.queue_url,
        "MessageBody": message.body,
        "MessageAttributes": {
            "webhook-id": attribute(message.id),
            "webhook-timestamp": attribute(&message.timestamp.to_string()),
            "webhook-signature": attribute(message.signature),
        },
    })
    .to_string();
    let endpoint = queue.endpoint();
    let url = url::Url::parse(&endpoint).map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return Err(format!("endpoint {endpoint:?} has no host")),
    };
    let mut headers = vec![
        ("Content-Type".to_string(), "application/x-amz-json-1.0".to_string()),
        ("X-Amz-Target".to_string(), "AmazonSQS.SendMessage".to_string()),
    ];
    // `host` is signed but not set: the runtime sends the URL's, which is the same text.
    let mut signed_over = headers.clone();
    signed_over.push(("host".to_string(), host));
    let request = sigv4::Request {
        method: "POST",
        path: url.path(),
        query: url.query().unwrap_or(""),
        headers: &signed_over,
        body: body.as_bytes(),
    };
    let credentials = Credentials { access_key_id: &queue.access_key_id, secret_access_key, session_token: None };
    let signing = Signing {
        region: &queue.region,
        service: "sqs",
        at_ms: now_ms,
        normalize_path: true,
        sign_body: false,
        omit_session_token: false,
    };
    let signed = sigv4::sign(&request, &credentials, &signing).map_err(|e| format!("signing failed: {e}"))?;
    headers.extend(signed.headers);
    Ok(ServiceCall { url: endpoint, headers, body })
}

/// The headers as the attempt log shows them: the signature and the key masked.
pub fn headers_for_log(headers: &[(String, String)], queue: &AwsSqs) -> String {
    let logged: Vec<[String; 2]> = headers
        .iter()
        .map(|(name, value)| {
            let shown = if name.eq_ignore_ascii_case("authorization") {
                value
                    .replace(&queue.access_key_id, &mask(&queue.access_key_id))
                    .split("Signature=")
                    .next()
                    .map(|head| format!("{head}Signature=••••••"))
                    .unwrap_or_default()
            } else {
                value.clone()
            };
            [name.clone(), shown]
        })
        .collect();
    serde_json::to_string(&logged).unwrap_or_else(|_| "[]".into())
}

/// One attempt to an SQS queue; never fails: every failure becomes the result's `error`. The second value is true
/// when nothing was sent because the destination was refused (the URL guard), which is not retried.
pub async fn send_sqs(
    queue: &AwsSqs,
    secret_access_key: &str,
    message: &Message<'_>,
    now_ms: i64,
    timeout_seconds: u32,
    allow_insecure: bool,
) -> (SendResult, bool) {
    for url in [Some(queue.queue_url.as_str()), queue.endpoint.as_deref()].into_iter().flatten() {
        if let Err(refused) = check_url(url, allow_insecure) {
            let error = format!("destination refused at send time: {}", refused.0);
            return (SendResult { error: Some(error), ..SendResult::default() }, true);
        }
    }
    let ServiceCall { url, headers, body } = match sqs_request(queue, secret_access_key, message, now_ms) {
        Ok(call) => call,
        Err(e) => return (SendResult { error: Some(e), ..SendResult::default() }, false),
    };
    let mut result = send::post(&url, &headers, &body, timeout_seconds).await;
    result.request_headers = Some(headers_for_log(&headers, queue));
    // A 2xx that is not SendMessage's answer (a proxy, a wrong endpoint) did not queue anything.
    let queued = result.response_body.as_deref().is_some_and(|b| b.contains("\"MessageId\""));
    if result.succeeded() && !queued {
        let status = result.status_code.unwrap_or(0);
        result.error = Some(format!("the endpoint answered {status} without a MessageId: not an SQS answer"));
    } else if let (Some(status), Some(_)) = (result.status_code, &result.error) {
        let answer = aws_json_error(status, result.response_body.as_deref().unwrap_or(""));
        let retry = if answer.throttled { " (throttled: retried later)" } else { "" };
        result.error = Some(format!("SQS answered {status} {}: {}{retry}", answer.kind, answer.message));
        if answer.throttled && result.retry_after.is_none() {
            // SQS sends no Retry-After: wait at least a few seconds beyond the schedule's first step.
            result.retry_after = Some(5);
        }
    }
    (result, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> AwsSqs {
        AwsSqs {
            queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/orders".into(),
            region: "us-east-1".into(),
            access_key_id: "AKIDEXAMPLEKEY12".into(),
            secret_access_key: "sealed".into(),
            endpoint: None,
        }
    }

    #[test]
    fn a_send_message_call_carries_the_exact_body_and_the_webhook_values_signed() {
        let message =
            Message { id: "dlv_1", timestamp: 1_700_000_000, signature: "v1,abc", body: r#"{"amount":1.50}"# };
        let ServiceCall { url, headers, body } =
            sqs_request(&queue(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &message, 1_700_000_000_000).unwrap();
        assert_eq!(url, "https://sqs.us-east-1.amazonaws.com/");
        let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["MessageBody"], r#"{"amount":1.50}"#, "the body byte for byte, as a string");
        assert_eq!(sent["QueueUrl"], "https://sqs.us-east-1.amazonaws.com/123456789012/orders");
        assert_eq!(sent["MessageAttributes"]["webhook-signature"]["StringValue"], "v1,abc");
        let get = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        assert_eq!(get("x-amz-target").as_deref(), Some("AmazonSQS.SendMessage"));
        assert_eq!(get("x-amz-date").as_deref(), Some("20231114T221320Z"));
        let authorization = get("authorization").unwrap();
        assert!(authorization
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLEKEY12/20231114/us-east-1/sqs/aws4_request"));
        assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"), "{authorization}");
        let logged = headers_for_log(&headers, &queue());
        assert!(
            !logged.contains("AKIDEXAMPLEKEY12") && logged.contains("AKID…EY12") && logged.contains("Signature=••••••")
        );
        assert!(!logged.contains(authorization.rsplit('=').next().unwrap()), "the signature is not logged");
    }
}
