//! Timestamps: milliseconds since the Unix epoch inside, ISO 8601 UTC (`2026-11-22T21:50:00.000Z`) outside.

use chrono::{DateTime, SecondsFormat};

/// Formats epoch milliseconds as ISO 8601 UTC with millisecond precision (chrono); out of chrono's range (beyond
/// year 262,143), the Unix epoch.
pub fn iso8601(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(iso8601(i64::MAX), "1970-01-01T00:00:00.000Z");
    }
}
