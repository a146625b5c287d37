//! Deliveries to AWS services: one signed API call per attempt (AWS Signature V4, `domain::sigv4`), through the same
//! bounded fetch as an HTTP delivery (`send::post`: one deadline, at most 4 KiB of the answer read), its answer
//! mapped to the attempt's outcome as an HTTP answer would be: throttling and 5xx retried (slowed down), every other
//! error failed with the service's own type and message in the attempt log.
//!
//! - SQS `SendMessage` (JSON protocol): the exact body as the message, the `webhook-*` values as attributes.
//! - SNS `Publish` (query protocol): the same, as the message and message attributes.
//! - EventBridge `PutEvents` (JSON protocol): `Detail` must be a JSON object, so it is `{"payload": <the body>,
//!   "webhook": {"id", "timestamp", "signature"}}`, `DetailType` the event type, `Source` the destination's.
//! - S3 `PutObject`: one object per event, `<prefix>/<YYYY-MM-DD>/<event id>.json` (a retry writes the same key), the
//!   exact body, the values as `x-amz-meta-webhook-*` metadata.

use serde_json::{json, Value};

use super::send::{self, SendResult};
use crate::domain::destination::{aws_json_error, mask, Aws, AwsService};
use crate::domain::sigv4::{self, Credentials, Signing};

/// What an attempt sends: the delivery's id, type, body and Standard Webhooks values.
pub struct Message<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    /// When the event was ingested (epoch ms): the date in an S3 object's key.
    pub created_at: i64,
    pub event_type: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: &'a str,
}

/// One signed call of a service's API: where, with which headers (the signature's included), and the body.
pub struct ServiceCall {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The call that delivers `message` to `aws`, unsigned: content type, target and body.
fn unsigned(aws: &Aws, message: &Message<'_>) -> (Vec<(String, String)>, String) {
    let header = |name: &str, value: &str| (name.to_string(), value.to_string());
    match aws.service {
        AwsService::Sqs => {
            let attribute = |value: &str| json!({"DataType": "String", "StringValue": value});
            let body = json!({
                "QueueUrl": aws.queue_url,
                "MessageBody": message.body,
                "MessageAttributes": {
                    "webhook-id": attribute(message.id),
                    "webhook-timestamp": attribute(&message.timestamp.to_string()),
                    "webhook-signature": attribute(message.signature),
                },
            });
            let headers = vec![
                header("Content-Type", "application/x-amz-json-1.0"),
                header("X-Amz-Target", "AmazonSQS.SendMessage"),
            ];
            (headers, body.to_string())
        }
        AwsService::Sns => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", "Publish")
                .append_pair("Version", "2010-03-31")
                .append_pair("TopicArn", aws.topic_arn.as_deref().unwrap_or(""))
                .append_pair("Message", message.body);
            let timestamp = message.timestamp.to_string();
            let values = [
                ("webhook-id", message.id),
                ("webhook-timestamp", &timestamp),
                ("webhook-signature", message.signature),
            ];
            for (i, (name, value)) in values.iter().enumerate() {
                let entry = format!("MessageAttributes.entry.{}", i + 1);
                form.append_pair(&format!("{entry}.Name"), name)
                    .append_pair(&format!("{entry}.Value.DataType"), "String")
                    .append_pair(&format!("{entry}.Value.StringValue"), value);
            }
            (vec![header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], form.finish())
        }
        AwsService::S3 => {
            let timestamp = message.timestamp.to_string();
            let headers = vec![
                header("Content-Type", "application/json"),
                header("x-amz-meta-webhook-id", message.id),
                header("x-amz-meta-webhook-timestamp", &timestamp),
                header("x-amz-meta-webhook-signature", message.signature),
            ];
            (headers, message.body.to_string())
        }
        AwsService::Events => {
            // The body is JSON this Worker built: it goes into `Detail` as it is, not re-serialised.
            let webhook =
                json!({"id": message.id, "timestamp": message.timestamp.to_string(), "signature": message.signature});
            let detail = format!("{{\"payload\":{},\"webhook\":{webhook}}}", message.body);
            let body = json!({"Entries": [{
                "Source": aws.source,
                "DetailType": message.event_type,
                "Detail": detail,
                "EventBusName": aws.event_bus_name,
            }]});
            let headers = vec![
                header("Content-Type", "application/x-amz-json-1.1"),
                header("X-Amz-Target", "AWSEvents.PutEvents"),
            ];
            (headers, body.to_string())
        }
    }
}

/// The signed call that delivers `message` to `aws`.
pub fn request(aws: &Aws, secret_access_key: &str, message: &Message<'_>, now_ms: i64) -> Result<ServiceCall, String> {
    let (mut headers, body) = unsigned(aws, message);
    let endpoint = match (aws.service, &aws.endpoint) {
        (AwsService::S3, endpoint) => object_url(aws, endpoint.as_deref(), message),
        _ => aws.endpoint(),
    };
    let url = url::Url::parse(&endpoint).map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
    let method = if aws.service == AwsService::S3 { "PUT" } else { "POST" };
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return Err(format!("endpoint {endpoint:?} has no host")),
    };
    // `host` is signed but not set: the runtime sends the URL's, which is the same text.
    let mut signed_over = headers.clone();
    signed_over.push(("host".to_string(), host));
    let request = sigv4::Request {
        method,
        path: url.path(),
        query: url.query().unwrap_or(""),
        headers: &signed_over,
        body: body.as_bytes(),
    };
    let credentials = Credentials { access_key_id: &aws.access_key_id, secret_access_key, session_token: None };
    let signing = Signing {
        region: &aws.region,
        service: aws.service.signing_name(),
        at_ms: now_ms,
        // S3 signs its paths as sent, and the payload's hash as a header of its own.
        normalize_path: aws.service != AwsService::S3,
        sign_body: aws.service == AwsService::S3,
        omit_session_token: false,
    };
    let signed = sigv4::sign(&request, &credentials, &signing).map_err(|e| format!("signing failed: {e}"))?;
    headers.extend(signed.headers);
    Ok(ServiceCall { method, url: url.to_string(), headers, body })
}

/// An event id as a key segment: letters, digits, `.`, `_` and `-` as they are, every other byte as `~` and two hex
/// digits. One to one (`~` itself is escaped), and nothing in it needs percent-encoding, so the path S3 signs is the
/// path sent.
fn key_safe(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            other => format!("~{other:02x}"),
        })
        .collect()
}

/// Where an event's object goes: path-style under a given endpoint (`<endpoint>/<bucket>/<key>`, what S3-compatible
/// stores such as R2 take), virtual-hosted on AWS (`https://<bucket>.s3.<region>.amazonaws.com/<key>`).
fn object_url(aws: &Aws, endpoint: Option<&str>, message: &Message<'_>) -> String {
    let date = chrono::DateTime::from_timestamp_millis(message.created_at)
        .map_or_else(|| "1970-01-01".to_string(), |t| t.format("%Y-%m-%d").to_string());
    let event = key_safe(message.event_id);
    let prefix = aws.prefix.as_deref().filter(|p| !p.is_empty());
    let key = match prefix {
        Some(prefix) => format!("{prefix}/{date}/{event}.json"),
        None => format!("{date}/{event}.json"),
    };
    let bucket = aws.bucket.as_deref().unwrap_or("");
    match endpoint {
        Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", aws.region),
    }
}

/// The call as the attempt log shows it: method, URL and headers, the signature and the key masked.
pub fn headers_for_log(method: &str, url: &str, headers: &[(String, String)], aws: &Aws) -> String {
    send::logged_call(method, url, headers, |name, value| {
        if !name.eq_ignore_ascii_case("authorization") {
            return value.to_string();
        }
        let masked = value.replace(&aws.access_key_id, &mask(&aws.access_key_id));
        masked.split("Signature=").next().map(|head| format!("{head}Signature=••••••")).unwrap_or_default()
    })
}

/// Why a 2xx answer did not deliver, if it did not: it is not the service's answer, or (EventBridge) it refused
/// the entry; with whether that refusal is a throttle.
fn refused_entry(service: AwsService, body: &str) -> Option<(String, bool)> {
    let not_the_service =
        || Some((format!("the endpoint's answer has no MessageId: not an {} answer", service.title()), false));
    match service {
        AwsService::Sqs if body.contains("\"MessageId\"") => None,
        AwsService::Sns if body.contains("<MessageId>") => None,
        AwsService::Sqs | AwsService::Sns => not_the_service(),
        // `PutObject` answers 200 with an empty body; its ETag header says it stored the object (`send`).
        AwsService::S3 => None,
        AwsService::Events => {
            let Ok(answer) = serde_json::from_str::<Value>(body) else { return not_the_service() };
            let entry = &answer["Entries"][0];
            if answer["FailedEntryCount"].as_u64() == Some(0) && entry["EventId"].is_string() {
                return None;
            }
            let code = entry["ErrorCode"].as_str().unwrap_or("no EventId");
            let reason =
                format!("EventBridge refused the entry: {code}: {}", entry["ErrorMessage"].as_str().unwrap_or(""));
            Some((reason, code.contains("Throttl")))
        }
    }
}

/// One attempt to an AWS destination; never fails: every failure becomes the result's `error`. The second value is
/// true when nothing was sent because the destination was refused (the URL guard), which is not retried.
pub async fn send(
    aws: &Aws,
    secret_access_key: &str,
    message: &Message<'_>,
    now_ms: i64,
    timeout_seconds: u32,
    allow_insecure: bool,
) -> (SendResult, bool) {
    if let Some(refused) =
        send::guard([aws.queue_url.as_deref(), aws.endpoint.as_deref()].into_iter().flatten(), allow_insecure)
    {
        return (refused, true);
    }
    let ServiceCall { method, url, headers, body } = match request(aws, secret_access_key, message, now_ms) {
        Ok(call) => call,
        Err(e) => return (SendResult::not_sent(e), false),
    };
    let mut result = send::request(method, &url, &headers, &body, timeout_seconds).await;
    result.request_headers = Some(headers_for_log(method, &url, &headers, aws));
    let answer = result.response_body.clone().unwrap_or_default();
    if result.succeeded() && aws.service == AwsService::S3 && result.etag.is_none() {
        result.error = Some("the endpoint's answer has no ETag: not an S3 answer".into());
    } else if result.succeeded() {
        if let Some((reason, throttled)) = refused_entry(aws.service, &answer) {
            result.error = Some(reason);
            if throttled && result.retry_after.is_none() {
                result.retry_after = Some(5);
            }
        }
    } else if let (Some(status), Some(_)) = (result.status_code, &result.error) {
        let e = aws_json_error(status, &answer);
        result.refused_by(aws.service.title(), status, &format!("{}: {}", e.kind, e.message), e.throttled);
    }
    (result, false)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn aws(service: AwsService) -> Aws {
        Aws {
            service,
            region: "us-east-1".into(),
            access_key_id: "AKIDEXAMPLEKEY12".into(),
            secret_access_key: "sealed".into(),
            endpoint: None,
            queue_url: Some("https://sqs.us-east-1.amazonaws.com/123456789012/orders".into()),
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:deals".into()),
            event_bus_name: Some("crm".into()),
            source: Some("com.example.crm".into()),
            bucket: Some("crm-events".into()),
            prefix: Some("edgehook".into()),
        }
    }

    pub(crate) const MESSAGE: Message<'static> = Message {
        id: "dlv_1",
        event_id: "crm 42/x",
        created_at: 1_700_000_000_000,
        event_type: "deal.won",
        timestamp: 1_700_000_000,
        signature: "v1,abc",
        body: r#"{"amount":1.50}"#,
    };
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn header(call: &ServiceCall, name: &str) -> Option<String> {
        call.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_send_message_call_carries_the_exact_body_and_the_webhook_values_signed() {
        let call = request(&aws(AwsService::Sqs), SECRET, &MESSAGE, 1_700_000_000_000).unwrap();
        assert_eq!(call.url, "https://sqs.us-east-1.amazonaws.com/");
        let sent: Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(sent["MessageBody"], r#"{"amount":1.50}"#, "the body byte for byte, as a string");
        assert_eq!(sent["MessageAttributes"]["webhook-signature"]["StringValue"], "v1,abc");
        assert_eq!(header(&call, "x-amz-target").as_deref(), Some("AmazonSQS.SendMessage"));
        assert_eq!(header(&call, "x-amz-date").as_deref(), Some("20231114T221320Z"));
        let authorization = header(&call, "authorization").unwrap();
        assert!(authorization
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLEKEY12/20231114/us-east-1/sqs/aws4_request"));
        assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"), "{authorization}");
        let logged = headers_for_log(call.method, &call.url, &call.headers, &aws(AwsService::Sqs));
        assert!(
            logged.starts_with(r#"[[":method","POST"],[":url","https://sqs.us-east-1.amazonaws.com/"]"#),
            "{logged}"
        );
        assert!(
            !logged.contains("AKIDEXAMPLEKEY12") && logged.contains("AKID…EY12") && logged.contains("Signature=••••••")
        );
        assert!(!logged.contains(authorization.rsplit('=').next().unwrap()), "the signature is not logged");
    }

    #[test]
    fn sns_publishes_the_body_and_eventbridge_wraps_it_in_detail() {
        let sns = request(&aws(AwsService::Sns), SECRET, &MESSAGE, 1_700_000_000_000).unwrap();
        assert_eq!(sns.url, "https://sns.us-east-1.amazonaws.com/");
        let form: Vec<(String, String)> = url::form_urlencoded::parse(sns.body.as_bytes()).into_owned().collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Message"), Some(r#"{"amount":1.50}"#));
        assert_eq!(get("MessageAttributes.entry.3.Name"), Some("webhook-signature"));
        assert_eq!(get("MessageAttributes.entry.3.Value.StringValue"), Some("v1,abc"));
        assert!(header(&sns, "authorization").unwrap().contains("/us-east-1/sns/aws4_request"));

        let events = request(&aws(AwsService::Events), SECRET, &MESSAGE, 1_700_000_000_000).unwrap();
        let sent: Value = serde_json::from_str(&events.body).unwrap();
        let entry = &sent["Entries"][0];
        assert_eq!(
            (entry["Source"].as_str(), entry["DetailType"].as_str()),
            (Some("com.example.crm"), Some("deal.won"))
        );
        let detail = entry["Detail"].as_str().unwrap();
        assert_eq!(
            detail,
            r#"{"payload":{"amount":1.50},"webhook":{"id":"dlv_1","signature":"v1,abc","timestamp":"1700000000"}}"#
        );
        assert_eq!(header(&events, "x-amz-target").as_deref(), Some("AWSEvents.PutEvents"));
    }

    #[test]
    fn s3_puts_one_object_per_event_signed_with_its_payload_hash() {
        let s3 = request(&aws(AwsService::S3), SECRET, &MESSAGE, 1_700_000_000_000).unwrap();
        assert_eq!(s3.method, "PUT");
        assert_eq!(s3.url, "https://crm-events.s3.us-east-1.amazonaws.com/edgehook/2023-11-14/crm~2042~2fx.json");
        assert_eq!(s3.body, r#"{"amount":1.50}"#);
        assert_eq!(header(&s3, "x-amz-meta-webhook-signature").as_deref(), Some("v1,abc"));
        assert!(header(&s3, "x-amz-content-sha256").is_some());
        let authorization = header(&s3, "authorization").unwrap();
        assert!(authorization.contains("/s3/aws4_request") && authorization.contains("x-amz-meta-webhook-id"));
        let local =
            Aws { endpoint: Some("http://127.0.0.1:5000/".into()), prefix: Some(String::new()), ..aws(AwsService::S3) };
        let path_style = request(&local, SECRET, &MESSAGE, 1_700_000_000_000).unwrap();
        assert_eq!(path_style.url, "http://127.0.0.1:5000/crm-events/2023-11-14/crm~2042~2fx.json");
        assert_eq!(key_safe("evt_01ABC-x.y"), "evt_01ABC-x.y");
        assert_ne!(key_safe("a~2f"), key_safe("a/"), "one to one");
    }

    #[test]
    fn a_2xx_that_delivered_nothing_is_a_failure() {
        assert_eq!(refused_entry(AwsService::Sqs, r#"{"MessageId":"m"}"#), None);
        assert!(refused_entry(AwsService::Sqs, "<html>").is_some());
        assert_eq!(refused_entry(AwsService::Sns, "<PublishResponse><PublishResult><MessageId>x</MessageId>"), None);
        assert_eq!(refused_entry(AwsService::Events, r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e"}]}"#), None);
        let throttled = refused_entry(
            AwsService::Events,
            r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"ThrottlingException","ErrorMessage":"slow down"}]}"#,
        );
        assert_eq!(throttled.map(|(_, t)| t), Some(true));
        assert_eq!(refused_entry(AwsService::Events, "garbage").map(|(_, t)| t), Some(false));
        assert!(refused_entry(AwsService::Sns, r#"{"MessageId":"json is not SNS's"}"#).is_some());
    }
}
