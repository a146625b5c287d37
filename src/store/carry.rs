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
pub const CARRY_WAIT_MS: u64 = 20;
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

/// Runs `statements` as one D1 batch, carried by an ingest that starts within `wait` if one does, else on its own.
/// Its results are the same either way: one per statement, all applied or none.
pub async fn batch_carried(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
    wait: Duration,
) -> Result<Vec<D1Result>, StoreError> {
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
    match select(&mut answer, Delay::from(wait)).await {
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
        let mut total = 0;
        let mut n = 0;
        while n < w.len() && total + w[n].statements.len() <= CARRY_MAX_STATEMENTS {
            total += w[n].statements.len();
            n += 1;
        }
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
        match tail {
            Ok(results) => {
                let mut results = results.into_iter();
                for parcel in self.0 {
                    let mine: Vec<D1Result> = results.by_ref().take(parcel.statements.len()).collect();
                    let reply = if mine.len() == parcel.statements.len() {
                        Ok(mine)
                    } else {
                        Err(StoreError("the carrier's batch answered too few results".into()))
                    };
                    let _ = parcel.reply.send(reply);
                }
            }
            Err(e) => {
                for parcel in self.0 {
                    let _ = parcel.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
