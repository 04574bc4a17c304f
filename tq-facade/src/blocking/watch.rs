//! The blocking form of a watch stream: an iterator with a timeout per item.

use std::time::Duration;

use futures::StreamExt;
use tq_core::{Error, ErrorKind, Result, WatchEvent, WatchStream};

use super::TransferQueue;

/// The events of [`TransferQueue::kv_watch`], one per `next`.
///
/// It borrows the queue whose runtime drives it. `next` blocks for at most
/// the timeout given to `kv_watch`: with no event by then it yields
/// `Some(Err(e))` with `e.kind() == ErrorKind::Timeout`, and the watch goes
/// on (call `next` again). It yields `None` once the stream has ended, after
/// the error that ended it. [`recv_timeout`](Self::recv_timeout) takes a
/// timeout per call instead.
///
/// ```
/// use std::time::Duration;
/// use tq_facade::{WatchEvent, blocking::TransferQueue, tag};
///
/// let tq = TransferQueue::open_default()?;
/// let mut events = tq.kv_watch("train", Duration::from_secs(1))?;
/// tq.kv_put("s0", "train", None, Some(tag! {"status" => "new"}))?;
/// match events.next() {
///     Some(Ok(WatchEvent::Put { key, .. })) => assert_eq!(key, "s0"),
///     other => panic!("expected the put, got {other:?}"),
/// }
/// # Ok::<(), tq_facade::Error>(())
/// ```
pub struct Watch<'q> {
    queue: &'q TransferQueue,
    events: WatchStream,
    timeout: Duration,
    ended: bool,
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("timeout", &self.timeout)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<'q> Watch<'q> {
    pub(super) fn new(queue: &'q TransferQueue, events: WatchStream, timeout: Duration) -> Self {
        Watch {
            queue,
            events,
            timeout,
            ended: false,
        }
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` if none came
    /// in time (the watch goes on); an error if the stream failed or ended.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        match self.poll(timeout) {
            Next::Event(event) => Ok(Some(event)),
            Next::TimedOut => Ok(None),
            Next::Failed(e) => Err(e),
            Next::Ended => Err(
                Error::new(ErrorKind::Unavailable, "the watch stream has ended").with_operation(OP),
            ),
        }
    }

    fn poll(&mut self, timeout: Duration) -> Next {
        if self.ended {
            return Next::Ended;
        }
        let events = &mut self.events;
        let next = self.queue.block_on(OP, async move {
            Ok(tokio::time::timeout(timeout, events.next()).await)
        });
        match next {
            Err(e) => Next::Failed(e),
            Ok(Err(_elapsed)) => Next::TimedOut,
            Ok(Ok(Some(Ok(event)))) => Next::Event(event),
            Ok(Ok(Some(Err(e)))) => {
                self.ended = true;
                Next::Failed(e)
            }
            Ok(Ok(None)) => {
                self.ended = true;
                Next::Ended
            }
        }
    }
}

const OP: &str = "kv_watch";

/// What one wait for an event gave.
enum Next {
    Event(WatchEvent),
    TimedOut,
    Failed(Error),
    Ended,
}

impl Iterator for Watch<'_> {
    type Item = Result<WatchEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.poll(self.timeout) {
            Next::Event(event) => Some(Ok(event)),
            Next::TimedOut => Some(Err(Error::new(
                ErrorKind::Timeout,
                format!("no watch event within {:?}", self.timeout),
            )
            .with_operation(OP))),
            Next::Failed(e) => Some(Err(e)),
            Next::Ended => None,
        }
    }
}
