//! Where a webhook's events go besides an HTTPS URL: a `destination` of another type, with its fields checked here.
//! Credentials are sealed at rest like signing secrets (`secrets::SecretBox`) and never answered: a webhook shows
//! the access key id masked and no secret.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::url_guard::check_url;
use super::Invalid;

/// The AWS service a destination calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AwsService {
    /// SQS `SendMessage` (JSON protocol): the exact body as the message, the `webhook-*` values as attributes.
    #[default]
    Sqs,
    /// SNS `Publish` (query protocol): the exact body as the message, the values as message attributes.
    Sns,
    /// EventBridge `PutEvents` (JSON protocol): `Detail` is `{"payload": <event>, "webhook": {id, timestamp,
    /// signature}}`, since it must be a JSON object.
    Events,
    /// S3 (or an S3-compatible store such as R2) `PutObject`: one object per event, `<prefix>/<date>/<event id>.json`,
    /// the exact body, the values as metadata.
    S3,
}

impl AwsService {
    /// Its name in a SigV4 scope and in its default endpoint's host.
    pub fn signing_name(self) -> &'static str {
        match self {
            AwsService::Sqs => "sqs",
            AwsService::Sns => "sns",
            AwsService::Events => "events",
            AwsService::S3 => "s3",
        }
    }

    /// Its name in messages.
    pub fn title(self) -> &'static str {
        match self {
            AwsService::Sqs => "SQS",
            AwsService::Sns => "SNS",
            AwsService::Events => "EventBridge",
            AwsService::S3 => "S3",
        }
    }
}

/// An AWS destination: the service, where, and the keys that sign its calls (AWS Signature V4). The fields of the
/// other services are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aws {
    #[serde(default)]
    pub service: AwsService,
    pub region: String,
    pub access_key_id: String,
    /// Plain in a request; sealed in storage.
    pub secret_access_key: String,
    /// Another compatible endpoint (default `https://<service>.<region>.amazonaws.com/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl Aws {
    /// Where the API calls go.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.{}.amazonaws.com/", self.service.signing_name(), self.region))
    }

    /// The access key id as answers show it: its first four and last four characters.
    pub fn masked_key(&self) -> String {
        mask(&self.access_key_id)
    }
}

/// `AKIA…MPLE`: enough to tell keys apart, not enough to use one.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "…".into();
    }
    format!("{}…{}", chars[..4].iter().collect::<String>(), chars[chars.len() - 4..].iter().collect::<String>())
}

/// The fields of an AWS destination of `service` (`type` already read).
pub fn parse_aws(service: AwsService, map: &Map<String, Value>, allow_insecure: bool) -> Result<Aws, Invalid> {
    let field = |name: &str| format!("destination.{name}");
    let own: &[&str] = match service {
        AwsService::Sqs => &["queueUrl"],
        AwsService::Sns => &["topicArn"],
        AwsService::Events => &["eventBusName", "source"],
        AwsService::S3 => &["bucket", "prefix"],
    };
    let common = ["type", "region", "accessKeyId", "secretAccessKey", "endpoint"];
    if let Some(other) = map.keys().find(|k| !common.contains(&k.as_str()) && !own.contains(&k.as_str())) {
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
        return Err(Invalid::field(field(other), format!("an {kind} destination has no field {other:?}")));
    }
    let text = |name: &str, max: usize| -> Result<String, Invalid> {
        match map.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max => Ok(s.trim().to_string()),
            _ => Err(Invalid::field(field(name), format!("{name} is required: a string of at most {max} characters"))),
        }
    };
    let url = |name: &str| -> Result<String, Invalid> {
        let raw = text(name, 2048)?;
        check_url(&raw, allow_insecure).map_err(|refused| Invalid::field(field(name), refused.0))?;
        Ok(raw)
    };
    let region = text("region", 32)?;
    if !is_region(&region) {
        return Err(Invalid::field(field("region"), "region must be an AWS region such as us-east-1"));
    }
    let access_key_id = text("accessKeyId", 128)?;
    if access_key_id.len() < 16 || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Invalid::field(field("accessKeyId"), "accessKeyId must be 16 to 128 letters and digits"));
    }
    let mut out = Aws {
        service,
        region,
        access_key_id,
        secret_access_key: text("secretAccessKey", 128)?,
        endpoint: map.contains_key("endpoint").then(|| url("endpoint")).transpose()?,
        queue_url: None,
        topic_arn: None,
        event_bus_name: None,
        source: None,
        bucket: None,
        prefix: None,
    };
    match service {
        AwsService::Sqs => out.queue_url = Some(url("queueUrl")?),
        AwsService::Sns => {
            let arn = text("topicArn", 256)?;
            if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
                return Err(Invalid::field(
                    field("topicArn"),
                    "topicArn must be a topic's ARN (arn:aws:sns:<region>:<account>:<name>)",
                ));
            }
            out.topic_arn = Some(arn);
        }
        AwsService::Events => {
            out.event_bus_name = Some(text("eventBusName", 1600)?);
            let source = text("source", 256)?;
            if source.starts_with("aws.") {
                return Err(Invalid::field(field("source"), "source may not start with aws. (AWS's own events)"));
            }
            out.source = Some(source);
        }
        AwsService::S3 => {
            let bucket = text("bucket", 63)?;
            let valid = bucket.len() >= 3
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !valid {
                return Err(Invalid::field(
                    field("bucket"),
                    "bucket must be an S3 bucket name (3 to 63 of a-z 0-9 . -)",
                ));
            }
            out.bucket = Some(bucket);
            let prefix = match map.get("prefix") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(p)) if p.len() <= 512 && !p.contains("..") => p.trim_matches('/').to_string(),
                Some(_) => {
                    return Err(Invalid::field(field("prefix"), "prefix must be a path of at most 512 characters"))
                }
            };
            out.prefix = Some(prefix);
        }
    }
    Ok(out)
}

/// An Azure Service Bus queue or topic, reached through its REST send API with a Shared Access Signature: the exact
/// body as the message, the `webhook-*` values as custom properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureServiceBus {
    pub namespace: String,
    /// The queue or topic.
    pub entity: String,
    pub key_name: String,
    /// Plain in a request; sealed in storage.
    pub key: String,
    /// Another endpoint (default `https://<namespace>.servicebus.windows.net`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl AzureServiceBus {
    /// The entity's URI, which the token names (`sr`) and the send goes under.
    pub fn resource_uri(&self) -> String {
        let base =
            self.endpoint.clone().unwrap_or_else(|| format!("https://{}.servicebus.windows.net", self.namespace));
        format!("{}/{}", base.trim_end_matches('/'), self.entity)
    }
}

/// A Shared Access Signature for `resource_uri` valid until `expiry` (epoch seconds), as Azure documents it:
/// `SharedAccessSignature sr=<encoded uri>&sig=<encoded base64 HMAC-SHA256 of "<encoded uri>\n<expiry>" keyed
/// with the key's text>&se=<expiry>&skn=<key name>`.
/// <https://learn.microsoft.com/en-us/rest/api/eventhub/generate-sas-token>
pub fn sas_token(
    resource_uri: &str,
    key_name: &str,
    key: &str,
    expiry: i64,
) -> Result<String, hmac::digest::InvalidLength> {
    use base64::Engine as _;
    let encode = |s: &str| -> String {
        // encodeURIComponent: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( )
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z'
                | b'a'..=b'z'
                | b'0'..=b'9'
                | b'-'
                | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let encoded = encode(resource_uri);
    let mac = super::sigv4::hmac(key.as_bytes(), format!("{encoded}\n{expiry}").as_bytes())?;
    let signature = base64::engine::general_purpose::STANDARD.encode(mac);
    Ok(format!("SharedAccessSignature sr={encoded}&sig={}&se={expiry}&skn={key_name}", encode(&signature)))
}

/// The fields of an `azure_service_bus` destination (`type` already read).
pub fn parse_azure(map: &Map<String, Value>, allow_insecure: bool) -> Result<AzureServiceBus, Invalid> {
    let field = |name: &str| format!("destination.{name}");
    let known = ["type", "namespace", "entity", "keyName", "key", "endpoint"];
    if let Some(other) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Invalid::field(field(other), format!("an azure_service_bus destination has no field {other:?}")));
    }
    let text = |name: &str, max: usize| -> Result<String, Invalid> {
        match map.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max => Ok(s.trim().to_string()),
            _ => Err(Invalid::field(field(name), format!("{name} is required: a string of at most {max} characters"))),
        }
    };
    let namespace = text("namespace", 50)?;
    if namespace.len() < 6 || !namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Invalid::field(field("namespace"), "namespace must be 6 to 50 letters, digits and dashes"));
    }
    let entity = text("entity", 260)?;
    if entity.contains("..") || entity.starts_with('/') {
        return Err(Invalid::field(field("entity"), "entity must be a queue or topic name"));
    }
    let endpoint = match map.get("endpoint") {
        None => None,
        Some(_) => {
            let raw = text("endpoint", 2048)?;
            check_url(&raw, allow_insecure).map_err(|refused| Invalid::field(field("endpoint"), refused.0))?;
            Some(raw)
        }
    };
    Ok(AzureServiceBus { namespace, entity, key_name: text("keyName", 256)?, key: text("key", 256)?, endpoint })
}

/// A Google Cloud Pub/Sub topic, reached through its REST `publish` with an OAuth token obtained with a service
/// account's JWT (RS256, signed by WebCrypto): the body as the message's data, the `webhook-*` values as attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcpPubSub {
    /// `projects/<project>/topics/<topic>`.
    pub topic: String,
    pub client_email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_id: Option<String>,
    /// The PKCS #8 PEM key: plain in a request, sealed in storage.
    pub private_key: String,
    /// Where the JWT is exchanged for a token (default the key file's `token_uri`, else Google's).
    pub token_url: String,
    /// Another Pub/Sub endpoint (default `https://pubsub.googleapis.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Google's token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope a publish needs.
pub const PUBSUB_SCOPE: &str = "https://www.googleapis.com/auth/pubsub";

impl GcpPubSub {
    pub fn publish_url(&self) -> String {
        let base = self.endpoint.as_deref().unwrap_or("https://pubsub.googleapis.com").trim_end_matches('/');
        format!("{base}/v1/{}:publish", self.topic)
    }

    /// The JWT's signing input (`base64url(header).base64url(claims)`) for a token valid from `now_s` for an hour,
    /// as Google documents a service account's self-signed JWT for the OAuth 2.0 token endpoint.
    /// <https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests>
    pub fn jwt_signing_input(&self, now_s: i64) -> String {
        use base64::Engine as _;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = Value::from(kid.as_str());
        }
        let claims = serde_json::json!({
            "iss": self.client_email, "scope": PUBSUB_SCOPE, "aud": self.token_url, "iat": now_s, "exp": now_s + 3600,
        });
        format!("{}.{}", b64(&header), b64(&claims))
    }
}

/// The fields of a `gcp_pubsub` destination (`type` already read): `serviceAccount` is the key file's JSON object.
pub fn parse_gcp(map: &Map<String, Value>, allow_insecure: bool) -> Result<GcpPubSub, Invalid> {
    let field = |name: &str| format!("destination.{name}");
    let known = ["type", "serviceAccount", "topic", "endpoint", "tokenUrl"];
    if let Some(other) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Invalid::field(field(other), format!("a gcp_pubsub destination has no field {other:?}")));
    }
    let url = |name: &str| -> Result<Option<String>, Invalid> {
        match map.get(name) {
            None => Ok(None),
            Some(Value::String(raw)) if raw.len() <= 2048 => {
                check_url(raw, allow_insecure).map_err(|refused| Invalid::field(field(name), refused.0))?;
                Ok(Some(raw.clone()))
            }
            Some(_) => Err(Invalid::field(field(name), format!("{name} must be a URL"))),
        }
    };
    let topic = map.get("topic").and_then(Value::as_str).unwrap_or("");
    let parts: Vec<&str> = topic.split('/').collect();
    let topic_ok =
        parts.len() == 4 && parts[0] == "projects" && parts[2] == "topics" && parts.iter().all(|p| !p.is_empty());
    if !topic_ok || topic.len() > 512 {
        return Err(Invalid::field(field("topic"), "topic must be projects/<project>/topics/<topic>"));
    }
    let account_field = field("serviceAccount");
    let Some(Value::Object(account)) = map.get("serviceAccount") else {
        return Err(Invalid::field(
            account_field,
            "serviceAccount must be the service account's key file (a JSON object)",
        ));
    };
    let member = |name: &str| account.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(client_email), Some(private_key)) = (member("client_email"), member("private_key")) else {
        return Err(Invalid::field(
            account_field,
            "serviceAccount needs client_email and private_key (the key file as downloaded)",
        ));
    };
    if !private_key.contains("-----BEGIN PRIVATE KEY-----") || private_key.len() > 8192 {
        return Err(Invalid::field(
            account_field,
            "serviceAccount.private_key must be a PKCS #8 PEM key (BEGIN PRIVATE KEY)",
        ));
    }
    let token_url = match url("tokenUrl")? {
        Some(given) => given,
        None => match member("token_uri") {
            Some(uri) => {
                check_url(uri, allow_insecure).map_err(|refused| Invalid::field(field("serviceAccount"), refused.0))?;
                uri.to_string()
            }
            None => GOOGLE_TOKEN_URL.to_string(),
        },
    };
    Ok(GcpPubSub {
        topic: topic.to_string(),
        client_email: client_email.to_string(),
        private_key_id: member("private_key_id").map(str::to_string),
        private_key: private_key.to_string(),
        token_url,
        endpoint: url("endpoint")?,
    })
}

/// A destination reached through a service's API, as stored: which kind, with its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    Aws(Aws),
    Azure(AzureServiceBus),
    Gcp(GcpPubSub),
}

impl Service {
    /// The credential its calls are made with (sealed in storage).
    pub fn credential(&self) -> &str {
        match self {
            Service::Aws(aws) => &aws.secret_access_key,
            Service::Azure(bus) => &bus.key,
            Service::Gcp(pubsub) => &pubsub.private_key,
        }
    }

    /// The same destination with its credential replaced (by its sealed form, for storage).
    pub fn with_credential(self, credential: String) -> Service {
        match self {
            Service::Aws(aws) => Service::Aws(Aws { secret_access_key: credential, ..aws }),
            Service::Azure(bus) => Service::Azure(AzureServiceBus { key: credential, ..bus }),
            Service::Gcp(pubsub) => Service::Gcp(GcpPubSub { private_key: credential, ..pubsub }),
        }
    }

    /// Its fields as the webhook's `destination_config` stores them (the type is the webhook's `destination`).
    pub fn to_config(&self) -> Result<String, serde_json::Error> {
        match self {
            Service::Aws(aws) => serde_json::to_string(aws),
            Service::Azure(bus) => serde_json::to_string(bus),
            Service::Gcp(pubsub) => serde_json::to_string(pubsub),
        }
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: lowercase parts joined by dashes, the last a number.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.last().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// What SQS answered, as the attempt's outcome reads it: its error type and message, and whether to slow down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub kind: String,
    pub message: String,
    pub throttled: bool,
}

/// Reads an AWS error answer: the JSON protocol's (`{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message":
/// …}`) or the XML one its front door answers with (`<Error><Code>SignatureDoesNotMatch</Code><Message>…`).
pub fn aws_json_error(status: u16, body: &str) -> ServiceError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let xml = |tag: &str| {
        let open = format!("<{tag}>");
        body.split_once(&open).and_then(|(_, rest)| rest.split_once(&format!("</{tag}>"))).map(|(inner, _)| inner)
    };
    let kind = parsed["__type"].as_str().or_else(|| xml("Code")).unwrap_or("").rsplit('#').next().unwrap_or("");
    let kind = kind.to_string();
    let message = parsed["message"]
        .as_str()
        .or_else(|| parsed["Message"].as_str())
        .or_else(|| xml("Message"))
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let throttled = status == 429
        || status == 503
        || matches!(kind.as_str(), "ThrottlingException" | "RequestThrottled" | "Throttling" | "SlowDown");
    let kind = if kind.is_empty() { format!("HTTP {status}") } else { kind };
    ServiceError { kind, message, throttled }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const GOOD: fn() -> Value = || {
        json!({"type": "aws_sqs", "queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            "region": "eu-west-1", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG"})
    };

    #[test]
    fn a_queue_needs_its_url_region_and_keys() {
        let q = parse_aws(AwsService::Sqs, &fields(GOOD()), false).unwrap();
        assert_eq!(q.endpoint(), "https://sqs.eu-west-1.amazonaws.com/");
        assert_eq!(q.masked_key(), "AKIA…MPLE");
        for (name, bad) in [
            ("queueUrl", json!("http://169.254.169.254/latest")),
            ("queueUrl", json!(5)),
            ("region", json!("Europe")),
            ("region", json!("eu-west")),
            ("accessKeyId", json!("short")),
            ("secretAccessKey", json!("")),
            ("endpoint", json!("https://10.0.0.1/")),
            ("colour", json!("red")),
        ] {
            let mut v = fields(GOOD());
            v.insert(name.into(), bad);
            let e = parse_aws(AwsService::Sqs, &v, false).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(format!("destination.{name}").as_str()), "{name}");
        }
        let mut local = fields(GOOD());
        local.insert("endpoint".into(), json!("http://127.0.0.1:5000"));
        assert_eq!(parse_aws(AwsService::Sqs, &local, true).unwrap().endpoint(), "http://127.0.0.1:5000");
        assert!(parse_aws(AwsService::Sqs, &local, false).is_err(), "the SSRF guard holds for endpoints too");
        let sns = json!({"type": "aws_sns", "topicArn": "arn:aws:sns:us-east-1:123456789012:deals", "region": "us-east-1",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "s"});
        assert_eq!(
            parse_aws(AwsService::Sns, &fields(sns.clone()), false).unwrap().endpoint(),
            "https://sns.us-east-1.amazonaws.com/"
        );
        let mut no_arn = fields(sns);
        no_arn.insert("topicArn".into(), json!("deals"));
        assert_eq!(
            parse_aws(AwsService::Sns, &no_arn, false).unwrap_err().field.as_deref(),
            Some("destination.topicArn")
        );
        let bus = json!({"type": "aws_eventbridge", "eventBusName": "crm", "source": "aws.crm", "region": "us-east-1",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "s"});
        assert_eq!(
            parse_aws(AwsService::Events, &fields(bus), false).unwrap_err().field.as_deref(),
            Some("destination.source")
        );
    }

    #[test]
    fn a_service_accounts_jwt_names_the_account_the_scope_and_the_token_endpoint() {
        use base64::Engine as _;
        let key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
        let pubsub = parse_gcp(
            &fields(json!({"type": "gcp_pubsub", "topic": "projects/acme/topics/deals",
                "serviceAccount": {"type": "service_account", "client_email": "edgehook@acme.iam.gserviceaccount.com",
                "private_key_id": "k1", "private_key": key}})),
            false,
        )
        .unwrap();
        assert_eq!(pubsub.token_url, GOOGLE_TOKEN_URL);
        assert_eq!(pubsub.publish_url(), "https://pubsub.googleapis.com/v1/projects/acme/topics/deals:publish");
        let input = pubsub.jwt_signing_input(1_700_000_000);
        let part = |i: usize| -> Value {
            let raw = input.split('.').nth(i).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap()
        };
        assert_eq!(part(0), json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
        assert_eq!(
            part(1),
            json!({"iss": "edgehook@acme.iam.gserviceaccount.com", "scope": PUBSUB_SCOPE,
                "aud": GOOGLE_TOKEN_URL, "iat": 1_700_000_000, "exp": 1_700_003_600})
        );
        for (bad, name) in [
            (json!({"type": "gcp_pubsub", "topic": "deals", "serviceAccount": {}}), "destination.topic"),
            (
                json!({"type": "gcp_pubsub", "topic": "projects/a/topics/b", "serviceAccount": "x"}),
                "destination.serviceAccount",
            ),
            (
                json!({"type": "gcp_pubsub", "topic": "projects/a/topics/b",
                "serviceAccount": {"client_email": "a@b", "private_key": "RSA"}}),
                "destination.serviceAccount",
            ),
        ] {
            assert_eq!(parse_gcp(&fields(bad), false).unwrap_err().field.as_deref(), Some(name));
        }
    }

    const SAS_FROM_NODE: &str = "SharedAccessSignature sr=https%3A%2F%2Fcontoso.servicebus.windows.net%2Forders\
        &sig=oNF6A5vcTpKCXrvU4%2FQ66S%2F8zVkQCK2DKP2axZMjIEA%3D&se=1700000000&skn=RootManageSharedAccessKey";

    #[test]
    fn the_sas_token_is_azures_documented_one() {
        // Azure's documented Node function (generate-sas-token), run on node 24 with these inputs:
        //   createSharedAccessToken("https://contoso.servicebus.windows.net/orders", "RootManageSharedAccessKey",
        //   "RAKHASH12345678901234567890abcdefghijABCDEFG=") with ttl 1700000000
        let token = sas_token(
            "https://contoso.servicebus.windows.net/orders",
            "RootManageSharedAccessKey",
            "RAKHASH12345678901234567890abcdefghijABCDEFG=",
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(token, SAS_FROM_NODE);
        let bus = parse_azure(
            &fields(json!({"type": "azure_service_bus", "namespace": "contoso", "entity": "orders",
                "keyName": "RootManageSharedAccessKey", "key": "k"})),
            false,
        )
        .unwrap();
        assert_eq!(bus.resource_uri(), "https://contoso.servicebus.windows.net/orders");
        let short =
            fields(json!({"type": "azure_service_bus", "namespace": "ab", "entity": "o", "keyName": "n", "key": "k"}));
        assert_eq!(parse_azure(&short, false).unwrap_err().field.as_deref(), Some("destination.namespace"));
    }

    #[test]
    fn service_errors_say_what_and_whether_to_slow_down() {
        let e = aws_json_error(
            400,
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The queue does not exist."}"#,
        );
        assert_eq!(
            (e.kind.as_str(), e.message.as_str(), e.throttled),
            ("QueueDoesNotExist", "The queue does not exist.", false)
        );
        assert!(aws_json_error(400, r#"{"__type":"ThrottlingException","message":"slow"}"#).throttled);
        assert!(aws_json_error(503, "garbage").throttled);
        assert_eq!(aws_json_error(502, "<html>").kind, "HTTP 502");
        let xml = aws_json_error(403, "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>");
        assert_eq!((xml.kind.as_str(), xml.throttled), ("SignatureDoesNotMatch", false));
        assert!(xml.message.starts_with("The request signature"));
    }
}
