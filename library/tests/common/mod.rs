//! Helpers shared by the library's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The text of a captured `pvecm` or `corosync.conf` fixture; an empty name
/// stands for "nothing printed".
pub fn fixture(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "pvecm",
        name,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Property-test settings: `default` cases, or `PROPTEST_CASES` when set;
/// failures are reported, not saved to disk.
pub fn cases(default: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
