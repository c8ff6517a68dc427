//! Data-driven tests of the hosts-file planner. Each case reads
//! `fixtures/hosts/<case>.before`, plans it, and compares the result with
//! `<case>.after` (bytes) and `<case>.changes` (one change or notice per
//! line, as displayed). Planning the result again must change nothing.
//! `BLESS=1 cargo test --test hosts` rewrites the expected files.

use std::fs;
use std::path::PathBuf;

use pve_cluster::hosts::{plan, validate_nodes, Node, NodeSpec, Options, Plan, State};

fn spec(ip: &str, fqdn: Option<&str>, name: Option<&str>, aliases: &[&str]) -> NodeSpec {
    NodeSpec {
        ip: ip.to_string(),
        fqdn: fqdn.map(str::to_string),
        name: name.map(str::to_string),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    }
}

fn three() -> Vec<NodeSpec> {
    (1..=3)
        .map(|i| {
            spec(
                &format!("10.0.0.{i}"),
                Some(&format!("pve{i}.example.com")),
                Some(&format!("pve{i}")),
                &[],
            )
        })
        .collect()
}

fn nodes(specs: &[NodeSpec]) -> Vec<Node> {
    validate_nodes(specs).unwrap()
}

fn present(local: &str) -> Options {
    Options {
        state: State::Present,
        fix_loopback: true,
        local_hostname: Some(local.to_string()),
    }
}

struct Case {
    name: &'static str,
    nodes: Vec<NodeSpec>,
    options: Options,
}

fn cases() -> Vec<Case> {
    let case = |name, nodes, options| Case {
        name,
        nodes,
        options,
    };
    vec![
        case("proxmox_iso", three(), present("pve1")),
        case("debian_installer", three(), present("pve1")),
        case("already_canonical", three(), present("pve1")),
        case("old_ip", three(), present("pve1")),
        case("other_names_on_node_ip", three(), present("pve1")),
        case("name_on_two_lines", three(), present("pve1")),
        case("no_final_newline_append", three(), present("pve1")),
        case("no_final_newline_rewrite", three(), present("pve1")),
        case("crlf", three(), present("pve1")),
        case("case_insensitive", three(), present("pve1")),
        case("duplicated_names", three(), present("pve1")),
        case(
            "ipv6",
            vec![
                spec("fd00::1", Some("pve1.example.com"), Some("pve1"), &[]),
                spec("fd00::2", Some("pve2.example.com"), Some("pve2"), &[]),
            ],
            present("pve1"),
        ),
        case("odd_spacing", three(), present("pve1")),
        case(
            "keep_loopback",
            three(),
            Options {
                fix_loopback: false,
                ..present("pve1")
            },
        ),
        case("local_not_a_node", three(), present("pve9")),
        case("local_full_name_differs", three(), present("pve1.lan")),
        case(
            "absent",
            vec![spec(
                "10.0.0.3",
                Some("pve3.example.com"),
                Some("pve3"),
                &["pve3-ipmi"],
            )],
            Options {
                state: State::Absent,
                ..present("pve1")
            },
        ),
        case(
            "absent_keep_loopback",
            vec![spec(
                "10.0.0.3",
                Some("pve3.example.com"),
                Some("pve3"),
                &[],
            )],
            Options {
                state: State::Absent,
                fix_loopback: false,
                local_hostname: Some("pve3".to_string()),
            },
        ),
        case(
            "ip_on_two_lines",
            vec![
                spec(
                    "10.0.0.1",
                    Some("pve1.example.com"),
                    Some("pve1"),
                    &["pve1-corosync"],
                ),
                spec("10.0.0.2", Some("pve2.example.com"), Some("pve2"), &[]),
            ],
            present("pve2"),
        ),
        case("empty", three(), Options::default()),
        case("not_entries", three(), present("pve1")),
        case(
            "derived_short_name",
            vec![
                spec(
                    "10.0.0.1",
                    Some("pve1.example.com"),
                    None,
                    &["pve1-corosync"],
                ),
                spec("10.0.0.2", Some("pve2.example.com"), None, &[]),
            ],
            present("pve1"),
        ),
        case(
            "last_line_removed",
            vec![spec(
                "10.0.0.1",
                Some("pve1.example.com"),
                Some("pve1"),
                &[],
            )],
            Options::default(),
        ),
    ]
}

fn fixture(case: &str, ext: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(format!("{case}.{ext}"))
}

fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    for change in &plan.changes {
        out.push_str(&format!("change: {change}\n"));
    }
    for notice in &plan.notices {
        out.push_str(&format!("notice: {notice}\n"));
    }
    out
}

#[test]
fn fixtures() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let before = fs::read_to_string(fixture(case.name, "before")).unwrap();
        let nodes = nodes(&case.nodes);
        let result = plan(&before, &nodes, &case.options);
        let changes = describe(&result);
        if bless {
            fs::write(fixture(case.name, "after"), &result.content).unwrap();
            fs::write(fixture(case.name, "changes"), &changes).unwrap();
        }
        let after = fs::read_to_string(fixture(case.name, "after")).unwrap();
        let expected_changes = fs::read_to_string(fixture(case.name, "changes")).unwrap();
        if result.content != after {
            failures.push(format!(
                "{}: content\n--- expected\n{after}\n--- got\n{}",
                case.name, result.content
            ));
        }
        if changes != expected_changes {
            failures.push(format!(
                "{}: changes\n--- expected\n{expected_changes}\n--- got\n{changes}",
                case.name
            ));
        }
        if result.changed() == (result.content == before) {
            failures.push(format!(
                "{}: changed() disagrees with the content",
                case.name
            ));
        }

        let again = plan(&result.content, &nodes, &case.options);
        if again.changed() || again.content != result.content {
            failures.push(format!(
                "{}: not idempotent\n{}",
                case.name,
                describe(&again)
            ));
        }
        if again.notices != result.notices {
            failures.push(format!("{}: notices differ on the second run", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn plan_serialises_for_the_module_result() {
    let nodes = nodes(&three()[..1]);
    let result = plan(
        "127.0.1.1 pve1.example.com pve1\n",
        &nodes,
        &present("pve1"),
    );
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "content": "10.0.0.1 pve1.example.com pve1\n",
            "changes": [
                {
                    "action": "line_removed",
                    "line": 1,
                    "names": ["pve1.example.com", "pve1"],
                    "text": "127.0.1.1 pve1.example.com pve1"
                },
                {"action": "added", "line": 1, "text": "10.0.0.1 pve1.example.com pve1"}
            ],
            "notices": []
        })
    );
    let notice = plan("127.0.1.1 pve9\n", &nodes, &present("pve9")).notices;
    assert_eq!(
        serde_json::to_value(&notice).unwrap(),
        serde_json::json!([
            {"notice": "local_host_not_a_node", "hostname": "pve9"},
            {"notice": "local_name_on_loopback", "name": "pve9", "lines": [1], "only_loopback": true}
        ])
    );
}
