//! A throwaway certificate authority for TLS servers ([`TestCa`]).

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What to tell a developer whose machine lacks the `openssl` tool.
pub const OPENSSL_HINT: &str =
    "the openssl command-line tool must be on PATH: apt-get install openssl";

/// The files a TLS server uses.
#[derive(Clone, Debug)]
pub(crate) struct TlsFiles {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
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

    pub(crate) fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca_file(),
            cert: self.cert_file(),
            key: self.key_file(),
        }
    }
}
