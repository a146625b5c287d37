//! Two bounds the platform does not give locally: how many sends run at once, and how much of an answer is read.
//! Both are generic over futures and streams, so host tests drive them without a runtime.

use core::future::Future;

use futures_util::stream::{self, FuturesUnordered, Stream, StreamExt};
use futures_util::FutureExt;

/// Runs `work` over `items` with at most `limit` futures in flight, answering in the items' order. A future is
/// created and first polled only when a slot frees, so anything it starts (a request, its deadline) starts then.
/// Slots free as futures finish, in any order: a slow one holds its own slot, never the others' (an ordered buffer
/// would keep finished results queued behind it and start nothing new).
pub async fn in_order<I, T, F, Fut>(items: I, limit: usize, mut work: F) -> Vec<T>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = T>,
{
    let mut done: Vec<(usize, T)> = stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| work(item).map(move |out| (i, out)))
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, out)| out).collect()
}

/// Like [`in_order`], and fair between keys: no key has more than `per_key` futures in flight, so one slow key
/// (a receiver that stalls every request) holds at most `per_key` of the `limit` slots and the others keep moving.
/// Work-conserving: whenever a slot frees, the first waiting item (in the items' order) whose key is under its
/// share starts, so no slot idles while an item could use it. Answers in the items' order.
pub async fn fair_in_order<'a, T, K, R, Fut>(
    items: &'a [T],
    key: impl Fn(&T) -> K,
    per_key: usize,
    limit: usize,
    work: impl Fn(&'a T) -> Fut,
) -> Vec<R>
where
    K: PartialEq,
    Fut: Future<Output = R>,
{
    let (per_key, limit) = (per_key.max(1), limit.max(1));
    let keys: Vec<K> = items.iter().map(&key).collect();
    let mut waiting: Vec<usize> = (0..items.len()).collect();
    let mut running_keys: Vec<usize> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut done: Vec<(usize, R)> = Vec::with_capacity(items.len());
    loop {
        while in_flight.len() < limit {
            let share = |i: &usize| running_keys.iter().filter(|r| keys[**r] == keys[*i]).count() < per_key;
            let Some(at) = waiting.iter().position(share) else { break };
            let i = waiting.remove(at);
            running_keys.push(i);
            let work = &work;
            in_flight.push(async move { (i, work(&items[i]).await) });
        }
        match in_flight.next().await {
            Some((i, out)) => {
                running_keys.retain(|r| *r != i);
                done.push((i, out));
            }
            None => break,
        }
    }
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, out)| out).collect()
}

/// Whether [`fair_in_order`] with the same arguments starts every item at once: no more items than `limit`, and no
/// key with more than `per_key`. Then no item ever waits for a slot.
pub fn starts_all_at_once<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K, per_key: usize, limit: usize) -> bool {
    let (per_key, limit) = (per_key.max(1), limit.max(1));
    let keys: Vec<K> = items.iter().map(key).collect();
    keys.len() <= limit && keys.iter().all(|k| keys.iter().filter(|other| *other == k).count() <= per_key)
}

/// Appends chunks of `body` to `buffer` until it holds `limit` bytes or the body ends, and stops reading there: an
/// endless or huge answer costs at most `limit` bytes of memory. Answers whether the body went on past the limit.
/// Cancelled midway (its future dropped at a deadline), `buffer` keeps what was read so far.
pub async fn read_at_most<S, E>(body: &mut S, buffer: &mut Vec<u8>, limit: usize) -> Result<bool, E>
where
    S: Stream<Item = Result<Vec<u8>, E>> + Unpin,
{
    while buffer.len() < limit {
        match body.next().await {
            None => return Ok(false),
            Some(chunk) => {
                let chunk = chunk?;
                let room = limit - buffer.len();
                buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    return Ok(true);
                }
            }
        }
    }
    Ok(true)
}

/// The kept bytes as text: invalid UTF-8 replaced, and a character cut at the limit dropped rather than mangled.
pub fn text_of(bytes: &[u8]) -> String {
    match core::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        // A multi-byte character cut by the limit leaves an incomplete sequence at the very end: drop it.
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::pin::Pin;
    use core::task::{Context, Poll};
    use futures::executor::block_on;
    use std::cell::{Cell, RefCell};

    /// Pending once, then ready: lets other futures of the same task run in between.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn at_most_six_run_at_once_and_answers_keep_their_order() {
        let in_flight = Cell::new(0usize);
        let most = Cell::new(0usize);
        let finished = Cell::new(0usize);
        let started_after = RefCell::new(Vec::new());
        let results = block_on(in_order(0..30usize, 6, |n| {
            let (in_flight, most, finished, started_after) = (&in_flight, &most, &finished, &started_after);
            async move {
                // The "request" starts here, on first poll: record how many had finished by then.
                started_after.borrow_mut().push((n, finished.get()));
                in_flight.set(in_flight.get() + 1);
                most.set(most.get().max(in_flight.get()));
                for _ in 0..(n % 4 + 1) {
                    YieldOnce(false).await;
                }
                in_flight.set(in_flight.get() - 1);
                finished.set(finished.get() + 1);
                n * 10
            }
        }));
        assert_eq!(results, (0..30).map(|n| n * 10).collect::<Vec<_>>());
        assert_eq!(most.get(), 6);
        // The seventh starts only once one of the first six has finished: its deadline cannot run while it waits.
        for (n, done) in started_after.borrow().iter() {
            assert!(*done + 6 > *n, "send {n} started when only {done} had finished");
        }
    }

    #[test]
    fn a_slow_send_holds_only_its_own_slot() {
        let finished = Cell::new(0usize);
        let started_while_first_runs = Cell::new(0usize);
        let first_done = Cell::new(false);
        block_on(in_order(0..20usize, 6, |n| {
            let (finished, started, first_done) = (&finished, &started_while_first_runs, &first_done);
            async move {
                if n > 0 && !first_done.get() {
                    started.set(started.get() + 1);
                }
                // The first is slow (a stalled receiver); the others answer at once.
                for _ in 0..if n == 0 { 100 } else { 1 } {
                    YieldOnce(false).await;
                }
                if n == 0 {
                    first_done.set(true);
                }
                finished.set(finished.get() + 1);
            }
        }));
        assert_eq!(finished.get(), 20);
        assert_eq!(started_while_first_runs.get(), 19, "every other send started while the slow one held its slot");
    }

    #[test]
    fn no_key_holds_more_than_two_slots_and_a_slow_key_does_not_hold_up_the_others() {
        // 30 items of a slow key ("noisy", 50 yields each) and 5 items each of three quick keys.
        let mut items: Vec<(&str, usize)> = (0..30).map(|n| ("noisy", n)).collect();
        for k in ["a", "b", "c"] {
            items.extend((0..5).map(|n| (k, n)));
        }
        let in_flight: RefCell<Vec<&str>> = RefCell::new(Vec::new());
        let most_total = Cell::new(0usize);
        let most_per_key = Cell::new(0usize);
        let quick_done_while_noisy_ran = Cell::new(0usize);
        let noisy_done = Cell::new(0usize);
        let results = block_on(fair_in_order(
            &items,
            |(k, _)| *k,
            2,
            6,
            |(k, n)| {
                let (in_flight, most_total, most_per_key) = (&in_flight, &most_total, &most_per_key);
                let (quick_done, noisy_done) = (&quick_done_while_noisy_ran, &noisy_done);
                let (k, n) = (*k, *n);
                async move {
                    in_flight.borrow_mut().push(k);
                    most_total.set(most_total.get().max(in_flight.borrow().len()));
                    most_per_key.set(most_per_key.get().max(in_flight.borrow().iter().filter(|x| **x == k).count()));
                    for _ in 0..if k == "noisy" { 50 } else { 1 } {
                        YieldOnce(false).await;
                    }
                    let at = in_flight.borrow().iter().position(|x| *x == k).unwrap();
                    in_flight.borrow_mut().remove(at);
                    if k == "noisy" {
                        noisy_done.set(noisy_done.get() + 1);
                    } else if noisy_done.get() < 2 {
                        quick_done.set(quick_done.get() + 1);
                    }
                    format!("{k}{n}")
                }
            },
        ));
        let expected: Vec<String> = items.iter().map(|(k, n)| format!("{k}{n}")).collect();
        assert_eq!(results, expected, "answers keep the items' order");
        assert_eq!(most_total.get(), 6);
        assert_eq!(most_per_key.get(), 2, "no key ever ran more than two at once");
        assert_eq!(quick_done_while_noisy_ran.get(), 15, "every quick item finished before the slow key's first two");
    }

    /// `starts_all_at_once` says what `fair_in_order` does: every item has started before the first one finishes
    /// exactly when it answers true.
    #[test]
    fn starts_all_at_once_tells_when_no_item_waits_for_a_slot() {
        let cases: [(&[&str], usize, usize); 6] = [
            (&["a", "b", "c"], 2, 6),
            (&["a", "a", "b"], 2, 6),
            (&["a", "a", "a"], 2, 6),
            (&["a", "b", "c", "d", "e", "f"], 2, 6),
            (&["a", "b", "c", "d", "e", "f", "g"], 2, 6),
            (&["a", "b"], 1, 1),
        ];
        let mut answers = Vec::new();
        for (keys, per_key, limit) in cases {
            let started = Cell::new(0usize);
            let started_before_first_done = Cell::new(None);
            block_on(fair_in_order(
                keys,
                |k| *k,
                per_key,
                limit,
                |_| {
                    let (started, first_done) = (&started, &started_before_first_done);
                    async move {
                        started.set(started.get() + 1);
                        YieldOnce(false).await;
                        if first_done.get().is_none() {
                            first_done.set(Some(started.get()));
                        }
                    }
                },
            ));
            let all_started = started_before_first_done.get() == Some(keys.len());
            assert_eq!(starts_all_at_once(keys, |k| *k, per_key, limit), all_started, "{keys:?} {per_key} {limit}");
            answers.push(all_started);
        }
        assert_eq!(answers, [true, true, false, true, false, false], "the cases cover both answers");
    }

    #[test]
    fn a_slot_never_idles_behind_a_slow_item_of_the_same_key() {
        let finished = RefCell::new(Vec::new());
        block_on(fair_in_order(
            &[0, 1, 2, 3, 4],
            |_| "k",
            2,
            6,
            |n| {
                let finished = &finished;
                let n = *n;
                async move {
                    for _ in 0..if n == 0 { 50 } else { 1 } {
                        YieldOnce(false).await;
                    }
                    finished.borrow_mut().push(n);
                }
            },
        ));
        // The slow first item holds one of the key's two slots; the other slot serves 1, 2, 3 and 4 meanwhile.
        assert_eq!(*finished.borrow(), vec![1, 2, 3, 4, 0]);
    }

    #[test]
    fn one_key_alone_runs_two_at_a_time_starting_in_its_order() {
        let order = RefCell::new(Vec::new());
        let results = block_on(fair_in_order(
            &[1, 2, 3, 4, 5],
            |_| "only",
            2,
            6,
            |n| {
                let order = &order;
                let n = *n;
                async move {
                    order.borrow_mut().push(n);
                    YieldOnce(false).await;
                    n
                }
            },
        ));
        assert_eq!(results, vec![1, 2, 3, 4, 5]);
        assert_eq!(*order.borrow(), vec![1, 2, 3, 4, 5], "items start in their order as slots free");
    }

    #[test]
    fn a_limit_of_zero_still_runs_one_at_a_time() {
        let results = block_on(in_order([1, 2, 3], 0, |n| async move { n }));
        assert_eq!(results, vec![1, 2, 3]);
    }

    fn chunks(parts: Vec<&'static [u8]>) -> impl Stream<Item = Result<Vec<u8>, ()>> + Unpin {
        stream::iter(parts.into_iter().map(|p| Ok(p.to_vec())))
    }

    #[test]
    fn a_short_answer_is_read_whole() {
        let mut buffer = Vec::new();
        let more = block_on(read_at_most(&mut chunks(vec![b"ok", b" then"]), &mut buffer, 4096)).unwrap();
        assert!(!more);
        assert_eq!(buffer, b"ok then");
    }

    #[test]
    fn an_endless_answer_stops_at_the_limit() {
        let mut endless = stream::repeat_with(|| Ok::<_, ()>(vec![b'x'; 1000]));
        let mut buffer = Vec::new();
        let more = block_on(read_at_most(&mut endless, &mut buffer, 4096)).unwrap();
        assert!(more);
        assert_eq!(buffer.len(), 4096);
        // Exactly at the limit with nothing after it is not "more".
        let mut buffer = Vec::new();
        let more = block_on(read_at_most(&mut chunks(vec![&[b'y'; 4096]]), &mut buffer, 4096)).unwrap();
        assert!(more, "the limit reached: the rest is not read, whether or not there is any");
    }

    #[test]
    fn a_broken_stream_is_an_error_with_the_bytes_read_so_far_kept() {
        let mut broken = stream::iter(vec![Ok(b"part".to_vec()), Err("reset")]);
        let mut buffer = Vec::new();
        assert_eq!(block_on(read_at_most(&mut broken, &mut buffer, 4096)), Err("reset"));
        assert_eq!(buffer, b"part");
    }

    #[test]
    fn text_drops_a_character_cut_at_the_limit_and_replaces_invalid_bytes() {
        let cut = "é".as_bytes();
        assert_eq!(text_of(&[b'a', cut[0]]), "a");
        assert_eq!(text_of("héllo".as_bytes()), "héllo");
        assert_eq!(text_of(&[b'a', 0xff, b'b']), "a\u{fffd}b");
    }
}
