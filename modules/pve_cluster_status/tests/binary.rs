//! `pve_cluster_status` end to end through its binary: an args file in, one
//! JSON object out, with a `pvecm` stand-in replaying captured output.

use serde_json::{json, Value};
use testkit::{assert_not_a_pve_node, fixture, standin_path, Bed, Run};

const BIN: &str = env!("CARGO_BIN_EXE_pve_cluster_status");

/// `pvecm nodes` when no capture matches the status layout: corosync
/// stopped between the two calls (CMAP error, rc 1). The module keeps the
/// status read, without node names.
const NODES_CMAP_DOWN: (&str, &str, i32) = ("", "Cannot initialize CMAP service\n", 1);

struct Layout {
    /// Which real behaviour the fixture reproduces.
    what: &'static str,
    status: &'static str,
    /// corosync-quorumtool's exit status for that output on that version.
    status_rc: i32,
    /// The matching `pvecm nodes` capture, or None for [`NODES_CMAP_DOWN`].
    nodes: Option<&'static str>,
    cluster_name: Option<&'static str>,
    quorate: bool,
    node_count: usize,
    local_id: u64,
    local_name: Option<&'static str>,
    /// (votes, casting)
    qdevice: Option<(u64, bool)>,
}

#[allow(clippy::too_many_arguments)] // one table column each
fn l(
    what: &'static str,
    status: &'static str,
    status_rc: i32,
    nodes: Option<&'static str>,
    cluster_name: Option<&'static str>,
    quorate: bool,
    node_count: usize,
    local: (u64, Option<&'static str>),
) -> Layout {
    Layout {
        what,
        status,
        status_rc,
        nodes,
        cluster_name,
        quorate,
        node_count,
        local_id: local.0,
        local_name: local.1,
        qdevice: None,
    }
}

fn layouts() -> Vec<Layout> {
    vec![
        l("real PVE 6 capture, 1 node after create (corosync 3: rc 0 when quorate)",
          "status-real-pve6-1node.stdout", 0, None, Some("local-cluster"), true, 1, (1, None)),
        l("real PVE 5.4 capture, 3 nodes, no Cluster information block (corosync 2: rc 1 when quorate)",
          "status-real-pve5-3node-ring-slash.stdout", 1, None, None, true, 3, (1, None)),
        Layout {
            qdevice: Some((1, true)),
            ..l("real PVE 7 capture, 2 nodes + QDevice, trailing whitespace stripped",
                "status-real-pve7-2node-qdevice-stripped.stdout", 0, None, Some("rob-lab"), true, 2, (1, None))
        },
        l("real PVE 4.4 capture, 2 nodes with the peer down: not quorate (corosync 2: rc 0 when not quorate)",
          "status-real-pve4-2node-nonquorate-stripped.stdout", 0, None, None, false, 1, (2, None)),
        l("real PVE 9.2.9 capture, 1 node after pvecm create",
          "status-real-pve9-1node.stdout", 0, None, Some("krnn"), true, 1, (1, None)),
        l("real PVE 9.2.9 capture, 2 nodes seen from the joined node, with its pvecm nodes",
          "status-real-pve9-2node.stdout", 0, Some("nodes-pve9-2node.stdout"), Some("krnn"), true, 2, (2, Some("pve02"))),
        l("PVE 4.4 udpu 2-node with the peer down, trailing spaces kept",
          "status-pve4-2node-udpu-nonquorate.stdout", 0, None, None, false, 1, (2, None)),
        l("PVE 4.4 2-node quorate (corosync 2 exits 1 when quorate)",
          "status-pve4-2node-quorate.stdout", 1, None, None, true, 2, (1, None)),
        l("PVE 5 3-node seen from node 2",
          "status-pve5-3node.stdout", 1, None, None, true, 3, (2, None)),
        l("PVE 6.0 before pve-cluster 6.0-8: no Cluster information block",
          "status-pve60-3node-noheader.stdout", 0, None, None, true, 3, (1, None)),
        l("PVE 8 5-node quorate seen from node 3, with its pvecm nodes",
          "status-pve8-5node.stdout", 0, Some("nodes-pve8-5node.stdout"), Some("Matrix"), true, 5, (3, Some("charlie"))),
        l("the same PVE 8 output with trailing whitespace stripped, as web copies are",
          "status-pve8-5node-stripped.stdout", 0, Some("nodes-pve8-5node.stdout"), Some("Matrix"), true, 5, (3, Some("charlie"))),
        Layout {
            qdevice: Some((1, true)),
            ..l("PVE 9 2-node + QDevice voting, with the QDevice pvecm nodes table (same layout since PVE 8)",
                "status-pve9-2node-qdevice.stdout", 0, Some("nodes-pve8-2node-qdevice.stdout"), Some("krnn"), true, 2, (1, Some("pve01")))
        },
        Layout {
            qdevice: Some((1, false)),
            ..l("PVE 9 2-node + QDevice not voting for this node: row votes 0 + ' (votes 1)'",
                "status-pve9-2node-qdevice-novote.stdout", 0, None, Some("krnn"), true, 2, (1, None))
        },
        Layout {
            qdevice: Some((1, true)),
            ..l("CRLF copy of the PVE 9 QDevice output",
                "status-pve9-2node-qdevice-crlf.stdout", 0, None, Some("krnn"), true, 2, (1, None))
        },
        l("IPv6-only 3-node cluster, bare IPv6 addresses",
          "status-ipv6-3node.stdout", 0, None, Some("v6clu"), true, 3, (3, None)),
        l("32-node PVE 8 cluster seen from node 17",
          "status-pve8-32node.stdout", 0, None, Some("big"), true, 32, (17, None)),
        l("PVE 8 3-node with two nodes down: not quorate (corosync 3: rc 2), with its pvecm nodes",
          "status-pve8-3node-1up-nonquorate.stdout", 2, Some("nodes-pve8-3node-1up.stdout"), Some("Matrix"), false, 1, (1, Some("foxtrot"))),
        l("2-node with 'two_node: 1' and the peer down: still quorate",
          "status-pve8-twonode-1up.stdout", 0, None, Some("duo"), true, 1, (1, None)),
        Layout {
            qdevice: Some((1, true)),
            ..l("partial capture starting at the votequorum section, 3 members + QDevice",
                "status-partial-votequorum.stdout", 0, None, None, true, 3, (1, None))
        },
    ]
}

fn run_layout(layout: &Layout, args: &Value) -> Run {
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        &fixture(layout.status),
        "",
        layout.status_rc,
    );
    match layout.nodes {
        Some(nodes) => bed.answer("nodes", None, &fixture(nodes), "", 0),
        None => bed.answer(
            "nodes",
            None,
            NODES_CMAP_DOWN.0,
            NODES_CMAP_DOWN.1,
            NODES_CMAP_DOWN.2,
        ),
    }
    let run = bed.run(BIN, args);
    assert_eq!(bed.calls("status"), 1, "{}", layout.what);
    assert_eq!(bed.calls("nodes"), 1, "{}", layout.what);
    run
}

#[test]
fn every_layout_gives_the_expected_values() {
    assert_not_a_pve_node();
    for layout in layouts() {
        let w = layout.what;
        let run = run_layout(&layout, &json!({}));
        run.assert_ok();
        let r = &run.json;
        assert_eq!(r["in_cluster"], true, "{w}");
        assert_eq!(r["corosync_running"], true, "{w}");
        assert_eq!(r["cluster_name"].as_str(), layout.cluster_name, "{w}");
        assert_eq!(r["quorate"], layout.quorate, "{w}");
        assert_eq!(r["activity_blocked"], !layout.quorate, "{w}");
        assert_eq!(r["node_count"], layout.node_count, "{w}");
        assert_eq!(r["online_count"], layout.node_count, "{w}");
        assert_eq!(
            r["nodes"].as_array().map(Vec::len),
            Some(layout.node_count),
            "{w}"
        );
        assert_eq!(r["local_node"]["nodeid"], layout.local_id, "{w}");
        assert_eq!(r["local_node"]["name"].as_str(), layout.local_name, "{w}");
        match layout.qdevice {
            None => assert_eq!(r["qdevice"], Value::Null, "{w}"),
            Some((votes, casting)) => {
                assert_eq!(r["qdevice"]["present"], true, "{w}");
                assert_eq!(r["qdevice"]["votes"], votes, "{w}");
                assert_eq!(r["qdevice"]["casting"], casting, "{w}");
            }
        }
        // Without a cluster_name option there is nothing to compare with.
        assert!(r.get("in_target_cluster").is_none(), "{w}");
        // The summary a person reads.
        let state = if layout.quorate {
            "quorate"
        } else {
            "not quorate"
        };
        assert!(
            run.msg().ends_with(&format!(
                "{} of {} nodes online, {state}",
                layout.node_count, layout.node_count
            )),
            "{w}: {}",
            run.msg()
        );
        if let Some(name) = layout.local_name {
            assert!(
                run.msg().starts_with(&format!("node '{name}' is in ")),
                "{w}"
            );
        }
        // A CMAP error from pvecm nodes only costs the names: no warning.
        let warnings = r.get("warnings").cloned().unwrap_or(Value::Null);
        assert_eq!(warnings, Value::Null, "{w}");
        // The facts hold the same status.
        let facts = &r["ansible_facts"]["pve_cluster"];
        assert!(facts.is_object(), "{w}");
        for key in [
            "in_cluster",
            "cluster_name",
            "quorate",
            "node_count",
            "local_node",
            "nodes",
            "qdevice",
        ] {
            assert_eq!(facts[key], r[key], "{w}: fact {key}");
        }
        assert_eq!(
            r["invocation"]["module_args"],
            json!({"cluster_name": null, "node_info": false, "api_fingerprint": null}),
            "{w}"
        );
    }
}

#[test]
fn not_in_a_cluster_is_a_result_not_a_failure() {
    // PVE 9 (pve-cluster >= 6.0-9): 'Error: Corosync config ... does not exist', pvecm dies with rc 2.
    // PVE 4.2-6.0: the same text as a warning, then corosync-quorumtool's CMAP error, rc 1.
    // Real PVE 8.2 capture: as PVE 9.
    for (what, stderr, rc) in [
        ("PVE 9", "notcluster-pve9.stderr", 2),
        ("PVE 4", "notcluster-pve4.stderr", 1),
        ("real PVE 8.2", "notcluster-real-pve8.stderr", 2),
    ] {
        let bed = Bed::new();
        bed.answer("status", None, "", &fixture(stderr), rc);
        let run = bed.run(BIN, &json!({"cluster_name": "prod"}));
        run.assert_ok();
        let r = &run.json;
        assert_eq!(r["in_cluster"], false, "{what}");
        assert_eq!(r["corosync_running"], false, "{what}");
        assert_eq!(r["quorate"], false, "{what}");
        assert_eq!(r["node_count"], 0, "{what}");
        assert_eq!(r["cluster_name"], Value::Null, "{what}");
        assert_eq!(r["in_target_cluster"], false, "{what}");
        assert_eq!(r["in_other_cluster"], false, "{what}");
        assert_eq!(
            r["ansible_facts"]["pve_cluster"]["in_cluster"], false,
            "{what}"
        );
        assert_eq!(run.msg(), "this node is not in a cluster", "{what}");
        // pvecm nodes is not asked when corosync is not running.
        assert_eq!(bed.calls("nodes"), 0, "{what}");
    }
}

#[test]
fn corosync_down_is_in_cluster_not_running_not_failed() {
    // PVE 8 member with corosync stopped: pvecm prints its Cluster information
    // block from corosync.conf, then corosync-quorumtool fails: 'Cannot
    // initialize CMAP service', rc 1.
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        &fixture("status-pve8-corosync-down.stdout"),
        &fixture("status-pve8-corosync-down.stderr"),
        1,
    );
    let run = bed.run(BIN, &json!({"cluster_name": "Matrix"}));
    run.assert_ok();
    let r = &run.json;
    assert_eq!(r["in_cluster"], true);
    assert_eq!(r["corosync_running"], false);
    assert_eq!(r["quorate"], false);
    assert_eq!(r["cluster_name"], "Matrix");
    assert_eq!(r["in_target_cluster"], true);
    assert_eq!(r["in_other_cluster"], false);
    assert_eq!(
        run.msg(),
        "this node is configured for cluster 'Matrix' but corosync is not running"
    );
    assert_eq!(bed.calls("nodes"), 0);

    // PVE 5: nothing on stdout, only the CMAP error.
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        "",
        &fixture("status-pve5-corosync-down.stderr"),
        1,
    );
    let run = bed.run(BIN, &json!({}));
    run.assert_ok();
    assert_eq!(run.json["in_cluster"], true);
    assert_eq!(run.json["corosync_running"], false);
}

#[test]
fn pmxcfs_down_fails_with_the_raw_output() {
    // pve-cluster.service stopped: pvecm cannot even load the ACL from pmxcfs.
    let stderr = fixture("pmxcfs-down.stderr");
    let bed = Bed::new();
    bed.answer("status", None, "", &stderr, 255);
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "the Proxmox cluster file system is not running ('ipcc_send_rec[1] failed: Connection refused'): start it with 'systemctl start pve-cluster' and check 'journalctl -u pve-cluster'"
    );
    assert_eq!(run.json["stdout"], "");
    assert_eq!(run.json["stderr"], stderr.as_str());
    assert_eq!(run.json["rc"], 255);
    assert_eq!(run.json["cmd"], "pvecm status");
    assert!(run.json.get("ansible_facts").is_none());

    // /etc/pve not mounted.
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("pmxcfs-not-mounted.stderr"), 2);
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert!(
        run.msg().starts_with(
            "/etc/pve is not mounted ('pve configuration filesystem (pmxcfs) not mounted')"
        ),
        "{}",
        run.msg()
    );
    assert_eq!(run.json["rc"], 2);
}

#[test]
fn unparseable_output_fails_quoting_the_line() {
    // An unknown line inside a known layout (a future pvecm adding a field).
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        &fixture("status-unknown-line.stdout"),
        "",
        0,
    );
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "cannot parse pvecm output: unexpected line 7 in the Cluster information section: 'Node state:       Established'"
    );
    assert_eq!(
        run.json["stdout"],
        fixture("status-unknown-line.stdout").as_str()
    );

    // Something that is not pvecm output at all (a wrapper printing an HTML error page).
    let bed = Bed::new();
    bed.answer("status", None, &fixture("garbage.stdout"), "", 0);
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert!(
        run.msg()
            .contains("'<html><body>502 Bad Gateway</body></html>'"),
        "{}",
        run.msg()
    );
}

#[test]
fn cluster_name_decides_target_or_other() {
    let layout = &layouts()[10]; // PVE 8 5-node "Matrix"
    assert_eq!(layout.cluster_name, Some("Matrix"));
    let run = run_layout(layout, &json!({"cluster_name": "Matrix"}));
    run.assert_ok();
    assert_eq!(run.json["in_target_cluster"], true);
    assert_eq!(run.json["in_other_cluster"], false);
    assert_eq!(
        run.json["ansible_facts"]["pve_cluster"]["in_target_cluster"],
        true
    );

    let run = run_layout(layout, &json!({"cluster_name": "matrix"}));
    run.assert_ok();
    assert_eq!(
        run.json["in_target_cluster"], false,
        "names are case-sensitive"
    );
    assert_eq!(run.json["in_other_cluster"], true);
    assert_eq!(
        run.json["ansible_facts"]["pve_cluster"]["in_other_cluster"],
        true
    );
    assert_eq!(
        run.json["invocation"]["module_args"]["cluster_name"],
        "matrix"
    );
}

#[test]
fn pvecm_missing_from_path_is_a_clear_failure() {
    let bed = Bed::new();
    let empty = tempfile::tempdir().expect("tempdir");
    let file = bed.args_file(&json!({}).to_string());
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
}

#[test]
fn pvecm_nodes_failing_after_status_is_a_warning() {
    // corosync stopped between 'pvecm status' and 'pvecm nodes': the status read stands.
    let layout = &layouts()[10];
    let bed = Bed::new();
    bed.answer("status", None, &fixture(layout.status), "", 0);
    bed.answer("nodes", None, "", "", 0);
    let run = bed.run(BIN, &json!({}));
    run.assert_ok();
    assert_eq!(run.json["quorate"], true);
    assert_eq!(run.json["local_node"]["name"], Value::Null);
    assert_eq!(
        run.json["warnings"],
        json!(["could not read node names from 'pvecm nodes': pvecm printed nothing on stdout or stderr"])
    );
}

// ---------------------------------------------------------------------------
// The framework, seen through this binary.

fn healthy_bed() -> Bed {
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        &fixture("status-real-pve9-2node.stdout"),
        "",
        0,
    );
    bed.answer("nodes", None, &fixture("nodes-pve9-2node.stdout"), "", 0);
    bed
}

fn run_text(bed: &Bed, args_text: &str) -> Run {
    let file = bed.args_file(args_text);
    bed.run_raw(BIN, &[file.as_os_str()], &standin_path())
}

#[test]
fn args_file_missing_unreadable_or_not_an_object() {
    let bed = healthy_bed();
    // No argument at all: run by hand.
    let run = bed.run_raw(BIN, &[], &standin_path());
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "no args file given: pve_cluster_status is an Ansible module; run it through Ansible, or as 'pve_cluster_status ARGS_FILE', or as 'pve_cluster_status -' with the args on standard input"
    );
    // A path that does not exist.
    let missing = bed.dir.path().join("no-such-args");
    let run = bed.run_raw(BIN, &[missing.as_os_str()], &standin_path());
    run.assert_failed();
    assert!(
        run.msg().starts_with(&format!(
            "cannot read the args file '{}': ",
            missing.display()
        )),
        "{}",
        run.msg()
    );
    // A directory cannot be read as a file.
    let run = bed.run_raw(BIN, &[bed.dir.path().as_os_str()], &standin_path());
    run.assert_failed();
    assert!(
        run.msg().starts_with("cannot read the args file"),
        "{}",
        run.msg()
    );
    // Not JSON.
    let run = run_text(&bed, "cluster_name=x");
    run.assert_failed();
    assert!(
        run.msg().starts_with("the args file is not valid JSON: "),
        "{}",
        run.msg()
    );
    // JSON, but an array.
    let run = run_text(&bed, r#"["cluster_name", "x"]"#);
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "the args file must hold a JSON object, found an array"
    );
    // None of these got as far as running pvecm.
    assert_eq!(bed.calls("status"), 0);
}

#[test]
fn args_on_standard_input_give_the_same_result_as_an_args_file() {
    let bed = healthy_bed();
    let args =
        json!({"cluster_name": "pve9", "_ansible_check_mode": true, "_ansible_verbosity": 3});
    let from_file = bed.run(BIN, &args);
    from_file.assert_ok();
    let from_stdin = bed.run_stdin(BIN, format!("{args}\n").as_bytes());
    from_stdin.assert_ok();
    assert_eq!(from_stdin.json, from_file.json);
    assert_eq!(bed.calls("status"), 2);
    // Nothing on stdin is an empty args text, reported as the parser sees it.
    let empty = bed.run_stdin(BIN, b"");
    empty.assert_failed();
    assert!(
        empty.msg().starts_with("the args file is not valid JSON: "),
        "{}",
        empty.msg()
    );
    // A non-UTF-8 byte in a string is replaced, never a crash.
    let odd = bed.run_stdin(BIN, b"{\"cluster_name\": \"pve\xff9\"}");
    odd.assert_ok();
    assert_eq!(odd.json["in_target_cluster"], json!(false));
    assert_eq!(bed.calls("status"), 3);
}

#[test]
fn python_json_extras_do_not_break_parsing() {
    // ansible-core writes YAML .nan/.inf as NaN/Infinity and keeps integers
    // beyond 64 bits: the file still parses; type=str gives Python's str().
    let bed = healthy_bed();
    let run = run_text(
        &bed,
        r#"{"cluster_name": 18446744073709551616, "_ansible_x": NaN, "_ansible_y": -Infinity, "_ansible_check_mode": false}"#,
    );
    run.assert_ok();
    assert_eq!(
        run.json["invocation"]["module_args"]["cluster_name"],
        "18446744073709551616"
    );
    assert_eq!(run.json["in_other_cluster"], true);
    let run = run_text(&bed, r#"{"cluster_name": Infinity}"#);
    run.assert_ok();
    assert_eq!(
        run.json["invocation"]["module_args"]["cluster_name"],
        "Infinity"
    );
    let run = run_text(&bed, r#"{"cluster_name": NaN}"#);
    run.assert_ok();
    assert_eq!(run.json["invocation"]["module_args"]["cluster_name"], "NaN");
}

#[test]
fn kv_strings_and_python_str_coercion() {
    let bed = healthy_bed();
    let run = bed.run(BIN, &json!({"cluster_name": 5}));
    run.assert_ok();
    assert_eq!(run.json["invocation"]["module_args"]["cluster_name"], "5");
    assert_eq!(run.json["in_other_cluster"], true);
    let run = bed.run(BIN, &json!({"cluster_name": "krnn"}));
    run.assert_ok();
    assert_eq!(run.json["in_target_cluster"], true);
}

#[test]
fn unknown_options_use_the_exact_ansible_text() {
    let bed = healthy_bed();
    let run = bed.run(BIN, &json!({"cluster_nme": "x", "zzz": 1}));
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "Unsupported parameters for (pve_cluster_status) module: cluster_nme, zzz. Supported parameters include: api_fingerprint, cluster_name, node_info."
    );
    // The name the controller resolved is the one shown (FQCN from a collection).
    let run = bed.run(
        BIN,
        &json!({"bogus": true, "_ansible_module_name": "my.coll.pve_cluster_status"}),
    );
    run.assert_failed();
    assert_eq!(
        run.msg(),
        "Unsupported parameters for (my.coll.pve_cluster_status) module: bogus. Supported parameters include: api_fingerprint, cluster_name, node_info."
    );
    // Unless an action plugin asked to ignore them.
    let run = bed.run(
        BIN,
        &json!({"bogus": true, "_ansible_ignore_unknown_opts": true}),
    );
    run.assert_ok();
    assert_eq!(bed.calls("status"), 1);
}

#[test]
fn internal_keys_known_or_not_are_not_options() {
    let bed = healthy_bed();
    let run = bed.run(
        BIN,
        &json!({
            "_ansible_check_mode": false, "_ansible_no_log": false, "_ansible_debug": false,
            "_ansible_diff": false, "_ansible_verbosity": 0, "_ansible_version": "2.19.14",
            "_ansible_module_name": "pve_cluster_status", "_ansible_syslog_facility": "LOG_USER",
            "_ansible_selinux_special_fs": ["fuse", "nfs"], "_ansible_socket": null,
            "_ansible_shell_executable": "/bin/sh", "_ansible_keep_remote_files": false,
            "_ansible_tmpdir": "/tmp/x/", "_ansible_remote_tmp": "~/.ansible/tmp",
            "_ansible_ignore_unknown_opts": false, "_ansible_target_log_info": null,
            "_ansible_tracebacks_for": [], "_ansible_brand_new_in_2_99": {"x": 1}
        }),
    );
    run.assert_ok();
    assert_eq!(
        run.json["invocation"]["module_args"],
        json!({"cluster_name": null, "node_info": false, "api_fingerprint": null})
    );
}

#[test]
fn check_and_diff_mode_give_the_same_read_only_result() {
    let bed = healthy_bed();
    let normal = bed.run(BIN, &json!({"cluster_name": "krnn"}));
    normal.assert_ok();
    for flags in [
        json!({"_ansible_check_mode": true}),
        json!({"_ansible_diff": true}),
        json!({"_ansible_check_mode": true, "_ansible_diff": true}),
    ] {
        let mut args = json!({"cluster_name": "krnn"});
        args.as_object_mut()
            .expect("object")
            .extend(flags.as_object().expect("object").clone());
        let run = bed.run(BIN, &args);
        run.assert_ok();
        assert!(run.json.get("skipped").is_none(), "{flags}");
        assert!(run.json.get("diff").is_none(), "{flags}");
        assert_eq!(run.json, normal.json, "{flags}");
    }
    // Each run really read pvecm: check mode does not skip a read-only module.
    assert_eq!(bed.calls("status"), 4);
}

#[test]
fn a_panic_still_prints_one_failed_json_object() {
    // A real panic path, without test code in the module: the standard
    // library panics when it cannot start a thread, and the command runner
    // starts one per output pipe. RUST_MIN_STACK asks for thread stacks far
    // larger than any address space, so the first pipe reader cannot start.
    let bed = healthy_bed();
    let file = bed.args_file(&json!({}).to_string());
    let run = bed.run_env(
        BIN,
        &[file.as_os_str()],
        &standin_path(),
        &[("RUST_MIN_STACK", "1125899906842624")],
    );
    assert!(run.failed(), "{}", run.stdout);
    assert!(
        run.msg()
            .starts_with("internal error in module pve_cluster_status: failed to spawn thread"),
        "{}",
        run.msg()
    );
    assert!(
        run.msg()
            .ends_with("This is a bug: please report it with the task that triggered it"),
        "{}",
        run.msg()
    );
    assert_ne!(run.code, Some(0), "a panic must not exit 0");
}

/// A stand-in `ip` that answers as iproute2 6.x does on a PVE 8 node with a
/// bridge and IPv6, ahead of the pvecm stand-in on PATH.
fn with_ip_standin(bed: &Bed) -> String {
    let bin = bed.dir.path().join("ip-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = r#"#!/bin/sh
case "$*" in
"-o addr show")
  printf '%s\n' \
    '1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever' \
    '1: lo    inet6 ::1/128 scope host noprefixroute \       valid_lft forever preferred_lft forever' \
    '4: vmbr0    inet 192.168.1.11/24 brd 192.168.1.255 scope global vmbr0\       valid_lft forever preferred_lft forever' \
    '4: vmbr0    inet6 fe80::be24:11ff:fe00:1/64 scope link \       valid_lft forever preferred_lft forever' ;;
"-4 route get 8.8.8.8")
  printf '8.8.8.8 via 192.168.1.1 dev vmbr0 src 192.168.1.11 uid 0 \n    cache \n' ;;
*) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#;
    let path = bin.join("ip");
    std::fs::write(&path, script).expect("write ip");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!("{}:{}", bin.display(), standin_path())
}

#[test]
fn node_info_reports_the_nodes_addresses_also_when_pmxcfs_is_down() {
    let bed = healthy_bed();
    let path = with_ip_standin(&bed);
    let file = bed.args_file(&json!({"node_info": true}).to_string());
    let run = bed.run_raw(BIN, &[file.as_os_str()], &path);
    run.assert_ok();
    let node = &run.json["node"];
    assert_eq!(node["ipv4_addresses"], json!(["192.168.1.11"]));
    assert_eq!(node["ipv6_addresses"], json!(["fe80::be24:11ff:fe00:1"]));
    assert_eq!(node["default_ipv4"], "192.168.1.11");
    assert!(node["hostname"].is_string());
    assert!(node["ssh_host_keys"].is_object() && node["root_ssh_keys"].is_object());
    // Without the option there is no node, and ip is not asked.
    let run = bed.run_raw(BIN, &[bed.args_file("{}").as_os_str()], &path);
    assert!(run.json.get("node").is_none());

    // pmxcfs not running (the installer's 127.0.1.1 line): the failure
    // still tells who the node is.
    let bed = Bed::new();
    let path = with_ip_standin(&bed);
    bed.answer("status", None, "", &fixture("pmxcfs-down.stderr"), 255);
    let file = bed.args_file(&json!({"node_info": true}).to_string());
    let run = bed.run_raw(BIN, &[file.as_os_str()], &path);
    run.assert_failed();
    assert_eq!(run.json["node"]["default_ipv4"], "192.168.1.11");
}

// ---------------------------------------------------------------------------
// The stable fields a caller decides on: `reason`, `healthy`.

#[test]
fn reason_and_healthy_say_where_the_node_stands_without_reading_msg() {
    // Quorate 5-node "Matrix", all online.
    let bed = Bed::new();
    bed.answer("status", None, &fixture("status-pve8-5node.stdout"), "", 0);
    bed.answer("nodes", None, &fixture("nodes-pve8-5node.stdout"), "", 0);
    let run = bed.run(BIN, &json!({"cluster_name": "Matrix"}));
    run.assert_ok();
    assert_eq!(run.json["reason"], "in_cluster");
    assert_eq!(run.json["healthy"], true);
    assert_eq!(run.json["health_reasons"], json!([]));
    // The same cluster asked for under another name is no healthy member of it.
    let run = bed.run(BIN, &json!({"cluster_name": "Neo"}));
    assert_eq!(run.json["healthy"], false);
    assert_eq!(
        run.json["health_reasons"],
        json!(["node is in cluster 'Matrix', expected 'Neo'"])
    );

    // 1 of 3 nodes up: not quorate.
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        &fixture("status-pve8-3node-1up-nonquorate.stdout"),
        "",
        2,
    );
    bed.answer(
        "nodes",
        None,
        &fixture("nodes-pve8-3node-1up.stdout"),
        "",
        0,
    );
    let run = bed.run(BIN, &json!({"cluster_name": "Matrix"}));
    run.assert_ok();
    assert_eq!(run.json["reason"], "in_cluster");
    assert_eq!(run.json["healthy"], false);
    assert!(
        run.json["health_reasons"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("cluster 'Matrix' is not quorate")),
        "{}",
        run.stdout
    );

    // Standalone.
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("notcluster-pve9.stderr"), 2);
    let run = bed.run(BIN, &json!({"cluster_name": "Matrix"}));
    run.assert_ok();
    assert_eq!(run.json["reason"], "not_in_cluster");
    assert_eq!(run.json["healthy"], false);
    assert!(run.json.get("join_complete").is_none());

    // Configured, corosync down.
    let bed = Bed::new();
    bed.answer(
        "status",
        None,
        &fixture("status-pve8-corosync-down.stdout"),
        &fixture("status-pve8-corosync-down.stderr"),
        1,
    );
    let run = bed.run(BIN, &json!({}));
    run.assert_ok();
    assert_eq!(run.json["reason"], "corosync_down");
    assert!(run.json.get("healthy").is_none(), "only with cluster_name");
}

#[test]
fn pmxcfs_down_says_whether_the_node_name_is_the_cause() {
    // The installer's "127.0.1.1 <fqdn> <name>" line: pmxcfs refuses to
    // start (pmxcfs.c: "Unable to resolve node name ... to a non-loopback
    // IP address"), so every pvecm call fails with the ipcc error.
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("pmxcfs-down.stderr"), 255);
    let ahosts = bed.replay_dir().join("getent-ahosts.stdout");
    std::fs::write(
        &ahosts,
        "127.0.1.1       STREAM pve1\n127.0.1.1       DGRAM  \n",
    )
    .unwrap();
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(run.json["reason"], "name_not_resolvable");
    // The name resolves: pmxcfs is down for another reason.
    std::fs::write(
        &ahosts,
        "10.0.0.1        STREAM pve1\n10.0.0.1        DGRAM  \n",
    )
    .unwrap();
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(run.json["reason"], "pmxcfs_down");
    // pvecm itself says the name does not resolve.
    let bed = Bed::new();
    bed.answer("status", None, "", &fixture("hostname-pve9.stderr"), 255);
    let run = bed.run(BIN, &json!({}));
    run.assert_failed();
    assert_eq!(run.json["reason"], "name_not_resolvable");
}

#[test]
fn a_node_without_pvecm_is_not_pve() {
    let bed = Bed::new();
    let run = bed.run_raw(BIN, &[bed.args_file("{}").as_os_str()], "/nonexistent");
    run.assert_failed();
    assert_eq!(run.json["reason"], "not_pve");
}
