//! Properties over many generated files: parsing renders back the same
//! bytes, planning never panics, a second plan changes nothing, and the
//! nodes' names end up only on their own lines, also in a 10,000-line file.

use pve_cluster::hosts::{
    parse_entry, plan, validate_nodes, HostsFile, Node, NodeSpec, Options, State,
};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ADDRESSES: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.99",
    "127.0.0.1",
    "127.0.1.1",
    "::1",
    "fd00::1",
    "fd00:0::2",
    "ff02::1",
    "fe80::1%eth0",
    "not-an-ip",
    "#",
    "",
    "10.0.0.01",
];
const NAMES: &[&str] = &[
    "pve1",
    "PVE1",
    "pve1.example.com",
    "pve2",
    "Pve2.Example.Com",
    "pve3",
    "pve3-ipmi",
    "localhost",
    "ip6-localhost",
    "nas",
    "nas.example.com",
    "pve1#x",
    "é",
    "#c",
    "pve9",
];
const SEPARATORS: &[&str] = &[" ", "  ", "\t", " \t ", "\r", "\x0b"];
const EOLS: &[&str] = &["\n", "\n", "\n", "\r\n", ""];

fn random_file(rng: &mut Rng, lines: usize) -> String {
    let mut out = String::new();
    for i in 0..lines {
        if rng.below(8) == 0 {
            out.push_str(rng.pick(&["", "# comment", "   ", "\t# indented"]));
        } else {
            if rng.below(6) == 0 {
                out.push_str(rng.pick(SEPARATORS));
            }
            out.push_str(rng.pick(ADDRESSES));
            for _ in 0..rng.below(5) {
                out.push_str(rng.pick(SEPARATORS));
                out.push_str(rng.pick(NAMES));
            }
            if rng.below(4) == 0 {
                out.push_str(rng.pick(&[" # trailing", "#t", "  "]));
            }
        }
        let eol = if i + 1 == lines {
            rng.pick(EOLS)
        } else {
            rng.pick(&EOLS[..4])
        };
        out.push_str(eol);
    }
    out
}

fn spec(ip: &str, fqdn: &str, name: &str, aliases: &[&str]) -> NodeSpec {
    NodeSpec {
        ip: ip.to_string(),
        fqdn: Some(fqdn.to_string()),
        name: Some(name.to_string()),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    }
}

fn node_sets() -> Vec<Vec<Node>> {
    let sets = [
        vec![
            spec("10.0.0.1", "pve1.example.com", "pve1", &[]),
            spec("10.0.0.2", "pve2.example.com", "pve2", &[]),
            spec("10.0.0.3", "pve3.example.com", "pve3", &["pve3-ipmi"]),
        ],
        vec![
            spec("fd00::1", "PVE1.example.com", "Pve1", &[]),
            spec("fd00::2", "pve2.example.com", "pve2", &["nas"]),
        ],
        vec![spec("10.0.0.2", "pve1.example.com", "pve1", &[])],
    ];
    sets.iter().map(|s| validate_nodes(s).unwrap()).collect()
}

fn options(rng: &mut Rng) -> Options {
    Options {
        state: if rng.below(4) == 0 {
            State::Absent
        } else {
            State::Present
        },
        fix_loopback: rng.below(3) != 0,
        local_hostname: match rng.below(4) {
            0 => None,
            1 => Some("pve1".into()),
            2 => Some("pve1.lan".into()),
            _ => Some("pve9".into()),
        },
    }
}

/// Where each node's names appear in `content`: (node, line, is_loopback).
fn check_placement(content: &str, nodes: &[Node], options: &Options) -> Result<(), String> {
    for (i, line) in content.split('\n').enumerate() {
        let Some(entry) = parse_entry(line.strip_suffix('\r').unwrap_or(line)) else {
            continue;
        };
        let text = line.strip_suffix('\r').unwrap_or(line);
        let loopback = entry.ip.is_loopback()
            || matches!(entry.ip, std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
        if loopback && !options.fix_loopback {
            continue;
        }
        for span in &entry.names {
            let name = &text[span.clone()];
            for node in nodes {
                if node.names().iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    let ok = options.state == State::Present && entry.ip == node.ip();
                    if !ok {
                        return Err(format!("line {}: '{name}' left on '{text}'", i + 1));
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn generated_files_keep_every_property() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sets = node_sets();
    for round in 0..3000 {
        let lines = rng.below(12);
        let before = random_file(&mut rng, lines);
        assert_eq!(HostsFile::parse(&before).render(), before, "round {round}");
        let nodes = &sets[rng.below(sets.len())];
        let options = options(&mut rng);
        let first = plan(&before, nodes, &options);
        assert_eq!(
            first.changed(),
            first.content != before,
            "round {round}: {before:?}"
        );
        let second = plan(&first.content, nodes, &options);
        assert!(
            !second.changed() && second.content == first.content,
            "round {round}: not idempotent\nbefore {before:?}\nafter {:?}\nagain {:?}",
            first.content,
            second.changes
        );
        if let Err(e) = check_placement(&first.content, nodes, &options) {
            panic!(
                "round {round}: {e}\nbefore {before:?}\nafter {:?}",
                first.content
            );
        }
        if options.state == State::Present {
            for node in nodes {
                let canonical = node.canonical_line();
                let found = first.content.lines().any(|l| {
                    let l = l.trim_end_matches('\r');
                    parse_entry(l).is_some_and(|e| {
                        e.ip == node.ip()
                            && e.names.len() >= node.names().len()
                            && e.names
                                .iter()
                                .zip(node.names())
                                .all(|(s, n)| &l[s.clone()] == n)
                    })
                });
                assert!(
                    found,
                    "round {round}: no line for {canonical}\n{:?}",
                    first.content
                );
            }
        }
    }
}

fn big_file(lines: usize) -> String {
    let mut out = String::from("127.0.0.1 localhost\n127.0.1.1 pve1.example.com pve1\n");
    for i in 0..lines.saturating_sub(4) {
        match i % 10 {
            0 => out.push_str("# a comment line\n"),
            1 => out.push('\n'),
            2 => out.push_str(&format!(
                "fd00::{:x}\thost{i}.v6.example.com host{i}-v6\n",
                i
            )),
            _ => out.push_str(&format!(
                "172.{}.{}.{} host{i}.example.com host{i} alias{i}   # box {i}\n",
                16 + i / 65536 % 16,
                i / 256 % 256,
                i % 256
            )),
        }
    }
    out.push_str("10.0.0.99 pve2.example.com pve2\n10.0.0.3 pve3\n");
    out
}

#[test]
fn ten_thousand_lines_are_planned_correctly() {
    let content = big_file(10_000);
    assert_eq!(content.lines().count(), 10_000);
    let nodes = node_sets().remove(0);
    let options = Options {
        local_hostname: Some("pve1".into()),
        ..Options::default()
    };
    let result = plan(&content, &nodes, &options);
    assert_eq!(result.changes.len(), 5, "{:#?}", result.changes);
    assert!(!plan(&result.content, &nodes, &options).changed());
}
