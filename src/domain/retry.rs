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
