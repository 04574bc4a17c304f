//! Tests that need several OS processes re-invoke their own test binary as
//! children, each running one `#[test]` that is a no-op unless an
//! environment variable hands it its job.

use std::process::{Command, Stdio};

/// Runs `test` of this test binary once per spec, all at the same time,
/// each child with `var` set to its spec, and fails unless every child ran
/// the test and passed.
pub fn run_children(test: &str, var: &str, specs: impl IntoIterator<Item = String>) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let children: Vec<_> = specs
        .into_iter()
        .map(|spec| {
            Command::new(&exe)
                .args(["--exact", test, "--nocapture", "--test-threads", "1"])
                .env(var, spec)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a child test process")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("the child's output");
        assert!(
            out.status.success(),
            "a child failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test: {stdout}"
        );
    }
}
