//! The QDevice and the group's size. Proxmox VE's documentation ("Corosync
//! External Vote Support", "Adding/Deleting Nodes After QDevice Setup"):
//! a QDevice is removed before nodes join or leave and set up again once
//! the node count is even; `pvecm qdevice setup` refuses an odd count
//! without `--force` ("Clusters with an odd node count are not officially
//! supported!").

use super::found::{report_of, Found};
use super::input::Input;
use super::state::ClusterState;

/// Checks the QDevice against the joins; returns whether the QDevice the
/// cluster has must be removed before the first join.
pub fn check(input: &Input, state: &ClusterState, nodes: usize, found: &mut Found) -> bool {
    if input.qdevice && nodes % 2 == 1 {
        found.problems.push(format!(
            "pve_cluster_qdevice is set, but the group has {nodes} nodes: Proxmox VE sets up a \
             QDevice for an even number of nodes (an odd cluster breaks ties itself, and \
             pvecm qdevice setup refuses: \"Clusters with an odd node count are not officially \
             supported!\"). Leave pve_cluster_qdevice empty, or make the group even"
        ));
    }
    let configured = state.members.iter().any(|host| {
        report_of(input, host)
            .is_some_and(|r| r.status.qdevice.as_ref().is_some_and(|q| !q.is_null()))
    });
    if !configured || state.joiners.is_empty() {
        return false;
    }
    if !input.qdevice {
        found.problems.push(format!(
            "the cluster has a QDevice, and {} would join it: Proxmox VE's documentation says to \
             remove the QDevice before nodes join and to set it up again afterwards. Set \
             pve_cluster_qdevice to the QNetd host's address to have the role do both, or remove \
             the QDevice first (pve_cluster_qdevice with state absent)",
            state.joiners.join(", ")
        ));
        return false;
    }
    true
}
