//! In-process fan-out of watch events: one bounded broadcast channel per
//! watched partition.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures::StreamExt;
use tokio::sync::broadcast;

use crate::row_write::{CellWrite, RowState, RowWrite};
use crate::watch::{WatchEvent, WatchStream};

/// The watchers of a single-process backend, by partition.
///
/// A backend publishes after it applied a write and while it still holds
/// the locks of the rows written, so events of one key leave in apply order
/// (N3); with nobody watching a partition, publishing is a map lookup and
/// builds no event. Each watcher has a buffer of
/// [`capacity`](Self::with_capacity) events; one that falls further behind
/// loses the oldest and reads a [`WatchEvent::Lagged`] in their place (N4),
/// so a slow watcher never slows a writer.
#[derive(Debug)]
pub struct WatchHub {
    capacity: usize,
    channels: Mutex<HashMap<String, broadcast::Sender<WatchEvent>>>,
}

impl Default for WatchHub {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl WatchHub {
    /// Events a watcher may fall behind by before it lags: at ~100 bytes an
    /// event, well under a megabyte per watcher.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A hub whose watchers buffer up to `capacity` events (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        WatchHub {
            capacity: capacity.max(1),
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// The buffer of each watcher, in events.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A new watcher of `partition`, subscribed when this returns (N1).
    pub fn subscribe(&self, partition: &str) -> WatchStream {
        let receiver = {
            let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
            match channels.get(partition) {
                Some(sender) => sender.subscribe(),
                None => {
                    let (sender, receiver) = broadcast::channel(self.capacity);
                    channels.insert(partition.to_owned(), sender);
                    receiver
                }
            }
        };
        futures::stream::unfold(receiver, |mut receiver| async move {
            let item = match receiver.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => WatchEvent::Lagged { missed },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(item), receiver))
        })
        .boxed()
    }

    /// The publisher of `partition`, or `None` when nobody watches it (then
    /// the caller builds no event). Call it after the write is applied,
    /// under the row locks.
    pub fn publisher(&self, partition: &str) -> Option<Publisher> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = channels.get(partition)?;
        if sender.receiver_count() == 0 {
            // Every watcher of it was dropped: forget the channel.
            channels.remove(partition);
            return None;
        }
        Some(Publisher {
            sender: sender.clone(),
        })
    }
}

/// Sends the events of one write call to the watchers of its partition.
#[derive(Debug)]
pub struct Publisher {
    sender: broadcast::Sender<WatchEvent>,
}

impl Publisher {
    /// Sends one event. A watcher dropped meanwhile is no error.
    pub fn send(&self, event: WatchEvent) {
        let _ = self.sender.send(event);
    }

    /// Sends the whole-row clears of the `removed` keys.
    pub fn rows_cleared<'a>(&self, removed: impl IntoIterator<Item = &'a str>) {
        for key in removed {
            self.send(WatchEvent::Clear {
                key: key.to_owned(),
                fields: None,
            });
        }
    }

    /// Sends the events of one applied row write, given the row's state
    /// after it (see [`WatchEvent`]): the fields it removed, if the row
    /// existed, then the put, if it set a cell or a tag entry. A write that
    /// left the row missing (removals of a missing row) sends nothing.
    pub fn row_written(&self, row: &RowWrite, state: &RowState) {
        self.written(WrittenRow::of(row), state);
    }

    /// As [`row_written`](Self::row_written), from a [`WrittenRow`] taken
    /// before the backend consumed the write.
    pub fn written(&self, row: WrittenRow, state: &RowState) {
        if !state.existed && !row.creates {
            return;
        }
        if !row.removed.is_empty() && state.existed {
            self.send(WatchEvent::Clear {
                key: row.key.clone(),
                fields: Some(row.removed),
            });
        }
        if row.creates {
            self.send(WatchEvent::Put {
                key: row.key,
                fields: row.set,
                tag: state.tag.clone(),
            });
        }
    }
}

/// What the events of one row write need from it (its key and field
/// names, no values): taken before a backend consumes the write.
#[derive(Debug, Clone)]
pub struct WrittenRow {
    key: String,
    set: Vec<String>,
    removed: Vec<String>,
    creates: bool,
}

impl WrittenRow {
    /// The names of `row`.
    pub fn of(row: &RowWrite) -> Self {
        let mut set = Vec::new();
        let mut removed = Vec::new();
        for (field, cell) in &row.cells {
            match cell {
                CellWrite::Remove => removed.push(field.clone()),
                _ => set.push(field.clone()),
            }
        }
        WrittenRow {
            key: row.key.clone(),
            set,
            removed,
            creates: row.creates(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str) -> WatchEvent {
        WatchEvent::Put {
            key: key.to_owned(),
            fields: Vec::new(),
            tag: crate::Tag::new(),
        }
    }

    #[tokio::test]
    async fn nobody_watching_builds_nothing_and_a_dropped_watcher_is_forgotten() {
        let hub = WatchHub::with_capacity(4);
        assert!(hub.publisher("p").is_none(), "no watcher yet");
        let watcher = hub.subscribe("p");
        assert!(hub.publisher("other").is_none(), "partitions are apart");
        assert!(hub.publisher("p").is_some());
        drop(watcher);
        assert!(hub.publisher("p").is_none(), "the watcher is gone");
        assert!(hub.channels.lock().unwrap().is_empty(), "its channel too");
    }

    #[tokio::test]
    async fn a_watcher_past_its_buffer_reads_lagged_then_the_newest() {
        let hub = WatchHub::with_capacity(4);
        let mut watcher = hub.subscribe("p");
        let publisher = hub.publisher("p").expect("a watcher");
        for i in 0..10 {
            publisher.send(put(&i.to_string()));
        }
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(watcher.next().await.expect("an item").expect("no error"));
        }
        assert_eq!(got[0], WatchEvent::Lagged { missed: 6 });
        assert_eq!(got[1..], [put("6"), put("7"), put("8"), put("9")]);
    }
}
