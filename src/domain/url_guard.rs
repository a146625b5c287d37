//! The SSRF guard: which URLs a webhook may point at. Applied when a webhook is created or changed, and again just
//! before every send, so a row written before a rule tightened is still refused.
//!
//! Host names are checked by name (`localhost`, `*.local`, `*.internal`); addresses by range, after the URL parser
//! has normalised decimal, hex and octal IPv4 forms, and with IPv4 addresses embedded in IPv6 (mapped, compatible,
//! NAT64) unwrapped. Names that resolve to private addresses are refused by Cloudflare's own fetch in production.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

pub const MAX_URL_LENGTH: usize = 2048;

/// Why a URL is refused; the message is shown to the API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRefused(pub String);

fn refuse(message: impl Into<String>) -> Result<Url, UrlRefused> {
    Err(UrlRefused(message.into()))
}

/// Checks a webhook URL. With `allow_insecure` (local development), `http` is allowed and so is plain loopback
/// (127.0.0.0/8, ::1, localhost); every other private or special address stays refused.
pub fn check_url(raw: &str, allow_insecure: bool) -> Result<Url, UrlRefused> {
    if raw.len() > MAX_URL_LENGTH {
        return refuse(format!("url must be at most {MAX_URL_LENGTH} characters"));
    }
    if raw.trim() != raw || raw.is_empty() {
        return refuse("url must be an absolute URL without surrounding spaces");
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse("url must be an absolute http(s) URL");
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return refuse("url must use https"),
        _ => return refuse("url must be an absolute http(s) URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("url must not contain a username or password");
    }
    // "Plain" loopback only: written as the parser would write it back, not as 2130706433 or 0x7f.1.
    let loopback_ok = allow_insecure && url.host_str().is_some_and(|host| host.eq_ignore_ascii_case(raw_host(raw)));
    match url.host() {
        None => refuse("url must name a host"),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" {
                return if loopback_ok { Ok(url) } else { refuse("url must not point at localhost") };
            }
            if name.ends_with(".localhost") {
                return refuse("url must not point at localhost");
            }
            if name.ends_with(".local") || name == "local" {
                return refuse("url must not point at a .local host");
            }
            if name.ends_with(".internal") || name == "internal" {
                return refuse("url must not point at an .internal host");
            }
            if !name.contains('.') {
                return refuse("url must name a public host (a fully qualified domain name)");
            }
            Ok(url)
        }
        Some(Host::Ipv4(ip)) => match ipv4_problem(ip) {
            Some("loopback") if loopback_ok => Ok(url),
            Some(problem) => refuse(format!("url must not point at a {problem} address")),
            None => Ok(url),
        },
        Some(Host::Ipv6(ip)) => match ipv6_problem(ip) {
            Some("loopback") if loopback_ok && ip == Ipv6Addr::LOCALHOST => Ok(url),
            Some(problem) => refuse(format!("url must not point at a {problem} address")),
            None => Ok(url),
        },
    }
}

/// The host as written in the raw URL (between `//` and the port, path, query or fragment).
fn raw_host(raw: &str) -> &str {
    let after = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.split_inclusive(']').next().unwrap_or(host_port);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// The kind of non-public address an IPv4 address is, if it is one.
pub fn ipv4_problem(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b) {
        (0, _) => "unspecified",
        (127, _) => "loopback",
        (10, _) => "private",
        (172, 16..=31) => "private",
        (192, 168) => "private",
        (169, 254) => "link-local",
        (100, 64..=127) => "shared (CGNAT)",
        (192, 0) if c == 0 || c == 2 => "reserved",
        (198, 18..=19) => "reserved",
        (198, 51) if c == 100 => "reserved",
        (203, 0) if c == 113 => "reserved",
        (224..=239, _) => "multicast",
        (240..=255, _) => "reserved",
        _ => return None,
    };
    Some(kind)
}

/// The kind of non-public address an IPv6 address is, if it is one; embedded IPv4 addresses are judged as IPv4.
pub fn ipv6_problem(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // Transition forms that carry an IPv4 address, judged as that address (::ffff:8.8.8.8 is as public as 8.8.8.8):
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (SIIT, RFC 6145), 64:ff9b::a.b.c.d (NAT64),
    // 2002:AABB:CCDD::/48 (6to4, RFC 3056: the relay delivers to a.b.c.d).
    let embedded = match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo]
        | [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    };
    if let Some(v4) = embedded {
        return ipv4_problem(v4);
    }
    // Teredo (2001:0::/32, RFC 4380): the server's IPv4 in plain, the client's (where traffic ends up) inverted.
    if s[0] == 0x2001 && s[1] == 0 {
        return ipv4_problem(v4(!s[6], !s[7])).or_else(|| ipv4_problem(v4(s[2], s[3])));
    }
    match s[0] {
        0xfe80..=0xfebf => Some("link-local"),
        0xfc00..=0xfdff => Some("unique-local"),
        0xfec0..=0xfeff => Some("site-local"),
        0xff00..=0xffff => Some("multicast"),
        0x2001 if s[1] == 0x0db8 => Some("documentation"),
        0x0064 if s[1] == 0xff9b => Some("NAT64"),
        0x0100 if s[1] == 0 && s[2] == 0 && s[3] == 0 => Some("discard"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> bool {
        check_url(url, false).is_err()
    }

    #[test]
    fn public_https_urls_pass() {
        for ok in [
            "https://example.com/hook",
            "https://hooks.example.co.uk:8443/a?b=c",
            "https://8.8.8.8/x",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
    }

    #[test]
    fn shape_problems_are_refused() {
        assert!(refused("example.com/hook"));
        assert!(refused("/relative"));
        assert!(refused("ftp://example.com/"));
        assert!(refused("http://example.com/"));
        assert!(refused("https://user:pass@example.com/"));
        assert!(refused("https://user@example.com/"));
        assert!(refused(&format!("https://example.com/{}", "a".repeat(2048))));
        assert!(refused(" https://example.com/"));
        assert!(refused("https://intranet/"));
        assert!(check_url("http://example.com/", true).is_ok());
    }

    #[test]
    fn internal_names_are_refused() {
        for bad in [
            "https://localhost/",
            "https://LOCALHOST./",
            "https://a.localhost/",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://db.internal./",
        ] {
            assert!(refused(bad), "{bad}");
        }
    }

    #[test]
    fn private_and_special_ipv4_are_refused_in_every_encoding() {
        for bad in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0x7f.0.0.1/",
            "https://017700000001/",
            "https://127.1/",
            "https://0xa9fea9fe/",
            "https://3232235777/",
        ] {
            assert!(refused(bad), "{bad}");
        }
        assert!(check_url("https://172.32.0.1/", false).is_ok());
        assert!(check_url("https://100.128.0.1/", false).is_ok());
    }

    #[test]
    fn private_and_special_ipv6_are_refused_including_embedded_ipv4() {
        for bad in [
            "https://[::1]/",
            "https://[::]/",
            "https://[fe80::1]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[::127.0.0.1]/",
            "https://[fd00:ec2::254]/",
            "https://[ff02::1]/",
            // SIIT, 6to4 and Teredo carrying private IPv4 addresses.
            "https://[::ffff:0:10.0.0.1]/",
            "https://[::ffff:0:7f00:1]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[2002:c0a8:0101::]/",
            "https://[2002:7f00:1::]/",
            // Teredo: server 65.54.227.120 (public), client 127.0.0.1 stored inverted (80ff:fffe).
            "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
            // Teredo: client public (8.8.8.8 inverted is f7f7:f7f7), server 10.0.0.1.
            "https://[2001:0:a00:1::f7f7:f7f7]/",
        ] {
            assert!(refused(bad), "{bad}");
        }
        assert!(check_url("https://[::ffff:8.8.8.8]/", false).is_ok());
        assert!(check_url("https://[::ffff:0:8.8.8.8]/", false).is_ok());
        assert!(check_url("https://[2002:0808:0808::1]/", false).is_ok());
        assert!(check_url("https://[2001:0:4136:e378:8000:63bf:f7f7:f7f7]/", false).is_ok());
    }

    #[test]
    fn insecure_mode_allows_plain_loopback_only() {
        for ok in ["http://127.0.0.1:8080/hook", "http://localhost:3000/", "http://[::1]:9000/", "http://127.5.5.5/"] {
            assert!(check_url(ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://[::ffff:127.0.0.1]/",
            "http://printer.local/",
            "http://0.0.0.0/",
            "http://192.168.0.10/",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
    }
}
