//! Why captured `pvecm` output could not be turned into a status.

/// Why captured `pvecm` output could not be turned into a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// pmxcfs (the pve-cluster service) is not running, so `pvecm` cannot start.
    #[error(
        "the Proxmox cluster file system is not running ('{line}'): start it with 'systemctl start pve-cluster' and check 'journalctl -u pve-cluster'"
    )]
    PmxcfsDown {
        /// The line of stderr that says so.
        line: String,
    },
    /// `/etc/pve` is not mounted.
    #[error(
        "/etc/pve is not mounted ('{line}'): start the pve-cluster service and check 'journalctl -u pve-cluster'"
    )]
    PmxcfsNotMounted {
        /// The line of stderr that says so.
        line: String,
    },
    /// The node's own name does not resolve to a usable address.
    #[error(
        "{who} does not resolve to a non-loopback IP address ('{line}'): add the node's address to /etc/hosts or DNS",
        who = node_name(.node)
    )]
    HostnameResolution {
        /// The node's name, when the line names it.
        node: Option<String>,
        /// The line of stderr that says so.
        line: String,
    },
    /// `corosync-quorumtool` reached corosync but failed (other than "corosync is down").
    #[error(
        "corosync-quorumtool could not read the cluster state: '{line}' (is corosync starting or restarting?)"
    )]
    Corosync {
        /// The line of stderr that says so.
        line: String,
    },
    /// Neither stdout nor stderr had any text.
    #[error("pvecm printed nothing on stdout or stderr")]
    Empty,
    /// Stdout had a line that fits no known layout.
    #[error("cannot parse pvecm output: unexpected line {line_no} {context}: '{line}'")]
    UnexpectedLine {
        /// Its number on stdout, from 1.
        line_no: usize,
        /// The line.
        line: String,
        /// Where it stood, e.g. `before any known section`.
        context: String,
    },
    /// A known line whose value is not what corosync prints.
    #[error("cannot parse pvecm output: invalid {field} on line {line_no}: '{line}'")]
    InvalidValue {
        /// Its number on stdout, from 1.
        line_no: usize,
        /// The line.
        line: String,
        /// The field whose value is invalid.
        field: &'static str,
    },
    /// The output is too incomplete to decide the state.
    #[error("cannot parse pvecm output: {what}")]
    Incomplete {
        /// What is missing.
        what: String,
    },
    /// Stderr had an error this parser does not know, and stdout had nothing to parse.
    #[error("pvecm failed with an error this module does not know: '{line}'")]
    Unrecognized {
        /// The first line of stderr.
        line: String,
    },
}

/// The node, as [`ParseError::HostnameResolution`] names it.
fn node_name(node: &Option<String>) -> String {
    match node {
        Some(n) => format!("the node name '{n}'"),
        None => "the node name".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::ParseError;

    #[test]
    fn the_hostname_message_names_the_node_when_known() {
        let line = "cannot resolve".to_string();
        let named = ParseError::HostnameResolution {
            node: Some("pve1".into()),
            line: line.clone(),
        };
        assert_eq!(
            named.to_string(),
            "the node name 'pve1' does not resolve to a non-loopback IP address ('cannot resolve'): add the node's address to /etc/hosts or DNS"
        );
        let unnamed = ParseError::HostnameResolution { node: None, line };
        assert_eq!(
            unnamed.to_string(),
            "the node name does not resolve to a non-loopback IP address ('cannot resolve'): add the node's address to /etc/hosts or DNS"
        );
    }
}
