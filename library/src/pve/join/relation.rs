//! Where the node stands with respect to the target cluster: what its
//! corosync.conf files say, what was read from it, and the judgement.

use super::AUTHKEY;
use crate::pve::corosync_conf::{ConfError, CorosyncConf, CLUSTER_CONF, LOCAL_CONF};

/// The parts of a corosync config this module needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ConfSummary {
    /// `totem.cluster_name`.
    pub cluster_name: Option<String>,
    /// `totem.config_version`.
    pub config_version: Option<u64>,
    /// Names of the nodes in the nodelist (`name`, else `ring0_addr`).
    pub nodes: Vec<String>,
}

/// Reads the cluster name, config version and node names (`name`, else
/// `ring0_addr`) from a corosync.conf; a file that is not in corosync's
/// format is an error, never an empty summary.
pub fn parse_conf_summary(text: &str) -> Result<ConfSummary, ConfError> {
    let conf = CorosyncConf::parse(text)?;
    Ok(ConfSummary {
        cluster_name: conf.cluster_name().map(str::to_string),
        config_version: conf.config_version(),
        nodes: conf
            .nodes()
            .iter()
            .filter_map(|n| {
                n.name
                    .clone()
                    .or_else(|| n.ring0_addr().map(str::to_string))
            })
            .collect(),
    })
}

/// Everything read from the node before deciding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// This node's name (short host name).
    pub node: String,
    /// `/etc/pve/corosync.conf`, if present.
    pub cluster_conf: Option<ConfSummary>,
    /// `/etc/corosync/corosync.conf`, if present.
    pub local_conf: Option<ConfSummary>,
    /// `/etc/corosync/authkey` exists.
    pub authkey: bool,
    /// A corosync process runs.
    pub corosync_running: bool,
    /// The cluster is quorate (as `pvecm status` says).
    pub quorate: bool,
    /// pmxcfs' own view of the quorum, which follows corosync's a moment
    /// later and which PVE's cluster lock needs (`check_cfs_quorum`);
    /// `None` when it could not be read.
    pub cfs_quorate: Option<bool>,
    /// Names of the members corosync currently sees.
    pub members: Vec<String>,
    /// Guest configs in `/etc/pve` (`qemu-server/100.conf` for this
    /// node's, `nodes/<node>/lxc/101.conf` for another node's).
    pub guests: Vec<String>,
}

/// Where the node stands with respect to the target cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// In no cluster.
    Standalone,
    /// In the target cluster, corosync running.
    Member {
        /// Config version.
        config_version: Option<u64>,
        /// Configured nodes.
        nodes: Vec<String>,
        /// Quorate now.
        quorate: bool,
    },
    /// In another cluster.
    OtherCluster {
        /// Its name.
        cluster_name: String,
        /// Its config version.
        config_version: Option<u64>,
        /// Its configured nodes.
        nodes: Vec<String>,
    },
    /// Configured for the target (or an unnamed) cluster but not working
    /// as a member: a create or join that stopped halfway, or a stopped
    /// corosync.
    Incomplete {
        /// The state found.
        found: String,
        /// What to do, in order.
        steps: Vec<String>,
    },
}

/// Decides where the node stands. Pure.
pub fn membership(obs: &Observed, target: &str) -> Relation {
    let conf = obs.cluster_conf.as_ref().or(obs.local_conf.as_ref());
    let Some(conf) = conf else {
        return Relation::Standalone;
    };
    let which = if obs.cluster_conf.is_some() {
        CLUSTER_CONF
    } else {
        LOCAL_CONF
    };
    let Some(name) = conf.cluster_name.clone() else {
        return Relation::Incomplete {
            found: format!(
                "{which} exists but names no cluster (unreadable, or no totem.cluster_name)"
            ),
            steps: separate_steps(&obs.node),
        };
    };
    if name != target {
        return Relation::OtherCluster {
            cluster_name: name,
            config_version: conf.config_version,
            nodes: conf.nodes.clone(),
        };
    }
    let version = conf
        .config_version
        .map_or_else(|| "unknown".to_string(), |v| v.to_string());
    if obs.cluster_conf.is_none() {
        return cluster_conf_missing(&name, &version);
    }
    if !conf.nodes.contains(&obs.node) {
        return node_not_listed(obs, conf, &name, &version);
    }
    if !obs.corosync_running {
        return corosync_stopped(obs, conf, &name, &version);
    }
    Relation::Member {
        config_version: conf.config_version,
        nodes: conf.nodes.clone(),
        quorate: obs.quorate,
    }
}

/// Only the local corosync.conf names the target: pmxcfs is down, or a
/// join stopped before it finished.
fn cluster_conf_missing(name: &str, version: &str) -> Relation {
    Relation::Incomplete {
        found: format!(
            "{LOCAL_CONF} is set up for cluster '{name}' (config version {version}) but \
             {CLUSTER_CONF} is missing: the cluster file system (pve-cluster) is not running or \
             a join stopped before it finished"
        ),
        steps: vec![
            "start the cluster services: 'systemctl start corosync pve-cluster', then check \
             'journalctl -u corosync -u pve-cluster'"
                .to_string(),
            format!(
                "if this node should not be in '{name}', take it out as described under \
                 'Separate a node without reinstalling' in the Proxmox VE admin guide"
            ),
            "run this task again".to_string(),
        ],
    }
}

/// The cluster's corosync.conf does not list this node.
fn node_not_listed(obs: &Observed, conf: &ConfSummary, name: &str, version: &str) -> Relation {
    Relation::Incomplete {
        found: format!(
            "{CLUSTER_CONF} is set up for cluster '{name}' (config version {version}, nodes: {}) \
             but does not list this node '{}'",
            list_or_none(&conf.nodes),
            obs.node
        ),
        steps: vec![
            format!(
                "on a member of '{name}', check 'pvecm nodes': if '{}' is missing there too, the \
                 join did not reach the cluster",
                obs.node
            ),
            format!(
                "separate this node from the half-joined state ('Separate a node without \
                 reinstalling' in the Proxmox VE admin guide: stop pve-cluster and corosync, \
                 start 'pmxcfs -l', remove {CLUSTER_CONF}, {LOCAL_CONF} and {AUTHKEY}, stop \
                 pmxcfs, start pve-cluster)"
            ),
            "run this task again to join".to_string(),
        ],
    }
}

/// Configured as a member, but corosync does not run.
fn corosync_stopped(obs: &Observed, conf: &ConfSummary, name: &str, version: &str) -> Relation {
    Relation::Incomplete {
        found: format!(
            "this node '{}' is configured as a member of cluster '{name}' (config version \
             {version}, nodes: {}) but corosync is not running",
            obs.node,
            list_or_none(&conf.nodes)
        ),
        steps: vec![
            "start corosync: 'systemctl start corosync'".to_string(),
            "if it does not stay up, read 'journalctl -u corosync' (wrong link address, \
             missing /etc/corosync/authkey, firewall on UDP 5405)"
                .to_string(),
            "run this task again: it then reports the membership".to_string(),
        ],
    }
}

fn separate_steps(node: &str) -> Vec<String> {
    vec![
        format!(
            "if '{node}' should be in no cluster, remove the leftovers as described under \
             'Separate a node without reinstalling' in the Proxmox VE admin guide"
        ),
        "run this task again".to_string(),
    ]
}

/// Whether a create or join has finished: a member of the target cluster,
/// quorate.
/// The node is a member of a quorate `target`, and pmxcfs knows it: the
/// next join through this node takes PVE's cluster lock, which fails with
/// "pve cluster filesystem not online" until pmxcfs counts the quorum too.
pub fn is_done(obs: &Observed, target: &str) -> bool {
    matches!(
        membership(obs, target),
        Relation::Member { quorate: true, .. }
    ) && obs.cfs_quorate != Some(false)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// The message for a node in another cluster.
pub fn other_cluster_message(
    node: &str,
    target: &str,
    cluster_name: &str,
    config_version: Option<u64>,
    nodes: &[String],
) -> String {
    let version = config_version.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    format!(
        "node '{node}' is a member of cluster '{cluster_name}' (config version {version}, members: {}); \
         refusing to create or join cluster '{target}'. Nothing was changed. A node can be in one \
         cluster only: if it should move, remove it from '{cluster_name}' first (pvecm delnode on \
         another member, then separate it as described in the Proxmox VE admin guide), or fix \
         cluster_name",
        list_or_none(nodes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::join::fixtures::{standalone, summary};

    const CONF: &str = "logging {\n  debug: off\n}\n\nnodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.0.0.1\n  }\n  node {\n    nodeid: 2\n    ring0_addr: 10.0.0.2\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: lab # comment\n  config_version: 3\n  interface {\n    linknumber: 0\n  }\n}\n";

    fn member(name: &str) -> Observed {
        Observed {
            node: "pve2".into(),
            cluster_conf: Some(summary(name, &["pve1", "pve2"])),
            local_conf: Some(summary(name, &["pve1", "pve2"])),
            authkey: true,
            corosync_running: true,
            quorate: true,
            cfs_quorate: Some(true),
            members: vec!["pve1".into(), "pve2".into()],
            guests: vec![],
        }
    }

    #[test]
    fn a_member_is_done_once_pmxcfs_is_quorate_too() {
        let mut obs = member("lab");
        assert!(is_done(&obs, "lab"));
        obs.cfs_quorate = None;
        assert!(
            is_done(&obs, "lab"),
            "unknown (pmxcfs not readable) does not hold it up"
        );
        obs.cfs_quorate = Some(false);
        assert!(!is_done(&obs, "lab"));
    }

    #[test]
    fn conf_summary_reads_name_version_and_nodes() {
        let s = parse_conf_summary(CONF).unwrap();
        assert_eq!(s.cluster_name.as_deref(), Some("lab"));
        assert_eq!(s.config_version, Some(3));
        assert_eq!(s.nodes, vec!["pve1", "10.0.0.2"]);
        assert_eq!(parse_conf_summary(""), Ok(ConfSummary::default()));
        // Parsers never guess: a file they cannot read is an error, not an empty summary.
        assert!(parse_conf_summary("totem {\n  cluster_name: lab\n").is_err());
    }

    #[test]
    fn membership_covers_every_state() {
        assert_eq!(membership(&standalone(), "lab"), Relation::Standalone);
        let mut only_key = standalone();
        only_key.authkey = true;
        assert_eq!(membership(&only_key, "lab"), Relation::Standalone);

        assert!(matches!(
            membership(&member("lab"), "lab"),
            Relation::Member { quorate: true, .. }
        ));
        assert!(is_done(&member("lab"), "lab"));

        let mut not_quorate = member("lab");
        not_quorate.quorate = false;
        assert!(matches!(
            membership(&not_quorate, "lab"),
            Relation::Member { quorate: false, .. }
        ));
        assert!(!is_done(&not_quorate, "lab"));

        match membership(&member("prod"), "lab") {
            Relation::OtherCluster {
                cluster_name,
                config_version,
                nodes,
            } => {
                assert_eq!(cluster_name, "prod");
                assert_eq!(config_version, Some(2));
                assert_eq!(nodes, vec!["pve1", "pve2"]);
            }
            other => panic!("{other:?}"),
        }

        let mut down = member("lab");
        down.corosync_running = false;
        match membership(&down, "lab") {
            Relation::Incomplete { found, steps } => {
                assert!(found.contains("corosync is not running"), "{found}");
                assert!(steps[0].contains("systemctl start corosync"));
            }
            other => panic!("{other:?}"),
        }

        let mut down_other = member("prod");
        down_other.corosync_running = false;
        assert!(matches!(
            membership(&down_other, "lab"),
            Relation::OtherCluster { .. }
        ));

        let mut not_listed = member("lab");
        not_listed.cluster_conf = Some(summary("lab", &["pve1"]));
        match membership(&not_listed, "lab") {
            Relation::Incomplete { found, .. } => {
                assert!(found.contains("does not list this node 'pve2'"), "{found}")
            }
            other => panic!("{other:?}"),
        }

        let mut local_only = standalone();
        local_only.local_conf = Some(summary("lab", &["pve1", "pve2"]));
        local_only.authkey = true;
        match membership(&local_only, "lab") {
            Relation::Incomplete { found, .. } => {
                assert!(
                    found.contains("/etc/pve/corosync.conf is missing"),
                    "{found}"
                )
            }
            other => panic!("{other:?}"),
        }

        let mut nameless = standalone();
        nameless.cluster_conf = Some(ConfSummary::default());
        assert!(matches!(
            membership(&nameless, "lab"),
            Relation::Incomplete { .. }
        ));
    }

    #[test]
    fn other_cluster_message_names_cluster_version_members_and_target() {
        let msg = other_cluster_message("pve2", "lab", "prod", Some(7), &["a".into(), "b".into()]);
        for part in [
            "'pve2'",
            "cluster 'prod'",
            "config version 7",
            "members: a, b",
            "refusing to create or join cluster 'lab'",
            "Nothing was changed",
        ] {
            assert!(msg.contains(part), "{part} in {msg}");
        }
    }
}
