//! The built module, run on a temporary hosts file with a stand-in
//! `getent` first on `PATH` that answers from that file (see `getent` next
//! to this file). Cases about the local host name, nsswitch.conf, a
//! bind-mounted file or a read-only directory run the module in private
//! user, UTS and mount namespaces, and are skipped where those cannot be
//! made.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The Debian installer's file: pve-cluster does not start with it.
const DEBIAN: &str = "127.0.0.1\tlocalhost\n127.0.1.1\tpve1.example.com\tpve1\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";

const DEBIAN_FIXED: &str = "127.0.0.1\tlocalhost\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n10.0.0.1 pve1.example.com pve1\n10.0.0.2 pve2.example.com pve2\n10.0.0.3 pve3.example.com pve3\n";

fn three_nodes() -> Value {
    json!([
        {"ip": "10.0.0.1", "fqdn": "pve1.example.com"},
        {"ip": "10.0.0.2", "fqdn": "pve2.example.com", "name": "pve2"},
        {"ip": "10.0.0.3", "fqdn": "pve3.example.com", "short_name": "pve3"},
    ])
}

/// How a run is made.
#[derive(Clone, Default)]
struct How {
    check: bool,
    diff: bool,
    /// Run with this host name (in a UTS namespace).
    hostname: Option<&'static str>,
    /// `name=ip ...` the stand-in answers first, as DNS would.
    dns: Option<&'static str>,
    /// nsswitch.conf content bind-mounted over /etc/nsswitch.conf.
    nsswitch: Option<&'static str>,
    /// Bind-mount a copy of the hosts file over it (rename gives EBUSY).
    bind_over: bool,
    /// Make the directory of the hosts file read-only.
    read_only_dir: bool,
    /// No getent on PATH at all.
    no_getent: bool,
}

impl How {
    fn check() -> How {
        How {
            check: true,
            diff: true,
            ..How::default()
        }
    }
    fn real() -> How {
        How {
            diff: true,
            ..How::default()
        }
    }
    fn host(self, name: &'static str) -> How {
        How {
            hostname: Some(name),
            ..self
        }
    }
    fn namespaced(&self) -> bool {
        self.hostname.is_some() || self.nsswitch.is_some() || self.bind_over || self.read_only_dir
    }
}

/// Whether private user, UTS and mount namespaces can be made here.
fn namespaces() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--uts", "--mount", "true"])
            .status()
            .is_ok_and(|s| s.success())
    })
}

macro_rules! need_namespaces {
    () => {
        if !namespaces() {
            eprintln!("skipped: cannot create user, UTS and mount namespaces here");
            return;
        }
    };
}

struct Bed {
    dir: TempDir,
    hosts: PathBuf,
    bin: PathBuf,
}

/// One run: the one JSON object printed, the exit code.
struct Run {
    result: Value,
    rc: i32,
}

impl Run {
    fn msg(&self) -> &str {
        self.result["msg"].as_str().unwrap_or("")
    }
    fn changed(&self) -> bool {
        self.result["changed"] == json!(true)
    }
    fn failed(&self) -> bool {
        self.result["failed"] == json!(true)
    }
    fn warnings(&self) -> Vec<String> {
        self.result["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .map(|s| s.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn statuses(&self) -> Vec<(String, String, String)> {
        self.result["resolution"]
            .as_array()
            .expect("resolution")
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap().to_string(),
                    r["name"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

impl Bed {
    fn with(text: &str) -> Bed {
        let dir = tempfile::tempdir().expect("temp dir");
        let etc = dir.path().join("etc");
        fs::create_dir(&etc).expect("etc");
        let hosts = etc.join("hosts");
        fs::write(&hosts, text).expect("write hosts");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("bin");
        let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/getent");
        fs::copy(&standin, bin.join("getent")).expect("copy getent");
        fs::set_permissions(bin.join("getent"), fs::Permissions::from_mode(0o755)).expect("chmod");
        Bed { dir, hosts, bin }
    }

    fn path(&self) -> String {
        self.hosts.display().to_string()
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.hosts).expect("read hosts")
    }

    /// Files in the hosts file's directory.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.hosts.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn run(&self, mut args: Value, how: &How) -> Run {
        if args.get("path").is_none() {
            args["path"] = json!(self.path());
        }
        args["_ansible_check_mode"] = json!(how.check);
        args["_ansible_diff"] = json!(how.diff);
        let args_file = self.dir.path().join("args.json");
        fs::write(&args_file, args.to_string()).expect("write args");
        let module = assert_cmd::cargo::cargo_bin("pve_hosts");
        let system_path = std::env::var("PATH").unwrap_or_default();
        let path = if how.no_getent {
            self.dir.path().join("empty").display().to_string()
        } else {
            format!("{}:{system_path}", self.bin.display())
        };
        let mut cmd = if how.namespaced() {
            let script = r#"set -e
[ -z "$TB_HOSTNAME" ] || echo "$TB_HOSTNAME" > /proc/sys/kernel/hostname
if [ -n "$TB_NSSWITCH" ]; then mount --bind "$TB_NSSWITCH" /etc/nsswitch.conf; fi
if [ -n "$TB_BIND" ]; then mount --bind "$TB_BIND" "$TB_HOSTS"; fi
if [ -n "$TB_RO" ]; then mount --bind "$TB_RO" "$TB_RO"; mount -o remount,bind,ro "$TB_RO"; fi
PATH=$TB_PATH
export PATH
exec "$@""#;
            let mut c = Command::new("unshare");
            c.args(["--user", "--map-root-user", "--uts", "--mount", "sh", "-c"])
                .arg(script)
                .arg("sh")
                .arg(&module)
                .arg(&args_file);
            c.env("TB_PATH", &path);
            c.env("TB_HOSTS", &self.hosts);
            if let Some(h) = how.hostname {
                c.env("TB_HOSTNAME", h);
            }
            if let Some(text) = how.nsswitch {
                let file = self.dir.path().join("nsswitch.conf");
                fs::write(&file, text).unwrap();
                c.env("TB_NSSWITCH", file);
            }
            if how.bind_over {
                let file = self.dir.path().join("bound-hosts");
                fs::write(&file, self.text()).unwrap();
                c.env("TB_BIND", file);
            }
            if how.read_only_dir {
                c.env("TB_RO", self.hosts.parent().unwrap());
            }
            c
        } else {
            let mut c = Command::new(&module);
            c.arg(&args_file).env("PATH", &path);
            c
        };
        cmd.env("GETENT_HOSTS", &self.hosts);
        if how.bind_over {
            // Inside the namespace the bound copy is what /etc/hosts shows.
            cmd.env("GETENT_HOSTS", self.dir.path().join("bound-hosts"));
        }
        match how.dns {
            Some(dns) => cmd.env("GETENT_DNS", dns),
            None => cmd.env_remove("GETENT_DNS"),
        };
        let output = cmd.output().expect("run module");
        let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "exactly one JSON object expected; stdout {stdout:?}, stderr {:?}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_str(lines[0]).expect("JSON object");
        assert!(result.is_object());
        testkit::assert_documented("pve_hosts", &result);
        Run {
            result,
            rc: output.status.code().unwrap_or(-1),
        }
    }
}

/// Check mode (with diff) first, then the real run, then a second real
/// run: the check run predicts the real one and writes nothing, the real
/// one gives `after`, the second one changes nothing.
fn twins(before: &str, args: Value, after: &str, how: How) -> (Run, Run) {
    let bed = Bed::with(before);
    let files_before = bed.files();
    let check = bed.run(
        args.clone(),
        &How {
            check: true,
            diff: true,
            ..how.clone()
        },
    );
    assert!(!check.failed(), "{:#}", check.result);
    assert_eq!(bed.text(), before, "check mode wrote the file");
    assert_eq!(bed.files(), files_before, "check mode left files behind");
    assert_eq!(check.changed(), before != after, "{:#}", check.result);
    let diff = &check.result["diff"];
    assert_eq!(diff["before"], json!(before));
    assert_eq!(diff["after"], json!(after));
    assert_eq!(diff["before_header"], json!(bed.path()));
    assert_eq!(diff["after_header"], json!(bed.path()));

    let real = bed.run(
        args.clone(),
        &How {
            check: false,
            diff: true,
            ..how.clone()
        },
    );
    assert!(!real.failed(), "{:#}", real.result);
    assert_eq!(real.rc, 0);
    assert_eq!(real.changed(), before != after);
    assert_eq!(bed.text(), after);
    assert_eq!(real.result["changes"], check.result["changes"]);
    assert_eq!(real.result["diff"], check.result["diff"]);
    assert_eq!(real.result["path"], json!(bed.path()));
    assert!(real.result.get("backup_file").is_none());
    assert_eq!(bed.files(), files_before, "temporary files left behind");

    let again = bed.run(
        args,
        &How {
            check: false,
            diff: false,
            ..how
        },
    );
    assert!(!again.failed(), "{:#}", again.result);
    assert!(!again.changed(), "second run changed: {:#}", again.result);
    assert_eq!(again.result["changes"], json!([]));
    assert!(again.result.get("diff").is_none(), "diff only in diff mode");
    assert_eq!(bed.text(), after);
    (check, real)
}

#[test]
fn the_debian_installer_file_is_fixed() {
    let (check, real) = twins(
        DEBIAN,
        json!({"nodes": three_nodes()}),
        DEBIAN_FIXED,
        How::default(),
    );
    assert_eq!(
        real.result["changes"],
        json!([
            {"action": "line_removed", "line": 2, "names": ["pve1.example.com", "pve1"], "text": "127.0.1.1\tpve1.example.com\tpve1"},
            {"action": "added", "line": 7, "text": "10.0.0.1 pve1.example.com pve1"},
            {"action": "added", "line": 8, "text": "10.0.0.2 pve2.example.com pve2"},
            {"action": "added", "line": 9, "text": "10.0.0.3 pve3.example.com pve3"},
        ])
    );
    assert_eq!(
        real.msg(),
        format!("changed {}: line 2: removed '127.0.1.1\tpve1.example.com\tpve1' (no name left after removing pve1.example.com, pve1); added '10.0.0.1 pve1.example.com pve1' as line 7; added '10.0.0.2 pve2.example.com pve2' as line 8; added '10.0.0.3 pve3.example.com pve3' as line 9", real.result["path"].as_str().unwrap())
    );
    assert!(check.msg().starts_with("would change "), "{}", check.msg());
    assert!(
        check
            .msg()
            .ends_with("; 9 name lookup(s) will be right once the file is written"),
        "{}",
        check.msg()
    );
    // Check mode: every lookup is wrong today and right once written.
    assert!(
        check.statuses().iter().all(|(_, _, s)| s == "pending"),
        "{:#}",
        check.result["resolution"]
    );
    assert!(
        real.statuses().iter().all(|(_, _, s)| s == "ok"),
        "{:#}",
        real.result["resolution"]
    );
    assert_eq!(
        real.result["resolution"][0],
        json!({"name": "pve1.example.com", "kind": "forward", "expected": "10.0.0.1", "resolved": ["10.0.0.1"], "ok": true, "status": "ok"})
    );
    assert_eq!(
        real.result["resolution"][2],
        json!({"name": "10.0.0.1", "kind": "reverse", "expected": "one of: pve1.example.com, pve1", "resolved": ["pve1.example.com", "pve1"], "ok": true, "status": "ok"})
    );
}

#[test]
fn the_local_node_on_127_0_1_1_is_fixed_and_checked() {
    need_namespaces!();
    let (check, real) = twins(
        DEBIAN,
        json!({"nodes": three_nodes()}),
        DEBIAN_FIXED,
        How::default().host("pve1"),
    );
    assert!(check.warnings().is_empty(), "{:?}", check.warnings());
    let local = real.statuses().pop().unwrap();
    assert_eq!(local, ("local".into(), "pve1".into(), "ok".into()));
    assert_eq!(
        real.result["resolution"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["expected"],
        json!("a non-loopback address")
    );
    assert_eq!(check.statuses().pop().unwrap().2, "pending");
}

#[test]
fn a_local_host_that_is_no_node_gets_a_warning() {
    need_namespaces!();
    let text = "127.0.0.1 localhost\n10.0.0.9 other.example.com other\n";
    let (check, real) = twins(
        text,
        json!({"nodes": [{"ip": "10.0.0.1", "fqdn": "pve1.example.com"}]}),
        "127.0.0.1 localhost\n10.0.0.9 other.example.com other\n10.0.0.1 pve1.example.com pve1\n",
        How::default().host("other"),
    );
    let warning = "the local host name 'other' is not among the nodes, so its entries in the hosts file were left alone; add this host to 'nodes' with its cluster address";
    assert_eq!(check.warnings(), vec![warning]);
    assert_eq!(real.warnings(), vec![warning]);
    assert!(real.statuses().iter().all(|(k, _, _)| k != "local"));
}

#[test]
fn a_local_name_left_on_loopback_only_fails_before_writing() {
    need_namespaces!();
    let text = "127.0.0.1 localhost\n127.0.1.1 pve9.example.com pve9\n";
    for how in [How::check(), How::real()] {
        let bed = Bed::with(text);
        let run = bed.run(
            json!({"nodes": [{"ip": "10.0.0.1", "fqdn": "pve1.example.com"}]}),
            &how.host("pve9"),
        );
        assert!(run.failed(), "{:#}", run.result);
        assert_eq!(run.rc, 1);
        assert!(!run.changed());
        assert_eq!(
            run.msg(),
            format!("the local name 'pve9' maps to a loopback address (line 2) and to no other address: pve-cluster (pmxcfs) will not start; list this host in 'nodes' and keep 'fix_loopback' on; {} was left unchanged", bed.path())
        );
        assert_eq!(bed.text(), text);
    }
}

#[test]
fn without_fix_loopback_the_loopback_line_stays_and_verify_says_why() {
    need_namespaces!();
    let bed = Bed::with(DEBIAN);
    let args = json!({"nodes": three_nodes(), "fix_loopback": false});
    let check = bed.run(args.clone(), &How::check().host("pve1"));
    assert!(check.failed(), "{:#}", check.result);
    assert_eq!(bed.text(), DEBIAN);
    let run = bed.run(args, &How::real().host("pve1"));
    assert!(run.failed(), "{:#}", run.result);
    let expected = DEBIAN.to_string()
        + "10.0.0.1 pve1.example.com pve1\n10.0.0.2 pve2.example.com pve2\n10.0.0.3 pve3.example.com pve3\n";
    assert_eq!(
        bed.text(),
        expected,
        "the file is written before it is verified"
    );
    let path = bed.path();
    assert!(run.msg().starts_with(&format!("{path} was written (3 change(s)), but names do not resolve as it says: pve1.example.com -> 127.0.1.1 10.0.0.1 (expected 10.0.0.1), pve1 -> 127.0.1.1 10.0.0.1 (expected 10.0.0.1), pve1 -> 127.0.1.1 10.0.0.1 (expected a non-loopback address). Hint: line 2 of {path} maps pve1.example.com to 127.0.1.1 (a loopback line, edited only with fix_loopback: true)")), "{}", run.msg());
    assert!(run.msg().contains("pve-cluster (pmxcfs) will not start while the local node name resolves to a loopback address"), "{}", run.msg());
    assert_eq!(
        run.warnings(),
        vec!["the local name 'pve1' maps to a loopback address (line 2); set 'fix_loopback' to remove it from there"]
    );
    let rows = run.result["resolution"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0]["ok"], json!(false));
    assert_eq!(rows[0]["resolved"], json!(["127.0.1.1", "10.0.0.1"]));
}

#[test]
fn an_old_address_and_a_shared_line_are_cleaned() {
    let before = "127.0.0.1 localhost\n10.0.0.99 pve2.example.com pve2 # old\n10.0.0.1 pve1 files.example.com\n192.0.2.1 gw pve3\n";
    let after = "127.0.0.1 localhost\n10.0.0.1 pve1.example.com pve1 files.example.com\n192.0.2.1 gw\n10.0.0.2 pve2.example.com pve2\n10.0.0.3 pve3.example.com pve3\n";
    let (_, real) = twins(
        before,
        json!({"nodes": three_nodes()}),
        after,
        How::default(),
    );
    let actions: Vec<&str> = real.result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "line_removed",
            "rewritten",
            "names_removed",
            "added",
            "added"
        ]
    );
}

#[test]
fn a_canonical_file_is_left_alone() {
    let text = "127.0.0.1 localhost.localdomain localhost\n10.0.0.1 pve1.example.com pve1\n10.0.0.2\tpve2.example.com  pve2\n10.0.0.3 pve3.example.com pve3 # rack 3";
    let (check, real) = twins(text, json!({"nodes": three_nodes()}), text, How::default());
    assert!(!check.changed());
    assert_eq!(
        real.msg(),
        format!(
            "{} already has the entries of the 3 node(s)",
            real.result["path"].as_str().unwrap()
        )
    );
}

#[test]
fn absent_takes_the_names_off_and_does_not_verify() {
    let before = "127.0.0.1 localhost\n10.0.0.1 pve1.example.com pve1\n10.0.0.4 pve4.example.com pve4 backup4\n";
    let after = "127.0.0.1 localhost\n10.0.0.1 pve1.example.com pve1\n10.0.0.4 backup4\n";
    let (_, real) = twins(
        before,
        json!({"nodes": [{"ip": "10.0.0.4", "fqdn": "pve4.example.com"}], "state": "absent"}),
        after,
        How::default(),
    );
    assert_eq!(real.result["resolution"], json!([]));
    assert_eq!(
        real.result["changes"],
        json!([{"action": "names_removed", "line": 3, "names": ["pve4.example.com", "pve4"], "before": "10.0.0.4 pve4.example.com pve4 backup4", "after": "10.0.0.4 backup4"}])
    );
}

#[test]
fn dns_answering_before_files_is_named() {
    need_namespaces!();
    let bed = Bed::with(DEBIAN);
    let how = How {
        dns: Some("pve2.example.com=192.0.2.50"),
        nsswitch: Some("passwd: files\nhosts: dns [NOTFOUND=return] files\n"),
        ..How::real()
    };
    let run = bed.run(json!({"nodes": three_nodes()}), &how);
    assert!(run.failed(), "{:#}", run.result);
    assert_eq!(bed.text(), DEBIAN_FIXED);
    assert_eq!(
        run.msg(),
        format!("{} was written (4 change(s)), but names do not resolve as it says: pve2.example.com -> 192.0.2.50 (expected 10.0.0.2). Hint: /etc/nsswitch.conf has 'hosts: dns files': DNS answers before /etc/hosts and gives 192.0.2.50; fix the DNS record or put 'files' first", bed.path())
    );
    let failed: Vec<_> = run
        .statuses()
        .into_iter()
        .filter(|(_, _, s)| s != "ok")
        .collect();
    assert_eq!(
        failed,
        [("forward".into(), "pve2.example.com".into(), "failed".into())]
    );

    // In check mode the same answer is not pending: the file is not what gives it.
    let bed = Bed::with(DEBIAN);
    let run = bed.run(json!({"nodes": three_nodes()}), &How { check: true, ..how });
    assert!(run.failed(), "{:#}", run.result);
    assert!(run.msg().starts_with("names do not resolve as the hosts file says: pve2.example.com -> 192.0.2.50 (expected 10.0.0.2)"), "{}", run.msg());
    assert_eq!(bed.text(), DEBIAN);
}

#[test]
fn backup_keeps_the_old_file_under_ansibles_name() {
    let bed = Bed::with(DEBIAN);
    let run = bed.run(
        json!({"nodes": three_nodes(), "backup": true}),
        &How::default(),
    );
    assert!(run.changed(), "{:#}", run.result);
    let backup = run.result["backup_file"]
        .as_str()
        .expect("backup_file")
        .to_string();
    let name = backup
        .strip_prefix(&format!("{}.", bed.path()))
        .expect("named after the file");
    let (pid, stamp) = name.split_once('.').expect("pid.stamp");
    assert!(
        pid.chars().all(|c| c.is_ascii_digit()) && !pid.is_empty(),
        "{name}"
    );
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { 'D' } else { c })
        .collect();
    assert_eq!(shape, "DDDD-DD-DD@DD:DD:DD~");
    assert_eq!(fs::read_to_string(&backup).unwrap(), DEBIAN);
    assert_eq!(bed.text(), DEBIAN_FIXED);

    let again = bed.run(
        json!({"nodes": three_nodes(), "backup": true}),
        &How::default(),
    );
    assert!(!again.changed());
    assert!(again.result.get("backup_file").is_none());
    assert_eq!(bed.files().len(), 2, "{:?}", bed.files());

    // Check mode makes no backup either.
    let bed = Bed::with(DEBIAN);
    let check = bed.run(
        json!({"nodes": three_nodes(), "backup": true}),
        &How::check(),
    );
    assert!(check.changed());
    assert!(check.result.get("backup_file").is_none());
    assert_eq!(bed.files(), ["hosts"]);
}

#[test]
fn a_bind_mounted_file_is_written_in_place_with_a_warning() {
    need_namespaces!();
    let bed = Bed::with(DEBIAN);
    let how = How {
        bind_over: true,
        ..How::real().host("pve1")
    };
    let run = bed.run(json!({"nodes": three_nodes()}), &how);
    assert!(!run.failed(), "{:#}", run.result);
    assert!(run.changed());
    let bound = bed.dir.path().join("bound-hosts");
    assert_eq!(fs::read_to_string(&bound).unwrap(), DEBIAN_FIXED);
    let warnings = run.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // The text of EBUSY is the C library's: glibc and musl differ.
    assert!(
        warnings[0].starts_with(&format!(
            "{} could not be replaced atomically (",
            bed.path()
        )) && warnings[0].contains("busy (os error 16); it is probably bind-mounted"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].ends_with("it was overwritten in place instead"),
        "{}",
        warnings[0]
    );
    assert_eq!(bed.files(), ["hosts"], "no temporary file left behind");
}

#[test]
fn a_failed_write_leaves_the_original_intact() {
    need_namespaces!();
    for backup in [false, true] {
        let bed = Bed::with(DEBIAN);
        let how = How {
            read_only_dir: true,
            ..How::real()
        };
        let run = bed.run(json!({"nodes": three_nodes(), "backup": backup}), &how);
        assert!(run.failed(), "{:#}", run.result);
        assert_eq!(run.rc, 1);
        let path = bed.path();
        let msg = if backup {
            format!(
                "cannot back up {path}: the file system is read-only; {path} was left unchanged"
            )
        } else {
            format!("cannot create a temporary file next to {path}: the file system is read-only; {path} was left unchanged")
        };
        assert_eq!(run.msg(), msg);
        assert_eq!(bed.text(), DEBIAN);
        assert_eq!(bed.files(), ["hosts"]);
    }
}

#[test]
fn verify_false_needs_no_getent_and_returns_no_table() {
    let bed = Bed::with(DEBIAN);
    let how = How {
        no_getent: true,
        ..How::real()
    };
    let run = bed.run(json!({"nodes": three_nodes(), "verify": false}), &how);
    assert!(!run.failed(), "{:#}", run.result);
    assert_eq!(run.result["resolution"], json!([]));
    assert_eq!(bed.text(), DEBIAN_FIXED);
    let run = bed.run(json!({"nodes": three_nodes()}), &how);
    assert!(run.failed());
    assert_eq!(
        run.msg(),
        "getent not found on PATH: getent comes with the C library (libc-bin on Debian)"
    );
}

#[test]
fn a_missing_file_is_created() {
    let bed = Bed::with("");
    fs::remove_file(&bed.hosts).unwrap();
    let run = bed.run(
        json!({"nodes": [{"ip": "2001:db8::1", "name": "pve1"}]}),
        &How::real(),
    );
    assert!(!run.failed(), "{:#}", run.result);
    assert_eq!(bed.text(), "2001:db8::1 pve1\n");
    let mode = fs::metadata(&bed.hosts).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

/// Bad input: the exact message, in check mode and for real, and nothing
/// written.
fn refused(nodes: Value, msg: &str) {
    for how in [How::check(), How::real()] {
        let bed = Bed::with(DEBIAN);
        let run = bed.run(json!({"nodes": nodes}), &how);
        assert!(run.failed(), "{:#}", run.result);
        assert_eq!(run.rc, 1);
        assert!(!run.changed());
        assert_eq!(run.msg(), msg);
        assert_eq!(bed.text(), DEBIAN);
        assert_eq!(bed.files(), ["hosts"]);
        assert!(run.result.get("diff").is_none());
    }
}

#[test]
fn an_invalid_ip_is_refused() {
    refused(
        json!([{"ip": "10.0.0.300", "fqdn": "pve1.example.com"}]),
        "nodes[0] (pve1.example.com): ip '10.0.0.300' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets",
    );
    refused(
        json!([{"ip": "10.0.0.0/24", "name": "pve1"}]),
        "nodes[0] (pve1): ip '10.0.0.0/24' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets",
    );
    refused(
        json!([{"ip": "127.0.1.1", "name": "pve1"}]),
        "nodes[0] (pve1): ip '127.0.1.1' is a loopback or unspecified address; a cluster node needs the address of its cluster network",
    );
}

#[test]
fn an_invalid_hostname_is_refused() {
    refused(
        json!([{"ip": "10.0.0.1", "name": "pve_1"}]),
        "nodes[0] (pve_1): name 'pve_1' is not a valid host name: it contains '_'; only letters a-z, digits, hyphens and dots between labels are allowed",
    );
    refused(
        json!([{"ip": "10.0.0.1", "fqdn": "-pve1.example.com"}]),
        "nodes[0] (-pve1.example.com): fqdn '-pve1.example.com' is not a valid host name: its label '-pve1' starts or ends with a hyphen",
    );
    refused(
        json!([{"ip": "10.0.0.1", "fqdn": "pve1"}]),
        "nodes[0] (pve1): fqdn 'pve1' is not a valid host name: it is not fully qualified: an fqdn must contain a dot (e.g. 'pve1.example.com'); put a short name in 'name'",
    );
    refused(
        json!([{"ip": "10.0.0.1", "name": "pve1", "aliases": ["localhost"]}]),
        "nodes[0] (pve1): alias 'localhost' is not a valid host name: 'localhost' names are reserved for the loopback lines and never managed",
    );
}

#[test]
fn the_same_name_on_two_nodes_is_refused() {
    refused(
        json!([{"ip": "10.0.0.1", "name": "pve1"}, {"ip": "10.0.0.2", "fqdn": "PVE1.example.com", "name": "pve2", "aliases": ["Pve1"]}]),
        "nodes[1] (pve2): the name 'Pve1' is already used by nodes[0] (pve1) (names are compared without case); each name may belong to one node only",
    );
}

#[test]
fn the_same_ip_on_two_nodes_is_refused() {
    refused(
        json!([{"ip": "2001:db8::1", "name": "pve1"}, {"ip": "2001:DB8:0::1", "name": "pve2"}]),
        "nodes[1] (pve2): the ip '2001:DB8:0::1' is already used by nodes[0] (pve1); each node needs its own address",
    );
}

#[test]
fn an_empty_list_is_refused() {
    refused(
        json!([]),
        "'nodes' is empty: give at least one node with 'ip' and 'fqdn' or 'name'",
    );
}

#[test]
fn every_problem_is_in_one_message() {
    refused(
        json!([{"ip": "x", "name": "pve1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3", "name": "pve1"}]),
        "nodes[0] (pve1): ip 'x' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets; nodes[1] (10.0.0.2): no names given; set 'fqdn', 'name' or both; nodes[2] (pve1): the name 'pve1' is already used by nodes[0] (pve1) (names are compared without case); each name may belong to one node only",
    );
}

#[test]
fn arguments_are_checked_as_ansible_does() {
    let bed = Bed::with(DEBIAN);
    let run = bed.run(
        json!({"nodes": [{"ip": "10.0.0.1", "nmae": "a"}]}),
        &How::check(),
    );
    assert_eq!(
        run.msg(),
        "Unsupported parameters for (pve_hosts) module: nodes.nmae. Supported parameters include: aliases, fqdn, ip, name (short_name)."
    );
    let run = bed.run(json!({"nodes": [{"name": "a"}]}), &How::check());
    assert_eq!(run.msg(), "missing required arguments: ip found in nodes");
    let run = bed.run(
        json!({"nodes": three_nodes(), "state": "gone"}),
        &How::check(),
    );
    assert_eq!(
        run.msg(),
        "value of state must be one of: present, absent, got: gone"
    );
    assert_eq!(bed.text(), DEBIAN);
}
