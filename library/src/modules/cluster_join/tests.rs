//! The run over a scripted node: every state times every option
//! combination, in check mode and not, plus the failure paths.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::ansible::{Context, InternalArgs, Outcome};
use crate::cmd::FakeRunner;
use serde_json::{json, Value};

use super::*;

const PASSWORD: &str = "Sup3r-s3cret";
const PEER: &str = "10.0.0.1";

fn fp() -> String {
    ["AB"; 32].join(":")
}

/// Files and processes of the node, before and after `pvecm create`/`add`.
#[derive(Clone, Default)]
struct NodeFiles {
    files: BTreeMap<String, String>,
    /// Symbolic links, by path: their targets.
    links: BTreeMap<String, String>,
    corosync: bool,
}

struct FakeHost<'a> {
    runner: &'a FakeRunner,
    before: NodeFiles,
    after: NodeFiles,
    peer: Result<(), String>,
    lock: Result<(), String>,
    clock: Cell<Duration>,
    sleeps: RefCell<Vec<Duration>>,
    probes: RefCell<Vec<(String, u16)>>,
    /// How many reads of pmxcfs' quorum after the join still say "not
    /// quorate" (pmxcfs follows corosync a moment later).
    cfs_lag: Cell<u32>,
}

impl FakeHost<'_> {
    fn now(&self) -> NodeFiles {
        let mutated = self.runner.commands().iter().any(|c| {
            c.starts_with("pvecm create")
                || c.starts_with("pvecm add")
                || c.starts_with("pvecm updatecerts")
        });
        if mutated {
            self.after.clone()
        } else {
            self.before.clone()
        }
    }
}

impl Host for FakeHost<'_> {
    fn read(&self, path: &str) -> Option<String> {
        self.now().files.get(path).cloned()
    }
    fn exists(&self, path: &str) -> bool {
        self.now().files.contains_key(path)
    }
    fn is_dir(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.now().files.keys().any(|k| k.starts_with(&prefix))
    }
    fn is_file(&self, path: &str) -> bool {
        let now = self.now();
        let path = now.links.get(path).map_or(path, String::as_str);
        now.files.contains_key(path)
    }
    fn link_target(&self, path: &str) -> Option<String> {
        self.now().links.get(path).cloned()
    }
    fn list_dir(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        let mut names: Vec<String> = self
            .now()
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        names.dedup();
        names
    }
    fn process_running(&self, comm: &str) -> bool {
        comm == "corosync" && self.now().corosync
    }
    fn tcp_probe(&self, host: &str, port: u16, _timeout: Duration) -> Result<(), String> {
        self.probes.borrow_mut().push((host.to_string(), port));
        self.peer.clone()
    }
    fn elapsed(&self) -> Duration {
        self.clock.get()
    }
    fn sleep(&self, pause: Duration) {
        self.sleeps.borrow_mut().push(pause);
        self.clock.set(self.clock.get() + pause);
    }
    fn lock(&self, _wait: Duration) -> Result<Option<crate::lock::Lock>, String> {
        self.lock.clone().map(|()| None)
    }
    fn cfs_quorate(&self) -> Option<bool> {
        let joined = self
            .runner
            .commands()
            .iter()
            .any(|c| c.starts_with("pvecm add"));
        let lag = self.cfs_lag.get();
        if joined && lag > 0 {
            self.cfs_lag.set(lag - 1);
            return Some(false);
        }
        joined.then_some(true)
    }
}

fn conf(name: &str, version: u64, nodes: &[&str]) -> String {
    let mut text = String::from("nodelist {\n");
    for (i, n) in nodes.iter().enumerate() {
        text.push_str(&format!(
            "  node {{\n    name: {n}\n    nodeid: {}\n    quorum_votes: 1\n    ring0_addr: 10.0.0.{}\n  }}\n",
            i + 1,
            i + 1
        ));
    }
    text.push_str(&format!(
        "}}\n\nquorum {{\n  provider: corosync_votequorum\n}}\n\ntotem {{\n  cluster_name: {name}\n  config_version: {version}\n  interface {{\n    linknumber: 0\n  }}\n  version: 2\n}}\n"
    ));
    text
}

fn member_files(name: &str, nodes: &[&str]) -> NodeFiles {
    let mut files = BTreeMap::new();
    let text = conf(name, nodes.len() as u64, nodes);
    files.insert(corosync_conf::CLUSTER_CONF.to_string(), text.clone());
    files.insert(corosync_conf::LOCAL_CONF.to_string(), text);
    files.insert(join::AUTHKEY.to_string(), "key".to_string());
    files.insert("/proc/sys/kernel/hostname".to_string(), "pve2\n".into());
    let mut member = NodeFiles {
        files,
        links: BTreeMap::new(),
        corosync: true,
    };
    finished_join(&mut member, "pve2");
    member
}

/// What the end of `pvecm add` leaves: the node's directories, its API
/// key and certificate, root's authorized_keys linked to the cluster's.
fn finished_join(files: &mut NodeFiles, node: &str) {
    for sub in finish::NODE_SUBDIRS {
        files
            .files
            .insert(format!("/etc/pve/nodes/{node}/{sub}/"), String::new());
    }
    for f in ["pve-ssl.key", "pve-ssl.pem"] {
        files
            .files
            .insert(format!("/etc/pve/nodes/{node}/{f}"), "pem".into());
    }
    files.files.insert(
        finish::CLUSTER_AUTHORIZED_KEYS.into(),
        "ssh-ed25519 AAAA\n".into(),
    );
    files.links.insert(
        finish::ROOT_AUTHORIZED_KEYS.into(),
        finish::CLUSTER_AUTHORIZED_KEYS.into(),
    );
}

fn standalone_files() -> NodeFiles {
    let mut files = BTreeMap::new();
    files.insert(
        "/proc/sys/kernel/hostname".to_string(),
        "pve2.lab.test\n".into(),
    );
    NodeFiles {
        files,
        links: BTreeMap::new(),
        corosync: false,
    }
}

const NOT_IN_CLUSTER: &str =
    "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?\n";

fn status_text(name: &str, version: u64, nodes: usize, quorate: bool) -> String {
    let mut rows = String::new();
    for i in 1..=nodes {
        let local = if i == 2 || nodes == 1 { " (local)" } else { "" };
        rows.push_str(&format!("0x{i:08x}          1 10.0.0.{i}{local}\n"));
    }
    let (yn, quorum_line, flags) = if quorate {
        ("Yes", format!("{}  ", nodes / 2 + 1), "Quorate ")
    } else {
        ("No", format!("{} Activity blocked", nodes / 2 + 1), "")
    };
    format!(
        "Cluster information\n-------------------\nName:             {name}\nConfig Version:   {version}\nTransport:        knet\nSecure auth:      on\n\nQuorum information\n------------------\nDate:             Tue Aug 11 15:45:19 2026\nQuorum provider:  corosync_votequorum\nNodes:            {nodes}\nNode ID:          0x00000002\nRing ID:          1.9\nQuorate:          {yn}\n\nVotequorum information\n----------------------\nExpected votes:   {nodes}\nHighest expected: {nodes}\nTotal votes:      {nodes}\nQuorum:           {quorum_line}\nFlags:            {flags}\n\nMembership information\n----------------------\n    Nodeid      Votes Name\n{rows}"
    )
}

fn nodes_text(nodes: &[&str], local: &str) -> String {
    let mut text = String::from(
        "\nMembership information\n----------------------\n    Nodeid      Votes Name\n",
    );
    for (i, n) in nodes.iter().enumerate() {
        let mark = if *n == local { " (local)" } else { "" };
        text.push_str(&format!("{:>10} {:>10} {n}{mark}\n", i + 1, 1));
    }
    text
}

fn header_only(name: &str) -> String {
    format!("Cluster information\n-------------------\nName:             {name}\nConfig Version:   2\nTransport:        knet\nSecure auth:      on\n\n")
}

const IP_ADDR: &str = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever\n3: eth1    inet 10.1.0.2/24 brd 10.1.0.255 scope global eth1\\       valid_lft forever preferred_lft forever\n";
const GETENT_OK: &str =
    "10.0.0.2        STREAM pve2.lab.test\n10.0.0.2        DGRAM  \n10.0.0.2        RAW    \n";

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Standalone,
    MemberOfTarget,
    MemberOfOther,
    ConfiguredCorosyncDown,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    Create,
    Ssh,
    Api,
}

fn params(way: Way, links: bool) -> Value {
    let mut p = json!({"cluster_name": "lab", "timeout": 30});
    if way != Way::Create {
        p["peer"] = json!(PEER);
    }
    if way == Way::Api {
        p["password"] = json!(PASSWORD);
        p["fingerprint"] = json!(fp());
    }
    if links {
        p["links"] = json!([{"address": "10.0.0.2", "priority": 10}, {"address": "10.1.0.2"}]);
    }
    p
}

fn typed(p: Value) -> Params {
    let mut map = serde_json::Map::new();
    for key in [
        "cluster_name",
        "peer",
        "links",
        "nodeid",
        "votes",
        "use_ssh",
        "password",
        "fingerprint",
    ] {
        map.insert(key.into(), p.get(key).cloned().unwrap_or(Value::Null));
    }
    for link in map
        .get_mut("links")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for key in ["priority", "number"] {
            if link.get(key).is_none() {
                link[key] = Value::Null;
            }
        }
    }
    map.insert(
        "timeout".into(),
        p.get("timeout").cloned().unwrap_or(json!(DEFAULT_TIMEOUT)),
    );
    map.insert(
        "check_ssh_login".into(),
        p.get("check_ssh_login").cloned().unwrap_or(json!(true)),
    );
    serde_json::from_value(Value::Object(map)).expect("params")
}

const SSH_LOGIN: &str = "ssh -o BatchMode=yes -o ConnectTimeout=10 root@10.0.0.1 true";

fn runner_for(state: State, after_join: bool) -> FakeRunner {
    let runner = FakeRunner::default()
        .answer("ip -o addr", IP_ADDR, "", 0)
        .answer("getent ahosts pve2", GETENT_OK, "", 0)
        .answer(SSH_LOGIN, "", "", 0);
    match state {
        State::Standalone => {
            let r = runner.answer("pvecm status", "", NOT_IN_CLUSTER, 2);
            if after_join {
                r.answer("pvecm status", &status_text("lab", 2, 2, true), "", 0)
                    .answer("pvecm nodes", &nodes_text(&["pve1", "pve2"], "pve2"), "", 0)
            } else {
                r
            }
        }
        State::MemberOfTarget => runner
            .answer("pvecm status", &status_text("lab", 2, 2, true), "", 0)
            .answer("pvecm nodes", &nodes_text(&["pve1", "pve2"], "pve2"), "", 0),
        State::MemberOfOther => runner
            .answer("pvecm status", &status_text("prod", 2, 2, true), "", 0)
            .answer("pvecm nodes", &nodes_text(&["pve1", "pve2"], "pve2"), "", 0),
        State::ConfiguredCorosyncDown => runner.answer(
            "pvecm status",
            &header_only("lab"),
            "Cannot initialize CMAP service\n",
            1,
        ),
    }
}

fn files_for(state: State) -> NodeFiles {
    match state {
        State::Standalone => standalone_files(),
        State::MemberOfTarget => member_files("lab", &["pve1", "pve2"]),
        State::MemberOfOther => member_files("prod", &["pve1", "pve2"]),
        State::ConfiguredCorosyncDown => {
            let mut f = member_files("lab", &["pve1", "pve2"]);
            f.corosync = false;
            f
        }
    }
}

fn host<'a>(runner: &'a FakeRunner, before: NodeFiles, after: NodeFiles) -> FakeHost<'a> {
    FakeHost {
        runner,
        before,
        after,
        peer: Ok(()),
        lock: Ok(()),
        clock: Cell::new(Duration::ZERO),
        sleeps: RefCell::new(Vec::new()),
        probes: RefCell::new(Vec::new()),
        cfs_lag: Cell::new(0),
    }
}

fn run(
    p: Value,
    check: bool,
    runner: &FakeRunner,
    host: &FakeHost<'_>,
) -> Result<Outcome, Failure> {
    let mut ctx = Context {
        internal: InternalArgs {
            check_mode: check,
            diff: true,
            ..InternalArgs::default()
        },
        runner,
        warnings: Vec::new(),
    };
    run_with(typed(p), &mut ctx, host)
}

fn mutating_commands(runner: &FakeRunner) -> Vec<String> {
    runner
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("pvecm create") || c.starts_with("pvecm add"))
        .collect()
}

fn expected_command(way: Way, links: bool) -> String {
    let links_args = if links {
        " --link0 address=10.0.0.2,priority=10 --link1 address=10.1.0.2"
    } else {
        ""
    };
    match way {
        Way::Create => format!("pvecm create lab{links_args}"),
        Way::Ssh => format!("pvecm add {PEER}{links_args} --use_ssh"),
        Way::Api => format!("pvecm add {PEER}{links_args} --fingerprint {}", fp()),
    }
}

#[test]
fn every_state_times_every_option_combination() {
    let states = [
        State::Standalone,
        State::MemberOfTarget,
        State::MemberOfOther,
        State::ConfiguredCorosyncDown,
    ];
    for state in states {
        for way in [Way::Create, Way::Ssh, Way::Api] {
            for links in [false, true] {
                for check in [true, false] {
                    let case = format!("{state:?} {way:?} links={links} check={check}");
                    let runner = runner_for(state, true).answer(
                        &expected_command(way, links),
                        "successfully added node 'pve2' to cluster.\n",
                        "",
                        0,
                    );
                    let after = if state == State::Standalone {
                        member_files("lab", &["pve1", "pve2"])
                    } else {
                        files_for(state)
                    };
                    let h = host(&runner, files_for(state), after);
                    let result = run(params(way, links), check, &runner, &h);
                    let ran = mutating_commands(&runner);
                    let all = runner.commands().join("\n");
                    assert!(!all.contains(PASSWORD), "{case}: password in argv");
                    match state {
                        State::Standalone => {
                            let out = result.unwrap_or_else(|f| panic!("{case}: {}", f.msg));
                            assert!(out.changed, "{case}");
                            assert_eq!(
                                out.data["command"],
                                json!(expected_command(way, links)),
                                "{case}"
                            );
                            assert_eq!(
                                out.data["action"],
                                json!(if way == Way::Create { "create" } else { "join" })
                            );
                            let d = out.diff.clone().expect("diff");
                            assert_eq!(d["before"], json!("cluster: none\n"), "{case}");
                            assert!(d["after"].as_str().unwrap().contains("cluster: lab"));
                            if check {
                                assert!(ran.is_empty(), "{case}: ran {ran:?}");
                                assert!(out.msg.unwrap().starts_with("would "));
                                assert_eq!(
                                    out.data.get("stdin").is_some(),
                                    way == Way::Api,
                                    "{case}"
                                );
                            } else {
                                assert_eq!(ran, vec![expected_command(way, links)], "{case}");
                                assert_eq!(out.data["status"]["in_cluster"], json!(true));
                                assert_eq!(out.data["status"]["quorate"], json!(true));
                            }
                            let probes = h.probes.borrow();
                            match way {
                                Way::Create => assert!(probes.is_empty()),
                                Way::Ssh => assert_eq!(*probes, vec![(PEER.to_string(), 22)]),
                                Way::Api => assert_eq!(*probes, vec![(PEER.to_string(), 8006)]),
                            }
                        }
                        State::MemberOfTarget => {
                            let out = result.unwrap_or_else(|f| panic!("{case}: {}", f.msg));
                            assert!(!out.changed, "{case}");
                            assert!(ran.is_empty(), "{case}");
                            assert!(!all.contains("ip -o addr"), "{case}: preflight ran");
                            assert_eq!(out.data["status"]["cluster_name"], json!("lab"));
                            assert_eq!(out.data["action"], json!("none"));
                        }
                        State::MemberOfOther => {
                            let f = result.expect_err(&case);
                            assert!(ran.is_empty(), "{case}");
                            assert!(f.msg.contains("member of cluster 'prod'"), "{}", f.msg);
                            assert!(f.msg.contains("config version 2"), "{}", f.msg);
                            assert!(f.msg.contains("members: pve1, pve2"), "{}", f.msg);
                            assert!(f.msg.contains("refusing to create or join cluster 'lab'"));
                        }
                        State::ConfiguredCorosyncDown => {
                            let f = result.expect_err(&case);
                            assert!(ran.is_empty(), "{case}");
                            assert!(f.msg.contains("corosync is not running"), "{}", f.msg);
                            assert!(f.msg.contains("systemctl start corosync"), "{}", f.msg);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_password_goes_on_stdin_only() {
    let runner =
        runner_for(State::Standalone, true).answer(&expected_command(Way::Api, false), "", "", 0);
    let h = host(
        &runner,
        standalone_files(),
        member_files("lab", &["pve1", "pve2"]),
    );
    let out = run(params(Way::Api, false), false, &runner, &h).expect("joined");
    let log = runner.log.lock().unwrap().clone();
    let (line, stdin) = log
        .iter()
        .find(|(c, _)| c.starts_with("pvecm add"))
        .cloned()
        .expect("pvecm add ran");
    assert!(!line.contains(PASSWORD));
    assert_eq!(stdin, Some(format!("{PASSWORD}\n").into_bytes()));
    assert!(!format!("{out:?}").contains(PASSWORD));
    // The SSH join sends nothing on stdin.
    let runner =
        runner_for(State::Standalone, true).answer(&expected_command(Way::Ssh, false), "", "", 0);
    let h = host(
        &runner,
        standalone_files(),
        member_files("lab", &["pve1", "pve2"]),
    );
    run(params(Way::Ssh, false), false, &runner, &h).expect("joined");
    let log = runner.log.lock().unwrap().clone();
    assert!(log.iter().all(|(_, stdin)| stdin.is_none()));
}

#[test]
fn a_failed_join_is_failed_not_changed_and_keeps_the_raw_output() {
    let runner = runner_for(State::Standalone, false).answer(
        &expected_command(Way::Api, false),
        "Establishing API connection with host '10.0.0.1'\n",
        "401 authentication failure\n",
        0,
    );
    let h = host(&runner, standalone_files(), standalone_files());
    let f = run(params(Way::Api, false), false, &runner, &h).expect_err("failed");
    assert!(f.msg.contains("refused the root password"), "{}", f.msg);
    assert!(
        f.msg.contains("can join on a corrected re-run"),
        "{}",
        f.msg
    );
    assert_eq!(f.data["rc"], json!(0));
    assert_eq!(f.data["stderr"], json!("401 authentication failure\n"));
    assert_eq!(f.data["command"], json!(expected_command(Way::Api, false)));
    // A diagnosed failure is not waited on.
    assert!(h.sleeps.borrow().is_empty());
}

#[test]
fn an_undiagnosed_exit_0_is_judged_by_polling_with_growing_pauses() {
    let cmd = expected_command(Way::Ssh, false);
    let runner = runner_for(State::Standalone, false).answer(&cmd, "something\n", "", 0);
    let h = host(&runner, standalone_files(), standalone_files());
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("not a member");
    assert!(
        f.msg.contains("exited with status 0 but within 30 s"),
        "{}",
        f.msg
    );
    let sleeps = h.sleeps.borrow();
    assert!(sleeps.len() > 3);
    assert!(sleeps
        .windows(2)
        .all(|w| w[1] >= w[0] || w[1] < Duration::from_secs(5)));
    assert!(sleeps[1] > sleeps[0]);
    assert!(h.clock.get() >= Duration::from_secs(30));
}

#[test]
fn a_join_that_becomes_quorate_later_succeeds() {
    let cmd = expected_command(Way::Ssh, false);
    let runner = FakeRunner::default()
        .answer("ip -o addr", IP_ADDR, "", 0)
        .answer("getent ahosts pve2", GETENT_OK, "", 0)
        .answer(SSH_LOGIN, "", "", 0)
        .answer("pvecm status", "", NOT_IN_CLUSTER, 2)
        .answer("pvecm status", &status_text("lab", 2, 2, false), "", 2)
        .answer("pvecm status", &status_text("lab", 2, 2, false), "", 2)
        .answer("pvecm status", &status_text("lab", 2, 2, true), "", 0)
        .answer("pvecm nodes", &nodes_text(&["pve1", "pve2"], "pve2"), "", 0)
        .answer(&cmd, "successfully added node 'pve2' to cluster.\n", "", 0);
    let h = host(
        &runner,
        standalone_files(),
        member_files("lab", &["pve1", "pve2"]),
    );
    let out = run(params(Way::Ssh, false), false, &runner, &h).expect("joined");
    assert!(out.changed);
    assert_eq!(h.sleeps.borrow().len(), 2);
}

#[test]
fn preflight_problems_stop_before_anything_runs() {
    let mut before = standalone_files();
    before.files.insert(
        "/etc/pve/nodes/pve2/qemu-server/100.conf".into(),
        String::new(),
    );
    before
        .files
        .insert("/etc/pve/nodes/pve2/lxc/101.conf".into(), String::new());
    let runner = FakeRunner::default()
        .answer("pvecm status", "", NOT_IN_CLUSTER, 2)
        .answer("ip -o addr", IP_ADDR, "", 0)
        .answer(
            "getent ahosts pve2",
            "127.0.1.1       STREAM pve2\n127.0.1.1       DGRAM\n",
            "",
            0,
        );
    let mut h = host(&runner, before.clone(), before);
    h.peer = Err("connection refused".into());
    let mut p = params(Way::Api, false);
    p["links"] = json!([{"address": "10.9.9.9"}]);
    let f = run(p.clone(), false, &runner, &h).expect_err("refused");
    assert!(mutating_commands(&runner).is_empty());
    for part in [
        "4 problems found before running anything",
        "guests (qemu-server/100.conf, lxc/101.conf)",
        "link0 address '10.9.9.9' is not configured",
        "resolves only to loopback (127.0.1.1)",
        "not reachable on TCP port 8006",
        "Nothing was changed",
    ] {
        assert!(f.msg.contains(part), "{part} in {}", f.msg);
    }
    assert_eq!(f.data["problems"].as_array().unwrap().len(), 4);
    // Check mode fails the same way: it runs the same read-only checks.
    let f2 = run(p, true, &runner, &h).expect_err("refused in check mode too");
    assert_eq!(f.msg, f2.msg);
}

#[test]
fn guests_of_any_node_in_etc_pve_refuse_a_join_as_pve_does() {
    // pve-cluster Setup.pm `assert_joinable` checks the vmlist, which
    // covers every /etc/pve/nodes/*/qemu-server|lxc, not only this node's.
    let mut before = standalone_files();
    before
        .files
        .insert("/etc/pve/nodes/old/lxc/105.conf".into(), String::new());
    before
        .files
        .insert("/etc/pve/nodes/pve2/qemu-server/".into(), String::new());
    let runner = runner_for(State::Standalone, false);
    let h = host(&runner, before.clone(), before);
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("refused");
    assert!(
        f.msg
            .contains("/etc/pve already holds guests (nodes/old/lxc/105.conf)"),
        "{}",
        f.msg
    );
    assert!(mutating_commands(&runner).is_empty());
    // Creating a cluster on a node with guests is allowed.
    let runner = runner_for(State::Standalone, false);
    let mut before = standalone_files();
    before.files.insert(
        "/etc/pve/nodes/pve2/qemu-server/100.conf".into(),
        String::new(),
    );
    let h = host(&runner, before.clone(), before);
    assert!(run(params(Way::Create, false), true, &runner, &h).is_ok());
}

#[test]
fn invalid_options_fail_before_any_command() {
    let cases = [
        (
            json!({"cluster_name": "my.cluster", "timeout": 30}),
            "does not look like a valid node name",
        ),
        (
            json!({"cluster_name": "abcdefghijklmnop", "timeout": 30}),
            "15 characters",
        ),
        (
            json!({"cluster_name": "lab", "peer": PEER, "password": "x", "fingerprint": "AB", "timeout": 30}),
            "invalid fingerprint",
        ),
        (
            json!({"cluster_name": "lab", "peer": PEER, "use_ssh": true, "password": "x", "fingerprint": fp(), "timeout": 30}),
            "do not go together",
        ),
        (
            json!({"cluster_name": "lab", "peer": PEER, "use_ssh": false, "timeout": 30}),
            "needs the peer's root password",
        ),
        (
            json!({"cluster_name": "lab", "links": [{"address": "a", "priority": 300}], "timeout": 30}),
            "a link priority is 300",
        ),
        (
            json!({"cluster_name": "lab", "links": [{"address": "a", "number": 8}], "timeout": 30}),
            "a link number is 8",
        ),
        (
            json!({"cluster_name": "lab", "links": [{"address": "a"}, {"address": "b", "number": 0}], "timeout": 30}),
            "given twice",
        ),
        (
            json!({"cluster_name": "lab", "nodeid": 0, "timeout": 30}),
            "nodeid is 0",
        ),
        (
            json!({"cluster_name": "lab", "votes": 0, "timeout": 30}),
            "votes is 0",
        ),
        (json!({"cluster_name": "lab", "timeout": 0}), "timeout is 0"),
    ];
    for (p, want) in cases {
        let runner = FakeRunner::default();
        let h = host(&runner, standalone_files(), standalone_files());
        let f = run(p.clone(), false, &runner, &h).expect_err(want);
        assert!(f.msg.contains(want), "{want} in {}", f.msg);
        assert!(runner.commands().is_empty(), "{p}");
    }
    // Votes 0 is fine for a join.
    let runner = runner_for(State::Standalone, true);
    let h = host(
        &runner,
        standalone_files(),
        member_files("lab", &["pve1", "pve2"]),
    );
    let mut p = params(Way::Ssh, false);
    p["votes"] = json!(0);
    p["nodeid"] = json!(4);
    assert!(run(p, true, &runner, &h).is_ok());
}

#[test]
fn a_busy_lock_fails_with_its_message_and_check_mode_takes_no_lock() {
    let runner = runner_for(State::Standalone, false);
    let mut h = host(&runner, standalone_files(), standalone_files());
    h.lock = Err("another run is already working on this node".into());
    let f = run(params(Way::Create, false), false, &runner, &h).expect_err("busy");
    assert!(f.msg.contains("another run is already working"));
    assert!(runner.commands().is_empty());
    assert!(run(params(Way::Create, false), true, &runner, &h).is_ok());
}

#[test]
fn a_member_that_is_not_quorate_is_unchanged_with_a_warning() {
    let runner = FakeRunner::default()
        .answer("pvecm status", &status_text("lab", 2, 2, false), "", 2)
        .answer("pvecm nodes", &nodes_text(&["pve2"], "pve2"), "", 0);
    let files = member_files("lab", &["pve1", "pve2"]);
    let h = host(&runner, files.clone(), files);
    let mut ctx = Context {
        internal: InternalArgs::default(),
        runner: &runner,
        warnings: Vec::new(),
    };
    let out = run_with(typed(params(Way::Ssh, false)), &mut ctx, &h).expect("unchanged");
    assert!(!out.changed);
    assert!(ctx.warnings[0].contains("not quorate"));
    assert!(h.clock.get() >= Duration::from_secs(30));
}

#[test]
fn half_joined_states_are_reported_with_recovery_steps() {
    // The cluster config lists only the peer: the join stopped halfway.
    let mut files = member_files("lab", &["pve1"]);
    files.corosync = false;
    let runner = FakeRunner::default().answer(
        "pvecm status",
        &header_only("lab"),
        "Cannot initialize CMAP service\n",
        1,
    );
    let h = host(&runner, files.clone(), files);
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("incomplete");
    assert!(
        f.msg.contains("does not list this node 'pve2'"),
        "{}",
        f.msg
    );
    assert!(f.msg.contains("To recover: 1)"), "{}", f.msg);
    assert!(mutating_commands(&runner).is_empty());

    // Only the node-local config is there.
    let mut files = standalone_files();
    files.files.insert(
        corosync_conf::LOCAL_CONF.into(),
        conf("lab", 2, &["pve1", "pve2"]),
    );
    let runner = FakeRunner::default().answer("pvecm status", "", NOT_IN_CLUSTER, 2);
    let h = host(&runner, files.clone(), files);
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("incomplete");
    assert!(
        f.msg.contains("/etc/pve/corosync.conf is missing"),
        "{}",
        f.msg
    );
}

#[test]
fn leftovers_and_pmxcfs_down_are_caught_before_running() {
    let mut files = standalone_files();
    files.files.insert(join::AUTHKEY.into(), "k".into());
    files.corosync = true;
    let runner = runner_for(State::Standalone, false);
    let h = host(&runner, files.clone(), files);
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("leftovers");
    assert!(
        f.msg.contains("authentication key '/etc/corosync/authkey'"),
        "{}",
        f.msg
    );
    assert!(f.msg.contains("corosync is already running"), "{}", f.msg);

    let runner = FakeRunner::default().answer(
        "pvecm status",
        "",
        "ipcc_send_rec[1] failed: Connection refused\nipcc_send_rec[2] failed: Connection refused\nipcc_send_rec[3] failed: Connection refused\nUnable to load access control list: Connection refused\n",
        111,
    )
    .answer("ip -o addr", IP_ADDR, "", 0)
    .answer("getent ahosts pve2", "127.0.1.1       STREAM pve2\n", "", 0);
    let h = host(&runner, standalone_files(), standalone_files());
    let f = run(params(Way::Create, false), false, &runner, &h).expect_err("pmxcfs");
    // The cause (a loopback name keeps pmxcfs down) is listed with the effect.
    assert!(f.msg.contains("2 problems"), "{}", f.msg);
    assert!(f.msg.contains("resolves only to loopback"), "{}", f.msg);
    assert!(
        f.msg.contains("cluster file system is not running"),
        "{}",
        f.msg
    );
    assert!(mutating_commands(&runner).is_empty());
}

#[test]
fn pvecm_missing_is_a_clear_failure() {
    let runner = FakeRunner::default();
    let h = host(&runner, standalone_files(), standalone_files());
    let f = run(params(Way::Create, false), false, &runner, &h).expect_err("no pvecm");
    assert!(f.msg.contains("pvecm not found on PATH"), "{}", f.msg);
}

#[test]
fn the_timeout_bounds_the_whole_join_not_each_step() {
    // A join that never becomes quorate: the command gets what is left of
    // the timeout, and the wait ends at the same deadline.
    let cmd = expected_command(Way::Ssh, false);
    let runner = runner_for(State::Standalone, false).fail(
        &cmd,
        CmdError::TimedOut {
            command: cmd.clone(),
            after: Duration::from_secs(30),
            output: CmdOutput {
                command: cmd.clone(),
                stdout: "waiting for quorum...".into(),
                stderr: String::new(),
                rc: None,
            },
        },
    );
    let h = host(&runner, standalone_files(), standalone_files());
    h.clock.set(Duration::from_secs(4));
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("timed out");
    let given = runner
        .timeouts
        .lock()
        .unwrap()
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, t)| *t)
        .expect("pvecm add ran");
    assert_eq!(
        given,
        Duration::from_secs(26),
        "what is left of 30 s after 4 s"
    );
    assert!(
        f.msg.contains("did not finish within the timeout of 30 s"),
        "{}",
        f.msg
    );
    // Killing the command takes no time on the fake clock: the wait after
    // it may use the rest, and no more.
    assert!(
        h.clock.get() <= Duration::from_secs(30),
        "{:?}",
        h.clock.get()
    );
}

fn unfinished_member() -> NodeFiles {
    let mut files = member_files("lab", &["pve1", "pve2"]);
    files
        .files
        .retain(|k, _| !k.starts_with("/etc/pve/nodes/pve2/"));
    files.links.clear();
    files
}

#[test]
fn a_member_whose_join_stopped_before_its_end_is_finished_as_pve_does() {
    let runner = runner_for(State::MemberOfTarget, false)
        .answer("pvecm updatecerts", "(re)generate node files\n", "", 0)
        .answer("systemctl reload-or-restart pvedaemon pveproxy", "", "", 0);
    let h = host(
        &runner,
        unfinished_member(),
        member_files("lab", &["pve1", "pve2"]),
    );
    // Check mode says what it would do and runs nothing that changes.
    let out = run(params(Way::Ssh, false), true, &runner, &h).expect("would finish");
    assert!(out.changed);
    assert!(out.msg.as_deref().unwrap_or("").contains("would finish it"));
    assert!(runner.commands().iter().all(|c| !c.contains("updatecerts")));
    assert_eq!(out.data["action"], json!("finish"));
    assert!(out.data["missing"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));

    let out = run(params(Way::Ssh, false), false, &runner, &h).expect("finished");
    assert!(out.changed, "{out:?}");
    let msg = out.msg.clone().unwrap_or_default();
    assert!(msg.contains("stopped before its last steps"), "{msg}");
    assert!(msg.contains("/etc/pve/nodes/pve2 is missing"), "{msg}");
    assert!(
        msg.contains("finished it with 'pvecm updatecerts'"),
        "{msg}"
    );
    let ran = runner.commands();
    let at = |c: &str| ran.iter().position(|r| r == c).expect(c);
    assert!(at("pvecm updatecerts") < at("systemctl reload-or-restart pvedaemon pveproxy"));
    assert!(!ran.iter().any(|c| c.starts_with("pvecm add")));
}

#[test]
fn a_finished_member_runs_nothing_and_a_failed_finish_says_how_to_do_it_by_hand() {
    let runner = runner_for(State::MemberOfTarget, false);
    let files = member_files("lab", &["pve1", "pve2"]);
    let h = host(&runner, files.clone(), files);
    let out = run(params(Way::Ssh, false), false, &runner, &h).expect("member");
    assert!(!out.changed);
    assert_eq!(out.data["action"], json!("none"));
    assert_eq!(runner.commands(), ["pvecm status", "pvecm nodes"]);

    // updatecerts that fixes nothing (no quorum any more, say).
    let runner = runner_for(State::MemberOfTarget, false).answer(
        "pvecm updatecerts",
        "",
        "no quorum - unable to update files\n",
        255,
    );
    let h = host(&runner, unfinished_member(), unfinished_member());
    let f = run(params(Way::Ssh, false), false, &runner, &h).expect_err("not finished");
    assert!(f.changed, "updatecerts may have changed part of it");
    assert!(f.msg.contains("did not make them"), "{}", f.msg);
    assert!(
        f.msg
            .contains("To finish by hand: 1) on this node, run 'pvecm updatecerts'"),
        "{}",
        f.msg
    );
    assert_eq!(
        f.data["stderr"],
        json!("no quorum - unable to update files\n")
    );
}

#[test]
fn an_ssh_join_without_working_root_login_stops_before_pvecm_would_prompt() {
    // `pvecm add --use_ssh` runs ssh-copy-id, which asks for a password
    // when the key is not authorised, and then `ssh -o BatchMode=yes`.
    let runner = FakeRunner::default()
        .answer("ip -o addr", IP_ADDR, "", 0)
        .answer("getent ahosts pve2", GETENT_OK, "", 0)
        .answer("pvecm status", "", NOT_IN_CLUSTER, 2)
        .answer(
            SSH_LOGIN,
            "",
            "Warning: something\nroot@10.0.0.1: Permission denied (publickey,password).\n",
            255,
        );
    let h = host(&runner, standalone_files(), standalone_files());
    for check in [true, false] {
        let f = run(params(Way::Ssh, false), check, &runner, &h).expect_err("refused");
        assert!(
            f.msg
                .contains("root cannot log in to peer '10.0.0.1' over SSH"),
            "{}",
            f.msg
        );
        assert!(
            f.msg.contains("Permission denied (publickey,password)"),
            "{}",
            f.msg
        );
    }
    assert!(mutating_commands(&runner).is_empty());
    // Told not to (a check run before the task that sets up the trust).
    let mut p = params(Way::Ssh, false);
    p["check_ssh_login"] = json!(false);
    run(p, true, &runner, &h).expect("would join");
    // An API join does not need it.
    let runner = runner_for(State::Standalone, false);
    let h = host(&runner, standalone_files(), standalone_files());
    run(params(Way::Api, false), true, &runner, &h).expect("would join");
    assert!(!runner.commands().iter().any(|c| c.starts_with("ssh ")));
}

#[test]
fn a_corosync_conf_that_cannot_be_parsed_stops_the_join_instead_of_passing_for_none() {
    for path in [corosync_conf::LOCAL_CONF, corosync_conf::CLUSTER_CONF] {
        let mut files = standalone_files();
        files
            .files
            .insert(path.into(), "totem {\n  cluster_name: lab\n".into());
        for check in [true, false] {
            let runner = runner_for(State::Standalone, false);
            let h = host(&runner, files.clone(), files.clone());
            let f = run(params(Way::Ssh, false), check, &runner, &h).expect_err("unparsed");
            assert!(
                f.msg.starts_with(&format!("cannot parse {path}: ")),
                "{}",
                f.msg
            );
            assert!(mutating_commands(&runner).is_empty());
        }
    }
}

#[test]
fn a_join_is_done_only_once_pmxcfs_counts_the_quorum_too() {
    // The bed and a real node: corosync is quorate a moment before pmxcfs
    // is (status.c), and the next join through this node needs pmxcfs'
    // quorum for PVE's cluster lock.
    let cmd = expected_command(Way::Ssh, false);
    let runner = runner_for(State::Standalone, true)
        .answer("pvecm status", &status_text("lab", 2, 2, true), "", 0)
        .answer("pvecm nodes", &nodes_text(&["pve1", "pve2"], "pve2"), "", 0)
        .answer(&cmd, "successfully added node 'pve2' to cluster.\n", "", 0);
    let h = host(
        &runner,
        standalone_files(),
        member_files("lab", &["pve1", "pve2"]),
    );
    h.cfs_lag.set(2);
    let out = run(params(Way::Ssh, false), false, &runner, &h).expect("joined");
    assert!(out.changed);
    assert_eq!(h.cfs_lag.get(), 0);
    assert_eq!(
        h.sleeps.borrow().len(),
        2,
        "one poll per read that said not quorate"
    );
}
