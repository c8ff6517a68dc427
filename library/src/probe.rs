//! Reading a node's cluster state: the I/O around the pure parsers.
//!
//! Every module that needs the cluster state (status, quorum check, join)
//! reads it here, so they all see the same thing: `pvecm status`, then
//! `pvecm nodes` when corosync answers, and `/etc/pve/corosync.conf` for the
//! configured nodes that are offline.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::cmd::{Cmd, CmdError, CmdOutput, Runner};
use crate::fsutil::errno::ENOENT;
use crate::pve::corosync_conf::{ConfError, CorosyncConf};
use crate::pve::status::{
    parse_nodes, parse_status, ClusterView, NodeState, NodesReport, ParseError, StatusReport,
};

/// The state read, and the raw command output it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The parsed state.
    pub status: ClusterView,
    /// What `pvecm` printed, for results and error reports.
    pub raw: Vec<CmdOutput>,
    /// Things worth telling the user that did not stop the read.
    pub warnings: Vec<String>,
}

/// Why the state could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    /// A command could not run (not found, timed out).
    #[error("{0}")]
    Command(CmdError),
    /// `pvecm` answered with something that says the node is unusable or
    /// with output that could not be understood.
    #[error("{error}")]
    Parse {
        /// What was wrong.
        error: ParseError,
        /// The command whose output it was.
        output: Box<CmdOutput>,
    },
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

/// Why `corosync.conf` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfReadError {
    /// The file is there but could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What reading it failed with.
        #[source]
        error: io::Error,
    },
    /// The file was read but is not a corosync config.
    #[error("cannot parse {}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        error: ConfError,
    },
}

impl ConfReadError {
    /// The error for a file that must exist and does not: the one reading
    /// it gives, so the message is the same as for any other read.
    pub fn missing(path: &Path) -> Self {
        ConfReadError::Unreadable {
            path: path.to_path_buf(),
            error: io::Error::from_raw_os_error(ENOENT),
        }
    }
}

/// Reads and parses a `corosync.conf`: `None` when the file does not exist.
pub fn read_conf(path: &Path) -> Result<Option<CorosyncConf>, ConfReadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ConfReadError::Unreadable {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    CorosyncConf::parse(&text)
        .map(Some)
        .map_err(|error| ConfReadError::Parse {
            path: path.to_path_buf(),
            error,
        })
}

/// What `pvecm` said about this node, parsed: the part of the state every
/// module reads the same way.
#[derive(Debug, Clone)]
pub struct PvecmReading {
    /// `pvecm status` as it ran.
    pub status_raw: CmdOutput,
    /// `pvecm status`, parsed.
    pub status: Result<StatusReport, ParseError>,
    /// `pvecm nodes` as it ran; run only when corosync runs.
    pub nodes_raw: Option<CmdOutput>,
    /// `pvecm nodes`, parsed.
    pub nodes: Option<Result<NodesReport, ParseError>>,
}

/// What a `pvecm` call that does not finish in time is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// An error: the state is unknown.
    Fail,
    /// Its output so far, parsed like any other: for callers that decide
    /// on the node's files when `pvecm` hangs (pmxcfs down).
    ReadOutput,
}

/// Runs `pvecm status`, then `pvecm nodes` when corosync answers, and parses
/// both.
pub fn read_pvecm(runner: &dyn Runner, on_timeout: OnTimeout) -> Result<PvecmReading, CmdError> {
    let timeout = Duration::from_secs(30);
    let run = |sub: &str| match runner.run(&Cmd::new("pvecm").arg(sub).timeout(timeout)) {
        Err(CmdError::TimedOut { output, .. }) if on_timeout == OnTimeout::ReadOutput => Ok(output),
        other => other,
    };
    let status_raw = run("status")?;
    let status = parse_status(&status_raw.stdout, &status_raw.stderr);
    let (nodes_raw, nodes) = match &status {
        Ok(report) if report.state == NodeState::Running => {
            let out = run("nodes")?;
            let parsed = parse_nodes(&out.stdout, &out.stderr);
            (Some(out), Some(parsed))
        }
        _ => (None, None),
    };
    Ok(PvecmReading {
        status_raw,
        status,
        nodes_raw,
        nodes,
    })
}

/// Reads the cluster state of this node.
pub fn read(runner: &dyn Runner, conf_path: &Path) -> Result<Probe, ProbeError> {
    let reading = read_pvecm(runner, OnTimeout::Fail).map_err(ProbeError::Command)?;
    let report = reading.status.map_err(|error| ProbeError::Parse {
        error,
        output: Box::new(reading.status_raw.clone()),
    })?;
    let mut raw = vec![reading.status_raw];
    let mut warnings = Vec::new();
    raw.extend(reading.nodes_raw);
    let nodes = match reading.nodes {
        Some(Ok(parsed)) => Some(parsed),
        // Corosync may stop between the two calls; the status read alone still stands.
        Some(Err(err)) => {
            warnings.push(format!(
                "could not read node names from 'pvecm nodes': {err}"
            ));
            None
        }
        None => None,
    };

    let conf = match read_conf(conf_path) {
        Ok(conf) => conf,
        Err(ConfReadError::Parse { error, .. }) => {
            warnings.push(format!("could not parse {}: {error}", conf_path.display()));
            None
        }
        Err(ConfReadError::Unreadable { .. }) => None,
    };
    let status = ClusterView::from_parts(&report, nodes.as_ref(), conf.as_ref());
    Ok(Probe {
        status,
        raw,
        warnings,
    })
}

/// One line a person reads first: where this node stands.
pub fn summary(status: &ClusterView) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::FakeRunner;

    fn timed_out(stdout: &str) -> CmdError {
        CmdError::TimedOut {
            command: "pvecm status".into(),
            after: Duration::from_secs(30),
            output: CmdOutput {
                command: "pvecm status".into(),
                stdout: stdout.into(),
                stderr: String::new(),
                rc: None,
            },
        }
    }

    #[test]
    fn a_hanging_pvecm_is_an_error_or_its_output_as_asked() {
        let runner = FakeRunner::default().fail("pvecm status", timed_out(""));
        assert!(matches!(
            read_pvecm(&runner, OnTimeout::Fail),
            Err(CmdError::TimedOut { .. })
        ));
        let reading = read_pvecm(&runner, OnTimeout::ReadOutput).expect("output kept");
        assert_eq!(reading.status_raw.rc, None);
        assert!(reading.status.is_err());
        assert!(reading.nodes_raw.is_none() && reading.nodes.is_none());
        assert_eq!(runner.commands(), ["pvecm status", "pvecm status"]);
    }

    #[test]
    fn read_conf_is_none_for_no_file_the_parse_error_or_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corosync.conf");
        assert!(read_conf(&path).unwrap().is_none());

        std::fs::write(&path, "totem {\n  cluster_name: lab\n").unwrap();
        let err = read_conf(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                ConfReadError::Parse {
                    error: ConfError::UnclosedSection { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot parse {}: corosync.conf parse error: section 'totem' opened on line 1 is never closed",
                path.display()
            )
        );

        std::fs::write(
            &path,
            "totem {\n  cluster_name: lab\n  config_version: 3\n}\n\
             nodelist {\n  node {\n    name: pve1\n    nodeid: 1\n  }\n}\n",
        )
        .unwrap();
        let conf = read_conf(&path).unwrap().expect("parsed");
        assert_eq!(conf.cluster_name(), Some("lab"));
        assert_eq!(conf.config_version(), Some(3));
        assert_eq!(conf.nodes().len(), 1);
    }

    #[test]
    fn a_missing_file_reads_as_the_error_reading_it_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corosync.conf");
        let read = std::fs::read_to_string(&path).unwrap_err();
        assert_eq!(
            ConfReadError::missing(&path).to_string(),
            format!("cannot read {}: {read}", path.display())
        );
    }

    #[test]
    fn the_parse_error_is_kept_and_nodes_is_not_asked() {
        let runner = FakeRunner::default().answer("pvecm status", "what is this\n", "", 0);
        let reading = read_pvecm(&runner, OnTimeout::Fail).expect("ran");
        assert!(reading.status.is_err());
        assert_eq!(reading.status_raw.stdout, "what is this\n");
        assert_eq!(runner.commands(), ["pvecm status"]);
    }
}
