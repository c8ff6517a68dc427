//! The merged view: `pvecm status`, `pvecm nodes` and corosync.conf as
//! one [`ClusterView`].

use serde::Serialize;

use super::report::{
    ClusterInfo, Membership, NodeState, NodesReport, QuorumInfo, StatusReport, VotequorumInfo,
};
use crate::pve::corosync_conf::{ConfNode, CorosyncConf};

/// This node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalNode {
    /// The node's name, from `pvecm nodes` or the nodelist; `None` when
    /// neither names it.
    pub name: Option<String>,
    /// The node's corosync node id.
    pub nodeid: u32,
}

/// One cluster node (never the QDevice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// The node's corosync node id.
    pub nodeid: u32,
    /// From `pvecm nodes` or the corosync.conf nodelist.
    pub name: Option<String>,
    /// The runtime address from `pvecm status` (online nodes only).
    pub address: Option<String>,
    /// Runtime votes for online nodes, `quorum_votes` from corosync.conf for offline ones.
    pub votes: Option<u32>,
    /// Whether this is the node the output was taken on.
    pub local: bool,
    /// The QDevice column for this node (`A,V,NMW`, `NR`, ...), when shown.
    pub qdevice: Option<String>,
    /// Whether the node is in corosync's current membership; false for
    /// nodes only the nodelist names.
    pub online: bool,
}

/// The QDevice, when one is configured or registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QdeviceStatus {
    /// Always true: the QDevice is configured or registered.
    pub present: bool,
    /// The votes the QDevice has, from the membership table, else from
    /// corosync.conf; `None` when neither gives them.
    pub votes: Option<u32>,
    /// This node's QDevice column (`A,V,NMW`, `NR`, ...).
    pub state: Option<String>,
    /// Whether the QDevice casts its votes for this node.
    pub casting: Option<bool>,
}

/// Everything known about the cluster from this node's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// Whether the node is configured as a cluster member.
    pub in_cluster: bool,
    /// Whether corosync answered.
    pub corosync_running: bool,
    /// The cluster's name, from `pvecm status`, else from corosync.conf.
    pub cluster_name: Option<String>,
    /// `totem.config_version`, from `pvecm status`, else from corosync.conf.
    pub config_version: Option<i64>,
    /// `totem.transport` (such as `knet`), from `pvecm status`, else from
    /// corosync.conf.
    pub transport: Option<String>,
    /// `totem.secauth`, from `pvecm status`, else from corosync.conf.
    pub secure_auth: Option<bool>,
    /// Whether corosync runs and the partition this node is in has quorum.
    pub quorate: bool,
    /// This node, when the output names its node id.
    pub local_node: Option<LocalNode>,
    /// Votequorum's expected votes.
    pub expected_votes: Option<u32>,
    /// Votequorum's highest expected votes.
    pub highest_expected: Option<u32>,
    /// Votequorum's total votes present now.
    pub total_votes: Option<u32>,
    /// The votes needed to be quorate.
    pub quorum: Option<u32>,
    /// Votequorum's flags (`Quorate`, `Qdevice`, ...); empty when none were
    /// printed.
    pub flags: Vec<String>,
    /// Whether votequorum blocks activity (no quorum).
    pub activity_blocked: bool,
    /// The ring id as printed (`1/348` or `1.9e1`).
    pub ring_id: Option<String>,
    /// Online members and, when corosync.conf was given, its offline nodes; by node id.
    pub nodes: Vec<NodeStatus>,
    /// `nodes.len()`: configured nodes when corosync.conf was given, else the members seen.
    pub node_count: usize,
    /// How many of `nodes` are online.
    pub online_count: usize,
    /// The QDevice, when the membership, corosync.conf or the flags show one.
    pub qdevice: Option<QdeviceStatus>,
}

impl ClusterView {
    /// Merges what `pvecm status`, optionally `pvecm nodes`, and optionally
    /// `/etc/pve/corosync.conf` say. Names come from `pvecm nodes`, then from
    /// the nodelist; nodes in the nodelist but not in the membership are
    /// added as offline.
    pub fn from_parts(
        status: &StatusReport,
        nodes: Option<&NodesReport>,
        conf: Option<&CorosyncConf>,
    ) -> ClusterView {
        let in_cluster = status.state != NodeState::NotInCluster;
        let corosync_running = status.state == NodeState::Running;
        let quorum = status.quorum.as_ref();
        let vq = status.votequorum.as_ref();
        let conf = conf.filter(|_| in_cluster);
        let totem = Totem::of(status.cluster_info.as_ref(), conf);
        let sources = Sources {
            corosync_running,
            status_members: if corosync_running {
                status.membership.as_ref()
            } else {
                None
            },
            nodes,
            conf_nodes: conf.map(CorosyncConf::nodes).unwrap_or_default(),
        };

        let mut node_list = sources.node_list();
        let local_node = mark_local(quorum, &mut node_list, &sources);
        let flags = vq.and_then(|v| v.flags.clone()).unwrap_or_default();
        let quorate = corosync_running && quorate_of(quorum, vq, &flags);
        let qdevice = qdevice_status(&sources, conf, &node_list, &flags);

        let node_count = node_list.len();
        let online_count = node_list.iter().filter(|n| n.online).count();
        ClusterView {
            in_cluster,
            corosync_running,
            cluster_name: totem.cluster_name,
            config_version: totem.config_version,
            transport: totem.transport,
            secure_auth: totem.secure_auth,
            quorate,
            local_node,
            expected_votes: vq.and_then(|v| v.expected_votes),
            highest_expected: vq.and_then(|v| v.highest_expected),
            total_votes: vq.and_then(|v| v.total_votes),
            quorum: vq.and_then(|v| v.quorum),
            flags,
            activity_blocked: vq.and_then(|v| v.activity_blocked).unwrap_or(false),
            ring_id: quorum.and_then(|q| q.ring_id.clone()),
            nodes: node_list,
            node_count,
            online_count,
            qdevice,
        }
    }

    /// Names (or `nodeid N` when unnamed) of the nodes known to be offline.
    pub fn offline_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !n.online)
            .map(NodeStatus::label)
            .collect()
    }
}

impl NodeStatus {
    /// The name, else the address, else `nodeid N`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.address.clone())
            .unwrap_or_else(|| format!("nodeid {}", self.nodeid))
    }
}

/// The cluster's totem settings: PVE's "Cluster information" block, else
/// corosync.conf.
struct Totem {
    cluster_name: Option<String>,
    config_version: Option<i64>,
    transport: Option<String>,
    secure_auth: Option<bool>,
}

impl Totem {
    fn of(info: Option<&ClusterInfo>, conf: Option<&CorosyncConf>) -> Totem {
        let cluster_name = info
            .and_then(|i| i.name.clone())
            .or_else(|| conf.and_then(|c| c.cluster_name()).map(str::to_string));
        let config_version = info
            .and_then(|i| i.config_version)
            .filter(|v| *v >= 0)
            .or_else(|| {
                conf.and_then(|c| c.config_version())
                    .and_then(|v| i64::try_from(v).ok())
            });
        let transport = info
            .and_then(|i| i.transport.clone())
            .or_else(|| conf.and_then(|c| c.transport()).map(str::to_string));
        let secure_auth = info.and_then(|i| i.secure_auth).or_else(|| {
            conf.and_then(|c| c.totem_value("secauth"))
                .and_then(|v| match v {
                    "on" | "yes" | "1" => Some(true),
                    "off" | "no" | "0" => Some(false),
                    _ => None,
                })
        });
        Totem {
            cluster_name,
            config_version,
            transport,
            secure_auth,
        }
    }
}

/// Where the nodes come from: the memberships corosync printed and the
/// nodelist of corosync.conf.
struct Sources<'a> {
    corosync_running: bool,
    /// The membership of `pvecm status`, when corosync runs.
    status_members: Option<&'a Membership>,
    nodes: Option<&'a NodesReport>,
    conf_nodes: Vec<ConfNode>,
}

impl Sources<'_> {
    /// The name of node `id`: from `pvecm nodes`, else from the nodelist.
    fn name_of(&self, id: u32) -> Option<String> {
        let from_nodes = self
            .nodes
            .and_then(|n| n.membership.as_ref())
            .and_then(|m| m.members.iter().find(|r| r.nodeid == id))
            .and_then(|r| r.name.clone());
        from_nodes.or_else(|| {
            self.conf_nodes
                .iter()
                .find(|n| n.nodeid == Some(id))
                .and_then(|n| n.name.clone())
        })
    }

    /// The membership of `pvecm nodes`, when corosync runs.
    fn nodes_members(&self) -> Option<&Membership> {
        self.nodes
            .filter(|_| self.corosync_running)
            .and_then(|n| n.membership.as_ref())
    }

    /// The online members, then the nodelist's other nodes as offline; by
    /// node id.
    fn node_list(&self) -> Vec<NodeStatus> {
        let mut node_list: Vec<NodeStatus> = Vec::new();
        if let Some(m) = self.status_members {
            for row in &m.members {
                node_list.push(NodeStatus {
                    nodeid: row.nodeid,
                    name: self.name_of(row.nodeid),
                    address: row.name.clone(),
                    votes: row.votes,
                    local: row.local,
                    qdevice: row.qdevice.clone(),
                    online: true,
                });
            }
        } else if let Some(m) = self.nodes_members() {
            for row in &m.members {
                node_list.push(NodeStatus {
                    nodeid: row.nodeid,
                    name: row.name.clone(),
                    address: None,
                    votes: row.votes,
                    local: row.local,
                    qdevice: row.qdevice.clone(),
                    online: true,
                });
            }
        }
        for cn in &self.conf_nodes {
            let Some(id) = cn.nodeid else { continue };
            if id == 0 || node_list.iter().any(|n| n.nodeid == id) {
                continue;
            }
            node_list.push(NodeStatus {
                nodeid: id,
                name: cn.name.clone(),
                address: None,
                votes: Some(cn.votes()),
                local: false,
                qdevice: None,
                online: false,
            });
        }
        node_list.sort_by_key(|n| n.nodeid);
        node_list
    }
}

/// Marks this node in `node_list` and names it.
fn mark_local(
    quorum: Option<&QuorumInfo>,
    node_list: &mut [NodeStatus],
    sources: &Sources<'_>,
) -> Option<LocalNode> {
    let local_id = quorum
        .and_then(|q| q.node_id)
        .or_else(|| node_list.iter().find(|n| n.local).map(|n| n.nodeid));
    if let Some(id) = local_id {
        // `Node ID:` wins over a `(local)` mark of another row, so
        // that one node at most is local.
        for n in node_list.iter_mut() {
            n.local = n.nodeid == id && n.online;
        }
    }
    local_id.map(|id| LocalNode {
        name: node_list
            .iter()
            .find(|n| n.nodeid == id)
            .and_then(|n| n.name.clone())
            .or_else(|| sources.name_of(id)),
        nodeid: id,
    })
}

/// Quorate from `Quorate:`, else the `Quorate` flag, else `Activity
/// blocked` (the caller checks that corosync runs).
fn quorate_of(quorum: Option<&QuorumInfo>, vq: Option<&VotequorumInfo>, flags: &[String]) -> bool {
    match quorum.and_then(|q| q.quorate) {
        Some(q) => q,
        None => {
            if vq.is_some_and(|v| v.flags.is_some()) {
                flags.iter().any(|f| f == "Quorate")
            } else {
                vq.and_then(|v| v.activity_blocked) == Some(false)
            }
        }
    }
}

/// The QDevice, when the membership, corosync.conf or the flags show one.
fn qdevice_status(
    sources: &Sources<'_>,
    conf: Option<&CorosyncConf>,
    node_list: &[NodeStatus],
    flags: &[String],
) -> Option<QdeviceStatus> {
    let qdevice_row = sources
        .status_members
        .and_then(|m| m.qdevice.as_ref())
        .or_else(|| sources.nodes_members().and_then(|m| m.qdevice.as_ref()));
    let conf_device = conf.and_then(CorosyncConf::quorum_device);
    let local_qdevice_state = node_list
        .iter()
        .find(|n| n.local)
        .and_then(|n| n.qdevice.clone());
    let qdevice_flag = flags.iter().any(|f| f == "Qdevice");
    if qdevice_row.is_some() || conf_device.is_some() || qdevice_flag {
        Some(QdeviceStatus {
            present: true,
            votes: qdevice_row
                .map(|r| r.votes)
                .or_else(|| conf_device.as_ref().and_then(|d| d.votes)),
            casting: qdevice_row.map(|r| r.casting),
            state: local_qdevice_state,
        })
    } else {
        None
    }
}
