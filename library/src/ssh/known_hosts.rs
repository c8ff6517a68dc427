//! Pinning host keys in a `known_hosts` file: one line per node for all its
//! names (`name,fqdn,ip type base64`), and no line left that gives one of
//! those names another key of the same type (a reinstalled node's old key).
//! Hashed names (`|1|salt|hmac`, Debian's default) are matched too. Lines
//! with markers (`@cert-authority`, `@revoked`), wildcard patterns and
//! lines that are not understood are kept as they are.

use super::digest::{base64_decode, hmac_sha1};
use super::PublicKey;

/// One host: every name it is reached by, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// The names and addresses the host is reached by, in the order a new
    /// line lists them.
    pub names: Vec<String>,
    /// The host key to pin for those names.
    pub key: PublicKey,
}

/// What pinning the hosts means for the file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsPlan {
    /// The new text (the old one when nothing changes).
    pub content: String,
    /// Lines appended.
    pub added: Vec<String>,
    /// Names whose old keys were taken out, with the line they were on.
    pub removed: Vec<String>,
}

impl KnownHostsPlan {
    /// Whether the file is to be written: a line added or an old key taken out.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

struct Line<'a> {
    /// Byte range of the host patterns in the line.
    hosts: (usize, usize),
    patterns: Vec<&'a str>,
    key: PublicKey,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let body = line.trim_end_matches(['\n', '\r']);
    let start = body.len() - body.trim_start().len();
    let rest = &body[start..];
    if rest.is_empty() || rest.starts_with('#') || rest.starts_with('@') {
        return None;
    }
    let end = start + rest.find([' ', '\t'])?;
    let key = PublicKey::parse(&body[end..]).ok()?;
    Some(Line {
        hosts: (start, end),
        patterns: body[start..end].split(',').collect(),
        key,
    })
}

/// Whether a host pattern of a `known_hosts` line names `name` (lower
/// case): plainly (case-insensitive) or hashed.
fn pattern_names(pattern: &str, name: &str) -> bool {
    if let Some(hashed) = pattern.strip_prefix("|1|") {
        let Some((salt, mac)) = hashed.split_once('|') else {
            return false;
        };
        match (base64_decode(salt), base64_decode(mac)) {
            (Some(salt), Some(mac)) => hmac_sha1(&salt, name.as_bytes())[..] == mac[..],
            _ => false,
        }
    } else {
        pattern.eq_ignore_ascii_case(name)
    }
}

/// Rewrites every host line without the patterns `drop` picks (it sees the
/// line's key and each pattern); a line left with no pattern goes. Other
/// lines stay byte for byte. Returns the text and, for each line changed,
/// `patterns type (was: line)`.
fn without_patterns(
    content: &str,
    mut drop: impl FnMut(&PublicKey, &str) -> bool,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(content.len() + 256);
    let mut removed = Vec::new();
    for raw in content.split_inclusive('\n') {
        let Some(line) = parse_line(raw) else {
            out.push_str(raw);
            continue;
        };
        let (dropped, keep): (Vec<&str>, Vec<&str>) =
            line.patterns.iter().partition(|p| drop(&line.key, p));
        if dropped.is_empty() {
            out.push_str(raw);
            continue;
        }
        removed.push(format!(
            "{} {} (was: {})",
            dropped.join(","),
            line.key.kind,
            raw.trim_end()
        ));
        if !keep.is_empty() {
            out.push_str(&raw[..line.hosts.0]);
            out.push_str(&keep.join(","));
            out.push_str(&raw[line.hosts.1..]);
        }
    }
    (out, removed)
}

/// Pins every entry's key for all its names.
pub fn plan_known_hosts(content: &str, entries: &[HostEntry]) -> KnownHostsPlan {
    let mut covered: Vec<Vec<bool>> = entries.iter().map(|e| vec![false; e.names.len()]).collect();
    // A pattern goes when it names a host with another key of the same type.
    let (mut out, removed) = without_patterns(content, |key, pattern| {
        let mut stale = false;
        for (e, entry) in entries.iter().enumerate() {
            for (n, name) in entry.names.iter().enumerate() {
                if !pattern_names(pattern, name) {
                    continue;
                }
                if entry.key.same_key(key) {
                    covered[e][n] = true;
                } else if entry.key.kind == key.kind {
                    stale = true;
                }
            }
        }
        stale
    });
    let mut added = Vec::new();
    for (entry, cov) in entries.iter().zip(&covered) {
        if entry.names.is_empty() || cov.iter().all(|c| *c) {
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let line = format!("{} {}", entry.names.join(","), entry.key.bare());
        out.push_str(&line);
        out.push('\n');
        added.push(line);
    }
    KnownHostsPlan {
        content: out,
        added,
        removed,
    }
}

/// Takes every name of `names` out of the file (plain or hashed): a line
/// left with no name goes; others keep their remaining names. For a node
/// that left the cluster.
pub fn plan_forget_hosts(content: &str, names: &[String]) -> KnownHostsPlan {
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let (content, removed) = without_patterns(content, |_, pattern| {
        names.iter().any(|n| pattern_names(pattern, n))
    });
    KnownHostsPlan {
        content,
        added: Vec::new(),
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::super::digest::base64_encode;
    use super::super::tests::key;
    use super::*;

    fn entry(names: &[&str], fill: u8) -> HostEntry {
        HostEntry {
            names: names.iter().map(|s| s.to_string()).collect(),
            key: key("ssh-ed25519", fill, None),
        }
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        format!(
            "|1|{}|{}",
            base64_encode(salt),
            base64_encode(&hmac_sha1(salt, name.as_bytes()))
        )
    }

    #[test]
    fn appends_one_line_per_host_and_is_idempotent() {
        let entries = [
            entry(&["pve1", "pve1.lab", "10.0.0.1"], 1),
            entry(&["pve2"], 2),
        ];
        let plan = plan_known_hosts("# keep\n", &entries);
        let k1 = entries[0].key.bare();
        let k2 = entries[1].key.bare();
        assert_eq!(
            plan.content,
            format!("# keep\npve1,pve1.lab,10.0.0.1 {k1}\npve2 {k2}\n")
        );
        assert_eq!(plan.added.len(), 2);
        let again = plan_known_hosts(&plan.content, &entries);
        assert!(!again.changed());
        assert_eq!(again.content, plan.content);
    }

    #[test]
    fn a_host_known_under_hashed_or_separate_lines_counts_as_pinned() {
        let e = entry(&["pve1", "10.0.0.1"], 1);
        let k = e.key.bare();
        let content = format!(
            "{} {k}\nPVE1 {k} comment\n",
            hashed("10.0.0.1", b"0123456789abcdef0123")
        );
        let plan = plan_known_hosts(&content, &[e]);
        assert!(!plan.changed(), "{plan:?}");
    }

    #[test]
    fn takes_out_an_old_key_of_the_same_type_but_keeps_the_other_hosts() {
        let e = entry(&["pve1", "10.0.0.1"], 1);
        let old = key("ssh-ed25519", 9, None).bare();
        let rsa = key("ssh-rsa", 9, None).bare();
        let content = format!(
            "pve1,other {old}\n{} {old}\npve1 {rsa}\n@revoked pve1 {old}\n*.lab {old}\n",
            hashed("10.0.0.1", b"salt-salt-salt-salt!")
        );
        let plan = plan_known_hosts(&content, std::slice::from_ref(&e));
        assert_eq!(
            plan.content,
            format!(
                "other {old}\npve1 {rsa}\n@revoked pve1 {old}\n*.lab {old}\npve1,10.0.0.1 {}\n",
                e.key.bare()
            )
        );
        assert_eq!(plan.removed.len(), 2);
        assert!(plan.removed[0].starts_with("pve1 ssh-ed25519 (was: pve1,other "));
        assert!(!plan_known_hosts(&plan.content, &[e]).changed());
    }

    #[test]
    fn keeps_lines_it_does_not_understand_and_a_missing_final_newline() {
        let e = entry(&["pve1"], 1);
        let plan = plan_known_hosts(
            "garbage\n\n   # c\nx ssh-ed25519 !!!",
            std::slice::from_ref(&e),
        );
        assert_eq!(
            plan.content,
            format!(
                "garbage\n\n   # c\nx ssh-ed25519 !!!\npve1 {}\n",
                e.key.bare()
            )
        );
    }

    #[test]
    fn a_node_that_left_is_forgotten_by_every_name_plain_or_hashed() {
        let old = key("ssh-rsa", 4, None);
        let other = key("ssh-ed25519", 5, None);
        let text = format!(
            "pve4 {}\n10.0.0.4 {}\npve3,pve4,10.0.0.3 {}\n{} {}\n@cert-authority * {}\n",
            old.bare(),
            old.bare(),
            other.bare(),
            hashed("pve4", b"salt-of-16-bytes"),
            old.bare(),
            other.bare(),
        );
        let plan = plan_forget_hosts(&text, &["PVE4".into(), "10.0.0.4".into()]);
        assert_eq!(
            plan.content,
            format!(
                "pve3,10.0.0.3 {}\n@cert-authority * {}\n",
                other.bare(),
                other.bare()
            )
        );
        assert_eq!(plan.removed.len(), 4, "{:?}", plan.removed);
        assert!(plan.changed());
        let again = plan_forget_hosts(&plan.content, &["pve4".into(), "10.0.0.4".into()]);
        assert_eq!(again.content, plan.content);
        assert!(!again.changed());
    }
}
