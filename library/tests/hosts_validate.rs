//! Every bad `nodes` input fails before anything is planned, with a
//! message naming the node and what to do.

use pve_cluster::hosts::{validate_nodes, Field, InputError, NameProblem, NodeSpec};

fn spec(ip: &str, fqdn: Option<&str>, name: Option<&str>, aliases: &[&str]) -> NodeSpec {
    NodeSpec {
        ip: ip.to_string(),
        fqdn: fqdn.map(str::to_string),
        name: name.map(str::to_string),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    }
}

fn good(i: u8) -> NodeSpec {
    spec(
        &format!("10.0.0.{i}"),
        Some(&format!("pve{i}.example.com")),
        Some(&format!("pve{i}")),
        &[],
    )
}

fn messages(specs: &[NodeSpec]) -> Vec<String> {
    match validate_nodes(specs) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn valid_nodes_pass_and_keep_case() {
    let nodes = validate_nodes(&[
        spec(
            "10.0.0.1",
            Some("PVE1.Example.com"),
            Some("PVE1"),
            &["corosync-1"],
        ),
        spec("2001:db8::2", Some("pve2.example.com"), None, &[]),
        spec("10.0.0.3", None, Some("pve3"), &[]),
    ])
    .unwrap();
    assert_eq!(
        nodes[0].canonical_line(),
        "10.0.0.1 PVE1.Example.com PVE1 corosync-1"
    );
    assert_eq!(
        nodes[1].canonical_line(),
        "2001:db8::2 pve2.example.com pve2"
    );
    assert_eq!(nodes[2].canonical_line(), "10.0.0.3 pve3");
}

#[test]
fn bad_inputs_have_clear_messages() {
    let long_label = "a".repeat(64);
    let long_name = format!("{}.example.com", ["abcdefghij"; 23].join("."));
    let cases: Vec<(Vec<NodeSpec>, Vec<String>)> = vec![
        (
            vec![],
            vec!["'nodes' is empty: give at least one node with 'ip' and 'fqdn' or 'name'".into()],
        ),
        (
            vec![good(1), spec("10.0.0.300", Some("pve2.example.com"), Some("pve2"), &[])],
            vec!["nodes[1] (pve2): ip '10.0.0.300' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets".into()],
        ),
        (
            vec![spec("10.0.0.1/24", Some("pve1.example.com"), None, &[])],
            vec!["nodes[0] (pve1.example.com): ip '10.0.0.1/24' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets".into()],
        ),
        (
            vec![spec("", None, Some("pve1"), &[])],
            vec!["nodes[0] (pve1): ip '' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets".into()],
        ),
        (
            vec![spec("127.0.1.1", Some("pve1.example.com"), Some("pve1"), &[])],
            vec!["nodes[0] (pve1): ip '127.0.1.1' is a loopback or unspecified address; a cluster node needs the address of its cluster network".into()],
        ),
        (
            vec![spec("::1", None, Some("pve1"), &[])],
            vec!["nodes[0] (pve1): ip '::1' is a loopback or unspecified address; a cluster node needs the address of its cluster network".into()],
        ),
        (
            vec![spec("0.0.0.0", None, Some("pve1"), &[])],
            vec!["nodes[0] (pve1): ip '0.0.0.0' is a loopback or unspecified address; a cluster node needs the address of its cluster network".into()],
        ),
        (
            vec![spec("10.0.0.1", None, None, &[])],
            vec!["nodes[0] (10.0.0.1): no names given; set 'fqdn', 'name' or both".into()],
        ),
        (
            vec![spec("10.0.0.1", Some("pve1"), None, &[])],
            vec!["nodes[0] (pve1): fqdn 'pve1' is not a valid host name: it is not fully qualified: an fqdn must contain a dot (e.g. 'pve1.example.com'); put a short name in 'name'".into()],
        ),
        (
            vec![spec("10.0.0.1", Some("pve1.example.com"), Some("pve1.example"), &[])],
            vec!["nodes[0] (pve1.example): name 'pve1.example' is not a valid host name: a short name must not contain a dot; put the full name in 'fqdn'".into()],
        ),
        (
            vec![spec("10.0.0.1", Some("pve_1.example.com"), Some("pve1"), &[])],
            vec!["nodes[0] (pve1): fqdn 'pve_1.example.com' is not a valid host name: it contains '_'; only letters a-z, digits, hyphens and dots between labels are allowed".into()],
        ),
        (
            vec![spec("10.0.0.1", Some("pve1.example.com."), Some("pve1"), &[])],
            vec!["nodes[0] (pve1): fqdn 'pve1.example.com.' is not a valid host name: it has an empty label (a leading, trailing or doubled dot)".into()],
        ),
        (
            vec![spec("10.0.0.1", None, Some("-pve1"), &[])],
            vec!["nodes[0] (-pve1): name '-pve1' is not a valid host name: its label '-pve1' starts or ends with a hyphen".into()],
        ),
        (
            vec![spec("10.0.0.1", None, Some(&long_label), &[])],
            vec![format!("nodes[0] ({long_label}): name '{long_label}' is not a valid host name: its label '{long_label}' is 64 characters long, the limit is 63")],
        ),
        (
            vec![spec("10.0.0.1", Some(&long_name), Some("pve1"), &[])],
            vec![format!("nodes[0] (pve1): fqdn '{long_name}' is not a valid host name: it is 264 characters long, the limit is 253")],
        ),
        (
            vec![spec("10.0.0.1", None, Some(""), &[])],
            vec!["nodes[0] (10.0.0.1): name '' is not a valid host name: it is empty".into()],
        ),
        (
            vec![spec("10.0.0.1", None, Some("pve1"), &["1.2.3.4"])],
            vec!["nodes[0] (pve1): alias '1.2.3.4' is not a valid host name: it looks like an IP address, not a name".into()],
        ),
        (
            vec![spec("10.0.0.1", None, Some("pve1"), &["localhost"])],
            vec!["nodes[0] (pve1): alias 'localhost' is not a valid host name: 'localhost' names are reserved for the loopback lines and never managed".into()],
        ),
        (
            vec![spec("10.0.0.1", Some("pve1.example.com"), Some("pve1"), &["PVE1"])],
            vec!["nodes[0] (pve1): the name 'PVE1' is given twice (names are compared without case); remove the repetition".into()],
        ),
        (
            vec![good(1), spec("10.0.0.2", Some("pve2.example.com"), Some("PVE1"), &[])],
            vec!["nodes[1] (PVE1): the name 'PVE1' is already used by nodes[0] (pve1) (names are compared without case); each name may belong to one node only".into()],
        ),
        (
            vec![good(1), good(2), spec("10.0.0.1", Some("pve3.example.com"), Some("pve3"), &[])],
            vec!["nodes[2] (pve3): the ip '10.0.0.1' is already used by nodes[0] (pve1); each node needs its own address".into()],
        ),
        (
            vec![
                spec("fd00::1", None, Some("pve1"), &[]),
                spec("FD00:0::1", None, Some("pve2"), &[]),
            ],
            vec!["nodes[1] (pve2): the ip 'FD00:0::1' is already used by nodes[0] (pve1); each node needs its own address".into()],
        ),
        (
            vec![spec("10.0.0.x", Some("pve1"), Some("pve 1"), &[])],
            vec![
                "nodes[0] (pve 1): ip '10.0.0.x' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets".into(),
                "nodes[0] (pve 1): fqdn 'pve1' is not a valid host name: it is not fully qualified: an fqdn must contain a dot (e.g. 'pve1.example.com'); put a short name in 'name'".into(),
                "nodes[0] (pve 1): name 'pve 1' is not a valid host name: it contains ' '; only letters a-z, digits, hyphens and dots between labels are allowed".into(),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (specs, expected) in cases {
        let got = messages(&specs);
        if got != expected {
            failures.push(format!("expected {expected:#?}\ngot {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn errors_are_typed_and_joined() {
    let err = validate_nodes(&[spec("x", Some("pve1"), Some("pve1"), &[])]).unwrap_err();
    assert_eq!(err.0.len(), 2);
    assert!(matches!(err.0[0], InputError::BadIp { index: 0, .. }));
    assert!(matches!(
        &err.0[1],
        InputError::BadName {
            field: Field::Fqdn,
            problem: NameProblem::NotQualified,
            ..
        }
    ));
    assert_eq!(err.to_string(), format!("{}; {}", err.0[0], err.0[1]));
}

#[test]
fn a_bad_fqdn_does_not_also_blame_the_derived_short_name() {
    let got = messages(&[spec("10.0.0.1", Some("-x.example.com"), None, &[])]);
    assert_eq!(got.len(), 1, "{got:?}");
}
