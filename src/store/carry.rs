//! Writes that ride in another request's transaction. On the embedded runtime a D1 round trip costs more than the
//! statements in it: about 1 CPU-ms of the runtime's one thread for a call, against tens of microseconds for a plain
//! insert in it (a JavaScript Worker answering "ok" costs 0.85 CPU-ms per request, 1.87 with one D1 query). So writes
//! of the same isolate share calls, in two ways:
//!
//! - **Ingests commit in groups.** While one ingest's batch is on its way to D1, the ingests that reach the same point
//!   wait for it to return and then go together in the next batch, led by the first of them
//!   ([`batch_grouped`]). An ingest alone goes at once: grouping costs no latency when idle, and under load an
//!   ingest waits at most one round trip, which it would otherwise spend queued behind the runtime.
//! - **Attempt records ride along.** An ingest that sent its own deliveries has to record them: the record waits a
//!   moment for the next ingest, which appends it to its batch. If no ingest comes within [`CARRY_WAIT_MS`], the
//!   record makes its own call and takes the records waiting beside it along (while the runtime is busy, ingests can
//!   stall for longer than that: the records of a burst then share one call instead of one each).
//!
//! Either way one transaction holds the writes of several requests: all of them apply or none. If a shared batch
//! fails (it rolled back: nothing of it applied), each request runs its own statements on its own.
//!
//! Nothing here is shared across requests but data: statements are plain values (SQL text and parameters), and each
//! result goes back to the request that wrote the statements. An isolate that dies holding a record loses only the
//! record; its deliveries stay pending and leased, and the sweeper sends them again once the lease has passed, as for
//! a crash mid-send. An ingest that dies waiting was never answered: its client sends it again, and the event's id
//! makes the repeat a duplicate if the shared batch went in.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::js_sys;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement, D1Result, Delay};

use super::{batch, StoreError};
use crate::platform::now_ms;
use crate::usage;

/// How long a record waits for an ingest to carry it. Under load ingests arrive every few milliseconds; idle, this is
/// the only cost (wall time of an invocation that has already answered, no CPU).
const CARRY_WAIT_MS: i64 = 20;
/// The most statements one carrier takes on besides its own. D1 allows 50 queries per invocation on Workers Free
/// (1,000 on Paid: developers.cloudflare.com/d1/platform/limits); counting each statement of a batch as one, an
/// ingest's invocation stays below that even at its worst (see [`GROUP_MAX_STATEMENTS`]). And one transaction holds
/// D1's single writer: keep it short.
pub const CARRY_MAX_STATEMENTS: usize = 16;
/// The most statements of ingests one grouped batch holds (a single-event ingest has 3: 4 ingests). The worst
/// invocation leads a group: these 12, the 16 records it carries, a read of its duplicates (1), then its own record
/// of at most 5 statements, which waits in vain and carries 16 more: 50, D1's queries per invocation on Workers Free.
/// (Paid allows 1,000, but measured on the embedded runtime, groups of up to 16 ingests instead of 4 saved no CPU and
/// lowered throughput: the larger a group, the longer its riders wait.)
const GROUP_MAX_STATEMENTS: usize = 12;
/// How often a waiting ingest looks whether it can lead, if nothing wakes it sooner.
const RIDER_CHECK_MS: i64 = 50;
/// How long a batch may be on its way before the requests in it stop waiting for it and run on their own, and the
/// lead passes on: a request cancelled mid-batch can leave a D1 call that never answers, and nothing else may wait
/// on it forever. (Running again is safe: an event's id makes the repeat of an ingest a duplicate, and a record's
/// fence stops it applying twice.)
const FLIGHT_LOST_MS: i64 = 10_000;

type Reply = Result<Vec<D1Result>, StoreError>;

/// Where a request waiting in this isolate gets its answer from another request, and is woken in its own request
/// context: by a JavaScript promise it made, which the other request resolves. (A Rust waker would run the waiter on
/// in the waker's context, and workerd ties I/O objects, such as a response body or a queue send, to the request
/// whose context made them.)
#[derive(Default)]
struct Slot {
    reply: RefCell<Option<Reply>>,
    resolve: RefCell<Option<js_sys::Function>>,
}

impl Slot {
    /// A promise of the next [`Slot::ring`]; `None` only if JavaScript made no promise (it always does).
    fn listen(&self) -> Option<JsFuture> {
        let mut resolve = None;
        // The executor runs at once, inside `new`.
        let promise = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
        *self.resolve.borrow_mut() = Some(resolve?);
        Some(JsFuture::from(promise))
    }

    fn ring(&self) {
        if let Some(resolve) = self.resolve.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    fn answer(&self, reply: Reply) {
        *self.reply.borrow_mut() = Some(reply);
        self.ring();
    }

    fn take(&self) -> Option<Reply> {
        self.reply.borrow_mut().take()
    }
}

/// A record waiting to be carried.
struct Parcel {
    statements: Vec<D1PreparedStatement>,
    slot: Rc<Slot>,
}

/// An ingest waiting to go in a grouped batch.
struct Rider {
    statements: Vec<D1PreparedStatement>,
    slot: Slot,
    /// When it was taken into a batch (no longer in [`QUEUED`]); 0 while waiting.
    taken: Cell<i64>,
}

thread_local! {
    static WAITING: RefCell<Vec<Parcel>> = const { RefCell::new(Vec::new()) };
    /// The number of the last ingest batch that took the lead.
    static FLIGHTS: Cell<u64> = const { Cell::new(0) };
    /// The ingest batch on its way to D1, if any: its number and when it left.
    static LEADING: Cell<Option<(u64, i64)>> = const { Cell::new(None) };
    /// Ingests waiting for the batch on its way to return, oldest first.
    static QUEUED: RefCell<Vec<Rc<Rider>>> = const { RefCell::new(Vec::new()) };
    static FAIL_GROUPS: Cell<bool> = const { Cell::new(false) };
}

/// The e2e test fault `fail-grouped-batches` (`TEST_FAULTS`): every batch that holds another ingest's statements
/// fails whole, as if D1 had refused one of them, so that its ingests run on their own.
pub fn fail_grouped_batches(on: bool) {
    FAIL_GROUPS.with(|f| f.set(on));
}

fn cancelled() -> StoreError {
    StoreError("the batch this went in was cancelled".into())
}

/// Takes the lead if no batch is on its way (or the one on its way is lost); returns the new batch's number.
fn try_lead() -> Option<u64> {
    let now = now_ms();
    let free = LEADING.with(|l| l.get()).is_none_or(|(_, left)| now - left > FLIGHT_LOST_MS);
    free.then(|| {
        let number = FLIGHTS.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        LEADING.with(|l| l.set(Some((number, now))));
        number
    })
}

/// Runs `statements` as one D1 batch, carried by an ingest that starts within [`CARRY_WAIT_MS`] if one does, else on
/// its own. Its results are the same either way: one per statement, all applied or none.
pub async fn batch_carried(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>, StoreError> {
    if statements.is_empty() || statements.len() > CARRY_MAX_STATEMENTS {
        return batch(db, statements).await;
    }
    let slot = Rc::new(Slot::default());
    let Some(answered) = slot.listen() else { return batch(db, statements).await };
    // A statement is a reference to its JS object: the copy kept here costs nothing.
    WAITING.with(|w| w.borrow_mut().push(Parcel { statements: statements.clone(), slot: slot.clone() }));
    let answered = match select(answered, wait_ms(CARRY_WAIT_MS)).await {
        Either::Left(_) => true,
        Either::Right((_, answer)) => {
            let still_waiting = WAITING.with(|w| {
                let mut w = w.borrow_mut();
                let at = w.iter().position(|p| Rc::ptr_eq(&p.slot, &slot));
                at.map(|at| w.remove(at)).is_some()
            });
            if still_waiting {
                // No ingest came: this call carries the records waiting beside it.
                usage::add(|u| u.records_alone += 1);
                return batch_with(db, statements, take()).await;
            }
            // Taken: the carrier's batch is on its way; its answer is ours, unless that batch is lost.
            matches!(select(answer, wait_ms(FLIGHT_LOST_MS)).await, Either::Left((Ok(_), _)))
        }
    };
    if let (true, Some(Ok(results))) = (answered, slot.take()) {
        usage::add(|u| u.records_carried += 1);
        return Ok(results);
    }
    // The carrier's transaction failed (nothing of it applied) or the carrier was cancelled: run on our own.
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

/// Runs an ingest's `own` statements in one D1 transaction, in a batch shared with the ingests waiting beside it and
/// the records waiting to be carried. Its results are its own either way: one per statement, all applied or none.
pub async fn batch_grouped(db: &D1Database, own: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>, StoreError> {
    if own.is_empty() || own.len() > GROUP_MAX_STATEMENTS {
        return batch_with(db, own, take()).await;
    }
    let number = match try_lead() {
        Some(number) => number,
        None => {
            let rider = Rc::new(Rider { statements: own.clone(), slot: Slot::default(), taken: Cell::new(0) });
            QUEUED.with(|q| q.borrow_mut().push(rider.clone()));
            let number = loop {
                let Some(rung) = rider.slot.listen() else { break None };
                select(rung, wait_ms(RIDER_CHECK_MS)).await;
                match rider.slot.take() {
                    Some(Ok(results)) => {
                        usage::add(|u| u.ingests_grouped += 1);
                        return Ok(results);
                    }
                    // The shared batch failed (nothing of it applied) or was cancelled.
                    Some(Err(_)) => return batch(db, own).await,
                    None => {}
                }
                match rider.taken.get() {
                    0 => {
                        if let Some(number) = try_lead() {
                            break Some(number);
                        }
                    }
                    taken if now_ms() - taken > FLIGHT_LOST_MS => return batch(db, own).await,
                    _ => {}
                }
            };
            // Leading now: out of the queue, into a batch of its own.
            QUEUED.with(|q| q.borrow_mut().retain(|r| !Rc::ptr_eq(r, &rider)));
            match number {
                Some(number) => number,
                None => return batch(db, own).await,
            }
        }
    };
    lead(db, own, number).await
}

/// Waits `ms` milliseconds (in this request's context).
fn wait_ms(ms: i64) -> Delay {
    Delay::from(Duration::from_millis(ms.max(0) as u64))
}

/// Sends `own` statements with the waiting ingests that fit after them and the waiting records last, holding the
/// lead; hands the lead on as soon as D1 answers.
async fn lead(db: &D1Database, own: Vec<D1PreparedStatement>, number: u64) -> Result<Vec<D1Result>, StoreError> {
    let riders: Vec<Rc<Rider>> = QUEUED.with(|q| {
        let mut q = q.borrow_mut();
        let n = fitting(q.iter().map(|r| r.statements.len()), GROUP_MAX_STATEMENTS.saturating_sub(own.len()));
        q.drain(..n).collect()
    });
    let counts: Vec<usize> = riders.iter().map(|r| r.statements.len()).collect();
    let mut all = own.clone();
    let now = now_ms();
    for rider in &riders {
        rider.taken.set(now);
        all.extend(rider.statements.iter().cloned());
    }
    let carried = take();
    all.extend(carried.statements());
    if !riders.is_empty() && FAIL_GROUPS.with(|f| f.get()) {
        all.push(db.prepare("SELECT refused FROM edgehook_test_fault_fail_grouped_batches"));
    }
    let mut flight = Flight { number, riders };
    let outcome = batch(db, all).await;
    let riders = core::mem::take(&mut flight.riders);
    drop(flight);
    let n = own.len();
    let ridden = counts.iter().sum::<usize>();
    match outcome {
        Ok(mut results) => {
            let mut tail = results.split_off(n.min(results.len()));
            let after = tail.split_off(ridden.min(tail.len()));
            for (rider, reply) in riders.iter().zip(share(&counts, Ok(tail))) {
                rider.slot.answer(reply);
            }
            carried.answer(Ok(after));
            Ok(results)
        }
        Err(e) => {
            if !riders.is_empty() {
                usage::add(|u| u.groups_failed += 1);
            }
            for rider in &riders {
                rider.slot.answer(Err(e.clone()));
            }
            carried.answer(Err(e));
            batch(db, own).await
        }
    }
}

/// The lead, and the ingests in a batch on its way. Dropped, it hands the lead to the oldest waiting ingest; if that
/// is before its riders have their answer (its request was cancelled mid-batch), they fail and run on their own.
struct Flight {
    number: u64,
    riders: Vec<Rc<Rider>>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        for rider in self.riders.drain(..) {
            rider.slot.answer(Err(cancelled()));
        }
        // A batch that returns after it was given up for lost leaves the lead to the one that took it over.
        if LEADING.with(|l| l.get()).is_some_and(|(number, _)| number == self.number) {
            LEADING.with(|l| l.set(None));
        }
        if let Some(next) = QUEUED.with(|q| q.borrow().first().cloned()) {
            next.slot.ring();
        }
    }
}

/// Records waiting to be carried, taken by an ingest for its batch: their statements to append after its own, in
/// order, and the records to answer with [`Taken::answer`]. Dropped unanswered (its carrier was cancelled), it fails
/// them: they run on their own.
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
    pub fn answer(mut self, tail: Result<Vec<D1Result>, StoreError>) {
        let parcels = core::mem::take(&mut self.0);
        let counts: Vec<usize> = parcels.iter().map(|p| p.statements.len()).collect();
        for (parcel, reply) in parcels.into_iter().zip(share(&counts, tail)) {
            parcel.slot.answer(reply);
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        for parcel in self.0.drain(..) {
            parcel.slot.answer(Err(cancelled()));
        }
    }
}

/// How many of the waiting records (or ingests), oldest first, one batch takes: as many as fit in `most` statements
/// together.
fn fitting(counts: impl Iterator<Item = usize>, most: usize) -> usize {
    let mut total = 0;
    counts
        .take_while(|n| {
            total += n;
            total <= most
        })
        .count()
}

/// Deals a batch's results after its leader's own out to the records (or ingests) it carried, `counts[i]` statements
/// each, in order. A failed batch fails every one; one the results fall short of fails (it runs on its own).
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
    fn a_grouped_batch_leaves_its_leaders_invocation_within_d1s_queries_on_workers_free() {
        // The group, its carried records, a duplicate read, then the leader's own record carrying as many again.
        let worst = GROUP_MAX_STATEMENTS + CARRY_MAX_STATEMENTS + 1 + 5 + CARRY_MAX_STATEMENTS;
        assert!(worst <= crate::domain::limits::SUBREQUESTS_FREE as usize, "{worst}");
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
