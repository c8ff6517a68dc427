//! `pvecm status` and `pvecm nodes` as parsed: the reports and their parts.

use serde::Serialize;

/// What the output says about this node's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// No `/etc/pve/corosync.conf`: a standalone node.
    NotInCluster,
    /// Configured as a cluster member, but corosync is not running (`Cannot initialize CMAP service`).
    CorosyncDown,
    /// corosync answered.
    Running,
}

/// PVE's "Cluster information" block (PVE ≥ 6.1), read from corosync.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// `Name:`; PVE prints `UNKOWN?` when the file has no cluster name.
    pub name: Option<String>,
    /// `Config Version:`; PVE prints -1 when the file has none.
    pub config_version: Option<i64>,
    /// `Transport:`, such as `knet`.
    pub transport: Option<String>,
    /// `Secure auth:` on/off.
    pub secure_auth: Option<bool>,
}

/// corosync's "Quorum information" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumInfo {
    /// `Date:`, the time of the report as corosync printed it.
    pub date: Option<String>,
    /// `Quorum provider:`, normally `corosync_votequorum`.
    pub provider: Option<String>,
    /// `Nodes:`, the members in the current view.
    pub nodes: Option<u32>,
    /// `Node ID:`, this node's id (hex or decimal in the text).
    pub node_id: Option<u32>,
    /// `Ring ID:` as printed (`1/348` or `1.9e1`).
    pub ring_id: Option<String>,
    /// `Quorate:` Yes or No.
    pub quorate: Option<bool>,
}

/// corosync's "Votequorum information" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VotequorumInfo {
    /// `Expected votes:`, the votes of all configured nodes and the QDevice.
    pub expected_votes: Option<u32>,
    /// `Highest expected:`, the highest expected votes any member reports.
    pub highest_expected: Option<u32>,
    /// `Total votes:`, the votes present now.
    pub total_votes: Option<u32>,
    /// `Quorum:`, the votes needed to be quorate.
    pub quorum: Option<u32>,
    /// `Quorum: N Activity blocked`.
    pub activity_blocked: Option<bool>,
    /// `Flags:` in printed order; `None` when the line is missing, empty when no flag is set.
    pub flags: Option<Vec<String>>,
}

/// One member row of the membership table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRow {
    /// The `Nodeid` column (hex or decimal in the text).
    pub nodeid: u32,
    /// `None` when corosync printed no votes column.
    pub votes: Option<u32>,
    /// The QDevice column (`A,V,NMW`, `NR`, ...) when a QDevice is registered.
    pub qdevice: Option<String>,
    /// The name column: an address for `pvecm status`, a node name for `pvecm nodes`.
    pub name: Option<String>,
    /// Whether the row carries the `(local)` mark: this node.
    pub local: bool,
}

/// The QDevice pseudo-row (node id 0) of the membership table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QdeviceRow {
    /// The votes the QDevice has, whether or not it casts them now.
    pub votes: u32,
    /// Whether it casts its votes for this node (no ` (votes N)` suffix).
    pub casting: bool,
    /// The name column, `Qdevice`.
    pub name: String,
}

/// corosync's "Membership information" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// The cluster nodes' rows, in printed order.
    pub members: Vec<MemberRow>,
    /// The QDevice's row, when the table has one.
    pub qdevice: Option<QdeviceRow>,
    /// Whether the table had the `Qdevice` column.
    pub qdevice_column: bool,
}

/// Parsed `pvecm status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// What the output says about this node's membership.
    pub state: NodeState,
    /// The "Cluster information" block; `None` when not printed.
    pub cluster_info: Option<ClusterInfo>,
    /// The "Quorum information" section; `None` when not printed.
    pub quorum: Option<QuorumInfo>,
    /// The "Votequorum information" section; `None` when not printed.
    pub votequorum: Option<VotequorumInfo>,
    /// The "Membership information" section; `None` when not printed.
    pub membership: Option<Membership>,
    /// Stderr lines that did not change the outcome (e.g. a warning next to a full status).
    pub warnings: Vec<String>,
}

/// Parsed `pvecm nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodesReport {
    /// What the output says about this node's membership.
    pub state: NodeState,
    /// The membership table; `None` when not printed.
    pub membership: Option<Membership>,
    /// Stderr lines that did not change the outcome.
    pub warnings: Vec<String>,
}
