//! `pve_cluster_node` through its binary, with the `pvecm` stand-in first
//! on PATH: bad options and a node in no cluster fail with one JSON object
//! and never run `pvecm delnode`. The removal itself needs `/etc/pve` and a
//! real corosync: tests/e2e/test_lifecycle.py runs it on the test bed.

use serde_json::json;
use testkit::{assert_documented, fixture, Bed};

const BIN: &str = env!("CARGO_BIN_EXE_pve_cluster_node");

#[test]
fn options_are_checked_as_ansible_checks_them() {
    let bed = Bed::new();
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(run.msg(), "missing required arguments: name");
    let run = bed.run(BIN, &json!({"name": "pve4", "state": "present"}));
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "value of state must be one of: absent, got: present"
    );
    let run = bed.run(BIN, &json!({"name": " "}));
    run.assert_failed();
    assert_eq!(run.msg(), "name must be the name of the node to remove");
    assert_eq!(bed.calls("delnode"), 0);
}

#[test]
fn a_node_in_no_cluster_cannot_remove_anyone() {
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("notcluster-pve9.stderr"), 2);
    for check_mode in [true, false] {
        let run = bed.run(
            BIN,
            &json!({"name": "pve4", "_ansible_check_mode": check_mode}),
        );
        run.assert_failed();
        assert_documented("pve_cluster_node", &run.json);
        assert_eq!(run.json["changed"], false);
        assert_eq!(
            run.msg(),
            "this node is in no cluster: run the removal on a member of the cluster"
        );
    }
    assert_eq!(bed.calls("delnode"), 0);
}
