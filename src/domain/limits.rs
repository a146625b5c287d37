//! Cloudflare's production limits that shape the data plane, in one place. `wrangler dev` enforces none of the
//! connection or subrequest limits, so the code respects them by construction and the tests observe it.

/// "Simultaneous outgoing connections/request: 6" (Workers Free and Paid). A seventh fetch waits in a platform queue
/// until one of the six receives its response headers, so a send's deadline would run while it is not even sent.
/// <https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections>
pub const MAX_CONCURRENT_SENDS: usize = 6;

/// Of those six, the most one webhook takes in one invocation: a receiver that stalls every request holds two
/// connections and leaves four to the others (fair sharing; edgehook's own choice, not a platform limit).
pub const MAX_SENDS_PER_WEBHOOK: usize = 2;

/// "Subrequests: 50/request" on Workers Free. A subrequest is any fetch, and any call to another Cloudflare service
/// (KV, D1, Queues...). <https://developers.cloudflare.com/workers/platform/limits/#subrequests>
pub const SUBREQUESTS_FREE: u32 = 50;

/// "Subrequests: 10,000/request" on Workers Paid in the current limits page (older pages say 1,000); the default of
/// `SUBREQUEST_BUDGET`. <https://developers.cloudflare.com/workers/platform/limits/#subrequests>
pub const SUBREQUESTS_PAID: u32 = 10_000;

/// "delaySeconds: up to 43,200 (12 hours)" per message send or retry.
/// <https://developers.cloudflare.com/queues/platform/limits/>
pub const QUEUE_MAX_DELAY_SECONDS: u64 = 12 * 60 * 60;

/// "Maximum messages per sendBatch: 100" (and 256 KB per batch; a delivery message is an id of ~40 bytes).
/// <https://developers.cloudflare.com/queues/platform/limits/>
pub const QUEUE_SEND_BATCH_MAX: usize = 100;

/// Deliveries one queue message carries at most (edgehook's choice). A queue carries "5,000 messages per second"
/// per queue and bills each write, read and delete of a message: ten deliveries to a message make a batch
/// ingest's fan-out cost a tenth of a queue operation per delivery, and the queue carry 50,000 deliveries a second.
/// Kept at ten so that a consumer batch of `max_batch_size = 10` messages is the same hundred deliveries as before.
/// <https://developers.cloudflare.com/queues/platform/limits/>
pub const DELIVERIES_PER_MESSAGE: usize = 10;

/// Deliveries one consumer invocation takes on at most; what is past it goes back on the queue in new messages.
/// One invocation has six connections; the queue runs many invocations at once, so a backlog spreads over them
/// rather than lining up behind one invocation's six.
pub const DELIVERIES_PER_INVOCATION: usize = 100;

/// "Maximum bound parameters per query: 100", per statement, also inside a batch.
/// <https://developers.cloudflare.com/d1/platform/limits/>
pub const D1_MAX_PARAMETERS: usize = 100;

/// "Maximum bound parameters per query: 100" and "Maximum SQL statement length: 100 KB" in a SQLite-backed Durable
/// Object, the same as D1's: an organization's object runs the store's statements unchanged.
/// <https://developers.cloudflare.com/durable-objects/platform/limits/>
pub const OBJECT_SQL_MAX_PARAMETERS: usize = D1_MAX_PARAMETERS;

/// The most a list counts for its `total` (the events list, a webhook's delivery log); past it, the list says
/// `totalCapped` and its `total` is this number. A count reads every matching row in the organization's object, whose
/// one thread serves its ingests meanwhile: 1,000,000 events took 72 ms to count (SQLite in memory, this machine's
/// node 24, 2026-12-05), so an object at its capacity (about 7 million retained deliveries) would stop for half a
/// second per page viewed. Capped, a count reads at most this many and one more (1 ms in the same run). Svix's lists
/// count nothing (`done` and an iterator); a page's own rows and offset are read as before.
pub const LIST_TOTAL_CAP: u32 = 10_000;

// Keys per call of a Durable Object's key-value storage (`get`, `put`, `delete` with many keys) is 128
// (<https://developers.cloudflare.com/durable-objects/api/storage-api/>): no call of edgehook's passes more than
// two. A lane's line is rows of its organization's SQLite, not keys.

/// "`waitUntil()` … cancellation will be delayed until the promise has completed or until an additional 30 seconds
/// have elapsed, whichever happens first" (after the response is sent).
/// <https://developers.cloudflare.com/workers/platform/limits/#how-long-can-a-subrequest-take>
pub const WAIT_UNTIL_SECONDS: u32 = 30;

/// What an ingest invocation spends after its answer besides the sends themselves: the claim, the record and a
/// margin, in seconds.
const AFTER_RESPONSE_MARGIN_SECONDS: u32 = 10;

/// The most deliveries a request that ingested one event sends itself, right after its answer (`waitUntil`),
/// instead of handing them to the deliveries queue: one round of sends (one event has one delivery per webhook, each
/// takes one of the six connections).
pub const SENDS_AFTER_RESPONSE: usize = MAX_CONCURRENT_SENDS;

/// Whether that round of sends, its claim and its record fit in the time `waitUntil` grants after the answer. A
/// cut-off invocation loses nothing: its deliveries are stored pending, and the sweeper re-enqueues them once their
/// lease has passed.
pub fn sends_after_response(timeout_seconds: u32) -> bool {
    timeout_seconds + AFTER_RESPONSE_MARGIN_SECONDS <= WAIT_UNTIL_SECONDS
}

/// The binding calls a consumer invocation makes besides one per chunk of ids: recording the batch, abandoning
/// deliveries of gone webhooks, giving deliveries back to hand them to their webhooks' lanes, reading a disable
/// notice's subscribers and enqueueing it, the retried messages' state read, and re-enqueueing what still waits of
/// messages whose deliveries parted ways. (A delivery handed to a lane costs one Durable Object call instead of its
/// fetch.) Kept generous: running out of subrequests fails the whole invocation.
const FIXED_CALLS_PER_INVOCATION: u32 = 8;

/// Binding calls per chunk of up to `ids_per_statement` ids: the claim, the webhooks read and the state read.
const CALLS_PER_ID_CHUNK: u32 = 3;

/// How many deliveries one consumer invocation may take on within `budget` subrequests: each costs one fetch, every
/// chunk of ids a few D1 calls, and the invocation a fixed few. At least one, so a tiny budget still makes progress.
pub fn deliveries_within_budget(budget: u32, ids_per_statement: usize) -> usize {
    let cost = |n: u32| calls_for_deliveries(n, ids_per_statement);
    let (mut low, mut high) = (1u32, budget.max(1));
    while low < high {
        let mid = (low + high).div_ceil(2);
        if cost(mid) <= budget {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low as usize
}

/// The subrequests that taking on `n` deliveries of one organization costs (see [`deliveries_within_budget`]): a
/// consumer invocation pays it once per organization in its batch.
pub fn calls_for_deliveries(n: u32, ids_per_statement: usize) -> u32 {
    n + CALLS_PER_ID_CHUNK * n.div_ceil(ids_per_statement.max(1) as u32) + FIXED_CALLS_PER_INVOCATION
}

/// How many overdue deliveries one sweep may re-enqueue within `budget` subrequests: one statement that takes and
/// marks them, one batch for the retention prune, one queue send per hundred, and four calls kept spare.
pub fn sweep_within_budget(budget: u32) -> usize {
    const FIXED: u32 = 2 + 4;
    let sends = budget.saturating_sub(FIXED).max(1);
    (sends as usize).saturating_mul(QUEUE_SEND_BATCH_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_plan_takes_fewer_deliveries_than_its_fifty_subrequests() {
        let n = deliveries_within_budget(SUBREQUESTS_FREE, 90);
        assert_eq!(n, 39);
        // 39 fetches (or lane calls) + 3 calls for the one chunk of ids + 8 fixed = 50.
        assert!(n as u32 + 3 + 8 <= SUBREQUESTS_FREE);
    }

    #[test]
    fn the_paid_plan_is_never_the_limit_of_a_hundred_message_batch() {
        assert!(deliveries_within_budget(SUBREQUESTS_PAID, 90) > 9_000);
        assert!(deliveries_within_budget(1_000, 90) > 100);
    }

    #[test]
    fn a_tiny_budget_still_makes_progress() {
        assert_eq!(deliveries_within_budget(0, 90), 1);
        assert_eq!(deliveries_within_budget(5, 90), 1);
        assert!(sweep_within_budget(0) >= 1);
    }

    #[test]
    fn an_ingest_sends_itself_only_what_fits_in_wait_until() {
        assert!(sends_after_response(10), "the default timeout");
        assert!(sends_after_response(20));
        assert!(!sends_after_response(21), "a send that may outlast waitUntil goes to the queue");
    }

    #[test]
    fn a_sweep_stays_inside_the_budget() {
        // 50 subrequests: 6 fixed, 44 queue sends of 100 ids.
        assert_eq!(sweep_within_budget(SUBREQUESTS_FREE), 4_400);
    }
}
