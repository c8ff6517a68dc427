//! The built module on a temporary SSH directory, with the real OpenSSH
//! `ssh-keygen` generating the keys, hashing known_hosts lines (as Debian's
//! `HashKnownHosts yes` does) and reading the files back (`ssh-keygen -F`),
//! so the files are judged by OpenSSH itself.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tempfile::TempDir;
use testkit::Run;

const BIN: &str = env!("CARGO_BIN_EXE_pve_ssh_trust");

struct Node {
    dir: TempDir,
    bed: testkit::Bed,
}

fn keygen(args: &[&str]) -> String {
    let out = Command::new("ssh-keygen")
        .args(args)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A fresh key pair somewhere else; returns its public line.
fn other_key(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    keygen(&[
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        name,
        "-f",
        path.to_str().unwrap(),
    ]);
    fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let hk = dir.path().join("etc-ssh");
        fs::create_dir(&hk).unwrap();
        for t in ["ed25519", "rsa"] {
            let f = hk.join(format!("ssh_host_{t}_key"));
            keygen(&["-q", "-t", t, "-N", "", "-f", f.to_str().unwrap()]);
        }
        Node {
            dir,
            bed: testkit::Bed::new(),
        }
    }
    fn ssh_dir(&self) -> PathBuf {
        self.dir.path().join("root-ssh")
    }
    fn file(&self, name: &str) -> PathBuf {
        self.ssh_dir().join(name)
    }
    fn run(&self, extra: Value, check: bool) -> Run {
        let mut args = json!({
            "ssh_dir": self.ssh_dir(),
            "host_key_dir": self.dir.path().join("etc-ssh"),
            "_ansible_check_mode": check,
            "_ansible_diff": true,
        });
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let file = self.bed.args_file(&args.to_string());
        self.bed
            .run_raw(BIN, &[file.as_os_str()], &std::env::var("PATH").unwrap())
    }
    /// Every file under the node's directory with its content and mode.
    fn snapshot(&self) -> Vec<(String, String, u32)> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let meta = fs::symlink_metadata(&p).unwrap();
                if meta.is_dir() {
                    stack.push(p.clone());
                }
                let text = if meta.is_file() {
                    fs::read_to_string(&p).unwrap_or_default()
                } else {
                    String::new()
                };
                out.push((p.display().to_string(), text, meta.permissions().mode()));
            }
        }
        out.sort();
        out
    }
}

fn ok(run: &Run) -> &Value {
    assert_ne!(run.json["failed"], true, "module failed: {}", run.stdout);
    &run.json
}

#[test]
fn generates_root_key_once_and_reports_it_with_the_host_key() {
    let node = Node::new();
    let first = node.run(json!({}), false);
    let r = ok(&first);
    assert_eq!(r["changed"], true);
    let private = node.file("id_ed25519");
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(node.ssh_dir()).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let public = fs::read_to_string(private.with_extension("pub")).unwrap();
    assert_eq!(r["public_key"], public.trim());
    // OpenSSH agrees that the public key belongs to the private one.
    assert_eq!(
        keygen(&["-y", "-f", private.to_str().unwrap()])
            .split_whitespace()
            .nth(1),
        public.split_whitespace().nth(1)
    );
    let host =
        fs::read_to_string(node.dir.path().join("etc-ssh/ssh_host_ed25519_key.pub")).unwrap();
    let host_bare: Vec<&str> = host.split_whitespace().take(2).collect();
    assert_eq!(r["host_key"], host_bare.join(" "));
    assert!(r["host_keys"]["rsa"]
        .as_str()
        .unwrap()
        .starts_with("ssh-rsa "));

    let second = node.run(json!({}), false);
    assert_eq!(ok(&second)["changed"], false, "{}", second.stdout);
    assert_eq!(second.json["public_key"], r["public_key"]);
}

#[test]
fn check_mode_on_a_fresh_node_reports_the_key_and_writes_nothing() {
    let node = Node::new();
    let other = other_key(node.dir.path(), "peer");
    let before = node.snapshot();
    let run = node.run(json!({"authorized_keys": [other]}), true);
    let r = ok(&run);
    assert_eq!(r["changed"], true);
    assert_eq!(r["public_key"], Value::Null);
    assert!(
        r["msg"].as_str().unwrap().starts_with("would have "),
        "{}",
        r["msg"]
    );
    assert_eq!(node.snapshot(), before, "check mode changed files");
}

#[test]
fn authorises_keys_once_through_pves_symlink_and_keeps_other_lines() {
    let node = Node::new();
    ok(&node.run(json!({}), false));
    let shared = node.dir.path().join("pve-priv-authorized_keys");
    let existing = other_key(node.dir.path(), "admin");
    fs::write(&shared, format!("# managed by hand\nno-pty {existing}\n")).unwrap();
    symlink(&shared, node.file("authorized_keys")).unwrap();
    let a = other_key(node.dir.path(), "pve2");
    let b = other_key(node.dir.path(), "pve3");

    let run = node.run(json!({"authorized_keys": [a, b, existing]}), false);
    let r = ok(&run);
    assert_eq!(r["changed"], true);
    assert_eq!(r["authorized_keys_added"], json!([a, b]));
    assert!(fs::symlink_metadata(node.file("authorized_keys"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&shared).unwrap(),
        format!("# managed by hand\nno-pty {existing}\n{a}\n{b}\n")
    );
    let diff = &r["diff"][0];
    assert_eq!(
        diff["before"],
        format!("# managed by hand\nno-pty {existing}\n")
    );

    let again = node.run(json!({"authorized_keys": [a, b]}), false);
    assert_eq!(ok(&again)["changed"], false, "{}", again.stdout);
}

#[test]
fn pins_host_keys_as_openssh_reads_them_and_replaces_a_reinstalled_nodes_key() {
    let node = Node::new();
    ok(&node.run(json!({}), false));
    let new_key = other_key(node.dir.path(), "hostkey-new");
    let old_key = other_key(node.dir.path(), "hostkey-old");
    let bare = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    // ssh once accepted the old key for the address; Debian hashes it.
    let kh = node.file("known_hosts");
    fs::write(
        &kh,
        format!(
            "10.0.0.2 {}\nunrelated.example {}\n",
            bare(&old_key),
            bare(&old_key)
        ),
    )
    .unwrap();
    keygen(&["-H", "-f", kh.to_str().unwrap()]);
    let _ = fs::remove_file(kh.with_extension("old"));
    assert!(!fs::read_to_string(&kh).unwrap().contains("10.0.0.2"));

    let hosts = json!([{"names": ["PVE2", "pve2.lab.test", "10.0.0.2"], "key": new_key}]);
    let run = node.run(json!({"known_hosts": hosts}), false);
    let r = ok(&run);
    assert_eq!(r["changed"], true);
    assert_eq!(
        r["known_hosts_removed"].as_array().unwrap().len(),
        1,
        "{}",
        run.stdout
    );
    assert_eq!(
        r["known_hosts_added"],
        json!([format!("pve2,pve2.lab.test,10.0.0.2 {}", bare(&new_key))])
    );
    for name in ["pve2", "pve2.lab.test", "10.0.0.2"] {
        let found = keygen(&["-F", name, "-f", kh.to_str().unwrap()]);
        let keys: Vec<String> = found
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| bare(l.split_once(' ').unwrap().1))
            .collect();
        assert_eq!(keys, vec![bare(&new_key)], "{name}: {found}");
    }
    let text = fs::read_to_string(&kh).unwrap();
    assert_eq!(
        text.lines().count(),
        2,
        "the unrelated hashed line stays: {text}"
    );

    let again = node.run(json!({"known_hosts": hosts}), false);
    assert_eq!(ok(&again)["changed"], false, "{}", again.stdout);

    // A host already pinned under hashed names only counts as pinned.
    fs::write(
        &kh,
        format!("pve2,pve2.lab.test,10.0.0.2 {}\n", bare(&new_key)),
    )
    .unwrap();
    keygen(&["-H", "-f", kh.to_str().unwrap()]);
    let hashed = node.run(json!({"known_hosts": hosts}), false);
    assert_eq!(ok(&hashed)["changed"], false, "{}", hashed.stdout);
}

#[test]
fn repairs_a_readable_private_key_and_a_missing_public_half() {
    let node = Node::new();
    let first = node.run(json!({}), false);
    let key = ok(&first)["public_key"].clone();
    let private = node.file("id_ed25519");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(private.with_extension("pub")).unwrap();

    let check = node.run(json!({}), true);
    assert_eq!(ok(&check)["changed"], true);
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(!private.with_extension("pub").exists());

    let run = node.run(json!({}), false);
    let r = ok(&run);
    assert_eq!(r["changed"], true);
    assert_eq!(r["changes"].as_array().unwrap().len(), 2, "{}", run.stdout);
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let rebuilt = fs::read_to_string(private.with_extension("pub")).unwrap();
    assert_eq!(
        rebuilt.split_whitespace().nth(1),
        key.as_str().unwrap().split_whitespace().nth(1)
    );
}

#[test]
fn bad_keys_and_names_fail_before_anything_is_written() {
    let node = Node::new();
    let before = node.snapshot();
    for (extra, text) in [
        (
            json!({"authorized_keys": ["ssh-ed25519 not-base64!"]}),
            "authorized_keys: 'ssh-ed25519 not-base64!' is not a valid ssh-ed25519 public key",
        ),
        (
            json!({"authorized_keys": ["hello"]}),
            "is not an SSH public key",
        ),
        (
            json!({"known_hosts": [{"names": ["a b"], "key": other_key(node.dir.path(), "k1")}]}),
            "known_hosts[0].names: 'a b' is not a host name",
        ),
        (
            json!({"known_hosts": [{"names": [], "key": other_key(node.dir.path(), "k2")}]}),
            "known_hosts[0].names is empty",
        ),
        (
            json!({"key_type": "rsa", "key_bits": 1024}),
            "key_bits 1024 does not fit key_type rsa",
        ),
        (
            json!({"key_type": "dsa"}),
            "value of key_type must be one of: ed25519, ecdsa, rsa, got: dsa",
        ),
    ] {
        let run = node.run(extra, false);
        assert_eq!(run.json["failed"], true, "{}", run.stdout);
        let msg = run.json["msg"].as_str().unwrap();
        assert!(msg.contains(text), "{msg}");
    }
    let after: Vec<_> = node
        .snapshot()
        .into_iter()
        .filter(|(p, _, _)| !p.contains("/k1") && !p.contains("/k2"))
        .collect();
    assert_eq!(after, before);
}

/// A key made, then a file that cannot be written: the failure says that
/// something changed, so that Ansible does not report a node as untouched
/// that now has a new key.
#[test]
fn a_failure_after_the_key_was_made_reports_changed() {
    let node = Node::new();
    fs::create_dir_all(node.file("authorized_keys")).unwrap();
    let key = other_key(node.dir.path(), "peer");
    let run = node.run(json!({"authorized_keys": [key]}), false);
    assert!(run.failed(), "{}", run.json);
    assert_eq!(run.json["changed"], json!(true), "{}", run.json);
    assert!(node.file("id_ed25519").exists());
    // With the key already there, the same failure changed nothing.
    let again = node.run(
        json!({"authorized_keys": [other_key(node.dir.path(), "peer2")]}),
        false,
    );
    assert!(again.failed());
    assert_eq!(again.json["changed"], json!(false), "{}", again.json);
}

#[test]
fn without_key_type_the_key_root_has_is_kept_as_on_a_proxmox_node() {
    // A fresh Proxmox VE node has /root/.ssh/id_rsa (Setup.pm's setup_ssh_keys).
    let node = Node::new();
    fs::create_dir_all(node.ssh_dir()).unwrap();
    fs::set_permissions(node.ssh_dir(), fs::Permissions::from_mode(0o700)).unwrap();
    let private = node.file("id_rsa");
    keygen(&[
        "-q",
        "-t",
        "rsa",
        "-b",
        "2048",
        "-N",
        "",
        "-f",
        private.to_str().unwrap(),
    ]);
    let public = fs::read_to_string(private.with_extension("pub")).unwrap();
    for check in [true, false] {
        let run = node.run(json!({}), check);
        let r = ok(&run);
        assert_eq!(r["changed"], false, "{}", run.stdout);
        assert_eq!(r["public_key"], public.trim());
        assert!(!node.file("id_ed25519").exists());
    }
    // Asked for explicitly, another type is made beside it.
    let run = node.run(json!({"key_type": "ed25519"}), false);
    assert_eq!(ok(&run)["changed"], true);
    assert!(node.file("id_ed25519").exists() && node.file("id_rsa").exists());
}
