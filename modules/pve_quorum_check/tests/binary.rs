//! `pve_quorum_check` end to end through its binary, with a `pvecm`
//! stand-in replaying captured output, including a cluster whose answer
//! changes from one call to the next.

use serde_json::{json, Value};
use testkit::{assert_not_a_pve_node, fixture, standin_path, Bed, Run};

const BIN: &str = env!("CARGO_BIN_EXE_pve_quorum_check");

/// PVE 8 5-node cluster "Matrix", all online and quorate, seen from
/// node 3 (charlie), with its `pvecm nodes` table.
fn healthy(bed: &Bed, call: Option<u32>) {
    bed.answer("status", call, &fixture("status-pve8-5node.stdout"), "", 0);
    bed.answer("nodes", call, &fixture("nodes-pve8-5node.stdout"), "", 0);
}

/// PVE 8 3-node cluster "Matrix" with two nodes down: not quorate,
/// corosync-quorumtool exits 2, `pvecm nodes` lists only this node.
fn not_quorate(bed: &Bed, call: Option<u32>) {
    bed.answer(
        "status",
        call,
        &fixture("status-pve8-3node-1up-nonquorate.stdout"),
        "",
        2,
    );
    bed.answer(
        "nodes",
        call,
        &fixture("nodes-pve8-3node-1up.stdout"),
        "",
        0,
    );
}

fn waited(run: &Run) -> f64 {
    run.json["waited"].as_f64().expect("waited")
}

fn attempts(run: &Run) -> u64 {
    run.json["attempts"].as_u64().expect("attempts")
}

/// Strips the " (still so after X s and N check(s))" suffix, checking its shape.
fn reason_of(run: &Run) -> String {
    let msg = run.msg();
    let (reason, tail) = msg
        .rsplit_once(" (still so after ")
        .unwrap_or_else(|| panic!("no timing suffix: {msg}"));
    assert!(
        tail.ends_with(&format!(" s and {} check(s))", attempts(run))),
        "{msg}"
    );
    reason.to_string()
}

#[test]
fn healthy_cluster_passes_on_the_first_check() {
    let bed = Bed::new();
    healthy(&bed, None);
    let run = bed.run(
        BIN,
        &json!({"cluster_name": "Matrix", "expected_nodes": 5, "expected_members": ["alpha", "charlie"], "timeout": 30}),
    );
    run.assert_ok();
    assert_eq!(run.json["healthy"], true);
    assert_eq!(attempts(&run), 1);
    assert!(waited(&run) < 5.0, "{}", run.stdout);
    assert_eq!(run.json["status"]["cluster_name"], "Matrix");
    assert_eq!(run.json["status"]["online_count"], 5);
    assert!(
        run.msg().starts_with("node 'charlie' is in cluster 'Matrix': 5 of 5 nodes online, quorate (checked 1 time(s) in "),
        "{}",
        run.msg()
    );
    assert_eq!(bed.calls("status"), 1);
    // A read-only module: never changed, not even in check mode, and the same answer.
    let check = bed.run(
        BIN,
        &json!({"cluster_name": "Matrix", "_ansible_check_mode": true, "_ansible_diff": true}),
    );
    check.assert_ok();
    assert!(check.json.get("skipped").is_none());
    assert_eq!(check.json["healthy"], true);
    assert_eq!(check.json["status"], run.json["status"]);
    assert_eq!(bed.calls("status"), 2);
}

#[test]
fn not_quorate_with_timeout_zero_fails_at_once() {
    // Without /etc/pve/corosync.conf the offline nodes have no names: only counts.
    assert_not_a_pve_node();
    let bed = Bed::new();
    not_quorate(&bed, None);
    let run = bed.run(BIN, &json!({"timeout": 0, "interval": 5}));
    run.assert_failed();
    assert_eq!(
        reason_of(&run),
        "cluster 'Matrix' is not quorate: 1 of 3 votes present, 2 needed"
    );
    assert_eq!(attempts(&run), 1);
    assert!(
        waited(&run) < 5.0,
        "did not wait for the interval: {}",
        run.stdout
    );
    assert_eq!(run.json["healthy"], false);
    assert_eq!(
        run.json["reasons"],
        json!(["cluster 'Matrix' is not quorate: 1 of 3 votes present, 2 needed"])
    );
    assert_eq!(run.json["status"]["quorate"], false);
    assert_eq!(bed.calls("status"), 1);
}

#[test]
fn not_quorate_is_retried_until_the_timeout() {
    let bed = Bed::new();
    not_quorate(&bed, None);
    let run = bed.run(BIN, &json!({"timeout": 1, "interval": 0.2}));
    run.assert_failed();
    assert!(attempts(&run) > 1, "{}", run.stdout);
    assert_eq!(u64::from(bed.calls("status")), attempts(&run));
    // The last check is made at the deadline, not an interval before it.
    assert!(waited(&run) >= 1.0, "{}", run.stdout);
    assert!(waited(&run) < 3.0, "{}", run.stdout);
}

#[test]
fn the_last_check_is_made_at_the_deadline_even_when_the_interval_does_not_fit() {
    let bed = Bed::new();
    not_quorate(&bed, None);
    // Checks at 0 s, 2 s, and at the deadline, 3 s.
    let run = bed.run(BIN, &json!({"timeout": 3, "interval": 2}));
    run.assert_failed();
    assert_eq!(attempts(&run), 3, "{}", run.stdout);
    assert!(waited(&run) >= 3.0, "{}", run.stdout);
}

#[test]
fn wrong_cluster_name_fails() {
    let bed = Bed::new();
    healthy(&bed, None);
    let run = bed.run(BIN, &json!({"cluster_name": "Neo", "timeout": 0}));
    run.assert_failed();
    assert_eq!(
        reason_of(&run),
        "node is in cluster 'Matrix', expected 'Neo'"
    );
}

#[test]
fn expected_nodes_mismatch_names_the_difference() {
    let bed = Bed::new();
    healthy(&bed, None);
    let run = bed.run(BIN, &json!({"expected_nodes": 3, "timeout": 0}));
    run.assert_failed();
    assert_eq!(reason_of(&run), "expected 3 nodes, cluster has 5");

    let run = bed.run(
        BIN,
        &json!({"expected_nodes": 3, "expected_members": ["alpha", "bravo", "zulu"], "timeout": 0}),
    );
    run.assert_failed();
    assert_eq!(
        reason_of(&run),
        "expected 3 nodes, cluster has 5: missing zulu; unexpected charlie, delta, echo"
    );
}

#[test]
fn expected_members_missing_fails() {
    let bed = Bed::new();
    healthy(&bed, None);
    // k=v style: a comma-separated string, as `-a expected_members=alpha,zulu` sends it.
    let run = bed.run(
        BIN,
        &json!({"expected_members": "alpha,zulu,yankee", "timeout": "0"}),
    );
    run.assert_failed();
    assert_eq!(
        reason_of(&run),
        "expected members not in the cluster: zulu, yankee"
    );
    assert_eq!(
        run.json["invocation"]["module_args"]["expected_members"],
        json!(["alpha", "zulu", "yankee"])
    );
}

#[test]
fn quorum_coming_back_ends_the_wait_early() {
    // The cluster regains quorum while the module waits (peers booting):
    // the first two reads are the 3-node capture with two nodes down, the
    // third and later ones the quorate capture of the same cluster name.
    let bed = Bed::new();
    not_quorate(&bed, Some(1));
    not_quorate(&bed, Some(2));
    healthy(&bed, None);
    let timeout = 60.0;
    let run = bed.run(
        BIN,
        &json!({"cluster_name": "Matrix", "timeout": 60, "interval": 0.2}),
    );
    run.assert_ok();
    assert_eq!(attempts(&run), 3);
    assert_eq!(bed.calls("status"), 3);
    assert!(waited(&run) >= 0.4, "slept between checks: {}", run.stdout);
    assert!(waited(&run) < timeout / 2.0, "{}", run.stdout);
    assert_eq!(run.json["status"]["quorate"], true);
}

#[test]
fn corosync_restarting_is_waited_for() {
    // `systemctl restart corosync`: the first read finds corosync down (PVE 8,
    // Cluster information on stdout, CMAP error on stderr, rc 1).
    let bed = Bed::new();
    bed.answer(
        "status",
        Some(1),
        &fixture("status-pve8-corosync-down.stdout"),
        &fixture("status-pve8-corosync-down.stderr"),
        1,
    );
    healthy(&bed, None);
    let run = bed.run(BIN, &json!({"timeout": 30, "interval": 0.1}));
    run.assert_ok();
    assert_eq!(attempts(&run), 2);
    assert_eq!(
        bed.calls("nodes"),
        1,
        "no pvecm nodes while corosync is down"
    );
}

#[test]
fn pmxcfs_down_until_the_timeout_fails_with_the_raw_output() {
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("pmxcfs-down.stderr"), 255);
    let run = bed.run(BIN, &json!({"timeout": 0}));
    run.assert_failed();
    assert!(
        run.msg()
            .starts_with("the Proxmox cluster file system is not running"),
        "{}",
        run.msg()
    );
    assert_eq!(run.json["rc"], 255);
    assert_eq!(run.json["healthy"], false);
    assert_eq!(run.json["attempts"], 1);
}

#[test]
fn not_in_a_cluster_fails() {
    // PVE 9: 'Error: Corosync config ... does not exist', rc 2.
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("notcluster-pve9.stderr"), 2);
    let run = bed.run(BIN, &json!({"cluster_name": "Matrix", "timeout": 0}));
    run.assert_failed();
    assert_eq!(
        reason_of(&run),
        "node is not in a cluster, expected cluster 'Matrix'"
    );
}

#[test]
fn pvecm_missing_fails_at_once_whatever_the_timeout() {
    let bed = Bed::new();
    let empty = tempfile::tempdir().expect("tempdir");
    let file = bed.args_file(&json!({"timeout": 600}).to_string());
    let started = std::time::Instant::now();
    let run = bed.run_raw(
        BIN,
        &[file.as_os_str()],
        &empty.path().display().to_string(),
    );
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "pvecm not found on PATH: is this a Proxmox VE node?"
    );
    assert!(started.elapsed().as_secs() < 30);
}

#[test]
fn kv_strings_are_coerced_like_python() {
    let bed = Bed::new();
    healthy(&bed, None);
    let run = bed.run(
        BIN,
        &json!({"timeout": "3", "require_all_online": "no", "expected_members": "alpha,bravo", "interval": "0.5", "expected_nodes": "5"}),
    );
    run.assert_ok();
    assert_eq!(
        run.json["invocation"]["module_args"],
        json!({
            "cluster_name": null, "expected_nodes": 5, "expected_members": ["alpha", "bravo"],
            "require_all_online": false, "timeout": 3, "interval": 0.5
        })
    );
}

#[test]
fn defaults_appear_in_the_invocation() {
    let bed = Bed::new();
    healthy(&bed, None);
    let run = bed.run(BIN, &json!({}));
    run.assert_ok();
    assert_eq!(
        run.json["invocation"]["module_args"],
        json!({
            "cluster_name": null, "expected_nodes": null, "expected_members": null,
            "require_all_online": true, "timeout": 60, "interval": 1.0
        })
    );
}

#[test]
fn bad_timeout_and_interval_values_fail_clearly() {
    let bed = Bed::new();
    healthy(&bed, None);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"timeout": -1}), "timeout must be 0 or more seconds, got -1"),
        (json!({"interval": 0}), "interval must be more than 0 and at most 60 seconds, got 0"),
        (json!({"interval": -2.5}), "interval must be more than 0 and at most 60 seconds, got -2.5"),
        (json!({"interval": 61}), "interval must be more than 0 and at most 60 seconds, got 61"),
        (json!({"expected_nodes": 0}), "expected_nodes must be at least 1, got 0"),
        (
            json!({"timeout": "soon"}),
            "argument 'timeout' is of type str and we were unable to convert to int: \"'soon'\" cannot be converted to an int",
        ),
        (
            json!({"timeout": "1.5"}),
            "argument 'timeout' is of type str and we were unable to convert to int: \"'1.5'\" cannot be converted to an int",
        ),
        (
            json!({"interval": "often"}),
            "argument 'interval' is of type str and we were unable to convert to float: <class 'str'> cannot be converted to a float",
        ),
        (
            json!({"require_all_online": "maybe"}),
            "argument 'require_all_online' is of type str and we were unable to convert to bool: The value 'maybe' is not a valid boolean.",
        ),
    ];
    for (args, want) in cases {
        let run = bed.run(BIN, &args);
        run.assert_failed();
        assert!(run.msg().starts_with(want), "{args}: {}", run.msg());
    }
    // None of them ran pvecm: arguments are checked before the cluster is.
    assert_eq!(bed.calls("status"), 0);
}

#[test]
fn non_finite_and_huge_numbers_fail_clearly() {
    // ansible-core sends YAML .inf/.nan as Infinity/NaN and big integers as
    // they are: the file parses, and the module says what is wrong.
    let bed = Bed::new();
    healthy(&bed, None);
    for (text, want) in [
        (
            r#"{"interval": Infinity}"#,
            "interval must be more than 0 and at most 60 seconds, got inf",
        ),
        (
            r#"{"interval": NaN}"#,
            "interval must be more than 0 and at most 60 seconds, got NaN",
        ),
        (
            r#"{"interval": -Infinity}"#,
            "interval must be more than 0 and at most 60 seconds, got -inf",
        ),
        (
            r#"{"timeout": 18446744073709551616}"#,
            "timeout must be at most 9223372036854775807 seconds, got 18446744073709551616",
        ),
    ] {
        let file = bed.args_file(text);
        let run = bed.run_raw(BIN, &[file.as_os_str()], &standin_path());
        run.assert_failed();
        assert_eq!(run.msg(), want, "{text}");
    }
    assert_eq!(bed.calls("status"), 0);
}

#[test]
fn unknown_options_use_the_exact_ansible_text() {
    let bed = Bed::new();
    healthy(&bed, None);
    let run = bed.run(
        BIN,
        &json!({"timout": 5, "_ansible_module_name": "pve_quorum_check"}),
    );
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "Unsupported parameters for (pve_quorum_check) module: timout. Supported parameters include: cluster_name, expected_members, expected_nodes, interval, require_all_online, timeout."
    );
}
