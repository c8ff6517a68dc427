//! Writing files safely: atomic replacement that keeps mode and owner, an
//! in-place fallback for bind-mounted files, and Ansible-style backups.
//!
//! Every writer takes a [`ChangeToken`], so
//! nothing writes a file without one:
//!
//! ```compile_fail
//! use pve_cluster::fsutil::{write_atomic, WriteOptions};
//! write_atomic(std::path::Path::new("/etc/hosts"), b"", &WriteOptions::default());
//! ```
//!
//! and a token cannot be made here, only granted by the module context
//! outside check mode:
//!
//! ```compile_fail
//! let token = pve_cluster::change::ChangeToken(());
//! ```

use crate::change::ChangeToken;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::{fchown, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use errno::{EACCES, EBUSY, EDQUOT, EFBIG, EIO, ENOENT, ENOSPC, EPERM, EROFS, EXDEV};

/// The Linux error numbers the file writers tell apart.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// Input/output error; pmxcfs answers it while it cannot write yet.
    pub const EIO: i32 = 5;
    /// Permission denied; pmxcfs answers it without quorum.
    pub const EACCES: i32 = 13;
    /// Device or resource busy; a rename onto a bind-mounted file fails so.
    pub const EBUSY: i32 = 16;
    /// File exists.
    pub const EEXIST: i32 = 17;
    /// Cross-device link; a rename onto a bind-mounted file may fail so.
    pub const EXDEV: i32 = 18;
    /// File too large.
    pub const EFBIG: i32 = 27;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// No space left on the device.
    pub const ENOSPC: i32 = 28;
    /// Read-only file system.
    pub const EROFS: i32 = 30;
    /// Function not implemented.
    pub const ENOSYS: i32 = 38;
    /// Operation not supported.
    pub const ENOTSUP: i32 = 95;
    /// Disk quota exceeded.
    pub const EDQUOT: i32 = 122;
}

/// How to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Permission bits for a file that does not exist yet. An existing
    /// file keeps its own.
    pub new_file_mode: u32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            new_file_mode: 0o644,
        }
    }
}

/// How the new content reached the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    /// A temporary file renamed over the target: readers see the old or
    /// the new content, never a mix.
    Renamed,
    /// The target overwritten in place, because it could not be replaced
    /// (a bind-mounted file, as `/etc/hosts` in containers).
    InPlace,
}

/// What [`write_atomic`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// The file written: the target of `path` if `path` is a symlink.
    pub path: PathBuf,
    /// Whether the file was replaced by a rename or overwritten in place.
    pub method: WriteMethod,
    /// Texts for the module's `warnings`.
    pub warnings: Vec<String>,
}

/// The cause of a failure, from the OS error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsErrorKind {
    /// No space left on the device, or the disk quota is used up
    /// (`ENOSPC`, `EDQUOT`).
    NoSpace,
    /// The file is larger than the file system accepts (`EFBIG`).
    TooLarge,
    /// The file system is mounted read-only (`EROFS`).
    ReadOnly,
    /// The process may not do this (`EACCES`, `EPERM`).
    PermissionDenied,
    /// The file or a directory on its path does not exist (`ENOENT`).
    NotFound,
    /// Any other error, or one without an OS error number.
    Other,
}

impl FsErrorKind {
    fn of(error: &io::Error) -> FsErrorKind {
        match error.raw_os_error() {
            Some(ENOSPC | EDQUOT) => FsErrorKind::NoSpace,
            Some(EFBIG) => FsErrorKind::TooLarge,
            Some(EROFS) => FsErrorKind::ReadOnly,
            Some(EACCES | EPERM) => FsErrorKind::PermissionDenied,
            Some(ENOENT) => FsErrorKind::NotFound,
            _ => FsErrorKind::Other,
        }
    }
}

/// The step that failed; decides what the message says about the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the target's metadata or resolving its symlink.
    Inspect,
    /// Creating the temporary file next to the target.
    CreateTemp,
    /// Writing the new content to the temporary file or syncing it.
    WriteTemp,
    /// Giving the temporary file the target's owner and group.
    KeepOwner,
    /// Giving the temporary file the target's permission bits.
    KeepMode,
    /// Renaming the temporary file over the target.
    Replace,
    /// Overwriting the target in place after the rename was refused; the
    /// only step that may leave the target incomplete.
    WriteInPlace,
    /// Copying the target to its backup.
    Backup,
}

/// A failed file operation. `path` is the file the user named (or its
/// symlink target); the original is intact unless `step` is `WriteInPlace`.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
pub struct FsError {
    /// The file concerned: the path as named, or its symlink's target.
    pub path: PathBuf,
    /// The step of the write or backup that failed.
    pub step: Step,
    /// The cause, sorted from `source`'s OS error number.
    pub kind: FsErrorKind,
    /// The OS error as it came.
    pub source: io::Error,
}

impl FsErrorKind {
    fn cause(self, source: &io::Error) -> String {
        match self {
            FsErrorKind::NoSpace => "no space left on the device (or quota exceeded)".to_string(),
            FsErrorKind::TooLarge => format!("the file is too large ({source})"),
            FsErrorKind::ReadOnly => "the file system is read-only".to_string(),
            FsErrorKind::PermissionDenied => {
                format!("permission denied ({source}); run as root, e.g. with become: true")
            }
            FsErrorKind::NotFound => format!("not found ({source})"),
            FsErrorKind::Other => source.to_string(),
        }
    }
}

impl FsError {
    /// The file is in Proxmox VE's cluster file system, whose refusals
    /// mean something else than a disk's (pve-cluster, `src/pmxcfs/`:
    /// `EACCES` without quorum, `EFBIG` beyond `MEMDB_MAX_FILE_SIZE`).
    fn in_pmxcfs(&self) -> bool {
        self.path.starts_with("/etc/pve")
    }

    fn new(path: &Path, step: Step, source: io::Error) -> FsError {
        FsError {
            path: path.to_path_buf(),
            step,
            kind: FsErrorKind::of(&source),
            source,
        }
    }

    /// The message: what failed, why, and what became of the file.
    fn message(&self) -> String {
        let path = self.path.display();
        let cause = match (self.kind, self.in_pmxcfs()) {
            (FsErrorKind::PermissionDenied | FsErrorKind::ReadOnly, true) => format!(
                "pmxcfs refused the write ({}): /etc/pve is read-only while the cluster is not \
                 quorate; restore quorum (see 'pvecm status') and retry",
                self.source
            ),
            (FsErrorKind::TooLarge, true) => format!(
                "pmxcfs refused the write ({}): it keeps no file larger than 1 MiB",
                self.source
            ),
            (FsErrorKind::Other, true) if self.source.raw_os_error() == Some(EIO) => format!(
                "pmxcfs refused the write ({}), as it does for a while after a node joins or while \
                 it resynchronises; retry once 'pvecm status' shows this node in a quorate cluster",
                self.source
            ),
            (kind, _) => kind.cause(&self.source),
        };
        let unchanged = format!("{path} was left unchanged");
        match self.step {
            Step::Inspect => format!("cannot inspect {path}: {cause}"),
            Step::CreateTemp => format!(
                "cannot create a temporary file next to {path}: {cause}; {unchanged}"
            ),
            Step::WriteTemp => format!(
                "cannot write the new content of {path} to a temporary file: {cause}; {unchanged}"
            ),
            Step::KeepOwner => format!(
                "cannot give the new {path} the owner of the old one: {cause}; {unchanged}"
            ),
            Step::KeepMode => format!(
                "cannot give the new {path} the mode of the old one: {cause}; {unchanged}"
            ),
            Step::Replace => format!("cannot replace {path}: {cause}; {unchanged}"),
            Step::WriteInPlace => format!(
                "cannot write {path} in place: {cause}; the file may be incomplete, restore it from its backup"
            ),
            Step::Backup => format!("cannot back up {path}: {cause}"),
        }
    }
}

/// Replaces the content of `path` with `bytes`.
///
/// A temporary file is created next to the target (unique name, `O_EXCL`),
/// written, given the target's owner and mode, fsynced, and renamed over
/// the target; then the directory is fsynced. Owner: if it cannot be set
/// and the target belongs to the current user already, the group is left
/// as it comes; otherwise that is an error. A symlink is followed: its
/// target is replaced, the link stays. When the rename fails with `EBUSY`
/// or `EXDEV` (a bind-mounted file), the target is overwritten in place
/// instead (write, cut to length, fsync; never empty in between) and a
/// warning says so. On any other failure the target is untouched and the
/// temporary file is removed.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    options: &WriteOptions,
    _token: &ChangeToken,
) -> Result<WriteReport, FsError> {
    write_atomic_with(path, &[bytes], options, &RealOps)
}

/// Makes a directory and its parents; `mode`, when given, is set on it.
pub fn create_dir_all(path: &Path, mode: Option<u32>, _token: &ChangeToken) -> io::Result<()> {
    fs::create_dir_all(path)?;
    match mode {
        Some(mode) => fs::set_permissions(path, fs::Permissions::from_mode(mode)),
        None => Ok(()),
    }
}

/// Sets a file's permission bits.
pub fn set_mode(path: &Path, mode: u32, _token: &ChangeToken) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Removes a file.
pub fn remove_file(path: &Path, _token: &ChangeToken) -> io::Result<()> {
    fs::remove_file(path)
}

/// Removes a directory and everything in it.
pub fn remove_dir_all(path: &Path, _token: &ChangeToken) -> io::Result<()> {
    fs::remove_dir_all(path)
}

/// [`write_atomic`] for content given in parts, written one after the
/// other: a large file with a few edited lines need not be copied into
/// one buffer first.
pub fn write_atomic_parts(
    path: &Path,
    parts: &[&[u8]],
    options: &WriteOptions,
    _token: &ChangeToken,
) -> Result<WriteReport, FsError> {
    write_atomic_with(path, parts, options, &RealOps)
}

/// The operations a test replaces to simulate failures.
trait Ops {
    fn write_temp(&self, file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
        write_parts(file, parts)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
}

struct RealOps;

impl Ops for RealOps {}

fn write_atomic_with(
    path: &Path,
    parts: &[&[u8]],
    options: &WriteOptions,
    ops: &dyn Ops,
) -> Result<WriteReport, FsError> {
    let target = resolve_symlink(path)?;
    let existing = match fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(FsError::new(&target, Step::Inspect, e)),
    };
    let mode = existing
        .as_ref()
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(options.new_file_mode & 0o7777);

    let (temp_path, mut temp) = create_temp(&target)?;
    let prepared = prepare_temp(&mut temp, parts, existing.as_ref(), mode, ops);
    drop(temp);
    if let Err(e) = prepared {
        let _ = fs::remove_file(&temp_path);
        return Err(FsError::new(&target, e.0, e.1));
    }

    let mut warnings = Vec::new();
    let method = match ops.rename(&temp_path, &target) {
        Ok(()) => WriteMethod::Renamed,
        Err(e) if matches!(e.raw_os_error(), Some(EBUSY | EXDEV)) => {
            let _ = fs::remove_file(&temp_path);
            write_in_place(&target, parts)
                .map_err(|e| FsError::new(&target, Step::WriteInPlace, e))?;
            warnings.push(format!(
                "{} could not be replaced atomically ({e}; it is probably bind-mounted, as in a container); it was overwritten in place instead",
                target.display()
            ));
            WriteMethod::InPlace
        }
        Err(e) => {
            let _ = fs::remove_file(&temp_path);
            return Err(FsError::new(&target, Step::Replace, e));
        }
    };
    if method == WriteMethod::Renamed {
        if let Err(e) = sync_dir(&target) {
            warnings.push(format!(
                "{} was replaced, but its directory could not be synced to disk: {e}",
                target.display()
            ));
        }
    }
    let removed = remove_stale_temps(&target, SystemTime::now());
    if !removed.is_empty() {
        warnings.push(format!(
            "removed {} temporary file(s) that an interrupted earlier write of {} had left: {}",
            removed.len(),
            target.display(),
            removed.join(", ")
        ));
    }
    Ok(WriteReport {
        path: target,
        method,
        warnings,
    })
}

fn resolve_symlink(path: &Path) -> Result<PathBuf, FsError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| FsError::new(path, Step::Inspect, e))
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How old a temporary file of a dead writer must be before it counts as
/// left over. A write holds its temporary file for milliseconds; the age
/// also keeps a writer on another host of a shared directory (pmxcfs, whose
/// pids this host cannot see) safe.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether `file_name` is one of [`create_temp`]'s names for `target_name`,
/// and if so the pid that made it.
fn temp_owner(file_name: &str, target_name: &str) -> Option<u32> {
    let rest = file_name
        .strip_prefix('.')?
        .strip_prefix(target_name)?
        .strip_prefix('.')?
        .strip_suffix(".tmp")?;
    let mut fields = rest.split('.');
    let (pid, n, nanos) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some()
        || !n.bytes().all(|b| b.is_ascii_digit())
        || !nanos.bytes().all(|b| b.is_ascii_hexdigit())
        || n.is_empty()
        || nanos.is_empty()
    {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files an interrupted earlier write of `target`
/// left beside it (a writer killed between creating and renaming it): only
/// files of [`create_temp`]'s form whose writer is gone and that are older
/// than [`STALE_TEMP_AGE`]. Returns their names. Best effort: anything it
/// cannot read or remove is left.
fn remove_stale_temps(target: &Path, now: SystemTime) -> Vec<String> {
    let Some(target_name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(parent_dir(target)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name, &target_name) else {
            continue;
        };
        if pid == std::process::id() || crate::lock::pid_alive(pid) {
            continue;
        }
        let old_enough = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_TEMP_AGE);
        if old_enough && fs::remove_file(entry.path()).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

fn create_temp(target: &Path) -> Result<(PathBuf, File), FsError> {
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_error = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..100 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path = dir.join(format!(".{name}.{}.{n}.{nanos:x}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp_path)
        {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = e,
            Err(e) => return Err(FsError::new(target, Step::CreateTemp, e)),
        }
    }
    Err(FsError::new(target, Step::CreateTemp, last_error))
}

fn prepare_temp(
    temp: &mut File,
    parts: &[&[u8]],
    existing: Option<&fs::Metadata>,
    mode: u32,
    ops: &dyn Ops,
) -> Result<(), (Step, io::Error)> {
    ops.write_temp(temp, parts)
        .map_err(|e| (Step::WriteTemp, e))?;
    if let Some(meta) = existing {
        let ours = temp.metadata().map_err(|e| (Step::KeepOwner, e))?;
        if (ours.uid(), ours.gid()) != (meta.uid(), meta.gid()) {
            if let Err(e) = fchown(&*temp, Some(meta.uid()), Some(meta.gid())) {
                // Not permitted, but the file is ours anyway: keep going
                // with our group rather than fail.
                let not_permitted = matches!(e.raw_os_error(), Some(EPERM | EACCES));
                if !(not_permitted && ours.uid() == meta.uid()) {
                    return Err((Step::KeepOwner, e));
                }
            }
        }
    }
    // After chown, which clears set-id bits.
    temp.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| (Step::KeepMode, e))?;
    temp.sync_all().map_err(|e| (Step::WriteTemp, e))
}

fn write_in_place(target: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(target)?;
    write_parts(&mut file, parts)?;
    let len: usize = parts.iter().map(|p| p.len()).sum();
    file.set_len(len as u64)?;
    file.sync_all()
}

/// Writes every part, in order, with as few system calls as the kernel
/// allows (`writev`).
fn write_parts(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| IoSlice::new(p))
        .collect();
    let mut rest = slices.as_mut_slice();
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn sync_dir(target: &Path) -> io::Result<()> {
    File::open(parent_dir(target))?.sync_all()
}

/// Copies `path` next to itself under Ansible's backup name
/// (see [`backup_name`]), keeping its mode, owner (when permitted) and
/// modification time. Returns the backup's path.
pub fn backup_file(path: &Path, _token: &ChangeToken) -> Result<PathBuf, FsError> {
    let backup = backup_name(path, std::process::id(), SystemTime::now());
    let fail = |e| FsError::new(path, Step::Backup, e);
    let meta = fs::metadata(path).map_err(fail)?;
    fs::copy(path, &backup).map_err(fail)?;
    let _ = std::os::unix::fs::chown(&backup, Some(meta.uid()), Some(meta.gid()));
    fs::set_permissions(&backup, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(fail)?;
    if let Ok(modified) = meta.modified() {
        if let Ok(file) = OpenOptions::new().write(true).open(&backup) {
            let _ = file.set_modified(modified);
        }
    }
    Ok(backup)
}

/// `<path>.<pid>.<YYYY-MM-DD@HH:MM:SS~>`, the name Ansible gives backups.
/// Ansible uses local time; this uses UTC, as the time zone database is
/// not read here.
pub fn backup_name(path: &Path, pid: u32, time: SystemTime) -> PathBuf {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(
        ".{pid}.{year:04}-{month:02}-{day:02}@{:02}:{:02}:{:02}~",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ));
    PathBuf::from(name)
}

/// Days since 1970-01-01 to (year, month, day) in the Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_atomic` with the default options, as a module holding a token calls it.
    fn write_default(path: &Path, bytes: &[u8]) -> Result<WriteReport, FsError> {
        write_atomic(
            path,
            bytes,
            &WriteOptions::default(),
            &ChangeToken::for_tests(),
        )
    }
    use std::cell::Cell;

    struct TestDir(PathBuf);

    impl TestDir {
        fn new(tag: &str) -> TestDir {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("library-fsutil-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }

        fn file(&self, name: &str, content: &str, mode: u32) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    /// Fails the rename with an OS error, as the kernel does for a
    /// bind-mounted target (EBUSY) or across mounts (EXDEV).
    struct FailRename(i32);

    impl Ops for FailRename {
        fn rename(&self, _: &Path, _: &Path) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(self.0))
        }
    }

    /// Writes half of the content, then fails like a full disk.
    struct FailWrite {
        temp_seen: Cell<bool>,
    }

    impl Ops for FailWrite {
        fn write_temp(&self, file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
            self.temp_seen.set(true);
            let bytes = parts.concat();
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::from_raw_os_error(ENOSPC))
        }
    }

    /// pmxcfs answers `EACCES` to root without quorum (`dcdb.c`), `EFBIG`
    /// beyond 1 MiB (`memdb.c`, `MEMDB_MAX_FILE_SIZE`) and `EIO` while it
    /// resynchronises: each gets its own message for files in /etc/pve.
    #[test]
    fn pmxcfs_refusals_say_what_they_mean() {
        let err = |path: &str, errno: i32| {
            FsError::new(
                Path::new(path),
                Step::CreateTemp,
                io::Error::from_raw_os_error(errno),
            )
            .to_string()
        };
        let keys = "/etc/pve/priv/authorized_keys";
        let msg = err(keys, EACCES);
        assert!(
            msg.starts_with(&format!("cannot create a temporary file next to {keys}: pmxcfs refused the write (Permission denied (os error 13)): /etc/pve is read-only while the cluster is not quorate")),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!("{keys} was left unchanged")),
            "{msg}"
        );
        assert!(err(keys, EFBIG).contains("it keeps no file larger than 1 MiB"));
        assert!(err(keys, EIO)
            .contains("retry once 'pvecm status' shows this node in a quorate cluster"));
        // Elsewhere, the same errors mean what they mean on a disk.
        assert!(err("/etc/hosts", EACCES).contains("run as root, e.g. with become: true"));
        assert!(err("/etc/pvefoo", EACCES).contains("run as root"));
        assert!(err("/etc/hosts", EFBIG).contains("the file is too large"));
    }

    #[test]
    fn replaces_content_and_keeps_mode() {
        let dir = TestDir::new("mode");
        let path = dir.file("hosts", "old\n", 0o640);
        let report = write_default(&path, b"new\n").unwrap();
        assert_eq!(report.method, WriteMethod::Renamed);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(mode_of(&path), 0o640);
        assert_eq!(dir.entries(), vec!["hosts"]);
    }

    #[test]
    fn content_in_parts_is_written_in_order() {
        let dir = TestDir::new("parts");
        let path = dir.file("hosts", "old\n", 0o640);
        let parts: [&[u8]; 5] = [b"a\n", b"", b"bb\n", b"", b"ccc"];
        let report = write_atomic_parts(
            &path,
            &parts,
            &WriteOptions::default(),
            &ChangeToken::for_tests(),
        )
        .unwrap();
        assert_eq!(report.method, WriteMethod::Renamed);
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nbb\nccc");
        assert_eq!(mode_of(&path), 0o640);
        assert_eq!(dir.entries(), vec!["hosts"]);
        write_atomic_parts(
            &path,
            &[],
            &WriteOptions::default(),
            &ChangeToken::for_tests(),
        )
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn content_in_parts_is_written_in_place_too() {
        let dir = TestDir::new("parts-busy");
        let path = dir.file("hosts", "a much longer old content\n", 0o640);
        let parts: [&[u8]; 3] = [b"new", b"", b"\n"];
        let report =
            write_atomic_with(&path, &parts, &WriteOptions::default(), &FailRename(EBUSY)).unwrap();
        assert_eq!(report.method, WriteMethod::InPlace);
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
    }

    #[test]
    fn keeps_special_mode_bits() {
        let dir = TestDir::new("sticky");
        let path = dir.file("hosts", "old\n", 0o1604);
        write_default(&path, b"new\n").unwrap();
        assert_eq!(mode_of(&path), 0o1604);
    }

    #[test]
    fn creates_a_missing_file_with_the_given_mode() {
        let dir = TestDir::new("new");
        let path = dir.0.join("hosts");
        let options = WriteOptions {
            new_file_mode: 0o600,
        };
        let report = write_atomic(&path, b"x\n", &options, &ChangeToken::for_tests()).unwrap();
        assert_eq!(report.method, WriteMethod::Renamed);
        assert_eq!(fs::read_to_string(&path).unwrap(), "x\n");
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn keeps_the_owner_when_root() {
        let dir = TestDir::new("owner");
        let path = dir.file("hosts", "old\n", 0o644);
        if std::os::unix::fs::chown(&path, Some(4321), Some(8765)).is_err() {
            return; // not root: nothing to check
        }
        write_default(&path, b"new\n").unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 8765));
        assert_eq!(mode_of(&path), 0o644);
    }

    #[test]
    fn follows_a_symlink() {
        let dir = TestDir::new("link");
        let real = dir.file("real", "old\n", 0o644);
        let link = dir.0.join("hosts");
        std::os::unix::fs::symlink("real", &link).unwrap();
        let report = write_default(&link, b"new\n").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new\n");
        assert_eq!(report.path, fs::canonicalize(&real).unwrap());
    }

    #[test]
    fn busy_or_cross_device_rename_falls_back_to_writing_in_place() {
        for errno in [EBUSY, EXDEV] {
            let dir = TestDir::new("busy");
            let path = dir.file("hosts", "a much longer old content\n", 0o640);
            let inode = fs::metadata(&path).unwrap().ino();
            let report = write_atomic_with(
                &path,
                &[b"new\n"],
                &WriteOptions::default(),
                &FailRename(errno),
            )
            .unwrap();
            assert_eq!(report.method, WriteMethod::InPlace);
            assert_eq!(report.warnings.len(), 1);
            assert!(report.warnings[0].contains("overwritten in place"));
            assert!(report.warnings[0].contains(&path.display().to_string()));
            assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
            assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
            assert_eq!(mode_of(&path), 0o640);
            assert_eq!(dir.entries(), vec!["hosts"]);
        }
    }

    #[test]
    fn other_rename_failures_leave_the_original_and_no_temp() {
        let dir = TestDir::new("rename");
        let path = dir.file("hosts", "old\n", 0o644);
        let err = write_atomic_with(
            &path,
            &[b"new\n"],
            &WriteOptions::default(),
            &FailRename(EACCES),
        )
        .unwrap_err();
        assert_eq!(err.step, Step::Replace);
        assert_eq!(err.kind, FsErrorKind::PermissionDenied);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(dir.entries(), vec!["hosts"]);
        let text = err.to_string();
        assert!(text.contains("cannot replace"), "{text}");
        assert!(text.contains("was left unchanged"), "{text}");
    }

    #[test]
    fn failed_write_leaves_the_original_and_removes_the_temp() {
        let dir = TestDir::new("enospc");
        let path = dir.file("hosts", "old\n", 0o644);
        let ops = FailWrite {
            temp_seen: Cell::new(false),
        };
        let err = write_atomic_with(&path, &[b"new content\n"], &WriteOptions::default(), &ops)
            .unwrap_err();
        assert!(ops.temp_seen.get());
        assert_eq!(err.step, Step::WriteTemp);
        assert_eq!(err.kind, FsErrorKind::NoSpace);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(dir.entries(), vec!["hosts"]);
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write the new content of {p} to a temporary file: no space left on the device (or quota exceeded); {p} was left unchanged",
                p = path.display()
            )
        );
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let dir = TestDir::new("nodir");
        let path = dir.0.join("missing").join("hosts");
        let err = write_default(&path, b"x").unwrap_err();
        assert_eq!(err.step, Step::CreateTemp);
        assert_eq!(err.kind, FsErrorKind::NotFound);
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn error_kinds_from_os_errors() {
        for (errno, kind) in [
            (ENOSPC, FsErrorKind::NoSpace),
            (EDQUOT, FsErrorKind::NoSpace),
            (EROFS, FsErrorKind::ReadOnly),
            (EACCES, FsErrorKind::PermissionDenied),
            (EPERM, FsErrorKind::PermissionDenied),
            (ENOENT, FsErrorKind::NotFound),
            (EBUSY, FsErrorKind::Other),
        ] {
            assert_eq!(FsErrorKind::of(&io::Error::from_raw_os_error(errno)), kind);
        }
        let err = FsError::new(
            Path::new("etc/hosts"),
            Step::CreateTemp,
            io::Error::from_raw_os_error(EROFS),
        );
        assert_eq!(
            err.to_string(),
            "cannot create a temporary file next to etc/hosts: the file system is read-only; etc/hosts was left unchanged"
        );
    }

    #[test]
    fn backup_names_follow_ansible() {
        // 2024-02-29 13:05:09 UTC
        let time = UNIX_EPOCH + std::time::Duration::from_secs(1_709_211_909);
        assert_eq!(
            backup_name(Path::new("etc/hosts"), 4242, time),
            PathBuf::from("etc/hosts.4242.2024-02-29@13:05:09~")
        );
        assert_eq!(
            backup_name(Path::new("h"), 1, UNIX_EPOCH),
            PathBuf::from("h.1.1970-01-01@00:00:00~")
        );
        // 2000-12-31 23:59:59 UTC
        let time = UNIX_EPOCH + std::time::Duration::from_secs(978_307_199);
        assert_eq!(
            backup_name(Path::new("h"), 7, time),
            PathBuf::from("h.7.2000-12-31@23:59:59~")
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn backup_copies_content_and_mode() {
        let dir = TestDir::new("backup");
        let path = dir.file("hosts", "old\n", 0o604);
        let backup = backup_file(&path, &ChangeToken::for_tests()).unwrap();
        assert_eq!(fs::read_to_string(&backup).unwrap(), "old\n");
        assert_eq!(mode_of(&backup), 0o604);
        let name = backup.file_name().unwrap().to_string_lossy().into_owned();
        let prefix = format!("hosts.{}.", std::process::id());
        assert!(name.starts_with(&prefix), "{name}");
        assert!(name.ends_with('~'), "{name}");
        assert_eq!(name.len(), prefix.len() + "YYYY-MM-DD@HH:MM:SS~".len());
        assert_eq!(
            fs::metadata(&backup).unwrap().modified().unwrap(),
            fs::metadata(&path).unwrap().modified().unwrap()
        );
    }

    #[test]
    fn backup_of_a_missing_file_fails_clearly() {
        let dir = TestDir::new("nobackup");
        let err = backup_file(&dir.0.join("hosts"), &ChangeToken::for_tests()).unwrap_err();
        assert_eq!(err.step, Step::Backup);
        assert!(err.to_string().starts_with("cannot back up "));
    }

    const BIND_TARGET: &str = "LIBRARY_FSUTIL_BIND_TARGET";

    /// A real bind-mounted file, as `/etc/hosts` in a container: the test
    /// binary runs `bind_mounted_inner` again inside a private mount
    /// namespace. Skipped where namespaces cannot be made (not root).
    #[test]
    fn bind_mounted_target_is_written_in_place() {
        let usable = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !usable {
            eprintln!("skipped: cannot create a mount namespace here");
            return;
        }
        let dir = TestDir::new("bind");
        let source = dir.file("source", "bound content\n", 0o644);
        let target = dir.file("hosts", "old content\n", 0o644);
        let exe = std::env::current_exe().unwrap();
        let output = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" "$2" && exec "$3" --exact fsutil::tests::bind_mounted_inner --include-ignored --nocapture"#)
            .arg("sh")
            .args([&source, &target, &exe])
            .env(BIND_TARGET, &target)
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{log}");
        assert!(log.contains("1 passed"), "{log}");
        // Writes through the mount land in the bound file; the file under
        // the mount, visible again outside the namespace, is untouched.
        assert_eq!(fs::read_to_string(&source).unwrap(), "new content\n");
        assert_eq!(fs::read_to_string(&target).unwrap(), "old content\n");
        assert_eq!(dir.entries(), vec!["hosts", "source"]);
    }

    #[test]
    #[ignore = "run by bind_mounted_target_is_written_in_place in a mount namespace"]
    fn bind_mounted_inner() {
        let Some(target) = std::env::var_os(BIND_TARGET) else {
            return;
        };
        let target = PathBuf::from(target);
        let report = write_default(&target, b"new content\n").unwrap();
        assert_eq!(report.method, WriteMethod::InPlace);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(
            report.warnings[0].contains("Device or resource busy"),
            "{:?}",
            report.warnings
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "new content\n");
    }

    #[test]
    fn temp_names_are_recognised_with_their_writer() {
        assert_eq!(temp_owner(".hosts.4242.0.1a2b.tmp", "hosts"), Some(4242));
        assert_eq!(temp_owner(".my.conf.7.12.ff.tmp", "my.conf"), Some(7));
        for other in [
            ".hosts.4242.0.1a2b.tmp.x",
            ".hosts.bak",
            ".hosts.4242.0.tmp",
            ".hosts.x.0.1a2b.tmp",
            ".hosts.4242.0.zz.tmp",
            ".other.4242.0.1a2b.tmp",
            "hosts.4242.0.1a2b.tmp",
        ] {
            assert_eq!(temp_owner(other, "hosts"), None, "{other}");
        }
    }

    #[test]
    fn a_write_removes_old_temp_files_of_dead_writers_only() {
        let dir = TestDir::new("stale");
        let target = dir.file("hosts", "old\n", 0o644);
        let dead = (4_000_000u32..4_100_000)
            .find(|p| !crate::lock::pid_alive(*p))
            .expect("a free pid");
        let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        let make = |name: &str, old: bool| {
            let path = dir.file(name, "partial", 0o600);
            if old {
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(hour_ago)
                    .unwrap();
            }
        };
        let stale = format!(".hosts.{dead}.0.1.tmp");
        make(&stale, true);
        make(&format!(".hosts.{dead}.1.2.tmp"), false); // just written: maybe another host's
        make(".hosts.1.0.3.tmp", true); // pid 1 is alive
        make(&format!(".other.{dead}.0.4.tmp"), true); // another file's
        make(".hosts.bak", true);

        let report = write_default(&target, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(report.warnings[0].contains(&stale), "{:?}", report.warnings);
        assert_eq!(
            dir.entries(),
            vec![
                ".hosts.1.0.3.tmp".to_string(),
                format!(".hosts.{dead}.1.2.tmp"),
                ".hosts.bak".to_string(),
                format!(".other.{dead}.0.4.tmp"),
                "hosts".to_string(),
            ]
        );
    }
}
