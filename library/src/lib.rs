//! The Proxmox VE cluster crate behind every module binary.
//!
//! It builds on [`ansible_module`], re-exported here as `ansible` (Ansible's
//! binary-module protocol), `cmd` (the only place that starts processes) and
//! `change` (the [`change::ChangeToken`] every change of the node needs).
//! `pve` holds the pure Proxmox VE logic (parsers and planners over captured
//! text); `probe` reads `pvecm` and `corosync.conf` for it; `hosts` models
//! `/etc/hosts`; `resolve` judges what the resolver answers for it; `ssh`
//! plans root's SSH files; `node` reads the node's identity; `fsutil` writes
//! files safely; `lock` keeps two runs on one node apart; `cluster_lock`
//! takes Proxmox VE's cluster-wide lock in `/etc/pve`; `modules` holds the
//! modules themselves, the glue that reads state, plans, stops in check mode
//! and applies.

#![deny(missing_docs)]

pub use ansible_module::{ansible, change, cmd};

pub mod cluster_lock;
pub mod fsutil;
pub mod hosts;
pub mod lock;
pub mod modules;
pub mod node;
pub mod probe;
pub mod pve;
pub mod resolve;
pub mod ssh;
