//! `pve_corosync_totem`: changes `totem` settings of the cluster's
//! `corosync.conf` the way the Proxmox VE documentation says to: edit a
//! copy next to it, raise `config_version` by one, and move the copy into
//! place once, so pmxcfs spreads one consistent version and corosync
//! reloads it.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ansible::{ChangeToken, Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::cluster_lock::{self, file_lock_id, ClusterLock};
use crate::fsutil::errno::{EINVAL, ENOSYS, ENOTSUP};
use crate::fsutil::{parent_dir, write_atomic, WriteOptions};
use crate::pve::totem::{self, Plan, Setting, TotemError, WriteStep};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The module.
pub struct CorosyncTotem;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    totem: Map<String, Value>,
    path: String,
}

impl Module for CorosyncTotem {
    type Params = Params;
    const NAME: &'static str = "pve_corosync_totem";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("totem", Type::Dict).required(),
            Opt::new("path", Type::Path).default("/etc/pve/corosync.conf"),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let settings =
            totem::settings_from_json(&params.totem).map_err(|e| Failure::new(e.to_string()))?;
        let path = params.path.as_str();
        let before = read_text(path)?;
        let plan = plan_for(path, &before, &settings)?;
        if !plan.changed() {
            return Ok(unchanged(path, &plan));
        }
        if ctx.check_mode() {
            let mut outcome = changed(path, &before, &plan);
            outcome.msg = Some(format!("would set {}", what(path, &plan)));
            return Ok(outcome);
        }
        let token = ctx.change_token()?;
        // Read, plan and write again under PVE's lock, as PVE's own writers
        // do: an edit made meanwhile by someone else is the one built on.
        let target = Path::new(path);
        let dir = parent_dir(target);
        let name = target
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
        let _lock = ClusterLock::acquire(
            &dir.join("priv").join("lock"),
            &file_lock_id(&name),
            cluster_lock::DEFAULT_WAIT,
            &token,
        )
        .map_err(|e| Failure::new(format!("{e}. {path} was left unchanged")))?;
        let before = read_text(path)?;
        let plan = plan_for(path, &before, &settings)?;
        if !plan.changed() {
            return Ok(unchanged(path, &plan));
        }
        let backup = backup_path(path);
        write_backup(&backup, &before, &token)
            .map_err(|e| Failure::new(format!("{e}. {path} was left unchanged")))?;
        replace_via_new(path, &before, &plan.after, &token)?;
        let mut outcome = changed(path, &before, &plan).with("backup", &backup);
        outcome.msg = Some(format!(
            "set {} (the previous file is {backup})",
            what(path, &plan)
        ));
        Ok(outcome)
    }
}

fn plan_for(path: &str, before: &str, settings: &[(String, Setting)]) -> Result<Plan, Failure> {
    totem::plan(before, settings).map_err(|e| match e {
        TotemError::Parse(_) | TotemError::NoConfigVersion(_) => Failure::new(format!(
            "cannot change {path}: {e}; fix the file first. {path} was left unchanged"
        )),
        other => Failure::new(other.to_string()),
    })
}

fn unchanged(path: &str, plan: &Plan) -> Outcome {
    let mut outcome = report(plan);
    outcome.msg = Some(format!(
        "the totem settings of {path} are already as given (config_version {})",
        plan.config_version_before
    ));
    outcome
}

fn changed(path: &str, before: &str, plan: &Plan) -> Outcome {
    let mut outcome = report(plan);
    outcome.changed = true;
    outcome.diff = Some(json!({
        "before": before,
        "after": plan.after,
        "before_header": path,
        "after_header": path,
    }));
    outcome
}

/// `token=10000, ... in <path> (config_version 2 -> 3)`.
fn what(path: &str, plan: &Plan) -> String {
    let summary = plan
        .changes
        .iter()
        .map(|c| format!("{}={}", c.key, c.after))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{summary} in {path} (config_version {} -> {})",
        plan.config_version_before, plan.config_version_after
    )
}

/// `<path>.bak`, where the documented procedure keeps the previous file.
fn backup_path(path: &str) -> String {
    format!("{path}.bak")
}

/// The file as it was, at `<path>.bak` (replaced, as `cp` would). A new
/// file gets 0640, the one mode pmxcfs allows outside `priv`
/// (`cfs_fuse_chmod` in pve-cluster's `src/pmxcfs/pmxcfs.c`).
fn write_backup(backup: &str, before: &str, token: &ChangeToken) -> Result<(), String> {
    write_atomic(
        Path::new(backup),
        before.as_bytes(),
        &WriteOptions {
            new_file_mode: 0o640,
        },
        token,
    )
    .map(|_| ())
    .map_err(|e| format!("cannot keep the previous file as {backup}: {e}"))
}

/// The return values common to every successful run.
fn report(plan: &Plan) -> Outcome {
    let totem: Map<String, Value> = plan
        .totem
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Outcome::default()
        .with(
            "config_version",
            json!({"before": plan.config_version_before, "after": plan.config_version_after}),
        )
        .with(
            "changed_keys",
            plan.changes
                .iter()
                .map(|c| c.key.as_str())
                .collect::<Vec<_>>(),
        )
        .with("totem", totem)
}

/// The file as text, not through `probe::read_conf`: the change is made to
/// this text so every byte outside the changed lines stays as it was, and
/// `totem::plan` parses it with `CorosyncConf::parse` like every other reader.
fn read_text(path: &str) -> Result<String, Failure> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            Failure::new(format!(
                "cannot change {path}: it is not UTF-8 text. {path} was left unchanged"
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Failure::new(format!(
            "{path} does not exist: this node is not in a cluster; create or join a cluster first"
        ))),
        Err(e) => Err(Failure::new(format!("cannot read {path}: {e}"))),
    }
}

/// Writes `after` to `<path>.new`, checks that `path` still holds `before`,
/// and renames the copy onto `path`. On failure the copy is removed and
/// `path` is as it was.
fn replace_via_new(
    path: &str,
    before: &str,
    after: &str,
    _token: &ChangeToken,
) -> Result<(), Failure> {
    let target = Path::new(path);
    let mut new_name = OsString::from(path);
    new_name.push(".new");
    let new_path = PathBuf::from(new_name);
    let new_display = new_path.display().to_string();
    let dir = parent_dir(target);
    let fail = |step, e: io::Error| {
        let dir_read_only = fs::metadata(dir)
            .map(|m| m.permissions().mode() & 0o200 == 0)
            .unwrap_or(false);
        Failure::new(totem::write_failure(
            path,
            &new_display,
            &dir.display().to_string(),
            step,
            e.raw_os_error(),
            &e.to_string(),
            dir_read_only,
        ))
    };

    let mode = fs::metadata(target)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0o640);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&new_path)
        .map_err(|e| fail(WriteStep::Create, e))?;
    let written = write_copy(&mut file, &new_path, after.as_bytes(), mode);
    drop(file);
    let result = written
        .map_err(|e| fail(WriteStep::Write, e))
        .and_then(|()| unchanged_since_read(path, before))
        .and_then(|()| fs::rename(&new_path, target).map_err(|e| fail(WriteStep::Rename, e)));
    if result.is_err() {
        // Best effort: the copy is useless now, and its presence would make
        // the next run refuse to start.
        let _ = fs::remove_file(&new_path);
        return result;
    }
    // Durability of the rename; pmxcfs commits each operation itself.
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

fn write_copy(file: &mut File, new_path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    file.write_all(bytes)?;
    if file.metadata()?.mode() & 0o7777 != mode {
        // The umask narrowed the mode given at creation.
        fs::set_permissions(new_path, fs::Permissions::from_mode(mode))?;
    }
    match file.sync_all() {
        // FUSE file systems without fsync (pmxcfs writes synchronously).
        Err(e) if matches!(e.raw_os_error(), Some(ENOSYS | EINVAL | ENOTSUP)) => Ok(()),
        other => other,
    }
}

fn unchanged_since_read(path: &str, before: &str) -> Result<(), Failure> {
    match fs::read(path) {
        Ok(now) if now == before.as_bytes() => Ok(()),
        Ok(_) => Err(Failure::new(format!(
            "{path} was changed by someone else while this module was editing it; {path} keeps their version. Run the task again"
        ))),
        Err(e) => Err(Failure::new(format!(
            "cannot read {path} again before replacing it: {e}. {path} was left unchanged"
        ))),
    }
}
