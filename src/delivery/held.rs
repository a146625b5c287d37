//! What one isolate holds for the sends that ingests make after their answers (`waitUntil`). Each such ingest keeps
//! its event's payload, its deliveries and their webhooks until its receivers have answered, for up to the delivery
//! timeout; an isolate serves many requests at once, and Cloudflare resets one that holds more than 128 MB, which
//! cancels every send it has in flight. `make bench-memory` measured the largest events (256 KiB) arriving 16 at a
//! time faster than their sends finished: the isolate's WebAssembly memory grew to 274 MB, and every pending ingest
//! held about 2 MB of it. So an ingest sends its own deliveries only while the isolate's account has room for it;
//! otherwise they go through the deliveries queue, whose consumers take a bounded batch each
//! (`limits::DELIVERIES_PER_INVOCATION`). Nothing waits and nothing is refused: only the path changes.

use std::cell::Cell;

/// What a pending ingest holds besides its payload (its deliveries' and webhooks' rows, the requests and futures of
/// its sends), counted per ingest: for small events the account is then a count of pending ingests.
pub const PER_INGEST_BYTES: usize = 16 * 1024;

/// What a pending ingest holds per byte of its payload: its deliveries' bodies, their requests and its record, on both
/// sides of the WebAssembly boundary (about 1.3 MB of WebAssembly memory per pending 256 KiB event, measured).
pub const PER_PAYLOAD_BYTE: usize = 6;

thread_local! {
    /// Bytes the isolate's pending sends after answers hold: one isolate runs one thread.
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// An ingest's share of the account, given back when it is dropped (its sends and their record are done).
#[derive(Debug)]
pub struct Held(usize);

impl Held {
    /// Takes an ingest's share for a payload of `payload_bytes`, if the isolate's account stays within `limit`.
    pub fn take(payload_bytes: usize, limit: usize) -> Option<Held> {
        let bytes = payload_bytes.saturating_mul(PER_PAYLOAD_BYTE).saturating_add(PER_INGEST_BYTES);
        HELD.with(|held| {
            admits(held.get(), bytes, limit).then(|| {
                held.set(held.get() + bytes);
                Held(bytes)
            })
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.with(|held| held.set(held.get().saturating_sub(self.0)));
    }
}

/// Whether `bytes` more fit an account holding `held` under `limit`.
fn admits(held: usize, bytes: usize, limit: usize) -> bool {
    held.saturating_add(bytes) <= limit
}

#[cfg(test)]
mod tests {
    use super::{Held, PER_INGEST_BYTES, PER_PAYLOAD_BYTE};

    /// Ingests take shares until the next would pass the limit; a share given back makes room again, and a limit
    /// of zero sends every ingest's deliveries through the queue.
    #[test]
    fn an_ingest_sends_its_own_deliveries_only_while_the_account_has_room() {
        let share = 256 * 1024 * PER_PAYLOAD_BYTE + PER_INGEST_BYTES;
        let limit = 3 * share;
        let mut held: Vec<Held> = (0..3).map(|_| Held::take(256 * 1024, limit).unwrap()).collect();
        assert!(Held::take(256 * 1024, limit).is_none(), "a fourth large event goes through the queue");
        assert!(Held::take(0, limit).is_none(), "so does a small one: the account is full");
        held.pop();
        let again = Held::take(256 * 1024, limit);
        assert!(again.is_some(), "a share given back makes room");
        assert!(Held::take(0, limit).is_none(), "and no more");
        drop((held, again));
        assert!(Held::take(0, 0).is_none());
        assert!(Held::take(0, PER_INGEST_BYTES).is_some(), "all given back");
    }
}
