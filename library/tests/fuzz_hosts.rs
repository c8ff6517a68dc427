//! Property tests of the hosts-file planner on arbitrary files and valid
//! node lists: no panic, the changes listed are exactly the edits made,
//! every other byte is kept, planning again changes nothing, and the
//! nodes' names end up where the rules put them.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the defaults.

mod common;
use common::cases;
use proptest::prelude::*;
use proptest::sample::select;
use pve_cluster::hosts::{
    is_loopback, parse_entry, plan, validate_nodes, Change, HostsFile, Node, NodeSpec, Notice,
    Options, Plan, State,
};

const IPS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.9",
    "127.0.0.1",
    "127.0.1.1",
    "::1",
    "fd00::1",
    "FD00:0::2",
    "fe80::1%eth0",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "0.0.0.0",
    "not-an-ip",
    "#10.0.0.1",
];

const NAMES: &[&str] = &[
    "pve1",
    "PVE1",
    "pve1.example.com",
    "Pve1.Example.Com",
    "pve1.lan",
    "pve2",
    "pve2.example.com",
    "pve3",
    "alias1",
    "alias2",
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "other",
    "other.lan",
    "#x",
    "é",
];

const SEPS: &[&str] = &[" ", "\t", "  ", " \t ", "\u{b}", "\u{a0}"];

fn entry_line() -> impl Strategy<Value = String> {
    (
        select(&["", " ", "\t"][..]),
        select(IPS),
        proptest::collection::vec((select(SEPS), select(NAMES)), 0..5),
        select(&["", " # comment", "# c", "\t#pve1 in a comment", " "][..]),
    )
        .prop_map(|(lead, ip, names, tail)| {
            let mut line = format!("{lead}{ip}");
            for (sep, name) in names {
                line.push_str(sep);
                line.push_str(name);
            }
            line.push_str(tail);
            line
        })
}

fn any_line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => entry_line(),
        1 => select(&["", "# a comment", "   ", "\r", "#", "::1"][..]).prop_map(str::to_string),
        1 => any::<String>().prop_map(|s| s.replace('\n', " ")),
    ]
}

/// A hosts file: lines with `\n` or `\r\n`, maybe no final newline, or
/// arbitrary bytes read as the module reads them.
fn hosts_file() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (
            proptest::collection::vec((any_line(), prop_oneof![4 => Just("\n"), 1 => Just("\r\n")]), 0..10),
            any::<bool>(),
        )
            .prop_map(|(lines, final_newline)| {
                let mut text = String::new();
                let count = lines.len();
                for (i, (line, eol)) in lines.into_iter().enumerate() {
                    text.push_str(&line);
                    if i + 1 < count || final_newline {
                        text.push_str(eol);
                    }
                }
                text
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// Valid nodes: distinct addresses and names by construction, in varied
/// spellings and cases.
fn nodes() -> impl Strategy<Value = Vec<Node>> {
    proptest::sample::subsequence(vec![1u8, 2, 3], 1..=3)
        .prop_flat_map(|ids| {
            let specs: Vec<_> = ids
                .into_iter()
                .map(|i| {
                    (
                        select(vec![
                            format!("10.0.0.{i}"),
                            format!("fd00::{i}"),
                            format!("FD00:0::{i}"),
                        ]),
                        prop_oneof![
                            Just(None),
                            Just(Some(format!("pve{i}.example.com"))),
                            Just(Some(format!("PVE{i}.Example.com"))),
                        ],
                        prop_oneof![
                            Just(None),
                            Just(Some(format!("pve{i}"))),
                            Just(Some(format!("Pve{i}"))),
                        ],
                        prop_oneof![Just(vec![]), Just(vec![format!("alias{i}")])],
                    )
                        .prop_map(|(ip, fqdn, name, aliases)| {
                            let name = if fqdn.is_none() && name.is_none() {
                                Some(format!("h{}", ip.replace([':', '.'], "-")))
                            } else {
                                name
                            };
                            NodeSpec {
                                ip,
                                fqdn,
                                name,
                                aliases,
                            }
                        })
                })
                .collect();
            specs
        })
        .prop_filter_map("valid nodes", |specs| validate_nodes(&specs).ok())
}

fn options() -> impl Strategy<Value = Options> {
    (
        prop_oneof![Just(State::Present), Just(State::Absent)],
        any::<bool>(),
        select(vec![
            None,
            Some("pve1"),
            Some("PVE1.example.com"),
            Some("pve1.lan"),
            Some("pve2"),
            Some("other"),
            Some(""),
        ]),
    )
        .prop_map(|(state, fix_loopback, local)| Options {
            state,
            fix_loopback,
            local_hostname: local.map(str::to_string),
        })
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// The new file rebuilt from the old one and the list of changes must be
/// the plan's content: nothing is edited without being reported, and lines
/// not reported keep every byte.
fn check_changes_explain_content(before: &str, p: &Plan) -> Result<(), TestCaseError> {
    if !p.changed() {
        prop_assert_eq!(&p.content, before);
        return Ok(());
    }
    let old = HostsFile::parse(before);
    let mut expected: Vec<(String, Option<&str>)> = Vec::new();
    for (i, line) in old.lines.iter().enumerate() {
        let number = i + 1;
        let change = p.changes.iter().find(|c| match c {
            Change::Rewritten { line, .. }
            | Change::NamesRemoved { line, .. }
            | Change::LineRemoved { line, .. } => *line == number,
            Change::Added { .. } => false,
        });
        match change {
            None => expected.push((line.text.clone(), Some(line.eol))),
            Some(Change::Rewritten { before, after, .. })
            | Some(Change::NamesRemoved { before, after, .. }) => {
                prop_assert_eq!(before, &line.text);
                expected.push((after.clone(), Some(line.eol)));
            }
            Some(Change::LineRemoved { text, .. }) => prop_assert_eq!(text, &line.text),
            Some(Change::Added { .. }) => {}
        }
    }
    let added: Vec<&Change> = p
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Added { .. }))
        .collect();
    if !added.is_empty() {
        if let Some(last) = expected.last_mut() {
            // A last line without newline gets one before the appended lines.
            if last.1 == Some("") {
                last.1 = None;
            }
        }
    }
    for c in &added {
        if let Change::Added { line, text } = c {
            expected.push((text.clone(), None));
            prop_assert_eq!(*line, expected.len());
        }
    }
    // Appended lines use the line end of the file's first line.
    let eol = match before.find('\n') {
        Some(pos) if before[..pos].ends_with('\r') => "\r\n",
        _ => "\n",
    };
    let rebuilt: String = expected
        .iter()
        .map(|(text, end)| format!("{text}{}", end.unwrap_or(eol)))
        .collect();
    prop_assert_eq!(&p.content, &rebuilt);
    Ok(())
}

/// Where the nodes' names may still be after planning.
fn check_names(p: &Plan, nodes: &[Node], options: &Options) -> Result<(), TestCaseError> {
    let present = options.state == State::Present;
    let node_names: Vec<String> = nodes
        .iter()
        .flat_map(|n| n.names().iter().map(|s| lower(s)))
        .collect();
    let local_is_node = options
        .local_hostname
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(|h| {
            let full = lower(h);
            let short = full.split('.').next().unwrap_or("").to_string();
            let names = vec![full, short];
            let is_node = names.iter().any(|n| node_names.contains(n));
            (names, is_node)
        });
    let mut seen = vec![false; nodes.len()];
    for line in &HostsFile::parse(&p.content).lines {
        let Some(entry) = parse_entry(&line.text) else {
            continue;
        };
        let names: Vec<&str> = entry
            .names
            .iter()
            .map(|s| line.text.get(s.clone()).unwrap_or(""))
            .collect();
        let owner = nodes.iter().position(|n| n.ip() == entry.ip);
        if let Some(k) = owner.filter(|k| present && !seen[*k]) {
            seen[k] = true;
            let own = nodes[k].names();
            prop_assert!(names.len() >= own.len());
            prop_assert_eq!(&names[..own.len()], own, "node line {:?}", line.text);
            prop_assert!(
                names[own.len()..]
                    .iter()
                    .all(|n| !node_names.contains(&lower(n))),
                "other node's name on {:?}",
                line.text
            );
            continue;
        }
        let loopback = is_loopback(entry.ip);
        if loopback && !options.fix_loopback {
            continue;
        }
        for name in &names {
            prop_assert!(
                !node_names.contains(&lower(name)),
                "{} left on {:?}",
                name,
                line.text
            );
        }
        if let (true, Some((local_names, true))) = (loopback, &local_is_node) {
            for name in &names {
                prop_assert!(
                    !local_names.contains(&lower(name)),
                    "local name {} left on loopback line {:?}",
                    name,
                    line.text
                );
            }
        }
    }
    if present {
        prop_assert!(seen.iter().all(|s| *s), "a node has no line");
    }
    if options.fix_loopback && local_is_node.as_ref().is_some_and(|(_, is)| *is) {
        let on_loopback = p
            .notices
            .iter()
            .any(|n| matches!(n, Notice::LocalNameOnLoopback { .. }));
        prop_assert!(!on_loopback, "notices: {:?}", p.notices);
    }
    for change in &p.changes {
        let _ = change.to_string();
    }
    for notice in &p.notices {
        let _ = notice.to_string();
    }
    Ok(())
}

fn check_plan(before: &str, nodes: &[Node], options: &Options) -> Result<Plan, TestCaseError> {
    let first = plan(before, nodes, options);
    check_changes_explain_content(before, &first)?;
    check_names(&first, nodes, options)?;
    let second = plan(&first.content, nodes, options);
    prop_assert!(
        !second.changed(),
        "not idempotent: {:?} then {:?}",
        first.content,
        second.changes
    );
    prop_assert_eq!(&second.content, &first.content);
    Ok(first)
}

proptest! {
    #![proptest_config(cases(1500))]

    #[test]
    fn files_round_trip(content in hosts_file()) {
        prop_assert_eq!(HostsFile::parse(&content).render(), content);
    }

    #[test]
    fn plans_are_explained_kept_and_idempotent(
        content in hosts_file(),
        nodes in nodes(),
        options in options(),
    ) {
        check_plan(&content, &nodes, &options)?;
    }

    #[test]
    fn absent_after_present_removes_every_name(
        content in hosts_file(),
        nodes in nodes(),
        options in options(),
    ) {
        let present = Options { state: State::Present, ..options.clone() };
        let absent = Options { state: State::Absent, ..options };
        let first = check_plan(&content, &nodes, &present)?;
        check_plan(&first.content, &nodes, &absent)?;
    }
}
