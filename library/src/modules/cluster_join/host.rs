//! What the module reads from the node besides command output: files, the
//! process table, the host name, a TCP port of the peer, the clock, and the
//! node-local lock. [`RealHost`] is the node; tests use a fake.
//!
//! Paths are absolute node paths (`/etc/pve/corosync.conf`). Only in a build
//! with the feature `test-seams` (which the binary tests' dev-dependency
//! turns on; `cargo build` of the shipped binaries never does),
//! [`RealHost`] reads them under `$PVE_CLUSTER_JOIN_ROOT` when that is set,
//! and probes `$PVE_CLUSTER_JOIN_PEER_PORT` instead of the join path's
//! port: the binary tests cannot own `/etc/pve` or port 22.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::lock::Lock;

/// Where a run keeps its lock.
pub const LOCK_PATH: &str = "/run/lock/pve_cluster_join.lock";

/// The node, as far as the module reads it.
pub trait Host {
    /// The text of a file, `None` when it does not exist or is unreadable.
    fn read(&self, path: &str) -> Option<String>;
    /// Whether a file exists.
    fn exists(&self, path: &str) -> bool;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// Whether `path` is a regular file, links followed.
    fn is_file(&self, path: &str) -> bool;
    /// The target of the symbolic link `path`; `None` when it is none.
    fn link_target(&self, path: &str) -> Option<String>;
    /// File names in a directory, sorted; empty when it does not exist.
    fn list_dir(&self, path: &str) -> Vec<String>;
    /// Whether a process with this command name runs.
    fn process_running(&self, comm: &str) -> bool;
    /// Connects to `host:port` and disconnects.
    fn tcp_probe(&self, host: &str, port: u16, timeout: Duration) -> Result<(), String>;
    /// Time since the run started.
    fn elapsed(&self) -> Duration;
    /// Waits.
    fn sleep(&self, pause: Duration);
    /// Takes the node-local lock, waiting up to `wait`.
    fn lock(&self, wait: Duration) -> Result<Option<Lock>, String>;
    /// pmxcfs' quorum as `PVE::Cluster::check_cfs_quorum` reads it: the
    /// owner's write bit of the link `/etc/pve/local`, which pmxcfs shows
    /// as 0777 when quorate and 0555 when not (`cfs-plug-link.c`). `None`
    /// when there is no such link (pmxcfs not mounted).
    fn cfs_quorate(&self) -> Option<bool>;
}

/// The node this runs on.
pub struct RealHost {
    root: PathBuf,
    started: Instant,
    peer_port: Option<u16>,
}

impl RealHost {
    /// The node.
    #[cfg(not(feature = "test-seams"))]
    pub fn from_env() -> RealHost {
        RealHost {
            root: PathBuf::from("/"),
            started: Instant::now(),
            peer_port: None,
        }
    }

    /// The node, with the binary tests' overrides from the environment.
    #[cfg(feature = "test-seams")]
    pub fn from_env() -> RealHost {
        RealHost {
            root: std::env::var_os("PVE_CLUSTER_JOIN_ROOT")
                .map_or_else(|| PathBuf::from("/"), PathBuf::from),
            started: Instant::now(),
            peer_port: std::env::var("PVE_CLUSTER_JOIN_PEER_PORT")
                .ok()
                .and_then(|p| p.parse().ok()),
        }
    }

    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

impl Host for RealHost {
    fn cfs_quorate(&self) -> Option<bool> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(self.at("/etc/pve/local")).ok()?;
        meta.file_type()
            .is_symlink()
            .then(|| meta.permissions().mode() & 0o200 != 0)
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read(self.at(path))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn exists(&self, path: &str) -> bool {
        self.at(path).exists()
    }

    fn is_dir(&self, path: &str) -> bool {
        self.at(path).is_dir()
    }

    fn is_file(&self, path: &str) -> bool {
        self.at(path).is_file()
    }

    fn link_target(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.at(path))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    fn list_dir(&self, path: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.at(path))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn process_running(&self, comm: &str) -> bool {
        self.list_dir("/proc")
            .iter()
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            .any(|pid| {
                self.read(&format!("/proc/{pid}/comm"))
                    .is_some_and(|c| c.trim() == comm)
            })
    }

    fn tcp_probe(&self, host: &str, port: u16, timeout: Duration) -> Result<(), String> {
        let port = self.peer_port.unwrap_or(port);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<_> = (bare, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve '{host}': {e}"))?
            .collect();
        let mut last = format!("'{host}' resolves to no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    last = format!("no answer from {addr} within {} s", timeout.as_secs());
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(last)
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn sleep(&self, pause: Duration) {
        std::thread::sleep(pause);
    }

    fn lock(&self, wait: Duration) -> Result<Option<Lock>, String> {
        Lock::acquire(&self.at(LOCK_PATH), wait)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// Every guest in `/etc/pve`, as PVE's join counts them (the vmlist of
/// `assert_joinable` covers all of `/etc/pve/nodes/*`, not only this
/// node's): this node's as `qemu-server/100.conf`, another node's as
/// `nodes/<node>/qemu-server/100.conf`.
pub fn guests(host: &dyn Host, node: &str) -> Vec<String> {
    let mut nodes = host.list_dir("/etc/pve/nodes");
    nodes.sort_by_key(|n| n != node);
    let mut found = Vec::new();
    for owner in nodes {
        for guest in node_guests(host, &owner) {
            found.push(if owner == node {
                guest
            } else {
                format!("nodes/{owner}/{guest}")
            });
        }
    }
    found
}

/// The guest configurations in one node's directory of `/etc/pve/nodes`,
/// as `qemu-server/100.conf` and `lxc/101.conf`, sorted by kind, then name.
pub fn node_guests(host: &dyn Host, node: &str) -> Vec<String> {
    let mut found = Vec::new();
    for kind in ["qemu-server", "lxc"] {
        for name in host.list_dir(&format!("/etc/pve/nodes/{node}/{kind}")) {
            if name.ends_with(".conf") {
                found.push(format!("{kind}/{name}"));
            }
        }
    }
    found
}

/// The end-of-join checks read the node through the same door.
impl<H: Host + ?Sized> crate::pve::finish::Files for H {
    fn is_dir(&self, path: &str) -> bool {
        Host::is_dir(self, path)
    }
    fn is_file(&self, path: &str) -> bool {
        Host::is_file(self, path)
    }
    fn link_target(&self, path: &str) -> Option<String> {
        Host::link_target(self, path)
    }
}
