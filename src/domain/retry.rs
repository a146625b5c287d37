//! The retry schedule: retry *i* waits `retryDelaySeconds × [1, 5, 30, 120, 1440][i−1]` (1440× beyond the fifth).
//! With the default 60 s that is 1 min, 5 min, 30 min, 2 h, 24 h.

const MULTIPLIERS: [u64; 5] = [1, 5, 30, 120, 1440];

/// The longest delay one queue message may carry; longer waits are reached in several hops.
pub use super::limits::QUEUE_MAX_DELAY_SECONDS as MAX_QUEUE_DELAY_SECONDS;

/// Seconds before retry number `retry` (1-based).
pub fn retry_delay_seconds(base_seconds: u32, retry: u32) -> u64 {
    let index = (retry.max(1) as usize - 1).min(MULTIPLIERS.len() - 1);
    u64::from(base_seconds) * MULTIPLIERS[index]
}

/// After `attempts_made` attempts (the first send counts as one) of a webhook allowing `retry_attempts` retries,
/// the wait before the next attempt, or `None` when the delivery is exhausted.
pub fn next_retry(attempts_made: u32, retry_attempts: u32, base_seconds: u32) -> Option<u64> {
    (attempts_made >= 1 && attempts_made <= retry_attempts).then(|| retry_delay_seconds(base_seconds, attempts_made))
}

/// The longest wait of a webhook's schedule: the one before its last retry (the multipliers only grow).
pub fn longest_wait(retry_attempts: u32, base_seconds: u32) -> u64 {
    retry_delay_seconds(base_seconds, retry_attempts.max(1))
}

/// The wait before the next attempt when the receiver asked for `retry_after` seconds (`429`/`503` with
/// `Retry-After`): no sooner than it asked, but never longer than `longest` (the schedule's longest wait), and never
/// sooner than the schedule says.
pub fn honour_retry_after(scheduled: u64, retry_after: Option<u64>, longest: u64) -> u64 {
    match retry_after {
        Some(asked) => scheduled.max(asked.min(longest)),
        None => scheduled,
    }
}

/// Seconds from `now_ms` named by a `Retry-After` value: delay-seconds, or an HTTP date (RFC 9110 §10.2.3; a date
/// in the past is 0). Anything else is ignored.
pub fn retry_after_seconds(value: &str, now_ms: i64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse::<u64>().unwrap_or(u64::MAX));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?.timestamp_millis();
    Some(u64::try_from((at - now_ms).max(0)).unwrap_or(0).div_ceil(1000))
}

/// The delay to put on a queue message for a wait of `remaining` seconds: the platform caps one hop.
pub fn queue_hop(remaining_seconds: u64) -> u32 {
    remaining_seconds.min(MAX_QUEUE_DELAY_SECONDS) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_one_five_and_thirty_minutes() {
        let delays: Vec<_> = (1..=4).map(|made| next_retry(made, 3, 60)).collect();
        assert_eq!(delays, vec![Some(60), Some(300), Some(1800), None]);
    }

    #[test]
    fn five_retries_give_the_documented_schedule_and_beyond_the_fifth_stays_daily() {
        let delays: Vec<_> = (1..=5).filter_map(|made| next_retry(made, 5, 60)).collect();
        assert_eq!(delays, vec![60, 300, 1800, 7200, 86_400]);
        assert_eq!(next_retry(6, 5, 60), None);
        assert_eq!(next_retry(8, 10, 60), Some(86_400));
        assert_eq!(next_retry(10, 10, 60), Some(86_400));
        assert_eq!(next_retry(11, 10, 60), None);
    }

    #[test]
    fn retry_after_delays_within_the_schedule_s_longest_wait() {
        // Schedule says 1 s, the receiver asks 3 s: 3 s.
        assert_eq!(honour_retry_after(1, Some(3), longest_wait(2, 1)), 3);
        // Asking for an hour is capped at the longest wait (5 s for two retries of 1 s).
        assert_eq!(honour_retry_after(1, Some(3600), longest_wait(2, 1)), 5);
        // Asking for less than the schedule does not hurry it.
        assert_eq!(honour_retry_after(300, Some(2), longest_wait(3, 60)), 300);
        assert_eq!(honour_retry_after(60, None, 1800), 60);
        assert_eq!(longest_wait(3, 60), 1800);
        assert_eq!(longest_wait(0, 60), 60);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = 1_445_412_480_000; // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after_seconds("3", now), Some(3));
        assert_eq!(retry_after_seconds(" 120 ", now), Some(120));
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(30));
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(0));
        assert_eq!(retry_after_seconds("99999999999999999999999", now), Some(u64::MAX));
        for junk in ["", "-1", "1.5", "soon", "in 3 seconds"] {
            assert_eq!(retry_after_seconds(junk, now), None, "{junk}");
        }
    }

    #[test]
    fn no_retries_means_one_attempt() {
        assert_eq!(next_retry(1, 0, 60), None);
        assert_eq!(next_retry(0, 3, 60), None);
    }

    #[test]
    fn chains_longer_than_a_queue_delay_hop_in_twelve_hour_steps() {
        // A 24 h wait (and the 1440 x 86 400 s extreme) is reached in hops of at most 12 h.
        assert_eq!(queue_hop(86_400), 43_200);
        assert_eq!(queue_hop(86_400 - 43_200), 43_200);
        assert_eq!(queue_hop(5), 5);
        let longest = retry_delay_seconds(86_400, 5);
        assert_eq!(longest, 124_416_000);
        let hops = longest.div_ceil(MAX_QUEUE_DELAY_SECONDS);
        assert_eq!(hops, 2880);
    }
}
