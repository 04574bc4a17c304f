//! Without `redis-server`, `redis-cli` or `openssl` on `PATH`, every helper
//! fails with a message saying how to install them: nothing is skipped.
//! The only test of its binary, as it empties this process' `PATH`.

use tq_test_support::{INSTALL_HINT, OPENSSL_HINT, RedisCluster, RedisServer, TestCa, redis_cli};

#[test]
fn missing_tools_are_errors_saying_how_to_install_them() {
    let empty = tempfile::tempdir().unwrap();
    // SAFETY: this binary runs no other test, and no other thread is
    // running while the variable changes.
    unsafe { std::env::set_var("PATH", empty.path()) };
    let err = RedisServer::start().unwrap_err();
    assert!(err.contains(INSTALL_HINT), "{err}");
    assert!(err.contains("redis-server"), "{err}");
    let err = RedisCluster::start(3).unwrap_err();
    assert!(err.contains(INSTALL_HINT), "{err}");
    let err = redis_cli(1, &["PING"]).unwrap_err();
    assert!(err.contains(INSTALL_HINT), "{err}");
    let err = TestCa::generate().unwrap_err();
    assert!(err.contains(OPENSSL_HINT), "{err}");
    assert!(INSTALL_HINT.contains("apt-get install redis-server"));
}
