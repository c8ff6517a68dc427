//! Whether a QDevice may be set up or removed now, for
//! `pve_cluster_qdevice`: the checks of `pvecm qdevice setup` and
//! `pvecm qdevice remove` (pve-cluster `PVE/CLI/pvecm.pm`), made before the
//! command runs so that the module can refuse with a reason, and the
//! `quorum.device` section the command writes, for the diff.

use std::net::IpAddr;

use super::corosync_conf::QuorumDevice;
use super::status::ClusterView;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A QDevice at the given address (`state: present`).
    Present,
    /// No QDevice (`state: absent`).
    Absent,
}

/// What the module reads before it decides.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Whether the QDevice is to be there or gone.
    pub want: Want,
    /// The QNetd host (`address`).
    pub address: &'a str,
    /// The `force` option: set up a QDevice on an odd node count too, with
    /// the `lms` algorithm, as `pvecm qdevice setup --force` does.
    pub force: bool,
    /// `pvecm status` with the nodelist of `/etc/pve/corosync.conf`.
    pub status: &'a ClusterView,
    /// `quorum.device` of `/etc/pve/corosync.conf`.
    pub device: Option<&'a QuorumDevice>,
}

/// The section `pvecm qdevice setup` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// `ffsplit` for an even node count, `lms` for an odd one (forced).
    pub algorithm: &'static str,
    /// `votes: 1` with `ffsplit`; corosync's default (node count - 1) with `lms`.
    pub votes: Option<u32>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do; the message says why.
    Ok(String),
    /// Refused, with the reason.
    Refuse(String),
    /// Run `pvecm qdevice setup`.
    Setup(Setup),
    /// Run `pvecm qdevice remove` (the host that was configured).
    Remove(Option<String>),
}

/// PVE's reason for refusing an odd node count (`pvecm qdevice setup`
/// without `--force`), in words a user can act on.
pub const ODD_COUNT_REASON: &str = "with an odd node count a QDevice breaks ties badly: it \
    needs the 'lms' algorithm, which gives it one vote less than there are nodes, so the QNetd \
    host becomes a single point of failure for the quorum; Proxmox VE does not support it \
    officially (\"Clusters with an odd node count are not officially supported!\")";

/// Decides what to do.
pub fn decide(f: &Facts<'_>) -> Decision {
    let status = f.status;
    if !status.in_cluster {
        return Decision::Refuse(
            "this node is in no cluster: a QDevice is set up on a member of a cluster".into(),
        );
    }
    let configured = f.device.map(|d| d.host.clone().unwrap_or_default());
    if let Some(settled) = settled(f, configured.as_deref()) {
        return settled;
    }
    if let Some(refusal) = not_ready(status) {
        return refusal;
    }
    match f.want {
        Want::Absent => Decision::Remove(configured.filter(|h| !h.is_empty())),
        Want::Present => setup(status, f.force),
    }
}

/// The answer before the cluster's state matters: a bad address, the
/// device already there (or another one), nothing to remove.
fn settled(f: &Facts<'_>, configured: Option<&str>) -> Option<Decision> {
    match f.want {
        Want::Present => {
            if f.address.parse::<IpAddr>().is_err() {
                return Some(Decision::Refuse(format!(
                    "address '{}' is not an IP address: pvecm qdevice setup takes the QNetd \
                     host's IP address",
                    f.address
                )));
            }
            let host = configured?;
            if same_address(host, f.address) {
                return Some(Decision::Ok(format!(
                    "a QDevice at {host} is already configured"
                )));
            }
            Some(Decision::Refuse(format!(
                "a QDevice at {} is already configured, not at {}: remove it first \
                 (state: absent), then set up the new one",
                if host.is_empty() {
                    "an unknown host"
                } else {
                    host
                },
                f.address
            )))
        }
        Want::Absent if configured.is_none() => {
            Some(Decision::Ok("no QDevice is configured".into()))
        }
        Want::Absent => None,
    }
}

/// Why pvecm would refuse to change the device now: no quorum, or a
/// member offline.
fn not_ready(status: &ClusterView) -> Option<Decision> {
    if !status.quorate {
        return Some(Decision::Refuse(
            "the cluster is not quorate here: pvecm changes corosync.conf only with quorum; \
             bring the cluster back first"
                .into(),
        ));
    }
    let offline: Vec<String> = status
        .nodes
        .iter()
        .filter(|n| !n.online)
        .map(|n| {
            n.name
                .clone()
                .unwrap_or_else(|| format!("node id {}", n.nodeid))
        })
        .collect();
    if !offline.is_empty() {
        return Some(Decision::Refuse(format!(
            "every member must be online (pvecm: \"All nodes must be online!\"); offline: {}",
            offline.join(", ")
        )));
    }
    None
}

/// The setup for the cluster's node count: `ffsplit` for an even one,
/// `lms` for an odd one only when forced.
fn setup(status: &ClusterView, force: bool) -> Decision {
    if status.node_count % 2 == 1 {
        if !force {
            return Decision::Refuse(format!(
                "the cluster has {} nodes; {ODD_COUNT_REASON}. Set force to set it up \
                 anyway (algorithm lms)",
                status.node_count
            ));
        }
        return Decision::Setup(Setup {
            algorithm: "lms",
            votes: None,
        });
    }
    Decision::Setup(Setup {
        algorithm: "ffsplit",
        votes: Some(1),
    })
}

/// Whether two spellings name one address (`10.0.0.5` and `10.0.0.05`
/// are not the same text, but IPv6 has many spellings of one address).
fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Whether `pvecm status` shows the QDevice voting for this node.
pub fn voting(status: &ClusterView) -> bool {
    status
        .qdevice
        .as_ref()
        .is_some_and(|q| q.casting == Some(true) && q.votes.unwrap_or(0) > 0)
}

/// The `quorum` section's `device` as `corosync.conf` shows it (PVE's
/// writer: sorted keys, two spaces), for the diff; empty without one.
pub fn device_text(device: Option<&QuorumDevice>) -> String {
    let Some(d) = device else {
        return String::new();
    };
    let mut s = String::from("device {\n");
    if let Some(model) = &d.model {
        s.push_str(&format!("  model: {model}\n"));
    }
    let model = d.model.as_deref().unwrap_or("net");
    if d.algorithm.is_some() || d.host.is_some() {
        s.push_str(&format!("  {model} {{\n"));
        if let Some(a) = &d.algorithm {
            s.push_str(&format!("    algorithm: {a}\n"));
        }
        if let Some(h) = &d.host {
            s.push_str(&format!("    host: {h}\n"));
        }
        s.push_str("    tls: on\n  }\n");
    }
    if let Some(v) = d.votes {
        s.push_str(&format!("  votes: {v}\n"));
    }
    s.push_str("}\n");
    s
}

/// The section a setup writes.
pub fn planned_device(address: &str, setup: &Setup) -> QuorumDevice {
    QuorumDevice {
        model: Some("net".into()),
        votes: setup.votes,
        algorithm: Some(setup.algorithm.into()),
        host: Some(address.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::status::{NodeStatus, QdeviceStatus};

    fn status(online: &[bool], quorate: bool) -> ClusterView {
        let nodes: Vec<NodeStatus> = online
            .iter()
            .enumerate()
            .map(|(i, &on)| NodeStatus {
                nodeid: i as u32 + 1,
                name: Some(format!("pve{}", i + 1)),
                address: None,
                votes: Some(1),
                local: i == 0,
                qdevice: None,
                online: on,
            })
            .collect();
        ClusterView {
            in_cluster: true,
            corosync_running: true,
            cluster_name: Some("lab".into()),
            config_version: Some(3),
            transport: Some("knet".into()),
            secure_auth: Some(true),
            quorate,
            local_node: None,
            expected_votes: Some(online.len() as u32),
            highest_expected: None,
            total_votes: None,
            quorum: None,
            flags: vec![],
            activity_blocked: false,
            ring_id: None,
            node_count: nodes.len(),
            online_count: online.iter().filter(|o| **o).count(),
            nodes,
            qdevice: None,
        }
    }

    fn device(host: &str) -> QuorumDevice {
        planned_device(
            host,
            &Setup {
                algorithm: "ffsplit",
                votes: Some(1),
            },
        )
    }

    fn decide_with(
        want: Want,
        address: &str,
        force: bool,
        st: &ClusterView,
        dev: Option<&QuorumDevice>,
    ) -> Decision {
        decide(&Facts {
            want,
            address,
            force,
            status: st,
            device: dev,
        })
    }

    #[test]
    fn an_even_cluster_gets_ffsplit_with_one_vote() {
        let st = status(&[true, true], true);
        assert_eq!(
            decide_with(Want::Present, "10.0.0.5", false, &st, None),
            Decision::Setup(Setup {
                algorithm: "ffsplit",
                votes: Some(1)
            })
        );
    }

    #[test]
    fn an_odd_cluster_is_refused_unless_forced_then_lms() {
        let st = status(&[true, true, true], true);
        match decide_with(Want::Present, "10.0.0.5", false, &st, None) {
            Decision::Refuse(m) => {
                assert!(m.contains("3 nodes"), "{m}");
                assert!(m.contains("not officially supported"), "{m}");
                assert!(m.contains("force"), "{m}");
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(
            decide_with(Want::Present, "10.0.0.5", true, &st, None),
            Decision::Setup(Setup {
                algorithm: "lms",
                votes: None
            })
        );
    }

    #[test]
    fn an_offline_member_or_no_quorum_is_refused() {
        let st = status(&[true, false], true);
        match decide_with(Want::Present, "10.0.0.5", false, &st, None) {
            Decision::Refuse(m) => assert!(m.contains("offline: pve2"), "{m}"),
            d => panic!("{d:?}"),
        }
        let st = status(&[true, true], false);
        match decide_with(Want::Present, "10.0.0.5", false, &st, None) {
            Decision::Refuse(m) => assert!(m.contains("not quorate"), "{m}"),
            d => panic!("{d:?}"),
        }
        let dev = device("10.0.0.5");
        match decide_with(Want::Absent, "", false, &st, Some(&dev)) {
            Decision::Refuse(m) => assert!(m.contains("not quorate"), "{m}"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn the_same_device_is_ok_and_another_is_refused() {
        let st = status(&[true, true], true);
        let dev = device("10.0.0.5");
        assert!(matches!(
            decide_with(Want::Present, "10.0.0.5", false, &st, Some(&dev)),
            Decision::Ok(_)
        ));
        // configured devices are ok even when a member is down
        let down = status(&[true, false], true);
        assert!(matches!(
            decide_with(Want::Present, "10.0.0.5", false, &down, Some(&dev)),
            Decision::Ok(_)
        ));
        match decide_with(Want::Present, "10.0.0.6", true, &st, Some(&dev)) {
            Decision::Refuse(m) => {
                assert!(m.contains("at 10.0.0.5"), "{m}");
                assert!(m.contains("remove it first"), "{m}");
            }
            d => panic!("{d:?}"),
        }
        let v6 = device("fd00::5");
        assert!(matches!(
            decide_with(Want::Present, "fd00:0::5", false, &st, Some(&v6)),
            Decision::Ok(_)
        ));
    }

    #[test]
    fn a_name_is_not_an_address() {
        let st = status(&[true, true], true);
        match decide_with(Want::Present, "qnetd.example", false, &st, None) {
            Decision::Refuse(m) => assert!(m.contains("not an IP address"), "{m}"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn absent_removes_a_device_and_is_ok_without_one() {
        let st = status(&[true, true], true);
        let dev = device("10.0.0.5");
        assert_eq!(
            decide_with(Want::Absent, "", false, &st, Some(&dev)),
            Decision::Remove(Some("10.0.0.5".into()))
        );
        assert!(matches!(
            decide_with(Want::Absent, "", false, &st, None),
            Decision::Ok(_)
        ));
    }

    #[test]
    fn outside_a_cluster_nothing_happens() {
        let mut st = status(&[true, true], true);
        st.in_cluster = false;
        assert!(matches!(
            decide_with(Want::Present, "10.0.0.5", false, &st, None),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn voting_needs_a_casting_qdevice_with_votes() {
        let mut st = status(&[true, true], true);
        assert!(!voting(&st));
        st.qdevice = Some(QdeviceStatus {
            present: true,
            votes: Some(1),
            state: Some("NR".into()),
            casting: Some(false),
        });
        assert!(!voting(&st));
        st.qdevice.as_mut().unwrap().casting = Some(true);
        assert!(voting(&st));
    }

    #[test]
    fn the_device_section_reads_as_pve_writes_it() {
        assert_eq!(device_text(None), "");
        assert_eq!(
            device_text(Some(&device("10.0.0.5"))),
            "device {\n  model: net\n  net {\n    algorithm: ffsplit\n    host: 10.0.0.5\n    \
             tls: on\n  }\n  votes: 1\n}\n"
        );
    }
}
