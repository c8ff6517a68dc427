//! `pve_cluster_qdevice` through its binary, with the `pvecm` stand-in first
//! on PATH: bad options and a node in no cluster fail with one JSON object
//! and never run `pvecm qdevice`. The setup itself needs a cluster, a QNetd
//! host and real corosync: tests/e2e/test_qdevice.py runs it on the test bed.

use serde_json::json;
use testkit::{assert_documented, fixture, Bed};

const BIN: &str = env!("CARGO_BIN_EXE_pve_cluster_qdevice");

#[test]
fn options_are_checked_as_ansible_checks_them() {
    let bed = Bed::new();
    let run = bed.run(BIN, &json!({"state": "gone"}));
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "value of state must be one of: present, absent, got: gone"
    );
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "address (the QNetd host's IP address) is required with state=present"
    );
    assert_eq!(bed.calls("qdevice"), 0);
}

#[test]
fn a_node_in_no_cluster_sets_up_nothing() {
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("notcluster-pve9.stderr"), 2);
    for check_mode in [true, false] {
        let run = bed.run(
            BIN,
            &json!({"address": "10.0.0.5", "_ansible_check_mode": check_mode}),
        );
        run.assert_failed();
        assert_documented("pve_cluster_qdevice", &run.json);
        assert_eq!(run.json["changed"], false);
        assert!(
            run.msg().starts_with("this node is in no cluster"),
            "{}",
            run.msg()
        );
    }
    assert_eq!(bed.calls("qdevice"), 0);
}
