//! The options of the create and of each join, as `pve_cluster_join` takes
//! them, from the node table and the cluster's state.

use serde::Serialize;

use super::input::Input;
use super::state::ClusterState;
use super::table::{LinkOut, TableNode};

/// The options of one create or join, as `pve_cluster_join` takes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinArgs {
    /// The member to join through; `None` creates the cluster.
    pub peer: Option<String>,
    /// The node's links.
    pub links: Vec<LinkOut>,
    /// Its node id, when given.
    pub nodeid: Option<u32>,
    /// Its votes, when given.
    pub votes: Option<u32>,
    /// Join over SSH; `None` for the create.
    pub use_ssh: Option<bool>,
    /// The join goes through the API and needs the password and the
    /// peer's certificate fingerprint (read from the peer when it joins).
    pub api: bool,
}

/// The create's and each join's options.
pub fn join_args(
    input: &Input,
    table: &[TableNode],
    state: &ClusterState,
) -> std::collections::BTreeMap<String, JoinArgs> {
    let mut out = std::collections::BTreeMap::new();
    let Some(first) = state
        .first_node
        .as_ref()
        .and_then(|f| table.iter().find(|n| &n.host == f))
    else {
        return out;
    };
    let args = |node: &TableNode, peer: Option<&TableNode>| {
        let api = peer.is_some() && !input.join.use_ssh;
        JoinArgs {
            peer: peer.map(|p| p.ip.clone()),
            links: node.links.clone(),
            nodeid: node.nodeid,
            votes: node.votes,
            use_ssh: peer.map(|_| input.join.use_ssh),
            api,
        }
    };
    if state.create {
        out.insert(first.host.clone(), args(first, None));
    }
    for host in &state.joiners {
        if let Some(node) = table.iter().find(|n| &n.host == host) {
            out.insert(host.clone(), args(node, Some(first)));
        }
    }
    out
}
