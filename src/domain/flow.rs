//! Flow control of one webhook, as its Durable Object (`crate::flow`, the `WebhookLane`) keeps it: the rate limiter, the circuit
//! breaker, and the choice of how many waiting deliveries may start now. Pure and driven by the clock it is given, so
//! the unit tests below run it on simulated time.

use std::collections::VecDeque;

use super::limits::{MAX_CONCURRENT_SENDS, MAX_SENDS_PER_WEBHOOK};

/// The rate limit's window: no more than `rateLimitPerSecond` attempts start in any one second.
pub const RATE_WINDOW_MS: i64 = 1_000;
/// A start is counted from when the lane grants it; the request leaves a few milliseconds later and reaches the
/// receiver after the network's jitter. Counting every grant over a window this much longer keeps any one-second
/// window at the receiver within the limit (a grant at `g` is seen in `[g, g + START_SLACK_MS]`).
pub const START_SLACK_MS: i64 = 100;

/// The breaker looks at the attempts of the last minute…
pub const BREAKER_WINDOW_MS: i64 = 60_000;
/// …and opens when at least this many were made…
pub const BREAKER_MIN_ATTEMPTS: usize = 10;
/// …and at least 80 % of them failed (`failed * 5 >= total * 4`),
const FAILED_FIFTHS: usize = 4;
/// or when this many attempts in a row could not connect or timed out.
pub const BREAKER_CONNECT_FAILURES: u32 = 5;
/// Cool-downs double after each failed probe, up to this.
pub const COOLDOWN_MAX_MS: i64 = 10 * 60_000;
/// A half-open circuit sends up to this many probes, one at a time: the first success closes it, and only when all
/// of them fail does it open again. One probe decided alone, and an endpoint that fails half of its requests at
/// random (`make soak`'s receiver) had half its probes fail, its cool-down doubling to ten minutes while it was
/// mostly up; a dead endpoint fails all three as surely as one.
pub const PROBES: u32 = 3;
/// The first cool-down (`CIRCUIT_COOLDOWN_SECONDS`, 30 by default).
pub const COOLDOWN_DEFAULT_MS: i64 = 30_000;

/// The sliding-window limiter: the grant times of the last window (plus slack).
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    starts: VecDeque<i64>,
}

impl Limiter {
    fn forget_before(&mut self, now: i64) {
        while self.starts.front().is_some_and(|&t| t <= now - RATE_WINDOW_MS - START_SLACK_MS) {
            self.starts.pop_front();
        }
    }

    /// How many attempts may start at `now` under `per_second`.
    pub fn available(&mut self, now: i64, per_second: u32) -> usize {
        self.forget_before(now);
        (per_second as usize).saturating_sub(self.starts.len())
    }

    /// When the next start is allowed, if none is now.
    pub fn next_free(&mut self, now: i64, per_second: u32) -> i64 {
        if self.available(now, per_second) > 0 {
            return now;
        }
        // The grant that leaves the window first makes room: the oldest of the last `per_second`.
        let oldest = self.starts[self.starts.len() - per_second as usize];
        oldest + RATE_WINDOW_MS + START_SLACK_MS + 1
    }

    pub fn grant(&mut self, now: i64, count: usize) {
        self.starts.extend(std::iter::repeat_n(now, count));
    }

    /// A limiter for a lane that starts (new, evicted or restarted) at `now`, when its last grant was at
    /// `last_grant_at`: if that grant's window has not ended, the window is taken as full until it ends, so a
    /// restart in the middle of a burst never lets more than `per_second` start in any second. A window long past
    /// costs nothing.
    pub fn restored(now: i64, last_grant_at: Option<i64>, per_second: Option<u32>) -> Self {
        let mut limiter = Limiter::default();
        if let (Some(at), Some(limit)) = (last_grant_at, per_second) {
            limiter.grant(at, limit as usize);
            limiter.forget_before(now);
        }
        limiter
    }
}

/// The circuit as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    /// No attempts until `next_probe_at`.
    Open {
        opened_at: i64,
        next_probe_at: i64,
    },
    /// The cool-down is over: one probe may go (or has gone, until `probe_until`).
    HalfOpen {
        opened_at: i64,
        next_probe_at: i64,
        probe_until: Option<i64>,
    },
}

impl CircuitState {
    pub fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open { .. } => "open",
            CircuitState::HalfOpen { .. } => "half_open",
        }
    }

    /// `(opened_at, next_probe_at)` while not closed.
    pub fn times(self) -> Option<(i64, i64)> {
        match self {
            CircuitState::Closed => None,
            CircuitState::Open { opened_at, next_probe_at }
            | CircuitState::HalfOpen { opened_at, next_probe_at, .. } => Some((opened_at, next_probe_at)),
        }
    }
}

/// What one attempt showed about the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Success,
    /// The receiver answered, but not with success.
    Failed,
    /// It could not be reached, or did not answer in time.
    Unreachable,
}

/// What the breaker allows at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    Any,
    /// One attempt, whose result decides.
    Probe,
    /// Nothing until then.
    Until(i64),
}

/// The circuit breaker of one endpoint.
#[derive(Debug, Clone)]
pub struct Breaker {
    pub state: CircuitState,
    recent: VecDeque<(i64, bool)>,
    unreachable_in_a_row: u32,
    /// Probes of the current half-open spell that failed.
    failed_probes: u32,
    first_cooldown_ms: i64,
    cooldown_ms: i64,
}

impl Breaker {
    pub fn new(first_cooldown_ms: i64) -> Self {
        let first_cooldown_ms = first_cooldown_ms.clamp(1, COOLDOWN_MAX_MS);
        Breaker {
            state: CircuitState::Closed,
            recent: VecDeque::new(),
            unreachable_in_a_row: 0,
            failed_probes: 0,
            first_cooldown_ms,
            cooldown_ms: first_cooldown_ms,
        }
    }

    /// A breaker found in `state` (the lane's stored copy), its next cool-down `cooldown_ms`.
    pub fn restored(first_cooldown_ms: i64, state: CircuitState, cooldown_ms: i64) -> Self {
        let mut breaker = Breaker::new(first_cooldown_ms);
        breaker.state = state;
        breaker.cooldown_ms = cooldown_ms.clamp(breaker.first_cooldown_ms, COOLDOWN_MAX_MS);
        breaker
    }

    pub fn cooldown_ms(&self) -> i64 {
        self.cooldown_ms
    }

    /// What may start at `now`; an open circuit whose cool-down is over becomes half-open here.
    pub fn allowed(&mut self, now: i64) -> Allowed {
        match self.state {
            CircuitState::Closed => Allowed::Any,
            CircuitState::Open { opened_at, next_probe_at } => {
                if now < next_probe_at {
                    return Allowed::Until(next_probe_at);
                }
                self.state = CircuitState::HalfOpen { opened_at, next_probe_at, probe_until: None };
                Allowed::Probe
            }
            // A probe whose result never came (its invocation died) is given up after its deadline.
            CircuitState::HalfOpen { probe_until: Some(until), .. } if now < until => Allowed::Until(until),
            CircuitState::HalfOpen { .. } => Allowed::Probe,
        }
    }

    /// The probe left at `now`; its result is due by `deadline`.
    pub fn probing(&mut self, deadline: i64) {
        if let CircuitState::HalfOpen { opened_at, next_probe_at, .. } = self.state {
            self.state = CircuitState::HalfOpen { opened_at, next_probe_at, probe_until: Some(deadline) };
        }
    }

    /// Takes an attempt's result; answers whether the state changed.
    pub fn observe(&mut self, now: i64, observed: Observed, was_probe: bool) -> bool {
        let ok = observed == Observed::Success;
        match self.state {
            CircuitState::HalfOpen { opened_at, next_probe_at, .. } if was_probe => {
                if ok {
                    self.close();
                    return true;
                }
                self.failed_probes += 1;
                if self.failed_probes < PROBES {
                    // The next probe may go now.
                    self.state = CircuitState::HalfOpen { opened_at, next_probe_at, probe_until: None };
                    return false;
                }
                self.cooldown_ms = (self.cooldown_ms * 2).min(COOLDOWN_MAX_MS);
                self.open(now);
                true
            }
            // Results of attempts that started before the circuit opened change nothing.
            CircuitState::Open { .. } | CircuitState::HalfOpen { .. } => false,
            CircuitState::Closed => {
                self.recent.push_back((now, ok));
                while self.recent.front().is_some_and(|&(t, _)| t <= now - BREAKER_WINDOW_MS) {
                    self.recent.pop_front();
                }
                self.unreachable_in_a_row =
                    if observed == Observed::Unreachable { self.unreachable_in_a_row + 1 } else { 0 };
                let failed = self.recent.iter().filter(|(_, ok)| !ok).count();
                let mostly_failing =
                    self.recent.len() >= BREAKER_MIN_ATTEMPTS && failed * 5 >= self.recent.len() * FAILED_FIFTHS;
                if mostly_failing || self.unreachable_in_a_row >= BREAKER_CONNECT_FAILURES {
                    self.open(now);
                    return true;
                }
                false
            }
        }
    }

    fn open(&mut self, now: i64) {
        let opened_at = match self.state {
            CircuitState::HalfOpen { opened_at, .. } => opened_at,
            _ => now,
        };
        self.state = CircuitState::Open { opened_at, next_probe_at: now + self.cooldown_ms };
        self.recent.clear();
        self.unreachable_in_a_row = 0;
        self.failed_probes = 0;
    }

    fn close(&mut self) {
        self.state = CircuitState::Closed;
        self.cooldown_ms = self.first_cooldown_ms;
        self.recent.clear();
        self.unreachable_in_a_row = 0;
        self.failed_probes = 0;
    }
}

/// The most deliveries one round of a lane takes on without a rate limit: they go [`Concurrency`] at a time, each
/// freed connection to the next, so one stalled request holds one connection, not the round (the soak showed rounds
/// of two, each waiting for its slower send, draining a failing endpoint's backlog too slowly).
pub const LANE_ROUND: usize = 25;

/// What a round of a lane's sends showed about the endpoint's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// A 2xx answer.
    Served,
    /// Any other answer the endpoint gave (a 500, a 400): it says nothing about its capacity.
    Refused,
    /// No answer in time, no connection, or an answer that asks to slow down (429, 503): too much for it now.
    Congested,
}

/// How many of one webhook's sends its lane runs at once: additive increase and multiplicative decrease. It starts
/// at two (what a consumer invocation gives one webhook), grows by one after every round in which the endpoint served
/// requests and less than half of them met congestion, up to the six connections of the lane's invocation, and halves
/// after a round in which half or more did, never below two. A slow endpoint that answers gets more requests in
/// flight; one that is overwhelmed gets fewer. A single timeout or reset does not count as overload: halving on each
/// one (as TCP halves on each loss) left a lane at one request at a time behind an endpoint that stalls one request
/// in six at random (`make soak` with `SOAK_SECOND_FAIL=20`: 320 s from the last event to full delivery, against
/// 182 s at a fixed two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    limit: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency { limit: MAX_SENDS_PER_WEBHOOK }
    }
}

impl Concurrency {
    pub fn limit(self) -> usize {
        self.limit
    }

    /// Adjusts the limit to what a round's sends showed.
    pub fn observe(&mut self, round: impl IntoIterator<Item = Load>) {
        let (mut sends, mut served, mut congested) = (0usize, 0usize, 0usize);
        for load in round {
            sends += 1;
            served += usize::from(load == Load::Served);
            congested += usize::from(load == Load::Congested);
        }
        if sends > 0 && congested * 2 >= sends {
            self.limit = (self.limit / 2).max(MAX_SENDS_PER_WEBHOOK);
        } else if served > 0 {
            self.limit = (self.limit + 1).min(MAX_CONCURRENT_SENDS);
        }
    }
}

/// How many of a lane's waiting deliveries start now, and when to look again if some must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub start: usize,
    /// The one to start is the circuit's probe.
    pub probe: bool,
    /// When more may start (`None`: as soon as a running attempt ends, or nothing waits).
    pub wake_at: Option<i64>,
}

/// The lane's choice at `now`: a round of at most [`LANE_ROUND`] deliveries (sent two at a time, work-conserving),
/// none while the circuit is open and one probe when its cool-down ends; with a rate limit, no more than it allows
/// and no more than can start at once (two), so every grant starts within [`START_SLACK_MS`].
pub fn pick(
    now: i64,
    waiting: usize,
    in_flight: usize,
    per_second: Option<u32>,
    breaker: &mut Breaker,
    limiter: &mut Limiter,
) -> Pick {
    let wait = |until: i64| Pick { start: 0, probe: false, wake_at: Some(until) };
    if waiting == 0 {
        return Pick { start: 0, probe: false, wake_at: None };
    }
    let (cap, probe) = match breaker.allowed(now) {
        Allowed::Until(until) => return wait(until),
        Allowed::Probe if in_flight > 0 => return Pick { start: 0, probe: false, wake_at: None },
        Allowed::Probe => (1, true),
        Allowed::Any if per_second.is_some() => (MAX_SENDS_PER_WEBHOOK.saturating_sub(in_flight), false),
        Allowed::Any => (LANE_ROUND.saturating_sub(in_flight), false),
    };
    let mut start = cap.min(waiting);
    if let Some(limit) = per_second {
        let available = limiter.available(now, limit);
        if available == 0 && start > 0 {
            return wait(limiter.next_free(now, limit));
        }
        start = start.min(available);
    }
    Pick { start, probe, wake_at: None }
}

#[cfg(test)]
mod limiter_restore_tests {
    use super::*;

    #[test]
    fn a_lane_restarted_in_the_middle_of_a_burst_waits_for_the_window_and_one_started_later_does_not() {
        // Two a second; the last grant 300 ms before the restart: nothing more until that window has passed.
        let mut limiter = Limiter::restored(10_300, Some(10_000), Some(2));
        assert_eq!(limiter.available(10_300, 2), 0);
        assert_eq!(limiter.next_free(10_300, 2), 10_000 + RATE_WINDOW_MS + START_SLACK_MS + 1);
        assert_eq!(limiter.available(10_000 + RATE_WINDOW_MS + START_SLACK_MS + 1, 2), 2);
        // The last grant long ago, or no rate limit: a fresh limiter.
        assert_eq!(Limiter::restored(60_000, Some(10_000), Some(2)).available(60_000, 2), 2);
        assert_eq!(Limiter::restored(10_300, Some(10_000), None).available(10_300, 2), 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_grows_by_one_per_served_round_up_to_six_and_halves_when_half_a_round_is_congested() {
        let mut c = Concurrency::default();
        assert_eq!(c.limit(), 2);
        let mut seen = Vec::new();
        for _ in 0..6 {
            c.observe([Load::Served, Load::Served]);
            seen.push(c.limit());
        }
        assert_eq!(seen, [3, 4, 5, 6, 6, 6]);
        c.observe([Load::Served, Load::Congested, Load::Served]);
        assert_eq!(c.limit(), 6, "one timeout in three is not overload");
        c.observe([Load::Congested, Load::Congested, Load::Served, Load::Served]);
        assert_eq!(c.limit(), 3, "half of a round is");
        c.observe([Load::Congested]);
        c.observe([Load::Congested]);
        assert_eq!(c.limit(), 2, "never below two");
        c.observe([Load::Served]);
        assert_eq!(c.limit(), 3);
    }

    #[test]
    fn refused_requests_say_nothing_about_capacity() {
        let mut c = Concurrency::default();
        c.observe([Load::Refused, Load::Refused]);
        assert_eq!(c.limit(), 2);
        c.observe([]);
        assert_eq!(c.limit(), 2);
        c.observe([Load::Refused, Load::Served]);
        assert_eq!(c.limit(), 3, "served without congestion");
    }

    #[test]
    fn with_one_request_in_eight_timing_out_the_limit_stays_near_six() {
        // A deterministic stand-in for random stalls: every 8th send of the lane times out.
        let mut c = Concurrency::default();
        let (mut sent, mut total, mut rounds) = (0usize, 0usize, 0usize);
        for _ in 0..1_000 {
            let round: Vec<Load> = (0..c.limit())
                .map(|_| {
                    sent += 1;
                    if sent % 8 == 0 {
                        Load::Congested
                    } else {
                        Load::Served
                    }
                })
                .collect();
            c.observe(round);
            total += c.limit();
            rounds += 1;
        }
        assert!(total as f64 / rounds as f64 > 5.0, "{}", total as f64 / rounds as f64);
    }

    #[test]
    fn the_limiter_never_lets_more_than_the_limit_start_in_any_window() {
        // Simulated time in 10 ms steps; a greedy lane with always something waiting.
        let mut limiter = Limiter::default();
        let mut starts = Vec::new();
        for now in (0..10_000).step_by(10) {
            let n = limiter.available(now, 3);
            limiter.grant(now, n);
            starts.extend(std::iter::repeat_n(now, n));
        }
        for (i, &from) in starts.iter().enumerate() {
            // Every request arrives up to START_SLACK_MS after its grant: the worst case is the earliest grant
            // arriving late and later ones at once.
            let in_window = starts[i..].iter().filter(|&&t| t < from + START_SLACK_MS + RATE_WINDOW_MS).count();
            assert!(in_window <= 3, "{in_window} starts in the window from {from}");
        }
        // And it does not starve: close to the limit over ten seconds.
        assert!(starts.len() >= 3 * 9, "{} starts", starts.len());
    }

    #[test]
    fn the_limiter_says_when_the_next_start_is_free() {
        let mut limiter = Limiter::default();
        limiter.grant(0, 1);
        limiter.grant(400, 1);
        assert_eq!(limiter.available(500, 2), 0);
        let free = limiter.next_free(500, 2);
        assert_eq!(free, RATE_WINDOW_MS + START_SLACK_MS + 1);
        assert_eq!(limiter.available(free, 2), 1);
        assert_eq!(limiter.next_free(10, 5), 10);
    }

    fn failing(breaker: &mut Breaker, from: i64, count: usize, observed: Observed) -> Option<i64> {
        for i in 0..count {
            let now = from + i as i64 * 100;
            if breaker.observe(now, observed, false) {
                return Some(now);
            }
        }
        None
    }

    #[test]
    fn mostly_failing_attempts_open_the_circuit_and_a_probe_decides() {
        let mut b = Breaker::new(30_000);
        // Nine failures are not enough attempts to judge.
        assert_eq!(failing(&mut b, 0, 9, Observed::Failed), None);
        assert_eq!(b.allowed(1_000), Allowed::Any);
        // The tenth opens it (10 of 10 failed).
        assert_eq!(failing(&mut b, 1_000, 1, Observed::Failed), Some(1_000));
        assert_eq!(b.state, CircuitState::Open { opened_at: 1_000, next_probe_at: 31_000 });
        assert_eq!(b.allowed(30_999), Allowed::Until(31_000));
        // Cool-down over: one probe, and no second while it is out.
        assert_eq!(b.allowed(31_000), Allowed::Probe);
        b.probing(31_000 + 15_000);
        assert_eq!(b.allowed(31_500), Allowed::Until(46_000));
        // The probe fails: the next may go at once; after the third failure, open again for twice as long.
        assert!(!b.observe(32_000, Observed::Failed, true));
        assert_eq!(b.allowed(32_000), Allowed::Probe);
        b.probing(32_000 + 15_000);
        assert!(!b.observe(32_000, Observed::Unreachable, true));
        assert_eq!(b.allowed(32_000), Allowed::Probe);
        assert!(b.observe(32_000, Observed::Failed, true));
        assert_eq!(b.state, CircuitState::Open { opened_at: 1_000, next_probe_at: 92_000 });
        // A late result of an attempt from before the opening changes nothing.
        assert!(!b.observe(33_000, Observed::Success, false));
        assert_eq!(b.allowed(92_000), Allowed::Probe);
        assert!(b.observe(92_500, Observed::Success, true));
        assert_eq!(b.state, CircuitState::Closed);
        assert_eq!(b.cooldown_ms(), 30_000);
    }

    #[test]
    fn successes_keep_it_closed_and_old_results_leave_the_window() {
        let mut b = Breaker::new(30_000);
        // 7 of 10 failed: under 80 %.
        for i in 0..10 {
            b.observe(i * 10, if i < 3 { Observed::Success } else { Observed::Failed }, false);
        }
        assert_eq!(b.state, CircuitState::Closed);
        // A minute later the early successes have left the window, but one failure alone is too few to judge.
        assert!(!b.observe(70_000, Observed::Failed, false));
        assert_eq!(b.state, CircuitState::Closed);
    }

    #[test]
    fn five_unreachable_in_a_row_open_it_and_cool_downs_double_to_ten_minutes() {
        let mut b = Breaker::new(30_000);
        assert_eq!(failing(&mut b, 0, 4, Observed::Unreachable), None);
        // An answer (even a failing one) breaks the run.
        b.observe(500, Observed::Failed, false);
        assert_eq!(failing(&mut b, 1_000, 5, Observed::Unreachable), Some(1_400));
        let mut now = 1_400;
        let mut cooldowns = Vec::new();
        for _ in 0..7 {
            let CircuitState::Open { next_probe_at, .. } = b.state else { panic!("{:?}", b.state) };
            cooldowns.push(next_probe_at - now);
            now = next_probe_at;
            for probe in 1..=PROBES {
                assert_eq!(b.allowed(now), Allowed::Probe);
                assert_eq!(b.observe(now, Observed::Unreachable, true), probe == PROBES, "probe {probe}");
            }
        }
        assert_eq!(cooldowns, [30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
    }

    #[test]
    fn a_half_open_circuit_closes_on_any_success_among_its_probes() {
        let mut b = Breaker::new(30_000);
        failing(&mut b, 0, 5, Observed::Unreachable);
        assert_eq!(b.allowed(30_400), Allowed::Probe);
        assert!(!b.observe(30_400, Observed::Failed, true));
        assert!(!b.observe(30_500, Observed::Unreachable, true));
        assert!(b.observe(30_600, Observed::Success, true));
        assert_eq!(b.state, CircuitState::Closed);
        // The count starts over with the next opening: two failed probes do not reopen it.
        failing(&mut b, 40_000, 5, Observed::Unreachable);
        assert_eq!(b.allowed(80_000), Allowed::Probe);
        assert!(!b.observe(80_000, Observed::Failed, true));
        assert!(!b.observe(80_000, Observed::Failed, true));
        assert!(matches!(b.state, CircuitState::HalfOpen { .. }));
    }

    #[test]
    fn a_lost_probe_is_given_up_after_its_deadline() {
        let mut b = Breaker::new(1_000);
        failing(&mut b, 0, 5, Observed::Unreachable);
        assert_eq!(b.allowed(1_400), Allowed::Probe);
        b.probing(5_000);
        assert_eq!(b.allowed(4_999), Allowed::Until(5_000));
        assert_eq!(b.allowed(5_000), Allowed::Probe);
    }

    #[test]
    fn the_pick_takes_two_at_most_one_probe_and_what_the_limit_allows() {
        let (mut b, mut l) = (Breaker::new(30_000), Limiter::default());
        assert_eq!(pick(0, 100, 0, None, &mut b, &mut l), Pick { start: LANE_ROUND, probe: false, wake_at: None });
        assert_eq!(pick(0, 10, 0, None, &mut b, &mut l).start, 10);
        assert_eq!(pick(0, 1, 0, None, &mut b, &mut l).start, 1);
        // With a rate limit, only what can start at once (two), even when the limit allows more.
        assert_eq!(pick(0, 10, 0, Some(100), &mut b, &mut l).start, 2);
        assert_eq!(pick(0, 10, 1, Some(100), &mut b, &mut l).start, 1);
        assert_eq!(pick(0, 0, 0, None, &mut b, &mut l), Pick { start: 0, probe: false, wake_at: None });
        // Rate limit 1: one now, then wait for the window.
        let first = pick(0, 10, 0, Some(1), &mut b, &mut l);
        assert_eq!(first.start, 1);
        l.grant(0, 1);
        assert_eq!(pick(10, 10, 0, Some(1), &mut b, &mut l).wake_at, Some(RATE_WINDOW_MS + START_SLACK_MS + 1));
        // Open circuit: nothing until the probe time; then one probe, only when nothing is in flight.
        failing(&mut b, 0, 5, Observed::Unreachable);
        let CircuitState::Open { next_probe_at, .. } = b.state else { panic!() };
        assert_eq!(pick(500, 10, 0, None, &mut b, &mut l).wake_at, Some(next_probe_at));
        assert_eq!(pick(next_probe_at, 10, 1, None, &mut b, &mut l).start, 0);
        assert_eq!(pick(next_probe_at, 10, 0, None, &mut b, &mut l), Pick { start: 1, probe: true, wake_at: None });
    }
}
