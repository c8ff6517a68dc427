//! The shared crate behind every module binary.
//!
//! `change` holds the [`change::ChangeToken`] every change of the node needs;
//! `ansible` speaks Ansible's binary-module protocol (args file in, one JSON
//! object out); `cmd` is the only place that starts processes; `pve` holds
//! the pure Proxmox VE logic (parsers and planners over captured text);
//! `hosts` models `/etc/hosts`; `resolve` judges what the resolver answers
//! for it; `fsutil` writes files safely; `lock` keeps two runs on one node
//! apart; `cluster_lock` takes Proxmox VE's cluster-wide lock in `/etc/pve`; `modules` holds the modules themselves, the glue that reads
//! state, plans, stops in check mode and applies.

pub mod ansible;
pub mod change;
pub mod cluster_lock;
pub mod cmd;
pub mod fsutil;
pub mod hosts;
pub mod lock;
pub mod modules;
pub mod node;
pub mod probe;
pub mod pve;
pub mod resolve;
pub mod ssh;
