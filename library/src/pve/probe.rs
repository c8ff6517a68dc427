//! Reading a node's cluster state: the I/O around the pure parsers.
//!
//! Every module that needs the cluster state (status, quorum check, join)
//! reads it here, so they all see the same thing: `pvecm status`, then
//! `pvecm nodes` when corosync answers, and `/etc/pve/corosync.conf` for the
//! configured nodes that are offline.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::corosync_conf::CorosyncConf;
use super::status::{parse_nodes, parse_status, ClusterStatus, NodeState, ParseError};
use crate::cmd::{Cmd, CmdError, CmdOutput, Runner};

/// Where PVE keeps the cluster-wide corosync configuration.
pub const CLUSTER_CONF: &str = "/etc/pve/corosync.conf";

/// The state read, and the raw command output it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The parsed state.
    pub status: ClusterStatus,
    /// What `pvecm` printed, for results and error reports.
    pub raw: Vec<CmdOutput>,
    /// Things worth telling the user that did not stop the read.
    pub warnings: Vec<String>,
}

/// Why the state could not be read.
#[derive(Debug, Clone)]
pub enum ProbeError {
    /// A command could not run (not found, timed out).
    Command(CmdError),
    /// `pvecm` answered with something that says the node is unusable or
    /// with output that could not be understood.
    Parse {
        /// What was wrong.
        error: ParseError,
        /// The command whose output it was.
        output: Box<CmdOutput>,
    },
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Command(err) => err.fmt(f),
            ProbeError::Parse { error, .. } => error.fmt(f),
        }
    }
}

impl From<ProbeError> for crate::ansible::Failure {
    fn from(err: ProbeError) -> Self {
        let failure = crate::ansible::Failure::new(err.to_string());
        match err {
            ProbeError::Parse { output, .. } => failure
                .with("cmd", &output.command)
                .with("stdout", &output.stdout)
                .with("stderr", &output.stderr)
                .with("rc", output.rc),
            ProbeError::Command(CmdError::TimedOut { output, .. }) => failure
                .with("cmd", &output.command)
                .with("stdout", &output.stdout)
                .with("stderr", &output.stderr),
            ProbeError::Command(_) => failure,
        }
    }
}

/// Reads the cluster state of this node.
pub fn read(runner: &dyn Runner, conf_path: &Path) -> Result<Probe, ProbeError> {
    let timeout = Duration::from_secs(30);
    let status_out = runner
        .run(&Cmd::new("pvecm").arg("status").timeout(timeout))
        .map_err(ProbeError::Command)?;
    let report = parse_status(&status_out.stdout, &status_out.stderr).map_err(|error| {
        ProbeError::Parse {
            error,
            output: Box::new(status_out.clone()),
        }
    })?;
    let mut raw = vec![status_out];
    let mut warnings = Vec::new();

    let nodes = if report.state == NodeState::Running {
        let out = runner
            .run(&Cmd::new("pvecm").arg("nodes").timeout(timeout))
            .map_err(ProbeError::Command)?;
        let parsed = match parse_nodes(&out.stdout, &out.stderr) {
            Ok(parsed) => Some(parsed),
            // Corosync may stop between the two calls; the status read alone still stands.
            Err(err) => {
                warnings.push(format!(
                    "could not read node names from 'pvecm nodes': {err}"
                ));
                None
            }
        };
        raw.push(out);
        parsed
    } else {
        None
    };

    let conf = match std::fs::read_to_string(conf_path) {
        Ok(text) => match CorosyncConf::parse(&text) {
            Ok(conf) => Some(conf),
            Err(err) => {
                warnings.push(format!("could not parse {}: {err}", conf_path.display()));
                None
            }
        },
        Err(_) => None,
    };
    let status = ClusterStatus::from_parts(&report, nodes.as_ref(), conf.as_ref());
    Ok(Probe {
        status,
        raw,
        warnings,
    })
}

/// One line a person reads first: where this node stands.
pub fn summary(status: &ClusterStatus) -> String {
    let me = status
        .local_node
        .as_ref()
        .and_then(|n| n.name.clone())
        .map_or_else(|| "this node".to_string(), |n| format!("node '{n}'"));
    if !status.in_cluster {
        return format!("{me} is not in a cluster");
    }
    let cluster = status
        .cluster_name
        .as_deref()
        .map_or_else(|| "a cluster".to_string(), |n| format!("cluster '{n}'"));
    if !status.corosync_running {
        return format!("{me} is configured for {cluster} but corosync is not running");
    }
    format!(
        "{me} is in {cluster}: {} of {} nodes online, {}",
        status.online_count,
        status.node_count,
        if status.quorate {
            "quorate"
        } else {
            "not quorate"
        }
    )
}
