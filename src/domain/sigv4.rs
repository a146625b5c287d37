//! AWS Signature Version 4 (header signing), for destinations reached through AWS's APIs (SQS, SNS, EventBridge,
//! S3 and S3-compatible stores). Written on the HMAC-SHA256 and SHA-256 already in the tree: the AWS SDK does not
//! fit a Worker. It passes AWS's own signing test suite (`tests/vectors/aws-sigv4`, from `awslabs/aws-c-auth`):
//! canonical request, string to sign and signature of every case.
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The long-term or temporary credentials a request is signed with.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// A temporary credential's session token (`X-Amz-Security-Token`).
    pub session_token: Option<&'a str>,
}

/// A request to sign: what goes on the wire, before the signer adds its headers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (not yet percent-encoded), from `/`.
    pub path: &'a str,
    /// The query string as sent, without `?` (percent-encoded or not).
    pub query: &'a str,
    /// Header names and values as sent; a name may repeat.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// How to sign.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    pub region: &'a str,
    pub service: &'a str,
    /// Epoch milliseconds of the signature.
    pub at_ms: i64,
    /// Remove `.` and `..` segments and empty segments from the path (every service but S3).
    pub normalize_path: bool,
    /// Add and sign `x-amz-content-sha256` (S3 requires it).
    pub sign_body: bool,
    /// Send the session token without signing it (services that sign it separately, such as STS).
    pub omit_session_token: bool,
}

/// A signed request: the headers to add to it, and the steps, for tests and the attempt log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `X-Amz-Date`, `x-amz-content-sha256` and `X-Amz-Security-Token` as needed, then `Authorization`.
    pub headers: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256. HMAC takes keys of any length, so the error cannot happen; it is passed on rather than unwrapped.
/// HMAC-SHA256 of `data` with `key` (also the Azure Service Bus SAS token's, `domain::destination::sas_token`).
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Result<Vec<u8>, hmac::digest::InvalidLength> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` where `keep_slash`).
fn encode(text: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` sequences decoded (a malformed one is kept as it is).
fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The canonical URI: the path, normalized if asked, each byte outside the unreserved set percent-encoded.
fn canonical_uri(path: &str, normalize: bool) -> String {
    if !normalize {
        return encode(path.as_bytes(), true);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.ends_with('/') && !segments.is_empty();
    let joined = format!("/{}{}", segments.join("/"), if trailing { "/" } else { "" });
    encode(joined.as_bytes(), true)
}

/// The canonical query: each parameter decoded and encoded again, sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// A header value as signed: trimmed, each run of whitespace (line folds included) one space.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `YYYYMMDD'T'HHMMSS'Z'` of epoch milliseconds.
pub fn amz_date(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| "19700101T000000Z".into())
}

/// Signs `request`: the headers to add, with every step of the signature.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    signing: &Signing<'_>,
) -> Result<Signed, hmac::digest::InvalidLength> {
    let date_time = amz_date(signing.at_ms);
    let date = &date_time[..8];
    let payload_hash = hex_sha256(request.body);
    let mut added: Vec<(String, String)> = vec![("X-Amz-Date".into(), date_time.clone())];
    if signing.sign_body {
        added.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    }
    let token = credentials.session_token.map(|t| ("X-Amz-Security-Token".to_string(), t.to_string()));
    if let (Some(token), false) = (&token, signing.omit_session_token) {
        added.push(token.clone());
    }

    // Headers by lowercase name, values of a repeated name joined with commas in their order.
    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in request.headers.iter().chain(added.iter()) {
        let name = name.to_ascii_lowercase();
        let value = canonical_value(value);
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => headers.push((name, vec![value])),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{}\n", v.join(","))).collect();
    let signed_headers = headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method,
        canonical_uri(request.path, signing.normalize_path),
        canonical_query(request.query),
    );

    let scope = format!("{date}/{}/{}/aws4_request", signing.region, signing.service);
    let string_to_sign = format!("{ALGORITHM}\n{date_time}\n{scope}\n{}", hex_sha256(canonical_request.as_bytes()));
    let mut key = format!("AWS4{}", credentials.secret_access_key).into_bytes();
    for part in [date, signing.region, signing.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes())?;
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes())?);

    if let (Some(token), true) = (token, signing.omit_session_token) {
        added.push(token);
    }
    added.push((
        "Authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
    ));
    Ok(Signed { headers: added, canonical_request, string_to_sign, signature })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A case's `request.txt`: the request line, headers (a line starting with whitespace continues the one before),
    /// a blank line and the body.
    fn parse_request(text: &str) -> (String, String, String, Vec<(String, String)>, Vec<u8>) {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let mut parts = request_line.splitn(2, ' ');
        let method = parts.next().unwrap().to_string();
        let target = parts.next().unwrap().rsplit_once(' ').unwrap().0;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.to_string(), value.to_string()));
            }
        }
        (method, path.to_string(), query.to_string(), headers, body.as_bytes().to_vec())
    }

    #[test]
    fn the_aws_signing_test_suite_passes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/aws-sigv4");
        let mut cases = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            if !dir.join("header-signature.txt").exists() {
                continue;
            }
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
            let context: serde_json::Value = serde_json::from_str(&read("context.json")).unwrap();
            let (method, path, query, headers, body) = parse_request(&read("request.txt"));
            let c = &context["credentials"];
            let credentials = Credentials {
                access_key_id: c["access_key_id"].as_str().unwrap(),
                secret_access_key: c["secret_access_key"].as_str().unwrap(),
                session_token: c["token"].as_str(),
            };
            let at = crate::domain::time::parse_iso8601(context["timestamp"].as_str().unwrap()).unwrap();
            let signing = Signing {
                region: context["region"].as_str().unwrap(),
                service: context["service"].as_str().unwrap(),
                at_ms: at,
                normalize_path: context["normalize"].as_bool().unwrap_or(true),
                sign_body: context["sign_body"].as_bool().unwrap_or(false),
                omit_session_token: context["omit_session_token"].as_bool().unwrap_or(false),
            };
            let request = Request { method: &method, path: &path, query: &query, headers: &headers, body: &body };
            let signed = sign(&request, &credentials, &signing).unwrap();
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            assert_eq!(signed.canonical_request, read("header-canonical-request.txt"), "{name}: canonical request");
            assert_eq!(signed.string_to_sign, read("header-string-to-sign.txt"), "{name}: string to sign");
            assert_eq!(signed.signature, read("header-signature.txt").trim(), "{name}: signature");
            let authorization = &signed.headers.last().unwrap().1;
            assert!(read("header-signed-request.txt").contains(authorization.as_str()), "{name}: Authorization");
            cases += 1;
        }
        assert!(cases >= 38, "only {cases} cases found");
    }

    #[test]
    fn dates_are_aws_basic_format() {
        assert_eq!(amz_date(1_440_938_160_000), "20150830T123600Z");
    }
}
