//! Insertion sequences reserved before a put writes (every cluster put, and
//! large standalone puts): the reservations of one process that wait at
//! the same time share one `INCRBY` of the counter.
//!
//! One reservation at a time is sent (its sender is the *leader*); those
//! that arrive meanwhile wait, and the next leader sends one `INCRBY` for
//! all of them. Order (SPEC L1) holds: a reservation that starts after
//! another one ended is sent after that one's `INCRBY` was answered, so it
//! gets larger numbers; reservations that wait together are concurrent
//! puts, whose order is free. 16 tasks putting single rows to a cluster
//! send a few `INCRBY`s per round instead of 16 (BENCHMARKS.md).
//!
//! Cancellation: a leader dropped before its `INCRBY` was answered passes
//! the lead to a waiter, or lets the next caller lead; the waiters it had
//! taken along see their channel closed and ask again. Numbers of a
//! reservation whose caller is gone are skipped (the counter only has to
//! grow).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use redis::RedisResult;
use tokio::sync::oneshot;

/// Reservations of one store, coalesced (see the module docs).
#[derive(Debug, Default)]
pub struct Reservations {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// A leader's `INCRBY` is in flight (or about to be).
    busy: bool,
    waiting: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    n: u64,
    tx: oneshot::Sender<Msg>,
}

#[derive(Debug)]
enum Msg {
    /// Send the next `INCRBY`, for yourself and everyone waiting.
    Lead,
    /// Your first number (or the `INCRBY`'s error).
    Done(RedisResult<u64>),
}

impl Reservations {
    /// The first of `n` fresh numbers. `incrby(total)` raises the counter
    /// by `total` and answers its new value.
    pub async fn reserve<F, Fut>(&self, n: u64, incrby: F) -> RedisResult<u64>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = RedisResult<u64>>,
    {
        loop {
            let mut ticket = {
                let mut state = self.lock();
                if !state.busy {
                    state.busy = true;
                    None
                } else {
                    let (tx, rx) = oneshot::channel();
                    state.waiting.push_back(Waiter { n, tx });
                    Some(Ticket {
                        owner: self,
                        rx: Some(rx),
                    })
                }
            };
            if let Some(ticket) = &mut ticket {
                match ticket.wait().await {
                    Some(Msg::Done(first)) => return first,
                    Some(Msg::Lead) => {}
                    // Its leader was dropped: ask again.
                    None => continue,
                }
            }
            // No await between taking the lead and the guard that passes
            // it on.
            return self.lead(n, &incrby).await;
        }
    }

    async fn lead<F, Fut>(&self, n: u64, incrby: &F) -> RedisResult<u64>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = RedisResult<u64>>,
    {
        let _lead = Lead(self);
        let along: Vec<Waiter> = self.lock().waiting.drain(..).collect();
        let total = n + along.iter().map(|w| w.n).sum::<u64>();
        let last = incrby(total).await;
        match last {
            Ok(last) if last >= total => {
                let first = last - total + 1;
                let mut next = first + n;
                for w in along {
                    let _ = w.tx.send(Msg::Done(Ok(next)));
                    next += w.n;
                }
                Ok(first)
            }
            Ok(last) => {
                let e = redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "the insertion counter's INCRBY",
                    format!("answered {last} after adding {total}"),
                ));
                for w in along {
                    let _ = w.tx.send(Msg::Done(Err(e.clone())));
                }
                Err(e)
            }
            Err(e) => {
                for w in along {
                    let _ = w.tx.send(Msg::Done(Err(e.clone())));
                }
                Err(e)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the lead to the first waiter still there, or frees it.
    fn pass_lead(&self) {
        let mut state = self.lock();
        while let Some(w) = state.waiting.pop_front() {
            if w.tx.send(Msg::Lead).is_ok() {
                return;
            }
        }
        state.busy = false;
    }
}

/// Held while leading; passes the lead on when dropped (done or not).
struct Lead<'a>(&'a Reservations);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.pass_lead();
    }
}

/// A waiter's place; a waiter dropped after being handed the lead passes
/// it on.
struct Ticket<'a> {
    owner: &'a Reservations,
    rx: Option<oneshot::Receiver<Msg>>,
}

impl Ticket<'_> {
    /// The message for this waiter; `None` when its leader was dropped.
    async fn wait(&mut self) -> Option<Msg> {
        let rx = self.rx.as_mut()?;
        let msg = rx.await.ok();
        self.rx = None;
        msg
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(Msg::Lead) = rx.try_recv() {
                self.owner.pass_lead();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;

    /// A counter in memory that counts its `INCRBY`s, and can be held or
    /// take a while.
    #[derive(Default)]
    struct Counter {
        value: AtomicU64,
        calls: AtomicUsize,
        gate: Option<Arc<Notify>>,
        delay: Option<Duration>,
    }

    impl Counter {
        /// A counter whose `INCRBY`s wait for the returned gate.
        fn held() -> (Counter, Arc<Notify>) {
            let gate = Arc::new(Notify::new());
            let counter = Counter {
                gate: Some(gate.clone()),
                ..Counter::default()
            };
            (counter, gate)
        }

        async fn incrby(&self, n: u64) -> RedisResult<u64> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            Ok(self.value.fetch_add(n, Ordering::SeqCst) + n)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reservations_share_incrbys_and_get_disjoint_ranges() {
        let r = Arc::new(Reservations::default());
        let counter = Arc::new(Counter {
            delay: Some(Duration::from_millis(1)),
            ..Counter::default()
        });
        let tasks: Vec<_> = (0..64u64)
            .map(|i| {
                let (r, counter) = (r.clone(), counter.clone());
                tokio::spawn(async move {
                    let n = 1 + i % 3;
                    let mut ranges = Vec::new();
                    for _ in 0..50 {
                        let first = r.reserve(n, |t| counter.incrby(t)).await.unwrap();
                        ranges.push((first, n));
                    }
                    ranges
                })
            })
            .collect();
        let mut taken = Vec::new();
        for t in tasks {
            for (first, n) in t.await.unwrap() {
                taken.extend(first..first + n);
            }
        }
        taken.sort_unstable();
        let total = counter.value.load(Ordering::SeqCst);
        assert_eq!(taken, (1..=total).collect::<Vec<_>>(), "every number once");
        // While one INCRBY takes its millisecond, the other 63 tasks wait
        // for the next one.
        let calls = counter.calls.load(Ordering::SeqCst);
        assert!(
            calls <= 64 * 50 / 8,
            "{calls} INCRBYs for {} reservations",
            64 * 50
        );
    }

    #[tokio::test]
    async fn a_reservation_after_another_ended_gets_larger_numbers() {
        let r = Reservations::default();
        let counter = Counter::default();
        let mut last = 0;
        for n in [1, 5, 2, 1] {
            let first = r.reserve(n, |t| counter.incrby(t)).await.unwrap();
            assert!(first > last, "{first} after {last}");
            last = first + n - 1;
        }
        assert_eq!(counter.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn an_error_reaches_every_reservation_of_its_incrby() {
        let r = Reservations::default();
        let (held, gate) = Counter::held();
        let failing = |_| async { Err(redis::RedisError::from((redis::ErrorKind::Io, "gone"))) };
        // The first leader's INCRBY is held; two more wait meanwhile, so
        // the next lead sends one INCRBY for both, and it fails.
        let leader = r.reserve(1, |t| held.incrby(t));
        tokio::pin!(leader);
        assert!(futures::poll!(&mut leader).is_pending());
        let (w1, w2) = (r.reserve(1, failing), r.reserve(2, failing));
        tokio::pin!(w1, w2);
        assert!(futures::poll!(&mut w1).is_pending());
        assert!(futures::poll!(&mut w2).is_pending());
        gate.notify_one();
        assert_eq!(leader.await.unwrap(), 1);
        let (a, b) = futures::join!(w1, w2);
        assert!(a.is_err() && b.is_err(), "{a:?} {b:?}");
        assert_eq!(held.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_dropped_midway_leaves_the_waiters_to_go_on() {
        let r = Arc::new(Reservations::default());
        let held = Arc::new(Counter::held().0);
        let counter = Arc::new(Counter::default());
        let leader = {
            let (r, held) = (r.clone(), held.clone());
            tokio::spawn(async move { r.reserve(1, |t| held.incrby(t)).await })
        };
        while held.calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (r, counter) = (r.clone(), counter.clone());
                tokio::spawn(async move { r.reserve(1, |t| counter.incrby(t)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        for w in waiters {
            let first = tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("a waiter is stuck after its leader was dropped")
                .unwrap()
                .unwrap();
            assert!((1..=4).contains(&first));
        }
    }

    #[tokio::test]
    async fn a_waiter_dropped_when_handed_the_lead_passes_it_on() {
        let r = Reservations::default();
        let (counter, gate) = Counter::held();
        let free = Counter::default();
        let leader = r.reserve(1, |t| counter.incrby(t));
        tokio::pin!(leader);
        assert!(futures::poll!(&mut leader).is_pending());
        let mut dropped = Box::pin(r.reserve(1, |t| free.incrby(t)));
        assert!(futures::poll!(&mut dropped).is_pending());
        // The leader had already taken its batch, so the waiter is left for
        // the next lead; it is dropped before it reads that it leads.
        gate.notify_one();
        assert_eq!(leader.await.unwrap(), 1);
        drop(dropped);
        // Had the lead been lost with the dropped waiter, this would hang.
        let next = tokio::time::timeout(Duration::from_secs(5), r.reserve(1, |t| free.incrby(t)))
            .await
            .expect("the lead was lost with a dropped waiter");
        assert_eq!(next.unwrap(), 1);
    }
}
