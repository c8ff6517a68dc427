//! What the planner reads: the inventory's view of the group, the role's
//! settings, and each node's `pve_cluster_status` result.

use serde::Deserialize;
use serde_json::Value;

use crate::node::NodeInfo;
use crate::pve::join::ConfSummary;

/// Where a node without an entry in `nodes` takes its name from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NameSource {
    /// The inventory host name.
    #[default]
    InventoryHostname,
    /// The node's own host name.
    Hostname,
}

/// How the nodes will join.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoinSettings {
    /// Over SSH (`pvecm add --use_ssh`).
    pub use_ssh: bool,
    /// A root password is given (API joins).
    pub password_given: bool,
    /// The peer's certificate fingerprint, empty when none is given.
    pub fingerprint: String,
}

/// The play as Ansible sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Play {
    /// Hosts still running (`ansible_play_hosts`).
    pub hosts: Vec<String>,
    /// Hosts of the play (`ansible_play_hosts_all`).
    pub hosts_all: Vec<String>,
    /// Hosts of the current batch (`ansible_play_batch`).
    pub batch: Vec<String>,
}

/// Everything the planner reads.
#[derive(Clone, Debug, Default)]
pub struct Input {
    /// The cluster to form.
    pub cluster_name: String,
    /// The inventory group, for messages.
    pub group: String,
    /// The group's hosts, in order.
    pub hosts: Vec<String>,
    /// One report per host of `hosts`, `None` where the host sent none
    /// (unreachable, or left out of the run).
    pub reports: Vec<Option<Report>>,
    /// The play.
    pub play: Play,
    /// The `nodes` entries as given (`pve_cluster_nodes`).
    pub nodes: Vec<Value>,
    /// Where derived nodes take their name from.
    pub name_source: NameSource,
    /// Domain of derived fully qualified names; empty for none.
    pub domain: String,
    /// `/etc/hosts` is managed, so a node waiting for it can be fixed.
    pub manage_hosts: bool,
    /// SSH trust is managed, so every node needs a host key to pin.
    pub manage_ssh: bool,
    /// Type of root's SSH key the nodes trust each other by.
    pub ssh_key_type: String,
    /// How the nodes will join.
    pub join: JoinSettings,
    /// A member the cluster lists that was reinstalled is removed from the
    /// cluster and joins again (`pve_cluster_replace_reinstalled`).
    pub replace_reinstalled: bool,
    /// The role sets up a QDevice after the joins (`pve_cluster_qdevice`).
    pub qdevice: bool,
    /// The host this plan is made on.
    pub planned_on: String,
}

/// What one host sent: its view of the settings and its state.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Its inventory host name.
    pub host: String,
    /// Its `ansible_host`, when set.
    pub ansible_host: Option<Value>,
    /// The cluster name as this host's variables give it.
    pub cluster_name: Option<String>,
    /// The group as this host's variables give it.
    pub group: Option<String>,
    /// Its `pve_cluster_status` result (with `node_info`).
    pub status: StatusResult,
}

/// The part of a `pve_cluster_status` result the planner reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusResult {
    /// The read failed. A role registers the result with `failed_when:
    /// false`, which sets this to false; [`StatusResult::unread`] also
    /// looks at what a successful read always has.
    pub failed: bool,
    /// Its message.
    pub msg: Option<String>,
    /// Its stable reason word.
    pub reason: Option<String>,
    /// In a cluster; absent when the state could not be read.
    pub in_cluster: Option<bool>,
    /// The cluster's name.
    pub cluster_name: Option<String>,
    /// Corosync runs.
    pub corosync_running: bool,
    /// The cluster is quorate.
    pub quorate: bool,
    /// The cluster's nodes.
    pub nodes: Vec<MemberReport>,
    /// Whether the node finished its join.
    pub join_complete: Option<bool>,
    /// The node's own corosync config.
    pub local_config: Option<ConfSummary>,
    /// `/etc/corosync/authkey` exists.
    pub authkey: bool,
    /// Guests in `/etc/pve/nodes`.
    pub guests: Vec<String>,
    /// The node's identity.
    pub node: Option<NodeInfo>,
    /// The RSA host key the cluster has on record for each member.
    pub member_host_keys: std::collections::BTreeMap<String, String>,
    /// The QDevice, when the cluster has one configured.
    pub qdevice: Option<Value>,
}

impl StatusResult {
    /// The state could not be read.
    pub fn unread(&self) -> bool {
        self.failed || self.in_cluster.is_none()
    }
}

/// One node of a cluster as a member sees it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemberReport {
    /// Its name.
    pub name: Option<String>,
    /// Online now.
    pub online: bool,
}

/// One entry of `nodes`, read leniently (the role's argument spec checked
/// the shapes; values may still be numbers given as text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeEntry {
    /// Position in the list, for messages.
    pub index: usize,
    /// `name`, else `short_name`.
    pub name: Option<String>,
    /// `short_name`, as given.
    pub short_name: Option<String>,
    /// `fqdn`.
    pub fqdn: Option<String>,
    /// `ip`.
    pub ip: Option<String>,
    /// `host`.
    pub host: Option<String>,
    /// `aliases`.
    pub aliases: Vec<String>,
    /// `links`, else one link on `corosync_ip`, else none (the ip).
    pub links: Vec<(String, Option<u8>)>,
    /// `nodeid`.
    pub nodeid: Option<u32>,
    /// `votes`.
    pub votes: Option<u32>,
}

impl NodeEntry {
    /// Whether this entry describes inventory host `host`.
    pub fn matches(&self, host: &str) -> bool {
        [&self.host, &self.name, &self.short_name, &self.fqdn]
            .iter()
            .any(|v| v.as_deref() == Some(host))
    }
}
