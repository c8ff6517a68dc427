//! `pve_cluster_join`: creates a Proxmox VE cluster on this node, or joins
//! this node to one through a member, and reports only what the cluster
//! state shows: `pvecm add` exits 0 even when the join failed.
//!
//! Order of a run: validate the options; take the node-local lock (not in
//! check mode); read the state; stop if the node is already a member, is in
//! another cluster, or is half set up; check what PVE would reject; stop
//! here in check mode; run `pvecm create`/`add`; poll the state until the
//! node is a member of a quorate cluster or the timeout passes.

pub(crate) mod host;

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ansible::{Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::cmd::{Cmd, CmdError, CmdOutput};
use crate::probe::{self, OnTimeout};
use crate::pve::corosync_conf;
use crate::pve::finish;
use crate::pve::join::{
    self, Action, ConfSummary, Facts, JoinPath, Link, Observed, Relation, Request,
};
use crate::pve::names::validate_cluster_name;
use crate::pve::status::{NodeState, ParseError};
use host::{guests, Host, RealHost};

/// The module.
pub struct ClusterJoin;

/// One element of `links`.
#[derive(Debug, Deserialize)]
pub struct LinkParam {
    address: String,
    priority: Option<i64>,
    number: Option<i64>,
}

/// The options, typed.
#[derive(Debug, Deserialize)]
pub struct Params {
    cluster_name: String,
    peer: Option<String>,
    links: Option<Vec<LinkParam>>,
    nodeid: Option<i64>,
    votes: Option<i64>,
    use_ssh: Option<bool>,
    check_ssh_login: bool,
    password: Option<String>,
    fingerprint: Option<String>,
    timeout: i64,
}

const DEFAULT_TIMEOUT: i64 = 120;
const PEER_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Module for ClusterJoin {
    type Params = Params;
    const NAME: &'static str = "pve_cluster_join";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        let link = Spec::new(vec![
            Opt::new("address", Type::Str).required(),
            Opt::new("priority", Type::Int),
            Opt::new("number", Type::Int),
        ]);
        Spec::new(vec![
            Opt::new("cluster_name", Type::Str).required(),
            Opt::new("peer", Type::Str),
            Opt::new("links", Type::List)
                .elements(Type::Dict)
                .options(link),
            Opt::new("nodeid", Type::Int),
            Opt::new("votes", Type::Int),
            Opt::new("use_ssh", Type::Bool),
            Opt::new("check_ssh_login", Type::Bool).default(true),
            Opt::new("password", Type::Str).no_log(),
            Opt::new("fingerprint", Type::Str),
            Opt::new("timeout", Type::Int).default(DEFAULT_TIMEOUT),
        ])
        .required_together(&["password", "fingerprint"])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        run_with(params, ctx, &RealHost::from_env())
    }
}

/// `value` when it lies between `min` and `max`, else a failure naming it.
fn in_range(name: &str, value: i64, min: i64, max: i64) -> Result<i64, Failure> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Failure::new(format!(
            "{name} is {value}; it must be between {min} and {max}"
        )))
    }
}

/// The links option, numbered and checked.
fn links(params: &Params) -> Result<Vec<Link>, Failure> {
    let mut links = Vec::new();
    for (position, l) in params.links.iter().flatten().enumerate() {
        let default_number = i64::try_from(position).unwrap_or(i64::MAX);
        let number = in_range(
            "a link number",
            l.number.unwrap_or(default_number),
            0,
            join::MAX_LINKS as i64 - 1,
        )?;
        let priority = match l.priority {
            Some(p) => Some(u8::try_from(in_range("a link priority", p, 0, 255)?).unwrap_or(0)),
            None => None,
        };
        links.push(Link {
            number: u8::try_from(number).unwrap_or(0),
            address: l.address.trim().to_string(),
            priority,
        });
    }
    join::check_links(&links).map_err(Failure::new)?;
    Ok(links)
}

/// Turns the options into a request, or says what is wrong with them.
fn request(params: &Params, warnings: &mut Vec<String>) -> Result<Request, Failure> {
    validate_cluster_name(&params.cluster_name).map_err(Failure::new)?;
    let links = links(params)?;
    let peer = params
        .peer
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let creating = peer.is_none();
    let nodeid = match params.nodeid {
        Some(id) => {
            Some(u32::try_from(in_range("nodeid", id, 1, i64::from(u32::MAX))?).unwrap_or(1))
        }
        None => None,
    };
    let min_votes = if creating { 1 } else { 0 };
    let votes = match params.votes {
        Some(v) => Some(u32::try_from(in_range("votes", v, min_votes, 1_000_000)?).unwrap_or(1)),
        None => None,
    };
    if params.timeout < 1 {
        return Err(Failure::new(format!(
            "timeout is {}; it must be at least 1 (seconds)",
            params.timeout
        )));
    }
    let path = join_path(params, creating)?;
    if creating && (params.password.is_some() || params.use_ssh.is_some()) {
        warnings.push(
            "use_ssh, password and fingerprint are only used to join through peer; without peer \
             this node creates the cluster and ignores them"
                .to_string(),
        );
    }
    Ok(Request {
        check_ssh_login: params.check_ssh_login,
        cluster_name: params.cluster_name.clone(),
        peer,
        path,
        links,
        nodeid,
        votes,
    })
}

/// How to reach the peer: SSH, or the API with password and fingerprint.
fn join_path(params: &Params, creating: bool) -> Result<JoinPath, Failure> {
    let path =
        match (&params.password, params.use_ssh) {
            (Some(_), Some(true)) => return Err(Failure::new(
                "password and use_ssh: true do not go together: the SSH join uses root's SSH key, \
                 the password is for the API join (leave use_ssh out or set it false)",
            )),
            (Some(_), _) => {
                let fingerprint = params.fingerprint.clone().unwrap_or_default();
                join::check_fingerprint(&fingerprint).map_err(Failure::new)?;
                JoinPath::Api {
                    fingerprint: fingerprint.to_ascii_uppercase(),
                }
            }
            (None, Some(false)) if !creating => return Err(Failure::new(
                "use_ssh is false but no password is given: the API join needs the peer's root \
                 password and its certificate fingerprint",
            )),
            (None, _) => JoinPath::Ssh,
        };
    Ok(path)
}

/// The state read in one pass, with what `pvecm status` could not say.
struct Probe {
    obs: Observed,
    /// Why `pvecm status` could not be read, if it could not.
    status_error: Option<ParseError>,
    status_raw: CmdOutput,
}

fn node_name(host: &dyn Host) -> Result<String, Failure> {
    let raw = host.read("/proc/sys/kernel/hostname").unwrap_or_default();
    crate::node::short_hostname(&raw).ok_or_else(|| {
        Failure::new("cannot read this node's host name from /proc/sys/kernel/hostname")
    })
}

fn run_read(ctx: &Context<'_>, cmd: &Cmd) -> Result<CmdOutput, Failure> {
    match ctx.runner.run(cmd) {
        Ok(out) => Ok(out),
        Err(CmdError::TimedOut { output, .. }) => Ok(output),
        Err(err) => Err(Failure::from(err)),
    }
}

/// One of the node's corosync configs, summarised; a file that is not in
/// corosync's format stops the run instead of passing for no cluster.
pub(crate) fn conf_summary(host: &dyn Host, path: &str) -> Result<Option<ConfSummary>, Failure> {
    host.read(path)
        .map(|text| join::parse_conf_summary(&text))
        .transpose()
        .map_err(|e| {
            Failure::new(format!(
                "cannot parse {path}: {e}; corosync and pvecm read this file too: fix it, or, if \
                 it is what an old cluster left, separate the node as described under 'Separate a \
                 node without reinstalling' in the Proxmox VE admin guide"
            ))
        })
}

/// Reads the node's cluster state: `pvecm` through the probe, and the files.
fn observe(ctx: &Context<'_>, host: &dyn Host) -> Result<Probe, Failure> {
    let node = node_name(host)?;
    // A hanging `pvecm` (pmxcfs down) leaves the decision to the files.
    let pvecm = probe::read_pvecm(ctx.runner, OnTimeout::ReadOutput)?;
    let mut obs = Observed {
        cluster_conf: conf_summary(host, corosync_conf::CLUSTER_CONF)?,
        local_conf: conf_summary(host, corosync_conf::LOCAL_CONF)?,
        authkey: host.exists(join::AUTHKEY),
        corosync_running: host.process_running("corosync"),
        cfs_quorate: host.cfs_quorate(),
        guests: guests(host, &node),
        node,
        ..Observed::default()
    };
    let status_error = match pvecm.status {
        Ok(report) => {
            if report.state == NodeState::Running {
                obs.corosync_running = true;
                obs.quorate = report.quorum.and_then(|q| q.quorate) == Some(true);
                if let Some(Ok(nodes)) = pvecm.nodes {
                    obs.members = nodes
                        .membership
                        .map(|m| m.members.into_iter().filter_map(|r| r.name).collect())
                        .unwrap_or_default();
                }
            }
            None
        }
        Err(err) => Some(err),
    };
    Ok(Probe {
        obs,
        status_error,
        status_raw: pvecm.status_raw,
    })
}

/// The status returned to the user.
#[derive(Debug, Serialize)]
struct StatusOut {
    node: String,
    in_cluster: bool,
    cluster_name: Option<String>,
    config_version: Option<u64>,
    nodes: Vec<String>,
    members_online: Vec<String>,
    corosync_running: bool,
    quorate: bool,
}

fn status_out(obs: &Observed) -> StatusOut {
    let conf = obs
        .cluster_conf
        .clone()
        .or_else(|| obs.local_conf.clone())
        .unwrap_or_default();
    StatusOut {
        node: obs.node.clone(),
        in_cluster: obs.cluster_conf.is_some() && conf.nodes.contains(&obs.node),
        cluster_name: conf.cluster_name,
        config_version: conf.config_version,
        nodes: conf.nodes,
        members_online: obs.members.clone(),
        corosync_running: obs.corosync_running,
        quorate: obs.quorate,
    }
}

fn membership_text(cluster: Option<&str>, nodes: &[String]) -> String {
    match cluster {
        None => "cluster: none\n".to_string(),
        Some(name) => {
            let mut text = format!("cluster: {name}\nnodes:\n");
            for n in nodes {
                text.push_str(&format!("  - {n}\n"));
            }
            text
        }
    }
}

fn observed_text(obs: &Observed) -> String {
    match &obs.cluster_conf {
        Some(ConfSummary {
            cluster_name,
            nodes,
            ..
        }) => membership_text(Some(cluster_name.as_deref().unwrap_or("(unnamed)")), nodes),
        None => membership_text(None, &[]),
    }
}

fn diff(before: String, after: String, node: &str) -> Value {
    json!({
        "before": before,
        "after": after,
        "before_header": format!("{node} cluster membership"),
        "after_header": format!("{node} cluster membership"),
    })
}

fn unchanged(req: &Request, probe: &Probe, msg: String) -> Outcome {
    Outcome::unchanged(msg)
        .with("cluster_name", &req.cluster_name)
        .with("node", &probe.obs.node)
        .with("action", "none")
        .with("status", status_out(&probe.obs))
}

fn state_failure(msg: String, probe: &Probe) -> Failure {
    Failure::new(msg)
        .with("status", status_out(&probe.obs))
        .with("status_output", &probe.status_raw)
}

fn steps_text(steps: &[String]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}) {s}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Polls until the node is a member of a quorate `target`, with growing
/// pauses, until `deadline` (measured from the start of the run).
fn wait_for_member(
    ctx: &Context<'_>,
    host: &dyn Host,
    target: &str,
    deadline: Duration,
) -> Result<Probe, Failure> {
    let mut pause = Duration::from_millis(500);
    loop {
        let probe = observe(ctx, host)?;
        if join::is_done(&probe.obs, target) {
            return Ok(probe);
        }
        let now = host.elapsed();
        if now >= deadline {
            return Ok(probe);
        }
        host.sleep(pause.min(deadline - now));
        pause = (pause * 3 / 2).min(Duration::from_secs(5));
    }
}

fn preflight_facts(
    ctx: &Context<'_>,
    host: &dyn Host,
    req: &Request,
    node: &str,
) -> Result<Facts, Failure> {
    let ip = run_read(ctx, &Cmd::new("ip").args(["-o", "addr"]))?;
    let local_addresses = crate::node::local_ips(&ip.stdout);
    let getent = run_read(ctx, &Cmd::new("getent").args(["ahosts", node]))?;
    let addrs: Vec<IpAddr> = crate::resolve::parse_ahosts(&getent.stdout);
    let node_addresses = if addrs.is_empty() {
        Err(format!(
            "getent ahosts {node} found no address (exit status {})",
            getent
                .rc
                .map_or_else(|| "none".to_string(), |rc| rc.to_string())
        ))
    } else {
        Ok(addrs)
    };
    let peer_reachable = req
        .peer
        .as_ref()
        .map(|peer| host.tcp_probe(peer, req.path.port(), PEER_PROBE_TIMEOUT));
    let peer_login = match (&req.peer, &req.path, &peer_reachable) {
        (Some(peer), JoinPath::Ssh, Some(Ok(()))) if req.check_ssh_login => {
            Some(ssh_login(ctx, peer)?)
        }
        _ => None,
    };
    Ok(Facts {
        local_addresses,
        node_addresses,
        peer_reachable,
        peer_login,
    })
}

/// The login `pvecm add --use_ssh` makes, tried first in batch mode: a
/// password prompt or an unknown host key fails at once instead of
/// waiting for an answer nobody gives.
pub(crate) fn ssh_login_cmd(peer: &str) -> Cmd {
    Cmd::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
        .arg(format!("root@{peer}"))
        .arg("true")
        .timeout(Duration::from_secs(30))
}

fn ssh_login(ctx: &Context<'_>, peer: &str) -> Result<Result<(), String>, Failure> {
    let out = run_read(ctx, &ssh_login_cmd(peer))?;
    if out.success() {
        return Ok(Ok(()));
    }
    let said = out
        .stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no answer")
        .trim()
        .to_string();
    Ok(Err(format!("'{}': {said}", ssh_login_cmd(peer).display())))
}

fn describe_action(req: &Request) -> String {
    match join::action(req) {
        Action::Create => format!("create cluster '{}'", req.cluster_name),
        Action::Join { peer, path } => format!(
            "join cluster '{}' through {peer} ({})",
            req.cluster_name,
            match path {
                JoinPath::Ssh => "SSH",
                JoinPath::Api { .. } => "API with password and fingerprint",
            }
        ),
    }
}

/// The whole run, with the node behind `host`. `timeout` bounds all of
/// it, from the start to a member of a quorate cluster: the wait for the
/// lock, the command and the wait for quorum share one deadline.
fn run_with(params: Params, ctx: &mut Context<'_>, host: &dyn Host) -> Result<Outcome, Failure> {
    let req = request(&params, &mut ctx.warnings)?;
    let deadline = Duration::from_secs(u64::try_from(params.timeout).unwrap_or(1));
    let _lock = if ctx.check_mode() {
        None
    } else {
        host.lock(deadline).map_err(Failure::new)?
    };
    let probe = observe(ctx, host)?;
    match join::membership(&probe.obs, &req.cluster_name) {
        Relation::Standalone => act(&params, &req, &probe, ctx, host, deadline),
        Relation::Member { quorate: true, .. } => finish_join(&req, probe, ctx, host, deadline),
        Relation::Member { quorate: false, .. } => {
            let probe = if ctx.check_mode() {
                probe
            } else {
                wait_for_member(ctx, host, &req.cluster_name, deadline)?
            };
            if probe.obs.quorate {
                return finish_join(&req, probe, ctx, host, deadline);
            }
            ctx.warn(format!(
                "node '{}' is a member of cluster '{}', but the cluster is not quorate: check \
                 that enough members are online ('pvecm status')",
                probe.obs.node, req.cluster_name
            ));
            Ok(already_member(&req, &probe))
        }
        Relation::OtherCluster {
            cluster_name,
            config_version,
            nodes,
        } => Err(state_failure(
            join::other_cluster_message(
                &probe.obs.node,
                &req.cluster_name,
                &cluster_name,
                config_version,
                &nodes,
            ),
            &probe,
        )),
        Relation::Incomplete { found, steps } => Err(state_failure(
            format!(
                "cannot {}: {found}. Nothing was changed. To recover: {}",
                describe_action(&req),
                steps_text(&steps)
            ),
            &probe,
        )),
    }
}

fn already_member(req: &Request, probe: &Probe) -> Outcome {
    unchanged(
        req,
        probe,
        format!(
            "node '{}' is already a member of cluster '{}'",
            probe.obs.node, req.cluster_name
        ),
    )
}

/// What is left of the deadline, at least a second for a command to start.
fn remaining(host: &dyn Host, deadline: Duration) -> Duration {
    deadline
        .saturating_sub(host.elapsed())
        .max(Duration::from_secs(1))
}

/// A quorate member: done, unless its join stopped before its last steps
/// (a join cut off while it waited for quorum). Those are made the way
/// PVE makes them: `pvecm updatecerts`, then pvedaemon and pveproxy
/// restarted for the new certificate.
fn finish_join(
    req: &Request,
    probe: Probe,
    ctx: &mut Context<'_>,
    host: &dyn Host,
    deadline: Duration,
) -> Result<Outcome, Failure> {
    let node = probe.obs.node.clone();
    let missing = finish::missing(&node, host);
    if missing.is_empty() {
        return Ok(already_member(req, &probe));
    }
    let found = finish::describe(&missing);
    let updatecerts = Cmd::new("pvecm").args(finish::FINISH_COMMAND).display();
    let restart = Cmd::new("systemctl")
        .arg("reload-or-restart")
        .args(finish::RESTARTED_SERVICES)
        .display();
    let report = |changed: bool, msg: String| {
        Outcome {
            changed,
            msg: Some(msg),
            diff: Some(diff(
                format!("join of {node} finished: no ({found})\n"),
                "join of {node} finished: yes\n".replace("{node}", &node),
                &node,
            )),
            ..Outcome::default()
        }
        .with("cluster_name", &req.cluster_name)
        .with("node", &node)
        .with("action", "finish")
        .with("missing", &missing)
        .with("commands", [&updatecerts, &restart])
    };
    let what = format!(
        "node '{node}' is a member of cluster '{}' whose join stopped before its last steps ({found})",
        req.cluster_name
    );
    if ctx.check_mode() {
        return Ok(report(
            true,
            format!("{what}: would finish it ('{updatecerts}', then '{restart}')"),
        )
        .with("status", status_out(&probe.obs)));
    }
    finish_steps(ctx, host, deadline, &probe, &what, &updatecerts, &restart)?;
    let after = observe(ctx, host)?;
    Ok(report(
        true,
        format!("{what}: finished it with '{updatecerts}' and '{restart}'"),
    )
    .with("status", status_out(&after.obs)))
}

/// `pvecm updatecerts`, checked, then the restart of the services that
/// serve the new certificate.
fn finish_steps(
    ctx: &mut Context<'_>,
    host: &dyn Host,
    deadline: Duration,
    probe: &Probe,
    what: &str,
    updatecerts: &str,
    restart: &str,
) -> Result<(), Failure> {
    let node = &probe.obs.node;
    let token = ctx.change_token()?;
    let manual = || steps_text(&finish::manual_steps());
    let out = run_read(
        ctx,
        &Cmd::mutating("pvecm", &token)
            .args(finish::FINISH_COMMAND)
            .cwd("/")
            .timeout(remaining(host, deadline)),
    )?;
    let left = finish::missing(node, host);
    if !left.is_empty() {
        return Err(state_failure(
            format!(
                "{what}; '{updatecerts}' did not make them (still: {}). To finish by hand: {}",
                finish::describe(&left),
                manual()
            ),
            probe,
        )
        .with("stdout", &out.stdout)
        .with("stderr", &out.stderr)
        .with("rc", out.rc)
        .after_change());
    }
    let restarted = run_read(
        ctx,
        &Cmd::mutating("systemctl", &token)
            .arg("reload-or-restart")
            .args(finish::RESTARTED_SERVICES)
            .timeout(remaining(host, deadline)),
    )?;
    if !restarted.success() {
        return Err(Failure::new(format!(
            "{what}; '{updatecerts}' made them, but '{restart}' failed ({}): restart the services \
             by hand, or the API keeps serving the old certificate",
            restarted.stderr.trim()
        ))
        .with("node", node)
        .with("stderr", &restarted.stderr)
        .after_change());
    }
    Ok(())
}

/// The pre-flight, then `pvecm create`/`add`, then the wait for a quorate
/// membership, all before `deadline`.
fn act(
    params: &Params,
    req: &Request,
    probe: &Probe,
    ctx: &mut Context<'_>,
    host: &dyn Host,
    deadline: Duration,
) -> Result<Outcome, Failure> {
    let node = probe.obs.node.clone();
    preflight(ctx, host, req, probe)?;

    let call = join::pvecm_call(req);
    let command = Cmd::new("pvecm").args(call.args.clone()).display();
    let action = join::action(req);
    let before = observed_text(&probe.obs);

    // What a dry run and a done action both report.
    let changed = |msg: String, after: String, status: StatusOut| {
        Outcome {
            changed: true,
            msg: Some(msg),
            diff: Some(diff(before.clone(), after, &node)),
            ..Outcome::default()
        }
        .with("cluster_name", &req.cluster_name)
        .with("node", &node)
        .with("action", action.name())
        .with("command", &command)
        .with("status", status)
    };

    if ctx.check_mode() {
        let mut outcome = changed(
            format!("would {}", describe_action(req)),
            planned_after(req, &action, &node),
            status_out(&probe.obs),
        );
        if call.password_on_stdin {
            outcome = outcome.with("stdin", "********");
        }
        return Ok(outcome);
    }

    let (output, timed_out) = run_pvecm(params, ctx, host, deadline, &call, &command)?;

    let diagnosis = join::diagnose(&output.stdout, &output.stderr);
    let after = if diagnosis.is_some() {
        observe(ctx, host)?
    } else {
        wait_for_member(ctx, host, &req.cluster_name, deadline)?
    };

    if join::is_done(&after.obs, &req.cluster_name) {
        if let Some(d) = &diagnosis {
            ctx.warn(format!(
                "pvecm reported a problem although the node is now a member: {} ({})",
                d.reason, d.hint
            ));
        }
        if !finish::missing(&node, host).is_empty() {
            // `pvecm` was stopped after quorum but before its last steps.
            return finish_join(req, after, ctx, host, deadline);
        }
        let msg = done_message(req, &action, &node);
        return Ok(
            changed(msg, observed_text(&after.obs), status_out(&after.obs))
                .with("stdout", &output.stdout)
                .with("stderr", &output.stderr)
                .with("rc", output.rc),
        );
    }
    Err(failed_action(
        req, &action, &command, &output, diagnosis, timed_out, deadline, &after,
    ))
}

/// The membership a create or join leads to, for the diff of a dry run.
fn planned_after(req: &Request, action: &Action, node: &str) -> String {
    match action {
        Action::Create => membership_text(Some(&req.cluster_name), &[node.to_string()]),
        Action::Join { peer, .. } => membership_text(
            Some(&req.cluster_name),
            &[
                format!(
                    "(the members of '{}', reached through {peer})",
                    req.cluster_name
                ),
                node.to_string(),
            ],
        ),
    }
}

/// Runs `pvecm create`/`add`, the root password on stdin for the API
/// join. A timeout is not an error here: its output is kept, and how long
/// it ran.
fn run_pvecm(
    params: &Params,
    ctx: &mut Context<'_>,
    host: &dyn Host,
    deadline: Duration,
    call: &join::PvecmCall,
    command: &str,
) -> Result<(CmdOutput, Option<Duration>), Failure> {
    let token = ctx.change_token()?;
    let mut cmd = Cmd::mutating("pvecm", &token)
        .args(call.args.clone())
        .cwd("/")
        .timeout(remaining(host, deadline));
    if call.password_on_stdin {
        let mut secret = params.password.clone().unwrap_or_default().into_bytes();
        secret.push(b'\n');
        cmd = cmd.stdin(secret);
    }
    match ctx.runner.run(&cmd) {
        Ok(out) => Ok((out, None)),
        Err(CmdError::TimedOut { output, after, .. }) => Ok((output, Some(after))),
        Err(err) => Err(Failure::from(err).with("command", command)),
    }
}

/// The message of a create or join that made the node a member.
fn done_message(req: &Request, action: &Action, node: &str) -> String {
    match action {
        Action::Create => {
            format!("created cluster '{}' on node '{node}'", req.cluster_name)
        }
        Action::Join { peer, .. } => format!(
            "node '{node}' joined cluster '{}' through {peer}",
            req.cluster_name
        ),
    }
}

/// The read-only checks of what PVE would reject; a failure names them all.
fn preflight(
    ctx: &Context<'_>,
    host: &dyn Host,
    req: &Request,
    probe: &Probe,
) -> Result<(), Failure> {
    let facts = preflight_facts(ctx, host, req, &probe.obs.node)?;
    let mut list: Vec<String> = join::preflight(req, &probe.obs, &facts)
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(err @ (ParseError::PmxcfsDown { .. } | ParseError::PmxcfsNotMounted { .. })) =
        &probe.status_error
    {
        list.push(err.to_string());
    }
    if list.is_empty() {
        return Ok(());
    }
    Err(state_failure(
        format!(
            "cannot {}: {} found before running anything: {}. Nothing was changed",
            describe_action(req),
            if list.len() == 1 {
                "1 problem".to_string()
            } else {
                format!("{} problems", list.len())
            },
            steps_text(&list)
        ),
        probe,
    )
    .with("problems", list))
}

/// The failure of a create or join: what went wrong and where the node
/// stands now.
#[allow(clippy::too_many_arguments)]
fn failed_action(
    req: &Request,
    action: &Action,
    command: &str,
    output: &CmdOutput,
    diagnosis: Option<join::Diagnosis>,
    timed_out: Option<Duration>,
    deadline: Duration,
    after: &Probe,
) -> Failure {
    let node = &after.obs.node;
    let state_now = match join::membership(&after.obs, &req.cluster_name) {
        Relation::Standalone => format!(
            "node '{node}' is unchanged (in no cluster) and can {} on a corrected re-run",
            action.name()
        ),
        Relation::Member { .. } => format!(
            "node '{node}' is now configured in cluster '{}', but the cluster did not become \
             quorate within {} s; check 'pvecm status' on the members, then run again: a re-run \
             finishes the join",
            req.cluster_name,
            deadline.as_secs()
        ),
        Relation::OtherCluster { cluster_name, .. } => {
            format!("node '{node}' is now configured for cluster '{cluster_name}'")
        }
        Relation::Incomplete { found, steps } => {
            format!("{found}. To recover: {}", steps_text(&steps))
        }
    };
    let what = match (&diagnosis, timed_out) {
        (Some(d), _) => format!("{}. Hint: {}", d.reason, d.hint),
        (None, Some(_)) => format!(
            "'{command}' did not finish within the timeout of {} s and was stopped",
            deadline.as_secs()
        ),
        (None, None) => format!(
            "'{command}' exited with status {} but within {} s the node did not become a member \
             of a quorate cluster '{}'",
            output
                .rc
                .map_or_else(|| "none".to_string(), |rc| rc.to_string()),
            deadline.as_secs(),
            req.cluster_name
        ),
    };
    state_failure(
        format!(
            "failed to {}: {what}. State now: {state_now}",
            describe_action(req)
        ),
        after,
    )
    .with("command", command)
    .with("stdout", &output.stdout)
    .with("stderr", &output.stderr)
    .with("rc", output.rc)
}

#[cfg(test)]
mod tests;
