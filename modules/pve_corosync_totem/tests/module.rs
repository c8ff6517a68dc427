//! The built module, run on a temporary `corosync.conf` in a directory laid
//! out as `/etc/pve` is (with `priv/`, where PVE keeps its cluster locks).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};
use tempfile::TempDir;
use testkit::fixture;

/// corosync.conf files written by PVE's own writer.
const PVE_WRITTEN: &[&str] = &[
    "corosync-conf-reference-pve61.conf",
    "corosync-conf-ipv6-3node.conf",
    "corosync-conf-multilink-qdevice.conf",
];

struct Bed {
    dir: TempDir,
    conf: PathBuf,
}

impl Bed {
    fn with(text: &str) -> Bed {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("corosync.conf");
        fs::write(&conf, text).expect("write conf");
        fs::create_dir(dir.path().join("priv")).expect("priv");
        Bed { dir, conf }
    }

    fn path(&self) -> String {
        self.conf.display().to_string()
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.conf).expect("read conf")
    }

    /// Names in the directory besides the args file and `priv`.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != "args.json" && n != "priv")
            .collect();
        names.sort();
        names
    }

    /// Runs the module with `args` (plus `path`, unless given) and returns
    /// the one JSON object it printed, and its exit code.
    fn run(&self, mut args: Value) -> (Value, i32) {
        if args.get("path").is_none() {
            args["path"] = json!(self.path());
        }
        run_in(self.dir.path(), &args)
    }
}

fn run_in(dir: &Path, args: &Value) -> (Value, i32) {
    let args_file = dir.join("args.json");
    fs::write(&args_file, args.to_string()).expect("write args");
    let output = Command::cargo_bin("pve_corosync_totem")
        .expect("binary")
        .arg(&args_file)
        .output()
        .expect("run");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    assert!(output.stderr.is_empty(), "stderr: {:?}", output.stderr);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let value = values.next().expect("a JSON value").expect("valid JSON");
    assert!(values.next().is_none(), "exactly one JSON value: {stdout}");
    assert!(value.is_object(), "an object: {stdout}");
    testkit::assert_documented("pve_corosync_totem", &value);
    (value, output.status.code().unwrap_or(-1))
}

fn version_line(n: u64) -> String {
    format!("  config_version: {n}\n")
}

#[test]
fn a_change_bumps_the_version_and_keeps_every_other_byte() {
    for name in PVE_WRITTEN {
        let original = fixture(name);
        let bed = Bed::with(&original);
        let version: u64 = original
            .lines()
            .find_map(|l| l.trim().strip_prefix("config_version: "))
            .and_then(|v| v.parse().ok())
            .expect("config_version");
        let (out, code) = bed.run(json!({"totem": {"token": 10000}}));
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(out["changed"], json!(true), "{name}");
        assert_eq!(out["changed_keys"], json!(["token"]), "{name}");
        assert_eq!(
            out["config_version"],
            json!({"before": version, "after": version + 1}),
            "{name}"
        );
        assert_eq!(out["totem"]["token"], json!("10000"), "{name}");
        assert!(out.get("diff").is_none(), "{name}: diff only in diff mode");

        let after = bed.text();
        assert_eq!(after.matches("  token: 10000\n").count(), 1, "{name}");
        let undone = after
            .replace("  token: 10000\n", "")
            .replace(&version_line(version + 1), &version_line(version));
        assert_eq!(
            undone, original,
            "{name}: only the totem key and version differ"
        );
        let totem_block = &after[after.find("totem {").expect("totem section")..];
        assert!(
            totem_block.contains("  token: 10000\n"),
            "{name}: token in totem"
        );
        assert_eq!(
            bed.files(),
            vec!["corosync.conf", "corosync.conf.bak"],
            "{name}: no copy left"
        );
        let backup = fs::read_to_string(bed.dir.path().join("corosync.conf.bak")).expect("bak");
        assert_eq!(backup, original, "{name}: the previous file is kept");
        assert_eq!(out["backup"], json!(format!("{}.bak", bed.path())));
        // PVE's lock directory was made and is gone again.
        assert_eq!(lock_dir_entries(&bed), Vec::<String>::new(), "{name}");
    }
}

fn lock_dir_entries(bed: &Bed) -> Vec<String> {
    fs::read_dir(bed.dir.path().join("priv/lock"))
        .expect("priv/lock was made")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// PVE's writers of corosync.conf take the cluster lock
/// `/etc/pve/priv/lock/file-corosync_conf` first (pve-cluster,
/// `src/PVE/Cluster.pm`, `cfs_lock_file`): while another writer holds it,
/// the module waits PVE's 10 s, asks pmxcfs to release an expired lock
/// (times set to 0), and then fails without touching the file.
#[test]
fn a_held_cluster_lock_stops_the_edit() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    let bed = Bed::with(&original);
    let held = bed.dir.path().join("priv/lock/file-corosync_conf");
    fs::create_dir_all(&held).expect("lock");
    let started = std::time::Instant::now();
    let (out, code) = bed.run(json!({"totem": {"token": 10000}}));
    assert!(started.elapsed() >= std::time::Duration::from_secs(10));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["changed"], json!(false));
    let msg = out["msg"].as_str().expect("msg");
    assert!(
        msg.starts_with(&format!(
            "cannot take Proxmox VE's cluster lock {}: another writer",
            held.display()
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!("{} was left unchanged", bed.path())),
        "{msg}"
    );
    assert_eq!(bed.text(), original);
    assert_eq!(bed.files(), vec!["corosync.conf"]);
    assert!(held.is_dir(), "someone else's lock stays");
    let mtime = fs::metadata(&held)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH,
        "pmxcfs was asked to release it"
    );
}

/// Without `priv/lock` (and no way to make it), pmxcfs is not mounted:
/// PVE says "pve cluster filesystem not online".
#[test]
fn no_cluster_file_system_no_edit() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    let bed = Bed::with(&original);
    fs::remove_dir(bed.dir.path().join("priv")).expect("rm priv");
    let (out, code) = bed.run(json!({"totem": {"token": 10000}}));
    assert_eq!(code, 1, "{out}");
    let msg = out["msg"].as_str().expect("msg");
    assert!(
        msg.contains("the cluster file system (pve-cluster) is not running"),
        "{msg}"
    );
    assert_eq!(bed.text(), original);
}

#[test]
fn changes_an_existing_value_in_place() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    let bed = Bed::with(&original);
    let (out, code) = bed.run(json!({"totem": {"link_mode": "active", "secauth": false}}));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["changed_keys"], json!(["link_mode", "secauth"]));
    assert_eq!(
        out["msg"],
        json!(format!(
            "set link_mode=active, secauth=off in {0} (config_version 2 -> 3) (the previous file is {0}.bak)",
            bed.path()
        ))
    );
    let want = original
        .replace("link_mode: passive", "link_mode: active")
        .replace("secauth: on", "secauth: off")
        .replace(&version_line(2), &version_line(3));
    assert_eq!(bed.text(), want);
}

#[test]
fn a_second_run_changes_nothing() {
    let bed = Bed::with(&fixture("corosync-conf-reference-pve61.conf"));
    let args = json!({"totem": {"token": 10000, "token_coefficient": 125, "secauth": true}});
    let (first, _) = bed.run(args.clone());
    assert_eq!(first["changed_keys"], json!(["token", "token_coefficient"]));
    let keys: Vec<&String> = first["totem"].as_object().expect("totem").keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "totem is returned in file order");
    let written = bed.text();
    let (second, code) = bed.run(args);
    assert_eq!(second["totem"], first["totem"]);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["changed"], json!(false));
    assert_eq!(second["changed_keys"], json!([]));
    assert_eq!(second["config_version"], json!({"before": 3, "after": 3}));
    assert_eq!(
        second["msg"],
        json!(format!(
            "the totem settings of {} are already as given (config_version 3)",
            bed.path()
        ))
    );
    assert_eq!(bed.text(), written);
}

#[test]
fn key_value_text_is_accepted() {
    let bed = Bed::with(&fixture("corosync-conf-reference-pve61.conf"));
    let (out, code) = bed.run(json!({"totem": "token=10000 token_coefficient=125"}));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["changed_keys"], json!(["token", "token_coefficient"]));
    assert!(bed
        .text()
        .contains("  token: 10000\n  token_coefficient: 125\n"));
}

#[test]
fn check_mode_writes_nothing() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    let bed = Bed::with(&original);
    for diff in [false, true] {
        let (out, code) = bed.run(json!({
            "totem": {"token": 10000},
            "_ansible_check_mode": true,
            "_ansible_diff": diff,
        }));
        assert_eq!(code, 0, "{out}");
        assert_eq!(out["changed"], json!(true));
        assert_eq!(out["config_version"], json!({"before": 2, "after": 3}));
        assert_eq!(
            out["msg"],
            json!(format!(
                "would set token=10000 in {} (config_version 2 -> 3)",
                bed.path()
            ))
        );
        assert_eq!(out.get("diff").is_some(), diff);
        assert_eq!(bed.text(), original);
        assert_eq!(bed.files(), vec!["corosync.conf"]);
    }
    let (unchanged, _) = bed.run(json!({
        "totem": {"link_mode": "passive"},
        "_ansible_check_mode": true,
    }));
    assert_eq!(unchanged["changed"], json!(false));
}

#[test]
fn diff_mode_shows_the_whole_file() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    for check in [false, true] {
        let bed = Bed::with(&original);
        let (out, code) = bed.run(json!({
            "totem": {"token": 10000},
            "_ansible_diff": true,
            "_ansible_check_mode": check,
        }));
        assert_eq!(code, 0, "{out}");
        let after = original
            .replace("  secauth: on\n", "  secauth: on\n  token: 10000\n")
            .replace(&version_line(2), &version_line(3));
        assert_eq!(
            out["diff"],
            json!({
                "before": original,
                "after": after,
                "before_header": bed.path(),
                "after_header": bed.path(),
            })
        );
        let (again, _) = bed.run(json!({
            "totem": {"link_mode": "passive"},
            "_ansible_diff": true,
            "_ansible_check_mode": check,
        }));
        assert!(again.get("diff").is_none(), "no diff without a change");
    }
}

const NESTED: &str =
    "totem.token must be a single value (a string, an integer or a boolean), not a dict";

#[test]
fn bad_options_fail_with_exact_messages_and_change_nothing() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    let cases: Vec<(Value, String)> = vec![
        (json!({}), "missing required arguments: totem".into()),
        (
            json!({"totem": [1, 2]}),
            "argument 'totem' is of type list and we were unable to convert to dict: <class 'list'> cannot be converted to a dict".into(),
        ),
        (
            json!({"totem": "token"}),
            "argument 'totem' is of type str and we were unable to convert to dict: dictionary requested, could not parse JSON or key=value".into(),
        ),
        (
            json!({"totem": {}}),
            "totem is empty: give at least one totem setting, e.g. {token: 10000}".into(),
        ),
        (
            json!({"totem": {"cluster_name": "other"}}),
            "totem.cluster_name cannot be set with this module: the cluster name is fixed when the cluster is created and cannot be changed".into(),
        ),
        (
            json!({"totem": {"config_version": 10}}),
            "totem.config_version cannot be set with this module: it is raised by one by this module on every change".into(),
        ),
        (
            json!({"totem": {"interface": {"linknumber": 1}}}),
            "totem.interface cannot be set with this module: the interface sections (one per corosync link) are written by pvecm create and pvecm addnode from their --link options".into(),
        ),
        (
            json!({"totem": {"version": 3}}),
            "totem.version cannot be set with this module: Proxmox VE writes the totem protocol version, which must stay 2".into(),
        ),
        (json!({"totem": {"token": {"value": 1}}}), NESTED.into()),
        (
            json!({"totem": {"token": [1000, 2000]}}),
            "totem.token must be a single value (a string, an integer or a boolean), not a list".into(),
        ),
        (
            json!({"totem": {"token": 1.5}}),
            "totem.token must be a single value (a string, an integer or a boolean), not a float".into(),
        ),
        (
            json!({"totem": {"token": "10 000"}}),
            "totem.token: invalid corosync.conf value '10 000': it must be one word without whitespace, '{', '}' or '#'".into(),
        ),
        (
            json!({"totem": {"token": 1}, "state": "present"}),
            "Unsupported parameters for (pve_corosync_totem) module: state. Supported parameters include: path, totem.".into(),
        ),
    ];
    for (args, want) in cases {
        let bed = Bed::with(&original);
        let (out, code) = bed.run(args.clone());
        assert_eq!(code, 1, "{args}: {out}");
        assert_eq!(out["failed"], json!(true), "{args}");
        assert_eq!(out["changed"], json!(false), "{args}");
        assert_eq!(out["msg"], json!(want), "{args}");
        assert_eq!(bed.text(), original, "{args}");
        assert_eq!(bed.files(), vec!["corosync.conf"], "{args}");
    }
}

#[test]
fn bad_files_fail_with_exact_messages_and_change_nothing() {
    let cases: &[(&str, &str)] = &[
        (
            "totem {\n  cluster_name: x\n  config_version: 2\n",
            "cannot change {path}: corosync.conf parse error: section 'totem' opened on line 1 is never closed; fix the file first. {path} was left unchanged",
        ),
        (
            "totem {\n  token 1000\n}\n",
            "cannot change {path}: corosync.conf parse error on line 2: missing ':' after key 'token'; fix the file first. {path} was left unchanged",
        ),
        (
            "totem {\n  cluster_name: x\n}\n",
            "cannot change {path}: invalid corosync config: unable to read config version (totem.config_version missing or not a number); fix the file first. {path} was left unchanged",
        ),
    ];
    for (text, want) in cases {
        let bed = Bed::with(text);
        let (out, code) = bed.run(json!({"totem": {"token": 10000}}));
        assert_eq!(code, 1, "{out}");
        assert_eq!(out["msg"], json!(want.replace("{path}", &bed.path())));
        assert_eq!(bed.text(), *text);
        assert_eq!(bed.files(), vec!["corosync.conf"]);
    }
}

#[test]
fn a_missing_file_means_no_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("corosync.conf").display().to_string();
    for check in [false, true] {
        let (out, code) = run_in(
            dir.path(),
            &json!({"totem": {"token": 10000}, "path": path, "_ansible_check_mode": check}),
        );
        assert_eq!(code, 1, "{out}");
        assert_eq!(
            out["msg"],
            json!(format!(
                "{path} does not exist: this node is not in a cluster; create or join a cluster first"
            ))
        );
    }
    assert!(!dir.path().join("corosync.conf").exists());
}

#[test]
fn a_copy_in_progress_is_left_alone() {
    let original = fixture("corosync-conf-reference-pve61.conf");
    let bed = Bed::with(&original);
    let copy = bed.dir.path().join("corosync.conf.new");
    fs::write(&copy, "someone's edit\n").expect("write copy");
    let (out, code) = bed.run(json!({"totem": {"token": 10000}}));
    assert_eq!(code, 1, "{out}");
    let new = format!("{}.new", bed.path());
    assert_eq!(
        out["msg"],
        json!(format!(
            "{new} already exists: someone may be editing the corosync configuration by hand (the documented procedure edits that file); finish that edit or remove {new}, then retry. {} was left unchanged",
            bed.path()
        ))
    );
    assert_eq!(bed.text(), original);
    assert_eq!(
        fs::read_to_string(&copy).expect("read copy"),
        "someone's edit\n"
    );
}

#[test]
fn the_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let bed = Bed::with(&fixture("corosync-conf-reference-pve61.conf"));
    fs::set_permissions(&bed.conf, fs::Permissions::from_mode(0o640)).expect("chmod");
    let (out, code) = bed.run(json!({"totem": {"token": 10000}}));
    assert_eq!(code, 0, "{out}");
    let mode = fs::metadata(&bed.conf).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}
