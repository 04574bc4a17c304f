//! Throwaway Redis servers and clusters for tests (feature `testing`).
//!
//! Every server listens on 127.0.0.1 only, on a random free port, with
//! persistence off (`--save "" --appendonly no`), in a temporary directory.
//! It runs under a tiny `sh` watchdog that holds a pipe from the test
//! process: when the guard is dropped, or the test process ends in any way
//! (even without running destructors, as with a `static` server), the pipe
//! closes and the watchdog kills the server. Nothing is left behind.
//!
//! [`corrupt_row`] damages a stored row behind the backend's back, for tests
//! of how corrupted data is reported.
//!
//! A missing `redis-server` is an error that says how to install it; tests
//! should fail with it, never skip. The same holds for TLS servers
//! ([`RedisServer::start_tls`]), whose throwaway CA and certificate
//! ([`TestCa`]) are made with the `openssl` command-line tool.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::config::{RedisConfig, Secrets};
use crate::keys::{CELL_MARK, KeyLayout, SEQ_FIELD, TAG_MARK, tag_field};

/// What to tell a developer whose machine lacks Redis.
pub const INSTALL_HINT: &str =
    "redis-server and redis-cli must be on PATH: apt-get install redis-server";

/// What to tell a developer whose machine lacks the `openssl` tool.
pub const OPENSSL_HINT: &str =
    "the openssl command-line tool must be on PATH: apt-get install openssl";

const WATCHDOG: &str = r#"redis-server "$@" & pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
cat >/dev/null
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"#;

/// A `redis-server` process; killed when dropped.
pub struct RedisServer {
    port: u16,
    extra: Vec<String>,
    /// TLS only (`--port 0 --tls-port <port>`), with these files.
    tls: Option<TlsFiles>,
    dir: tempfile::TempDir,
    watchdog: Option<Child>,
    /// The pid of a server [paused](RedisServer::pause) with `SIGSTOP`, or 0.
    paused_pid: AtomicU32,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .finish()
    }
}

/// Checks that `redis-server` and `redis-cli` can be run.
pub fn check_installed() -> Result<(), String> {
    for tool in ["redis-server", "redis-cli"] {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {tool} ({e}): {INSTALL_HINT}"))?;
    }
    Ok(())
}

fn pseudo_random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// A port in 20000..45000 that is free on 127.0.0.1, as is port + 10000
/// (the cluster bus).
fn free_port() -> u16 {
    loop {
        let port = 20_000 + (pseudo_random() % 25_000) as u16;
        let a = TcpListener::bind(("127.0.0.1", port));
        let b = TcpListener::bind(("127.0.0.1", port + 10_000));
        if a.is_ok() && b.is_ok() {
            return port;
        }
    }
}

/// A key prefix no other test of this machine uses.
pub fn unique_prefix(name: &str) -> String {
    format!("{name}-{}-{:x}", std::process::id(), pseudo_random())
}

impl RedisServer {
    /// Starts a server with the default settings.
    pub fn start() -> Result<Self, String> {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments, e.g.
    /// `["--requirepass", "pw"]` or `["--proto-max-bulk-len", "1mb"]`.
    pub fn start_with(extra: &[&str]) -> Result<Self, String> {
        Self::start_inner(extra, None)
    }

    /// Starts a server that speaks TLS only (no plain port), with the
    /// server certificate of `ca` and without client certificates
    /// (`--tls-auth-clients no`). A `redis-server` built without TLS is an
    /// error saying so. Keep `ca` alive as long as the server may be
    /// [restarted](Self::restart): it reads the files at every start.
    pub fn start_tls(ca: &TestCa, extra: &[&str]) -> Result<Self, String> {
        Self::start_inner(extra, Some(ca.files()))
    }

    fn start_inner(extra: &[&str], tls: Option<TlsFiles>) -> Result<Self, String> {
        check_installed()?;
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
            let mut server = RedisServer {
                port: free_port(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                tls: tls.clone(),
                dir,
                watchdog: None,
                paused_pid: AtomicU32::new(0),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://...` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path().join("redis.log"))
            .map_err(|e| format!("cannot create the server log: {e}"))?;
        let port = self.port.to_string();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut args: Vec<String> = Vec::new();
        match &self.tls {
            None => args.extend(["--port".to_owned(), port]),
            Some(tls) => args.extend([
                "--port".to_owned(),
                "0".to_owned(),
                "--tls-port".to_owned(),
                port,
                "--tls-cert-file".to_owned(),
                tls.cert.to_string_lossy().into_owned(),
                "--tls-key-file".to_owned(),
                tls.key.to_string_lossy().into_owned(),
                "--tls-ca-cert-file".to_owned(),
                tls.ca.to_string_lossy().into_owned(),
                "--tls-auth-clients".to_owned(),
                "no".to_owned(),
            ]),
        }
        args.extend(
            [
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &dir,
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(self.extra.iter().cloned());
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("redis-watchdog")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}: {INSTALL_HINT}"))?;
        self.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.is_ready() {
                return Ok(());
            }
            let exited = self
                .watchdog
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() > deadline {
                self.stop();
                let log =
                    std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
                let hint = if self.tls.is_some() {
                    "\n(a TLS server needs a redis-server built with TLS, as Debian's and \
                     Ubuntu's are: apt-get install redis-server)"
                } else {
                    ""
                };
                return Err(format!(
                    "redis-server on port {} did not come up; its log:\n{log}{hint}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain server answers `PING`; a TLS server (which this crate cannot
    /// speak to without a client) listens and has logged that it is ready.
    fn is_ready(&self) -> bool {
        if self.tls.is_none() {
            return self.answers_ping();
        }
        let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
        log.contains("Ready to accept connections")
            && TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"),
            _ => false,
        }
    }

    /// Kills the server (as a crash would) and waits for it to be gone.
    pub fn stop(&mut self) {
        let _ = self.resume();
        if let Some(mut child) = self.watchdog.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (with an empty data set).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs `redis-cli -p <port> args...` and returns its output.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        redis_cli(self.port, args)
    }

    /// The process id of the running `redis-server` (its `INFO server`).
    pub fn pid(&self) -> Result<u32, String> {
        let info = self.cli(&["info", "server"])?;
        info.lines()
            .find_map(|l| l.trim().strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
            .ok_or_else(|| format!("no process_id in INFO server of port {}", self.port))
    }

    /// Freezes the server with `SIGSTOP`: the kernel still accepts TCP
    /// connections on its port, but nothing answers. Undo with
    /// [`resume`](Self::resume); a paused server is still killed when
    /// dropped.
    pub fn pause(&self) -> Result<(), String> {
        let pid = self.pid()?;
        send_signal(pid, "STOP")?;
        self.paused_pid.store(pid, Ordering::Relaxed);
        Ok(())
    }

    /// Wakes a [paused](Self::pause) server (`SIGCONT`); a no-op if it is
    /// not paused.
    pub fn resume(&self) -> Result<(), String> {
        match self.paused_pid.swap(0, Ordering::Relaxed) {
            0 => Ok(()),
            pid => send_signal(pid, "CONT"),
        }
    }
}

/// `kill -<signal> <pid>`.
fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{signal} {pid} failed: {status}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `redis-cli -h 127.0.0.1 -p <port> args...`; its standard output.
pub fn redis_cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run redis-cli: {e}: {INSTALL_HINT}"))?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A Redis Cluster of masters without replicas on 127.0.0.1; every node is
/// killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3), joins them with
    /// `redis-cli --cluster create`, and waits until every node reports
    /// `cluster_state:ok`.
    pub fn start(masters: usize) -> Result<Self, String> {
        Self::start_with(masters, &[])
    }

    /// As [`start`](Self::start), with extra `redis-server` arguments for
    /// every node, e.g. `["--maxmemory-policy", "allkeys-lru"]`.
    pub fn start_with(masters: usize, extra: &[&str]) -> Result<Self, String> {
        let mut nodes = Vec::with_capacity(masters);
        for _ in 0..masters {
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ];
            args.extend_from_slice(extra);
            nodes.push(RedisServer::start_with(&args)?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli: {e}: {INSTALL_HINT}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = cluster.nodes.iter().all(|n| {
                n.cli(&["cluster", "info"])
                    .is_ok_and(|s| s.contains("cluster_state:ok"))
            });
            if ok {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err("the Redis Cluster did not reach cluster_state:ok in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every node's `redis://127.0.0.1:<port>`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// The files a TLS server uses.
#[derive(Clone, Debug)]
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A throwaway certificate authority and a server certificate it signed
/// for `127.0.0.1` (subjectAltName `IP:127.0.0.1`), made with the `openssl`
/// tool in a temporary directory that is removed when this is dropped.
/// Valid for two days; nothing of it outlives the test.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
}

/// The `openssl` configuration for [`TestCa`]: no reliance on the system's
/// `openssl.cnf`.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = tq-rs test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

impl TestCa {
    /// Makes a CA (`ca.pem`) and a server key and certificate
    /// (`server.key`, `server.pem`) for 127.0.0.1. A missing `openssl` is an
    /// error saying how to install it.
    pub fn generate() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
        std::fs::write(dir.path().join("openssl.cnf"), OPENSSL_CNF)
            .map_err(|e| format!("cannot write openssl.cnf: {e}"))?;
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let steps: [Vec<&str>; 3] = [
            [
                &[
                    "req",
                    "-x509",
                    "-config",
                    "openssl.cnf",
                    "-extensions",
                    "ca_ext",
                ][..],
                &ec,
                &[
                    "-nodes",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=tq-rs throwaway test CA",
                ],
            ]
            .concat(),
            [
                &["req", "-new", "-config", "openssl.cnf"][..],
                &ec,
                &[
                    "-nodes",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "openssl.cnf",
                "-extensions",
                "server_ext",
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run openssl ({e}): {OPENSSL_HINT}"))?;
            if !out.status.success() {
                return Err(format!(
                    "openssl {} failed: {}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(TestCa { dir })
    }

    /// The CA certificate (PEM): what a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM), for 127.0.0.1.
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca_file(),
            cert: self.cert_file(),
            key: self.key_file(),
        }
    }
}

/// What [`corrupt_row`] damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Every stored cell value of the row is overwritten with bytes that
    /// do not decode (not tq-core's codec layout).
    Cells,
    /// Every stored tag entry of the row is overwritten with bytes that do
    /// not parse as JSON; a row without tag entries gets one such entry.
    Tag,
}

/// The bytes [`corrupt_row`] writes over a cell: a codec version no build
/// reads, and too short for a header.
pub const CORRUPT_CELL: &[u8] = b"\xffcorrupt";
/// The bytes [`corrupt_row`] writes over a tag entry: not JSON.
pub const CORRUPT_TAG: &[u8] = b"{not json";
/// The tag entry [`corrupt_row`] adds to a row that has none.
pub const CORRUPT_TAG_ENTRY: &str = "tq-corrupted";

/// Damages the stored row `key` of `partition` in the store `config`
/// names, behind the backend's back (as an operator with `redis-cli`
/// could), through a fresh connection: see [`Corruption`]. The row must
/// exist. For tests of how the backend treats corrupted data.
pub async fn corrupt_row(
    config: &RedisConfig,
    partition: &str,
    key: &str,
    what: Corruption,
) -> Result<(), String> {
    let secrets = Secrets::of(config);
    let shown = |e: tq_core::Error| secrets.redact_error(e).to_string();
    config.validate().map_err(shown)?;
    let conn = Conn::open(config).await.map_err(shown)?;
    let layout = KeyLayout::new(&config.key_prefix, config.effective_buckets());
    let row = layout.row(layout.bucket(partition, key), partition, key);
    let redis_err = |e: redis::RedisError| {
        secrets.scrub(&format!(
            "cannot corrupt row {key:?} of partition {partition:?}: {e}"
        ))
    };
    let names = conn
        .query(redis::cmd("HKEYS").arg(&row))
        .await
        .map_err(redis_err)?;
    let names: Vec<Vec<u8>> = match names {
        redis::Value::Array(items) | redis::Value::Set(items) => items
            .into_iter()
            .filter_map(|v| match v {
                redis::Value::BulkString(b) => Some(b),
                _ => None,
            })
            .collect(),
        other => return Err(format!("HKEYS answered {other:?}")),
    };
    if !names.iter().any(|n| n.as_slice() == SEQ_FIELD) {
        return Err(format!(
            "row {key:?} of partition {partition:?} does not exist"
        ));
    }
    let (mark, garbage) = match what {
        Corruption::Cells => (CELL_MARK, CORRUPT_CELL),
        Corruption::Tag => (TAG_MARK, CORRUPT_TAG),
    };
    let mut targets: Vec<Vec<u8>> = names
        .into_iter()
        .filter(|n| n.first() == Some(&mark))
        .collect();
    if targets.is_empty() {
        match what {
            Corruption::Cells => {
                return Err(format!(
                    "row {key:?} of partition {partition:?} has no cells to corrupt"
                ));
            }
            Corruption::Tag => targets.push(tag_field(CORRUPT_TAG_ENTRY)),
        }
    }
    let mut hset = redis::cmd("HSET");
    hset.arg(&row);
    for name in &targets {
        hset.arg(name).arg(garbage);
    }
    conn.query(&hset).await.map_err(redis_err)?;
    Ok(())
}
