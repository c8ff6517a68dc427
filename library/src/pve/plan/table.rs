//! The node table: one row per host of the group, from its entry in
//! `nodes` or derived from the inventory and the node's own identity.

use std::net::IpAddr;

use serde::Serialize;

use super::found::Found;
use super::input::{Input, NameSource, NodeEntry, Report};

/// One corosync link of a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkOut {
    /// The node's address on the link.
    pub address: String,
    /// knet priority.
    pub priority: Option<u8>,
}

/// One node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableNode {
    /// Inventory host name.
    pub host: String,
    /// Node name: the node's host name.
    pub name: String,
    /// Fully qualified name, when known.
    pub fqdn: Option<String>,
    /// Address in `/etc/hosts`; other nodes join through the first node's.
    pub ip: String,
    /// Further names in `/etc/hosts`.
    pub aliases: Vec<String>,
    /// Corosync links, link0 first.
    pub links: Vec<LinkOut>,
    /// Corosync node id, when given.
    pub nodeid: Option<u32>,
    /// Quorum votes, when given.
    pub votes: Option<u32>,
    /// Root's public key: of the wanted type when the node has one, else
    /// the key it has (a Proxmox VE node has `/root/.ssh/id_rsa` from its
    /// installation, which PVE's own tools use); `None` when it has none.
    pub root_key: Option<String>,
    /// The type of that key, or the wanted type when root has none yet
    /// (`pve_ssh_trust`'s `key_type`).
    pub root_key_type: String,
    /// The node's SSH host key to pin.
    pub host_key: Option<String>,
}

/// One line of `/etc/hosts`, as `pve_hosts` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostsEntry {
    /// Address.
    pub ip: String,
    /// Node name.
    pub name: String,
    /// Fully qualified name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Further names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// One host key to pin, as `pve_ssh_trust` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KnownHost {
    /// Name, fully qualified name and address.
    pub names: Vec<String>,
    /// The key.
    pub key: String,
}

/// The table, in the group's order; hosts that cannot be described are
/// refused in `found` and left out.
pub fn build(input: &Input, entries: &[NodeEntry], found: &mut Found) -> Vec<TableNode> {
    let mut table = Vec::new();
    for (host, report) in input.hosts.iter().zip(&input.reports) {
        let Some(report) = report else { continue };
        let entry = entries.iter().find(|e| e.matches(host));
        if !input.nodes.is_empty() && entry.is_none() {
            found.refuse(
                host,
                format!(
                    "pve_cluster_nodes has no entry for {host}: add one whose name, fqdn or host is \
                     '{host}', or take the host out of the group '{}'",
                    input.group
                ),
            );
            continue;
        }
        match describe(input, host, report, entry) {
            Ok(node) => table.push(node),
            Err(problem) => found.refuse(host, problem),
        }
    }
    table
}

fn describe(
    input: &Input,
    host: &str,
    report: &Report,
    entry: Option<&NodeEntry>,
) -> Result<TableNode, String> {
    let info = report.status.node.clone().unwrap_or_default();
    let (name, fqdn, ip) = match entry {
        Some(e) => (
            e.name.clone().unwrap_or_default(),
            e.fqdn.clone(),
            e.ip.clone().unwrap_or_default(),
        ),
        None => {
            let name = match input.name_source {
                NameSource::InventoryHostname => host.to_string(),
                NameSource::Hostname => info.hostname.clone().unwrap_or_default(),
            };
            let fqdn = (!input.domain.is_empty()).then(|| format!("{name}.{}", input.domain));
            (name, fqdn, derived_ip(report, &info))
        }
    };
    if name.is_empty() {
        return Err(format!(
            "{host}: no node name: give 'name' in its pve_cluster_nodes entry"
        ));
    }
    if ip.is_empty() {
        return Err(format!(
            "{host}: no address: set ansible_host to the node's address, give 'ip' in \
             pve_cluster_nodes, or give the node a default route"
        ));
    }
    // Without a given fqdn, the one the node has (the installer's 127.0.1.1
    // line names it): it must leave loopback with the node name.
    let fqdn = fqdn.or_else(|| {
        info.fqdn.clone().filter(|f| {
            f.to_ascii_lowercase()
                .starts_with(&format!("{}.", name.to_ascii_lowercase()))
        })
    });
    let links = match entry.map(|e| e.links.clone()).filter(|l| !l.is_empty()) {
        Some(links) => links,
        None => vec![(ip.clone(), None)],
    };
    // A node keeps the key root has: a second key beside PVE's id_rsa would
    // be one more thing for PVE's key merging to miss.
    let root_key = info
        .root_ssh_keys
        .get_key_value(&input.ssh_key_type)
        .or_else(|| {
            crate::node::SSH_KEY_TYPES
                .iter()
                .find_map(|t| info.root_ssh_keys.get_key_value(*t))
        });
    Ok(TableNode {
        host: host.to_string(),
        name,
        fqdn,
        ip,
        aliases: entry.map(|e| e.aliases.clone()).unwrap_or_default(),
        links: links
            .into_iter()
            .map(|(address, priority)| LinkOut { address, priority })
            .collect(),
        nodeid: entry.and_then(|e| e.nodeid),
        votes: entry.and_then(|e| e.votes),
        root_key: root_key.map(|(_, key)| key.clone()),
        root_key_type: root_key
            .map_or_else(|| input.ssh_key_type.clone(), |(kind, _)| kind.clone()),
        host_key: info.ssh_host_key.clone(),
    })
}

/// `ansible_host` when it is an address, else the source of the default
/// route, as the role has always derived it.
fn derived_ip(report: &Report, info: &crate::node::NodeInfo) -> String {
    let given = report
        .ansible_host
        .as_ref()
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.trim().to_string()),
            _ => None,
        })
        .filter(|s| s.parse::<IpAddr>().is_ok());
    given
        .or_else(|| info.default_ipv4.clone())
        .unwrap_or_default()
}

/// `/etc/hosts` lines for every node.
pub fn hosts_entries(table: &[TableNode]) -> Vec<HostsEntry> {
    table
        .iter()
        .map(|n| HostsEntry {
            ip: n.ip.clone(),
            name: n.name.clone(),
            fqdn: n.fqdn.clone(),
            aliases: n.aliases.clone(),
        })
        .collect()
}

/// Every node's host key, under its name, fully qualified name and address.
pub fn known_hosts(table: &[TableNode]) -> Vec<KnownHost> {
    table
        .iter()
        .filter_map(|n| {
            let key = n.host_key.clone()?;
            let mut names = vec![n.name.clone()];
            names.extend(n.fqdn.clone());
            names.push(n.ip.clone());
            Some(KnownHost { names, key })
        })
        .collect()
}
