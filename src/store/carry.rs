//! Writes that ride in another request's transaction. An ingest that sent its own deliveries has to record them: that
//! is a D1 round trip of its own, and on the embedded runtime a round trip costs more than the statements in it (the
//! second D1 call per event was a fifth of the runtime's CPU per delivery in a plain JavaScript Worker of the same
//! shape, `make bench-compare`'s floor). So the record waits a moment in this isolate for the next ingest, which
//! appends it to its own batch: one transaction, one round trip, both writes or neither. If no ingest comes within
//! [`CARRY_WAIT_MS`], the record makes its own call and takes the records waiting beside it along (while the runtime
//! is busy, ingests can stall for longer than that: the records of a burst then share one call instead of one each).
//! If a carrier's transaction fails (it rolled back: nothing of the record applied), the record runs on its own.
//!
//! Nothing here is shared across requests but data: statements are plain values (SQL text and parameters), and each
//! result goes back to the request that wrote the statements. An isolate that dies holding a record loses only the
//! record; its deliveries stay pending and leased, and the sweeper sends them again once the lease has passed, as for
//! a crash mid-send.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either};
use worker::{D1Database, D1PreparedStatement, D1Result, Delay};

use super::{batch, StoreError};
use crate::usage;

/// How long a record waits for an ingest to carry it. Under load ingests arrive every few milliseconds; idle, this is
/// the only cost (wall time of an invocation that has already answered, no CPU).
const CARRY_WAIT_MS: u64 = 20;
/// The most statements one carrier takes on besides its own. D1 allows 50 queries per invocation on Workers Free
/// (1,000 on Paid: developers.cloudflare.com/d1/platform/limits); counting each statement of a batch as one, an
/// ingest's invocation stays below that even at its worst: its own 3, 16 carried, then its own record of 2 carrying
/// 16 more (37). And one transaction holds D1's single writer: keep it short.
pub const CARRY_MAX_STATEMENTS: usize = 16;

type Reply = Result<Vec<D1Result>, StoreError>;

struct Parcel {
    id: u64,
    statements: Vec<D1PreparedStatement>,
    reply: oneshot::Sender<Reply>,
}

thread_local! {
    static WAITING: RefCell<Vec<Parcel>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Runs `statements` as one D1 batch, carried by an ingest that starts within [`CARRY_WAIT_MS`] if one does, else on
/// its own. Its results are the same either way: one per statement, all applied or none.
pub async fn batch_carried(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>, StoreError> {
    if statements.is_empty() || statements.len() > CARRY_MAX_STATEMENTS {
        return batch(db, statements).await;
    }
    let id = NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let (reply, mut answer) = oneshot::channel();
    // A statement is a reference to its JS object: the copy kept here costs nothing.
    WAITING.with(|w| w.borrow_mut().push(Parcel { id, statements: statements.clone(), reply }));
    let carried = |results| {
        usage::add(|u| u.records_carried += 1);
        Ok(results)
    };
    match select(&mut answer, Delay::from(Duration::from_millis(CARRY_WAIT_MS))).await {
        Either::Left((Ok(Ok(results)), _)) => return carried(results),
        // The carrier's transaction failed (nothing of it applied) or the carrier was dropped: run on our own.
        Either::Left(_) => {}
        Either::Right(_) => {
            let still_waiting = WAITING.with(|w| {
                let mut w = w.borrow_mut();
                let at = w.iter().position(|p| p.id == id);
                at.map(|at| w.remove(at)).is_some()
            });
            if still_waiting {
                // No ingest came: this call carries the records waiting beside it.
                usage::add(|u| u.records_alone += 1);
                return batch_with(db, statements, take()).await;
            }
            // Taken: the carrier's batch is on its way; its answer is ours.
            if let Ok(Ok(results)) = answer.await {
                return carried(results);
            }
        }
    }
    usage::add(|u| u.records_alone += 1);
    batch(db, statements).await
}

/// Runs `own` statements as one D1 batch with the `taken` records after them, and answers each of those with its
/// results. If the batch fails, nothing of it applied: the records run on their own, and `own` once more alone.
pub async fn batch_with(
    db: &D1Database,
    own: Vec<D1PreparedStatement>,
    taken: Taken,
) -> Result<Vec<D1Result>, StoreError> {
    if taken.is_empty() {
        return batch(db, own).await;
    }
    let n = own.len();
    let mut all = own.clone();
    all.extend(taken.statements());
    match batch(db, all).await {
        Ok(mut results) => {
            let tail = results.split_off(n.min(results.len()));
            taken.answer(Ok(tail));
            Ok(results)
        }
        Err(e) => {
            taken.answer(Err(e));
            batch(db, own).await
        }
    }
}

/// Records waiting to be carried, taken by an ingest for its batch: their statements to append after its own, in
/// order, and the parcels to answer with [`Taken::answer`].
pub struct Taken(Vec<Parcel>);

/// Takes waiting records, oldest first, up to [`CARRY_MAX_STATEMENTS`] statements.
pub fn take() -> Taken {
    WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let n = fitting(w.iter().map(|p| p.statements.len()), CARRY_MAX_STATEMENTS);
        Taken(w.drain(..n).collect())
    })
}

impl Taken {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The statements to append, in order.
    pub fn statements(&self) -> impl Iterator<Item = D1PreparedStatement> + '_ {
        self.0.iter().flat_map(|p| p.statements.iter().cloned())
    }

    /// Answers each record with its results, from the carrier's results after its own (`tail`); a failed batch
    /// answers every record with the failure, and each then runs on its own.
    pub fn answer(self, tail: Result<Vec<D1Result>, StoreError>) {
        let counts: Vec<usize> = self.0.iter().map(|p| p.statements.len()).collect();
        for (parcel, reply) in self.0.into_iter().zip(share(&counts, tail)) {
            let _ = parcel.reply.send(reply);
        }
    }
}

/// How many of the records waiting, oldest first, one batch takes: as many as fit in `most` statements together.
fn fitting(counts: impl Iterator<Item = usize>, most: usize) -> usize {
    let mut total = 0;
    counts
        .take_while(|n| {
            total += n;
            total <= most
        })
        .count()
}

/// Deals a carrier's results after its own out to the records it carried, `counts[i]` statements each, in order. A
/// failed batch fails every record; a record the results fall short of fails (it runs on its own).
fn share<T>(counts: &[usize], tail: Result<Vec<T>, StoreError>) -> Vec<Result<Vec<T>, StoreError>> {
    match tail {
        Ok(results) => {
            let mut results = results.into_iter();
            counts
                .iter()
                .map(|&n| {
                    let mine: Vec<T> = results.by_ref().take(n).collect();
                    if mine.len() == n {
                        Ok(mine)
                    } else {
                        Err(StoreError("the carrier's batch answered too few results".into()))
                    }
                })
                .collect()
        }
        Err(e) => counts.iter().map(|_| Err(e.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_carried_record_gets_its_own_results_in_order_and_a_failure_fails_them_all() {
        assert_eq!(share(&[2, 1, 3], Ok(vec![1, 2, 3, 4, 5, 6])), vec![Ok(vec![1, 2]), Ok(vec![3]), Ok(vec![4, 5, 6])]);
        let short = share(&[2, 2], Ok(vec![1, 2, 3]));
        assert_eq!(short[0], Ok(vec![1, 2]));
        assert!(short[1].is_err(), "a record the results fall short of runs on its own");
        let failed = StoreError("boom".into());
        assert_eq!(share::<u8>(&[1, 2], Err(failed.clone())), vec![Err(failed.clone()), Err(failed)]);
        assert!(share::<u8>(&[], Ok(vec![])).is_empty());
    }

    #[test]
    fn a_carrier_takes_the_oldest_records_that_fit_in_its_statement_allowance() {
        assert_eq!(fitting([2, 2, 2].into_iter(), 16), 3);
        assert_eq!(fitting([2; 10].into_iter(), 16), 8);
        assert_eq!(fitting([2, 15, 2].into_iter(), 16), 1, "in order: a record that does not fit stops the taking");
        assert_eq!(fitting([17].into_iter(), 16), 0);
        assert_eq!(fitting(std::iter::empty(), 16), 0);
    }
}
