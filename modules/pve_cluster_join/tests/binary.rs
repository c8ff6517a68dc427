//! The built module against stand-ins for `pvecm` (the replaying one of
//! tests/standins, with a hook for what a create or join leaves), `ip`,
//! `getent` and `ssh` put first on PATH: each failure text of `pvecm create`/`add` gives its own
//! message, `failed` and never `changed`, and the password shows nowhere.
//!
//! The node's files are read under `PVE_CLUSTER_JOIN_ROOT` (a temporary
//! directory), and the peer's port is a listener of the test
//! (`PVE_CLUSTER_JOIN_PEER_PORT`). The binary reads both only because this
//! crate's dev-dependency builds `library` with the feature `test-seams`;
//! the shipped binaries do not (tests/test_shipped.py).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

const PASSWORD: &str = "Tr0ub4dor-3";
const PEER: &str = "127.0.0.1";

fn fingerprint() -> String {
    ["5E"; 32].join(":")
}

/// What `pvecm create` and `pvecm add` leave on the node, as a hook of the
/// replaying `pvecm` stand-in (tests/standins/pvecm): a failure text when the
/// test asks for one, else a member's files (Setup.pm's `updatecerts_and_ssh`
/// included) and `pvecm status`/`nodes` answering as a member.
const JOIN_HOOK: &str = r#"D=$PVECM_REPLAY
pwd > "$D/pvecm.cwd"
cat > "$D/pvecm.stdin"
if [ -e "$D/fail.stdout" ]; then
    cat "$D/fail.stdout"; cat "$D/fail.stderr" >&2; exit "$(cat "$D/fail.rc")"
fi
mkdir -p "$D/root/etc/pve" "$D/root/etc/corosync"
cp "$D/corosync.conf" "$D/root/etc/pve/corosync.conf"
cp "$D/corosync.conf" "$D/root/etc/corosync/corosync.conf"
echo key > "$D/root/etc/corosync/authkey"
for d in lxc qemu-server openvz priv; do mkdir -p "$D/root/etc/pve/nodes/pve2/$d"; done
echo key > "$D/root/etc/pve/nodes/pve2/pve-ssl.key"
echo pem > "$D/root/etc/pve/nodes/pve2/pve-ssl.pem"
mkdir -p "$D/root/etc/pve/priv" "$D/root/root/.ssh"
touch "$D/root/etc/pve/priv/authorized_keys"
ln -sfn /etc/pve/priv/authorized_keys "$D/root/root/.ssh/authorized_keys"
for sub in status nodes; do
    cp "$D/$sub.member" "$D/$sub.stdout"; rm -f "$D/$sub.stderr" "$D/$sub.rc"
done
echo "successfully added node 'pve2' to cluster."
exit 0
"#;

/// `pvecm status` and `pvecm nodes` on a node in no cluster.
const NOT_IN_CLUSTER: &str =
    "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?\n";

/// The batch-mode login the SSH join is checked with first.
const SSH: &str = r#"#!/bin/sh
D=$(cd "$(dirname "$0")/.." && pwd)
echo "$*" >> "$D/ssh.argv"
[ -e "$D/ssh.denied" ] && { echo "root@127.0.0.1: Permission denied (publickey,password)." >&2; exit 255; }
exit 0
"#;

const IP: &str = r#"#!/bin/sh
echo '1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever'
echo '2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\       valid_lft forever preferred_lft forever'
"#;

const GETENT: &str = r#"#!/bin/sh
D=$(cd "$(dirname "$0")/.." && pwd)
if [ -e "$D/loopback" ]; then
    printf '127.0.1.1       STREAM %s\n127.0.1.1       DGRAM\n' "$2"; exit 0
fi
printf '10.0.0.2        STREAM %s\n10.0.0.2        DGRAM\n' "$2"
"#;

const CONF: &str = "nodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.0.0.1\n  }\n  node {\n    name: pve2\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: 10.0.0.2\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: lab\n  config_version: 2\n  interface {\n    linknumber: 0\n  }\n  version: 2\n}\n";

const STATUS: &str = "Cluster information\n-------------------\nName:             lab\nConfig Version:   2\nTransport:        knet\nSecure auth:      on\n\nQuorum information\n------------------\nDate:             Tue Aug 11 15:45:19 2026\nQuorum provider:  corosync_votequorum\nNodes:            2\nNode ID:          0x00000002\nRing ID:          1.9\nQuorate:          Yes\n\nVotequorum information\n----------------------\nExpected votes:   2\nHighest expected: 2\nTotal votes:      2\nQuorum:           2  \nFlags:            Quorate \n\nMembership information\n----------------------\n    Nodeid      Votes Name\n0x00000001          1 10.0.0.1\n0x00000002          1 10.0.0.2 (local)\n";

const NODES: &str = "\nMembership information\n----------------------\n    Nodeid      Votes Name\n         1          1 pve1\n         2          1 pve2 (local)\n";

/// A scratch node: stand-ins, files, a listening "peer".
struct Bed {
    dir: PathBuf,
    /// Held open so the probe connects; `None` leaves `port` closed.
    peer: Option<TcpListener>,
    port: u16,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Bed {
    fn new() -> Bed {
        let dir = std::env::temp_dir().join(format!(
            "pve_cluster_join-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("root/proc/sys/kernel")).unwrap();
        std::fs::write(dir.join("root/proc/sys/kernel/hostname"), "pve2\n").unwrap();
        for (name, text) in [("ip", IP), ("getent", GETENT), ("ssh", SSH)] {
            write_exec(&dir.join("bin").join(name), text);
        }
        for sub in ["status", "nodes"] {
            std::fs::write(dir.join(format!("{sub}.stderr")), NOT_IN_CLUSTER).unwrap();
            std::fs::write(dir.join(format!("{sub}.rc")), "2").unwrap();
        }
        for sub in ["create", "add"] {
            std::fs::write(dir.join(format!("{sub}.sh")), JOIN_HOOK).unwrap();
        }
        std::fs::write(dir.join("corosync.conf"), CONF).unwrap();
        std::fs::write(dir.join("status.member"), STATUS).unwrap();
        std::fs::write(dir.join("nodes.member"), NODES).unwrap();
        let peer = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = peer.local_addr().unwrap().port();
        Bed {
            dir,
            peer: Some(peer),
            port,
        }
    }

    fn fail_with(&self, stdout: &str, stderr: &str, rc: i32) {
        std::fs::write(self.dir.join("fail.stdout"), stdout).unwrap();
        std::fs::write(self.dir.join("fail.stderr"), stderr).unwrap();
        std::fs::write(self.dir.join("fail.rc"), rc.to_string()).unwrap();
    }

    fn fixed(&self) {
        for f in ["fail.stdout", "fail.stderr", "fail.rc", "loopback"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Runs the module; returns the parsed result and the raw stdout.
    fn run(&self, args: Value) -> (Value, String) {
        let args_file = self.dir.join("args.json");
        std::fs::write(&args_file, args.to_string()).unwrap();
        // Its own ip, getent and ssh first, then the replaying pvecm.
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            testkit::standin_path()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_pve_cluster_join"))
            .arg(&args_file)
            .env("PATH", path)
            .env("PVECM_REPLAY", &self.dir)
            .env("PVE_CLUSTER_JOIN_ROOT", self.dir.join("root"))
            .env("PVE_CLUSTER_JOIN_PEER_PORT", self.port.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let result: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
        testkit::assert_documented("pve_cluster_join", &result);
        assert_eq!(
            out.status.code(),
            Some(i32::from(result["failed"] == json!(true))),
            "{stdout}"
        );
        (result, stdout + &String::from_utf8_lossy(&out.stderr))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn api_join() -> Value {
    json!({
        "cluster_name": "lab",
        "peer": PEER,
        "password": PASSWORD,
        "fingerprint": fingerprint(),
        "timeout": 20,
    })
}

fn ssh_join() -> Value {
    json!({"cluster_name": "lab", "peer": PEER, "timeout": 20})
}

#[test]
fn api_join_succeeds_with_the_password_on_stdin_only() {
    let bed = Bed::new();
    let (r, raw) = bed.run(api_join());
    assert_eq!(r["failed"], json!(false), "{raw}");
    assert_eq!(r["changed"], json!(true));
    assert_eq!(r["action"], json!("join"));
    assert_eq!(r["status"]["in_cluster"], json!(true));
    assert_eq!(r["status"]["quorate"], json!(true));
    assert_eq!(
        r["command"],
        json!(format!("pvecm add {PEER} --fingerprint {}", fingerprint()))
    );
    assert_eq!(bed.file("pvecm.stdin"), format!("{PASSWORD}\n"));
    assert!(!bed.file("pvecm.argv").contains(PASSWORD));
    assert_eq!(bed.file("pvecm.cwd").trim(), "/");
    assert!(!raw.contains(PASSWORD), "{raw}");
    assert_eq!(
        r["invocation"]["module_args"]["password"],
        json!("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    );

    // Run again: a member already.
    let (r, _) = bed.run(api_join());
    assert_eq!(r["changed"], json!(false));
    assert_eq!(r["failed"], json!(false));
    assert_eq!(bed.file("pvecm.argv").matches("add ").count(), 1);
}

#[test]
fn create_succeeds_and_check_mode_runs_nothing() {
    let bed = Bed::new();
    let mut args =
        json!({"cluster_name": "lab", "links": [{"address": "10.0.0.2", "priority": 5}]});
    args["_ansible_check_mode"] = json!(true);
    args["_ansible_diff"] = json!(true);
    let (r, raw) = bed.run(args.clone());
    assert_eq!(r["changed"], json!(true), "{raw}");
    assert_eq!(
        r["command"],
        json!("pvecm create lab --link0 address=10.0.0.2,priority=5")
    );
    assert_eq!(r["diff"]["before"], json!("cluster: none\n"));
    assert_eq!(
        r["diff"]["after"],
        json!("cluster: lab\nnodes:\n  - pve2\n")
    );
    assert!(!bed.file("pvecm.argv").contains("create"));

    args["_ansible_check_mode"] = json!(false);
    let (r, raw) = bed.run(args);
    assert_eq!(r["changed"], json!(true), "{raw}");
    assert_eq!(r["msg"], json!("created cluster 'lab' on node 'pve2'"));
    assert!(r["diff"]["after"].as_str().unwrap().contains("  - pve2\n"));
}

#[test]
fn check_mode_of_an_api_join_masks_the_password() {
    let bed = Bed::new();
    let mut args = api_join();
    args["_ansible_check_mode"] = json!(true);
    let (r, raw) = bed.run(args);
    assert_eq!(r["changed"], json!(true), "{raw}");
    assert_eq!(r["stdin"], json!("********"));
    assert!(!raw.contains(PASSWORD));
    assert!(!bed.file("pvecm.argv").contains("add"));
}

/// Each failure text from the reference: its message, failed, not changed,
/// no password; and a corrected re-run joins.
#[test]
fn every_failure_text_gives_its_own_message() {
    let fp = fingerprint();
    let cases: Vec<(Value, &str, String, i32, &str)> = vec![
        (
            api_join(),
            "detected the following error(s):\n* this host already contains virtual guests\n",
            "Check if node may join a cluster failed!\n".into(),
            0,
            "may not join: this host already contains virtual guests",
        ),
        (
            api_join(),
            "",
            "400 Parameter verification failed.\nlink0: invalid format - value does not look like a valid address\npvecm add <hostname> [OPTIONS]\n".into(),
            255,
            "pvecm rejected the parameters: 400 Parameter verification failed.; link0: invalid format",
        ),
        (
            api_join(),
            "Please enter superuser (root) password for '127.0.0.1':\n",
            "EOF while reading password\n".into(),
            0,
            "got none (EOF while reading password)",
        ),
        (
            api_join(),
            "Establishing API connection with host '127.0.0.1'\n",
            "401 authentication failure\n".into(),
            0,
            "the peer refused the root password",
        ),
        (
            api_join(),
            "Establishing API connection with host '127.0.0.1'\n",
            format!("fingerprint '{fp}' not verified, abort!\n"),
            0,
            "does not match the given fingerprint",
        ),
        (
            api_join(),
            "Establishing API connection with host '127.0.0.1'\n",
            "500 Can't connect to 127.0.0.1:8006 (Connection refused)\n".into(),
            0,
            "the peer's API cannot be reached",
        ),
        (
            ssh_join(),
            "",
            "unable to add node: command failed (ssh 127.0.0.1 -o BatchMode=yes pvecm addnode pve2 --force 1)\n".into(),
            0,
            "could not add this node over SSH",
        ),
        (
            ssh_join(),
            "",
            "root@127.0.0.1: Permission denied (publickey,password).\n".into(),
            0,
            "SSH to the peer was refused",
        ),
        (
            ssh_join(),
            "",
            "Host key verification failed.\n".into(),
            0,
            "SSH to the peer failed on its host key",
        ),
        (
            api_join(),
            "Login succeeded.\ncheck cluster join API version\nRequest addition of this node\nAn error occurred on the cluster node: can't add existing node 'pve2'\n",
            "Cluster join aborted!\n".into(),
            0,
            "already has a node of this name",
        ),
        (
            api_join(),
            "Login succeeded.\nAn error occurred on the cluster node: no links given but multiple links found on other nodes, fallback only supported on single-link clusters\n",
            "Cluster join aborted!\n".into(),
            0,
            "several corosync links, and no links were given",
        ),
        (
            api_join(),
            "Login succeeded.\nAn error occurred on the cluster node: cluster not ready - no quorum?\n",
            "Cluster join aborted!\n".into(),
            0,
            "the cluster has no quorum",
        ),
    ];
    for (args, stdout, stderr, rc, want) in cases {
        let bed = Bed::new();
        bed.fail_with(stdout, &stderr, rc);
        let (r, raw) = bed.run(args.clone());
        let msg = r["msg"].as_str().unwrap_or_default();
        assert_eq!(r["failed"], json!(true), "{want}: {raw}");
        assert_eq!(r["changed"], json!(false), "{want}");
        assert!(msg.contains(want), "want {want:?} in {msg}");
        assert!(msg.contains("can join on a corrected re-run"), "{msg}");
        assert!(msg.contains("Hint: "), "{msg}");
        assert_eq!(r["rc"], json!(rc), "{want}");
        assert_eq!(r["stderr"], json!(stderr), "{want}");
        assert!(r["command"].as_str().unwrap().starts_with("pvecm add "));
        assert!(!raw.contains(PASSWORD), "{want}: password in {raw}");

        bed.fixed();
        let (r, raw) = bed.run(args);
        assert_eq!(r["changed"], json!(true), "re-run after {want}: {raw}");
    }
}

#[test]
fn preflight_failures_run_no_pvecm_add() {
    let bed = Bed::new();
    let guests = bed.dir.join("root/etc/pve/nodes/pve2/qemu-server");
    std::fs::create_dir_all(&guests).unwrap();
    std::fs::write(guests.join("100.conf"), "").unwrap();
    std::fs::write(bed.dir.join("loopback"), "").unwrap();
    let (r, raw) = bed.run(api_join());
    let msg = r["msg"].as_str().unwrap();
    assert_eq!(r["failed"], json!(true), "{raw}");
    assert!(msg.contains("guests (qemu-server/100.conf)"), "{msg}");
    assert!(
        msg.contains("resolves only to loopback (127.0.1.1)"),
        "{msg}"
    );
    assert!(!bed.file("pvecm.argv").contains("add"));

    std::fs::remove_file(guests.join("100.conf")).unwrap();
    bed.fixed();
    let (r, raw) = bed.run(api_join());
    assert_eq!(r["changed"], json!(true), "{raw}");
}

#[test]
fn an_unreachable_peer_is_caught_before_running() {
    let mut bed = Bed::new();
    bed.peer = None;
    let (r, _) = bed.run(ssh_join());
    let msg = r["msg"].as_str().unwrap();
    assert_eq!(r["failed"], json!(true));
    assert!(
        msg.contains("peer '127.0.0.1' is not reachable on TCP port 22, which SSH (use_ssh) needs"),
        "{msg}"
    );
    assert!(!bed.file("pvecm.argv").contains("add"));
}

#[test]
fn a_node_of_another_cluster_is_refused_untouched() {
    let bed = Bed::new();
    std::fs::write(bed.dir.join("corosync.conf"), CONF.replace("lab", "prod")).unwrap();
    std::fs::write(bed.dir.join("status.member"), STATUS.replace("lab", "prod")).unwrap();
    // Make it a member of prod first.
    let (r, raw) = bed.run(json!({"cluster_name": "prod"}));
    assert_eq!(r["changed"], json!(true), "{raw}");
    let argv_before = bed.file("pvecm.argv");
    let (r, _) = bed.run(api_join());
    let msg = r["msg"].as_str().unwrap();
    assert_eq!(r["failed"], json!(true));
    assert!(
        msg.contains("is a member of cluster 'prod' (config version 2, members: pve1, pve2)"),
        "{msg}"
    );
    assert!(
        msg.contains("refusing to create or join cluster 'lab'"),
        "{msg}"
    );
    let argv_after = bed.file("pvecm.argv");
    assert!(!argv_after[argv_before.len()..].contains("add"));
}

#[test]
fn a_second_run_waits_for_the_lock_then_fails() {
    let bed = Bed::new();
    let lock_path = bed.dir.join("root/run/lock/pve_cluster_join.lock");
    let held = pve_cluster::lock::Lock::acquire(&lock_path, std::time::Duration::ZERO).unwrap();
    let mut args = ssh_join();
    args["timeout"] = json!(1);
    let (r, _) = bed.run(args);
    let msg = r["msg"].as_str().unwrap();
    assert_eq!(r["failed"], json!(true));
    assert!(
        msg.contains("another run is already working on this node"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("process {}", std::process::id())),
        "{msg}"
    );
    assert!(bed.file("pvecm.argv").is_empty());
    drop(held);
}

#[test]
fn an_invalid_cluster_name_fails_before_anything_runs() {
    let bed = Bed::new();
    let (r, _) = bed.run(json!({"cluster_name": "my_cluster"}));
    assert_eq!(r["failed"], json!(true));
    assert!(r["msg"]
        .as_str()
        .unwrap()
        .contains("invalid cluster name 'my_cluster'"));
    assert!(bed.file("pvecm.argv").is_empty());
}
