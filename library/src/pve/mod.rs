//! Proxmox VE cluster logic: parsers of `pvecm` output and of
//! `corosync.conf`, and the decisions built on them. Pure: no I/O here;
//! every function takes captured text and returns typed values.
//!
//! * [`status`]: `pvecm status` and `pvecm nodes` → [`status::StatusReport`],
//!   [`status::NodesReport`], merged (with an optional
//!   [`corosync_conf::CorosyncConf`]) into one [`status::ClusterView`].
//! * [`corosync_conf`]: `corosync.conf` read and written the way PVE does.
//! * [`quorum`]: [`quorum::assess`] compares a status with what the user expects.
//! * [`names`]: cluster and node name rules.
//! * [`join`]: a create or join: the request and its `pvecm` call, where
//!   the node stands, the pre-flight, and what a failed `pvecm` printed.
//! * [`totem`]: planning a change of `totem` settings, PVE's way.
//! * [`finish`]: whether a member finished `pvecm add`'s last steps.
//! * [`remove`]: whether a node may be removed from the cluster now.
//! * [`qdevice`]: whether a QDevice may be set up or removed now.
//! * [`plan`]: the plan of a whole cluster from every node's state, and
//!   every reason to stop before a change.
//!
//! Reading is `crate::probe`'s job: it runs `pvecm` and reads
//! `corosync.conf`, then hands the text to these parsers.

pub mod corosync_conf;
pub mod finish;
pub mod join;
pub mod names;
pub mod plan;
pub mod qdevice;
pub mod quorum;
pub mod remove;
pub mod status;
pub mod totem;
