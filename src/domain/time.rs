//! Timestamps: milliseconds since the Unix epoch inside, ISO 8601 UTC (`2026-11-22T21:50:00.000Z`) outside.

use chrono::{DateTime, SecondsFormat};

/// Formats epoch milliseconds as ISO 8601 UTC with millisecond precision (chrono); out of chrono's range (beyond
/// year 262,143), the Unix epoch.
pub fn iso8601(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Epoch milliseconds of an RFC 3339 timestamp with an offset (`2026-11-22T21:50:00Z`, `…+01:00`); `None` for
/// anything else.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_formats_and_offsets() {
        assert_eq!(parse_iso8601("2021-02-25T15:02:10.123Z"), Some(1_614_265_330_123));
        assert_eq!(parse_iso8601("2021-02-25T16:02:10.123+01:00"), Some(1_614_265_330_123));
        assert_eq!(parse_iso8601(&iso8601(951_782_400_000)), Some(951_782_400_000));
        for bad in ["", "yesterday", "2021-02-25", "2021-02-25T15:02:10", "1614265330123"] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(iso8601(i64::MAX), "1970-01-01T00:00:00.000Z");
    }
}
