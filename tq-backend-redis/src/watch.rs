//! [`WatchBackend`] for [`RedisBackend`]: the row scripts publish every
//! applied write on its bucket's channel ([`crate::events`]); a watch
//! subscribes to every bucket channel of a partition on connections of its
//! own and reads them into a bounded buffer.

use async_trait::async_trait;
use futures::StreamExt;
use futures::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::broadcast;
use tq_core::{Error, ErrorKind, Result, WatchBackend, WatchEvent, WatchStream};

use crate::backend::RedisBackend;
use crate::client::node_client;
use crate::error::from_redis;
use crate::events::decode;
use crate::slots::slot_of_bucket;

const OP: &str = "redis::watch";

/// What a watch connection hands the stream: a message's bytes (decoded by
/// the reader of the stream, so the socket's reader only copies), or the
/// loss of a connection or subscription, said.
#[derive(Debug, Clone)]
enum Item {
    Message(Vec<u8>),
    Lost(String),
}

/// Why a connection or subscription of a watch was lost, once one was:
/// kept beside the buffer too, because a lagging watcher can lose the
/// [`Item::Lost`] itself under newer messages of the other servers.
type LostReason = std::sync::Arc<std::sync::OnceLock<String>>;

/// The channels of one server and how to reach it.
struct Node {
    /// `host:port` for messages, or the url's (redacted) for a standalone.
    name: String,
    client: redis::Client,
    channels: Vec<Vec<u8>>,
}

#[async_trait]
impl WatchBackend for RedisBackend {
    /// Subscribes to `partition`'s channels (one per bucket) on a
    /// connection per server of its own, and returns once every server
    /// confirmed every subscription (N1). See the crate docs, "Watching".
    async fn watch(&self, partition: &str) -> Result<WatchStream> {
        let budget = self.config().connect_timeout() + self.config().open_checks_timeout();
        let opened = tokio::time::timeout(budget, self.open_watch(partition)).await;
        let stream = match opened {
            Ok(stream) => stream,
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the Redis server(s) did not confirm the watch subscriptions within \
                     connect_timeout_ms + command_timeout_ms = {} ms",
                    budget.as_millis()
                ),
            )),
        };
        stream.map_err(|e| {
            self.redact(
                e.with_operation(OP)
                    .with_context("partition", partition.to_owned()),
            )
        })
    }
}

impl RedisBackend {
    async fn open_watch(&self, partition: &str) -> Result<WatchStream> {
        let (sender, receiver) = broadcast::channel(self.config().watch_buffer.max(1));
        let lost_reason = LostReason::default();
        let mut attempt = 0;
        let connections = loop {
            let nodes = self.watch_nodes(partition).await?;
            let subscribed = join_all(nodes.into_iter().map(|node| {
                subscribe(
                    node,
                    self.config(),
                    self.subscribe_command(),
                    sender.clone(),
                    lost_reason.clone(),
                )
            }))
            .await;
            match subscribed.into_iter().collect::<Result<Vec<_>>>() {
                Ok(connections) => break connections,
                // A cluster resharded since the slot map was read: the
                // subscription reached the wrong master. Read it again.
                Err(_) if attempt == 0 && self.conn.is_cluster() => {
                    self.conn.forget_slot_map();
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        // Only the connections' push handlers send from now on: when they
        // are gone, so is the stream's source.
        drop(sender);
        let state = Reading {
            receiver,
            partition: partition.to_owned(),
            _connections: connections,
            lost_reason,
            pending_loss: None,
            done: false,
        };
        Ok(futures::stream::unfold(state, Reading::next).boxed())
    }

    /// `SUBSCRIBE` on a standalone server, `SSUBSCRIBE` in a cluster, to
    /// match [`publish_command`](Self::publish_command).
    fn subscribe_command(&self) -> &'static str {
        if self.conn.is_cluster() {
            "SSUBSCRIBE"
        } else {
            "SUBSCRIBE"
        }
    }

    /// The servers to subscribe on and their channels: the standalone
    /// server with every bucket's channel, or each cluster master with the
    /// channels of the buckets whose slots it serves.
    async fn watch_nodes(&self, partition: &str) -> Result<Vec<Node>> {
        let config = self.config();
        let channels =
            (0..self.layout.buckets()).map(|b| (b, self.layout.watch_channel(b, partition)));
        if let Some(url) = &config.url {
            return Ok(vec![Node {
                name: config.servers().1,
                client: node_client(config, url, None, Some(ProtocolVersion::RESP3))?,
                channels: channels.map(|(_, c)| c).collect(),
            }]);
        }
        let map = self.conn.slot_map().await.ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                "the cluster did not give a complete slot map (CLUSTER SLOTS) to subscribe by",
            )
        })?;
        let seed = config
            .cluster_nodes
            .first()
            .map(String::as_str)
            .unwrap_or("");
        let mut nodes: Vec<Option<Node>> = (0..map.addrs.len()).map(|_| None).collect();
        for (b, channel) in channels {
            let master = map.owner[usize::from(slot_of_bucket(b))] as usize;
            let addr = &map.addrs[master];
            let node = match &mut nodes[master] {
                Some(node) => node,
                empty => {
                    let (host, port) = split_addr(addr).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Unavailable,
                            format!("the cluster named a master at {addr:?}, not host:port"),
                        )
                    })?;
                    empty.insert(Node {
                        name: addr.clone(),
                        client: node_client(
                            config,
                            seed,
                            Some((host, port)),
                            Some(ProtocolVersion::RESP3),
                        )?,
                        channels: Vec::new(),
                    })
                }
            };
            node.channels.push(channel);
        }
        Ok(nodes.into_iter().flatten().collect())
    }
}

/// `host:port` or `[v6]:port` (`host` empty when the cluster does not say).
fn split_addr(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host, port.parse().ok()?))
}

/// Opens a connection to `node` whose pushed messages go into `sender`,
/// and subscribes to its channels: one command per channel (each in its
/// own bucket's slot, as `SSUBSCRIBE` requires), all in flight together;
/// returns once the server confirmed every one.
async fn subscribe(
    node: Node,
    config: &crate::RedisConfig,
    command: &'static str,
    sender: broadcast::Sender<Item>,
    lost_reason: LostReason,
) -> Result<MultiplexedConnection> {
    let name = node.name.clone();
    let on_push = move |info: PushInfo| -> std::result::Result<(), ()> {
        let item = match info.kind {
            PushKind::Message | PushKind::SMessage => match info.data.into_iter().nth(1) {
                Some(Value::BulkString(bytes)) => Item::Message(bytes),
                // Not a payload: let the decoder call it corrupted.
                _ => Item::Message(Vec::new()),
            },
            PushKind::Disconnection => {
                Item::Lost(format!("the watch connection to {name} was lost"))
            }
            // This backend never unsubscribes: the server did, because a
            // cluster slot moved to another master (Redis 7 sends
            // `sunsubscribe` then). Its events would stop silently.
            PushKind::SUnsubscribe | PushKind::Unsubscribe => Item::Lost(format!(
                "the server at {name} ended a watch subscription (a cluster slot moved)"
            )),
            // Subscription confirmations: the subscribing call reads them.
            _ => return Ok(()),
        };
        if let Item::Lost(why) = &item {
            let _ = lost_reason.set(why.clone());
        }
        // No receiver left: the stream is being dropped.
        let _ = sender.send(item);
        Ok(())
    };
    // The RESP3 connection reads messages as they arrive and hands them to
    // `on_push` (never blocking): a slow watcher lags in the bounded
    // buffer instead of filling the server's output buffer.
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout()))
        .set_response_timeout(config.command_timeout())
        .set_push_sender(on_push);
    let at_node = |e: redis::RedisError| from_redis(e, OP).with_context("node", node.name.clone());
    let connection = node
        .client
        .get_multiplexed_async_connection_with_config(&connection_config)
        .await
        .map_err(at_node)?;
    let mut requests = vec![
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(WATCH_CLIENT_NAME)
            .clone(),
    ];
    requests.extend(
        node.channels
            .iter()
            .map(|c| redis::cmd(command).arg(c).clone()),
    );
    let answers = join_all(requests.iter().map(|cmd| {
        let mut connection = connection.clone();
        async move { connection.send_packed_command(cmd).await }
    }))
    .await;
    for answer in answers {
        answer.map_err(at_node)?;
    }
    Ok(connection)
}

/// The name watch connections give themselves (`CLIENT SETNAME`), so an
/// operator's `CLIENT LIST` tells them from data connections.
pub const WATCH_CLIENT_NAME: &str = "tq-watch";

/// A watch stream's state: the buffer and the connections it owns (dropped
/// with the stream, which closes them and ends their reader tasks).
struct Reading {
    receiver: broadcast::Receiver<Item>,
    partition: String,
    _connections: Vec<MultiplexedConnection>,
    lost_reason: LostReason,
    /// A loss seen at a gap, to report on the next item.
    pending_loss: Option<String>,
    done: bool,
}

impl Reading {
    async fn next(mut self) -> Option<(Result<WatchEvent>, Reading)> {
        if self.done {
            return None;
        }
        if let Some(why) = self.pending_loss.take() {
            self.done = true;
            return Some((Err(lost(&self.partition, &why)), self));
        }
        let item = match self.receiver.recv().await {
            Ok(Item::Message(bytes)) => decode(&bytes, &self.partition),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // The lost items may include an `Item::Lost`: after the
                // gap, end the stream as that item would have.
                if let Some(why) = self.lost_reason.get() {
                    self.pending_loss = Some(why.clone());
                }
                Ok(WatchEvent::Lagged { missed })
            }
            Ok(Item::Lost(what)) => {
                self.done = true;
                Err(lost(&self.partition, &what))
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.done = true;
                Err(lost(&self.partition, "the watch connections were closed"))
            }
        };
        Some((item, self))
    }
}

/// The error that ends a stream whose connection or subscription is gone.
fn lost(partition: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "{what}, so writes may have been missed from here on: watch again and resync with \
             kv_list"
        ),
    )
    .with_operation(OP)
    .with_context("partition", partition.to_owned())
}
