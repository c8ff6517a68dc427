//! Property tests of the `pvecm status`/`pvecm nodes` parsers, their merge
//! and the corosync.conf reader and writer, on arbitrary text and on
//! structured mutations of every fixture: no panic, and every `Ok` is
//! internally consistent.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the defaults.

mod common;
use common::cases;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use pve_cluster::pve::corosync_conf::{CorosyncConf, Entry, Section};
use pve_cluster::pve::status::{
    parse_nodes, parse_status, ClusterView, Membership, NodeState, NodesReport, StatusReport,
};

struct Fixtures {
    status: Vec<String>,
    nodes: Vec<String>,
    stderr: Vec<String>,
    conf: Vec<String>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "pvecm"]
            .iter()
            .collect();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        let mut f = Fixtures {
            status: Vec::new(),
            nodes: Vec::new(),
            stderr: vec![String::new()],
            conf: Vec::new(),
        };
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if name.ends_with(".stderr") {
                f.stderr.push(text);
            } else if name.starts_with("nodes-") {
                f.nodes.push(text);
            } else if name.ends_with(".stdout") {
                f.status.push(text);
            } else if name.ends_with(".conf") {
                f.conf.push(text);
            }
        }
        assert!(!f.status.is_empty() && !f.nodes.is_empty() && !f.conf.is_empty());
        f
    })
}

/// Lines a mutation may insert: real lines of every layout, a few
/// contradicting ones, and noise.
const LINES: &[&str] = &[
    "Quorate:          Yes",
    "Quorate:          No",
    "Flags:            Quorate ",
    "Flags:            2Node Quorate WaitForAll ",
    "Flags:            ",
    "Quorum:           2 Activity blocked",
    "Quorum:           2  ",
    "Node ID:          0x00000002",
    "Nodes:            4294967295",
    "Expected votes:   99999999999",
    "Ring ID:          1.2e",
    "Ring ID:          1/348",
    "    Nodeid      Votes Name",
    "    Nodeid      Votes    Qdevice Name",
    "    Nodeid      Name",
    "0x00000000          1            Qdevice",
    "0x00000000          0            Qdevice (votes 1)",
    "0x00000003          1 10.0.0.3",
    "0x00000003          1 10.0.0.3 (local)",
    "0x00000001          1 10.0.0.1 (local)",
    "         0          1            Qdevice",
    "         4          1    NR pve04",
    "         4          1    A,V,NMW pve04 (local)",
    "         2          1 pve02 (local)",
    "Membership information",
    "Votequorum information",
    "Quorum information",
    "Cluster information",
    "----------------------",
    "Cannot initialize CMAP service",
    "Name:             UNKOWN?",
    "Config Version:   -1",
    "Secure auth:      maybe",
    "nodelist {",
    "totem {",
    "quorum {",
    "  device {",
    "node {",
    "}",
    "{",
    "  name: pve9",
    "  nodeid: 0",
    "  nodeid: 9",
    "  quorum_votes: 4294967296",
    "  ring0_addr: 10.0.0.9",
    "  config_version: 18446744073709551615",
    "  interface {",
    "  linknumber: 0",
    "a: b # c",
    "# comment {",
    "key",
    "key:",
    ":",
    "",
    "\r",
    "\t",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999",
    "-2147483648",
    "00000001",
    "0x",
    "0xffffffff",
    "1e3",
];

#[derive(Clone, Debug)]
enum Mutation {
    Drop(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Truncate(Index),
    Insert(Index, String),
    Whitespace(Index, u8),
    Number(Index, &'static str),
    Crlf,
    Byte(Index, u8),
}

fn inserted_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(LINES).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[0-9a-zA-Z:{}#., ()/-]{0,30}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Drop),
        2 => any::<Index>().prop_map(Mutation::Duplicate),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), inserted_line()).prop_map(|(i, l)| Mutation::Insert(i, l)),
        2 => (any::<Index>(), 0u8..5).prop_map(|(i, k)| Mutation::Whitespace(i, k)),
        3 => (any::<Index>(), select(NUMBERS)).prop_map(|(i, n)| Mutation::Number(i, n)),
        1 => Just(Mutation::Crlf),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut text = text.to_string();
    for m in mutations {
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let n = lines.len();
        match m {
            Mutation::Drop(i) => {
                lines.remove(i.index(n));
            }
            Mutation::Duplicate(i) => {
                let line = lines[i.index(n)].clone();
                lines.insert(i.index(n), line);
            }
            Mutation::Swap(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::Insert(i, line) => lines.insert(i.index(n + 1), line.clone()),
            Mutation::Whitespace(i, kind) => {
                let line = &mut lines[i.index(n)];
                *line = match kind {
                    0 => line.split_whitespace().collect::<Vec<_>>().join(" "),
                    1 => line.replace(' ', "\t"),
                    2 => format!("{line}   "),
                    3 => format!("  {line}"),
                    _ => line.replace("  ", " "),
                };
            }
            Mutation::Truncate(_) | Mutation::Number(..) | Mutation::Crlf | Mutation::Byte(..) => {}
        }
        text = lines.join("\n");
        match m {
            Mutation::Truncate(i) => {
                let at = i.index(text.len() + 1);
                text = String::from_utf8_lossy(&text.as_bytes()[..at]).into_owned();
            }
            Mutation::Number(i, replacement) => {
                let runs = digit_runs(&text);
                if !runs.is_empty() {
                    let (start, end) = runs[i.index(runs.len())];
                    text.replace_range(start..end, replacement);
                }
            }
            Mutation::Crlf => text = text.replace('\n', "\r\n"),
            Mutation::Byte(i, b) => {
                let mut bytes = text.into_bytes();
                bytes.insert(i.index(bytes.len() + 1), *b);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => {}
        }
    }
    text
}

fn digit_runs(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

fn check_membership(m: &Membership) -> Result<(), TestCaseError> {
    let mut ids: Vec<u32> = m.members.iter().map(|r| r.nodeid).collect();
    prop_assert!(!ids.contains(&0), "the QDevice is a member: {m:?}");
    ids.sort_unstable();
    ids.dedup();
    prop_assert_eq!(ids.len(), m.members.len(), "repeated node id");
    if !m.qdevice_column {
        prop_assert!(m.members.iter().all(|r| r.qdevice.is_none()));
    }
    Ok(())
}

fn check_status_report(r: &StatusReport) -> Result<(), TestCaseError> {
    if let Some(m) = &r.membership {
        check_membership(m)?;
    }
    if r.state == NodeState::Running {
        prop_assert!(r.quorum.is_some() || r.votequorum.is_some() || r.membership.is_some());
    }
    // corosync prints `Quorate: Yes` exactly when the Quorate flag is set,
    // and `Activity blocked` exactly when it is not.
    let quorate_line = r.quorum.as_ref().and_then(|q| q.quorate);
    let vq = r.votequorum.as_ref();
    let flag = vq
        .and_then(|v| v.flags.as_ref())
        .map(|f| f.iter().any(|x| x == "Quorate"));
    let unblocked = vq.and_then(|v| v.activity_blocked).map(|b| !b);
    for (a, b) in [
        (quorate_line, flag),
        (quorate_line, unblocked),
        (flag, unblocked),
    ] {
        if let (Some(a), Some(b)) = (a, b) {
            prop_assert_eq!(a, b, "contradicting quorum lines accepted: {:?}", r);
        }
    }
    serde_json::to_string(r).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

fn check_cluster(c: &ClusterView) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.node_count, c.nodes.len());
    prop_assert_eq!(c.online_count, c.nodes.iter().filter(|n| n.online).count());
    prop_assert!(c.online_count <= c.node_count);
    prop_assert!(c.nodes.iter().all(|n| n.nodeid != 0), "QDevice as a node");
    prop_assert!(
        c.nodes.windows(2).all(|w| w[0].nodeid < w[1].nodeid),
        "nodes not sorted or repeated: {:?}",
        c.nodes
    );
    prop_assert!(!c.quorate || c.corosync_running);
    prop_assert!(!c.corosync_running || c.in_cluster);
    if !c.corosync_running {
        prop_assert_eq!(c.online_count, 0);
    }
    let locals: Vec<u32> = c
        .nodes
        .iter()
        .filter(|n| n.local)
        .map(|n| n.nodeid)
        .collect();
    prop_assert!(locals.len() <= 1, "several local nodes: {:?}", c.nodes);
    if let (Some(local), Some(id)) = (&c.local_node, locals.first()) {
        prop_assert_eq!(local.nodeid, *id);
    }
    prop_assert!(c.nodes.iter().all(|n| n.online || !n.local));
    if c.activity_blocked {
        prop_assert!(!c.quorate, "quorate with activity blocked");
    }
    for n in &c.nodes {
        let _ = n.label();
    }
    let _ = c.offline_nodes();
    serde_json::to_string(c).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

fn check_nodes_report(r: &NodesReport) -> Result<(), TestCaseError> {
    if let Some(m) = &r.membership {
        check_membership(m)?;
    }
    serde_json::to_string(r).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

/// Every combination of what the probe may have: status alone, with nodes,
/// with corosync.conf.
fn check_all(status: &str, stderr: &str, nodes: &str, conf: &str) -> Result<(), TestCaseError> {
    let status = parse_status(status, stderr);
    let nodes = parse_nodes(nodes, stderr);
    let conf = CorosyncConf::parse(conf);
    if let Err(e) = &status {
        let _ = e.to_string();
    }
    if let Err(e) = &nodes {
        let _ = e.to_string();
    }
    if let Ok(r) = &nodes {
        check_nodes_report(r)?;
    }
    let Ok(status) = status else { return Ok(()) };
    check_status_report(&status)?;
    let nodes = nodes.ok();
    let conf = conf.ok();
    for n in [None, nodes.as_ref()] {
        for c in [None, conf.as_ref()] {
            check_cluster(&ClusterView::from_parts(&status, n, c))?;
        }
    }
    Ok(())
}

/// The tree in the writer's order: names sorted, values before sections
/// of the same name, repeated sections by PVE's sort key.
fn canonical(section: &Section) -> Section {
    let mut entries: Vec<Entry> = section
        .entries
        .iter()
        .map(|e| match e {
            Entry::Section { name, section } => Entry::Section {
                name: name.clone(),
                section: canonical(section),
            },
            other => other.clone(),
        })
        .collect();
    let sort_key = |e: &Entry| -> (String, u8, String) {
        match e {
            Entry::Value { key, .. } => (key.clone(), 0, String::new()),
            Entry::Section { name, section } => {
                let key = match name.as_str() {
                    "node" => section.get("name").or_else(|| section.get("ring0_addr")),
                    "interface" => section
                        .get("linknumber")
                        .or_else(|| section.get("ringnumber")),
                    _ => None,
                };
                (name.clone(), 1, key.unwrap_or("").to_string())
            }
        }
    };
    entries.sort_by_key(sort_key);
    Section { entries }
}

fn check_conf(text: &str) -> Result<(), TestCaseError> {
    let conf = match CorosyncConf::parse(text) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return Ok(());
        }
    };
    let _ = (
        conf.nodes(),
        conf.interfaces(),
        conf.quorum_device(),
        conf.two_node(),
        conf.cluster_name(),
        conf.config_version(),
        conf.transport(),
    );
    let rendered = conf.render();
    let again = CorosyncConf::parse(&rendered);
    prop_assert!(again.is_ok(), "render does not read back: {rendered:?}");
    let again = again.unwrap_or_else(|_| conf.clone());
    prop_assert_eq!(
        &again.root,
        &canonical(&conf.root),
        "rendered: {:?}",
        rendered
    );
    prop_assert_eq!(again.render(), rendered);
    Ok(())
}

fn fixture_strategy(pick: fn(&Fixtures) -> &Vec<String>) -> impl Strategy<Value = String> {
    any::<Index>().prop_map(move |i| {
        let list = pick(fixtures());
        list[i.index(list.len())].clone()
    })
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 0..5)
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn arbitrary_text_never_panics(
        stdout in prop_oneof![any::<String>(), "[ -~\n]{0,200}"],
        stderr in prop_oneof![Just(String::new()), any::<String>(), select(LINES).prop_map(str::to_string)],
    ) {
        check_all(&stdout, &stderr, &stdout, &stdout)?;
        check_conf(&stdout)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        check_all(&text, "", &text, &text)?;
        check_conf(&text)?;
    }
}

proptest! {
    #![proptest_config(cases(600))]

    #[test]
    fn mutated_fixtures_parse_consistently(
        status in fixture_strategy(|f| &f.status),
        stderr in fixture_strategy(|f| &f.stderr),
        nodes in fixture_strategy(|f| &f.nodes),
        conf in fixture_strategy(|f| &f.conf),
        m_status in mutations(),
        m_stderr in proptest::collection::vec(mutation(), 0..2),
        m_nodes in mutations(),
        m_conf in mutations(),
    ) {
        let status = mutate(&status, &m_status);
        let stderr = if m_stderr.is_empty() { String::new() } else { mutate(&stderr, &m_stderr) };
        check_all(&status, &stderr, &mutate(&nodes, &m_nodes), &mutate(&conf, &m_conf))?;
    }

    #[test]
    fn mutated_confs_render_idempotently(conf in fixture_strategy(|f| &f.conf), m in mutations()) {
        check_conf(&mutate(&conf, &m))?;
    }

    #[test]
    fn totem_edits_read_back(
        conf in fixture_strategy(|f| &f.conf),
        m in mutations(),
        key in prop_oneof![select(&["config_version", "cluster_name", "secauth", "interface", "a:b"][..]).prop_map(str::to_string), any::<String>()],
        value in prop_oneof!["[0-9]{1,25}", any::<String>(), Just("}".to_string()), Just("x:".to_string())],
    ) {
        let Ok(mut c) = CorosyncConf::parse(&mutate(&conf, &m)) else { return Ok(()) };
        if c.set_totem(&key, &value).is_ok() {
            let again = CorosyncConf::parse(&c.render());
            prop_assert!(again.is_ok(), "{:?}", c.render());
            if let Ok(again) = again {
                prop_assert_eq!(again.totem_value(&key), Some(value.as_str()));
            }
        }
        if let Ok(next) = c.bump_config_version() {
            prop_assert_eq!(c.config_version(), Some(next));
            check_conf(&c.render())?;
        }
    }
}

#[test]
fn every_fixture_passes_unchanged() {
    let f = fixtures();
    for status in &f.status {
        for stderr in &f.stderr {
            check_all(status, stderr, &f.nodes[0], &f.conf[0]).unwrap();
        }
    }
    for conf in &f.conf {
        check_conf(conf).unwrap();
    }
}
