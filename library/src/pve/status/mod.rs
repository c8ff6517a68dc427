//! Parsers for `pvecm status` and `pvecm nodes`, and their merge into one
//! [`ClusterView`].
//!
//! `pvecm status` prints PVE's "Cluster information" block (PVE ≥ 6.1, values
//! read from `/etc/pve/corosync.conf`) and then execs `corosync-quorumtool
//! -siH`: "Quorum information", "Votequorum information" and "Membership
//! information" with hex node ids and numeric addresses. `pvecm nodes` execs
//! `corosync-quorumtool -l`: the membership table alone, decimal ids, node
//! names. The state is decided from the text only; the exit status of `pvecm`
//! is ambiguous (2 means both "not quorate" and "not in a cluster").
//!
//! The parsers are strict where it matters and lenient where real captures
//! differ: blank lines, CRLF and stripped trailing whitespace are accepted,
//! sections and lines may be missing (partial captures), but a line that is
//! not part of the known layouts fails the parse and is quoted in the error.
//!
//! * `report`: the reports of `pvecm status` and `pvecm nodes`
//!   ([`StatusReport`], [`NodesReport`]) and their parts.
//! * `parse`: [`parse_status`] and [`parse_nodes`], which decide the node's
//!   state from both streams.
//! * `stderr`: the stderr lines that decide the outcome.
//! * `stdout`: the walk through stdout's sections, with `sections` (the
//!   `Label: value` lines) and `table` (the membership table), both over
//!   `line` (one line, its section, and the shared value rules).
//! * `view`: everything merged into one [`ClusterView`].
//! * `error`: [`ParseError`].

mod error;
mod line;
mod parse;
mod report;
mod sections;
mod stderr;
mod stdout;
mod table;
mod view;

pub use error::ParseError;
pub use parse::{parse_nodes, parse_status};
pub use report::{
    ClusterInfo, MemberRow, Membership, NodeState, NodesReport, QdeviceRow, QuorumInfo,
    StatusReport, VotequorumInfo,
};
pub use view::{ClusterView, LocalNode, NodeStatus, QdeviceStatus};
