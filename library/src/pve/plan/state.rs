//! Where each node stands, and what that makes of the run: the members,
//! the first node, the joiners, and the nodes a cluster cannot take.

use super::found::{report_of, Found};
use super::input::{Input, StatusResult};
use super::table::TableNode;

/// Where one node stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Standing {
    /// In no cluster.
    Standalone,
    /// A member of the target cluster; `finished` its join.
    Member { finished: bool },
    /// Cannot take part; the reason is recorded.
    Refused,
}

/// The cluster as the nodes see it, and what the run is to do.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// The host that creates the cluster or that the others join through.
    pub first_node: Option<String>,
    /// The first node creates the cluster.
    pub create: bool,
    /// Members of the cluster.
    pub members: Vec<String>,
    /// Nodes to join, in order.
    pub joiners: Vec<String>,
    /// Joiners that replace a reinstalled member of the same name: the
    /// stale member is removed from the cluster first.
    pub replaced: Vec<String>,
    /// Nodes whose pmxcfs waits for `/etc/hosts`.
    pub deferred: Vec<String>,
    /// Every node a healthy member, with every node of the table online.
    pub healthy_at_start: bool,
}

impl ClusterState {
    /// What the run is to do, in one line.
    pub fn describe(&self, cluster: &str) -> String {
        let first = self.first_node.as_deref().unwrap_or("?");
        let mut parts = Vec::new();
        if self.create {
            parts.push(format!("create cluster '{cluster}' on {first}"));
        }
        if !self.joiners.is_empty() {
            parts.push(format!(
                "join {} through {first}, one at a time",
                self.joiners.join(", ")
            ));
        }
        if parts.is_empty() {
            format!(
                "every node is a member of cluster '{cluster}' ({})",
                self.members.join(", ")
            )
        } else {
            parts.join("; ")
        }
    }
}

fn other_cluster(host: &str, cluster: &str, other: &str, target: &str, group: &str) -> String {
    format!(
        "{host} is a member of cluster '{other}', not '{target}' ({cluster}). A node belongs to one \
         cluster only and the role changes nothing on it: take it out of the group '{group}', or \
         remove it from '{other}' first (pvecm delnode on that cluster, then separate or reinstall \
         the node), or set pve_cluster_name if '{other}' is the cluster you meant"
    )
}

/// Where `node` stands, from its report; refusals go to `found`.
fn standing(
    input: &Input,
    node: &TableNode,
    s: &StatusResult,
    found: &mut Found,
) -> (Standing, bool) {
    let host = node.host.as_str();
    let target = input.cluster_name.as_str();
    let group = input.group.as_str();
    let deferred = s.unread() && s.reason.as_deref() == Some("name_not_resolvable");
    if s.unread() && !(deferred && input.manage_hosts) {
        found.refuse(host, unread_reason(host, s));
        return (Standing::Refused, false);
    }
    if deferred {
        // pmxcfs waits for /etc/hosts; the node's own corosync config
        // still tells whether it is in a cluster.
        return (local_standing(input, node, s, found), true);
    }
    if s.in_cluster != Some(true) {
        return (Standing::Standalone, false);
    }
    let name = s.cluster_name.clone().unwrap_or_else(|| "(unnamed)".into());
    if name != target {
        found.refuse(
            host,
            other_cluster(host, "as its pvecm status says", &name, target, group),
        );
        return (Standing::Refused, false);
    }
    if !s.corosync_running {
        found.refuse(host, format!(
            "{host} is configured as a member of cluster '{target}' but corosync is not running on it: \
             start corosync ('systemctl start corosync'; if it does not stay up, read 'journalctl -u \
             corosync'), then run again"
        ));
        return (Standing::Refused, false);
    }
    (
        Standing::Member {
            finished: s.join_complete != Some(false),
        },
        false,
    )
}

/// Why a node whose cluster state could not be read is refused.
fn unread_reason(host: &str, s: &StatusResult) -> String {
    let msg = s.msg.clone().unwrap_or_else(|| "no result".to_string());
    match s.reason.as_deref() {
        Some("name_not_resolvable") => format!(
            "{host}: its cluster state cannot be read: {msg}. pve_cluster_manage_hosts is false, \
             so the role does not fix /etc/hosts: fix it, or let the role manage it"
        ),
        _ => format!(
            "{host}: cannot read the cluster state: {msg}. The role needs Proxmox VE nodes with \
             pvecm installed and pve-cluster (pmxcfs) running"
        ),
    }
}

/// Where a node whose pmxcfs waits for `/etc/hosts` stands, from its own
/// corosync config; refusals go to `found`.
fn local_standing(
    input: &Input,
    node: &TableNode,
    s: &StatusResult,
    found: &mut Found,
) -> Standing {
    let host = node.host.as_str();
    let target = input.cluster_name.as_str();
    match &s.local_config {
        None => Standing::Standalone,
        Some(conf)
            if conf.cluster_name.as_deref() == Some(target) && conf.nodes.contains(&node.name) =>
        {
            Standing::Member { finished: true }
        }
        Some(conf) => {
            let other = conf
                .cluster_name
                .clone()
                .unwrap_or_else(|| "(unnamed)".into());
            let what = "read from its /etc/corosync/corosync.conf";
            if other == target {
                found.refuse(host, format!(
                    "{host}: its /etc/corosync/corosync.conf is for cluster '{target}' but does not list \
                     it: a join that stopped halfway. Separate the node ('Separate a node without \
                     reinstalling' in the Proxmox VE admin guide), then run again"
                ));
            } else {
                found.refuse(
                    host,
                    other_cluster(host, what, &other, target, input.group.as_str()),
                );
            }
            Standing::Refused
        }
    }
}

/// Decides the first node, the joiners and the health at the start.
pub fn cluster_state(input: &Input, table: &[TableNode], found: &mut Found) -> ClusterState {
    let mut state = ClusterState::default();
    let mut standings = Vec::new();
    for node in table {
        let Some(report) = report_of(input, &node.host) else {
            continue;
        };
        let (standing, deferred) = standing(input, node, &report.status, found);
        if deferred {
            state.deferred.push(node.host.clone());
        }
        if matches!(standing, Standing::Member { .. }) {
            state.members.push(node.host.clone());
        }
        standings.push((node, &report.status, standing, deferred));
    }
    let quorate_member = standings
        .iter()
        .find(|(_, s, st, d)| matches!(st, Standing::Member { .. }) && !d && s.quorate);
    let first = quorate_member
        .or_else(|| {
            standings
                .iter()
                .find(|(_, _, st, _)| matches!(st, Standing::Member { .. }))
        })
        .map(|(n, ..)| n.host.clone())
        .or_else(|| table.first().map(|n| n.host.clone()));
    state.create = state.members.is_empty() && first.is_some();
    check_strangers(input, &standings, first.as_deref(), found);
    for (node, s, standing, _) in &standings {
        let joins = match standing {
            Standing::Standalone => Some(&node.host) != first.as_ref(),
            Standing::Member { finished } => !finished,
            Standing::Refused => false,
        };
        if joins {
            if *standing == Standing::Standalone {
                check_joiner(node, s, found);
                if reinstalled(input, &standings, first.as_deref(), node, s, found) {
                    state.replaced.push(node.host.clone());
                }
            }
            state.joiners.push(node.host.clone());
        } else if *standing == Standing::Standalone && s.local_config.is_some() {
            // `pvecm create` reuses an authkey, but not an old cluster's config.
            found.refuse(&node.host, format!(
                "{} is in no cluster but has an old cluster's /etc/corosync/corosync.conf: separate it as \
                 described under 'Separate a node without reinstalling' in the Proxmox VE admin guide, \
                 then run again",
                node.host
            ));
        }
    }
    state.healthy_at_start = !table.is_empty()
        && standings.len() == table.len()
        && standings
            .iter()
            .all(|(_, s, st, d)| healthy(table, s, st, *d));
    state.first_node = first;
    state
}

/// Members the first node's cluster does not list belong to another
/// cluster of the same name (a reinstalled node clustered on its own).
fn check_strangers(
    input: &Input,
    standings: &[(&TableNode, &StatusResult, Standing, bool)],
    first: Option<&str>,
    found: &mut Found,
) {
    let Some((_, first_status, ..)) = standings
        .iter()
        .find(|(n, ..)| Some(n.host.as_str()) == first)
    else {
        return;
    };
    let known: Vec<String> = first_status
        .nodes
        .iter()
        .filter_map(|n| n.name.clone())
        .collect();
    if known.is_empty() {
        return;
    }
    let strangers: Vec<&str> = standings
        .iter()
        .filter(|(n, _, st, _)| matches!(st, Standing::Member { .. }) && !known.contains(&n.name))
        .map(|(n, ..)| n.host.as_str())
        .collect();
    if !strangers.is_empty() {
        found.problems.push(format!(
            "{} report being in cluster '{}' but {}'s cluster '{}' does not list them (it has {}): these \
             are two different clusters with the same name. Decide which one to keep and separate the \
             nodes of the other before running again; the role will not merge clusters",
            strangers.join(", "),
            input.cluster_name,
            first.unwrap_or("?"),
            input.cluster_name,
            known.join(", ")
        ));
    }
}

/// A node in no cluster that the cluster lists with another host key than
/// the node has: it was reinstalled under the same name. Without
/// `replace_reinstalled` it is refused (a join would silently take over the
/// member's identity); with it, it is replaced. A listed node with the key
/// on record (or none on record) is a join that stopped after the cluster
/// added it, and simply joins again.
fn reinstalled(
    input: &Input,
    standings: &[(&TableNode, &StatusResult, Standing, bool)],
    first: Option<&str>,
    node: &TableNode,
    s: &StatusResult,
    found: &mut Found,
) -> bool {
    let Some((_, first_status, ..)) = standings
        .iter()
        .find(|(n, ..)| Some(n.host.as_str()) == first)
    else {
        return false;
    };
    let Some(recorded) = first_status.member_host_keys.get(&node.name) else {
        return false;
    };
    let current = s
        .node
        .as_ref()
        .and_then(|i| i.ssh_host_keys.get("rsa"))
        .map(|k| k.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
    if current.as_deref() == Some(recorded.as_str()) {
        return false;
    }
    if input.replace_reinstalled {
        return true;
    }
    let host = &node.host;
    let first = first.unwrap_or("?");
    found.refuse(host, format!(
        "{host} is listed as a member of cluster '{}' (offline), but is itself in no cluster and has \
         another SSH host key than the cluster has on record for {}: it was reinstalled. Set \
         pve_cluster_replace_reinstalled: true to remove the stale member from the cluster and join \
         the new node in its place (the guests' configurations in /etc/pve/nodes/{} stay), or remove \
         it yourself ('pvecm delnode {}' on {first}), then run again",
        input.cluster_name, node.name, node.name, node.name
    ));
    false
}

/// What PVE's join refuses, found before anything is changed.
fn check_joiner(node: &TableNode, s: &StatusResult, found: &mut Found) {
    let host = &node.host;
    if !s.guests.is_empty() {
        found.refuse(host, format!(
            "{host}: /etc/pve already holds guests ({}): Proxmox VE refuses to join a node with guests, \
             because joining replaces /etc/pve with the cluster's; back them up (vzdump) and remove them, \
             then restore them after the join",
            s.guests.join(", ")
        ));
    }
    if s.local_config.is_some() || s.authkey {
        found.refuse(
            host,
            format!(
            "{host} is in no cluster but has leftovers of one ({}): separate it as described under \
             'Separate a node without reinstalling' in the Proxmox VE admin guide, then run again",
            [
                s.local_config.as_ref().map(|_| "/etc/corosync/corosync.conf"),
                s.authkey.then_some("/etc/corosync/authkey"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        ),
        );
    }
}

fn healthy(table: &[TableNode], s: &StatusResult, standing: &Standing, deferred: bool) -> bool {
    if deferred || *standing != (Standing::Member { finished: true }) || !s.quorate {
        return false;
    }
    let online: Vec<&str> = s
        .nodes
        .iter()
        .filter(|n| n.online)
        .filter_map(|n| n.name.as_deref())
        .collect();
    s.nodes.len() == table.len() && table.iter().all(|n| online.contains(&n.name.as_str()))
}
