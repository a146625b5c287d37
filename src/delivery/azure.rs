//! Deliveries to Azure Service Bus: one REST send per attempt (`POST <namespace>/<entity>/messages`) authorised by a
//! Shared Access Signature made for that call (`domain::destination::sas_token`, five minutes), through the same
//! bounded fetch as an HTTP delivery. The exact body is the message; `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` are custom properties (headers whose values are JSON strings). `201` is success; throttling
//! (429, 503) and 5xx are retried, other answers fail with Service Bus's own words.

use super::aws::Message;
use super::send::{self, SendResult};
use crate::domain::destination::{sas_token, AzureServiceBus};

/// How long a token made for one send stays valid.
const TOKEN_SECONDS: i64 = 300;

/// The send's URL and headers (the token's signature masked only in the log).
pub fn request(
    bus: &AzureServiceBus,
    key: &str,
    message: &Message<'_>,
    now_ms: i64,
) -> Result<(String, Vec<(String, String)>), String> {
    let resource = bus.resource_uri();
    let token = sas_token(&resource, &bus.key_name, key, now_ms.div_euclid(1000) + TOKEN_SECONDS)
        .map_err(|e| format!("the SAS token could not be made: {e}"))?;
    let quoted = |v: &str| serde_json::Value::from(v).to_string();
    let headers = vec![
        ("Authorization".to_string(), token),
        ("Content-Type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), quoted(message.id)),
        ("webhook-timestamp".to_string(), quoted(&message.timestamp.to_string())),
        ("webhook-signature".to_string(), quoted(message.signature)),
    ];
    Ok((format!("{resource}/messages"), headers))
}

/// The call as the attempt log shows it: method, URL and headers, the token's signature masked.
fn headers_for_log(url: &str, headers: &[(String, String)]) -> String {
    send::logged_call("POST", url, headers, |name, value| match value.split_once("&sig=") {
        Some((head, rest)) if name.eq_ignore_ascii_case("authorization") => {
            format!("{head}&sig=••••••{}", rest.find('&').map_or("", |at| &rest[at..]))
        }
        _ => value.to_string(),
    })
}

/// One attempt to a Service Bus queue or topic; never fails. The second value is true when the destination was
/// refused (the URL guard), which is not retried.
pub async fn send(
    bus: &AzureServiceBus,
    key: &str,
    message: &Message<'_>,
    now_ms: i64,
    timeout_seconds: u32,
    allow_insecure: bool,
) -> (SendResult, bool) {
    let (url, headers) = match request(bus, key, message, now_ms) {
        Ok(call) => call,
        Err(e) => return (SendResult::not_sent(e), false),
    };
    if let Some(refused) = send::guard([url.as_str()], allow_insecure) {
        return (refused, true);
    }
    let mut result = send::post(&url, &headers, message.body, timeout_seconds).await;
    result.request_headers = Some(headers_for_log(&url, &headers));
    match result.status_code {
        Some(201) => {}
        Some(status) => {
            let said = result.response_body.clone().unwrap_or_default();
            let said: String = said.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
            result.refused_by("Service Bus", status, &said, matches!(status, 429 | 503));
        }
        None => {}
    }
    (result, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_carries_a_fresh_token_and_the_values_as_properties() {
        let bus = AzureServiceBus {
            namespace: "contoso".into(),
            entity: "orders".into(),
            key_name: "RootManageSharedAccessKey".into(),
            key: "RAKHASH12345678901234567890abcdefghijABCDEFG=".into(),
            endpoint: None,
        };
        let (url, headers) = request(&bus, &bus.key, &crate::delivery::aws::tests::MESSAGE, 1_699_999_700_000).unwrap();
        assert_eq!(url, "https://contoso.servicebus.windows.net/orders/messages");
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(
            get("Authorization"),
            sas_token(&bus.resource_uri(), &bus.key_name, &bus.key, 1_700_000_000).unwrap()
        );
        assert_eq!(get("webhook-signature"), "\"v1,abc\"");
        let logged = headers_for_log(&url, &headers);
        assert!(logged.contains("&sig=••••••&se=1700000000&skn=RootManageSharedAccessKey"), "{logged}");
        assert!(!logged.contains("oNF6A5vc"));
    }
}
