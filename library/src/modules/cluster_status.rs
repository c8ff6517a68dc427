//! `pve_cluster_status`: is this node clustered, in which cluster, who is
//! there, is it quorate. Read-only.
//!
//! Every decision a caller takes from the result has a field of its own:
//! `reason` says in one stable word where the node stands (also in a
//! failed result), `healthy` whether it is a healthy member of
//! `cluster_name`, `join_missing` what the end of its join left undone.
//! Callers never need to read `msg`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cluster_join::conf_summary;
use super::cluster_join::host::{guests, Host, RealHost};
use crate::ansible::{Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::cmd::{Cmd, CmdError};
use crate::node;
use crate::probe::{self, ProbeError};
use crate::pve::corosync_conf::{CLUSTER_CONF, LOCAL_CONF};
use crate::pve::finish;
use crate::pve::join::{self, ConfSummary};
use crate::pve::quorum::{assess, Expectation, Health};
use crate::pve::status::{ClusterView as Status, ParseError};

/// The module.
pub struct ClusterStatus;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    cluster_name: Option<String>,
    node_info: bool,
    api_fingerprint: Option<String>,
}

/// The node's API certificate must have the fingerprint the user gave: a
/// join through this node would otherwise be refused by `pvecm add`.
fn check_api_fingerprint(
    expected: &str,
    path: Option<&str>,
    actual: Option<&str>,
) -> Result<(), Failure> {
    let which = node::API_CERTIFICATES
        .map(|c| format!("/etc/pve/local/{c}"))
        .join(" or ");
    match (path, actual) {
        (_, Some(actual)) if actual == expected => Ok(()),
        (Some(path), Some(actual)) => Err(Failure::new(format!(
            "the API certificate of this node ({path}, the one pveproxy serves) has the fingerprint \
             {actual}, not the given {expected}; a join through this node would be refused. Give \
             its fingerprint, or leave it out: the role then reads it from the node"
        ))),
        (Some(path), None) => Err(Failure::new(format!(
            "{path} holds no readable certificate, so its fingerprint cannot be compared with the \
             given {expected}; run 'pvecm updatecerts' on this node"
        ))),
        (None, _) => Err(Failure::new(format!(
            "this node has no API certificate ({which}), so its fingerprint cannot be compared \
             with the given {expected}; is pve-cluster running? run 'pvecm updatecerts'"
        ))),
    }
}

/// Where the node stands, in one stable word (`reason` in the result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No cluster configuration: a standalone node.
    NotInCluster,
    /// Configured for a cluster, corosync not running.
    CorosyncDown,
    /// In a cluster, corosync answers.
    InCluster,
    /// pmxcfs (pve-cluster) is not running, for another reason than the name.
    PmxcfsDown,
    /// The node's name does not resolve to a non-loopback address (the
    /// installer's `127.0.1.1` line): pmxcfs and `pvecm` refuse to work
    /// until `/etc/hosts` (or DNS) is fixed.
    NameNotResolvable,
    /// `pvecm` is not installed: not a Proxmox VE node.
    NotPve,
    /// The state could not be read or understood.
    Unreadable,
}

/// What the node's own files say, readable also when pmxcfs is down.
#[derive(Debug, Default, Serialize)]
struct LocalFacts {
    /// `/etc/corosync/corosync.conf`, if present.
    local_config: Option<ConfSummary>,
    /// `/etc/corosync/authkey` exists.
    authkey: bool,
    /// Guests in `/etc/pve/nodes/*` as PVE's join counts them.
    guests: Vec<String>,
}

fn local_facts(host: &dyn Host, node: Option<&str>) -> Result<LocalFacts, Failure> {
    Ok(LocalFacts {
        local_config: conf_summary(host, LOCAL_CONF)
            .map_err(|f| f.with("reason", Reason::Unreadable))?,
        authkey: host.exists(join::AUTHKEY),
        guests: node.map(|n| guests(host, n)).unwrap_or_default(),
    })
}

impl Module for ClusterStatus {
    type Params = Params;
    const NAME: &'static str = "pve_cluster_status";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("cluster_name", Type::Str),
            Opt::new("node_info", Type::Bool).default(false),
            Opt::new("api_fingerprint", Type::Str),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let expected_fingerprint = match params.api_fingerprint.as_deref() {
            None | Some("") => None,
            Some(fp) => {
                join::check_fingerprint(fp)
                    .map_err(|e| Failure::new(format!("api_fingerprint: {e}")))?;
                Some(fp.to_ascii_uppercase())
            }
        };
        // The node's own identity comes first: it is wanted also when the
        // cluster state cannot be read (pmxcfs waiting for /etc/hosts).
        let info = if params.node_info {
            Some(node::read(ctx.runner).map_err(|e| Failure::new(e.to_string()))?)
        } else {
            None
        };
        let host = RealHost::from_env();
        let name = node::hostname();
        let local = local_facts(&host, name.as_deref())?;
        let probe = match probe::read(ctx.runner, Path::new(CLUSTER_CONF)) {
            Ok(probe) => probe,
            Err(err) => {
                let reason = failure_reason(&err, ctx, name.as_deref());
                let mut failure = Failure::from(err).with("reason", reason);
                for (key, value) in object(&local) {
                    failure = failure.with(&key, value);
                }
                if let Some(info) = info {
                    failure = failure.with("node", info);
                }
                return Err(failure);
            }
        };
        for warning in &probe.warnings {
            ctx.warn(warning.clone());
        }
        if let Some(expected) = expected_fingerprint {
            let (path, actual) = node::api_certificate(name.as_deref());
            check_api_fingerprint(&expected, path.as_deref(), actual.as_deref())?;
        }
        let mut data = report(&probe.status, params.cluster_name.as_deref(), &host, name);
        data.extend(object(&local));
        if let Some(info) = info {
            data.insert(
                "node".into(),
                serde_json::to_value(info).unwrap_or_default(),
            );
        }
        let mut facts = Map::new();
        facts.insert("pve_cluster".into(), Value::Object(data.clone()));
        data.insert("ansible_facts".into(), Value::Object(facts));
        Ok(Outcome {
            changed: false,
            msg: Some(probe::summary(&probe.status)),
            diff: None,
            data,
        })
    }
}

fn object(value: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The status, with the verdicts taken from it.
fn report(
    status: &Status,
    target: Option<&str>,
    host: &dyn Host,
    name: Option<String>,
) -> Map<String, Value> {
    let mut data = object(status);
    let reason = if !status.in_cluster {
        Reason::NotInCluster
    } else if status.corosync_running {
        Reason::InCluster
    } else {
        Reason::CorosyncDown
    };
    data.insert(
        "reason".into(),
        serde_json::to_value(reason).unwrap_or_default(),
    );
    if let Some(target) = target {
        let in_target = status.in_cluster && status.cluster_name.as_deref() == Some(target);
        data.insert("in_target_cluster".into(), Value::Bool(in_target));
        data.insert(
            "in_other_cluster".into(),
            Value::Bool(status.in_cluster && !in_target),
        );
        let expectation = Expectation {
            cluster_name: Some(target.to_string()),
            require_all_online: true,
            ..Expectation::default()
        };
        let (healthy, reasons) = match assess(status, &expectation) {
            Health::Healthy => (true, Vec::new()),
            Health::Unhealthy { reasons, .. } => (false, reasons),
        };
        data.insert("healthy".into(), Value::Bool(healthy));
        data.insert("health_reasons".into(), reasons.into());
    }
    if status.in_cluster {
        let missing = name.map(|n| finish::missing(&n, host)).unwrap_or_default();
        data.insert("join_complete".into(), Value::Bool(missing.is_empty()));
        data.insert(
            "join_missing".into(),
            serde_json::to_value(missing).unwrap_or_default(),
        );
        let members: Vec<&str> = status
            .nodes
            .iter()
            .filter_map(|n| n.name.as_deref())
            .collect();
        data.insert(
            "member_host_keys".into(),
            serde_json::to_value(member_host_keys(host, &members)).unwrap_or_default(),
        );
    }
    data
}

/// The RSA host key the cluster has on record for each member: PVE writes
/// `/etc/pve/nodes/<node>/ssh_known_hosts` (`<node> ssh-rsa KEY`) since
/// pve-cluster 8.0.6 (Setup.pm `ssh_create_node_known_hosts`); before, it
/// merged the keys into `/etc/pve/priv/known_hosts` (`ssh_merge_known_hosts`).
/// A member whose node now has another key was reinstalled.
fn member_host_keys(host: &dyn Host, members: &[&str]) -> BTreeMap<String, String> {
    let merged = host.read(finish::CLUSTER_KNOWN_HOSTS).unwrap_or_default();
    let mut keys = BTreeMap::new();
    for name in members {
        let own = host
            .read(&format!("/etc/pve/nodes/{name}/ssh_known_hosts"))
            .unwrap_or_default();
        if let Some(key) = rsa_key_for(&own, name).or_else(|| rsa_key_for(&merged, name)) {
            keys.insert((*name).to_string(), key);
        }
    }
    keys
}

/// `ssh-rsa BASE64` of the first plain (not hashed) known_hosts line whose
/// host names include `name`.
fn rsa_key_for(known_hosts: &str, name: &str) -> Option<String> {
    known_hosts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let hosts = fields.next()?;
        let (kind, key) = (fields.next()?, fields.next()?);
        (kind == "ssh-rsa" && hosts.split(',').any(|h| h == name)).then(|| format!("{kind} {key}"))
    })
}

/// Why the state could not be read, as a stable word. When pmxcfs is down,
/// the node's name is looked up, since a name that resolves only to
/// loopback keeps pmxcfs from starting.
fn failure_reason(err: &ProbeError, ctx: &Context<'_>, name: Option<&str>) -> Reason {
    match err {
        ProbeError::Command(CmdError::NotFound { program }) if program == "pvecm" => Reason::NotPve,
        ProbeError::Parse {
            error: ParseError::HostnameResolution { .. },
            ..
        } => Reason::NameNotResolvable,
        ProbeError::Parse {
            error: ParseError::PmxcfsDown { .. } | ParseError::PmxcfsNotMounted { .. },
            ..
        } => match name {
            Some(name) if !resolves_beyond_loopback(ctx, name) => Reason::NameNotResolvable,
            _ => Reason::PmxcfsDown,
        },
        _ => Reason::Unreadable,
    }
}

fn resolves_beyond_loopback(ctx: &Context<'_>, name: &str) -> bool {
    ctx.runner
        .run(&Cmd::new("getent").args(["ahosts", name]))
        .map(|out| {
            crate::resolve::parse_ahosts(&out.stdout)
                .iter()
                .any(|ip| !ip.is_loopback())
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::{check_api_fingerprint, rsa_key_for};

    #[test]
    fn the_recorded_host_key_is_the_rsa_line_of_the_name() {
        // Setup.pm writes "<node> ssh-rsa KEY" without a newline.
        assert_eq!(
            rsa_key_for("pve2 ssh-rsa AAAB2", "pve2").as_deref(),
            Some("ssh-rsa AAAB2")
        );
        let merged = "|1|salt|hash ssh-rsa HASHED\npve1,10.0.0.1 ssh-ed25519 ED1\npve1,10.0.0.1 ssh-rsa RSA1 root@pve1\npve10 ssh-rsa RSA10\n";
        assert_eq!(rsa_key_for(merged, "pve1").as_deref(), Some("ssh-rsa RSA1"));
        assert_eq!(
            rsa_key_for(merged, "10.0.0.1").as_deref(),
            Some("ssh-rsa RSA1")
        );
        assert_eq!(rsa_key_for(merged, "pve"), None);
        assert_eq!(rsa_key_for("", "pve1"), None);
    }

    const FP: &str = "21:7F:32:C6:73:29:ED:9A:BA:2C:E6:08:DB:19:BF:F6:8F:E0:95:36:02:4E:B0:E7:7F:9A:2E:FE:EA:B8:49:EB";
    const OTHER: &str = "29:D1:32:63:2F:26:89:79:35:54:C3:69:32:22:DB:99:F1:25:9A:2C:B2:FE:A5:50:C0:2C:A0:7E:8D:B0:82:35";
    const PEM: &str = "/etc/pve/local/pve-ssl.pem";

    fn msg(r: Result<(), super::Failure>) -> String {
        r.expect_err("a failure").msg
    }

    #[test]
    fn a_given_fingerprint_must_be_the_served_certificates() {
        assert!(check_api_fingerprint(FP, Some(PEM), Some(FP)).is_ok());
        let m = msg(check_api_fingerprint(OTHER, Some(PEM), Some(FP)));
        assert!(
            m.starts_with(&format!(
                "the API certificate of this node ({PEM}, the one pveproxy serves) has the \
                 fingerprint {FP}, not the given {OTHER}"
            )),
            "{m}"
        );
        let m = msg(check_api_fingerprint(FP, Some(PEM), None));
        assert!(
            m.starts_with(&format!("{PEM} holds no readable certificate")),
            "{m}"
        );
        let m = msg(check_api_fingerprint(FP, None, None));
        assert!(m.starts_with("this node has no API certificate (/etc/pve/local/pveproxy-ssl.pem or /etc/pve/local/pve-ssl.pem)"), "{m}");
    }
}
