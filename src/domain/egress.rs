//! The addresses deliveries leave from, for receivers whose firewall allows senders by IP. A Worker's outbound
//! requests come from Cloudflare's published ranges, unless the deployment has dedicated egress addresses and says
//! so in `EGRESS_IP_RANGES`.

/// Cloudflare's published ranges (<https://www.cloudflare.com/ips/>, `ips-v4` and `ips-v6`) as listed on
/// [`CLOUDFLARE_LISTED_ON`]. Cloudflare changes them rarely and announces changes ahead; update both together.
pub const CLOUDFLARE_RANGES: &[&str] = &[
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
];

/// When [`CLOUDFLARE_RANGES`] was copied from Cloudflare's list.
pub const CLOUDFLARE_LISTED_ON: &str = "2026-02-11";

/// Where Cloudflare publishes them.
pub const CLOUDFLARE_SOURCE: &str = "https://www.cloudflare.com/ips/";

/// Whether `range` is an IPv4 or IPv6 network in CIDR notation (`address/prefix`), its prefix in bounds.
pub fn is_cidr(range: &str) -> bool {
    let Some((address, prefix)) = range.split_once('/') else { return false };
    let Ok(prefix) = prefix.parse::<u8>() else { return false };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

/// The ranges a deployment sends from: `EGRESS_IP_RANGES` (comma or whitespace separated CIDRs) when set, else
/// Cloudflare's. `Err` names the first entry that is not a CIDR range.
pub fn configured(value: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let entries: Vec<&str> =
        value.unwrap_or("").split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return Ok(None);
    }
    match entries.iter().find(|e| !is_cidr(e)) {
        Some(bad) => Err(format!("EGRESS_IP_RANGES: {bad:?} is not a CIDR range such as 203.0.113.0/24")),
        None => Ok(Some(entries.into_iter().map(String::from).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudflare_ranges_are_all_cidr() {
        assert!(CLOUDFLARE_RANGES.iter().all(|r| is_cidr(r)));
        assert_eq!(CLOUDFLARE_RANGES.iter().filter(|r| r.contains(':')).count(), 7);
    }

    #[test]
    fn configured_ranges_are_checked() {
        assert_eq!(configured(None), Ok(None));
        assert_eq!(configured(Some(" ")), Ok(None));
        let both = configured(Some("203.0.113.0/24, 2001:db8::/32\n198.51.100.7/32")).unwrap().unwrap();
        assert_eq!(both, ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]);
        for bad in ["203.0.113.0", "203.0.113.0/33", "2001:db8::/129", "example.com/24", "1.2.3.4/x"] {
            assert!(configured(Some(bad)).unwrap_err().contains(bad), "{bad}");
        }
    }
}
