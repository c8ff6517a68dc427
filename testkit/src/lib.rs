//! Running a module binary the way ansible-core does: one argument, the path
//! of a JSON args file, with a `pvecm` stand-in first on `PATH` that replays
//! captured `pvecm` output (`tests/standins/pvecm`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Keys any module's result may hold besides its own, which its
/// documentation's `RETURN` lists: the protocol's.
const PROTOCOL_KEYS: &[&str] = &[
    "changed",
    "failed",
    "msg",
    "invocation",
    "diff",
    "warnings",
    "deprecations",
    "skipped",
    "exception",
];

/// The top-level keys of `RETURN` in the module's documentation
/// (`plugins/modules/<module>.yml`): the lines indented by exactly two
/// spaces below `RETURN:`.
pub fn documented_return_keys(module: &str) -> Vec<String> {
    let path = root().join("plugins/modules").join(format!("{module}.yml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut keys = Vec::new();
    let mut in_return = false;
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            in_return = line.trim_end() == "RETURN:";
            continue;
        }
        if let Some(key) = in_return
            .then(|| line.strip_prefix("  "))
            .flatten()
            .filter(|rest| !rest.starts_with(' '))
            .and_then(|rest| rest.trim_end().strip_suffix(':'))
        {
            keys.push(key.to_string());
        }
    }
    assert!(!keys.is_empty(), "{}: no RETURN keys found", path.display());
    keys
}

/// Fails when `result`, a real result of `module`, holds a key that its
/// `RETURN` documentation does not list: every binary test checks the docs.
pub fn assert_documented(module: &str, result: &Value) {
    let documented = documented_return_keys(module);
    let undocumented: Vec<&String> = result
        .as_object()
        .into_iter()
        .flat_map(|map| map.keys())
        .filter(|k| !PROTOCOL_KEYS.contains(&k.as_str()) && !documented.contains(k))
        .collect();
    assert!(
        undocumented.is_empty(),
        "{module} returned {undocumented:?}, which plugins/modules/{module}.yml does not document in RETURN: {result}"
    );
}

/// The text of a captured `pvecm` fixture.
pub fn fixture(name: &str) -> String {
    let path = root().join("library/tests/fixtures/pvecm").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The module reads `/etc/pve/corosync.conf`; expectations about offline
/// node names assume the test machine is not a Proxmox VE node.
pub fn assert_not_a_pve_node() {
    assert!(
        !Path::new("/etc/pve/corosync.conf").exists(),
        "these tests expect a machine without /etc/pve/corosync.conf"
    );
}

/// A temporary directory holding the args file and the stand-in's answers.
pub struct Bed {
    pub dir: TempDir,
}

impl Default for Bed {
    fn default() -> Bed {
        Bed::new()
    }
}

impl Bed {
    pub fn new() -> Bed {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("replay")).expect("replay dir");
        Bed { dir }
    }

    pub fn replay_dir(&self) -> PathBuf {
        self.dir.path().join("replay")
    }

    /// What `pvecm SUB` answers on every call (`call` = None) or on call
    /// number `call` only.
    pub fn answer(&self, sub: &str, call: Option<u32>, stdout: &str, stderr: &str, rc: i32) {
        let base = match call {
            Some(n) => format!("{sub}.{n}"),
            None => sub.to_string(),
        };
        let dir = self.replay_dir();
        std::fs::write(dir.join(format!("{base}.stdout")), stdout).expect("write");
        std::fs::write(dir.join(format!("{base}.stderr")), stderr).expect("write");
        std::fs::write(dir.join(format!("{base}.rc")), rc.to_string()).expect("write");
    }

    /// How many times `pvecm SUB` ran.
    pub fn calls(&self, sub: &str) -> u32 {
        std::fs::read_to_string(self.replay_dir().join(format!("{sub}.calls")))
            .map(|t| t.trim().parse().expect("count"))
            .unwrap_or(0)
    }

    /// Writes the args file and returns its path.
    pub fn args_file(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("args");
        std::fs::write(&path, text).expect("write args");
        path
    }

    /// Runs `bin ARGS_FILE` with the stand-in first on PATH.
    pub fn run(&self, bin: &str, args: &Value) -> Run {
        let file = self.args_file(&args.to_string());
        self.run_raw(bin, &[file.as_os_str()], &standin_path())
    }

    /// Runs `bin -` with `stdin` as its standard input (the args as the
    /// collection's action plugin sends them) and the stand-in first on PATH.
    pub fn run_stdin(&self, bin: &str, stdin: &[u8]) -> Run {
        let output = assert_cmd::Command::new(bin)
            .arg("-")
            .env("PATH", standin_path())
            .env("PVECM_REPLAY", self.replay_dir())
            .write_stdin(stdin.to_vec())
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run the module");
        Run::from_output(bin, output)
    }

    /// Runs `bin` with the given argv and PATH.
    pub fn run_raw(&self, bin: &str, argv: &[&std::ffi::OsStr], path: &str) -> Run {
        self.run_env(bin, argv, path, &[])
    }

    /// Runs `bin` with the given argv, PATH and extra environment.
    pub fn run_env(
        &self,
        bin: &str,
        argv: &[&std::ffi::OsStr],
        path: &str,
        env: &[(&str, &str)],
    ) -> Run {
        let mut cmd = assert_cmd::Command::new(bin);
        cmd.args(argv)
            .env("PATH", path)
            .env("PVECM_REPLAY", self.replay_dir())
            .timeout(std::time::Duration::from_secs(120));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd.output().expect("run the module");
        Run::from_output(bin, output)
    }
}

/// `PATH` with the stand-ins first, then the system's own (for `sh` and `cat`).
pub fn standin_path() -> String {
    let standins = root().join("tests/standins");
    let system = std::env::var("PATH").unwrap_or_default();
    format!("{}:{system}", standins.display())
}

/// What a module run left, checked against the protocol: stdout is exactly
/// one line holding one JSON object.
pub struct Run {
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Run {
    fn from_output(bin: &str, output: std::process::Output) -> Run {
        let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
            "stdout must be exactly one line, got {stdout:?} (stderr {stderr:?})"
        );
        let json: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
        assert!(json.is_object(), "stdout must be a JSON object: {stdout}");
        let module = Path::new(bin)
            .file_name()
            .and_then(|n| n.to_str())
            .expect("the binary's name");
        assert_documented(module, &json);
        Run {
            json,
            stdout,
            stderr,
            code: output.status.code(),
        }
    }

    pub fn failed(&self) -> bool {
        self.json["failed"] == Value::Bool(true)
    }

    pub fn msg(&self) -> &str {
        self.json["msg"].as_str().unwrap_or("")
    }

    /// A success: not failed, not changed, exit status 0.
    pub fn assert_ok(&self) -> &Run {
        assert!(!self.failed(), "unexpected failure: {}", self.stdout);
        assert_eq!(self.json["changed"], Value::Bool(false), "{}", self.stdout);
        assert_eq!(self.code, Some(0), "{}", self.stdout);
        self
    }

    /// A failure: `failed: true`, a message, exit status 1.
    pub fn assert_failed(&self) -> &Run {
        assert!(self.failed(), "expected a failure: {}", self.stdout);
        assert!(
            !self.msg().is_empty(),
            "failure without msg: {}",
            self.stdout
        );
        assert_eq!(self.json["changed"], Value::Bool(false), "{}", self.stdout);
        assert_eq!(self.code, Some(1), "{}", self.stdout);
        self
    }
}
