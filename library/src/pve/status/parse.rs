//! The node's state from both streams of `pvecm status` and `pvecm nodes`.

use super::error::ParseError;
use super::report::{NodeState, NodesReport, StatusReport};
use super::stderr::scan_stderr;
use super::stdout::{parse_stdout, Parsed};

fn has_text(s: &str) -> bool {
    !s.trim().is_empty()
}

/// Parses the stdout and stderr of `pvecm status` (never its exit status).
///
/// Not being in a cluster is `Ok` with [`NodeState::NotInCluster`]; a
/// configured node whose corosync is down is `Ok` with
/// [`NodeState::CorosyncDown`]. pmxcfs failures, name-resolution failures,
/// unknown errors and unparsable text are `Err`.
pub fn parse_status(stdout: &str, stderr: &str) -> Result<StatusReport, ParseError> {
    let err = scan_stderr(stderr);
    if let Some(fatal) = err.fatal.clone() {
        if !matches!(fatal, ParseError::Corosync { .. }) {
            return Err(fatal);
        }
    }
    let parsed = parse_stdout(stdout)?;
    let has_corosync_part =
        parsed.quorum.is_some() || parsed.votequorum.is_some() || parsed.membership.is_some();

    let state = if err.not_in_cluster {
        NodeState::NotInCluster
    } else if err.cmap_down && !has_corosync_part {
        NodeState::CorosyncDown
    } else if let Some(fatal) = err.fatal {
        return Err(fatal);
    } else if has_corosync_part {
        NodeState::Running
    } else if let Some(first) = err.others.first() {
        return Err(ParseError::Unrecognized {
            line: first.clone(),
        });
    } else if parsed.cluster_info.is_some() {
        return Err(ParseError::Incomplete {
            what: "the Cluster information block is not followed by corosync's quorum information"
                .to_string(),
        });
    } else {
        // stdout held only blank lines: any other line would have failed above.
        return Err(ParseError::Empty);
    };

    if state == NodeState::Running && quorate_of(&parsed).is_none() {
        return Err(ParseError::Incomplete {
            what: "cannot tell whether the cluster is quorate: neither a 'Quorate:' line nor the votequorum 'Quorum:' or 'Flags:' line is present".to_string(),
        });
    }
    if let Some(what) = quorum_contradiction(&parsed) {
        return Err(ParseError::Incomplete { what });
    }

    Ok(StatusReport {
        state,
        cluster_info: parsed.cluster_info,
        quorum: parsed.quorum,
        votequorum: parsed.votequorum,
        membership: parsed.membership,
        warnings: err.others,
    })
}

/// Parses the stdout and stderr of `pvecm nodes` (never its exit status).
pub fn parse_nodes(stdout: &str, stderr: &str) -> Result<NodesReport, ParseError> {
    let err = scan_stderr(stderr);
    if let Some(fatal) = err.fatal.clone() {
        if !matches!(fatal, ParseError::Corosync { .. }) {
            return Err(fatal);
        }
    }
    let parsed = parse_stdout(stdout)?;
    if parsed.cluster_info.is_some() || parsed.quorum.is_some() || parsed.votequorum.is_some() {
        // `pvecm nodes` prints the membership table only; this is `pvecm status` text.
        let first = stdout
            .split('\n')
            .enumerate()
            .find(|(_, l)| has_text(l))
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r').to_string()))
            .unwrap_or((1, String::new()));
        return Err(ParseError::UnexpectedLine {
            line_no: first.0,
            line: first.1,
            context: "in pvecm nodes output (only the membership table is expected)".to_string(),
        });
    }
    let state = if err.not_in_cluster {
        NodeState::NotInCluster
    } else if err.cmap_down && parsed.membership.is_none() {
        NodeState::CorosyncDown
    } else if let Some(fatal) = err.fatal {
        return Err(fatal);
    } else if parsed.membership.is_some() {
        NodeState::Running
    } else if let Some(first) = err.others.first() {
        return Err(ParseError::Unrecognized {
            line: first.clone(),
        });
    } else {
        return Err(ParseError::Empty);
    };
    Ok(NodesReport {
        state,
        membership: parsed.membership,
        warnings: err.others,
    })
}

/// Quorate from the most direct line present: `Quorate:`, then the
/// `Quorate` flag, then `Quorum: N` vs `Quorum: N Activity blocked` (corosync
/// prints the latter exactly when the votequorum quorate flag is clear).
fn quorate_of(parsed: &Parsed) -> Option<bool> {
    if let Some(q) = parsed.quorum.as_ref().and_then(|q| q.quorate) {
        return Some(q);
    }
    let vq = parsed.votequorum.as_ref()?;
    if let Some(flags) = &vq.flags {
        return Some(flags.iter().any(|f| f == "Quorate"));
    }
    vq.activity_blocked.map(|blocked| !blocked)
}

/// corosync prints `Quorate: Yes`, the `Quorate` flag and a `Quorum:` line
/// without `Activity blocked` together or not at all; text where they
/// disagree is corrupt or mixes two moments, and no answer can be trusted.
fn quorum_contradiction(parsed: &Parsed) -> Option<String> {
    let vq = parsed.votequorum.as_ref();
    let said = [
        ("'Quorate:'", parsed.quorum.as_ref().and_then(|q| q.quorate)),
        (
            "the Quorate flag",
            vq.and_then(|v| v.flags.as_ref())
                .map(|f| f.iter().any(|x| x == "Quorate")),
        ),
        (
            "'Activity blocked'",
            vq.and_then(|v| v.activity_blocked).map(|blocked| !blocked),
        ),
    ];
    let known: Vec<(&str, bool)> = said
        .iter()
        .filter_map(|(what, v)| v.map(|v| (*what, v)))
        .collect();
    let first = known.first()?;
    let other = known.iter().find(|(_, v)| *v != first.1)?;
    let word = |q: bool| if q { "quorate" } else { "not quorate" };
    Some(format!(
        "the quorum lines contradict each other ({} says {}, {} says {}): corosync may have been changing state; run again",
        first.0,
        word(first.1),
        other.0,
        word(other.1)
    ))
}
