//! The plan for one cluster from every node's state, read before anything
//! is changed: the node table, the node that creates the cluster, the nodes
//! that join it, and every reason to stop the whole run.
//!
//! One refused or missing node stops the run for every node: a cluster half
//! formed around a node the operator did not mean to leave out is worse
//! than no change at all. Pure: the input is what `pve_cluster_status` read
//! on each node and what the inventory says.

mod args;
mod checks;
mod found;
mod input;
mod qdevice;
mod state;
mod table;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

pub use args::JoinArgs;
pub use input::{Input, JoinSettings, NameSource, NodeEntry, Play, Report, StatusResult};
pub use table::{HostsEntry, KnownHost, TableNode};

/// What the run is to do, or why it must not start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Some node refused or missing, or the input is wrong: change nothing.
    pub stop: bool,
    /// One line: what stopped the run, or what the run is to do.
    pub msg: String,
    /// Problems of the whole input (names, duplicates, settings, missing nodes).
    pub problems: Vec<String>,
    /// Hosts that cannot be part of the cluster, each with its reasons.
    pub refused: BTreeMap<String, Vec<String>>,
    /// For every host of the run, the message it fails with when the run stops.
    pub messages: BTreeMap<String, String>,
    /// The nodes, in the group's order.
    pub table: Vec<TableNode>,
    /// The same nodes by inventory host name.
    pub by_host: BTreeMap<String, TableNode>,
    /// The host that creates the cluster, or that the others join through.
    pub first_node: Option<String>,
    /// The first node has to create the cluster.
    pub create: bool,
    /// Hosts already in the cluster.
    pub members: Vec<String>,
    /// Hosts to join, one at a time, in the group's order: nodes in no
    /// cluster, and members whose join stopped before its end.
    pub joiners: Vec<String>,
    /// Joiners that were reinstalled under a member's name: the stale member
    /// is removed from the cluster right before each joins
    /// (`replace_reinstalled`).
    pub replaced: Vec<String>,
    /// The cluster's QDevice is removed before the first join and set up
    /// again after the last (`pve_cluster_qdevice`), as Proxmox VE's
    /// documentation says.
    pub remove_qdevice_first: bool,
    /// Hosts whose cluster file system waits for `/etc/hosts` to be fixed.
    pub deferred: Vec<String>,
    /// The options of `pve_cluster_join` for the first node (when it
    /// creates) and every joiner, by host; the password is not among them.
    pub join_args: BTreeMap<String, JoinArgs>,
    /// Every node was a healthy member when its state was read: quorate,
    /// with every node of the table online.
    pub healthy_at_start: bool,
    /// The entries of `/etc/hosts` every node gets (for `pve_hosts`).
    pub hosts_entries: Vec<HostsEntry>,
    /// The host keys every node pins (for `pve_ssh_trust`).
    pub known_hosts: Vec<KnownHost>,
    /// The host this plan was made on, to tell one plan for all from one
    /// per host (the `free` strategy runs a `run_once` task on every host).
    pub planned_on: String,
}

/// Makes the plan.
pub fn plan(input: &Input) -> Plan {
    let mut found = found::Found::default();
    checks::check_input(input, &mut found);
    let entries = checks::parse_entries(input, &mut found);
    let table = table::build(input, &entries, &mut found);
    checks::check_nodes(input, &table, &mut found);
    let state = state::cluster_state(input, &table, &mut found);
    checks::check_api_fingerprint(input, &state, &mut found);
    let remove_qdevice_first = qdevice::check(input, &state, table.len(), &mut found);
    let mut plan = finish(input, table, state, found);
    if remove_qdevice_first && !plan.stop {
        plan.remove_qdevice_first = true;
        plan.msg = format!("remove the QDevice; {}; set up the QDevice again", plan.msg);
    }
    plan
}

fn finish(
    input: &Input,
    table: Vec<TableNode>,
    state: state::ClusterState,
    found: found::Found,
) -> Plan {
    let stop = !found.problems.is_empty() || !found.refused.is_empty();
    let msg = if stop {
        checks::summary(&found)
    } else {
        state.describe(&input.cluster_name)
    };
    let messages = if stop {
        checks::messages(input, &found, &msg)
    } else {
        BTreeMap::new()
    };
    let join_args = args::join_args(input, &table, &state);
    let by_host = table.iter().map(|n| (n.host.clone(), n.clone())).collect();
    Plan {
        stop,
        msg,
        problems: found.problems,
        refused: found.refused,
        messages,
        hosts_entries: table::hosts_entries(&table),
        known_hosts: table::known_hosts(&table),
        table,
        by_host,
        first_node: state.first_node,
        create: state.create,
        members: state.members,
        joiners: state.joiners,
        replaced: state.replaced,
        remove_qdevice_first: false,
        deferred: state.deferred,
        join_args,
        healthy_at_start: state.healthy_at_start && !stop,
        planned_on: input.planned_on.clone(),
    }
}
