//! TCP keepalive probes on every connection to a Redis server, so that a
//! server that vanished without closing its connections (a host powered
//! off, a partition) is noticed.
//!
//! Without probes an idle connection to such a server stays open for
//! hours (Linux probes after two hours of silence by default): a watch
//! (`kv_watch`, and so `kv_wait`) would wait on it forever without saying
//! the connection was lost. With these settings a dead peer is found after
//! about [`IDLE`] + [`RETRIES`] x [`INTERVAL`] = 60 s of silence, and the
//! watch reports the lost connection as it does for a closed one.

use std::time::Duration;

use redis::io::tcp::TcpSettings;
use redis::io::tcp::socket2::{SockRef, TcpKeepalive};

/// Silence before the first probe.
pub const IDLE: Duration = Duration::from_secs(30);
/// Time between probes.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes before the connection is dropped.
pub const RETRIES: u32 = 3;

fn keepalive() -> TcpKeepalive {
    let k = TcpKeepalive::new().with_time(IDLE).with_interval(INTERVAL);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    ))]
    let k = k.with_retries(RETRIES);
    k
}

/// The settings redis-rs opens its connections with: its defaults (Nagle's
/// algorithm on: it coalesces the requests of many tasks multiplexed on one
/// connection; `TCP_NODELAY` there cut 16-task single-key gets from about
/// 113k to 87k per second, BENCHMARKS.md) plus keepalive.
pub fn tcp_settings() -> TcpSettings {
    TcpSettings::default().set_keepalive(keepalive())
}

/// Keepalive, and `TCP_NODELAY`, on a connection the backend opened itself
/// ([`crate::direct`]: one pipeline at a time, written in large vectored
/// writes, so nothing is gained by waiting to coalesce).
pub fn apply(stream: &tokio::net::TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    SockRef::from(stream).set_tcp_keepalive(&keepalive())
}
