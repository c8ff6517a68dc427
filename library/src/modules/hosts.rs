//! `pve_hosts`: gives every cluster node one canonical line in
//! `/etc/hosts` (`<ip> <fqdn> <name> [aliases]`), takes the nodes' names
//! off every other line (an old address, the Debian installer's
//! `127.0.1.1 <fqdn> <host>`), keeps every other byte, and checks that the
//! system resolver then answers as the file says.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use crate::ansible::{Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::cmd::Cmd;
use crate::fsutil::{self, WriteOptions};
use crate::hosts::{self, Edits, Node, NodeSpec, Notice, Options, State};
use crate::resolve::{self, Answer, Check, Row, Setting, Status};
use serde::Deserialize;
use serde_json::json;

const NSSWITCH: &str = "/etc/nsswitch.conf";
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// The module.
pub struct Hosts;

#[derive(Deserialize)]
struct NodeParam {
    ip: String,
    fqdn: Option<String>,
    name: Option<String>,
    aliases: Option<Vec<String>>,
}

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    nodes: Vec<NodeParam>,
    path: String,
    state: String,
    backup: bool,
    verify: bool,
    fix_loopback: bool,
}

impl Module for Hosts {
    type Params = Params;
    const NAME: &'static str = "pve_hosts";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("nodes", Type::List)
                .required()
                .elements(Type::Dict)
                .options(Spec::new(vec![
                    Opt::new("ip", Type::Str).required(),
                    Opt::new("fqdn", Type::Str),
                    Opt::new("name", Type::Str).aliases(&["short_name"]),
                    Opt::new("aliases", Type::List).elements(Type::Str),
                ])),
            Opt::new("path", Type::Path).default("/etc/hosts"),
            Opt::new("state", Type::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Opt::new("backup", Type::Bool).default(false),
            Opt::new("verify", Type::Bool).default(true),
            Opt::new("fix_loopback", Type::Bool).default(true),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let specs = node_specs(params.nodes);
        let nodes = hosts::validate_nodes(&specs).map_err(|e| {
            Failure::new(e.to_string()).with(
                "errors",
                e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
            )
        })?;
        let state = if params.state == "absent" {
            State::Absent
        } else {
            State::Present
        };
        let path = params.path.as_str();
        let (before, existed) = read_hosts(path)?;
        let local_hostname = crate::node::kernel_hostname();
        let options = Options {
            state,
            fix_loopback: params.fix_loopback,
            local_hostname: local_hostname.clone(),
        };
        // The new content stays edits of `before` until it is needed.
        let plan = hosts::plan_edits(&before, &nodes, &options);
        heed_notices(ctx, &plan, path)?;

        // The whole file, twice, is only for the controller's diff mode.
        let diff = ctx.diff().then(|| {
            json!({
                "before": before,
                "after": plan.content(),
                "before_header": path,
                "after_header": path,
            })
        });
        let outcome = Outcome {
            changed: plan.changed(),
            diff,
            ..Outcome::default()
        };
        let backup_file = if plan.changed() && !ctx.check_mode() {
            write_plan(ctx, &plan, path, params.backup && existed)?
        } else {
            None
        };

        let resolution = if params.verify && state == State::Present {
            let planned = plan.content();
            let setting = Setting {
                path,
                current: &before,
                planned: &planned,
                pending_write: ctx.check_mode() && plan.changed(),
                nsswitch: None,
            };
            verify(
                ctx,
                &nodes,
                &specs,
                local_node_name(local_hostname.as_deref(), &nodes),
                setting,
            )?
        } else {
            Vec::new()
        };
        let done = Done {
            path,
            plan: &plan,
            resolution,
            backup_file,
        };
        done.check_resolution(ctx.check_mode())?;
        Ok(done.outcome(outcome, nodes.len(), state, ctx.check_mode()))
    }
}

/// The nodes as the library's validation takes them.
fn node_specs(nodes: Vec<NodeParam>) -> Vec<NodeSpec> {
    nodes
        .into_iter()
        .map(|n| NodeSpec {
            ip: n.ip,
            fqdn: n.fqdn,
            name: n.name,
            aliases: n.aliases.unwrap_or_default(),
        })
        .collect()
}

/// Fails on a local name that only resolves to loopback; warns of the
/// other notices.
fn heed_notices(ctx: &mut Context<'_>, plan: &Edits<'_>, path: &str) -> Result<(), Failure> {
    for notice in &plan.notices {
        match notice {
            Notice::LocalNameOnLoopback {
                only_loopback: true,
                ..
            } => {
                return Err(Failure::new(format!("{notice}; {path} was left unchanged"))
                    .with("changes", &plan.changes)
                    .with("path", path))
            }
            other => ctx.warn(other.to_string()),
        }
    }
    Ok(())
}

/// Writes the new content, after a backup when `backup`; returns the
/// backup's path.
fn write_plan(
    ctx: &mut Context<'_>,
    plan: &Edits<'_>,
    path: &str,
    backup: bool,
) -> Result<Option<String>, Failure> {
    let token = ctx.change_token()?;
    let mut backup_file = None;
    if backup {
        let backup = fsutil::backup_file(Path::new(path), &token)
            .map_err(|e| Failure::new(format!("{e}; {path} was left unchanged")))?;
        backup_file = Some(backup.display().to_string());
    }
    let parts: Vec<&[u8]> = plan.pieces().into_iter().map(str::as_bytes).collect();
    match fsutil::write_atomic_parts(Path::new(path), &parts, &WriteOptions::default(), &token) {
        Ok(report) => {
            for warning in report.warnings {
                ctx.warn(warning);
            }
            Ok(backup_file)
        }
        Err(e) => {
            let mut failure = Failure::new(e.to_string())
                .with("changes", &plan.changes)
                .with("path", path);
            if let Some(backup) = &backup_file {
                failure = failure.with("backup_file", backup);
            }
            Err(failure)
        }
    }
}

/// What the run did, for its result.
struct Done<'p, 'a> {
    path: &'p str,
    plan: &'p Edits<'a>,
    resolution: Vec<Row>,
    backup_file: Option<String>,
}

impl Done<'_, '_> {
    /// Fails when a name does not resolve as the file says.
    fn check_resolution(&self, check_mode: bool) -> Result<(), Failure> {
        let failed: Vec<&Row> = self
            .resolution
            .iter()
            .filter(|r| r.status == Status::Failed)
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        let mut failure = Failure::new(verify_message(self.path, self.plan, check_mode, &failed))
            .with("changes", &self.plan.changes)
            .with("resolution", &self.resolution)
            .with("path", self.path);
        if let Some(backup) = &self.backup_file {
            failure = failure.with("backup_file", backup);
        }
        Err(failure)
    }

    /// The successful result: the summary, the changes and the lookups.
    fn outcome(self, outcome: Outcome, count: usize, state: State, check_mode: bool) -> Outcome {
        let mut outcome = outcome;
        outcome.msg = Some(summary(self.path, self.plan, count, state, check_mode));
        let pending = self
            .resolution
            .iter()
            .filter(|r| r.status == Status::Pending)
            .count();
        if pending > 0 {
            if let Some(msg) = outcome.msg.as_mut() {
                msg.push_str(&format!(
                    "; {pending} name lookup(s) will be right once the file is written"
                ));
            }
        }
        outcome = outcome
            .with("changes", &self.plan.changes)
            .with("resolution", &self.resolution)
            .with("path", self.path);
        if let Some(backup) = self.backup_file {
            outcome = outcome.with("backup_file", backup);
        }
        outcome
    }
}

/// The file's content and whether it exists. A missing file is empty.
fn read_hosts(path: &str) -> Result<(String, bool), Failure> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(|s| (s, true)).map_err(|_| {
            Failure::new(format!(
                "cannot edit {path}: it is not UTF-8 text. {path} was left unchanged"
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((String::new(), false)),
        Err(e) => Err(Failure::new(format!(
            "cannot read {path}: {e}. {path} was left unchanged"
        ))),
    }
}

/// The node name pmxcfs resolves (the host name up to the first dot), and
/// the node it belongs to, when the local host is one of the nodes.
fn local_node_name<'a>(hostname: Option<&str>, nodes: &'a [Node]) -> Option<(String, &'a Node)> {
    let hostname = hostname?;
    let short = hostname.split('.').next().unwrap_or(hostname);
    nodes
        .iter()
        .find(|n| {
            n.names()
                .iter()
                .any(|m| m.eq_ignore_ascii_case(hostname) || m.eq_ignore_ascii_case(short))
        })
        .map(|n| (short.to_string(), n))
}

/// Asks the resolver about every node (its fqdn and name forward, its
/// address back) and about the local node name, and judges the answers.
fn verify(
    ctx: &Context<'_>,
    nodes: &[Node],
    specs: &[NodeSpec],
    local: Option<(String, &Node)>,
    setting: Setting<'_>,
) -> Result<Vec<Row>, Failure> {
    let sources = fs::read_to_string(NSSWITCH)
        .ok()
        .and_then(|text| resolve::nsswitch_hosts(&text));
    let setting = Setting {
        nsswitch: sources.as_deref(),
        ..setting
    };
    let mut rows = Vec::new();
    for (node, spec) in nodes.iter().zip(specs) {
        let primary = node.names().len().saturating_sub(spec.aliases.len());
        for name in node.names().iter().take(primary) {
            let check = Check::Forward {
                name: name.clone(),
                ip: node.ip(),
            };
            let answer = Answer::Addresses(lookup_addresses(ctx, name)?);
            rows.push(resolve::judge(&check, &answer, &setting));
        }
        let check = Check::Reverse {
            ip: node.ip(),
            names: node.names().to_vec(),
        };
        let answer = Answer::Names(lookup_names(ctx, node.ip())?);
        rows.push(resolve::judge(&check, &answer, &setting));
    }
    if let Some((name, _)) = local {
        let check = Check::Local { name: name.clone() };
        let answer = Answer::Addresses(lookup_addresses(ctx, &name)?);
        rows.push(resolve::judge(&check, &answer, &setting));
    }
    Ok(rows)
}

/// `getent ahosts NAME`: getaddrinfo, as corosync and pmxcfs resolve.
fn lookup_addresses(ctx: &Context<'_>, name: &str) -> Result<Vec<IpAddr>, Failure> {
    let stdout = getent(ctx, "ahosts", name)?;
    Ok(resolve::parse_ahosts(&stdout))
}

/// `getent hosts IP`: the reverse lookup.
fn lookup_names(ctx: &Context<'_>, ip: IpAddr) -> Result<Vec<String>, Failure> {
    let stdout = getent(ctx, "hosts", &ip.to_string())?;
    Ok(resolve::parse_hosts(&stdout))
}

/// Runs getent; exit 2 (not found) is an empty answer.
fn getent(ctx: &Context<'_>, database: &str, key: &str) -> Result<String, Failure> {
    let cmd = Cmd::new("getent")
        .args([database, key])
        .timeout(LOOKUP_TIMEOUT);
    let out = ctx.runner.run(&cmd)?;
    match out.rc {
        Some(0) => Ok(out.stdout),
        Some(2) => Ok(String::new()),
        rc => Err(Failure::new(format!(
            "'{}' failed ({}): {}",
            out.command,
            rc.map(|c| format!("rc {c}"))
                .unwrap_or_else(|| "killed".to_string()),
            out.stderr.trim()
        ))
        .with("stdout", &out.stdout)
        .with("stderr", &out.stderr)),
    }
}

fn summary(path: &str, plan: &Edits<'_>, count: usize, state: State, check: bool) -> String {
    if !plan.changed() {
        return match state {
            State::Present => format!("{path} already has the entries of the {count} node(s)"),
            State::Absent => format!("{path} has no entries of the {count} node(s)"),
        };
    }
    let verb = if check { "would change" } else { "changed" };
    let details: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
    format!("{verb} {path}: {}", details.join("; "))
}

fn verify_message(path: &str, plan: &Edits<'_>, check: bool, failed: &[&Row]) -> String {
    let lead = if plan.changed() && !check {
        format!(
            "{path} was written ({} change(s)), but names do not resolve as it says",
            plan.changes.len()
        )
    } else {
        "names do not resolve as the hosts file says".to_string()
    };
    let rows: Vec<String> = failed.iter().map(ToString::to_string).collect();
    let mut hints: Vec<&str> = Vec::new();
    for hint in failed.iter().filter_map(|r| r.hint.as_deref()) {
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    let mut msg = format!("{lead}: {}", rows.join(", "));
    if !hints.is_empty() {
        msg.push_str(&format!(". Hint: {}", hints.join("; ")));
    }
    msg
}
