//! The checks: each refuses a host or finds a problem of the whole input.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use super::found::{report_of, Found};
use super::input::{Input, NodeEntry};
use super::state::ClusterState;
use super::table::TableNode;
use crate::pve::join;
use crate::pve::names::{validate_cluster_name, validate_node_name};

fn list(items: &[String]) -> String {
    items.join(", ")
}

/// The settings and the run itself: name, group, hosts missing from the
/// run, hosts that are no part of the group, join settings.
pub fn check_input(input: &Input, found: &mut Found) {
    if let Err(e) = validate_cluster_name(&input.cluster_name) {
        found.problems.push(format!("pve_cluster_name: {e}"));
    }
    if input.hosts.is_empty() {
        found.problems.push(format!(
            "the inventory group '{}' (pve_cluster_group) has no hosts: put the cluster's nodes in it",
            input.group
        ));
    }
    check_agreement(input, found);
    check_missing(input, found);
    for host in &input.play.batch {
        if !input.hosts.contains(host) {
            found.refuse(
                host,
                format!(
                    "{host} is not in the group '{}' (pve_cluster_group), whose hosts form the \
                     cluster: run the role on that group only",
                    input.group
                ),
            );
        }
    }
    check_join_settings(input, found);
}

/// Every host must see the same cluster name and group.
fn check_agreement(input: &Input, found: &mut Found) {
    let mut views: Vec<String> = Vec::new();
    for report in input.reports.iter().flatten() {
        let name = report
            .cluster_name
            .as_deref()
            .unwrap_or(&input.cluster_name);
        let group = report.group.as_deref().unwrap_or(&input.group);
        if name != input.cluster_name || group != input.group {
            views.push(format!(
                "{} has pve_cluster_name '{name}' and pve_cluster_group '{group}'",
                report.host
            ));
        }
    }
    if !views.is_empty() {
        found.problems.push(format!(
            "the hosts do not agree on the cluster: {} (the first has '{}' and '{}'): set \
             pve_cluster_name and pve_cluster_group once for the whole group",
            views.join("; "),
            input.cluster_name,
            input.group
        ));
    }
}

/// Every host of the group must be in the run, reachable, with its report.
fn check_missing(input: &Input, found: &mut Found) {
    let mut missing = Vec::new();
    for (host, report) in input.hosts.iter().zip(&input.reports) {
        // `ansible_play_hosts` spans every batch but loses failed and
        // unreachable hosts; `ansible_play_batch` is the current batch.
        let why = if !input.play.hosts_all.contains(host) {
            "not in this run (--limit, or the play's hosts leave it out)"
        } else if !input.play.hosts.contains(host)
            || (input.play.batch.contains(host) && report.is_none())
        {
            "unreachable, or failed before the checks ended"
        } else if !input.play.batch.contains(host) {
            "in another batch of the play (serial)"
        } else {
            continue;
        };
        missing.push(format!("{host} ({why})"));
    }
    if !missing.is_empty() {
        found.problems.push(format!(
            "every node of the group '{}' is needed at once (its keys, addresses and cluster \
             state), and {} {}: make every node reachable, and run the play on the whole group \
             (no --limit to part of it, no serial), or take the node out of the group",
            input.group,
            list(&missing),
            if missing.len() == 1 {
                "is missing"
            } else {
                "are missing"
            }
        ));
    }
}

fn check_join_settings(input: &Input, found: &mut Found) {
    let j = &input.join;
    if !j.fingerprint.is_empty() {
        if let Err(e) = join::check_fingerprint(&j.fingerprint) {
            found
                .problems
                .push(format!("pve_cluster_join_fingerprint: {e}"));
        }
    }
    if j.use_ssh {
        return;
    }
    if !j.password_given {
        found.problems.push(
            "pve_cluster_join_use_ssh is false, so the nodes join through the API, which needs \
             pve_cluster_join_password (root@pam's password on the first node; keep it in a vault)"
                .to_string(),
        );
    }
}

/// An API join checks the first node's certificate against the given
/// fingerprint (`pvecm add --fingerprint`). None given: the role reads it
/// from the first node right before the joins. One given: it must be the
/// first node's, when that node could tell it at the start.
pub fn check_api_fingerprint(input: &Input, state: &ClusterState, found: &mut Found) {
    let j = &input.join;
    if j.use_ssh || j.fingerprint.is_empty() || state.joiners.is_empty() {
        return;
    }
    let Some(first) = state.first_node.as_deref() else {
        return;
    };
    let info = report_of(input, first).and_then(|r| r.status.node.as_ref());
    let Some((path, actual)) = info.and_then(|i| {
        i.api_certificate
            .as_deref()
            .zip(i.api_fingerprint.as_deref())
    }) else {
        return;
    };
    if !actual.eq_ignore_ascii_case(&j.fingerprint) {
        found.problems.push(format!(
            "pve_cluster_join_fingerprint is {}, but the API certificate of the first node {first} \
             ({path}, the one pveproxy serves) has the fingerprint {actual}, so pvecm add would \
             refuse every join: give that fingerprint, or leave pve_cluster_join_fingerprint empty \
             and the role reads it from {first}",
            j.fingerprint
        ));
    }
}

/// Reads the `nodes` entries; a malformed entry is a problem.
pub fn parse_entries(input: &Input, found: &mut Found) -> Vec<NodeEntry> {
    let mut entries = Vec::new();
    for (index, raw) in input.nodes.iter().enumerate() {
        match parse_entry(index, raw) {
            Ok(entry) => entries.push(entry),
            Err(e) => found
                .problems
                .push(format!("pve_cluster_nodes[{index}]: {e}")),
        }
    }
    check_entries(input, &entries, found);
    entries
}

fn text(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("{key} must be a string, not {other}")),
    }
}

fn number<T: TryFrom<u64>>(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    max: u64,
) -> Result<Option<T>, String> {
    let Some(value) = text(obj, key)? else {
        return Ok(None);
    };
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| format!("{key} is '{value}'; it must be a whole number from 0 to {max}"))
}

fn parse_entry(index: usize, raw: &Value) -> Result<NodeEntry, String> {
    let Value::Object(obj) = raw else {
        return Err(format!("each entry must be a dictionary, not {raw}"));
    };
    let short_name = text(obj, "short_name")?;
    let name = text(obj, "name")?.or_else(|| short_name.clone());
    let mut links = Vec::new();
    match obj.get("links") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Value::Object(l) = item else {
                    return Err(format!("links: each link must be a dictionary, not {item}"));
                };
                let address = text(l, "address")?.ok_or("links: each link needs an address")?;
                links.push((address, number::<u8>(l, "priority", 255)?));
            }
        }
        Some(other) => return Err(format!("links must be a list, not {other}")),
    }
    if links.is_empty() {
        if let Some(address) = text(obj, "corosync_ip")? {
            links.push((address, None));
        }
    }
    let aliases = match obj.get("aliases") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or(format!("aliases: {v} is not a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("aliases must be a list, not {other}")),
    };
    Ok(NodeEntry {
        index,
        name,
        short_name,
        fqdn: text(obj, "fqdn")?,
        ip: text(obj, "ip")?,
        host: text(obj, "host")?,
        aliases,
        links,
        nodeid: number::<u32>(obj, "nodeid", u64::from(u32::MAX))?.filter(|n| *n > 0),
        votes: number::<u32>(obj, "votes", 1_000_000)?,
    })
}

/// Names, addresses and node ids used twice, and entries of no host.
fn check_entries(input: &Input, entries: &[NodeEntry], found: &mut Found) {
    let mut seen: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for e in entries {
        let mut keys = Vec::new();
        keys.extend(e.name.iter().map(|n| format!("name '{n}'")));
        keys.extend(e.ip.iter().map(|ip| format!("address '{}'", canonical(ip))));
        let ip = e.ip.as_deref().map(canonical);
        for (address, _) in &e.links {
            if Some(canonical(address)) != ip {
                keys.push(format!("address '{}'", canonical(address)));
            }
        }
        keys.extend(e.nodeid.iter().map(|id| format!("nodeid {id}")));
        keys.sort();
        keys.dedup();
        for key in keys {
            seen.entry(key).or_default().insert(e.index);
        }
    }
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(key, at)| {
            let places: Vec<String> = at.iter().map(|i| format!("[{i}]")).collect();
            format!("{key} in entries {}", places.join(" and "))
        })
        .collect();
    if !twice.is_empty() {
        found.problems.push(format!(
            "pve_cluster_nodes gives the same value to several nodes: {}: every node needs its own \
             name, addresses and node id",
            list(&twice)
        ));
    }
    for e in entries {
        if !input.hosts.iter().any(|h| e.matches(h)) {
            let label = e.name.clone().or_else(|| e.ip.clone()).unwrap_or_default();
            found.problems.push(format!(
                "pve_cluster_nodes[{}] ('{label}') matches no host of the group '{}' ({}): fix its \
                 name, fqdn or host, or remove it",
                e.index,
                input.group,
                list(&input.hosts)
            ));
        }
    }
}

/// An address as one spelling, for comparing (`FD00::1` and `fd00::1`).
fn canonical(address: &str) -> String {
    address
        .parse::<IpAddr>()
        .map_or_else(|_| address.to_ascii_lowercase(), |ip| ip.to_string())
}

/// Each node's name and addresses against the node itself, and the table
/// for names and addresses used twice.
pub fn check_nodes(input: &Input, table: &[TableNode], found: &mut Found) {
    for node in table {
        let Some(report) = report_of(input, &node.host) else {
            continue;
        };
        let info = report.status.node.clone().unwrap_or_default();
        let host = &node.host;
        if let Err(e) = validate_node_name(&node.name) {
            found.refuse(host, format!("{host}: {e}"));
        }
        let hostname = info.hostname.clone().unwrap_or_default();
        if node.name != hostname {
            found.refuse(
                host,
                format!(
                    "{host}: the node's hostname is '{hostname}' and the role would call it '{}'. \
                     Proxmox VE names a node by its hostname: make the name in pve_cluster_nodes \
                     (or pve_cluster_node_name_source) the hostname, or change the hostname before \
                     clustering",
                    node.name
                ),
            );
        }
        check_addresses(node, &info, found);
        if input.manage_ssh && node.host_key.is_none() {
            found.refuse(
                host,
                format!(
                    "{host} has no ed25519, ecdsa or rsa SSH host key in /etc/ssh: the role pins the \
                     nodes' host keys so that joins never ask whether to trust a host. Generate host \
                     keys (ssh-keygen -A) first"
                ),
            );
        }
    }
    let mut twice = Vec::new();
    for (i, n) in table.iter().enumerate() {
        for m in &table[i + 1..] {
            if n.name == m.name {
                twice.push(format!("name '{}' ({} and {})", n.name, n.host, m.host));
            }
            if canonical(&n.ip) == canonical(&m.ip) {
                twice.push(format!("address '{}' ({} and {})", n.ip, n.host, m.host));
            }
        }
    }
    if !twice.is_empty() {
        found.problems.push(format!(
            "every node needs its own name and address; used more than once: {}",
            list(&twice)
        ));
    }
}

fn check_addresses(node: &TableNode, info: &crate::node::NodeInfo, found: &mut Found) {
    let local: Vec<String> = info
        .ipv4_addresses
        .iter()
        .chain(&info.ipv6_addresses)
        .map(|a| canonical(a))
        .collect();
    let mut wanted = vec![node.ip.clone()];
    wanted.extend(node.links.iter().map(|l| l.address.clone()));
    let mut absent: Vec<String> = wanted
        .iter()
        .filter(|a| !local.contains(&canonical(a)))
        .cloned()
        .collect();
    absent.dedup();
    if node.links.len() > join::MAX_LINKS {
        found.refuse(
            &node.host,
            format!(
                "{}: {} corosync links given; corosync supports at most {} (link0 to link7)",
                node.host,
                node.links.len(),
                join::MAX_LINKS
            ),
        );
    }
    if !absent.is_empty() {
        found.refuse(
            &node.host,
            format!(
                "{} has the addresses {}; its address '{}' and the addresses of its corosync links \
                 must be among them (not configured: {}). Fix ip, corosync_ip or links in \
                 pve_cluster_nodes (or ansible_host), or configure the network first",
                node.host,
                if local.is_empty() { "none".to_string() } else { local.join(", ") },
                node.ip,
                list(&absent)
            ),
        );
    }
}

/// The one line naming every node and problem that stopped the run.
pub fn summary(found: &Found) -> String {
    let mut parts: Vec<String> = found
        .refused
        .iter()
        .map(|(host, reasons)| format!("{host} was refused ({})", reasons.join("; ")))
        .collect();
    parts.extend(found.problems.iter().cloned());
    format!(
        "nothing was changed on any node; the run stops for every node because {}",
        parts.join("; and ")
    )
}

/// For every host of the run, the message it fails with.
pub fn messages(input: &Input, found: &Found, summary: &str) -> BTreeMap<String, String> {
    let stopped_by: Vec<String> = found.refused.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for host in &input.play.batch {
        let msg = match found.refused.get(host) {
            Some(reasons) => {
                let numbered: Vec<String> = reasons
                    .iter()
                    .enumerate()
                    .map(|(i, r)| format!("{}) {r}", i + 1))
                    .collect();
                format!(
                    "{host} cannot be part of cluster '{}': {}. Nothing was changed on any node: \
                     the run stops for all of them",
                    input.cluster_name,
                    numbered.join("; ")
                )
            }
            None if stopped_by.is_empty() => format!("{host}: {summary}"),
            None => format!(
                "{host}: stopped before any change, because {} stopped the run: {summary}",
                list(&stopped_by)
            ),
        };
        out.insert(host.clone(), msg);
    }
    out
}
