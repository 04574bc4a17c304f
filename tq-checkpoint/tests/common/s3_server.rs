//! A real S3 API for the tests: `s3s-fs` (an S3 server on a directory)
//! behind hyper, on a random port of 127.0.0.1, in a runtime of its own so
//! that it outlives no test and depends on no test's runtime. It checks
//! SigV4 signatures against one static key pair, and counts the multipart
//! parts it receives.
#![allow(dead_code)] // each test binary uses a part of it

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Method, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tq_checkpoint::Location;
use tq_checkpoint::object_store::aws::AmazonS3Builder;
use tq_checkpoint::object_store::path::Path;

pub const BUCKET: &str = "tq-test";
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "tq-test-access";
pub const SECRET_KEY: &str = "tq-test-secret-key";

/// A running server; dropping it stops it and deletes its directory.
pub struct S3Server {
    addr: SocketAddr,
    parts: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
    _root: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server holding one empty bucket, [`BUCKET`]. Panics with
    /// the reason when it cannot: a test must never pass without it.
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("S3 server: temp dir");
        // s3s-fs keeps a bucket as a directory of its root.
        std::fs::create_dir(root.path().join(BUCKET)).expect("S3 server: bucket dir");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("S3 server: s3s-fs on the temp dir");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let parts = Arc::new(AtomicUsize::new(0));
        let service = Counted {
            inner: builder.build(),
            parts: Arc::clone(&parts),
        };

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("S3 server: runtime");
        // Bound here, not in the runtime: a test calls this from inside its
        // own runtime, where blocking on another one is not allowed.
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("S3 server: bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("S3 server: non-blocking listener");
        let addr = listener.local_addr().expect("S3 server: local address");
        runtime.spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                // The clients' errors then say the connection was refused.
                Err(e) => return eprintln!("S3 server: listener: {e}"),
            };
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        S3Server {
            addr,
            parts,
            runtime: Some(runtime),
            _root: root,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The options that reach this server through `s3://` URLs
    /// (object_store's `AmazonS3ConfigKey` names).
    pub fn url_options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_region", REGION.into()),
            ("aws_access_key_id", ACCESS_KEY.into()),
            ("aws_secret_access_key", SECRET_KEY.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A checkpoint location under `prefix` of the bucket, the S3 store
    /// built as an application would for a self-hosted S3 service.
    pub fn location(&self, prefix: &str) -> Location {
        let store = AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region(REGION)
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .expect("S3 store for the test server");
        Location::new(Arc::new(store), Path::from(prefix))
    }

    /// Multipart parts received so far (`UploadPart` requests).
    pub fn parts(&self) -> usize {
        self.parts.load(Relaxed)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // In the background: a test may drop the server inside its own
        // runtime, where blocking on a shutdown is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The S3 service, counting `UploadPart` requests on the way.
#[derive(Clone)]
struct Counted {
    inner: S3Service,
    parts: Arc<AtomicUsize>,
}

impl Service<Request<Incoming>> for Counted {
    type Response = <S3Service as Service<Request<Incoming>>>::Response;
    type Error = <S3Service as Service<Request<Incoming>>>::Error;
    type Future = <S3Service as Service<Request<Incoming>>>::Future;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let is_part = req.method() == Method::PUT
            && req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("partNumber=")));
        if is_part {
            self.parts.fetch_add(1, Relaxed);
        }
        Service::call(&self.inner, req)
    }
}
