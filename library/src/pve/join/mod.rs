//! Creating a Proxmox VE cluster or joining one: what the node looks like,
//! what may be done, which `pvecm` command does it, and what its output
//! means.
//!
//! `pvecm add` exits 0 even when the join failed, so nothing here trusts an
//! exit status: [`membership`] judges from the cluster state, and
//! [`diagnose()`] turns the failure texts of `pvecm create`/`add` into a
//! message and a hint.
//!
//! * [`request`]: the request, its links and fingerprint checked, and the
//!   `pvecm` call for it.
//! * [`relation`]: where the node stands ([`Relation`]) from what was read
//!   from it ([`Observed`]).
//! * [`preflight`](mod@preflight): what PVE would reject ([`Problem`]),
//!   checked before anything runs.
//! * [`diagnosis`]: what a failed `pvecm create`/`add` printed, explained.

pub mod diagnosis;
pub mod preflight;
pub mod relation;
pub mod request;

#[cfg(test)]
mod fixtures;

pub use diagnosis::{diagnose, reported_join_success, Diagnosis};
pub use preflight::{preflight, Facts, Problem};
pub use relation::{
    is_done, membership, other_cluster_message, parse_conf_summary, ConfSummary, Observed, Relation,
};
pub use request::{
    action, check_fingerprint, check_links, pvecm_call, Action, JoinPath, Link, PvecmCall, Request,
    MAX_LINKS,
};

/// The corosync authentication key.
pub const AUTHKEY: &str = "/etc/corosync/authkey";
