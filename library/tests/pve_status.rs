//! `pvecm status` / `pvecm nodes` parsing over captured text, one table row per layout.

mod common;
use common::fixture;
use pve_cluster::pve::corosync_conf::CorosyncConf;
use pve_cluster::pve::status::{
    parse_nodes, parse_status, ClusterView, NodeState, ParseError, StatusReport,
};
use std::path::PathBuf;

/// Expected values of one running status; `None` = not checked.
struct Running {
    cluster_name: Option<&'static str>,
    quorate: bool,
    node_id: u32,
    ring_id: &'static str,
    votes: [u32; 4], // expected, highest, total, quorum
    flags: &'static [&'static str],
    activity_blocked: bool,
    members: usize,
    local_address: Option<&'static str>,
    /// (votes, casting) of the QDevice row
    qdevice: Option<(u32, bool)>,
}

enum Expect {
    Running(Running),
    State(NodeState, Option<&'static str>),
}

struct Case {
    /// What real behaviour the fixture reproduces.
    what: &'static str,
    stdout: &'static str,
    stderr: &'static str,
    expect: Expect,
}

#[allow(clippy::too_many_arguments)] // one table column each
fn r(
    cluster_name: Option<&'static str>,
    quorate: bool,
    node_id: u32,
    ring_id: &'static str,
    votes: [u32; 4],
    flags: &'static [&'static str],
    members: usize,
    local_address: Option<&'static str>,
) -> Running {
    Running {
        cluster_name,
        quorate,
        node_id,
        ring_id,
        votes,
        flags,
        activity_blocked: !quorate,
        members,
        local_address,
        qdevice: None,
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "real PVE 6.x capture: 1 node right after create, trailing spaces kept",
            stdout: "status-real-pve6-1node.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("local-cluster"), true, 1, "1.5", [1, 1, 1, 1], &["Quorate"], 1, Some("192.168.0.150"))),
        },
        Case {
            what: "real PVE 5.4 capture: no Cluster information block, old ring id 1/348, 3 nodes",
            stdout: "status-real-pve5-3node-ring-slash.stdout",
            stderr: "",
            expect: Expect::Running(r(None, true, 1, "1/348", [3, 3, 3, 2], &["Quorate"], 3, Some("192.168.1.101"))),
        },
        Case {
            what: "real PVE 7 capture: 2 nodes + QDevice, trailing whitespace stripped by the source",
            stdout: "status-real-pve7-2node-qdevice-stripped.stdout",
            stderr: "",
            expect: Expect::Running(Running {
                qdevice: Some((1, true)),
                ..r(Some("rob-lab"), true, 1, "1.9", [3, 3, 3, 2], &["Quorate", "Qdevice"], 2, Some("192.168.1.100"))
            }),
        },
        Case {
            what: "real PVE 4.4 capture: non-quorate 2-node, peer down, 'Activity blocked', bare 'Flags:'",
            stdout: "status-real-pve4-2node-nonquorate-stripped.stdout",
            stderr: "",
            expect: Expect::Running(r(None, false, 2, "2/196", [2, 2, 1, 2], &[], 1, Some("10.10.10.102"))),
        },
        Case {
            what: "real PVE 9.2.9 capture: 1 node after pvecm create",
            stdout: "status-real-pve9-1node.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("krnn"), true, 1, "1.5", [1, 1, 1, 1], &["Quorate"], 1, Some("192.168.202.121"))),
        },
        Case {
            what: "real PVE 9.2.9 capture: 2 nodes seen from the joined node (local is the second row)",
            stdout: "status-real-pve9-2node.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("krnn"), true, 2, "1.9", [2, 2, 2, 2], &["Quorate"], 2, Some("192.168.202.179"))),
        },
        Case {
            what: "PVE 4.4 udpu 2-node, peer down, raw corosync 2 output with trailing spaces ('Flags:' + 12 spaces)",
            stdout: "status-pve4-2node-udpu-nonquorate.stdout",
            stderr: "",
            expect: Expect::Running(r(None, false, 2, "2/196", [2, 2, 1, 2], &[], 1, Some("10.10.10.102"))),
        },
        Case {
            what: "PVE 4.4 2-node quorate (corosync 2: rc 1 when quorate, never looked at)",
            stdout: "status-pve4-2node-quorate.stdout",
            stderr: "",
            expect: Expect::Running(r(None, true, 1, "1/180", [2, 2, 2, 2], &["Quorate"], 2, Some("10.10.10.101"))),
        },
        Case {
            what: "PVE 5 3-node seen from node 2, ring id 1/348",
            stdout: "status-pve5-3node.stdout",
            stderr: "",
            expect: Expect::Running(r(None, true, 2, "1/348", [3, 3, 3, 2], &["Quorate"], 3, Some("192.168.1.102"))),
        },
        Case {
            what: "PVE 6.0 before pve-cluster 6.0-8: knet but no Cluster information block, ring 1/12",
            stdout: "status-pve60-3node-noheader.stdout",
            stderr: "",
            expect: Expect::Running(r(None, true, 1, "1/12", [3, 3, 3, 2], &["Quorate"], 3, Some("10.0.0.1"))),
        },
        Case {
            what: "PVE 8.2 5-node quorate, local node 3, ring 1.9e1",
            stdout: "status-pve8-5node.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("Matrix"), true, 3, "1.9e1", [5, 5, 5, 3], &["Quorate"], 5, Some("192.168.10.13"))),
        },
        Case {
            what: "the same PVE 8 output with trailing whitespace stripped, as most web copies are",
            stdout: "status-pve8-5node-stripped.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("Matrix"), true, 3, "1.9e1", [5, 5, 5, 3], &["Quorate"], 5, Some("192.168.10.13"))),
        },
        Case {
            what: "PVE 9 2-node + QDevice (ffsplit, 1 vote), all voting",
            stdout: "status-pve9-2node-qdevice.stdout",
            stderr: "",
            expect: Expect::Running(Running {
                qdevice: Some((1, true)),
                ..r(Some("krnn"), true, 1, "1.d", [3, 3, 3, 2], &["Quorate", "Qdevice"], 2, Some("192.168.202.121"))
            }),
        },
        Case {
            what: "PVE 9 2-node + QDevice not voting for this node: row votes 0 + ' (votes 1)', peer 'NR'",
            stdout: "status-pve9-2node-qdevice-novote.stdout",
            stderr: "",
            expect: Expect::Running(Running {
                qdevice: Some((1, false)),
                ..r(Some("krnn"), true, 1, "1.11", [3, 3, 2, 2], &["Quorate", "Qdevice"], 2, Some("192.168.202.121"))
            }),
        },
        Case {
            what: "CRLF copy of the PVE 9 QDevice output (pasted through Windows)",
            stdout: "status-pve9-2node-qdevice-crlf.stdout",
            stderr: "",
            expect: Expect::Running(Running {
                qdevice: Some((1, true)),
                ..r(Some("krnn"), true, 1, "1.d", [3, 3, 3, 2], &["Quorate", "Qdevice"], 2, Some("192.168.202.121"))
            }),
        },
        Case {
            what: "IPv6-only 3-node cluster: bare IPv6 addresses in the name column",
            stdout: "status-ipv6-3node.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("v6clu"), true, 3, "1.2a", [3, 3, 3, 2], &["Quorate"], 3, Some("fdd2:3918:5fad::3"))),
        },
        Case {
            what: "32-node PVE 8 cluster",
            stdout: "status-pve8-32node.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("big"), true, 17, "1.4f2", [32, 32, 32, 17], &["Quorate"], 32, Some("10.1.0.18"))),
        },
        Case {
            what: "PVE 8 3-node with two nodes down: not quorate, one row",
            stdout: "status-pve8-3node-1up-nonquorate.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("Matrix"), false, 1, "1.2c", [3, 3, 1, 2], &[], 1, Some("10.20.0.1"))),
        },
        Case {
            what: "2-node with 'two_node: 1', peer down: 2Node/WaitForAll flags, quorum 1, still quorate",
            stdout: "status-pve8-twonode-1up.stdout",
            stderr: "",
            expect: Expect::Running(r(Some("duo"), true, 1, "1.30", [2, 2, 1, 1], &["2Node", "Quorate", "WaitForAll"], 1, Some("10.30.0.1"))),
        },
        Case {
            what: "partial capture starting at the votequorum section (6 nodes + QDevice)",
            stdout: "status-partial-votequorum.stdout",
            stderr: "",
            expect: Expect::Running(Running {
                cluster_name: None,
                quorate: true,
                node_id: 0,
                ring_id: "",
                votes: [6, 6, 4, 4],
                flags: &["Quorate", "Qdevice"],
                activity_blocked: false,
                members: 3,
                local_address: Some("10.0.0.1"),
                qdevice: Some((1, true)),
            }),
        },
        Case {
            what: "PVE 9 not in a cluster: 'Error: Corosync config ... does not exist' (rc 2, same as not quorate)",
            stdout: "",
            stderr: "notcluster-pve9.stderr",
            expect: Expect::State(NodeState::NotInCluster, None),
        },
        Case {
            what: "real PVE 8.2 capture: not in a cluster",
            stdout: "",
            stderr: "notcluster-real-pve8.stderr",
            expect: Expect::State(NodeState::NotInCluster, None),
        },
        Case {
            what: "PVE 4.2-6.0 not in a cluster: warning without 'Error: ' then 'Cannot initialize CMAP service'",
            stdout: "",
            stderr: "notcluster-pve4.stderr",
            expect: Expect::State(NodeState::NotInCluster, None),
        },
        Case {
            what: "PVE 8 member with corosync stopped: Cluster information on stdout, CMAP error on stderr",
            stdout: "status-pve8-corosync-down.stdout",
            stderr: "status-pve8-corosync-down.stderr",
            expect: Expect::State(NodeState::CorosyncDown, Some("Matrix")),
        },
        Case {
            what: "PVE 5 member with corosync stopped: nothing on stdout, CMAP error on stderr",
            stdout: "",
            stderr: "status-pve5-corosync-down.stderr",
            expect: Expect::State(NodeState::CorosyncDown, None),
        },
    ]
}

fn check_running(case: &Case, report: &StatusReport, want: &Running) {
    let w = case.what;
    assert_eq!(report.state, NodeState::Running, "{w}");
    let status = ClusterView::from_parts(report, None, None);
    assert!(status.in_cluster && status.corosync_running, "{w}");
    assert_eq!(status.cluster_name.as_deref(), want.cluster_name, "{w}");
    assert_eq!(status.quorate, want.quorate, "{w}");
    if want.node_id != 0 {
        assert_eq!(
            status.local_node.as_ref().map(|l| l.nodeid),
            Some(want.node_id),
            "{w}"
        );
    }
    if !want.ring_id.is_empty() {
        assert_eq!(status.ring_id.as_deref(), Some(want.ring_id), "{w}");
    }
    let got = [
        status.expected_votes,
        status.highest_expected,
        status.total_votes,
        status.quorum,
    ];
    assert_eq!(got, want.votes.map(Some), "{w}");
    assert_eq!(status.flags, want.flags, "{w}");
    assert_eq!(status.activity_blocked, want.activity_blocked, "{w}");
    assert_eq!(status.node_count, want.members, "{w}");
    assert_eq!(status.online_count, want.members, "{w}");
    assert!(
        status.nodes.iter().all(|n| n.nodeid != 0),
        "{w}: QDevice row counted as a node"
    );
    let local: Vec<_> = status.nodes.iter().filter(|n| n.local).collect();
    assert_eq!(local.len(), 1, "{w}");
    assert_eq!(local[0].address.as_deref(), want.local_address, "{w}");
    match want.qdevice {
        None => assert_eq!(status.qdevice, None, "{w}"),
        Some((votes, casting)) => {
            let q = status.qdevice.as_ref().expect("qdevice");
            assert!(q.present, "{w}");
            assert_eq!(q.votes, Some(votes), "{w}");
            assert_eq!(q.casting, Some(casting), "{w}");
            assert!(q.state.is_some(), "{w}: local QDevice column");
        }
    }
    // serializes to JSON for the module's result
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(
        json["quorate"],
        serde_json::Value::Bool(want.quorate),
        "{w}"
    );
}

#[test]
fn status_layouts() {
    let cases = cases();
    for case in &cases {
        let report = parse_status(&fixture(case.stdout), &fixture(case.stderr))
            .unwrap_or_else(|e| panic!("{}: {e}", case.what));
        match &case.expect {
            Expect::Running(want) => check_running(case, &report, want),
            Expect::State(state, name) => {
                assert_eq!(report.state, *state, "{}", case.what);
                let status = ClusterView::from_parts(&report, None, None);
                assert_eq!(
                    status.in_cluster,
                    *state != NodeState::NotInCluster,
                    "{}",
                    case.what
                );
                assert!(!status.corosync_running, "{}", case.what);
                assert!(!status.quorate, "{}", case.what);
                assert!(status.nodes.is_empty(), "{}", case.what);
                assert_eq!(status.cluster_name.as_deref(), *name, "{}", case.what);
            }
        }
    }
    assert!(cases.len() >= 25);
}

#[test]
fn status_row_details() {
    let report = parse_status(&fixture("status-pve9-2node-qdevice-novote.stdout"), "").unwrap();
    let m = report.membership.as_ref().unwrap();
    assert!(m.qdevice_column);
    assert_eq!(m.members[0].qdevice.as_deref(), Some("NA,NV,NMW"));
    assert_eq!(m.members[1].qdevice.as_deref(), Some("NR"));
    let q = m.qdevice.as_ref().unwrap();
    assert_eq!((q.votes, q.casting, q.name.as_str()), (1, false, "Qdevice"));
    let info = report.cluster_info.as_ref().unwrap();
    assert_eq!(info.config_version, Some(3));
    assert_eq!(info.transport.as_deref(), Some("knet"));
    assert_eq!(info.secure_auth, Some(true));
    let quorum = report.quorum.as_ref().unwrap();
    assert_eq!(quorum.date.as_deref(), Some("Tue Aug 11 16:05:40 2026"));
    assert_eq!(quorum.provider.as_deref(), Some("corosync_votequorum"));
    assert_eq!(quorum.nodes, Some(2));

    // the CRLF copy parses to exactly the same report as the LF original
    let lf = parse_status(&fixture("status-pve9-2node-qdevice.stdout"), "").unwrap();
    let crlf = parse_status(&fixture("status-pve9-2node-qdevice-crlf.stdout"), "").unwrap();
    assert_eq!(lf, crlf);
    // stripped trailing whitespace parses the same too
    let kept = parse_status(&fixture("status-pve8-5node.stdout"), "").unwrap();
    let stripped = parse_status(&fixture("status-pve8-5node-stripped.stdout"), "").unwrap();
    assert_eq!(kept, stripped);
}

#[test]
fn decimal_node_ids_without_hex() {
    // corosync-quorumtool without -H (plain corosync, not via pvecm) prints decimal ids
    let text = "Quorum information\n------------------\nDate:             Fri Oct 18 12:46:58 2019\nQuorum provider:  corosync_votequorum\nNodes:            2\nNode ID:          1084783375\nRing ID:          1084783375/40\nQuorate:          Yes\n\nVotequorum information\n----------------------\nExpected votes:   2\nHighest expected: 2\nTotal votes:      2\nQuorum:           1\nFlags:            2Node Quorate\n\nMembership information\n----------------------\n    Nodeid      Votes Name\n1084783375          1 hana01 (local)\n1084783376          1 hana02\n";
    let report = parse_status(text, "").unwrap();
    let status = ClusterView::from_parts(&report, None, None);
    assert_eq!(status.local_node.unwrap().nodeid, 1_084_783_375);
    assert_eq!(status.nodes[1].nodeid, 1_084_783_376);
    assert_eq!(status.flags, ["2Node", "Quorate"]);
}

fn err_of(stdout: &str, stderr: &str) -> ParseError {
    match parse_status(stdout, stderr) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn status_errors() {
    // pmxcfs (pve-cluster) down: every pvecm call fails before doing anything
    let e = err_of("", &fixture("pmxcfs-down.stderr"));
    assert!(matches!(e, ParseError::PmxcfsDown { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the Proxmox cluster file system is not running ('ipcc_send_rec[1] failed: Connection refused'): start it with 'systemctl start pve-cluster' and check 'journalctl -u pve-cluster'"
    );
    // /etc/pve not mounted
    let e = err_of("", &fixture("pmxcfs-not-mounted.stderr"));
    assert!(matches!(e, ParseError::PmxcfsNotMounted { .. }), "{e:?}");
    assert!(e.to_string().starts_with("/etc/pve is not mounted"), "{e}");
    // hostname resolution, PVE 7.1+, 5.0-6.1, unknown name, PVE 4
    for (file, node) in [
        ("hostname-pve9.stderr", Some("pve1")),
        ("hostname-pve6.stderr", Some("pve1")),
        ("hostname-unknown.stderr", Some("pve1")),
        ("hostname-pve4.stderr", Some("pve1")),
    ] {
        let e = err_of("", &fixture(file));
        match &e {
            ParseError::HostnameResolution { node: n, .. } => {
                assert_eq!(n.as_deref(), node, "{file}")
            }
            other => panic!("{file}: {other:?}"),
        }
        assert!(e.to_string().contains("/etc/hosts"), "{e}");
        assert!(
            e.to_string()
                .starts_with("the node name 'pve1' does not resolve"),
            "{e}"
        );
    }
    // garbage: the first line it did not understand is quoted
    let e = err_of(&fixture("garbage.stdout"), "");
    assert_eq!(
        e.to_string(),
        "cannot parse pvecm output: unexpected line 1 before any known section: '<html><body>502 Bad Gateway</body></html>'"
    );
    // nothing at all
    assert_eq!(err_of("", ""), ParseError::Empty);
    assert_eq!(err_of("\n\r\n", " \n"), ParseError::Empty);
    // unknown stderr with nothing on stdout
    let e = err_of("", "Unable to frobnicate\n");
    assert_eq!(
        e.to_string(),
        "pvecm failed with an error this module does not know: 'Unable to frobnicate'"
    );
    // corosync answers but a service is missing
    let e = err_of("", "Cannot initialize QUORUM service\n");
    assert!(matches!(e, ParseError::Corosync { .. }), "{e:?}");
    // membership only: quorum cannot be decided, so no guess
    let e = err_of(&fixture("status-partial-membership.stdout"), "");
    assert!(matches!(e, ParseError::Incomplete { .. }), "{e:?}");
    // cluster information without corosync part and no error
    let e = err_of(&fixture("status-pve8-corosync-down.stdout"), "");
    assert!(matches!(e, ParseError::Incomplete { .. }), "{e:?}");
}

#[test]
fn unknown_lines_fail_with_the_line_quoted() {
    let e = err_of(&fixture("status-unknown-line.stdout"), "");
    assert_eq!(
        e.to_string(),
        "cannot parse pvecm output: unexpected line 7 in the Cluster information section: 'Node state:       Established'"
    );
    let base = fixture("status-pve8-5node.stdout");
    let mutations: &[(&str, &str, &str)] = &[
        ("Quorate:          Yes", "Quorate:          Maybe", "invalid quorate value on line 15: 'Quorate:          Maybe'"),
        ("Total votes:      5", "Total votes:      five", "invalid total votes on line 21: 'Total votes:      five'"),
        ("Quorum:           3  ", "Quorum:           3 Activity paused", "invalid quorum on line 22: 'Quorum:           3 Activity paused'"),
        ("Ring ID:          1.9e1", "Ring ID:          1-9e1", "invalid ring id on line 14: 'Ring ID:          1-9e1'"),
        ("Node ID:          0x00000003", "Node ID:          0xZZ", "invalid node id on line 13: 'Node ID:          0xZZ'"),
        ("0x00000002          1 192.168.10.12", "0x00000002          1 192.168.10.12 [extra]", "unexpected line 29 in the Membership information section: '0x00000002          1 192.168.10.12 [extra]'"),
        ("0x00000002          1 192.168.10.12", "0x00000002        one 192.168.10.12", "invalid votes on line 29: '0x00000002        one 192.168.10.12'"),
        ("0x00000002          1 192.168.10.12", "Unable to get node 2 info", "unexpected line 29 in the Membership information section: 'Unable to get node 2 info'"),
        ("    Nodeid      Votes Name", "    Id Votes Name", "unexpected line 27 (expected the Nodeid/Votes/Name header): '    Id Votes Name'"),
        ("Expected votes:   5", "Expected votes:   5\nExpected votes:   5", "unexpected line 20 (repeated) in the Votequorum information section: 'Expected votes:   5'"),
        ("Secure auth:      on", "Secure auth:      maybe", "invalid secure auth on line 6: 'Secure auth:      maybe'"),
    ];
    for (from, to, want) in mutations {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        let e = err_of(&text, "");
        assert_eq!(e.to_string(), format!("cannot parse pvecm output: {want}"));
    }
    // a section twice or out of order
    let twice = format!("{base}\nQuorum information\n");
    assert!(err_of(&twice, "")
        .to_string()
        .contains("(section out of order or repeated)"));
    // a repeated member row
    let dup = format!("{base}0x00000002          1 192.168.10.12\n");
    assert!(err_of(&dup, "").to_string().contains("(repeated node id)"));
}

#[test]
fn stderr_warning_next_to_full_status_is_kept() {
    let report = parse_status(
        &fixture("status-pve8-5node.stdout"),
        "parse error in '/etc/pve/corosync.conf' - something\n",
    )
    .unwrap();
    assert_eq!(report.state, NodeState::Running);
    assert_eq!(
        report.warnings,
        ["parse error in '/etc/pve/corosync.conf' - something"]
    );
}

#[test]
fn nodes_layouts() {
    // real PVE 6.x: leading empty line, decimal ids, names
    let r = parse_nodes(&fixture("nodes-real-pve6-2node.stdout"), "").unwrap();
    assert_eq!(r.state, NodeState::Running);
    let m = r.membership.as_ref().unwrap();
    let names: Vec<_> = m
        .members
        .iter()
        .map(|x| (x.nodeid, x.name.as_deref(), x.local))
        .collect();
    assert_eq!(
        names,
        [
            (1, Some("debian-proxmox-01"), true),
            (2, Some("debian-proxmox-02"), false)
        ]
    );

    // PVE 8 with QDevice: decimal `0` pseudo-row is the QDevice
    let r = parse_nodes(&fixture("nodes-pve8-2node-qdevice.stdout"), "").unwrap();
    let m = r.membership.as_ref().unwrap();
    assert_eq!(m.members.len(), 2);
    assert_eq!(m.qdevice.as_ref().map(|q| q.votes), Some(1));

    // not in a cluster, corosync down
    assert_eq!(
        parse_nodes("", &fixture("notcluster-pve9.stderr"))
            .unwrap()
            .state,
        NodeState::NotInCluster
    );
    assert_eq!(
        parse_nodes("", "Cannot initialize CMAP service\n")
            .unwrap()
            .state,
        NodeState::CorosyncDown
    );
    // status text given to the nodes parser is refused
    let e = parse_nodes(&fixture("status-pve8-5node.stdout"), "").unwrap_err();
    assert!(e.to_string().contains("'Cluster information'"), "{e}");
    assert!(matches!(
        parse_nodes("", &fixture("pmxcfs-down.stderr")),
        Err(ParseError::PmxcfsDown { .. })
    ));
}

#[test]
fn merge_names_and_offline_nodes() {
    let status = parse_status(&fixture("status-pve8-3node-1up-nonquorate.stdout"), "").unwrap();
    let nodes = parse_nodes(&fixture("nodes-pve8-3node-1up.stdout"), "").unwrap();
    let conf = CorosyncConf::parse(&fixture("corosync-conf-matrix-3node.conf")).unwrap();
    let s = ClusterView::from_parts(&status, Some(&nodes), Some(&conf));
    let rows: Vec<_> = s
        .nodes
        .iter()
        .map(|n| {
            (
                n.nodeid,
                n.name.as_deref(),
                n.address.as_deref(),
                n.online,
                n.local,
                n.votes,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, Some("foxtrot"), Some("10.20.0.1"), true, true, Some(1)),
            (2, Some("golf"), None, false, false, Some(1)),
            (3, Some("hotel"), None, false, false, Some(1)),
        ]
    );
    assert_eq!(s.offline_nodes(), ["golf", "hotel"]);
    assert_eq!((s.node_count, s.online_count), (3, 1));
    assert_eq!(
        s.local_node.as_ref().and_then(|l| l.name.as_deref()),
        Some("foxtrot")
    );

    // names from the conf alone (no `pvecm nodes`), IPv6, node ids not in name order
    let status = parse_status(&fixture("status-ipv6-3node.stdout"), "").unwrap();
    let conf = CorosyncConf::parse(&fixture("corosync-conf-ipv6-3node.conf")).unwrap();
    let s = ClusterView::from_parts(&status, None, Some(&conf));
    let names: Vec<_> = s
        .nodes
        .iter()
        .map(|n| (n.nodeid, n.name.clone().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            (1, "node-c".into()),
            (2, "node-a".into()),
            (3, "node-b".into())
        ]
    );
    assert_eq!(s.local_node.unwrap().name.as_deref(), Some("node-b"));

    // QDevice from status + conf: not a node, votes known
    let status = parse_status(&fixture("status-pve9-2node-qdevice.stdout"), "").unwrap();
    let nodes = parse_nodes(&fixture("nodes-pve8-2node-qdevice.stdout"), "").unwrap();
    let conf = CorosyncConf::parse(&fixture("corosync-conf-multilink-qdevice.conf")).unwrap();
    let s = ClusterView::from_parts(&status, Some(&nodes), Some(&conf));
    assert_eq!(s.node_count, 2);
    let q = s.qdevice.unwrap();
    assert_eq!(
        (q.present, q.votes, q.state.as_deref()),
        (true, Some(1), Some("A,V,NMW"))
    );

    // corosync down: cluster name from the header, offline nodes from the conf
    let status = parse_status(
        &fixture("status-pve8-corosync-down.stdout"),
        &fixture("status-pve8-corosync-down.stderr"),
    )
    .unwrap();
    let conf = CorosyncConf::parse(&fixture("corosync-conf-matrix-3node.conf")).unwrap();
    let s = ClusterView::from_parts(&status, None, Some(&conf));
    assert!(s.in_cluster && !s.corosync_running && !s.quorate);
    assert_eq!(s.cluster_name.as_deref(), Some("Matrix"));
    assert_eq!(s.config_version, Some(5));
    assert_eq!(s.offline_nodes(), ["foxtrot", "golf", "hotel"]);

    // not in a cluster: a stale conf is ignored
    let status = parse_status("", &fixture("notcluster-pve9.stderr")).unwrap();
    let s = ClusterView::from_parts(&status, None, Some(&conf));
    assert!(!s.in_cluster && s.nodes.is_empty() && s.cluster_name.is_none());
}

#[test]
fn parsers_never_panic_on_odd_input() {
    let base = fixture("status-pve9-2node-qdevice-novote.stdout");
    let mut inputs: Vec<String> = vec![
        String::new(),
        "\r".into(),
        "Membership information\n".into(),
        "Membership information\n---\n    Nodeid      Votes Name\n0x\n".into(),
        "Membership information\n    Nodeid      Votes    Qdevice Name\n0x00000000\n".into(),
        "Membership information\n    Nodeid      Votes    Qdevice Name\n0x00000000 1 Qdevice (votes\n".into(),
        "Quorum information\nNode ID: 0xffffffffff\n".into(),
        "Votequorum information\nQuorum:\nFlags: ☃\n".into(),
        "Cluster information\nConfig Version: 99999999999999999999999\n".into(),
        "ä:ö\n".into(),
    ];
    for cut in (0..base.len()).step_by(7) {
        if let Some(prefix) = base.get(..cut) {
            inputs.push(prefix.to_string());
        }
    }
    for input in &inputs {
        let _ = parse_status(input, "");
        let _ = parse_status("", input);
        let _ = parse_nodes(input, input);
    }
}

/// Parse time of the 32-node status; run with `cargo test --release -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark"]
fn bench_32_node_status() {
    let text = fixture("status-pve8-32node.stdout");
    let conf = CorosyncConf::parse(&fixture("corosync-conf-matrix-3node.conf")).unwrap();
    let rounds = 10_000u32;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let report = parse_status(std::hint::black_box(&text), "").unwrap();
        let status = ClusterView::from_parts(&report, None, Some(&conf));
        std::hint::black_box(status);
    }
    let per = start.elapsed() / rounds;
    println!("32-node pvecm status: {per:?} per parse + merge");
}

/// Lines of every fixture shuffled into new documents: the parsers must
/// answer `Ok` or `Err`, never panic.
#[test]
fn shuffled_fixture_lines_never_panic() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "pvecm"]
        .iter()
        .collect();
    let mut lines: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        lines.extend(text.lines().map(str::to_string));
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let count = (next() % 40) as usize;
        let doc: Vec<&str> = (0..count)
            .map(|_| lines[(next() % lines.len() as u64) as usize].as_str())
            .collect();
        let doc = doc.join("\n");
        let _ = parse_status(&doc, "");
        let _ = parse_nodes(&doc, "");
        if let Ok(report) = parse_status(&doc, &doc) {
            let _ = ClusterView::from_parts(&report, None, None);
        }
        let _ = CorosyncConf::parse(&doc).map(|c| c.render());
    }
}

#[test]
fn contradicting_quorum_lines_are_refused() {
    let text = fixture("status-pve9-2node-qdevice.stdout");
    for (from, to) in [
        ("Quorate:          Yes", "Quorate:          No"),
        (
            "Flags:            Quorate Qdevice ",
            "Flags:            Qdevice ",
        ),
        (
            "Quorum:           2  ",
            "Quorum:           2 Activity blocked",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let err = parse_status(&text.replace(from, to), "").unwrap_err();
        assert!(
            matches!(&err, ParseError::Incomplete { what } if what.contains("contradict")),
            "{to}: {err}"
        );
    }
}

#[test]
fn node_id_decides_the_local_node() {
    let status = parse_status(&fixture("status-real-pve9-2node.stdout"), "").unwrap();
    let id = status.quorum.as_ref().and_then(|q| q.node_id).unwrap();
    let mut members = status.clone();
    // A `(local)` mark on another row (text from another node) loses.
    for row in &mut members.membership.as_mut().unwrap().members {
        row.local = row.nodeid != id;
    }
    let s = ClusterView::from_parts(&members, None, None);
    let local: Vec<u32> = s
        .nodes
        .iter()
        .filter(|n| n.local)
        .map(|n| n.nodeid)
        .collect();
    assert_eq!(local, [id]);
}
