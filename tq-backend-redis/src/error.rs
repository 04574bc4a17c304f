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
/// - anything else: [`ErrorKind::Unexpected`], permanent.
///
/// Messages come from the client library and the server, which never echo
/// passwords.
pub fn from_redis(e: RedisError, op: &'static str) -> Error {
    let code = e.code().unwrap_or("").to_owned();
    let (kind, message, setting) = match e.kind() {
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
        RK::Io if untrusted_certificate(&e) => (
            ErrorKind::Config,
            "the server's TLS certificate was not accepted (not signed by a trusted CA, or not \
             valid for this host): set `tls_ca_file` to the PEM file of the CA that signed it"
                .to_owned(),
            Some("tls_ca_file"),
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
    };
    let mut err = Error::new(kind, message).with_operation(op).with_source(e);
    if let Some(setting) = setting {
        err = err.with_context("setting", setting);
    }
    err
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

/// An answer of an unexpected shape.
pub fn bad_reply(what: &str, op: &'static str) -> Error {
    Error::unexpected(format!("unexpected reply from Redis: {what}")).with_operation(op)
}

#[cfg(test)]
mod tests {
    use super::*;

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
