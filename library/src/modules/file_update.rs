//! A root-owned text file changed by a plan, the way the SSH files of a
//! cluster need it: diffed, left alone in check mode, written atomically,
//! and read back, because another node may write the same file in
//! `/etc/pve` at the same time (pmxcfs keeps the last write).

use std::fs;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use crate::ansible::{Context, Failure};
use crate::fsutil::{self, WriteOptions};

/// How often a file is written again when another writer replaced it.
const WRITE_ATTEMPTS: usize = 5;

/// A failure to read or write `path`.
pub(crate) fn io_failure(what: &str, path: &Path, e: &io::Error) -> Failure {
    Failure::new(format!("cannot {what} {}: {e}", path.display()))
}

/// Reads `path` (a missing file is empty), plans with `plan`, and in a real
/// run writes the result and reads it back until it holds (another node
/// may write a shared file at the same time). Returns what the plan added
/// and removed; adds a diff when something changes.
pub(crate) fn update_file(
    path: &Path,
    new_file_mode: u32,
    ctx: &mut Context<'_>,
    diffs: &mut Vec<Value>,
    plan: impl Fn(&str) -> (String, Vec<String>, Vec<String>),
) -> Result<(Vec<String>, Vec<String>), Failure> {
    let read = |path: &Path| match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io_failure("read", path, &e)),
    };
    let before = read(path)?;
    let (after, added, removed) = plan(&before);
    if after == before {
        return Ok((added, removed));
    }
    // The whole file, twice, is only for the controller's diff mode.
    if ctx.diff() {
        diffs.push(json!({
            "before": before,
            "after": after,
            "before_header": path.display().to_string(),
            "after_header": path.display().to_string(),
        }));
    }
    if ctx.check_mode() {
        return Ok((added, removed));
    }
    let token = ctx.change_token()?;
    let mut content = after;
    for attempt in 1..=WRITE_ATTEMPTS {
        let report = fsutil::write_atomic(
            path,
            content.as_bytes(),
            &WriteOptions { new_file_mode },
            &token,
        )
        .map_err(|e| Failure::new(e.to_string()))?;
        for warning in report.warnings {
            ctx.warn(warning);
        }
        let now = read(path)?;
        let (again, _, _) = plan(&now);
        if again == now {
            break;
        }
        if attempt == WRITE_ATTEMPTS {
            return Err(Failure::new(format!(
                "{} kept being changed by someone else while it was written ({WRITE_ATTEMPTS} attempts); \
                 run again when the other writer is done",
                path.display()
            )));
        }
        content = again;
    }
    Ok((added, removed))
}
