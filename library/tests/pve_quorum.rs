//! The health decision over every status layout.

mod common;
use common::fixture;
use pve_cluster::pve::corosync_conf::CorosyncConf;
use pve_cluster::pve::quorum::{assess, Expectation, Health};
use pve_cluster::pve::status::{parse_nodes, parse_status, ClusterView};

fn status(stdout: &str, stderr: &str, nodes: &str, conf: &str) -> ClusterView {
    let s = parse_status(&fixture(stdout), &fixture(stderr)).unwrap();
    let n = (!nodes.is_empty()).then(|| parse_nodes(&fixture(nodes), "").unwrap());
    let c = (!conf.is_empty()).then(|| CorosyncConf::parse(&fixture(conf)).unwrap());
    ClusterView::from_parts(&s, n.as_ref(), c.as_ref())
}

fn exp(
    name: Option<&str>,
    nodes: Option<usize>,
    members: &[&str],
    all_online: bool,
) -> Expectation {
    Expectation {
        cluster_name: name.map(str::to_string),
        expected_nodes: nodes,
        expected_members: members.iter().map(|m| m.to_string()).collect(),
        require_all_online: all_online,
    }
}

struct Case {
    /// The situation the inputs reproduce.
    what: &'static str,
    stdout: &'static str,
    stderr: &'static str,
    nodes: &'static str,
    conf: &'static str,
    exp: Expectation,
    /// `None` = healthy
    message: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "3 nodes, one up: names of the offline nodes from corosync.conf",
            stdout: "status-pve8-3node-1up-nonquorate.stdout",
            stderr: "",
            nodes: "nodes-pve8-3node-1up.stdout",
            conf: "corosync-conf-matrix-3node.conf",
            exp: exp(Some("Matrix"), None, &[], false),
            message: Some("cluster 'Matrix' is not quorate: 1 of 3 votes present, 2 needed; offline: golf, hotel"),
        },
        Case {
            what: "3 nodes, one up, expected members named: quorum and offline members both reported",
            stdout: "status-pve8-3node-1up-nonquorate.stdout",
            stderr: "",
            nodes: "",
            conf: "corosync-conf-matrix-3node.conf",
            exp: exp(Some("Matrix"), Some(3), &["foxtrot", "golf", "hotel"], true),
            message: Some("cluster 'Matrix' is not quorate: 1 of 3 votes present, 2 needed; offline: golf, hotel; expected members offline: golf, hotel"),
        },
        Case {
            what: "same without corosync.conf: the offline nodes cannot be named",
            stdout: "status-pve8-3node-1up-nonquorate.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: Expectation::default(),
            message: Some("cluster 'Matrix' is not quorate: 1 of 3 votes present, 2 needed"),
        },
        Case {
            what: "real PVE 4.4 non-quorate 2-node, no cluster name in the output",
            stdout: "status-real-pve4-2node-nonquorate-stripped.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: Expectation::default(),
            message: Some("the cluster is not quorate: 1 of 2 votes present, 2 needed"),
        },
        Case {
            what: "PVE 4.4 udpu raw output, same state",
            stdout: "status-pve4-2node-udpu-nonquorate.stdout",
            stderr: "",
            nodes: "",
            conf: "corosync-conf-pve4-udpu.conf",
            exp: Expectation::default(),
            message: Some("cluster 'vpncluster' is not quorate: 1 of 2 votes present, 2 needed; offline: prx01, prx03"),
        },
        Case {
            what: "expected 3 nodes, the conf has 2, one named member missing",
            stdout: "status-real-pve9-2node.stdout",
            stderr: "",
            nodes: "nodes-pve9-2node.stdout",
            conf: "",
            exp: exp(Some("krnn"), Some(3), &["pve01", "pve02", "hotel"], false),
            message: Some("expected 3 nodes, cluster has 2: missing hotel"),
        },
        Case {
            what: "expected members without a node count",
            stdout: "status-real-pve9-2node.stdout",
            stderr: "",
            nodes: "nodes-pve9-2node.stdout",
            conf: "",
            exp: exp(None, None, &["pve01", "hotel"], false),
            message: Some("expected members not in the cluster: hotel"),
        },
        Case {
            what: "node joined another cluster",
            stdout: "status-pve8-5node.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("Other"), None, &[], false),
            message: Some("node is in cluster 'Matrix', expected 'Other'"),
        },
        Case {
            what: "PVE 8 5-node, all well",
            stdout: "status-pve8-5node.stdout",
            stderr: "",
            nodes: "nodes-pve8-5node.stdout",
            conf: "",
            exp: exp(Some("Matrix"), Some(5), &["alpha", "echo"], true),
            message: None,
        },
        Case {
            what: "stripped copy of the same",
            stdout: "status-pve8-5node-stripped.stdout",
            stderr: "",
            nodes: "nodes-pve8-5node.stdout",
            conf: "",
            exp: exp(Some("Matrix"), Some(5), &[], true),
            message: None,
        },
        Case {
            what: "not in a cluster (PVE 9)",
            stdout: "",
            stderr: "notcluster-pve9.stderr",
            nodes: "",
            conf: "",
            exp: Expectation::default(),
            message: Some("node is not in a cluster"),
        },
        Case {
            what: "not in a cluster (PVE 4 warning + CMAP), a cluster was expected",
            stdout: "",
            stderr: "notcluster-pve4.stderr",
            nodes: "",
            conf: "",
            exp: exp(Some("Matrix"), None, &[], false),
            message: Some("node is not in a cluster, expected cluster 'Matrix'"),
        },
        Case {
            what: "corosync down on a member",
            stdout: "status-pve8-corosync-down.stdout",
            stderr: "status-pve8-corosync-down.stderr",
            nodes: "",
            conf: "corosync-conf-matrix-3node.conf",
            exp: exp(Some("Matrix"), Some(3), &[], false),
            message: Some("corosync is not running on this node"),
        },
        Case {
            what: "corosync down on a member of the wrong cluster",
            stdout: "status-pve8-corosync-down.stdout",
            stderr: "status-pve8-corosync-down.stderr",
            nodes: "",
            conf: "",
            exp: exp(Some("Other"), None, &[], false),
            message: Some("node is in cluster 'Matrix', expected 'Other'; corosync is not running on this node"),
        },
        Case {
            what: "PVE 5 corosync down, nothing but the CMAP error",
            stdout: "",
            stderr: "status-pve5-corosync-down.stderr",
            nodes: "",
            conf: "",
            exp: Expectation::default(),
            message: Some("corosync is not running on this node"),
        },
        Case {
            what: "2-node + QDevice: quorate with 3 of 3 votes",
            stdout: "status-pve9-2node-qdevice.stdout",
            stderr: "",
            nodes: "nodes-pve8-2node-qdevice.stdout",
            conf: "corosync-conf-multilink-qdevice.conf",
            exp: exp(Some("krnn"), Some(2), &["pve01", "pve02"], true),
            message: None,
        },
        Case {
            what: "2-node + QDevice not voting: still quorate (2 of 3), fine unless all must be online",
            stdout: "status-pve9-2node-qdevice-novote.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("krnn"), Some(2), &[], false),
            message: None,
        },
        Case {
            what: "2-node + QDevice not voting, all must be online",
            stdout: "status-pve9-2node-qdevice-novote.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("krnn"), None, &[], true),
            message: Some("the QDevice is not voting"),
        },
        Case {
            what: "CRLF QDevice copy behaves as the original",
            stdout: "status-pve9-2node-qdevice-crlf.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("krnn"), Some(2), &[], true),
            message: None,
        },
        Case {
            what: "real PVE 7 QDevice capture",
            stdout: "status-real-pve7-2node-qdevice-stripped.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("rob-lab"), Some(2), &[], true),
            message: None,
        },
        Case {
            what: "two_node: 1 with the peer down: quorate by corosync's count, but a node is offline",
            stdout: "status-pve8-twonode-1up.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("duo"), None, &[], false),
            message: None,
        },
        Case {
            what: "two_node: 1 with the peer down, all must be online (no conf: only votes tell)",
            stdout: "status-pve8-twonode-1up.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("duo"), None, &[], true),
            message: Some("1 of 2 votes present"),
        },
        Case {
            what: "real PVE 6 1-node right after create",
            stdout: "status-real-pve6-1node.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("local-cluster"), Some(1), &[], true),
            message: None,
        },
        Case {
            what: "real PVE 9 1-node, 2 expected",
            stdout: "status-real-pve9-1node.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("krnn"), Some(2), &[], false),
            message: Some("expected 2 nodes, cluster has 1"),
        },
        Case {
            what: "real PVE 5 3-node, no cluster name in the output: the name cannot be checked",
            stdout: "status-real-pve5-3node-ring-slash.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("anything"), Some(3), &[], true),
            message: None,
        },
        Case {
            what: "PVE 5 3-node with corosync.conf giving the name",
            stdout: "status-pve5-3node.stdout",
            stderr: "",
            nodes: "",
            conf: "corosync-conf-matrix-3node.conf",
            exp: exp(Some("Other"), Some(3), &[], true),
            message: Some("node is in cluster 'Matrix', expected 'Other'"),
        },
        Case {
            what: "PVE 6.0 no header, 4 expected with an extra member named",
            stdout: "status-pve60-3node-noheader.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(None, Some(4), &[], false),
            message: Some("expected 4 nodes, cluster has 3"),
        },
        Case {
            what: "IPv6 3-node with names from the conf; one unexpected node listed",
            stdout: "status-ipv6-3node.stdout",
            stderr: "",
            nodes: "",
            conf: "corosync-conf-ipv6-3node.conf",
            exp: exp(Some("v6clu"), Some(2), &["node-a", "node-b"], true),
            message: Some("expected 2 nodes, cluster has 3: unexpected node-c"),
        },
        Case {
            what: "32 nodes, all well",
            stdout: "status-pve8-32node.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: exp(Some("big"), Some(32), &[], true),
            message: None,
        },
        Case {
            what: "partial capture (votequorum onwards) quorate",
            stdout: "status-partial-votequorum.stdout",
            stderr: "",
            nodes: "",
            conf: "",
            exp: Expectation::default(),
            message: None,
        },
        Case {
            what: "PVE 4 quorate 2-node",
            stdout: "status-pve4-2node-quorate.stdout",
            stderr: "",
            nodes: "",
            conf: "corosync-conf-pve4-udpu.conf",
            exp: exp(Some("vpncluster"), Some(3), &[], true),
            message: Some("nodes offline: prx03"),
        },
    ]
}

#[test]
fn health_messages_on_every_layout() {
    for case in cases() {
        let s = status(case.stdout, case.stderr, case.nodes, case.conf);
        let health = assess(&s, &case.exp);
        match (case.message, &health) {
            (None, Health::Healthy) => {}
            (Some(want), Health::Unhealthy { reasons, message }) => {
                assert_eq!(message, want, "{}", case.what);
                assert_eq!(reasons.join("; "), *message, "{}", case.what);
                assert!(!message.ends_with('.'), "{}", case.what);
            }
            (want, got) => panic!("{}: want {want:?}, got {got:?}", case.what),
        }
    }
}

#[test]
fn health_serializes_for_the_module_result() {
    let s = status("", "notcluster-pve9.stderr", "", "");
    let json = serde_json::to_string(&assess(&s, &Expectation::default())).unwrap();
    assert_eq!(
        json,
        r#"{"health":"unhealthy","reasons":["node is not in a cluster"],"message":"node is not in a cluster"}"#
    );
    let s = status("status-real-pve6-1node.stdout", "", "", "");
    let health = assess(&s, &Expectation::default());
    assert!(health.is_healthy());
    assert_eq!(
        serde_json::to_string(&health).unwrap(),
        r#"{"health":"healthy"}"#
    );
}
