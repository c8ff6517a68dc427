//! `pve_cluster_qdevice`: sets up or removes the cluster's QDevice as
//! Proxmox VE does it (`pvecm qdevice setup` / `pvecm qdevice remove`), run
//! on one member. The checks of `pvecm` are made first so that a refusal
//! says why; the state read back afterwards (`pvecm status`: the QDevice's
//! vote) decides whether it worked.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::ansible::{ChangeToken, Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::cmd::Cmd;
use crate::probe::{self, ConfReadError};
use crate::pve::corosync_conf::{CorosyncConf, QuorumDevice, CLUSTER_CONF};
use crate::pve::qdevice::{self, Decision, Facts, Want};
use crate::pve::status::ClusterView;

/// How long the SSH check of the QNetd host may take.
const SSH_CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// The module.
pub struct ClusterQdevice;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    address: Option<String>,
    state: String,
    force: bool,
    timeout: u64,
}

impl Module for ClusterQdevice {
    type Params = Params;
    const NAME: &'static str = "pve_cluster_qdevice";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("address", Type::Str),
            Opt::new("state", Type::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Opt::new("force", Type::Bool).default(false),
            Opt::new("timeout", Type::Int).default(120),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let want = if params.state == "absent" {
            Want::Absent
        } else {
            Want::Present
        };
        let address = params.address.as_deref().unwrap_or("").trim().to_string();
        if want == Want::Present && address.is_empty() {
            return Err(Failure::new(
                "address (the QNetd host's IP address) is required with state=present",
            ));
        }
        let probe = probe::read(ctx.runner, Path::new(CLUSTER_CONF))?;
        let conf = read_conf(&probe.status)?;
        let device = conf.as_ref().and_then(CorosyncConf::quorum_device);
        let facts = Facts {
            want,
            address: &address,
            force: params.force,
            status: &probe.status,
            device: device.as_ref(),
        };
        let before_host = device.as_ref().and_then(|d| d.host.clone());
        let planned = match qdevice::decide(&facts) {
            Decision::Refuse(msg) => {
                return Err(Failure::new(msg).with("host", json!({"before": before_host})))
            }
            Decision::Ok(msg) => {
                return Ok(in_place(
                    ctx,
                    want,
                    &address,
                    &probe.status,
                    before_host,
                    msg,
                ))
            }
            Decision::Setup(setup) => Some(qdevice::planned_device(&address, &setup)),
            Decision::Remove(_) => None,
        };
        if want == Want::Present {
            ssh_check(ctx, &address)?;
        }
        let after_host = planned.as_ref().and_then(|d| d.host.clone());
        let diff = ctx.diff().then(|| {
            json!({
                "before": qdevice::device_text(device.as_ref()),
                "after": qdevice::device_text(planned.as_ref()),
                "before_header": format!("{CLUSTER_CONF} quorum"),
                "after_header": format!("{CLUSTER_CONF} quorum"),
            })
        });
        if ctx.check_mode() {
            let mut outcome = report(&probe.status, before_host.clone(), after_host);
            outcome.changed = true;
            outcome.diff = diff;
            outcome.msg = Some(would(&address, planned.as_ref(), before_host.as_deref()));
            return Ok(outcome);
        }
        let token = ctx.change_token()?;
        let timeout = Duration::from_secs(params.timeout.max(1));
        match &planned {
            Some(_) => setup(ctx, &address, params.force, &token, timeout)?,
            None => remove(ctx, &token, timeout)?,
        }
        let status = wait_for(ctx, want, timeout)?;
        let mut outcome = report(&status, before_host, after_host);
        outcome.changed = true;
        outcome.diff = diff;
        outcome.msg = Some(done(want, &address, &status));
        Ok(outcome)
    }
}

/// What was done, with the votes corosync counts after it.
fn done(want: Want, address: &str, status: &ClusterView) -> String {
    match want {
        Want::Present => format!(
            "set up the QDevice at {address}; corosync expects {} votes and counts {}",
            status.expected_votes.map_or("?".into(), |v| v.to_string()),
            status.total_votes.map_or("?".into(), |v| v.to_string())
        ),
        Want::Absent => "removed the QDevice".into(),
    }
}

/// The result when the device is already as wanted: nothing changes, but
/// a configured device that casts no vote is worth a warning.
fn in_place(
    ctx: &mut Context<'_>,
    want: Want,
    address: &str,
    status: &ClusterView,
    host: Option<String>,
    msg: String,
) -> Outcome {
    if want == Want::Present && !qdevice::voting(status) {
        ctx.warn(format!(
            "the QDevice at {address} is configured but casts no vote now (pvecm \
             status: {}); check corosync-qdevice on the nodes and corosync-qnetd on \
             the QNetd host",
            probe::summary(status)
        ));
    }
    let mut outcome = report(status, host.clone(), host);
    outcome.msg = Some(msg);
    outcome
}

/// What check mode says it would do: set up `planned`, or remove the
/// device at `before_host`.
fn would(address: &str, planned: Option<&QuorumDevice>, before_host: Option<&str>) -> String {
    match planned {
        Some(d) => format!(
            "would set up a QDevice at {address} (algorithm {})",
            d.algorithm.as_deref().unwrap_or("?")
        ),
        None => format!(
            "would remove the QDevice at {}",
            before_host.unwrap_or("an unknown host")
        ),
    }
}

fn report(status: &ClusterView, before: Option<String>, after: Option<String>) -> Outcome {
    Outcome::default()
        .with("host", json!({"before": before, "after": after}))
        .with("qdevice", &status.qdevice)
        .with("expected_votes", status.expected_votes)
        .with("total_votes", status.total_votes)
        .with("quorate", status.quorate)
}

/// `/etc/pve/corosync.conf`, parsed; a member without it is refused by the
/// decision (not in a cluster).
fn read_conf(status: &ClusterView) -> Result<Option<CorosyncConf>, Failure> {
    if !status.in_cluster {
        return Ok(None);
    }
    let path = Path::new(CLUSTER_CONF);
    match probe::read_conf(path) {
        Ok(Some(conf)) => Ok(Some(conf)),
        Ok(None) => Err(Failure::new(ConfReadError::missing(path).to_string())),
        Err(e) => Err(Failure::new(e.to_string())),
    }
}

/// `pvecm qdevice setup` starts with `ssh-copy-id`, which asks for the
/// QNetd host's root password when root's key is not authorized there (and
/// fails without a terminal): check key login first.
fn ssh_check(ctx: &Context<'_>, address: &str) -> Result<(), Failure> {
    let target = format!("root@{address}");
    let out = ctx.runner.run(
        &Cmd::new("ssh")
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                target.as_str(),
                "true",
            ])
            .timeout(SSH_CHECK_TIMEOUT),
    );
    let detail = match out {
        Ok(out) if out.success() => return Ok(()),
        Ok(out) => out.stderr.trim().to_string(),
        Err(e) => e.to_string(),
    };
    Err(Failure::new(format!(
        "this node cannot log in to the QNetd host as {target} with its key \
         (ssh -o BatchMode=yes {target} true: {detail}); pvecm qdevice setup would ask for a \
         password: authorize this node's root key (/root/.ssh/id_rsa.pub) in root's \
         authorized_keys on the QNetd host and make its host key known to this node \
         (/root/.ssh/known_hosts), then run again"
    )))
}

fn pvecm(
    ctx: &Context<'_>,
    token: &ChangeToken,
    args: &[&str],
    timeout: Duration,
) -> Result<(), Failure> {
    let cmd = Cmd::mutating("pvecm", token)
        .args(args.iter().copied())
        .cwd("/")
        .timeout(timeout);
    let shown = cmd.display();
    let out = ctx
        .runner
        .run(&cmd)
        .map_err(|e| Failure::new(format!("{shown}: {e}")).after_change())?;
    if out.success() {
        return Ok(());
    }
    let err = out.stderr.trim();
    Err(Failure::new(format!(
        "{shown} failed (exit {}): {}",
        out.rc.map_or("?".into(), |c| c.to_string()),
        err.lines().last().unwrap_or("no message")
    ))
    .with("stdout", &out.stdout)
    .with("stderr", &out.stderr)
    .after_change())
}

fn setup(
    ctx: &Context<'_>,
    address: &str,
    force: bool,
    token: &ChangeToken,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut args = vec!["qdevice", "setup", address];
    if force {
        args.extend(["--force", "1"]);
    }
    pvecm(ctx, token, &args, timeout)
}

fn remove(ctx: &Context<'_>, token: &ChangeToken, timeout: Duration) -> Result<(), Failure> {
    pvecm(ctx, token, &["qdevice", "remove"], timeout)
}

/// Polls `pvecm status` until the QDevice votes (present) or is gone
/// (absent) in a quorate cluster.
fn wait_for(ctx: &Context<'_>, want: Want, timeout: Duration) -> Result<ClusterView, Failure> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Ok(probe) = probe::read(ctx.runner, Path::new(CLUSTER_CONF)) {
            let done = match want {
                Want::Present => qdevice::voting(&probe.status),
                Want::Absent => probe.status.qdevice.is_none() && probe.status.quorate,
            };
            if done {
                return Ok(probe.status);
            }
            last = Some(probe.status);
        }
        if Instant::now() >= deadline {
            let seen = last
                .as_ref()
                .map(probe::summary)
                .unwrap_or_else(|| "pvecm status could not be read".into());
            let msg = match want {
                Want::Present => format!(
                    "pvecm qdevice setup ended, but within {} s the QDevice cast no vote \
                     (pvecm status: {seen}); check that corosync-qdevice runs on every node \
                     and reaches corosync-qnetd on the QNetd host (TCP 5403)",
                    timeout.as_secs()
                ),
                Want::Absent => format!(
                    "pvecm qdevice remove ended, but within {} s pvecm status still shows a \
                     QDevice or no quorum ({seen})",
                    timeout.as_secs()
                ),
            };
            return Err(Failure::new(msg)
                .with("qdevice", last.as_ref().and_then(|s| s.qdevice.clone()))
                .after_change());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
