//! corosync.conf reading, typed access and PVE-format writing.

mod common;
use common::fixture;
use pve_cluster::pve::corosync_conf::{ConfError, CorosyncConf};

struct Case {
    /// What real file the fixture reproduces.
    what: &'static str,
    file: &'static str,
    /// Whether PVE's writer produced the file as it is (then render is byte-identical).
    pve_written: bool,
    cluster_name: &'static str,
    config_version: u64,
    /// (name, nodeid, ring0_addr), file order
    nodes: &'static [(&'static str, u32, &'static str)],
    /// interface numbers (linknumber or ringnumber), file order
    links: &'static [u32],
    transport: Option<&'static str>,
    qdevice: bool,
}

const CASES: &[Case] = &[
    Case {
        what: "PVE >= 6.1 file as written by pvecm create + join (reference sample)",
        file: "corosync-conf-reference-pve61.conf",
        pve_written: true,
        cluster_name: "mycluster",
        config_version: 2,
        nodes: &[("pve1", 1, "192.168.1.11"), ("pve2", 2, "192.168.1.12")],
        links: &[0],
        transport: None,
        qdevice: false,
    },
    Case {
        what: "real PVE 8 2-node file (the capture lost the final blank line)",
        file: "corosync-conf-real-pve8-2node.conf",
        pve_written: false,
        cluster_name: "ClusterProxmox",
        config_version: 2,
        nodes: &[("proxmox", 1, "192.168.1.1"), ("proxmox2", 2, "192.168.1.2")],
        links: &[0],
        transport: None,
        qdevice: false,
    },
    Case {
        what: "PVE 4.4 era: udpu, bindnetaddr/ringnumber interface, blank lines between node blocks, hostnames as ring0_addr",
        file: "corosync-conf-pve4-udpu.conf",
        pve_written: false,
        cluster_name: "vpncluster",
        config_version: 5,
        nodes: &[("prx01", 1, "prx01"), ("prx02", 2, "prx02"), ("prx03", 3, "prx03")],
        links: &[0],
        transport: Some("udpu"),
        qdevice: false,
    },
    Case {
        what: "IPv6 3-node, nodes sorted by name so node ids read 2, 3, 1",
        file: "corosync-conf-ipv6-3node.conf",
        pve_written: true,
        cluster_name: "v6clu",
        config_version: 4,
        nodes: &[
            ("node-a", 2, "fdd2:3918:5fad::2"),
            ("node-b", 3, "fdd2:3918:5fad::3"),
            ("node-c", 1, "fdd2:3918:5fad::1"),
        ],
        links: &[0],
        transport: None,
        qdevice: false,
    },
    Case {
        what: "PVE 9.1 two links with knet_link_priority, token_coefficient, QDevice in quorum.device",
        file: "corosync-conf-multilink-qdevice.conf",
        pve_written: true,
        cluster_name: "krnn",
        config_version: 3,
        nodes: &[("pve01", 1, "10.0.0.1"), ("pve02", 2, "10.0.0.2")],
        links: &[0, 1],
        transport: None,
        qdevice: true,
    },
    Case {
        what: "admin-edited file with comments (full-line and trailing)",
        file: "corosync-conf-matrix-3node.conf",
        pve_written: false,
        cluster_name: "Matrix",
        config_version: 5,
        nodes: &[("foxtrot", 1, "10.20.0.1"), ("golf", 2, "10.20.0.2"), ("hotel", 3, "10.20.0.3")],
        links: &[0],
        transport: None,
        qdevice: false,
    },
];

#[test]
fn conf_layouts_and_round_trip() {
    for case in CASES {
        let w = case.what;
        let text = fixture(case.file);
        let conf = CorosyncConf::parse(&text).unwrap_or_else(|e| panic!("{w}: {e}"));
        assert_eq!(conf.cluster_name(), Some(case.cluster_name), "{w}");
        assert_eq!(conf.config_version(), Some(case.config_version), "{w}");
        assert_eq!(conf.transport(), case.transport, "{w}");
        let nodes: Vec<_> = conf
            .nodes()
            .iter()
            .map(|n| {
                (
                    n.name.clone().unwrap(),
                    n.nodeid.unwrap(),
                    n.ring0_addr().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<_> = case
            .nodes
            .iter()
            .map(|(a, b, c)| (a.to_string(), *b, c.to_string()))
            .collect();
        assert_eq!(nodes, want, "{w}");
        let links: Vec<_> = conf
            .interfaces()
            .iter()
            .map(|i| i.number().unwrap())
            .collect();
        assert_eq!(links, case.links, "{w}");
        assert_eq!(conf.quorum_device().is_some(), case.qdevice, "{w}");

        let rendered = conf.render();
        if case.pve_written {
            assert_eq!(
                rendered, text,
                "{w}: PVE-written file must render byte for byte"
            );
        }
        // the rendering reads back to the same tree (up to PVE's ordering) and is stable
        let again = CorosyncConf::parse(&rendered).unwrap();
        assert_eq!(again.render(), rendered, "{w}");
        assert_eq!(again.nodes().len(), conf.nodes().len(), "{w}");
        assert_eq!(again.cluster_name(), conf.cluster_name(), "{w}");
    }
}

#[test]
fn real_capture_renders_like_pve_writes_it() {
    // the published copy only lost the blank line PVE writes after the last section
    let text = fixture("corosync-conf-real-pve8-2node.conf");
    let conf = CorosyncConf::parse(&text).unwrap();
    assert_eq!(conf.render(), format!("{text}\n"));
}

#[test]
fn pve4_file_is_normalised_to_pve_writer_format() {
    let conf = CorosyncConf::parse(&fixture("corosync-conf-pve4-udpu.conf")).unwrap();
    let out = conf.render();
    // blank lines between node blocks dropped; interface sorted among totem keys
    assert!(out.contains("  }\n  node {\n    name: prx02"), "{out}");
    assert!(out.contains(
        "totem {\n  cluster_name: vpncluster\n  config_version: 5\n  interface {\n    bindnetaddr: 10.10.10.101\n    ringnumber: 0\n  }\n  ip_version: ipv4\n"
    ), "{out}");
    let iface = &conf.interfaces()[0];
    assert_eq!((iface.ringnumber, iface.linknumber), (Some(0), None));
    assert_eq!(iface.bindnetaddr.as_deref(), Some("10.10.10.101"));
}

#[test]
fn typed_accessors() {
    let conf = CorosyncConf::parse(&fixture("corosync-conf-multilink-qdevice.conf")).unwrap();
    let ifaces = conf.interfaces();
    assert_eq!(ifaces[0].knet_link_priority, Some(20));
    assert_eq!(ifaces[1].knet_link_priority, Some(10));
    let n = &conf.nodes()[1];
    assert_eq!(
        n.ring_addrs,
        [(0, "10.0.0.2".to_string()), (1, "10.1.0.2".to_string())]
    );
    assert_eq!((n.quorum_votes, n.votes()), (Some(1), 1));
    let q = conf.quorum_device().unwrap();
    assert_eq!(q.model.as_deref(), Some("net"));
    assert_eq!(q.votes, Some(1));
    assert_eq!(q.algorithm.as_deref(), Some("ffsplit"));
    assert_eq!(q.host.as_deref(), Some("10.0.0.50"));
    assert_eq!(conf.totem_value("token_coefficient"), Some("125"));
    assert_eq!(conf.totem_value("secauth"), Some("on"));
    assert!(!conf.two_node());

    let conf = CorosyncConf::parse("quorum {\n  provider: corosync_votequorum\n  two_node: 1\n}\n")
        .unwrap();
    assert!(conf.two_node());
    assert_eq!(conf.cluster_name(), None);
    assert!(conf.nodes().is_empty());
    // a node without name is indexed by ring0_addr, as PVE does
    let conf =
        CorosyncConf::parse("nodelist {\n node {\n  ring0_addr: 10.0.0.9\n  nodeid: 9\n }\n}\n")
            .unwrap();
    assert_eq!(conf.nodes()[0].name.as_deref(), Some("10.0.0.9"));
    assert_eq!(conf.nodes()[0].votes(), 1);
}

#[test]
fn editing_totem() {
    let text = fixture("corosync-conf-reference-pve61.conf");
    let mut conf = CorosyncConf::parse(&text).unwrap();
    assert_eq!(conf.bump_config_version(), Ok(3));
    conf.set_totem("token", "10000").unwrap();
    conf.set_totem("secauth", "on").unwrap();
    let out = conf.render();
    let want = text
        .replace("config_version: 2", "config_version: 3")
        .replace("  secauth: on\n", "  secauth: on\n  token: 10000\n");
    assert_eq!(out, want);

    // values that would not read back the same are refused
    for bad in ["", "a b", "x{", "}", "#c", "a\nb"] {
        assert!(
            matches!(
                conf.set_totem("token", bad),
                Err(ConfError::InvalidToken { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(conf.set_totem("token:", "1").is_err());
    let e = conf.set_totem("token", "a b").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid corosync.conf value 'a b': it must be one word without whitespace, '{', '}' or '#'"
    );

    // no totem section yet: created; no config_version: refused like PVE
    let mut bare = CorosyncConf::parse("logging {\n  debug: off\n}\n").unwrap();
    assert_eq!(bare.bump_config_version(), Err(ConfError::NoConfigVersion));
    bare.set_totem("config_version", "1").unwrap();
    assert_eq!(bare.bump_config_version(), Ok(2));
    assert_eq!(
        bare.render(),
        "logging {\n  debug: off\n}\n\ntotem {\n  config_version: 2\n}\n\n"
    );
}

#[test]
fn writer_sorts_nodes_by_name_and_sections_like_pve() {
    let text = "totem {\n version: 2\n cluster_name: c\n config_version: 1\n}\nnodelist {\n node {\n  nodeid: 2\n  name: zulu\n }\n node {\n  name: alpha\n  nodeid: 1\n }\n}\nlogging {\n to_syslog: yes\n}\n";
    let conf = CorosyncConf::parse(text).unwrap();
    assert_eq!(
        conf.render(),
        "logging {\n  to_syslog: yes\n}\n\nnodelist {\n  node {\n    name: alpha\n    nodeid: 1\n  }\n  node {\n    name: zulu\n    nodeid: 2\n  }\n}\n\ntotem {\n  cluster_name: c\n  config_version: 1\n  version: 2\n}\n\n"
    );
    // later keys win; a non-repeatable section given twice is replaced, as in PVE
    let conf = CorosyncConf::parse("totem {\n a: 1\n a: 2\n}\ntotem {\n b: 3\n}\n").unwrap();
    assert_eq!(conf.render(), "totem {\n  b: 3\n}\n\n");
    let conf = CorosyncConf::parse("t {\n a: 1\n a: 2\n}\n").unwrap();
    assert_eq!(conf.render(), "t {\n  a: 2\n}\n\n");
}

#[test]
fn parse_errors() {
    let cases: &[(&str, ConfError, &str)] = &[
        (
            "}\n",
            ConfError::UnexpectedClose { line: 1 },
            "corosync.conf parse error on line 1: unexpected '}'",
        ),
        (
            "totem {\n  version 2\n}\n",
            ConfError::MissingColon {
                line: 2,
                key: "version".into(),
            },
            "corosync.conf parse error on line 2: missing ':' after key 'version'",
        ),
        (
            "totem {\n  version:",
            ConfError::MissingValue {
                line: 2,
                key: "version".into(),
            },
            "corosync.conf parse error on line 2: no value for 'version'",
        ),
        (
            "logging {\n}\ntotem {\n  version: 2\n",
            ConfError::UnclosedSection {
                name: "totem".into(),
                line: 3,
            },
            "corosync.conf parse error: section 'totem' opened on line 3 is never closed",
        ),
    ];
    for (text, want, msg) in cases {
        let e = CorosyncConf::parse(text).unwrap_err();
        assert_eq!(&e, want);
        assert_eq!(e.to_string(), *msg);
    }
    // comments and empty input
    assert_eq!(
        CorosyncConf::parse("# only a comment\n").unwrap(),
        CorosyncConf::default()
    );
    assert_eq!(CorosyncConf::parse("").unwrap().render(), "");
}

#[test]
fn parser_never_panics_on_odd_input() {
    let base = fixture("corosync-conf-multilink-qdevice.conf");
    for cut in 0..base.len() {
        if let Some(prefix) = base.get(..cut) {
            if let Ok(conf) = CorosyncConf::parse(prefix) {
                let _ = conf.render();
                let _ = conf.nodes();
                let _ = conf.interfaces();
                let _ = conf.quorum_device();
            }
        }
    }
    for odd in [
        "{", "{ {", "a: {", "a {", "} {", ":", ": :", "é: ü", "\r\n\r\n", "a:\tb", "#",
    ] {
        let _ = CorosyncConf::parse(odd).map(|c| c.render());
    }
}
