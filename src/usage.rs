//! Billable platform operations counted per isolate: D1 and Durable Object round trips, statements and rows, KV reads and writes, queue
//! messages, fetches. `make bench-delivery` reads them (through `GET /__usage`, served only when `EXPOSE_USAGE` is
//! `true`) to print the cost of a delivery; in production they are never exposed.

use core::cell::RefCell;

use serde::Serialize;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Calls to D1 (a batch is one call, one round trip).
    pub d1_calls: u64,
    pub d1_statements: u64,
    pub d1_rows_read: u64,
    pub d1_rows_written: u64,
    pub kv_reads: u64,
    pub kv_writes: u64,
    /// Calls to a queue producer (`send` or `sendBatch`).
    pub queue_send_calls: u64,
    /// Messages written to a queue (each is billed as written, read and deleted: three operations).
    pub queue_messages_sent: u64,
    /// Messages handed back to their queue with `retry` (each is read again: one more operation).
    pub queue_retries: u64,
    /// Messages consumed and acknowledged.
    pub queue_acks: u64,
    /// Calls to organizations' objects (a batch of statements is one call, one round trip), their statements,
    /// and the rows the objects' SQLite read and wrote (index entries included: each is a billed row).
    pub object_calls: u64,
    pub object_statements: u64,
    pub object_rows_read: u64,
    pub object_rows_written: u64,
    /// The most subrequests (object, D1, KV and queue calls, lane hand-overs, fetches) one deliveries-queue
    /// invocation made while this isolate ran it: what `SUBREQUEST_BUDGET` bounds. Measured as the change of the
    /// isolate's counters across the invocation, so another request running meanwhile only adds to it.
    pub max_consumer_subrequests: u64,
    /// Bad event messages whose dead-letter write failed (each was handed back to its queue).
    pub dead_letters_failed: u64,
    /// HTTP requests to receivers.
    pub fetches: u64,
    /// Wake-ups of webhooks' lanes (Durable Object calls).
    pub lane_calls: u64,
}

thread_local! {
    static USAGE: RefCell<Usage> = RefCell::new(Usage::default());
}

/// Adds to the isolate's counters.
pub fn add(change: impl FnOnce(&mut Usage)) {
    USAGE.with(|u| change(&mut u.borrow_mut()));
}

/// The subrequests the counters add up to: every binding call and fetch.
pub fn subrequests(u: &Usage) -> u64 {
    u.object_calls + u.d1_calls + u.kv_reads + u.kv_writes + u.queue_send_calls + u.lane_calls + u.fetches
}

/// The counters since the isolate started.
pub fn snapshot() -> Usage {
    USAGE.with(|u| *u.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let before = snapshot();
        add(|u| u.d1_calls += 2);
        add(|u| u.fetches += 1);
        let after = snapshot();
        assert_eq!(after.d1_calls - before.d1_calls, 2);
        assert_eq!(after.fetches - before.fetches, 1);
    }
}
