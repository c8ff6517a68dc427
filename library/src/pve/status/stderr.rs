//! The stderr of `pvecm`: which lines say "not in a cluster", "corosync
//! down", or a failure that decides the outcome.

use super::error::ParseError;

enum StderrKind {
    NotInCluster,
    CmapDown,
    Fatal(ParseError),
    Other(String),
}

fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?;
    let end = rest.find('\'')?;
    rest.get(..end)
}

fn classify_stderr_line(line: &str) -> StderrKind {
    let text = line.trim();
    let body = text.strip_prefix("Error: ").unwrap_or(text);
    if body.starts_with("Corosync config '")
        && body.ends_with("' does not exist - is this node part of a cluster?")
    {
        return StderrKind::NotInCluster;
    }
    if text == "Cannot initialize CMAP service" {
        return StderrKind::CmapDown;
    }
    if text.starts_with("Cannot initialize QUORUM service")
        || text.starts_with("Cannot initialise CFG service")
        || text.starts_with("Cannot initialise VOTEQUORUM service")
        || text.starts_with("Unable to retrieve this_node_id")
        || text.starts_with("Unable to get cluster quorate status")
        || text.starts_with("Unable to start quorum status tracking")
        || text.starts_with("Unable to dispatch quorum status")
    {
        return StderrKind::Fatal(ParseError::Corosync {
            line: text.to_string(),
        });
    }
    if (text.starts_with("ipcc_send_rec[") && text.contains("failed"))
        || text.starts_with("Unable to load access control list")
    {
        return StderrKind::Fatal(ParseError::PmxcfsDown {
            line: text.to_string(),
        });
    }
    if text.contains("pve configuration filesystem (pmxcfs) not mounted")
        || text.contains("pve configuration filesystem not mounted")
    {
        return StderrKind::Fatal(ParseError::PmxcfsNotMounted {
            line: text.to_string(),
        });
    }
    if text.starts_with("address lookup for '") && text.ends_with("did not find any IP address") {
        return StderrKind::Fatal(ParseError::HostnameResolution {
            node: quoted_after(text, "address lookup for '").map(str::to_string),
            line: text.to_string(),
        });
    }
    if text.starts_with("hostname lookup '") {
        return StderrKind::Fatal(ParseError::HostnameResolution {
            node: quoted_after(text, "hostname lookup '").map(str::to_string),
            line: text.to_string(),
        });
    }
    if let Some(rest) = text.strip_prefix("hostname lookup failed - got local IP address (") {
        // PVE 4: `hostname lookup failed - got local IP address (<node> = 127.0.1.1)`
        let node = rest.split(" = ").next().map(str::to_string);
        return StderrKind::Fatal(ParseError::HostnameResolution {
            node,
            line: text.to_string(),
        });
    }
    StderrKind::Other(text.to_string())
}

pub(super) struct StderrSummary {
    pub(super) not_in_cluster: bool,
    pub(super) cmap_down: bool,
    pub(super) fatal: Option<ParseError>,
    pub(super) others: Vec<String>,
}

pub(super) fn scan_stderr(stderr: &str) -> StderrSummary {
    let mut summary = StderrSummary {
        not_in_cluster: false,
        cmap_down: false,
        fatal: None,
        others: Vec::new(),
    };
    for line in stderr.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match classify_stderr_line(line) {
            StderrKind::NotInCluster => summary.not_in_cluster = true,
            StderrKind::CmapDown => summary.cmap_down = true,
            StderrKind::Fatal(e) => {
                // pmxcfs and name-resolution failures happen before anything
                // else runs, so they win over a later corosync complaint.
                let replace = match (&summary.fatal, &e) {
                    (None, _) => true,
                    (Some(ParseError::Corosync { .. }), ParseError::Corosync { .. }) => false,
                    (Some(ParseError::Corosync { .. }), _) => true,
                    _ => false,
                };
                if replace {
                    summary.fatal = Some(e);
                }
            }
            StderrKind::Other(text) => summary.others.push(text),
        }
    }
    summary
}
