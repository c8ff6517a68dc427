//! The pre-flight: what PVE would reject, checked before anything runs.

use std::fmt;
use std::net::IpAddr;

use super::relation::Observed;
use super::request::Request;
use super::AUTHKEY;
use crate::pve::corosync_conf::{CLUSTER_CONF, LOCAL_CONF};

/// Facts needed for the pre-flight checks, read only when the node is
/// about to create or join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Addresses configured on local interfaces (`ip -o addr`).
    pub local_addresses: Vec<IpAddr>,
    /// What the node name resolves to (`getent ahosts`), or why it does not.
    pub node_addresses: Result<Vec<IpAddr>, String>,
    /// Whether the peer answered on the port of the join path.
    pub peer_reachable: Option<Result<(), String>>,
    /// For an SSH join, whether root logs in to the peer without a
    /// password or a question (`ssh -o BatchMode=yes`, as `pvecm add
    /// --use_ssh` itself calls it after `ssh-copy-id`).
    pub peer_login: Option<Result<(), String>>,
}

/// Something that makes PVE refuse the create or join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Guests exist on this node.
    Guests(Vec<String>),
    /// `/etc/corosync/authkey` exists.
    Authkey,
    /// `/etc/pve/corosync.conf` exists.
    ClusterConf,
    /// `/etc/corosync/corosync.conf` exists.
    LocalConf,
    /// Corosync runs.
    CorosyncRunning,
    /// A link address is not configured on this node.
    LinkNotLocal {
        /// Link number.
        number: u8,
        /// Address.
        address: String,
    },
    /// The node name resolves only to loopback addresses.
    NameLoopback {
        /// Node name.
        node: String,
        /// Addresses found.
        addresses: Vec<IpAddr>,
    },
    /// The node name does not resolve.
    NameUnresolved {
        /// Node name.
        node: String,
        /// Why.
        error: String,
    },
    /// Root cannot log in to the peer over SSH without a prompt.
    PeerLogin {
        /// Peer.
        peer: String,
        /// What ssh said.
        error: String,
    },
    /// The peer does not answer on the port the join path needs.
    PeerUnreachable {
        /// Peer.
        peer: String,
        /// Port.
        port: u16,
        /// Why.
        error: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Guests(guests) => write!(
                f,
                "/etc/pve already holds guests ({}): PVE refuses to join a node whose /etc/pve holds \
                 any guest, its own or another node's, because joining replaces /etc/pve with the \
                 cluster's; back them up (vzdump) and remove them, then restore them after the join",
                guests.join(", ")
            ),
            Problem::Authkey => write!(
                f,
                "authentication key '{AUTHKEY}' already exists: leftovers of an earlier cluster or \
                 join; remove it if this node is in no cluster"
            ),
            Problem::ClusterConf => write!(f, "cluster config '{CLUSTER_CONF}' already exists"),
            Problem::LocalConf => write!(
                f,
                "corosync config '{LOCAL_CONF}' already exists: leftovers of an earlier cluster or \
                 join; remove it if this node is in no cluster"
            ),
            Problem::CorosyncRunning => write!(
                f,
                "corosync is already running: stop it ('systemctl stop corosync') if this node is in \
                 no cluster"
            ),
            Problem::LinkNotLocal { number, address } => write!(
                f,
                "link{number} address '{address}' is not configured on any interface of this node \
                 (see 'ip -o addr'): give an address of this node"
            ),
            Problem::NameLoopback { node, addresses } => write!(
                f,
                "the node name '{node}' resolves only to loopback ({}): PVE needs it to resolve to \
                 the node's cluster address; fix /etc/hosts (replace the 127.0.1.1 line with \
                 '<address> {node}.<domain> {node}')",
                addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Problem::NameUnresolved { node, error } => write!(
                f,
                "the node name '{node}' does not resolve ({error}): add it to /etc/hosts with the \
                 node's cluster address"
            ),
            Problem::PeerLogin { peer, error } => write!(
                f,
                "root cannot log in to peer '{peer}' over SSH without a password or a host key \
                 question ({error}): the SSH join ('pvecm add --use_ssh') needs root's key \
                 authorised on the peer and the peer's host key in root's known_hosts; set up the \
                 SSH trust first (pve_ssh_trust), or join through the API"
            ),
            Problem::PeerUnreachable { peer, port, error } => {
                let what = if *port == 22 {
                    "SSH (use_ssh)"
                } else {
                    "the API (password join)"
                };
                write!(
                    f,
                    "peer '{peer}' is not reachable on TCP port {port}, which {what} needs: {error}; \
                     check the address, that the peer is up, and firewalls"
                )
            }
        }
    }
}

/// What PVE would reject, checked before anything runs. Pure.
pub fn preflight(req: &Request, obs: &Observed, facts: &Facts) -> Vec<Problem> {
    let mut problems = Vec::new();
    let joining = req.peer.is_some();
    if joining && !obs.guests.is_empty() {
        problems.push(Problem::Guests(obs.guests.clone()));
    }
    if joining && obs.authkey {
        problems.push(Problem::Authkey);
    }
    if obs.cluster_conf.is_some() {
        problems.push(Problem::ClusterConf);
    }
    if obs.local_conf.is_some() {
        problems.push(Problem::LocalConf);
    }
    if obs.corosync_running {
        problems.push(Problem::CorosyncRunning);
    }
    for link in &req.links {
        if let Ok(ip) = link.address.parse::<IpAddr>() {
            if !facts.local_addresses.contains(&ip) {
                problems.push(Problem::LinkNotLocal {
                    number: link.number,
                    address: link.address.clone(),
                });
            }
        }
    }
    match &facts.node_addresses {
        Err(error) => problems.push(Problem::NameUnresolved {
            node: obs.node.clone(),
            error: error.clone(),
        }),
        Ok(addresses) if addresses.iter().all(IpAddr::is_loopback) => {
            problems.push(Problem::NameLoopback {
                node: obs.node.clone(),
                addresses: addresses.clone(),
            });
        }
        Ok(_) => {}
    }
    if let (Some(peer), Some(Err(error))) = (&req.peer, &facts.peer_login) {
        problems.push(Problem::PeerLogin {
            peer: peer.clone(),
            error: error.clone(),
        });
    }
    if let (Some(peer), Some(Err(error))) = (&req.peer, &facts.peer_reachable) {
        problems.push(Problem::PeerUnreachable {
            peer: peer.clone(),
            port: req.path.port(),
            error: error.clone(),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::join::fixtures::{api, link, request, standalone, summary};
    use crate::pve::join::JoinPath;

    fn facts_ok() -> Facts {
        Facts {
            local_addresses: vec!["10.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            node_addresses: Ok(vec!["10.0.0.2".parse().unwrap()]),
            peer_reachable: Some(Ok(())),
            peer_login: None,
        }
    }

    #[test]
    fn preflight_passes_a_clean_node() {
        for req in [
            request(None, JoinPath::Ssh, vec![]),
            request(
                Some("10.0.0.1"),
                JoinPath::Ssh,
                vec![link(0, "10.0.0.2", None)],
            ),
            request(Some("10.0.0.1"), api(), vec![]),
        ] {
            assert_eq!(preflight(&req, &standalone(), &facts_ok()), vec![]);
        }
    }

    #[test]
    fn preflight_finds_what_pve_would_reject() {
        let join = request(
            Some("10.0.0.1"),
            api(),
            vec![
                link(0, "10.0.0.2", None),
                link(1, "10.9.9.9", None),
                link(2, "pve2-ring", None),
            ],
        );
        let mut obs = standalone();
        obs.guests = vec!["qemu-server/100.conf".into()];
        obs.authkey = true;
        obs.local_conf = Some(summary("lab", &[]));
        obs.corosync_running = true;
        let facts = Facts {
            node_addresses: Ok(vec!["127.0.1.1".parse().unwrap()]),
            peer_reachable: Some(Err("connection refused".into())),
            peer_login: None,
            ..facts_ok()
        };
        let problems = preflight(&join, &obs, &facts);
        assert_eq!(
            problems,
            vec![
                Problem::Guests(vec!["qemu-server/100.conf".into()]),
                Problem::Authkey,
                Problem::LocalConf,
                Problem::CorosyncRunning,
                Problem::LinkNotLocal {
                    number: 1,
                    address: "10.9.9.9".into()
                },
                Problem::NameLoopback {
                    node: "pve2".into(),
                    addresses: vec!["127.0.1.1".parse().unwrap()]
                },
                Problem::PeerUnreachable {
                    peer: "10.0.0.1".into(),
                    port: 8006,
                    error: "connection refused".into()
                },
            ]
        );
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("guests (qemu-server/100.conf)"));
        assert!(text[5].contains("resolves only to loopback (127.0.1.1)"));
        assert!(text[6].contains("TCP port 8006"));

        // Creating allows guests and an existing authkey, as PVE does.
        let create = request(None, JoinPath::Ssh, vec![]);
        let mut obs = standalone();
        obs.guests = vec!["lxc/101.conf".into()];
        obs.authkey = true;
        assert_eq!(preflight(&create, &obs, &facts_ok()), vec![]);

        let ssh = request(Some("10.0.0.1"), JoinPath::Ssh, vec![]);
        let facts = Facts {
            node_addresses: Err("no such name".into()),
            peer_reachable: Some(Err("timed out".into())),
            peer_login: None,
            ..facts_ok()
        };
        let problems = preflight(&ssh, &standalone(), &facts);
        assert!(matches!(problems[0], Problem::NameUnresolved { .. }));
        assert!(problems[1].to_string().contains("port 22, which SSH"));
    }
}
