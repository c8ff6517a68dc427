//! Property tests of the SSH file planners on arbitrary files built from
//! real line shapes (plain and hashed hosts, options, markers, wildcards,
//! comments, garbage): no panic, planning again changes nothing, every key
//! wanted is then there, lines that do not concern the hosts are kept, and
//! no wanted name keeps another key of the same type; a node forgotten is
//! named by no line OpenSSH reads, and its root key is on no line.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the defaults.

mod common;
use common::cases;
use proptest::prelude::*;
use proptest::sample::select;
use pve_cluster::ssh::digest::{base64_encode, hmac_sha1};
use pve_cluster::ssh::{
    authorized_key_of, is_root_key_of, plan_authorized_keys, plan_forget_hosts,
    plan_forget_root_key, plan_known_hosts, HostEntry, PublicKey,
};

const TYPES: &[&str] = &["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"];
const NAMES: &[&str] = &[
    "pve1",
    "pve1.lab",
    "10.0.0.1",
    "pve2",
    "10.0.0.2",
    "other",
    "*.lab",
    "!pve1",
    "[pve1]:2222",
];

fn key(kind: &str, fill: u8) -> PublicKey {
    let mut raw = (kind.len() as u32).to_be_bytes().to_vec();
    raw.extend_from_slice(kind.as_bytes());
    raw.extend_from_slice(&[fill; 8]);
    PublicKey {
        kind: kind.to_string(),
        blob: base64_encode(&raw),
        comment: None,
    }
}

/// Whether a known_hosts pattern names `name`, as OpenSSH matches it.
fn names(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("|1|").and_then(|h| h.split_once('|')) {
        Some((salt, mac)) => {
            let salt = pve_cluster::ssh::digest::base64_decode(salt).unwrap_or_default();
            base64_encode(&hmac_sha1(&salt, name.as_bytes())) == mac
        }
        None => pattern.eq_ignore_ascii_case(name),
    }
}

fn host_pattern() -> impl Strategy<Value = String> {
    (select(NAMES), any::<bool>(), any::<[u8; 4]>()).prop_map(|(name, hash, salt)| {
        if hash && !name.contains(['*', '!', '[']) {
            format!(
                "|1|{}|{}",
                base64_encode(&salt),
                base64_encode(&hmac_sha1(&salt, name.as_bytes()))
            )
        } else {
            name.to_string()
        }
    })
}

fn known_hosts_line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (
            select(&["", "@revoked ", "@cert-authority ", " "][..]),
            prop::collection::vec(host_pattern(), 1..4),
            select(TYPES),
            0u8..3,
            select(&["", " comment", "\tx y"][..]),
        )
            .prop_map(|(marker, hosts, kind, fill, comment)| {
                format!("{marker}{} {}{comment}", hosts.join(","), key(kind, fill).bare())
            }),
        1 => select(&["", "# comment", "garbage", "pve1 ssh-ed25519 !!!", "pve1"][..]).prop_map(str::to_string),
    ]
}

fn file(line: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line, 0..8),
        select(&["\n", "\r\n"][..]),
        any::<bool>(),
    )
        .prop_map(|(lines, eol, last)| {
            let mut text = lines.join(eol);
            if last && !text.is_empty() {
                text.push_str(eol);
            }
            text
        })
}

fn entries() -> impl Strategy<Value = Vec<HostEntry>> {
    prop::collection::vec(
        (
            prop::collection::btree_set(
                select(&["pve1", "pve1.lab", "10.0.0.1", "pve2", "10.0.0.2"][..]),
                1..3,
            ),
            select(TYPES),
            0u8..3,
        ),
        0..3,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(names, kind, fill)| HostEntry {
                names: names.into_iter().map(str::to_string).collect(),
                key: key(kind, fill),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn known_hosts_plans_are_idempotent_and_keep_unrelated_lines(text in file(known_hosts_line()), hosts in entries()) {
        let plan = plan_known_hosts(&text, &hosts);
        let again = plan_known_hosts(&plan.content, &hosts);
        // Entries naming the same host with two keys of one type fight;
        // the planner must still settle when each name has one key.
        let consistent = hosts.iter().all(|a| hosts.iter().all(|b| {
            a.key.kind != b.key.kind || a.key.same_key(&b.key) || a.names.iter().all(|n| !b.names.contains(n))
        }));
        if consistent {
            prop_assert!(!again.changed(), "not idempotent: {:?} -> {:?}", plan.content, again);
            prop_assert_eq!(&again.content, &plan.content);
        }
        if hosts.is_empty() {
            prop_assert_eq!(&plan.content, &text);
        }
        if consistent {
            // No wanted name is left with another key of the same type.
            for line in plan.content.lines() {
                let mut words = line.split_whitespace();
                let (Some(patterns), Some(kind), Some(blob)) = (words.next(), words.next(), words.next()) else { continue };
                let understood = PublicKey::parse(&format!("{kind} {blob}")).is_ok();
                if !understood || patterns.starts_with('@') || patterns.starts_with('#') {
                    continue;
                }
                for entry in &hosts {
                    let named = patterns.split(',').any(|p| entry.names.iter().any(|n| names(p, n)));
                    prop_assert!(!(named && kind == entry.key.kind && blob != entry.key.blob), "stale key left: {:?}", line);
                }
            }
        }
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('@') {
                prop_assert!(plan.content.contains(line), "lost {:?}", line);
            }
        }
    }

    #[test]
    fn authorized_keys_gain_exactly_the_missing_keys(
        text in file(prop_oneof![
            (select(&["", "no-pty ", "from=\"a b\" "][..]), select(TYPES), 0u8..3).prop_map(|(o, k, f)| format!("{o}{}", key(k, f).line())),
            select(&["", "# c", "junk"][..]).prop_map(str::to_string),
        ]),
        wanted in prop::collection::vec((select(TYPES), 0u8..3), 0..4),
    ) {
        let wanted: Vec<PublicKey> = wanted.into_iter().map(|(k, f)| key(k, f)).collect();
        let plan = plan_authorized_keys(&text, &wanted);
        prop_assert!(plan.content.starts_with(text.as_str()));
        let have: Vec<PublicKey> = plan.content.lines().filter_map(authorized_key_of).collect();
        for w in &wanted {
            prop_assert!(have.iter().any(|h| h.same_key(w)));
        }
        let again = plan_authorized_keys(&plan.content, &wanted);
        prop_assert!(again.added.is_empty());
        prop_assert_eq!(again.content, plan.content);
    }

    #[test]
    fn a_forgotten_node_is_named_nowhere_and_the_rest_is_kept(
        text in file(known_hosts_line()),
        gone in prop::collection::btree_set(select(&["pve1", "pve1.lab", "10.0.0.1", "PVE2"][..]), 1..3),
    ) {
        let gone: Vec<String> = gone.into_iter().map(str::to_string).collect();
        let plan = plan_forget_hosts(&text, &gone);
        for line in plan.content.lines() {
            let Some(patterns) = line.split_whitespace().next() else { continue };
            if patterns.starts_with(['@', '#']) || PublicKey::parse(line[patterns.len()..].trim()).is_err() {
                continue;
            }
            for p in patterns.split(',') {
                prop_assert!(!gone.iter().any(|n| names(p, &n.to_ascii_lowercase())), "{:?} still names it", line);
            }
        }
        // Lines that name none of them stay byte for byte, in order.
        let names_gone = |l: &str| {
            let first = l.split_whitespace().next().unwrap_or("");
            !first.starts_with(['@', '#'])
                && PublicKey::parse(l.trim()[first.len()..].trim()).is_ok()
                && first.split(',').any(|p| gone.iter().any(|n| names(p, &n.to_ascii_lowercase())))
        };
        let out: Vec<&str> = plan.content.split_inclusive('\n').collect();
        let mut rest = out.iter();
        for line in text.split_inclusive('\n').filter(|l| !names_gone(l)) {
            prop_assert!(rest.any(|o| *o == line), "lost or moved {:?}", line);
        }
        let again = plan_forget_hosts(&plan.content, &gone);
        prop_assert!(!again.changed());
        prop_assert_eq!(again.content, plan.content);
    }

    #[test]
    fn a_forgotten_root_key_is_on_no_line_and_the_rest_is_kept(
        lines in prop::collection::vec(
            (select(&["", "no-pty ", "from=\"a b\" "][..]), select(TYPES), 0u8..3,
             select(&["", "root@pve1", "root@pve1.lab", "root@pve10", "root@PVE1", "admin@pve1"][..])),
            0..6),
    ) {
        let text: String = lines
            .iter()
            .map(|(o, k, f, c)| {
                let mut key = key(k, *f);
                key.comment = (!c.is_empty()).then(|| c.to_string());
                format!("{o}{}\n", key.line())
            })
            .collect();
        let plan = plan_forget_root_key(&text, "pve1");
        for line in plan.content.lines() {
            let key = authorized_key_of(line).expect("a key line");
            prop_assert!(!is_root_key_of(&key, "pve1"), "{:?}", line);
        }
        let expected: String = lines
            .iter()
            .filter(|(_, _, _, c)| !["root@pve1", "root@pve1.lab", "root@PVE1"].contains(c))
            .map(|(o, k, f, c)| {
                let mut key = key(k, *f);
                key.comment = (!c.is_empty()).then(|| c.to_string());
                format!("{o}{}\n", key.line())
            })
            .collect();
        prop_assert_eq!(&plan.content, &expected);
        prop_assert_eq!(plan.removed.len(), lines.len() - expected.lines().count());
    }
}
