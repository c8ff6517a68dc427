//! The health decision: does the cluster look the way the user expects?
//!
//! Votes and quorum are taken from corosync's own numbers (`Total votes`,
//! `Expected votes`, `Quorum`), never recomputed, so QDevice votes, `two_node`
//! and `pvecm expected` overrides count exactly as corosync counts them.

use super::status::{ClusterView, NodeStatus};
use serde::Serialize;

/// What the user expects of the cluster. Every field is optional: the
/// default only asks for a running, quorate cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// The cluster this node must be in.
    pub cluster_name: Option<String>,
    /// How many nodes the cluster must have (configured, online or not; QDevice not counted).
    pub expected_nodes: Option<usize>,
    /// Nodes that must be in the cluster and online.
    pub expected_members: Vec<String>,
    /// Every node of the cluster must be online.
    pub require_all_online: bool,
}

/// The verdict of [`assess`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// Every expectation holds.
    Healthy,
    /// At least one expectation does not hold.
    Unhealthy {
        /// One sentence per problem, in the order checked.
        reasons: Vec<String>,
        /// The reasons joined into one line.
        message: String,
    },
}

impl Health {
    /// Whether the verdict is [`Health::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }
}

fn cluster_label(status: &ClusterView) -> String {
    match &status.cluster_name {
        Some(name) => format!("cluster '{name}'"),
        None => "the cluster".to_string(),
    }
}

fn not_quorate_reason(status: &ClusterView) -> String {
    let mut reason = format!("{} is not quorate", cluster_label(status));
    let votes = match (status.total_votes, status.expected_votes, status.quorum) {
        (Some(total), Some(expected), Some(quorum)) => Some(format!(
            "{total} of {expected} votes present, {quorum} needed"
        )),
        (Some(total), None, Some(quorum)) => {
            Some(format!("{total} votes present, {quorum} needed"))
        }
        _ => None,
    };
    let offline = status.offline_nodes();
    let mut details = Vec::new();
    if let Some(v) = votes {
        details.push(v);
    }
    if !offline.is_empty() {
        details.push(format!("offline: {}", offline.join(", ")));
    }
    if let Some(q) = &status.qdevice {
        if q.casting == Some(false) {
            details.push("the QDevice is not voting".to_string());
        }
    }
    if !details.is_empty() {
        reason.push_str(": ");
        reason.push_str(&details.join("; "));
    }
    reason
}

/// Compares the cluster status with the expectation.
pub fn assess(status: &ClusterView, exp: &Expectation) -> Health {
    let mut reasons: Vec<String> = Vec::new();

    if !status.in_cluster {
        let mut reason = "node is not in a cluster".to_string();
        if let Some(name) = &exp.cluster_name {
            reason.push_str(&format!(", expected cluster '{name}'"));
        }
        reasons.push(reason);
        return unhealthy(reasons);
    }

    if let (Some(want), Some(have)) = (&exp.cluster_name, &status.cluster_name) {
        if want != have {
            reasons.push(format!("node is in cluster '{have}', expected '{want}'"));
        }
    }

    if !status.corosync_running {
        reasons.push("corosync is not running on this node".to_string());
        return unhealthy(reasons);
    }

    if !status.quorate {
        reasons.push(not_quorate_reason(status));
    }

    let known: Vec<String> = status.nodes.iter().map(NodeStatus::label).collect();
    reasons.extend(node_count_reason(status, exp, &known));
    reasons.extend(absent_reason(status, exp, &known));

    let offline_members: Vec<String> = status
        .nodes
        .iter()
        .filter(|n| !n.online && exp.expected_members.iter().any(|m| *m == n.label()))
        .map(NodeStatus::label)
        .collect();
    if !offline_members.is_empty() {
        reasons.push(format!(
            "expected members offline: {}",
            offline_members.join(", ")
        ));
    }

    if exp.require_all_online {
        all_online_reasons(status, &offline_members, &mut reasons);
    }

    if reasons.is_empty() {
        Health::Healthy
    } else {
        unhealthy(reasons)
    }
}

/// The node count differs from the expected one: which expected members
/// are missing and which members are unexpected.
fn node_count_reason(status: &ClusterView, exp: &Expectation, known: &[String]) -> Option<String> {
    let want = exp.expected_nodes?;
    if status.node_count == want {
        return None;
    }
    let mut reason = format!("expected {want} nodes, cluster has {}", status.node_count);
    let missing: Vec<&str> = exp
        .expected_members
        .iter()
        .filter(|m| !known.iter().any(|k| k == *m))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = if exp.expected_members.is_empty() {
        Vec::new()
    } else {
        known
            .iter()
            .filter(|k| !exp.expected_members.iter().any(|m| m == *k))
            .map(String::as_str)
            .collect()
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("unexpected {}", extra.join(", ")));
    }
    if !parts.is_empty() {
        reason.push_str(": ");
        reason.push_str(&parts.join("; "));
    }
    Some(reason)
}

/// Expected members that are not in the cluster.
fn absent_reason(status: &ClusterView, exp: &Expectation, known: &[String]) -> Option<String> {
    let absent: Vec<&str> = exp
        .expected_members
        .iter()
        .filter(|m| !known.iter().any(|k| k == *m))
        .map(String::as_str)
        .collect();
    // Already said by the node-count reason when that one fired.
    let count_reason_named_them = exp
        .expected_nodes
        .is_some_and(|want| want != status.node_count);
    if !absent.is_empty() && !count_reason_named_them {
        return Some(format!(
            "expected members not in the cluster: {}",
            absent.join(", ")
        ));
    }
    None
}

/// With `require_all_online`: offline nodes besides the expected members
/// already named, an idle QDevice, missing votes.
fn all_online_reasons(status: &ClusterView, offline_members: &[String], reasons: &mut Vec<String>) {
    let offline: Vec<String> = status
        .nodes
        .iter()
        .filter(|n| !n.online && !offline_members.contains(&n.label()))
        .map(NodeStatus::label)
        .collect();
    // A non-quorate reason already lists every offline node.
    if !offline.is_empty() && status.quorate {
        reasons.push(format!("nodes offline: {}", offline.join(", ")));
    }
    let qdevice_idle = status
        .qdevice
        .as_ref()
        .is_some_and(|q| q.casting == Some(false));
    if qdevice_idle && status.quorate {
        reasons.push("the QDevice is not voting".to_string());
    }
    if let (Some(total), Some(expected)) = (status.total_votes, status.expected_votes) {
        let all_online = status.nodes.iter().all(|n| n.online);
        if total < expected && all_online && !qdevice_idle && status.quorate {
            reasons.push(format!("{total} of {expected} votes present"));
        }
    }
}

fn unhealthy(reasons: Vec<String>) -> Health {
    let message = reasons.join("; ");
    Health::Unhealthy { reasons, message }
}
