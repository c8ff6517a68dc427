//! Whether a node may be removed from the cluster now, as Proxmox VE's
//! documented procedure ("Remove a Cluster Node", pve-docs `pvecm.adoc`)
//! and `pvecm delnode` (pve-cluster, `src/PVE/API2/ClusterConfig.pm`,
//! `delnode`) allow it, and the steps that separate a node without
//! reinstalling it ("Separate a Node Without Reinstalling"). Pure: it
//! judges what was read.

use crate::pve::corosync_conf::{ConfNode, CorosyncConf};
use crate::pve::status::ClusterView;

/// What the decision reads.
pub struct Facts<'a> {
    /// This node's name.
    pub me: &'a str,
    /// The node to remove: a name or, as `pvecm delnode` accepts, a
    /// `ring0_addr`/`ring1_addr`.
    pub target: &'a str,
    /// The cluster as `pvecm status`/`nodes` and corosync.conf show it.
    pub status: &'a ClusterView,
    /// `/etc/pve/corosync.conf`.
    pub conf: &'a CorosyncConf,
    /// Guest configurations in the target's directory of `/etc/pve/nodes`.
    pub guests: Vec<String>,
    /// The node is to be separated: it must be online, its guests go with
    /// it, and its votes leave with it.
    pub separate: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The cluster does not list the node: nothing to do.
    NotMember,
    /// Remove it.
    Remove(Removal),
    /// Not now; the message says why and what to do.
    Refuse(String),
}

/// A removal that may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The node's name in the nodelist.
    pub node: String,
    /// Its corosync node id.
    pub nodeid: u32,
    /// The nodelist's names before the removal.
    pub members_before: Vec<String>,
    /// The nodelist's names once the node is gone.
    pub members_after: Vec<String>,
    /// The expected votes once it is gone (the nodes' votes, and a
    /// QDevice's).
    pub expected_votes_after: u32,
    /// Its `ring0_addr`, where a separation reaches it over SSH.
    pub address: Option<String>,
}

/// Decides.
pub fn decide(f: &Facts<'_>) -> Decision {
    let nodes = f.conf.nodes();
    let Some(node) = nodes.iter().find(|n| {
        n.name.as_deref() == Some(f.target)
            || n.ring0_addr() == Some(f.target)
            || n.ring_addrs.iter().any(|(k, a)| *k == 1 && a == f.target)
    }) else {
        return Decision::NotMember;
    };
    let name = node.name.clone().unwrap_or_else(|| f.target.to_string());
    if name == f.me {
        return Decision::Refuse(format!(
            "{name} is this node: a node cannot remove itself (pvecm delnode refuses it); run the \
             removal on a node that stays in the cluster"
        ));
    }
    let Some(nodeid) = node.nodeid else {
        return Decision::Refuse(format!(
            "{name} has no nodeid in /etc/pve/corosync.conf; fix the file before removing the node"
        ));
    };
    let online = f
        .status
        .nodes
        .iter()
        .any(|n| n.nodeid == nodeid && n.online);
    let leaving = Leaving {
        votes: node.votes(),
        address: node.ring0_addr().map(str::to_string),
        name,
        nodeid,
        online,
    };
    if let Some(reason) = not_now(f, &leaving) {
        return Decision::Refuse(reason);
    }
    removal(f, &nodes, leaving)
}

/// The node to remove, as the nodelist and the membership show it.
struct Leaving {
    name: String,
    nodeid: u32,
    votes: u32,
    online: bool,
    /// Its `ring0_addr`, where a separation reaches it over SSH.
    address: Option<String>,
}

/// Why the node cannot be removed now: no quorum, a QDevice, the node
/// online (or, to separate it, offline or without an address), guests left
/// on it.
fn not_now(f: &Facts<'_>, leaving: &Leaving) -> Option<String> {
    let name = &leaving.name;
    if !f.status.corosync_running || !f.status.quorate {
        return Some(format!(
            "the cluster is not quorate on this node, and Proxmox VE changes its configuration only \
             with quorum; restore quorum (see 'pvecm status'), then remove {name}"
        ));
    }
    if f.status.qdevice.as_ref().is_some_and(|q| q.present) {
        // pve-docs pvecm.adoc, "Adding/Deleting Nodes After QDevice Setup".
        return Some(format!(
            "the cluster has a QDevice, and Proxmox VE's documentation says to remove it before a \
             node leaves: remove it (pve_cluster_qdevice with state absent), then remove {name}, \
             and set the QDevice up again once the node count is even"
        ));
    }
    if leaving.online && !f.separate {
        return Some(format!(
            "{name} is still an online member of the cluster: power it off first, as Proxmox VE's \
             procedure says (a removed node must not come back to the cluster network as it is; \
             reinstall it, or separate it from the cluster, before it runs again); or give \
             separate: true to separate it now and keep it as a standalone node"
        ));
    }
    if f.separate && !leaving.online {
        return Some(format!(
            "{name} is not online in the cluster, and separating it runs Proxmox VE's steps on \
             {name} itself: start it and let it rejoin (see 'pvecm status'), then retry; if it \
             was separated already, remove it without separate (with keep_guests if \
             /etc/pve/nodes/{name} still holds its guests)"
        ));
    }
    if f.separate && leaving.address.is_none() {
        return Some(format!(
            "{name} has no ring0_addr in /etc/pve/corosync.conf, and separating it needs that \
             address to reach it over SSH; fix the file, or power it off and remove it without \
             separate"
        ));
    }
    if !f.guests.is_empty() && !f.separate {
        return Some(format!(
            "{name} still has guests in /etc/pve/nodes/{name}: {}; migrate them to a node that \
             stays (or back them up and remove them), then remove {name}",
            f.guests.join(", ")
        ));
    }
    None
}

/// The removal, with the members and the expected votes after it; refused
/// when the votes present would not reach the quorum it leaves.
fn removal(f: &Facts<'_>, nodes: &[ConfNode], leaving: Leaving) -> Decision {
    let Leaving {
        name,
        nodeid,
        votes,
        online,
        address,
    } = leaving;
    let members_before: Vec<String> = nodes.iter().filter_map(|n| n.name.clone()).collect();
    let members_after: Vec<String> = members_before
        .iter()
        .filter(|n| **n != name)
        .cloned()
        .collect();
    let qdevice_votes = f
        .status
        .qdevice
        .as_ref()
        .filter(|q| q.present)
        .and_then(|q| q.votes)
        .unwrap_or(0);
    let expected_votes_after = nodes
        .iter()
        .filter(|n| n.nodeid != Some(nodeid))
        .map(|n| n.votes())
        .sum::<u32>()
        + qdevice_votes;
    // A separated node leaves with its votes; an offline one has none present.
    let leaving_votes = if online { votes } else { 0 };
    let online_votes = f
        .status
        .total_votes
        .unwrap_or(0)
        .saturating_sub(leaving_votes);
    let quorum_after = expected_votes_after / 2 + 1;
    if online_votes < quorum_after {
        return Decision::Refuse(format!(
            "removing {name} would leave the cluster without quorum: {online_votes} votes are \
             present, and {quorum_after} of {expected_votes_after} would be needed; bring the \
             offline nodes back first"
        ));
    }
    Decision::Remove(Removal {
        node: name,
        nodeid,
        members_before,
        members_after,
        expected_votes_after,
        address,
    })
}

/// The documented steps that separate a node, run on it in this order.
/// The documentation removes the remaining cluster files
/// (`/var/lib/corosync/*`) after `pvecm delnode`; they are corosync's own
/// state, unused once it is stopped, so they go with the other files here
/// (`-f`: the directory may be empty).
pub const SEPARATE_STEPS: [&str; 8] = [
    "systemctl stop pve-cluster",
    "systemctl stop corosync",
    "pmxcfs -l",
    "rm /etc/pve/corosync.conf",
    "rm -r /etc/corosync/*",
    "rm -f /var/lib/corosync/*",
    "killall pmxcfs",
    "systemctl start pve-cluster",
];

/// The marker printed before each step, so that a failure shows where
/// the steps stopped.
const STEP_MARK: &str = "step: ";

/// The script that runs the steps on the leaving node in one SSH session
/// (root's `authorized_keys` points into `/etc/pve`, which is not there
/// between the first steps: a second login would be refused).
pub fn separate_script() -> String {
    let mut script = String::from("set -e");
    for step in SEPARATE_STEPS {
        script.push_str(&format!("; echo '{STEP_MARK}{step}'; {step}"));
    }
    script
}

/// The `ssh` arguments PVE's own tools use to reach a member as root
/// (pve-cluster `SSHInfo.pm`), then the script.
pub fn ssh_args(node: &str, address: &str) -> Vec<String> {
    vec![
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("HostKeyAlias={node}"),
        "-o".into(),
        format!("UserKnownHostsFile=/etc/pve/nodes/{node}/ssh_known_hosts"),
        "-o".into(),
        "GlobalKnownHostsFile=none".into(),
        format!("root@{address}"),
        "--".into(),
        separate_script(),
    ]
}

/// How many steps were started, by the markers in the script's output.
pub fn steps_started(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|l| {
            l.strip_prefix(STEP_MARK)
                .is_some_and(|s| SEPARATE_STEPS.contains(&s))
        })
        .count()
}

/// What a failed separation left on the node, and what to do: `started`
/// steps began, the last of them failed (none began: SSH failed).
pub fn separation_failed(node: &str, started: usize, detail: &str) -> String {
    if started == 0 {
        return format!(
            "could not run the separation steps on {node} over SSH as root ({detail}); nothing \
             was changed on {node} nor in the cluster: make sure this node reaches it with \
             'ssh root@{node}' (PVE's cluster SSH keys), then retry"
        );
    }
    let failed = SEPARATE_STEPS[started - 1];
    let done = &SEPARATE_STEPS[..started - 1];
    let left = SEPARATE_STEPS[started - 1..].join("; ");
    let state = match started - 1 {
        0 | 1 => format!(
            "{node} is still in the cluster's configuration, and pve-cluster or corosync may be \
             stopped on it: start them ('systemctl start corosync pve-cluster') to keep it in the \
             cluster"
        ),
        2 => format!("corosync and pve-cluster are stopped on {node}, /etc/pve is not mounted"),
        3..=6 => format!("{node} runs pmxcfs in local mode, away from the cluster"),
        _ => format!(
            "{node} has no corosync configuration any more, and pve-cluster is not running on \
             it"
        ),
    };
    format!(
        "separating {node} stopped at '{failed}' ({detail}); done before it: {}. {state}. The \
         cluster still lists {node}: finish on {node} by hand ({left}), then remove it without \
         separate (with keep_guests)",
        if done.is_empty() {
            "nothing".to_string()
        } else {
            done.join("; ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::status::NodeStatus;

    fn conf(nodes: &[(&str, u32)]) -> CorosyncConf {
        let mut text = String::from("nodelist {\n");
        for (name, id) in nodes {
            text.push_str(&format!(
                "  node {{\n    name: {name}\n    nodeid: {id}\n    quorum_votes: 1\n    ring0_addr: 10.0.0.{id}\n  }}\n"
            ));
        }
        text.push_str("}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: lab\n  config_version: 5\n}\n");
        CorosyncConf::parse(&text).unwrap()
    }

    fn status(online: &[u32], all: &[u32]) -> ClusterView {
        ClusterView {
            in_cluster: true,
            corosync_running: true,
            cluster_name: Some("lab".into()),
            config_version: Some(5),
            transport: None,
            secure_auth: None,
            quorate: true,
            local_node: None,
            expected_votes: Some(u32::try_from(all.len()).unwrap()),
            highest_expected: None,
            total_votes: Some(u32::try_from(online.len()).unwrap()),
            quorum: None,
            flags: vec![],
            activity_blocked: false,
            ring_id: None,
            node_count: all.len(),
            online_count: online.len(),
            qdevice: None,
            nodes: all
                .iter()
                .map(|id| NodeStatus {
                    nodeid: *id,
                    name: Some(format!("pve{id}")),
                    address: None,
                    votes: Some(1),
                    local: *id == 1,
                    qdevice: None,
                    online: online.contains(id),
                })
                .collect(),
        }
    }

    fn decide_for(target: &str, online: &[u32], guests: Vec<String>) -> Decision {
        let c = conf(&[("pve1", 1), ("pve2", 2), ("pve3", 3), ("pve4", 4)]);
        let s = status(online, &[1, 2, 3, 4]);
        decide(&Facts {
            me: "pve1",
            target,
            status: &s,
            conf: &c,
            guests,
            separate: false,
        })
    }

    fn refusal(d: Decision) -> String {
        match d {
            Decision::Refuse(m) => m,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn an_offline_node_without_guests_is_removed() {
        let d = decide_for("pve4", &[1, 2, 3], vec![]);
        assert_eq!(
            d,
            Decision::Remove(Removal {
                node: "pve4".into(),
                nodeid: 4,
                members_before: vec!["pve1".into(), "pve2".into(), "pve3".into(), "pve4".into()],
                members_after: vec!["pve1".into(), "pve2".into(), "pve3".into()],
                expected_votes_after: 3,
                address: Some("10.0.0.4".into()),
            })
        );
        // pvecm delnode also takes the node's ring address.
        assert!(
            matches!(decide_for("10.0.0.4", &[1, 2, 3], vec![]), Decision::Remove(r) if r.node == "pve4")
        );
    }

    #[test]
    fn a_node_the_cluster_does_not_list_is_not_an_error() {
        assert_eq!(decide_for("pve9", &[1, 2, 3], vec![]), Decision::NotMember);
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        assert!(refusal(decide_for("pve1", &[1, 2, 3], vec![])).contains("cannot remove itself"));
        assert!(
            refusal(decide_for("pve4", &[1, 2, 3, 4], vec![])).contains("still an online member")
        );
        let m = refusal(decide_for(
            "pve4",
            &[1, 2, 3],
            vec!["qemu-server/100.conf".into()],
        ));
        assert!(
            m.contains("still has guests in /etc/pve/nodes/pve4: qemu-server/100.conf"),
            "{m}"
        );
        // Two of four online: not quorate.
        let mut s = status(&[1, 2], &[1, 2, 3, 4]);
        s.quorate = false;
        assert!(refusal(remove_pve4(&s)).contains("not quorate"));
    }

    /// The decision to remove pve4 (no guests) from four nodes seen as `s`.
    fn remove_pve4(s: &ClusterView) -> Decision {
        let c = conf(&[("pve1", 1), ("pve2", 2), ("pve3", 3), ("pve4", 4)]);
        decide(&Facts {
            me: "pve1",
            target: "pve4",
            status: s,
            conf: &c,
            guests: vec![],
            separate: false,
        })
    }

    #[test]
    fn a_cluster_with_a_qdevice_loses_it_before_a_node_leaves() {
        // pve-docs pvecm.adoc, "Adding/Deleting Nodes After QDevice Setup".
        let mut s = status(&[1, 2, 3], &[1, 2, 3, 4]);
        s.qdevice = Some(crate::pve::status::QdeviceStatus {
            present: true,
            votes: Some(1),
            state: Some("A,V,NMW".into()),
            casting: Some(true),
        });
        let msg = refusal(remove_pve4(&s));
        assert!(msg.starts_with("the cluster has a QDevice"), "{msg}");
        assert!(
            msg.contains("pve_cluster_qdevice with state absent"),
            "{msg}"
        );
    }

    #[test]
    fn a_removal_that_would_lose_quorum_is_refused() {
        // Three nodes, two of them down, and 'pvecm expected 1' run on the
        // last one to make it quorate alone. Removing pve3 sets the
        // expected votes to 2 again: quorum 2, with 1 vote present.
        let c = conf(&[("pve1", 1), ("pve2", 2), ("pve3", 3)]);
        let s = status(&[1], &[1, 2, 3]);
        let f = Facts {
            me: "pve1",
            target: "pve3",
            status: &s,
            conf: &c,
            guests: vec![],
            separate: false,
        };
        let m = refusal(decide(&f));
        assert!(
            m.contains("would leave the cluster without quorum: 1 votes are present, and 2 of 2"),
            "{m}"
        );
    }

    fn separate(online: &[u32], all_votes: u32) -> Decision {
        let c = conf(&[("pve1", 1), ("pve2", 2), ("pve3", 3), ("pve4", 4)]);
        let mut s = status(online, &[1, 2, 3, 4]);
        s.total_votes = Some(all_votes);
        decide(&Facts {
            me: "pve1",
            target: "pve4",
            status: &s,
            conf: &c,
            guests: vec!["qemu-server/100.conf".into()],
            separate: true,
        })
    }

    #[test]
    fn a_separated_node_must_be_online_and_keeps_its_guests() {
        match separate(&[1, 2, 3, 4], 4) {
            Decision::Remove(r) => {
                assert_eq!(r.address.as_deref(), Some("10.0.0.4"));
                assert_eq!(r.expected_votes_after, 3);
            }
            other => panic!("{other:?}"),
        }
        let m = refusal(separate(&[1, 2, 3], 3));
        assert!(m.starts_with("pve4 is not online in the cluster"), "{m}");
    }

    #[test]
    fn a_separation_counts_the_leaving_node_out_of_the_votes() {
        // Two of four online (pve1, pve4), with 'pvecm expected 2': pve4
        // leaves with its vote, 1 of 3 would remain.
        let m = refusal(separate(&[1, 4], 2));
        assert!(
            m.contains("1 votes are present, and 2 of 3 would be needed"),
            "{m}"
        );
    }

    #[test]
    fn the_steps_run_in_one_session_and_a_failure_says_where() {
        let script = separate_script();
        assert!(script.starts_with("set -e; echo 'step: systemctl stop pve-cluster'"));
        assert!(script
            .ends_with("echo 'step: systemctl start pve-cluster'; systemctl start pve-cluster"));
        let args = ssh_args("pve4", "10.0.0.4");
        assert_eq!(args[3], "HostKeyAlias=pve4");
        assert_eq!(
            args[5],
            "UserKnownHostsFile=/etc/pve/nodes/pve4/ssh_known_hosts"
        );
        assert_eq!(args[8], "root@10.0.0.4");
        let out = "step: systemctl stop pve-cluster\nstep: systemctl stop corosync\nstep: pmxcfs -l\nstep: rm /etc/pve/corosync.conf\n";
        assert_eq!(steps_started(out), 4);
        let m = separation_failed("pve4", 4, "rc 1");
        assert!(
            m.starts_with("separating pve4 stopped at 'rm /etc/pve/corosync.conf' (rc 1)"),
            "{m}"
        );
        assert!(m.contains("runs pmxcfs in local mode"), "{m}");
        assert!(m.contains("(rm /etc/pve/corosync.conf; rm -r /etc/corosync/*; rm -f /var/lib/corosync/*; killall pmxcfs; systemctl start pve-cluster)"), "{m}");
        assert!(separation_failed("pve4", 0, "rc 255").contains("nothing was changed"));
    }
}
