//! Honest classification of Redis errors into tq-core's [`Error`].

use redis::{ErrorKind as RK, RedisError, ServerErrorKind as SK};
use tq_core::{Error, ErrorKind};

/// Maps a client or server error of operation `op`.
///
/// - connection refused, reset, dropped, timed out, cluster down or
///   resharding, server loading: [`ErrorKind::Unavailable`], temporary;
/// - wrong or missing password, missing ACL permission: a permanent
///   [`ErrorKind::Config`] error naming the `password` setting;
/// - a TLS server certificate that is not trusted or not valid for the
///   host: a permanent [`ErrorKind::Config`] error naming `tls_ca_file`
///   (retrying cannot help);
/// - the server out of memory (`OOM`: used memory over `maxmemory` under
///   `noeviction`): [`ErrorKind::CapacityExceeded`], permanent (it lasts
///   until rows are cleared or `maxmemory` is raised);
/// - anything else: [`ErrorKind::Unexpected`], permanent.
///
/// Messages come from the client library and the server, which never echo
/// passwords.
pub fn from_redis(e: RedisError, op: &'static str) -> Error {
    let (kind, message, setting) = classify(&e);
    let mut err = Error::new(kind, message).with_operation(op).with_source(e);
    if let Some(setting) = setting {
        err = err.with_context("setting", setting);
    }
    err
}

/// Whether `e` is the server's out-of-memory refusal.
pub fn is_oom(e: &RedisError) -> bool {
    e.code() == Some("OOM")
}

/// The kind, message and (for a configuration problem) setting of a Redis
/// error; see [`from_redis`].
pub fn classify(e: &RedisError) -> (ErrorKind, String, Option<&'static str>) {
    let code = e.code().unwrap_or("").to_owned();
    match e.kind() {
        RK::AuthenticationFailed => (
            ErrorKind::Config,
            "authentication failed: check the `password` setting (and `username`), or the \
             credentials in the URL"
                .to_owned(),
            Some("password"),
        ),
        _ if code == "NOAUTH" || code == "WRONGPASS" => (
            ErrorKind::Config,
            format!(
                "the server refused the credentials ({code}): check the `password` setting \
                 (and `username`)"
            ),
            Some("password"),
        ),
        RK::Server(SK::NoPerm) => (
            ErrorKind::Config,
            "the Redis user lacks a permission this backend needs: check the `username` \
             setting and the user's ACL"
                .to_owned(),
            Some("username"),
        ),
        RK::Io if untrusted_certificate(e) => (
            ErrorKind::Config,
            "the server's TLS certificate was not accepted (not signed by a trusted CA, or not \
             valid for this host): set `tls_ca_file` to the PEM file of the CA that signed it"
                .to_owned(),
            Some("tls_ca_file"),
        ),
        _ if code == "OOM" => (
            ErrorKind::CapacityExceeded,
            "the Redis server is out of memory (used memory is over its maxmemory and its \
             maxmemory-policy evicts nothing of ours): clear rows or raise maxmemory"
                .to_owned(),
            Some("maxmemory"),
        ),
        RK::InvalidClientConfig => (
            ErrorKind::Config,
            "invalid connection settings".to_owned(),
            Some("url"),
        ),
        RK::Io | RK::ClusterConnectionNotFound => (
            ErrorKind::Unavailable,
            "cannot reach the Redis server".to_owned(),
            None,
        ),
        RK::Server(
            SK::BusyLoading | SK::TryAgain | SK::ClusterDown | SK::MasterDown | SK::ReadOnly,
        ) => (
            ErrorKind::Unavailable,
            "the Redis server is not ready".to_owned(),
            None,
        ),
        _ if e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() => (
            ErrorKind::Unavailable,
            "cannot reach the Redis server".to_owned(),
            None,
        ),
        _ => (
            ErrorKind::Unexpected,
            "unexpected answer from Redis".to_owned(),
            None,
        ),
    }
}

/// Whether `e` is rustls refusing the server's certificate (unknown
/// issuer, wrong name, expired, ...). redis-rs wraps the `io::Error` that
/// tokio-rustls returns, which wraps the `rustls::Error`.
fn untrusted_certificate(e: &RedisError) -> bool {
    if let Some(tls) = rustls_error(e) {
        return matches!(
            tls,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        );
    }
    // Another wrapping than expected: rustls' own wording.
    e.to_string().contains("invalid peer certificate")
}

/// The `rustls::Error` inside `e`, if it is one.
fn rustls_error(e: &RedisError) -> Option<&rustls::Error> {
    use std::error::Error as _;
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::sync::Arc<dyn std::error::Error + Send + Sync>>())
        .and_then(|arc| arc.downcast_ref::<std::io::Error>());
    io.and_then(std::io::Error::get_ref)
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Sorted positions as ranges, `"0-727, 730, 733-740"`: at most 64 ranges,
/// then how many positions more there are.
pub fn position_ranges(positions: &[usize]) -> String {
    const MAX_RANGES: usize = 64;
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &p in positions {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => ranges.push((p, p)),
        }
    }
    let shown: Vec<String> = ranges
        .iter()
        .take(MAX_RANGES)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let mut out = shown.join(", ");
    if ranges.len() > MAX_RANGES {
        let rest: usize = ranges[MAX_RANGES..].iter().map(|(a, b)| b - a + 1).sum();
        out.push_str(&format!(" and {rest} more"));
    }
    out
}

/// An answer of an unexpected shape.
pub fn bad_reply(what: &str, op: &'static str) -> Error {
    Error::unexpected(format!("unexpected reply from Redis: {what}")).with_operation(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_is_capacity_exceeded() {
        let oom = match redis::parse_redis_value(
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        ) {
            Ok(redis::Value::ServerError(e)) => RedisError::from(e),
            other => panic!("{other:?}"),
        };
        assert!(is_oom(&oom));
        let e = from_redis(oom, "redis::put");
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded, "{e}");
        assert!(!e.is_temporary());
        assert!(e.to_string().contains("maxmemory"), "{e}");
    }

    #[test]
    fn io_errors_are_temporary_and_auth_is_config() {
        let refused: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into();
        let e = from_redis(refused, "redis::get");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());
        let auth: RedisError = (RK::AuthenticationFailed, "WRONGPASS").into();
        let e = from_redis(auth, "redis::open");
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.is_temporary());
        assert_eq!(e.context_value("setting"), Some("password"));
        let cert: RedisError = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        )
        .into();
        assert!(rustls_error(&cert).is_some(), "{cert:?}");
        let e = from_redis(cert, "redis::open");
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.is_temporary());
        assert_eq!(e.context_value("setting"), Some("tls_ca_file"));
    }
}
