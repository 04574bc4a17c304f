//! One throwaway `redis-server` process ([`RedisServer`]) and the tools
//! around it: [`check_installed`] and [`redis_cli`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::TestCa;
use crate::ca::TlsFiles;
use crate::unique::pseudo_random;

/// What to tell a developer whose machine lacks Redis.
pub const INSTALL_HINT: &str =
    "redis-server and redis-cli must be on PATH: apt-get install redis-server";

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
