//! The Ansible modules, one per file or folder; each binary in `modules/`
//! hands one of these types to [`crate::ansible::run`].
//!
//! This is the glue between the protocol and the pure logic: read the
//! node's state (through [`crate::cmd`] and [`crate::probe`]), plan
//! with [`crate::pve`], [`crate::hosts`] or [`crate::resolve`], stop in
//! check mode, then apply.

mod cluster_join;
mod cluster_node;
mod cluster_plan;
mod cluster_qdevice;
mod cluster_status;
mod corosync_totem;
mod file_update;
mod hosts;
mod quorum_check;
mod ssh_trust;

pub use cluster_join::ClusterJoin;
pub use cluster_node::ClusterNode;
pub use cluster_plan::ClusterPlan;
pub use cluster_qdevice::ClusterQdevice;
pub use cluster_status::ClusterStatus;
pub use corosync_totem::CorosyncTotem;
pub use hosts::Hosts;
pub use quorum_check::QuorumCheck;
pub use ssh_trust::SshTrust;
