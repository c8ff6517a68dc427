//! Why captured `pvecm` output could not be turned into a status.

use std::fmt;

/// Why captured `pvecm` output could not be turned into a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// pmxcfs (the pve-cluster service) is not running, so `pvecm` cannot start.
    PmxcfsDown { line: String },
    /// `/etc/pve` is not mounted.
    PmxcfsNotMounted { line: String },
    /// The node's own name does not resolve to a usable address.
    HostnameResolution { node: Option<String>, line: String },
    /// `corosync-quorumtool` reached corosync but failed (other than "corosync is down").
    Corosync { line: String },
    /// Neither stdout nor stderr had any text.
    Empty,
    /// Stdout had a line that fits no known layout.
    UnexpectedLine {
        line_no: usize,
        line: String,
        context: String,
    },
    /// A known line whose value is not what corosync prints.
    InvalidValue {
        line_no: usize,
        line: String,
        field: &'static str,
    },
    /// The output is too incomplete to decide the state.
    Incomplete { what: String },
    /// Stderr had an error this parser does not know, and stdout had nothing to parse.
    Unrecognized { line: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::PmxcfsDown { line } => write!(
                f,
                "the Proxmox cluster file system is not running ('{line}'): start it with 'systemctl start pve-cluster' and check 'journalctl -u pve-cluster'"
            ),
            ParseError::PmxcfsNotMounted { line } => write!(
                f,
                "/etc/pve is not mounted ('{line}'): start the pve-cluster service and check 'journalctl -u pve-cluster'"
            ),
            ParseError::HostnameResolution { node, line } => {
                let who = match node {
                    Some(n) => format!("the node name '{n}'"),
                    None => "the node name".to_string(),
                };
                write!(
                    f,
                    "{who} does not resolve to a non-loopback IP address ('{line}'): add the node's address to /etc/hosts or DNS"
                )
            }
            ParseError::Corosync { line } => write!(
                f,
                "corosync-quorumtool could not read the cluster state: '{line}' (is corosync starting or restarting?)"
            ),
            ParseError::Empty => write!(f, "pvecm printed nothing on stdout or stderr"),
            ParseError::UnexpectedLine {
                line_no,
                line,
                context,
            } => write!(f, "cannot parse pvecm output: unexpected line {line_no} {context}: '{line}'"),
            ParseError::InvalidValue {
                line_no,
                line,
                field,
            } => write!(f, "cannot parse pvecm output: invalid {field} on line {line_no}: '{line}'"),
            ParseError::Incomplete { what } => write!(f, "cannot parse pvecm output: {what}"),
            ParseError::Unrecognized { line } => {
                write!(f, "pvecm failed with an error this module does not know: '{line}'")
            }
        }
    }
}

impl std::error::Error for ParseError {}
