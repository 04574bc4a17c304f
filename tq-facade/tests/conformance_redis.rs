//! The conformance suite through the facade with `backend = "redis"`: a TOML
//! config selects the Redis backend, whose `[redis]` table the registry
//! deserializes into `tq_backend_redis::RedisConfig`.
//!
//! Needs the `redis` feature: `cargo test -p tq-facade --features redis`
//! (`--all-features` in CI's clippy run compiles it too). It starts its own
//! `redis-server` on a random 127.0.0.1 port (persistence off), shared by
//! the cases of this process, each case under its own key prefix; the
//! server dies with the process. A missing `redis-server` fails every case
//! with the install hint; nothing is skipped.
//!
//! The server management is a small copy of `tq_backend_redis::testing`
//! (feature `testing`), which this crate's dev-dependencies do not enable.
#![cfg(feature = "redis")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tq_facade::core::conformance::Fixture;
use tq_facade::{Config, Error, Result, TransferQueue};

/// Kills redis-server when the pipe from this process closes (at exit).
const WATCHDOG: &str = r#"redis-server "$@" & pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
cat >/dev/null
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"#;

struct Server {
    port: u16,
    // Held for the process's lifetime: its stdin is the watchdog's pipe.
    _watchdog: Mutex<Child>,
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

fn start_server() -> std::result::Result<Server, String> {
    let hint = "redis-server must be on PATH: apt-get install redis-server";
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run redis-server ({e}): {hint}"))?;
    let dir = std::env::temp_dir();
    for attempt in 0..5u16 {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            l.local_addr().map_err(|e| e.to_string())?.port()
        };
        let mut child = Command::new("sh")
            .args(["-c", WATCHDOG, "redis-watchdog"])
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}: {hint}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if answers_ping(port) {
                return Ok(Server {
                    port,
                    _watchdog: Mutex::new(child),
                });
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                drop(child.stdin.take());
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if attempt == 4 {
            return Err(format!("redis-server did not come up on 127.0.0.1:{port}"));
        }
    }
    Err("redis-server did not come up".into())
}

fn server_port() -> Result<u16> {
    static SERVER: OnceLock<std::result::Result<Server, String>> = OnceLock::new();
    SERVER
        .get_or_init(start_server)
        .as_ref()
        .map(|s| s.port)
        .map_err(|e| Error::config(format!("cannot start the test redis-server: {e}")))
}

fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "facade-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

tq_facade::core::conformance_tests!(|| async {
    let toml = format!(
        "backend = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:{}\"\nkey_prefix = \"{}\"\ncommand_timeout_ms = 60000\n",
        server_port()?,
        unique_prefix()
    );
    Ok(Fixture::new(
        TransferQueue::open(Config::from_toml_str(&toml)?).await?,
    ))
});

#[test]
fn unknown_redis_setting_is_a_config_error_naming_it() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let result = runtime.block_on(async {
        let toml = "backend = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:1\"\npasword = \"x\"\n";
        TransferQueue::open(Config::from_toml_str(toml)?).await
    });
    let Err(err) = result else {
        panic!("an unknown setting must fail");
    };
    assert_eq!(err.kind(), tq_facade::ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("pasword"), "{err}");
}
