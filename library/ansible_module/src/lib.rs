//! Ansible's binary-module protocol for modules written in Rust, and the
//! two capabilities every such module needs to change a node safely.
//!
//! - [`ansible`]: the args (stdin or Ansible's args file) read as
//!   ansible-core writes them, options validated with `AnsibleModule`'s
//!   order, coercions and error texts, one JSON result printed on every
//!   path (a panic too), `no_log` values masked everywhere.
//! - [`cmd`]: the only door to processes: PATH lookup, `LC_ALL=C`, a timeout
//!   that kills the whole process group, secrets on stdin, and a fake
//!   runner for tests.
//! - [`change`]: the [`change::ChangeToken`], the permission to change the
//!   node, which only [`ansible::Context::change_token`] grants, and never
//!   in check mode.
//!
//! It knows nothing of Proxmox VE: the cluster crate (`pve_cluster`) builds
//! on it, and cargo keeps the layering (this crate cannot name that one).

#![deny(missing_docs)]

pub mod ansible;
pub mod change;
pub mod cmd;
