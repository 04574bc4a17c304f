//! The conformance suite through the facade's own stack: the memory backend
//! opened from a TOML config by the registry, via the async API and via the
//! blocking API.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use tq_facade::core::conformance::Fixture;
use tq_facade::{
    BackendRegistry, Batch, Capabilities, Config, FieldNames, KvApi, KvBatchMeta, Listing, MergeFn,
    Notifications, Result, Row, StorageBackend, Tag, TransferQueue, WatchEvent, WatchStream,
    async_trait, blocking,
};

/// The memory backend the registry opens from a TOML config.
async fn open_memory(capacity: u64) -> Result<Arc<dyn StorageBackend>> {
    let config = Config::from_toml_str(&format!(
        "backend = \"memory\"\n[memory]\ncapacity_bytes = {capacity}\n"
    ))?;
    BackendRegistry::default().open(&config).await
}

/// A fixture over `backend` under the kv_* API `build` makes of it; its
/// capacity hook opens another memory store the same way.
fn fixture<K: KvApi + 'static>(
    backend: Arc<dyn StorageBackend>,
    build: fn(Arc<dyn StorageBackend>) -> Result<K>,
) -> Result<Fixture> {
    let claims = Capabilities::new()
        .with_atomic_batch(true)
        .with_zero_copy_put(true)
        .with_conditional_write(true)
        .with_notifications(Notifications::InProcess);
    Ok(Fixture::wrapping(backend, build)?
        .claims(claims)
        .without_stored_bytes()
        .with_capacity(move |limit| async move { fixture(open_memory(limit).await?, build) }))
}

mod via_async {
    use super::*;

    tq_facade::core::conformance_tests!(|| async {
        // The async queue's kv_* methods are its store's (Deref): the
        // store it lends is exactly what a caller of the queue drives.
        fixture(open_memory(1 << 30).await?, |backend| {
            Ok(TransferQueue::from_backend(backend).store().clone())
        })
    });
}

/// The blocking API behind the async trait the suite drives: each call runs
/// on a plain thread (outside any runtime), as a blocking user's would.
struct Blocking(Arc<blocking::TransferQueue>);

fn on_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| s.spawn(f).join())
        .unwrap_or_else(|_| Err(tq_facade::Error::unexpected("blocking call panicked")))
}

#[async_trait]
impl KvApi for Blocking {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn kv_put(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<Row>,
        tag: Option<Tag>,
    ) -> Result<KvBatchMeta> {
        on_thread(|| self.0.kv_put(key, partition_id, fields, tag))
    }
    async fn kv_batch_put(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<Batch>,
        tags: Option<Vec<Tag>>,
    ) -> Result<KvBatchMeta> {
        on_thread(|| self.0.kv_batch_put(keys, partition_id, fields, tags))
    }
    async fn kv_batch_get(
        &self,
        keys: &[String],
        partition_id: &str,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        on_thread(|| self.0.kv_batch_get(keys, partition_id, select_fields))
    }
    async fn kv_batch_get_by_meta(
        &self,
        meta: &KvBatchMeta,
        select_fields: Option<&dyn FieldNames>,
    ) -> Result<Batch> {
        on_thread(|| self.0.kv_batch_get_by_meta(meta, select_fields))
    }
    async fn kv_list(&self, partition_id: Option<&str>) -> Result<Listing> {
        on_thread(|| self.0.kv_list(partition_id))
    }
    async fn kv_clear(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
    ) -> Result<usize> {
        on_thread(|| self.0.kv_clear(keys, partition_id, fields))
    }
    async fn kv_update(
        &self,
        key: &str,
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta> {
        on_thread(|| self.0.kv_update(key, partition_id, fields, merge_fn))
    }
    async fn kv_batch_update(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        merge_fn: MergeFn<'_>,
    ) -> Result<KvBatchMeta> {
        on_thread(|| self.0.kv_batch_update(keys, partition_id, fields, merge_fn))
    }
    async fn kv_wait(
        &self,
        keys: &[String],
        partition_id: &str,
        fields: Option<&dyn FieldNames>,
        timeout: Duration,
    ) -> Result<()> {
        // On a thread of its own that the caller awaits without blocking
        // its executor: the suite races a wait against a put.
        let (tq, keys, partition) = (self.0.clone(), keys.to_vec(), partition_id.to_owned());
        let fields: Option<Vec<String>> =
            fields.map(|f| f.field_names().into_iter().map(str::to_owned).collect());
        let (reply, answer) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let fields = fields.as_ref().map(|f| f as &dyn FieldNames);
            let _ = reply.send(tq.kv_wait(&keys, &partition, fields, timeout));
        });
        answer
            .await
            .unwrap_or_else(|_| Err(tq_facade::Error::unexpected("the wait thread died")))
    }
    async fn kv_watch(&self, partition_id: &str) -> Result<WatchStream> {
        blocking_watch(self.0.clone(), partition_id)
    }
}

/// The blocking watch iterator as the stream the suite reads: a thread
/// owns the iterator and takes one item from it each time the stream is
/// polled for one, so a watcher that stops reading falls behind exactly as
/// a blocking user's would.
fn blocking_watch(tq: Arc<blocking::TransferQueue>, partition: &str) -> Result<WatchStream> {
    type Reply = tokio::sync::oneshot::Sender<Option<Result<WatchEvent>>>;
    let (requests, asked) = std::sync::mpsc::channel::<Reply>();
    let (ready, subscribed) = std::sync::mpsc::channel();
    let partition = partition.to_owned();
    std::thread::spawn(move || {
        let mut events = match tq.kv_watch(&partition, Duration::from_millis(100)) {
            Ok(events) => {
                let _ = ready.send(Ok(()));
                events
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        // Ends when the stream, and with it the request sender, is dropped.
        for reply in asked {
            loop {
                match events.recv_timeout(Duration::from_millis(100)) {
                    Ok(None) if reply.is_closed() => break,
                    Ok(None) => continue,
                    Ok(Some(event)) => {
                        let _ = reply.send(Some(Ok(event)));
                        break;
                    }
                    Err(e) => {
                        let _ = reply.send(Some(Err(e)));
                        return;
                    }
                }
            }
        }
    });
    // The subscription is in place when kv_watch returns (N1).
    subscribed
        .recv()
        .map_err(|_| tq_facade::Error::unexpected("the watch thread died"))??;
    Ok(futures::stream::unfold(requests, |requests| async move {
        let (reply, answer) = tokio::sync::oneshot::channel();
        requests.send(reply).ok()?;
        let item = answer.await.ok()??;
        Some((item, requests))
    })
    .boxed())
}

mod via_blocking {
    use super::*;

    tq_facade::core::conformance_tests!(|| async {
        fixture(open_memory(1 << 30).await?, |backend| {
            // Built on a plain thread: the blocking API refuses a runtime's.
            let tq = on_thread(|| blocking::TransferQueue::from_backend(backend))?;
            Ok(Blocking(Arc::new(tq)))
        })
    });
}
