//! No secret in any output: the `password` setting and a password inside
//! any URL (`url`, `cluster_nodes`; with or without a user name; with `/`,
//! `@`, `:`, `%2F`-escaped characters; URLs that do not parse) never show in
//! `Debug` of the config or the backend, nor in `Display`/`Debug` of any
//! error or of any error in its source chain.

use std::error::Error as _;

use futures::future::join_all;

use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_test_support::RedisServer;

/// The distinctive part every test password contains.
const MARK: &str = "Zq9SECRETxK";

/// Passwords as they appear in URL text, with what a reader might decode
/// them to.
fn url_passwords() -> Vec<(String, String)> {
    [
        format!("pa/{MARK}/ss"),
        format!("{MARK}@at"),
        format!("{MARK}:colon"),
        format!("{MARK}%2Fescaped"),
        format!("{MARK}%40escaped"),
        format!("q?{MARK}#frag"),
        MARK.to_owned(),
    ]
    .into_iter()
    .map(|p| {
        let decoded = p.replace("%2F", "/").replace("%40", "@");
        (p, decoded)
    })
    .collect()
}

/// URLs (some unparseable) that carry `pw`, for a server on `port`.
fn urls_with(pw: &str, port: u16) -> Vec<String> {
    vec![
        format!("redis://:{pw}@127.0.0.1:{port}"),
        format!("redis://alice:{pw}@127.0.0.1:{port}"),
        format!("redis://alice:{pw}@127.0.0.1:{port}/0"),
        format!("rediss://:{pw}@127.0.0.1:{port}"),
        format!("redis://{pw}@127.0.0.1:{port}"),
        // Unparseable: no host, a bad port, a bad db, no scheme, another scheme.
        format!("redis://:{pw}@"),
        format!("redis://:{pw}@127.0.0.1:notaport"),
        format!("redis://:{pw}@127.0.0.1:{port}/notadb"),
        format!("redis//:{pw}@127.0.0.1:{port}"),
        format!("http://:{pw}@127.0.0.1:{port}"),
        format!(":{pw}@127.0.0.1:{port}"),
    ]
}

/// Every text an error can show: Display, Debug, and both of every error
/// in its source chain.
fn error_texts(err: &tq_core::Error) -> String {
    let mut out = format!("{err}\n{err:?}\n");
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(&format!("{s}\n{s:?}\n"));
        source = s.source();
    }
    out
}

fn assert_hidden(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret:?}:\n{text}"
        );
    }
    assert!(!text.contains(MARK), "{what} shows a secret:\n{text}");
}

async fn check_config(config: RedisConfig, secrets: &[&str]) {
    let what = format!("config with {:?}", secrets);
    assert_hidden(&format!("{config:?}"), secrets, &what);
    if let Err(e) = config.validate() {
        assert_hidden(&error_texts(&e), secrets, &what);
    }
    match RedisBackend::open(config).await {
        Ok(backend) => assert_hidden(&format!("{backend:?}"), secrets, &what),
        Err(e) => assert_hidden(&error_texts(&e), secrets, &what),
    }
}

/// A short timeout: nothing listens on the port (or it refuses the
/// password), so every open fails fast.
fn quick(mut config: RedisConfig) -> RedisConfig {
    config.connect_timeout_ms = 300;
    config.command_timeout_ms = 300;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_in_urls_never_show() {
    // A port nobody listens on.
    let mut gone = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let dead_port = gone.port();
    gone.stop();
    // A live server that wants another password: the handshake fails.
    let live = RedisServer::start_with(&["--requirepass", "the-right-one"])
        .unwrap_or_else(|e| panic!("{e}"));
    for (pw, decoded) in url_passwords() {
        let secrets = [pw.as_str(), decoded.as_str()];
        let mut configs = Vec::new();
        for port in [dead_port, live.port()] {
            for url in urls_with(&pw, port) {
                let other = format!("redis://127.0.0.1:{port}");
                configs.push(RedisConfig::standalone(url.clone()));
                configs.push(RedisConfig::cluster([url.clone(), other.clone()]));
                configs.push(RedisConfig::cluster([other, url]));
            }
        }
        // All at once: each open fails within its short timeouts.
        join_all(
            configs
                .into_iter()
                .map(|config| check_config(quick(config), &secrets)),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_setting_never_shows() {
    let live = RedisServer::start_with(&["--requirepass", "the-right-one"])
        .unwrap_or_else(|e| panic!("{e}"));
    for (pw, decoded) in url_passwords() {
        let secrets = [pw.as_str(), decoded.as_str()];
        let mut configs = Vec::new();
        for url in [
            live.url(),
            "redis://127.0.0.1:1".to_owned(),
            "not a url".to_owned(),
        ] {
            configs.push(RedisConfig::standalone(&url).with_password(&pw));
            configs.push(RedisConfig::cluster([url.clone()]).with_password(&pw));
            // The setting and a URL password together.
            let both = format!("redis://:{MARK}-url@{}", url.trim_start_matches("redis://"));
            configs.push(RedisConfig::standalone(both).with_password(&pw));
        }
        join_all(
            configs
                .into_iter()
                .map(|config| check_config(quick(config), &secrets)),
        )
        .await;
    }
}

#[test]
fn debug_of_the_reported_url_hides_the_password() {
    // The hardening issue's example.
    let config = RedisConfig::standalone(format!("redis://:pa/{MARK}@127.0.0.1:1"));
    let shown = format!("{config:?}");
    assert!(!shown.contains(MARK), "{shown}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
}
