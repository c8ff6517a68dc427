//! `pve_cluster_node`: removes a node from the cluster, run on a node that
//! stays, following Proxmox VE's procedure ("Remove a Cluster Node"): the
//! node must be powered off and hold no guests, and the cluster must stay
//! quorate; then `pvecm delnode`, and the state read back decides whether
//! it happened. A node the cluster does not list is `ok`. With `separate`,
//! the node is online instead, and the documented steps that separate it
//! without reinstalling run on it over root SSH first ("Separate a Node
//! Without Reinstalling"); its guests' files stay on it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::ansible::{ChangeToken, Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::cmd::Cmd;
use crate::fsutil;
use crate::node;
use crate::probe::{self, ConfReadError};
use crate::pve::corosync_conf::{CorosyncConf, CLUSTER_CONF};
use crate::pve::finish::{CLUSTER_AUTHORIZED_KEYS, CLUSTER_KNOWN_HOSTS};
use crate::pve::remove::{self, Decision, Facts, Removal};
use crate::ssh;

use super::cluster_join::host::{node_guests, RealHost};
use super::file_update::update_file;

/// How long `pvecm delnode` may take.
const DELNODE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the separation steps on the leaving node may take.
const SEPARATE_TIMEOUT: Duration = Duration::from_secs(180);

/// The module.
pub struct ClusterNode;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    name: String,
    #[allow(dead_code)]
    state: String,
    remove_directory: bool,
    remove_ssh_keys: bool,
    keep_guests: bool,
    separate: bool,
    timeout: u64,
}

impl Module for ClusterNode {
    type Params = Params;
    const NAME: &'static str = "pve_cluster_node";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("name", Type::Str).required(),
            Opt::new("state", Type::Str)
                .choices(&["absent"])
                .default("absent"),
            Opt::new("remove_directory", Type::Bool).default(false),
            Opt::new("remove_ssh_keys", Type::Bool).default(false),
            Opt::new("keep_guests", Type::Bool).default(false),
            Opt::new("separate", Type::Bool).default(false),
            Opt::new("timeout", Type::Int).default(60),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let target = checked_target(&params)?;
        let Some(planned) = plan_removal(&params, ctx, target)? else {
            return leftover(target, &params, ctx);
        };
        if ctx.check_mode() {
            return would_remove(&params, ctx, &planned);
        }
        remove_now(&params, ctx, &planned)
    }
}

/// A removal that may go ahead, with what it keeps.
struct Planned {
    removal: Removal,
    /// With `separate`: the guests whose files stay on the node.
    kept: Vec<String>,
    /// `config_version` of corosync.conf before the removal.
    version: Option<u64>,
}

/// Reads the cluster and decides; `None` when the cluster does not list
/// the node.
fn plan_removal(
    params: &Params,
    ctx: &Context<'_>,
    target: &str,
) -> Result<Option<Planned>, Failure> {
    let probe = probe::read(ctx.runner, Path::new(CLUSTER_CONF))?;
    if !probe.status.in_cluster {
        return Err(Failure::new(
            "this node is in no cluster: run the removal on a member of the cluster",
        ));
    }
    let conf = read_conf()?;
    let me = node::hostname().unwrap_or_default();
    let facts = Facts {
        me: &me,
        target,
        status: &probe.status,
        conf: &conf,
        guests: if params.keep_guests && !params.separate {
            Vec::new()
        } else {
            guests(target)
        },
        separate: params.separate,
    };
    let kept = if params.separate {
        facts.guests.clone()
    } else {
        Vec::new()
    };
    match remove::decide(&facts) {
        Decision::Refuse(msg) => Err(Failure::new(msg)),
        Decision::NotMember => Ok(None),
        Decision::Remove(removal) => Ok(Some(Planned {
            removal,
            kept,
            version: conf.config_version(),
        })),
    }
}

/// Check mode: every check made, the membership before and after, nothing
/// changed.
fn would_remove(
    params: &Params,
    ctx: &mut Context<'_>,
    planned: &Planned,
) -> Result<Outcome, Failure> {
    let removal = &planned.removal;
    let mut outcome = report(removal, planned.version, None);
    outcome.changed = true;
    outcome.diff = outcome_diff(ctx, removal);
    if params.separate {
        outcome
            .data
            .insert("separate".into(), separation_report(removal, &planned.kept));
    }
    outcome.msg = Some(if params.separate {
        format!(
            "would separate {} (node id {}): run on it over SSH (root@{}): {}; then remove \
             it from the cluster with 'pvecm delnode {}'; its guests' files would stay on it",
            removal.node,
            removal.nodeid,
            removal.address.as_deref().unwrap_or("?"),
            remove::SEPARATE_STEPS.join("; "),
            removal.node
        )
    } else {
        format!(
            "would remove {} (node id {}) from the cluster",
            removal.node, removal.nodeid
        )
    });
    if params.remove_ssh_keys {
        forget_ssh_keys(&mut outcome, ctx, &removal.node, removal.address.as_deref())?;
    }
    Ok(outcome)
}

/// Separates the node when asked, removes it, and reads the result back.
fn remove_now(
    params: &Params,
    ctx: &mut Context<'_>,
    planned: &Planned,
) -> Result<Outcome, Failure> {
    let (removal, kept, version) = (&planned.removal, &planned.kept, planned.version);
    let token = ctx.change_token()?;
    if params.separate {
        separate(ctx, removal, &token)?;
        wait_until_gone(ctx, removal, params.timeout)
            .map_err(|msg| Failure::new(msg).after_change())?;
    }
    delnode(ctx, removal, &token).map_err(
        |f| {
            if params.separate {
                f.after_change()
            } else {
                f
            }
        },
    )?;
    let version_after = confirm_removed(removal, version)?;
    let expected = wait_for_expected_votes(ctx, removal, params.timeout)
        .map_err(|msg| Failure::new(msg).after_change())?;
    let mut outcome = report(removal, version, version_after);
    outcome.changed = true;
    outcome.diff = outcome_diff(ctx, removal);
    outcome
        .data
        .insert("expected_votes".into(), json!(expected));
    let mut msg = format!(
        "removed {} (node id {}) from the cluster; {} nodes remain, expecting {expected} votes",
        removal.node,
        removal.nodeid,
        removal.members_after.len()
    );
    if params.separate {
        outcome
            .data
            .insert("separate".into(), separation_report(removal, kept));
        msg.push_str(&format!(
            "; separated it: {} is a standalone node now, and its guests' files stay on it{}",
            removal.node,
            if kept.is_empty() {
                String::new()
            } else {
                format!(" ({})", kept.join(", "))
            }
        ));
    }
    if params.remove_directory {
        remove_directory(&removal.node, &token)?;
        msg.push_str(&format!("; removed /etc/pve/nodes/{}", removal.node));
    }
    if params.remove_ssh_keys {
        forget_ssh_keys(&mut outcome, ctx, &removal.node, removal.address.as_deref())
            .map_err(Failure::after_change)?;
        msg.push_str("; took its keys out of the cluster's SSH files");
    }
    outcome.msg = Some(msg);
    Ok(outcome)
}

/// The cluster's SSH files without the node, as the documentation's
/// clean-up after a removal says: root's key of the node out of
/// `/etc/pve/priv/authorized_keys`, its name and address out of
/// `/etc/pve/priv/known_hosts`. Reports the lines taken out
/// (`ssh_keys_removed`) and their diffs; marks the outcome changed when a
/// line goes. Writes nothing in check mode.
fn forget_ssh_keys(
    outcome: &mut Outcome,
    ctx: &mut Context<'_>,
    node: &str,
    address: Option<&str>,
) -> Result<bool, Failure> {
    let names: Vec<String> = std::iter::once(node)
        .chain(address)
        .map(str::to_string)
        .collect();
    let mut diffs = Vec::new();
    let (_, keys) = update_file(
        Path::new(CLUSTER_AUTHORIZED_KEYS),
        0o600,
        ctx,
        &mut diffs,
        |t| {
            let plan = ssh::plan_forget_root_key(t, node);
            (plan.content, Vec::new(), plan.removed)
        },
    )?;
    let (_, hosts) = update_file(
        Path::new(CLUSTER_KNOWN_HOSTS),
        0o600,
        ctx,
        &mut diffs,
        |t| {
            let plan = ssh::plan_forget_hosts(t, &names);
            (plan.content, Vec::new(), plan.removed)
        },
    )?;
    let removed = !keys.is_empty() || !hosts.is_empty();
    outcome.changed |= removed;
    outcome.data.insert(
        "ssh_keys_removed".into(),
        json!({"authorized_keys": keys, "known_hosts": hosts}),
    );
    if ctx.diff() && !diffs.is_empty() {
        let mut all: Vec<serde_json::Value> = match outcome.diff.take() {
            Some(serde_json::Value::Array(list)) => list,
            Some(one) => vec![one],
            None => Vec::new(),
        };
        all.extend(diffs);
        outcome.diff = Some(serde_json::Value::Array(all));
    }
    Ok(removed)
}

fn separation_report(removal: &Removal, kept: &[String]) -> serde_json::Value {
    json!({
        "address": removal.address,
        "steps": remove::SEPARATE_STEPS,
        "guests_kept": kept,
    })
}

/// Runs the separation steps on the leaving node, in one root SSH session
/// as PVE's tools open it.
fn separate(ctx: &Context<'_>, removal: &Removal, token: &ChangeToken) -> Result<(), Failure> {
    let address = removal.address.as_deref().unwrap_or(removal.node.as_str());
    let out = ctx.runner.run(
        &Cmd::mutating("ssh", token)
            .args(remove::ssh_args(&removal.node, address))
            .cwd("/")
            .timeout(SEPARATE_TIMEOUT),
    );
    let (started, detail) = match out {
        Ok(out) if out.success() => return Ok(()),
        Ok(out) => (
            remove::steps_started(&out.stdout),
            format!(
                "exit status {}: {}",
                out.rc.map_or("?".into(), |c| c.to_string()),
                out.stderr.trim()
            ),
        ),
        Err(e) => {
            let started = match &e {
                crate::cmd::CmdError::TimedOut { output, .. } => {
                    remove::steps_started(&output.stdout)
                }
                _ => 0,
            };
            (started, e.to_string())
        }
    };
    let failure = Failure::new(remove::separation_failed(&removal.node, started, &detail));
    Err(if started > 0 {
        failure.after_change()
    } else {
        failure
    })
}

/// Polls `pvecm status` until corosync on this node no longer sees the
/// separated node.
fn wait_until_gone(ctx: &Context<'_>, removal: &Removal, timeout: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        if let Ok(probe) = probe::read(ctx.runner, Path::new(CLUSTER_CONF)) {
            if probe.status.quorate
                && !probe
                    .status
                    .nodes
                    .iter()
                    .any(|n| n.nodeid == removal.nodeid && n.online)
            {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{node} ran the separation steps and is a standalone node now, but within \
                 {timeout} s corosync on this node still saw it, or lost quorum; the cluster \
                 still lists {node}: check 'pvecm status', then remove it without separate (with \
                 keep_guests)",
                node = removal.node
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The node to remove, once the options are known to make sense.
fn checked_target(params: &Params) -> Result<&str, Failure> {
    let target = params.name.trim();
    if target.is_empty() {
        return Err(Failure::new("name must be the name of the node to remove"));
    }
    if params.keep_guests && params.remove_directory {
        return Err(Failure::new(
            "keep_guests keeps the guests' configurations in /etc/pve/nodes/<name>, and \
             remove_directory removes that directory: give one of them",
        ));
    }
    Ok(target)
}

/// Reads the config back after `pvecm delnode`: the node must be gone and
/// the version raised. Returns the new version.
fn confirm_removed(removal: &Removal, version: Option<u64>) -> Result<Option<u64>, Failure> {
    let after = read_conf().map_err(Failure::after_change)?;
    let version_after = after.config_version();
    if after
        .nodes()
        .iter()
        .any(|n| n.name.as_deref() == Some(removal.node.as_str()))
        || version_after <= version
    {
        return Err(Failure::new(format!(
            "'pvecm delnode {}' ended, but {CLUSTER_CONF} still lists {} (config_version {}): \
             the node was not removed. See 'journalctl -u pve-cluster' and retry",
            removal.node,
            removal.node,
            version_after.map_or("?".into(), |v| v.to_string())
        )));
    }
    Ok(version_after)
}

fn outcome_diff(ctx: &Context<'_>, removal: &Removal) -> Option<serde_json::Value> {
    ctx.diff().then(|| {
        json!({
            "before": members_text(&removal.members_before),
            "after": members_text(&removal.members_after),
            "before_header": format!("{CLUSTER_CONF} nodelist"),
            "after_header": format!("{CLUSTER_CONF} nodelist"),
        })
    })
}

/// One name a line, as the diff shows the membership.
fn members_text(members: &[String]) -> String {
    members.iter().map(|m| format!("{m}\n")).collect()
}

fn report(removal: &Removal, before: Option<u64>, after: Option<u64>) -> Outcome {
    Outcome::default()
        .with("node", &removal.node)
        .with("nodeid", removal.nodeid)
        .with(
            "members",
            json!({"before": removal.members_before, "after": removal.members_after}),
        )
        .with(
            "config_version",
            json!({"before": before, "after": after.or(before.map(|v| v + 1))}),
        )
}

fn read_conf() -> Result<CorosyncConf, Failure> {
    let path = Path::new(CLUSTER_CONF);
    match probe::read_conf(path) {
        Ok(Some(conf)) => Ok(conf),
        Ok(None) => Err(Failure::new(ConfReadError::missing(path).to_string())),
        Err(e @ ConfReadError::Unreadable { .. }) => Err(Failure::new(e.to_string())),
        Err(e @ ConfReadError::Parse { .. }) => Err(Failure::new(format!(
            "{e}; fix the file before removing a node"
        ))),
    }
}

/// The guest configurations in `/etc/pve/nodes/<node>`.
fn guests(node: &str) -> Vec<String> {
    node_guests(&RealHost::from_env(), node)
}

/// A node the cluster no longer lists: with `remove_directory`, its
/// directory in `/etc/pve/nodes` goes too (unless it holds guests), and with
/// `remove_ssh_keys` its keys in the cluster's SSH files.
fn leftover(target: &str, params: &Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
    let dir = format!("/etc/pve/nodes/{target}");
    let mut outcome = Outcome::default()
        .with("node", target)
        .with("members", json!({"before": null, "after": null}));
    let would = if ctx.check_mode() { "would " } else { "" };
    let mut done = Vec::new();
    if params.remove_directory && Path::new(&dir).is_dir() {
        let guests = guests(target);
        if !guests.is_empty() {
            return Err(Failure::new(format!(
                "{target} is no longer in the cluster, but {dir} still holds guests: {}; move or \
                 back them up before its directory is removed",
                guests.join(", ")
            )));
        }
        outcome.changed = true;
        if !ctx.check_mode() {
            let token = ctx.change_token()?;
            remove_directory(target, &token)?;
        }
        done.push(format!(
            "{would}remove{} {dir}",
            if would.is_empty() { "d" } else { "" }
        ));
    }
    if params.remove_ssh_keys && forget_ssh_keys(&mut outcome, ctx, target, None)? {
        done.push(format!(
            "{would}{} its keys out of the cluster's SSH files",
            if would.is_empty() { "took" } else { "take" }
        ));
    }
    outcome.msg = Some(if done.is_empty() {
        format!("{target} is not a node of this cluster")
    } else {
        format!(
            "{target} is not a node of this cluster; {}",
            done.join("; ")
        )
    });
    Ok(outcome)
}

fn remove_directory(node: &str, token: &ChangeToken) -> Result<(), Failure> {
    let dir = format!("/etc/pve/nodes/{node}");
    match fsutil::remove_dir_all(Path::new(&dir), token) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::new(format!(
            "the node was removed from the cluster, but {dir} could not be removed: {e}; remove \
             it by hand"
        ))
        .after_change()),
    }
}

fn delnode(ctx: &Context<'_>, removal: &Removal, token: &ChangeToken) -> Result<(), Failure> {
    let out = ctx.runner.run(
        &Cmd::mutating("pvecm", token)
            .args(["delnode", removal.node.as_str()])
            .cwd("/")
            .timeout(DELNODE_TIMEOUT),
    );
    match out {
        Ok(out) if out.success() => Ok(()),
        // PVE says: "Could not kill node (error = CS_ERR_NOT_EXIST)" is
        // harmless for a node that is already off; the read-back decides.
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::new(format!("pvecm delnode {}: {e}", removal.node))),
    }
}

/// Polls `pvecm status` until corosync expects the remaining votes.
fn wait_for_expected_votes(
    ctx: &Context<'_>,
    removal: &Removal,
    timeout: u64,
) -> Result<u32, String> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut seen = None;
    loop {
        if let Ok(probe) = probe::read(ctx.runner, Path::new(CLUSTER_CONF)) {
            seen = probe.status.expected_votes;
            if probe.status.quorate && seen == Some(removal.expected_votes_after) {
                return Ok(removal.expected_votes_after);
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} was removed from {CLUSTER_CONF}, but within {timeout} s corosync did not \
                 expect {} votes in a quorate cluster (it expects {}); check 'pvecm status' on \
                 every node",
                removal.node,
                removal.expected_votes_after,
                seen.map_or("?".into(), |v| v.to_string())
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
