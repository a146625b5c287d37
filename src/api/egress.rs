//! `GET /api/egress-ips`: the address ranges deliveries leave from, for receivers that allow senders by IP.

use serde::Serialize;
use utoipa::ToSchema;
use worker::Response;

use super::{json, Ctx};
use crate::domain::egress::{CLOUDFLARE_LISTED_ON, CLOUDFLARE_RANGES, CLOUDFLARE_SOURCE};
use crate::error::{ApiError, ApiResult, ErrorBody};

/// The ranges deliveries are sent from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressIps {
    /// Every range in CIDR notation, IPv4 first
    pub ranges: Vec<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub source: EgressSource,
    /// For `cloudflare`: the day the list was copied from Cloudflare's; null for configured ranges
    #[schema(required, format = Date)]
    pub listed_on: Option<&'static str>,
    /// For `cloudflare`: where Cloudflare publishes the current list; null for configured ranges
    #[schema(required, format = "uri")]
    pub reference: Option<&'static str>,
}

/// `cloudflare`: Cloudflare's published ranges, which every Worker's outbound requests come from; `configured`: the
/// deployment's own egress addresses (`EGRESS_IP_RANGES`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EgressSource {
    Cloudflare,
    Configured,
}

#[utoipa::path(get, path = "/api/egress-ips", tag = "webhooks", operation_id = "egressIps",
    summary = "The IP address ranges deliveries are sent from",
    description = "For receivers behind a firewall that allows senders by address. Any role may read it, portal \
        sessions too.",
    responses(
        (status = 200, description = "The ranges", body = EgressIps),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub fn get(ctx: &Ctx) -> ApiResult<Response> {
    let configured = ctx.config.egress_ip_ranges.clone().map_err(|problem| {
        worker::console_error!("{problem}");
        ApiError::new(500, "egress_ranges_misconfigured", problem)
    })?;
    let (ranges, source) = match configured {
        Some(ranges) => (ranges, EgressSource::Configured),
        None => (CLOUDFLARE_RANGES.iter().map(|r| r.to_string()).collect(), EgressSource::Cloudflare),
    };
    let cloudflare = matches!(source, EgressSource::Cloudflare);
    let (ipv6, ipv4): (Vec<String>, Vec<String>) = ranges.iter().cloned().partition(|r| r.contains(':'));
    json(
        200,
        &EgressIps {
            ranges: ipv4.iter().chain(&ipv6).cloned().collect(),
            ipv4,
            ipv6,
            source,
            listed_on: cloudflare.then_some(CLOUDFLARE_LISTED_ON),
            reference: cloudflare.then_some(CLOUDFLARE_SOURCE),
        },
    )
}
