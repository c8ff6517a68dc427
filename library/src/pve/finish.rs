//! Whether a member finished `pvecm add`'s last steps.
//!
//! Once the new member is quorate, PVE's join (pve-cluster
//! `src/PVE/Cluster/Setup.pm`, `finish_join` then `updatecerts_and_ssh`)
//! links root's `authorized_keys` to the cluster's file
//! (`setup_ssh_keys`), creates the node's directories in `/etc/pve/nodes`
//! (`gen_local_dirs`), its API key and a certificate signed by the cluster's
//! CA (`gen_pve_node_files`), and restarts pveproxy and pvedaemon. A join cut
//! off while it waited for quorum leaves a member without them: the web UI's
//! cluster view, migrations and SSH between the nodes then fail. `pvecm
//! updatecerts` makes what is missing (it creates a certificate only where
//! there is none), so the checks here are exactly what it repairs.

use std::fmt;

use serde::Serialize;

/// The directories `gen_local_dirs` makes for a node.
pub const NODE_SUBDIRS: [&str; 4] = ["lxc", "qemu-server", "openvz", "priv"];
/// The cluster's shared `authorized_keys`.
pub const CLUSTER_AUTHORIZED_KEYS: &str = "/etc/pve/priv/authorized_keys";
/// The cluster's `known_hosts` (PVE's `ssh_merge_known_hosts` writes it;
/// `/etc/ssh/ssh_known_hosts` links to it).
pub const CLUSTER_KNOWN_HOSTS: &str = "/etc/pve/priv/known_hosts";
/// Root's `authorized_keys`, a link to the cluster's on a member.
pub const ROOT_AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";
/// What `pvecm add` ran last; the module runs it to finish a join.
pub const FINISH_COMMAND: [&str; 1] = ["updatecerts"];
/// The services `finish_join` restarts once the certificate is new.
pub const RESTARTED_SERVICES: [&str; 2] = ["pvedaemon", "pveproxy"];

/// The node's files as far as these checks read them.
pub trait Files {
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// Whether `path` is a regular file (following links).
    fn is_file(&self, path: &str) -> bool;
    /// The target of the symbolic link `path`, `None` when it is no link.
    fn link_target(&self, path: &str) -> Option<String>;
}

/// One step of the join's end that left nothing behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "missing", rename_all = "snake_case")]
pub enum Missing {
    /// `/etc/pve/nodes/<node>` or one of its directories.
    NodeDir {
        /// The directory.
        path: String,
    },
    /// The node's API key or certificate in `/etc/pve/nodes/<node>`.
    NodeCertificate {
        /// The file.
        path: String,
    },
    /// The cluster's `authorized_keys` in `/etc/pve/priv`.
    ClusterKeys,
    /// Root's `authorized_keys` is not the link to the cluster's file.
    KeysLink {
        /// Where it points now, if it is a link.
        target: Option<String>,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::NodeDir { path } => write!(f, "the directory {path} is missing"),
            Missing::NodeCertificate { path } => write!(f, "{path} is missing"),
            Missing::ClusterKeys => write!(f, "{CLUSTER_AUTHORIZED_KEYS} is missing"),
            Missing::KeysLink { target: None } => write!(
                f,
                "{ROOT_AUTHORIZED_KEYS} is not the link to {CLUSTER_AUTHORIZED_KEYS}"
            ),
            Missing::KeysLink {
                target: Some(target),
            } => write!(
                f,
                "{ROOT_AUTHORIZED_KEYS} links to {target}, not to {CLUSTER_AUTHORIZED_KEYS}"
            ),
        }
    }
}

/// What the end of `node`'s join left undone; empty when it finished.
pub fn missing<F: Files + ?Sized>(node: &str, files: &F) -> Vec<Missing> {
    let mut found = Vec::new();
    let dir = format!("/etc/pve/nodes/{node}");
    if files.is_dir(&dir) {
        for sub in NODE_SUBDIRS {
            let path = format!("{dir}/{sub}");
            if !files.is_dir(&path) {
                found.push(Missing::NodeDir { path });
            }
        }
    } else {
        found.push(Missing::NodeDir { path: dir.clone() });
    }
    for file in ["pve-ssl.key", "pve-ssl.pem"] {
        let path = format!("{dir}/{file}");
        if !files.is_file(&path) {
            found.push(Missing::NodeCertificate { path });
        }
    }
    if !files.is_file(CLUSTER_AUTHORIZED_KEYS) {
        found.push(Missing::ClusterKeys);
    }
    match files.link_target(ROOT_AUTHORIZED_KEYS) {
        Some(target) if target == CLUSTER_AUTHORIZED_KEYS => {}
        target => found.push(Missing::KeysLink { target }),
    }
    found
}

/// The steps a person takes to finish the join by hand, as PVE does.
pub fn manual_steps() -> Vec<String> {
    vec![
        "on this node, run 'pvecm updatecerts' (it needs a quorate cluster)".to_string(),
        format!(
            "then 'systemctl reload-or-restart {}'",
            RESTARTED_SERVICES.join(" ")
        ),
        "run this task again: it then reports the node as a member".to_string(),
    ]
}

/// The found items in one sentence.
pub fn describe(missing: &[Missing]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[derive(Default)]
    struct Fake {
        dirs: BTreeSet<String>,
        files: BTreeSet<String>,
        links: BTreeMap<String, String>,
    }

    impl Files for Fake {
        fn is_dir(&self, path: &str) -> bool {
            self.dirs.contains(path)
        }
        fn is_file(&self, path: &str) -> bool {
            self.files.contains(path)
        }
        fn link_target(&self, path: &str) -> Option<String> {
            self.links.get(path).cloned()
        }
    }

    fn finished(node: &str) -> Fake {
        let mut f = Fake::default();
        let dir = format!("/etc/pve/nodes/{node}");
        f.dirs.insert(dir.clone());
        for sub in NODE_SUBDIRS {
            f.dirs.insert(format!("{dir}/{sub}"));
        }
        f.files.insert(format!("{dir}/pve-ssl.key"));
        f.files.insert(format!("{dir}/pve-ssl.pem"));
        f.files.insert(CLUSTER_AUTHORIZED_KEYS.into());
        f.links
            .insert(ROOT_AUTHORIZED_KEYS.into(), CLUSTER_AUTHORIZED_KEYS.into());
        f
    }

    #[test]
    fn a_finished_join_misses_nothing() {
        assert_eq!(missing("pve2", &finished("pve2")), vec![]);
    }

    #[test]
    fn a_join_cut_off_before_its_end_misses_the_node_dir_certificate_and_link() {
        // What the cluster has for a node whose join stopped at "waiting
        // for quorum...": the cluster's keys, nothing of the node.
        let mut f = Fake::default();
        f.files.insert(CLUSTER_AUTHORIZED_KEYS.into());
        let found = missing("pve3", &f);
        assert_eq!(
            found,
            vec![
                Missing::NodeDir {
                    path: "/etc/pve/nodes/pve3".into()
                },
                Missing::NodeCertificate {
                    path: "/etc/pve/nodes/pve3/pve-ssl.key".into()
                },
                Missing::NodeCertificate {
                    path: "/etc/pve/nodes/pve3/pve-ssl.pem".into()
                },
                Missing::KeysLink { target: None },
            ]
        );
        assert_eq!(
            describe(&found),
            "the directory /etc/pve/nodes/pve3 is missing; /etc/pve/nodes/pve3/pve-ssl.key is \
             missing; /etc/pve/nodes/pve3/pve-ssl.pem is missing; /root/.ssh/authorized_keys is \
             not the link to /etc/pve/priv/authorized_keys"
        );
    }

    #[test]
    fn each_part_is_checked_on_its_own() {
        let mut f = finished("pve2");
        f.dirs.remove("/etc/pve/nodes/pve2/openvz");
        f.links
            .insert(ROOT_AUTHORIZED_KEYS.into(), "/tmp/keys".into());
        f.files.remove(CLUSTER_AUTHORIZED_KEYS);
        assert_eq!(
            missing("pve2", &f),
            vec![
                Missing::NodeDir {
                    path: "/etc/pve/nodes/pve2/openvz".into()
                },
                Missing::ClusterKeys,
                Missing::KeysLink {
                    target: Some("/tmp/keys".into())
                },
            ]
        );
    }
}
