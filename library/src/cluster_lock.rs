//! Proxmox VE's cluster-wide lock, taken the way PVE's own writers take it
//! (pve-cluster, `src/PVE/Cluster.pm`, `$cfs_lock` and `cfs_lock_file`):
//!
//! - the lock is a directory `/etc/pve/priv/lock/<id>`; `mkdir` succeeding
//!   means holding it, on every node at once, since pmxcfs replicates it;
//! - the id of a file's lock is `file-<name>` with `.` and `/` turned into
//!   `_` (`file-corosync_conf`);
//! - a taker that finds the directory asks pmxcfs to release an expired
//!   lock by setting its times to 0 (`utime(0, 0, ...)`; pmxcfs removes a
//!   lock older than 120 s, `CFS_LOCK_TIMEOUT` in `src/pmxcfs/memdb.c`),
//!   and tries again about every second until its timeout (PVE's default is
//!   10 s), then fails with "got lock request timeout";
//! - the holder removes the directory when it is done; PVE aborts the work
//!   after 60 s, so that it ends well within the 120 s after which other
//!   nodes may take the lock from it.
//!
//! Creating the directory is a change, so taking the lock needs a
//! [`ChangeToken`]: check mode never takes it.

use std::fs::{self, File, FileTimes};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::change::ChangeToken;
use crate::fsutil::errno::{EACCES, EEXIST, EPERM, EROFS};

/// Where PVE keeps its cluster-wide locks.
pub const LOCK_DIR: &str = "/etc/pve/priv/lock";

/// How long PVE's writers wait for a file's lock (`cfs_lock_file(..., 10, ...)`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The id of the lock PVE takes to change `file` (a path under `/etc/pve`).
pub fn file_lock_id(file: &str) -> String {
    format!("file-{}", file.replace(['.', '/'], "_"))
}

/// A held cluster-wide lock; released (its directory removed) when dropped.
#[derive(Debug)]
pub struct ClusterLock {
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ClusterLockError {
    /// The lock directory is missing and cannot be made: pmxcfs is not
    /// mounted (PVE: "pve cluster filesystem not online").
    #[error(
        "cannot take Proxmox VE's cluster lock: {} does not exist and cannot be made; the \
         cluster file system (pve-cluster) is not running on this node. Start it \
         ('systemctl start pve-cluster') and retry",
        .lock_dir.display()
    )]
    NotOnline {
        /// The directory the locks are made in (`/etc/pve/priv/lock` on a node).
        lock_dir: PathBuf,
    },
    /// Someone held the lock for the whole wait.
    #[error(
        "cannot take Proxmox VE's cluster lock {}: another writer (a PVE tool, the web \
         interface or another run) held it for {} s. Retry when it is done; pmxcfs releases \
         a lock left behind by a crashed writer after 120 s",
        .path.display(),
        .waited.as_secs()
    )]
    Timeout {
        /// The lock's directory.
        path: PathBuf,
        /// How long this run waited before giving up.
        waited: Duration,
    },
    /// pmxcfs refused the directory: without quorum `/etc/pve` is read-only.
    #[error(
        "cannot take Proxmox VE's cluster lock {} ({error}): /etc/pve is read-only, the \
         cluster is not quorate. pmxcfs accepts no writes without quorum; restore quorum \
         (see 'pvecm status') and retry",
        .path.display()
    )]
    ReadOnly {
        /// The lock's directory.
        path: PathBuf,
        /// The OS error of `mkdir`, as text.
        error: String,
    },
    /// Any other error of `mkdir`.
    #[error("cannot take Proxmox VE's cluster lock {}: {error}", .path.display())]
    Io {
        /// The lock's directory.
        path: PathBuf,
        /// The OS error of `mkdir`, as text.
        error: String,
    },
}

impl ClusterLock {
    /// Takes the lock `id` in `lock_dir`, waiting up to `wait`.
    pub fn acquire(
        lock_dir: &Path,
        id: &str,
        wait: Duration,
        _token: &ChangeToken,
    ) -> Result<ClusterLock, ClusterLockError> {
        // PVE makes the lock directory itself (a single level) and gives up
        // when there still is none.
        let _ = fs::create_dir(lock_dir);
        if !lock_dir.is_dir() {
            return Err(ClusterLockError::NotOnline {
                lock_dir: lock_dir.to_path_buf(),
            });
        }
        let path = lock_dir.join(id);
        let started = Instant::now();
        loop {
            let error = match fs::create_dir(&path) {
                Ok(()) => return Ok(ClusterLock { path }),
                Err(e) => e,
            };
            let text = error.to_string();
            match error.raw_os_error() {
                Some(EEXIST) => {}
                Some(EACCES | EPERM | EROFS) => {
                    return Err(ClusterLockError::ReadOnly { path, error: text })
                }
                _ => return Err(ClusterLockError::Io { path, error: text }),
            }
            let waited = started.elapsed();
            let pause = Duration::from_secs(1).min(wait.saturating_sub(waited));
            if pause.is_zero() {
                return Err(ClusterLockError::Timeout { path, waited });
            }
            // Ask pmxcfs to drop the lock if it has expired.
            let _ = request_unlock(&path);
            std::thread::sleep(pause);
        }
    }

    /// The lock directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

/// pmxcfs's unlock request: the lock directory's times set to 0.
fn request_unlock(path: &Path) -> io::Result<()> {
    let epoch = FileTimes::new()
        .set_accessed(UNIX_EPOCH)
        .set_modified(UNIX_EPOCH);
    File::open(path)?.set_times(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeToken;

    fn token() -> ChangeToken {
        ChangeToken::for_tests()
    }

    #[test]
    fn a_files_lock_id_is_pves() {
        assert_eq!(file_lock_id("corosync.conf"), "file-corosync_conf");
        assert_eq!(file_lock_id("priv/tfa.cfg"), "file-priv_tfa_cfg");
    }

    #[test]
    fn the_lock_is_a_directory_removed_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let priv_dir = dir.path().join("priv");
        fs::create_dir(&priv_dir).unwrap();
        let lock_dir = priv_dir.join("lock");
        let held = ClusterLock::acquire(&lock_dir, "file-x", DEFAULT_WAIT, &token()).unwrap();
        assert!(lock_dir.join("file-x").is_dir());
        drop(held);
        assert!(lock_dir.is_dir() && !lock_dir.join("file-x").exists());
    }

    #[test]
    fn a_held_lock_times_out_after_asking_pmxcfs_to_release_it() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().join("lock");
        fs::create_dir_all(lock_dir.join("file-x")).unwrap();
        let started = Instant::now();
        let err = ClusterLock::acquire(&lock_dir, "file-x", Duration::from_millis(1500), &token())
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(1500));
        assert!(matches!(err, ClusterLockError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("held it for 1 s"), "{err}");
        // The unlock request: its times are 0; and the lock is someone
        // else's, so it is still there.
        let meta = fs::metadata(lock_dir.join("file-x")).unwrap();
        assert_eq!(meta.modified().unwrap(), UNIX_EPOCH);
    }

    #[test]
    fn a_lock_released_meanwhile_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().join("lock");
        let other = lock_dir.join("file-x");
        fs::create_dir_all(&other).unwrap();
        let remover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            fs::remove_dir(&other).unwrap();
        });
        let held = ClusterLock::acquire(&lock_dir, "file-x", DEFAULT_WAIT, &token());
        remover.join().unwrap();
        assert!(held.is_ok());
    }

    #[test]
    fn no_lock_directory_means_pmxcfs_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().join("priv").join("lock");
        let err = ClusterLock::acquire(&lock_dir, "file-x", DEFAULT_WAIT, &token()).unwrap_err();
        assert!(matches!(err, ClusterLockError::NotOnline { .. }), "{err}");
        assert!(err.to_string().contains("pve-cluster"), "{err}");
    }
}
