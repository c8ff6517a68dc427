//! Whether a node may be removed from the cluster now, as Proxmox VE's
//! documented procedure ("Remove a Cluster Node", pve-docs `pvecm.adoc`)
//! and `pvecm delnode` (pve-cluster, `src/PVE/API2/ClusterConfig.pm`,
//! `delnode`) allow it. Pure: it judges what was read.

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
    /// The nodelist's names, before and after.
    pub members_before: Vec<String>,
    pub members_after: Vec<String>,
    /// The expected votes once it is gone (the nodes' votes, and a
    /// QDevice's).
    pub expected_votes_after: u32,
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
    if let Some(reason) = not_now(f, &name, nodeid) {
        return Decision::Refuse(reason);
    }
    removal(f, &nodes, name, nodeid)
}

/// Why the node cannot be removed now: no quorum, the node still online,
/// guests left on it.
fn not_now(f: &Facts<'_>, name: &str, nodeid: u32) -> Option<String> {
    if !f.status.corosync_running || !f.status.quorate {
        return Some(format!(
            "the cluster is not quorate on this node, and Proxmox VE changes its configuration only \
             with quorum; restore quorum (see 'pvecm status'), then remove {name}"
        ));
    }
    if f.status
        .nodes
        .iter()
        .any(|n| n.nodeid == nodeid && n.online)
    {
        return Some(format!(
            "{name} is still an online member of the cluster: power it off first, as Proxmox VE's \
             procedure says (a removed node must not come back to the cluster network as it is; \
             reinstall it, or separate it from the cluster, before it runs again)"
        ));
    }
    if !f.guests.is_empty() {
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
fn removal(f: &Facts<'_>, nodes: &[ConfNode], name: String, nodeid: u32) -> Decision {
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
    let online_votes = f.status.total_votes.unwrap_or(0);
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
    })
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
        let c = conf(&[("pve1", 1), ("pve2", 2), ("pve3", 3), ("pve4", 4)]);
        let mut s = status(&[1, 2], &[1, 2, 3, 4]);
        s.quorate = false;
        let f = Facts {
            me: "pve1",
            target: "pve4",
            status: &s,
            conf: &c,
            guests: vec![],
        };
        assert!(refusal(decide(&f)).contains("not quorate"));
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
        };
        let m = refusal(decide(&f));
        assert!(
            m.contains("would leave the cluster without quorum: 1 votes are present, and 2 of 2"),
            "{m}"
        );
    }
}
