//! A node-local exclusive lock, so that two runs of a module on one node
//! never overlap.
//!
//! The lock is an `flock` on a file (std's [`File::try_lock`]): the kernel
//! releases it when the holder exits or dies, so a crashed run cannot leave
//! a stale lock behind. The holder writes its pid into the file, only to
//! name it in the message a waiting run gives up with. The file itself is
//! left in place: removing it would let a third run lock a new file while a
//! second still waits on the old one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process held it for the whole wait.
    #[error(
        "another run is already working on this node: {} holds the lock {} and did \
         not release it within {} s; wait for it to finish and run again",
        holder_text(.holder, .holder_alive),
        .path.display(),
        .waited.as_secs()
    )]
    Busy {
        /// Lock file.
        path: PathBuf,
        /// The holder's pid, as it wrote it.
        holder: Option<u32>,
        /// Whether that pid is a live process.
        holder_alive: bool,
        /// How long this run waited.
        waited: Duration,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot take the lock {}: {error}", .path.display())]
    Io {
        /// Lock file.
        path: PathBuf,
        /// OS error text.
        error: String,
    },
}

/// Who holds the lock, as the message names it.
fn holder_text(holder: &Option<u32>, holder_alive: &bool) -> String {
    match (holder, holder_alive) {
        (Some(pid), true) => format!("process {pid}"),
        (Some(pid), false) => {
            format!("process {pid} (which has exited; its lock is being released)")
        }
        (None, _) => "another process".to_string(),
    }
}

impl Lock {
    /// Takes the lock at `path`, waiting up to `wait` with growing pauses.
    /// The parent directory is created if missing.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Lock, LockError> {
        let io = |e: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            error: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let elapsed = started.elapsed();
                    if elapsed >= wait {
                        let holder = read_pid(&mut file);
                        return Err(LockError::Busy {
                            path: path.to_path_buf(),
                            holder,
                            holder_alive: holder.is_some_and(pid_alive),
                            waited: elapsed,
                        });
                    }
                    std::thread::sleep(pause.min(wait - elapsed));
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let record = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        record.map_err(io)?;
        Ok(Lock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Emptied so the next reader does not name a finished process.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether a process with this pid exists (in this pid namespace).
pub fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_lock_path(tag: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("lock-test-{}-{tag}", std::process::id()))
            .join("sub")
            .join("x.lock")
    }

    #[test]
    fn second_taker_waits_then_fails_with_the_holder_named() {
        let path = temp_lock_path("busy");
        let held = Lock::acquire(&path, Duration::ZERO).unwrap();
        let text = std::fs::read_to_string(held.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());

        let started = Instant::now();
        let err = Lock::acquire(&path, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("another run is already working on this node"));
        drop(held);
        let again = Lock::acquire(&path, Duration::ZERO).unwrap();
        drop(again);
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_waiting_taker_gets_the_lock_when_it_is_released() {
        let path = temp_lock_path("wait");
        let held = Lock::acquire(&path, Duration::ZERO).unwrap();
        let p = path.clone();
        let waiter = std::thread::spawn(move || Lock::acquire(&p, Duration::from_secs(10)).is_ok());
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
        assert!(waiter.join().unwrap());
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_no_obstacle() {
        let path = temp_lock_path("stale");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A pid that cannot exist: the file says "held", flock says free.
        std::fs::write(&path, "4194304\n").unwrap();
        assert!(!pid_alive(4_194_304));
        assert!(Lock::acquire(&path, Duration::ZERO).is_ok());
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }
}
