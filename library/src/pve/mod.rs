//! Proxmox VE cluster logic: parsers of `pvecm` output and of
//! `corosync.conf`, and the decisions built on them. Pure: no I/O here.

pub mod corosync_conf;
pub mod join;
pub mod names;
pub mod quorum;
pub mod status;
