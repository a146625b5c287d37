//! The webhook subscription: what a client may send to create or change one, validated field by field, and what
//! the API returns. Every refusal names its field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use super::catalogue;
use super::destination::{parse_aws, parse_azure, parse_gcp, AwsService, Service};
use super::filter::Filter;
use super::ids::WebhookId;
use super::transform::Program;
use super::url_guard::check_url;
use super::Invalid;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_EVENTS: usize = 100;
pub const MAX_HEADERS: usize = 20;
pub const MAX_HEADER_VALUE_BYTES: usize = 1024;
pub const MAX_HEADER_NAME_BYTES: usize = 256;
pub const RETRY_ATTEMPTS: (i64, i64) = (0, 10);
pub const RETRY_DELAY_SECONDS: (i64, i64) = (1, 86_400);
pub const SECRET_CHARS: (usize, usize) = (16, 128);
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 3;
pub const DEFAULT_RETRY_DELAY_SECONDS: u32 = 60;
pub const RATE_LIMIT_PER_SECOND: (i64, i64) = (1, 10_000);

/// A webhook as the API shows it: never with its secret.
// Create adds the secret (`WebhookWithSecret`); the secret routes answer it on their own.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    pub id: WebhookId,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(required)]
    pub description: Option<String>,
    /// Where deliveries are POSTed; null for a destination of another type (`poll`, `aws_sqs`)
    #[schema(format = "uri", required)]
    pub url: Option<String>,
    pub destination: Destination,
    pub events: Vec<String>,
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub headers: Map<String, Value>,
    pub is_active: bool,
    #[schema(minimum = 0, maximum = 10)]
    pub retry_attempts: u32,
    #[schema(minimum = 1, maximum = 86400)]
    pub retry_delay_seconds: u32,
    pub consecutive_failures: u32,
    #[schema(required)]
    pub disabled_reason: Option<String>,
    /// When it was disabled; null while active
    #[schema(required, format = DateTime)]
    pub disabled_at: Option<String>,
    /// How deliveries are signed: `v1` HMAC-SHA256 with the shared secret, or `v1a` Ed25519 with a key kept by
    /// edgehook
    pub signature: SignatureScheme,
    /// For ed25519 webhooks: the public key receivers verify `v1a` signatures with (`new Webhook("whpk_…")`)
    #[schema(required, pattern = "^whpk_")]
    pub public_key: Option<String>,
    pub ordering: Ordering,
    /// At most this many attempts start in any one second, across all consumer invocations (the webhook's lane, a
    /// Durable Object, paces them). Deliveries beyond it wait: they are not failed and use none of their retry
    /// budget. `null` (default): no limit. Changing it takes effect for deliveries not yet attempted.
    #[schema(required, minimum = 1, maximum = 10000)]
    pub rate_limit_per_second: Option<u32>,
    pub circuit: Circuit,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Which events of its types it receives, in the JSON filter syntax (`{"data": {"amount": {"$gte": 10000}}}`;
    /// docs/api.md, Payload filters); null: all of them
    #[schema(required, value_type = Option<std::collections::BTreeMap<String, Value>>)]
    pub filter: Option<Value>,
    /// Events of types with a JSON Schema (the event catalogue) are checked against it at ingest, and one that fails
    /// is refused with the failing path
    pub validate_schema: bool,
    /// The jq program that makes each delivery's body from its event (docs/api.md, Transformations); null: the
    /// event as it is
    #[schema(required)]
    pub transformation: Option<Transformation>,
    /// Only when one polling webhook is read (`GET /api/webhooks/{id}`): where its reader stands
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub poll: Option<PollStatus>,
    /// Only in the list: the last 24 hours of deliveries and the last delivery time
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub activity: Option<Activity>,
    /// Only in the answer to a PATCH that re-activates the webhook: the events it missed while inactive, and the
    /// call that replays them
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub missed_events: Option<MissedEvents>,
}

/// Where a webhook's events go: `http` POSTs each to its `url` (the default); `poll` keeps them, in order, for its
/// reader (`GET /api/poll/{id}` with a token from `POST /api/webhooks/{id}/poll-tokens`): no URL, no public endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestinationType {
    #[default]
    Http,
    Poll,
    #[serde(rename = "aws_sqs")]
    AwsSqs,
    #[serde(rename = "aws_sns")]
    AwsSns,
    #[serde(rename = "aws_eventbridge")]
    AwsEventbridge,
    S3,
    #[serde(rename = "azure_service_bus")]
    AzureServiceBus,
    #[serde(rename = "gcp_pubsub")]
    GcpPubsub,
}

impl DestinationType {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationType::Http => "http",
            DestinationType::Poll => "poll",
            DestinationType::AwsSqs => "aws_sqs",
            DestinationType::AwsSns => "aws_sns",
            DestinationType::AwsEventbridge => "aws_eventbridge",
            DestinationType::S3 => "s3",
            DestinationType::AzureServiceBus => "azure_service_bus",
            DestinationType::GcpPubsub => "gcp_pubsub",
        }
    }

    /// The AWS service behind it, if it is one.
    pub fn aws_service(self) -> Option<AwsService> {
        match self {
            DestinationType::AwsSqs => Some(AwsService::Sqs),
            DestinationType::AwsSns => Some(AwsService::Sns),
            DestinationType::AwsEventbridge => Some(AwsService::Events),
            DestinationType::S3 => Some(AwsService::S3),
            DestinationType::Http
            | DestinationType::Poll
            | DestinationType::AzureServiceBus
            | DestinationType::GcpPubsub => None,
        }
    }

    pub fn parse(s: &str) -> Option<DestinationType> {
        match s {
            "http" => Some(DestinationType::Http),
            "poll" => Some(DestinationType::Poll),
            "aws_sqs" => Some(DestinationType::AwsSqs),
            "aws_sns" => Some(DestinationType::AwsSns),
            "aws_eventbridge" => Some(DestinationType::AwsEventbridge),
            "s3" => Some(DestinationType::S3),
            "azure_service_bus" => Some(DestinationType::AzureServiceBus),
            "gcp_pubsub" => Some(DestinationType::GcpPubsub),
            _ => None,
        }
    }
}

/// A webhook's destination (`{"type": "http"}` unless created otherwise; it cannot change afterwards). An
/// `aws_sqs` one shows its queue, region, endpoint and its access key id masked; its secret key is never answered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    #[serde(rename = "type")]
    pub kind: DestinationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = "uri")]
    pub queue_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub topic_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub event_bus_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub topic: Option<String>,
    /// A Pub/Sub destination's service account (its key never answered)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub region: Option<String>,
    /// Masked: its first and last four characters
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "AKIA…MPLE")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = "uri")]
    pub endpoint: Option<String>,
}

/// Where a polling webhook's reader stands, as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollStatus {
    /// The position acknowledged (what `GET /api/poll/{id}` without `after` reads from)
    pub cursor: String,
    /// The position of the last message stored
    pub latest: String,
    /// Messages after the cursor (counted up to 10,000)
    #[schema(minimum = 0, maximum = 10000)]
    pub pending: i64,
    /// When the oldest of them was stored; null when the reader is caught up
    #[schema(required, format = DateTime)]
    pub oldest_pending_at: Option<String>,
}

/// A webhook's last 24 hours, as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Activity {
    pub last24h: ActivityCounts,
    #[schema(required, format = DateTime)]
    pub last_delivery_at: Option<String>,
}

/// Finished and all deliveries of the last 24 hours.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivityCounts {
    #[schema(minimum = 0)]
    pub total: i64,
    #[schema(minimum = 0)]
    pub succeeded: i64,
    #[schema(minimum = 0)]
    pub failed: i64,
    /// failed / (succeeded + failed); null before any finished
    #[schema(required, minimum = 0, maximum = 1)]
    pub failure_rate: Option<f64>,
}

/// The events a re-activated webhook missed while inactive, and the call that replays them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MissedEvents {
    #[schema(minimum = 0)]
    pub count: i64,
    pub more: bool,
    #[schema(format = DateTime)]
    pub since: String,
    pub replay: ReplayCall,
}

/// `POST /api/webhooks/{id}/replay-missing` with its body, ready to send.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayCall {
    pub method: ReplayMethod,
    pub path: String,
    pub body: ReplayRequest,
}

/// The replay call's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ReplayMethod {
    #[serde(rename = "POST")]
    Post,
}

/// `POST /api/webhooks/{id}/replay-missing`'s body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayRequest {
    #[schema(format = DateTime)]
    pub since: String,
}

/// A webhook with its signing secret: the answer to creating an HMAC webhook, the one time besides the secret routes
/// that the secret is shown. Serialised as the webhook's members and `secret`; its schema is `Webhook`'s with
/// `secret` added, derived from it below so the two cannot drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

impl utoipa::PartialSchema for WebhookWithSecret {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let secret = ObjectBuilder::new().schema_type(Type::String).min_length(Some(16));
        crate::api::openapi::extended::<Webhook>(
            "A webhook with its signing secret (shown once, at creation)",
            // Only a list or a re-activating PATCH carries these.
            &["activity", "missedEvents"],
            vec![("secret", secret.into())],
        )
    }
}

impl ToSchema for WebhookWithSecret {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Webhook as ToSchema>::schemas(schemas);
    }
}

/// The answer to creating a webhook: an HMAC webhook with its secret (shown once), or an ed25519 webhook with its
/// public key.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookCreated {
    WithSecret(WebhookWithSecret),
    WithPublicKey(Webhook),
}

/// A webhook's circuit breaker as the API shows it. It opens when at least 10 attempts in 60 s were made and 80 % or
/// more failed, or after 5 attempts in a row could not connect or timed out: no attempts for a cool-down (30 s,
/// doubling after each failed probe up to 10 min), then one probe; a success closes it. Deliveries held back keep
/// their place and their retry budget.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Circuit {
    pub state: CircuitStatus,
    #[schema(required, format = DateTime)]
    pub opened_at: Option<String>,
    /// When the probe goes (open) or went (half_open).
    #[schema(required, format = DateTime)]
    pub next_probe_at: Option<String>,
}

/// `closed` (deliveries flow), `open` (no attempts until `nextProbeAt`) or `half_open` (the cool-down is over; a
/// probe decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitStatus {
    Closed,
    Open,
    HalfOpen,
}

/// A new webhook.
// `parse_create` checks the body field by field, so that each refusal names its field; this type documents it, and
// `api::openapi`'s tests hold the two together (the parser knows every field here, and no other).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "name": "CRM sync",
    "url": "https://example.com/hooks/crm",
    "events": ["lead.*", "deal.won"],
    "headers": {"X-Tenant": "acme"},
    "retryAttempts": 5
}))]
#[allow(dead_code)]
pub struct WebhookCreate {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// https (http only with ALLOW_INSECURE_ENDPOINTS=true); no credentials; no private, loopback, link-local or
    /// metadata hosts. Required unless the destination is `poll`, which has none
    #[schema(max_length = 2048, nullable = false)]
    url: Option<String>,
    /// Exact types, `resource.*` wildcards or `*`.
    #[schema(min_items = 1, max_items = 100)]
    events: Vec<String>,
    /// Custom headers sent with every delivery. Reserved: content-type, content-length, host, user-agent, webhook-*,
    /// x-webhook-*.
    #[schema(schema_with = custom_headers_schema)]
    headers: Option<Map<String, Value>>,
    #[schema(default = true, nullable = false)]
    is_active: Option<bool>,
    /// Alias of isActive, accepted on the `/api/webhooks-management` routes
    #[schema(nullable = false)]
    active: Option<bool>,
    #[schema(minimum = 0, maximum = 10, default = 3, nullable = false)]
    retry_attempts: Option<u32>,
    #[schema(minimum = 1, maximum = 86400, default = 60, nullable = false)]
    retry_delay_seconds: Option<u32>,
    /// Generated as whsec_ + base64 of 32 random bytes when absent. Your own secret: `whsec_` + base64 is used as
    /// the decoded key bytes (the Standard Webhooks form). Any other string is used as its UTF-8 bytes by both
    /// signature schemes: receivers using the `standardwebhooks` package pass it with `new Webhook(secret, {
    /// format: "raw" })`. Stored AES-256-GCM-encrypted.
    #[schema(min_length = 16, max_length = 128, nullable = false)]
    secret: Option<String>,
    /// Chosen at creation: `ed25519` generates a key pair (the answer shows its public key; `secret` may not be
    /// given)
    #[schema(default = "hmac-sha256", nullable = false)]
    signature: Option<SignatureScheme>,
    #[schema(default = "none", nullable = false)]
    ordering: Option<Ordering>,
    /// At most this many attempts start in any one second, across all consumer invocations (the webhook's lane, a
    /// Durable Object, paces them). Deliveries beyond it wait: they are not failed and use none of their retry
    /// budget. `null` (default): no limit. Changing it takes effect for deliveries not yet attempted.
    #[schema(minimum = 1, maximum = 10000)]
    rate_limit_per_second: Option<u32>,
    /// Only events that match this filter are delivered (the JSON filter syntax: `{"data": {"amount": {"$gte":
    /// 10000}}}`; see docs/api.md); null or absent: every event of its types
    #[schema(value_type = Option<std::collections::BTreeMap<String, Value>>)]
    filter: Option<Value>,
    /// Check events of types with a JSON Schema (`/api/event-types`) against it at ingest: one that fails is
    /// refused (400 `schema_mismatch`, `field` = `data/<path>`) and delivered to no one
    #[schema(default = false, nullable = false)]
    validate_schema: Option<bool>,
    /// A jq program that makes each delivery's body from the event (`{"jq": "{text: .type}"}`; presets at
    /// `GET /api/transformation-presets`); null or absent: the event as it is
    transformation: Option<Transformation>,
    /// `{"type": "poll"}` makes a polling webhook: no `url`; its events wait, in order, for its reader. A service
    /// type sends there instead of a URL. Absent: `http`. Chosen at creation
    #[schema(nullable = false)]
    destination: Option<DestinationIn>,
}

/// A new webhook's destination: its `type` and that type's fields (docs/api.md, Destinations). Credentials (the
/// secret access key, the Service Bus key, the service account's private key) are sealed at rest and never
/// answered.
// Checked by `parse_create`; this type documents the body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct DestinationIn {
    #[serde(rename = "type")]
    kind: DestinationType,
    /// `aws_sqs`: the queue's URL
    #[schema(format = "uri", nullable = false)]
    queue_url: Option<String>,
    /// `aws_sns`: the topic's ARN
    #[schema(nullable = false)]
    topic_arn: Option<String>,
    /// `aws_eventbridge`: the bus's name or ARN
    #[schema(nullable = false)]
    event_bus_name: Option<String>,
    /// `aws_eventbridge`: the events' source (not `aws.…`)
    #[schema(nullable = false)]
    source: Option<String>,
    /// `s3`: the bucket
    #[schema(nullable = false)]
    bucket: Option<String>,
    /// `s3`: a folder for the objects, `<prefix>/<date>/<event id>.json`
    #[schema(nullable = false)]
    prefix: Option<String>,
    /// `aws_*`, `s3`: the AWS region
    #[schema(nullable = false, example = "us-east-1")]
    region: Option<String>,
    /// `aws_*`, `s3`
    #[schema(nullable = false)]
    access_key_id: Option<String>,
    /// `aws_*`, `s3`: write-only
    #[schema(nullable = false, write_only)]
    secret_access_key: Option<String>,
    /// `azure_service_bus`: `<namespace>.servicebus.windows.net`
    #[schema(nullable = false)]
    namespace: Option<String>,
    /// `azure_service_bus`: the queue or topic
    #[schema(nullable = false)]
    entity: Option<String>,
    /// `azure_service_bus`: the shared access policy's name
    #[schema(nullable = false)]
    key_name: Option<String>,
    /// `azure_service_bus`: the policy's key; write-only
    #[schema(nullable = false, write_only)]
    key: Option<String>,
    /// `gcp_pubsub`: the service account's key file as downloaded (`client_email`, `private_key`, …); write-only
    #[schema(nullable = false, write_only, value_type = Option<std::collections::BTreeMap<String, Value>>)]
    service_account: Option<Map<String, Value>>,
    /// `gcp_pubsub`: `projects/<project>/topics/<topic>`
    #[schema(nullable = false)]
    topic: Option<String>,
    /// `gcp_pubsub`: the OAuth token endpoint (default the key file's `token_uri`, else Google's)
    #[schema(format = "uri", nullable = false)]
    token_url: Option<String>,
    /// Any service type: another compatible endpoint (R2's S3 API, a local emulator); the same guard as URLs
    #[schema(format = "uri", nullable = false)]
    endpoint: Option<String>,
}

/// The schema of `headers` in a create or a patch: at most [`MAX_HEADERS`] names, each value a string of at most
/// [`MAX_HEADER_VALUE_BYTES`].
fn custom_headers_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let value = ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_HEADER_VALUE_BYTES));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(MAX_HEADERS))
        .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
        .build()
}

/// A change to a webhook: any subset of the create fields except `secret` and `signature`.
// Checked by `parse_patch`, like `WebhookCreate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct WebhookPatch {
    #[schema(min_length = 1, max_length = 100, nullable = false)]
    name: Option<String>,
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// https (http only with ALLOW_INSECURE_ENDPOINTS=true); no credentials; no private, loopback, link-local or
    /// metadata hosts
    #[schema(max_length = 2048, nullable = false)]
    url: Option<String>,
    /// Exact types, `resource.*` wildcards or `*`.
    #[schema(min_items = 1, max_items = 100, nullable = false)]
    events: Option<Vec<String>>,
    /// Custom headers sent with every delivery. Reserved: content-type, content-length, host, user-agent, webhook-*,
    /// x-webhook-*.
    #[schema(schema_with = custom_headers_schema)]
    headers: Option<Map<String, Value>>,
    #[schema(nullable = false)]
    is_active: Option<bool>,
    /// Alias of isActive, accepted on the `/api/webhooks-management` routes
    #[schema(nullable = false)]
    active: Option<bool>,
    #[schema(minimum = 0, maximum = 10, nullable = false)]
    retry_attempts: Option<u32>,
    #[schema(minimum = 1, maximum = 86400, nullable = false)]
    retry_delay_seconds: Option<u32>,
    #[schema(nullable = false)]
    ordering: Option<Ordering>,
    /// At most this many attempts start in any one second; `null` removes the limit.
    #[schema(minimum = 1, maximum = 10000)]
    rate_limit_per_second: Option<u32>,
    /// A new payload filter; `null` removes it
    #[schema(value_type = Option<std::collections::BTreeMap<String, Value>>)]
    filter: Option<Value>,
    #[schema(nullable = false)]
    validate_schema: Option<bool>,
    /// A new transformation; `null` removes it
    transformation: Option<Transformation>,
}

/// A webhook's transformation: a jq program from the event, as its receivers would see it (`{id, type, timestamp,
/// organizationId, deliveryId, data, changes?}`), to the body sent. Its first output is the body, written as JSON;
/// it runs within 10,000 evaluation steps, 256 levels of nesting, 8 MiB held and 256 KiB of output, and an
/// attempt whose program fails or runs over is a failed attempt with the reason (the event is never sent as it
/// is instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"jq": "{text: .type}"}))]
pub struct Transformation {
    /// The program, at most 16 KiB
    pub jq: String,
}

/// The fields a create or a patch may carry; `None` means absent. `description: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub headers: Option<Map<String, Value>>,
    pub is_active: Option<bool>,
    pub retry_attempts: Option<u32>,
    pub retry_delay_seconds: Option<u32>,
    pub secret: Option<String>,
    pub signature: Option<SignatureScheme>,
    pub ordering: Option<Ordering>,
    /// `Some(None)` removes the limit.
    pub rate_limit_per_second: Option<Option<u32>>,
    /// The filter's canonical JSON text; `Some(None)` removes it.
    pub filter: Option<Option<String>>,
    pub validate_schema: Option<bool>,
    pub destination: Option<ParsedDestination>,
    /// The transformation's program, compiled once to check it; `Some(None)` removes it.
    pub transformation: Option<Option<String>>,
}

/// `fifo`: deliveries go one after another in the order their events were ingested; a delivery is not attempted while
/// one for an earlier event is pending (a replayed or recovered delivery takes its event's place) (a failing head
/// holds the line while it retries). `none` (default): they may overtake each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    #[default]
    None,
    Fifo,
}

impl Ordering {
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::Fifo => "fifo",
        }
    }

    pub fn parse(s: &str) -> Option<Ordering> {
        match s {
            "none" => Some(Ordering::None),
            "fifo" => Some(Ordering::Fifo),
            _ => None,
        }
    }
}

/// How a webhook's deliveries are signed (Standard Webhooks): HMAC-SHA256 `v1` with a shared `whsec_` secret, or
/// Ed25519 `v1a` with a `whsk_` secret key whose `whpk_` public key receivers verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum SignatureScheme {
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::HmacSha256 => "hmac-sha256",
            SignatureScheme::Ed25519 => "ed25519",
        }
    }
}

/// A complete, valid new webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhook {
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub events: Vec<String>,
    pub headers: Map<String, Value>,
    pub is_active: bool,
    pub retry_attempts: u32,
    pub retry_delay_seconds: u32,
    pub secret: Option<String>,
    pub signature: SignatureScheme,
    pub ordering: Ordering,
    pub rate_limit_per_second: Option<u32>,
    /// The filter's canonical JSON text, if any.
    pub filter: Option<String>,
    pub validate_schema: bool,
    /// The transformation's program, if any.
    pub transformation: Option<String>,
    pub destination: DestinationType,
    /// A service destination's fields (its credential still plain: the API seals it before storing).
    pub service: Option<Service>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Patch,
}

/// Parses and validates a create body.
pub fn parse_create(body: &Value, allow_insecure: bool) -> Result<NewWebhook, Invalid> {
    let f = parse_fields(body, Mode::Create, allow_insecure)?;
    let missing = |field: &str| Invalid::field(field, format!("{field} is required"));
    let ParsedDestination { kind: destination, service } = f.destination.unwrap_or_default();
    Ok(NewWebhook {
        name: f.name.ok_or_else(|| missing("name"))?,
        description: f.description.flatten(),
        url: match (destination, f.url) {
            (DestinationType::Http, Some(url)) => url,
            (DestinationType::Http, None) => return Err(missing("url")),
            (_, None) => String::new(),
            (_, Some(_)) => {
                return Err(Invalid::field(
                    "url",
                    "only an http destination has a url; this one's fields are in destination",
                ))
            }
        },
        events: f.events.ok_or_else(|| missing("events"))?,
        headers: f.headers.unwrap_or_default(),
        is_active: f.is_active.unwrap_or(true),
        retry_attempts: f.retry_attempts.unwrap_or(DEFAULT_RETRY_ATTEMPTS),
        retry_delay_seconds: f.retry_delay_seconds.unwrap_or(DEFAULT_RETRY_DELAY_SECONDS),
        signature: match (f.signature.unwrap_or_default(), &f.secret) {
            (SignatureScheme::Ed25519, Some(_)) => {
                return Err(Invalid::field("secret", "an ed25519 webhook's key is generated by edgehook; omit secret"))
            }
            (scheme, _) => scheme,
        },
        secret: f.secret,
        ordering: f.ordering.unwrap_or_default(),
        rate_limit_per_second: f.rate_limit_per_second.flatten(),
        filter: f.filter.flatten(),
        validate_schema: f.validate_schema.unwrap_or(false),
        transformation: f.transformation.flatten(),
        destination,
        service,
    })
}

/// A transformation's program, compiled to check it (`transformation.jq` names what is wrong, with its line and
/// column); `null` is none.
pub fn transformation(value: &Value) -> Result<Option<String>, Invalid> {
    Ok(compiled_transformation(value)?.map(|(source, _)| source.to_string()))
}

/// A transformation's program text and the program compiled from it; `null` is none. Errors as [`transformation`].
pub fn compiled_transformation(value: &Value) -> Result<Option<(&str, Program)>, Invalid> {
    let source = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => {
            if let Some(other) = map.keys().find(|k| k.as_str() != "jq") {
                return Err(Invalid::field(
                    format!("transformation.{other}"),
                    "a transformation has one field, jq (its program)",
                ));
            }
            map.get("jq").and_then(Value::as_str)
        }
        _ => None,
    };
    let source = source
        .ok_or_else(|| Invalid::field("transformation.jq", "transformation must be {\"jq\": \"<program>\"} or null"))?;
    Ok(Some((source, Program::compile(source)?)))
}

/// Parses and validates a patch body: any subset of the create fields except `secret`.
pub fn parse_patch(body: &Value, allow_insecure: bool) -> Result<WebhookFields, Invalid> {
    parse_fields(body, Mode::Patch, allow_insecure)
}

fn parse_fields(body: &Value, mode: Mode, allow_insecure: bool) -> Result<WebhookFields, Invalid> {
    let Value::Object(map) = body else {
        return Err(Invalid::body("invalid_body", "the request body must be a JSON object"));
    };
    let mut f = WebhookFields::default();
    for (key, value) in map {
        match key.as_str() {
            "name" => f.name = Some(name(value)?),
            "description" => f.description = Some(description(value)?),
            "url" => f.url = Some(url(value, allow_insecure)?),
            "events" => f.events = Some(patterns(value)?),
            "headers" => f.headers = Some(headers(value)?),
            "isActive" | "active" => {
                let v =
                    value.as_bool().ok_or_else(|| Invalid::field(key.as_str(), format!("{key} must be a boolean")))?;
                if f.is_active.is_some_and(|prev| prev != v) {
                    return Err(Invalid::field(key.as_str(), "isActive and active disagree"));
                }
                f.is_active = Some(v);
            }
            "retryAttempts" => f.retry_attempts = Some(integer_in(value, "retryAttempts", RETRY_ATTEMPTS)?),
            "retryDelaySeconds" => {
                f.retry_delay_seconds = Some(integer_in(value, "retryDelaySeconds", RETRY_DELAY_SECONDS)?)
            }
            "secret" if mode == Mode::Create => f.secret = Some(secret(value)?),
            "ordering" => {
                f.ordering = Some(
                    value
                        .as_str()
                        .and_then(Ordering::parse)
                        .ok_or_else(|| Invalid::field("ordering", "ordering must be \"none\" or \"fifo\""))?,
                )
            }
            "filter" => {
                f.filter = Some(match value {
                    Value::Null => None,
                    v => {
                        Filter::parse(v)?;
                        Some(v.to_string())
                    }
                })
            }
            "transformation" => f.transformation = Some(transformation(value)?),
            "destination" if mode == Mode::Create => f.destination = Some(destination(value, allow_insecure)?),
            "destination" => {
                return Err(Invalid::field("destination", "a webhook's destination is chosen when it is created"))
            }
            "validateSchema" => {
                f.validate_schema = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| Invalid::field("validateSchema", "validateSchema must be a boolean"))?,
                )
            }
            "rateLimitPerSecond" => {
                f.rate_limit_per_second = Some(match value {
                    Value::Null => None,
                    v => Some(integer_in(v, "rateLimitPerSecond", RATE_LIMIT_PER_SECOND)?),
                })
            }
            "signature" if mode == Mode::Create => {
                f.signature = Some(match value.as_str() {
                    Some("hmac-sha256") => SignatureScheme::HmacSha256,
                    Some("ed25519") => SignatureScheme::Ed25519,
                    _ => return Err(Invalid::field("signature", "signature must be \"hmac-sha256\" or \"ed25519\"")),
                })
            }
            "signature" => {
                return Err(Invalid::field("signature", "the signature scheme is chosen when the webhook is created"))
            }
            "secret" => {
                return Err(Invalid::field(
                    "secret",
                    "the secret cannot be changed here; use POST /api/webhooks/{id}/regenerate-secret",
                ))
            }
            other => {
                return Err(Invalid::unknown_field(other));
            }
        }
    }
    Ok(f)
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str, Invalid> {
    value.as_str().ok_or_else(|| Invalid::field(field, format!("{field} must be a string")))
}

fn name(value: &Value) -> Result<String, Invalid> {
    let s = string(value, "name")?.trim();
    if s.is_empty() {
        return Err(Invalid::field("name", "name must not be empty"));
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::field("name", format!("name must be at most {MAX_NAME_CHARS} characters")));
    }
    Ok(s.to_string())
}

fn description(value: &Value) -> Result<Option<String>, Invalid> {
    if value.is_null() {
        return Ok(None);
    }
    let s = string(value, "description")?;
    if s.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Invalid::field(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(Some(s.to_string()))
}

fn url(value: &Value, allow_insecure: bool) -> Result<String, Invalid> {
    let raw = string(value, "url")?;
    check_url(raw, allow_insecure).map_err(|refused| Invalid::field("url", refused.0))?;
    Ok(raw.to_string())
}

/// A destination as a create gives it: its type and, for a service, its fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedDestination {
    pub kind: DestinationType,
    pub service: Option<Service>,
}

/// `{"type": "http"}`, `{"type": "poll"}`, or a service's type with its fields
/// (`domain::destination::parse_aws`, `parse_azure`, `parse_gcp`).
fn destination(value: &Value, allow_insecure: bool) -> Result<ParsedDestination, Invalid> {
    let refused = || {
        Invalid::field(
            "destination",
            "destination must be {\"type\": \"http\" | \"poll\" | \"aws_sqs\" | \"aws_sns\" | \"aws_eventbridge\" | \
             \"s3\" | \"azure_service_bus\" | \"gcp_pubsub\", …its fields}",
        )
    };
    let Value::Object(map) = value else { return Err(refused()) };
    let kind = map.get("type").and_then(Value::as_str).and_then(DestinationType::parse).ok_or_else(refused)?;
    let service = match (kind.aws_service(), kind) {
        (Some(service), _) => Some(Service::Aws(parse_aws(service, map, allow_insecure)?)),
        (None, DestinationType::AzureServiceBus) => Some(Service::Azure(parse_azure(map, allow_insecure)?)),
        (None, DestinationType::GcpPubsub) => Some(Service::Gcp(parse_gcp(map, allow_insecure)?)),
        _ if map.len() != 1 => return Err(refused()),
        _ => None,
    };
    Ok(ParsedDestination { kind, service })
}

/// A list of subscription patterns, as `events` takes them.
pub fn patterns(value: &Value) -> Result<Vec<String>, Invalid> {
    let Value::Array(items) = value else {
        return Err(Invalid::field("events", "events must be an array of event types"));
    };
    if items.is_empty() {
        return Err(Invalid::field("events", "events must name at least one event type"));
    }
    if items.len() > MAX_EVENTS {
        return Err(Invalid::field("events", format!("events may name at most {MAX_EVENTS} types")));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let pattern = item.as_str().ok_or_else(|| Invalid::field("events", "each event type must be a string"))?;
        // A pattern only the organization's own types could satisfy is checked against them by the API
        // (`api::event_types::check_patterns`).
        if !catalogue::is_valid_pattern(pattern) && !catalogue::is_plausible_pattern(pattern) {
            return Err(Invalid::field(
                "events",
                format!("unknown event type {pattern:?}; see GET /api/event-types (patterns: type, resource.*, *)"),
            ));
        }
        if !out.iter().any(|p| p == pattern) {
            out.push(pattern.to_string());
        }
    }
    Ok(out)
}

/// Header names that edgehook sets itself, or that would break the HTTP exchange.
pub fn is_reserved_header(lower: &str) -> bool {
    matches!(
        lower,
        "content-type"
            | "content-length"
            | "host"
            | "user-agent"
            | "connection"
            | "transfer-encoding"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
    ) || lower.starts_with("webhook-")
        || lower.starts_with("x-webhook-")
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn headers(value: &Value) -> Result<Map<String, Value>, Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::field("headers", "headers must be an object of header names to string values"));
    };
    if map.len() > MAX_HEADERS {
        return Err(Invalid::field("headers", format!("at most {MAX_HEADERS} custom headers are allowed")));
    }
    let mut seen: Vec<String> = Vec::with_capacity(map.len());
    for (name, v) in map {
        let field = format!("headers.{name}");
        if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES || !name.bytes().all(is_token_char) {
            return Err(Invalid::field(field, format!("{name:?} is not a valid header name")));
        }
        let lower = name.to_ascii_lowercase();
        if is_reserved_header(&lower) {
            return Err(Invalid::field(field, format!("{name} is set by edgehook and cannot be overridden")));
        }
        if seen.contains(&lower) {
            return Err(Invalid::field(field, format!("{name} is given twice")));
        }
        seen.push(lower);
        let Some(s) = v.as_str() else {
            return Err(Invalid::field(field, "header values must be strings"));
        };
        if s.len() > MAX_HEADER_VALUE_BYTES {
            return Err(Invalid::field(field, format!("header values must be at most {MAX_HEADER_VALUE_BYTES} bytes")));
        }
        if !s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
            return Err(Invalid::field(field, "header values must be printable ASCII without line breaks"));
        }
    }
    Ok(map.clone())
}

fn integer_in(value: &Value, field: &str, (min, max): (i64, i64)) -> Result<u32, Invalid> {
    let out_of_range = || Invalid::field(field, format!("{field} must be an integer from {min} to {max}"));
    let n = value.as_i64().ok_or_else(out_of_range)?;
    if n < min || n > max {
        return Err(out_of_range());
    }
    u32::try_from(n).map_err(|_| out_of_range())
}

fn secret(value: &Value) -> Result<String, Invalid> {
    let s = string(value, "secret")?;
    let (min, max) = SECRET_CHARS;
    let n = s.chars().count();
    if n < min || n > max {
        return Err(Invalid::field("secret", format!("secret must be {min} to {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::field("secret", "secret must not contain control characters"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> Result<NewWebhook, Invalid> {
        parse_create(&body, false)
    }

    fn field_of(body: Value) -> Option<String> {
        create(body).err().and_then(|e| e.field)
    }

    fn base() -> Value {
        json!({"name": "CRM sync", "url": "https://example.com/hook", "events": ["lead.created"]})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut b = base();
        b[key] = value;
        b
    }

    #[test]
    fn a_minimal_create_gets_the_defaults() {
        let w = create(base()).unwrap();
        assert_eq!(w.name, "CRM sync");
        assert!(w.is_active);
        assert_eq!((w.retry_attempts, w.retry_delay_seconds), (3, 60));
        assert!(w.headers.is_empty() && w.secret.is_none() && w.description.is_none());
    }

    #[test]
    fn the_signature_scheme_is_chosen_at_creation_only() {
        assert_eq!(create(base()).unwrap().signature, SignatureScheme::HmacSha256);
        assert_eq!(create(with("signature", json!("ed25519"))).unwrap().signature, SignatureScheme::Ed25519);
        assert_eq!(field_of(with("signature", json!("rsa"))).as_deref(), Some("signature"));
        let mut ed_with_secret = with("signature", json!("ed25519"));
        ed_with_secret["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(field_of(ed_with_secret).as_deref(), Some("secret"));
        let patch = parse_patch(&json!({"signature": "ed25519"}), false).unwrap_err();
        assert_eq!(patch.field.as_deref(), Some("signature"));
        assert_eq!(create(with("ordering", json!("fifo"))).unwrap().ordering, Ordering::Fifo);
        assert_eq!(create(with("rateLimitPerSecond", json!(5))).unwrap().rate_limit_per_second, Some(5));
        assert_eq!(create(base()).unwrap().rate_limit_per_second, None);
        for bad in [json!(0), json!(10_001), json!(1.5), json!("5")] {
            assert_eq!(field_of(with("rateLimitPerSecond", bad)).as_deref(), Some("rateLimitPerSecond"));
        }
        let cleared = parse_patch(&json!({"rateLimitPerSecond": null}), false).unwrap();
        assert_eq!(cleared.rate_limit_per_second, Some(None));
        assert_eq!(create(base()).unwrap().ordering, Ordering::None);
        assert_eq!(field_of(with("ordering", json!("lifo"))).as_deref(), Some("ordering"));
        assert_eq!(parse_patch(&json!({"ordering": "none"}), false).unwrap().ordering, Some(Ordering::None));
    }

    #[test]
    fn required_fields_are_named_when_missing() {
        for field in ["name", "url", "events"] {
            let mut b = base();
            b.as_object_mut().unwrap().remove(field);
            assert_eq!(field_of(b).as_deref(), Some(field));
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("name", json!("")),
            ("name", json!("   ")),
            ("name", json!("x".repeat(101))),
            ("name", json!(5)),
            ("url", json!("not a url")),
            ("url", json!("http://example.com/")),
            ("url", json!("https://10.0.0.1/")),
            ("events", json!([])),
            ("events", json!("lead.created")),
            ("events", json!(["lead exploded"])),
            ("events", json!(["*.exploded"])),
            ("events", json!([1])),
            ("retryAttempts", json!(11)),
            ("retryAttempts", json!(-1)),
            ("retryAttempts", json!(1.5)),
            ("retryAttempts", json!("3")),
            ("retryDelaySeconds", json!(0)),
            ("retryDelaySeconds", json!(86_401)),
            ("secret", json!("short")),
            ("secret", json!("x".repeat(129))),
            ("isActive", json!("yes")),
            ("description", json!(["x"])),
        ];
        for (field, value) in cases {
            assert_eq!(field_of(with(field, value.clone())).as_deref(), Some(field), "{field} = {value}");
        }
        assert_eq!(field_of(with("surprise", json!(1))).as_deref(), Some("surprise"));
    }

    #[test]
    fn header_rules() {
        let ok = with("headers", json!({"Authorization": "Bearer abc", "X-Tenant": "t1"}));
        assert_eq!(create(ok).unwrap().headers.len(), 2);
        let too_many: Map<String, Value> = (0..21).map(|i| (format!("x-h{i}"), json!("v"))).collect();
        for headers in [
            Value::Object(too_many),
            json!({"bad name": "v"}),
            json!({"": "v"}),
            json!({"x-a": 1}),
            json!({"x-a": "line\nbreak"}),
            json!({"x-a": "v".repeat(1025)}),
            json!({"Content-Type": "text/plain"}),
            json!({"host": "evil"}),
            json!({"User-Agent": "x"}),
            json!({"webhook-id": "x"}),
            json!({"X-Webhook-Signature": "x"}),
            json!({"content-length": "1"}),
            json!({"X-A": "1", "x-a": "2"}),
            json!(["x"]),
        ] {
            let field = field_of(with("headers", headers.clone())).unwrap_or_default();
            assert!(field.starts_with("headers"), "{headers} gave {field}");
        }
    }

    #[test]
    fn patches_take_subsets_but_never_the_secret() {
        let p = parse_patch(&json!({"name": "New", "active": false}), false).unwrap();
        assert_eq!(p.name.as_deref(), Some("New"));
        assert_eq!(p.is_active, Some(false));
        assert!(p.url.is_none());
        let e = parse_patch(&json!({"secret": "x".repeat(20)}), false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("secret"));
        assert_eq!(parse_patch(&json!({"description": null}), false).unwrap().description, Some(None));
        assert!(parse_patch(&json!([1]), false).is_err());
    }

    #[test]
    fn duplicate_event_patterns_collapse() {
        let w = create(with("events", json!(["lead.*", "lead.*", "*"]))).unwrap();
        assert_eq!(w.events, vec!["lead.*", "*"]);
    }
}
