//! Checking that names resolve as a hosts file says, the pure part.
//!
//! The caller asks the system resolver (`getent ahosts NAME`,
//! `getent hosts IP`, so NSS and DNS count as they do for corosync and
//! pmxcfs), parses the answers here, and [`judge`]s each answer against
//! what is expected and against what the hosts file alone would answer.
//! The verdict is a [`Row`] of the table the module returns, with a hint
//! when it failed. In check mode the file is not written yet: a wrong
//! answer that the hosts file gives today, and that the planned content
//! fixes, is [`Status::Pending`], not failed.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::hosts::{is_loopback, parse_entry};

/// The addresses of `getent ahosts NAME`'s output, without repetition, in
/// the resolver's order. Each address appears on up to three lines
/// (`STREAM`, `DGRAM`, `RAW`); lines that do not start with an address are
/// skipped.
pub fn parse_ahosts(stdout: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for line in stdout.lines() {
        let Some(ip) = line
            .split_ascii_whitespace()
            .next()
            .and_then(|f| f.parse::<IpAddr>().ok())
        else {
            continue;
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The names of `getent hosts IP`'s output (`IP NAME...`): every name of
/// the first line that starts with an address.
pub fn parse_hosts(stdout: &str) -> Vec<String> {
    for line in stdout.lines() {
        let mut fields = line.split_ascii_whitespace();
        if fields
            .next()
            .and_then(|f| f.parse::<IpAddr>().ok())
            .is_some()
        {
            return fields.map(str::to_string).collect();
        }
    }
    Vec::new()
}

/// Every line of a hosts file that gives `name` (without ASCII case) an
/// address: its 1-based number and the address, in file order.
pub fn file_addresses(content: &str, name: &str) -> Vec<(usize, IpAddr)> {
    content
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let entry = parse_entry(line)?;
            entry
                .names
                .iter()
                .any(|span| {
                    line.get(span.clone())
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .then_some((i + 1, entry.ip))
        })
        .collect()
}

/// The first line of a hosts file for `ip` (compared as addresses): its
/// 1-based number and its names, as the files backend answers a reverse
/// lookup.
pub fn file_names(content: &str, ip: IpAddr) -> Option<(usize, Vec<String>)> {
    content.lines().enumerate().find_map(|(i, line)| {
        let entry = parse_entry(line)?;
        (entry.ip == ip).then(|| {
            let names = entry
                .names
                .iter()
                .filter_map(|span| line.get(span.clone()).map(str::to_string))
                .collect();
            (i + 1, names)
        })
    })
}

/// The sources of the `hosts:` line of an nsswitch.conf, in order, without
/// the `[STATUS=action]` items. `None` when there is no such line.
pub fn nsswitch_hosts(content: &str) -> Option<Vec<String>> {
    for line in content.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some(rest) = line.trim_start().strip_prefix("hosts:") else {
            continue;
        };
        let mut sources = Vec::new();
        let mut in_action = false;
        for token in rest.split_ascii_whitespace() {
            if token.starts_with('[') {
                in_action = !token.ends_with(']');
                continue;
            }
            if in_action {
                in_action = !token.ends_with(']');
                continue;
            }
            sources.push(token.to_string());
        }
        return Some(sources);
    }
    None
}

/// Whether a DNS source (`dns`, `resolve`) comes before `files`, or stands
/// without it.
pub fn dns_before_files(sources: &[String]) -> bool {
    let dns = sources.iter().position(|s| s == "dns" || s == "resolve");
    let files = sources.iter().position(|s| s == "files");
    match (dns, files) {
        (Some(d), Some(f)) => d < f,
        (Some(_), None) => true,
        _ => false,
    }
}

/// What a row checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A node's name must resolve to the node's address.
    Forward,
    /// A node's address must resolve back to one of its names.
    Reverse,
    /// The local host name must resolve to a non-loopback address.
    Local,
}

/// The verdict of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The resolver answers as it must.
    Ok,
    /// The resolver answers wrongly, and the planned content does not fix it.
    Failed,
    /// Wrong today, right once the planned content is written (check mode).
    Pending,
}

/// One check: what is looked up and what the answer must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `name` must resolve to `ip` first.
    Forward {
        /// The node's name.
        name: String,
        /// The node's address.
        ip: IpAddr,
    },
    /// `ip` must resolve to one of `names`.
    Reverse {
        /// The node's address.
        ip: IpAddr,
        /// The node's names.
        names: Vec<String>,
    },
    /// `name`, the local host name, must resolve to a non-loopback
    /// address first.
    Local {
        /// The local host name.
        name: String,
    },
}

/// The resolver's answer to a check: addresses for a name, names for an
/// address. Empty when the key was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The addresses a name resolved to, in the resolver's order.
    Addresses(Vec<IpAddr>),
    /// The names an address resolved to.
    Names(Vec<String>),
}

/// What the rows' hints may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    /// The hosts file the module manages, as named by the user.
    pub path: &'a str,
    /// The file's current content.
    pub current: &'a str,
    /// The content it will have (equal to `current` once written).
    pub planned: &'a str,
    /// Whether the planned content is not written yet (check mode).
    pub pending_write: bool,
    /// The sources of nsswitch.conf's `hosts:` line, if it could be read.
    pub nsswitch: Option<&'a [String]>,
}

/// One row of the `resolution` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The name or address looked up.
    pub name: String,
    /// What the row checks.
    pub kind: Kind,
    /// What it must resolve to, in words: an address, `one of: a, b`, or
    /// `a non-loopback address`.
    pub expected: String,
    /// What the resolver answered: addresses, or names for a reverse check.
    pub resolved: Vec<String>,
    /// True only for [`Status::Ok`].
    pub ok: bool,
    /// The verdict.
    pub status: Status,
    /// Why it failed or is pending, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resolved = if self.resolved.is_empty() {
            "nothing".to_string()
        } else {
            self.resolved.join(" ")
        };
        write!(
            f,
            "{} -> {resolved} (expected {})",
            self.name, self.expected
        )
    }
}

/// Judges one answer.
pub fn judge(check: &Check, answer: &Answer, setting: &Setting<'_>) -> Row {
    match check {
        Check::Forward { name, ip } => {
            let got = addresses(answer);
            let status = forward_status(name, got, setting, |first| first == *ip, |a| a == *ip);
            let hint = (status != Status::Ok).then(|| forward_hint(name, Some(*ip), got, setting));
            row(
                name.clone(),
                Kind::Forward,
                ip.to_string(),
                got,
                status,
                hint,
            )
        }
        Check::Local { name } => {
            let got = addresses(answer);
            let status = forward_status(
                name,
                got,
                setting,
                |first| !is_loopback(first),
                |a| !is_loopback(a),
            );
            let hint = (status != Status::Ok).then(|| forward_hint(name, None, got, setting));
            row(
                name.clone(),
                Kind::Local,
                "a non-loopback address".to_string(),
                got,
                status,
                hint,
            )
        }
        Check::Reverse { ip, names } => {
            let got: &[String] = match answer {
                Answer::Names(n) => n,
                Answer::Addresses(_) => &[],
            };
            let matches = |list: &[String]| {
                list.iter()
                    .any(|n| names.iter().any(|m| m.eq_ignore_ascii_case(n)))
            };
            let status = if matches(got) {
                Status::Ok
            } else {
                let now = file_names(setting.current, *ip).map(|(_, n)| n);
                let from_file = same_names(got, now.as_deref().unwrap_or(&[]));
                let later = file_names(setting.planned, *ip).map(|(_, n)| n);
                if setting.pending_write && from_file && later.as_deref().is_some_and(matches) {
                    Status::Pending
                } else {
                    Status::Failed
                }
            };
            let hint = (status != Status::Ok).then(|| reverse_hint(*ip, names, got, setting));
            let expected = format!("one of: {}", names.join(", "));
            Row {
                name: ip.to_string(),
                kind: Kind::Reverse,
                expected,
                resolved: got.to_vec(),
                ok: status == Status::Ok,
                status,
                hint,
            }
        }
    }
}

fn addresses(answer: &Answer) -> &[IpAddr] {
    match answer {
        Answer::Addresses(a) => a,
        Answer::Names(_) => &[],
    }
}

fn row(
    name: String,
    kind: Kind,
    expected: String,
    got: &[IpAddr],
    status: Status,
    hint: Option<String>,
) -> Row {
    Row {
        name,
        kind,
        expected,
        resolved: got.iter().map(IpAddr::to_string).collect(),
        ok: status == Status::Ok,
        status,
        hint,
    }
}

/// Ok when the first address passes `good_first`. Pending when the answer
/// is the one the current file gives and the planned file's first address
/// passes `good`.
fn forward_status(
    name: &str,
    got: &[IpAddr],
    setting: &Setting<'_>,
    good_first: impl Fn(IpAddr) -> bool,
    good: impl Fn(IpAddr) -> bool,
) -> Status {
    if got.first().is_some_and(|a| good_first(*a)) {
        return Status::Ok;
    }
    if !setting.pending_write {
        return Status::Failed;
    }
    let now: Vec<IpAddr> = file_addresses(setting.current, name)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    let from_file = got.first() == now.first();
    let later = file_addresses(setting.planned, name);
    if from_file && later.first().is_some_and(|(_, a)| good(*a)) {
        Status::Pending
    } else {
        Status::Failed
    }
}

fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

fn list_sources(sources: &[String]) -> String {
    format!("hosts: {}", sources.join(" "))
}

/// Why `name` did not resolve to `ip` (or, without `ip`, the local name
/// to a non-loopback address), from what the file and nsswitch.conf say.
fn forward_hint(name: &str, ip: Option<IpAddr>, got: &[IpAddr], setting: &Setting<'_>) -> String {
    let path = setting.path;
    let mut hints: Vec<String> = Vec::new();
    let in_file = file_addresses(setting.planned, name);
    if setting.pending_write {
        if let Some((_, planned)) = in_file.first() {
            hints.push(format!(
                "{path} would map {name} to {planned} once written (check mode: nothing was written)"
            ));
        }
    }
    for (line, addr) in &in_file {
        let wrong = match ip {
            Some(ip) => *addr != ip,
            None => is_loopback(*addr),
        };
        if wrong {
            let why = if is_loopback(*addr) {
                " (a loopback line, edited only with fix_loopback: true)"
            } else {
                ""
            };
            hints.push(format!("line {line} of {path} maps {name} to {addr}{why}"));
        }
    }
    let first = got.first();
    let answered_by_file = first.is_some_and(|a| in_file.iter().any(|(_, f)| f == a));
    match (first, setting.nsswitch) {
        (None, Some(sources)) if !sources.iter().any(|s| s == "files") => hints.push(format!(
            "{name} resolves to nothing, and /etc/nsswitch.conf's '{}' does not read /etc/hosts ('files')",
            list_sources(sources)
        )),
        (None, _) => hints.push(format!(
            "{name} resolves to nothing{}",
            not_etc_hosts(path)
        )),
        (Some(addr), Some(sources)) if !answered_by_file && dns_before_files(sources) => {
            hints.push(format!(
                "/etc/nsswitch.conf has '{}': DNS answers before /etc/hosts and gives {addr}; fix the DNS record or put 'files' first",
                list_sources(sources)
            ))
        }
        (Some(addr), sources) if !answered_by_file => hints.push(format!(
            "the answer {addr} does not come from {path}: another source{} answered first{}",
            sources
                .map(|s| format!(" of /etc/nsswitch.conf's '{}'", list_sources(s)))
                .unwrap_or_default(),
            not_etc_hosts(path)
        )),
        _ => {}
    }
    if ip.is_none() && first.is_some_and(|a| is_loopback(*a)) {
        hints.push(
            "pve-cluster (pmxcfs) will not start while the local node name resolves to a loopback address"
                .to_string(),
        );
    }
    hints.join("; ")
}

fn reverse_hint(ip: IpAddr, names: &[String], got: &[String], setting: &Setting<'_>) -> String {
    let path = setting.path;
    let mut hints: Vec<String> = Vec::new();
    let in_file = file_names(setting.planned, ip);
    match &in_file {
        Some((line, file_names)) => {
            if setting.pending_write {
                hints.push(format!(
                    "line {line} of {path} would give {ip} the names {} once written (check mode: nothing was written)",
                    file_names.join(" ")
                ));
            } else if !file_names
                .iter()
                .any(|n| names.iter().any(|m| m.eq_ignore_ascii_case(n)))
            {
                hints.push(format!(
                    "line {line} of {path}, the first line for {ip}, names {}",
                    file_names.join(" ")
                ));
            }
        }
        None => hints.push(format!("{path} has no line for {ip}")),
    }
    let answered_by_file = in_file.as_ref().is_some_and(|(_, f)| same_names(got, f));
    match setting.nsswitch {
        Some(sources) if !got.is_empty() && !answered_by_file && dns_before_files(sources) => {
            hints.push(format!(
                "/etc/nsswitch.conf has '{}': DNS answers before /etc/hosts and names {ip} {}; fix the DNS PTR record or put 'files' first",
                list_sources(sources),
                got.join(" ")
            ))
        }
        _ if got.is_empty() => hints.push(format!("{ip} resolves to no name{}", not_etc_hosts(path))),
        _ if !answered_by_file => hints.push(format!(
            "the answer does not come from {path}: another source answered first{}",
            not_etc_hosts(path)
        )),
        _ => {}
    }
    hints.join("; ")
}

fn not_etc_hosts(path: &str) -> String {
    if path == "/etc/hosts" {
        String::new()
    } else {
        format!(" (the resolver reads /etc/hosts, not {path})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const AHOSTS: &str = "10.0.0.1        STREAM pve1.example.com\n10.0.0.1        DGRAM  \n10.0.0.1        RAW    \nfd00::1         STREAM \nfd00::1         DGRAM  \n";

    #[test]
    fn ahosts_gives_each_address_once_in_order() {
        assert_eq!(parse_ahosts(AHOSTS), vec![ip("10.0.0.1"), ip("fd00::1")]);
        assert!(parse_ahosts("").is_empty());
        assert!(parse_ahosts("garbage line\n").is_empty());
        let loopback_first = "127.0.1.1       STREAM pve1\n127.0.1.1       DGRAM  \n127.0.1.1       RAW    \n10.0.0.1        STREAM \n";
        assert_eq!(
            parse_ahosts(loopback_first),
            vec![ip("127.0.1.1"), ip("10.0.0.1")]
        );
    }

    #[test]
    fn hosts_gives_the_names_of_the_first_line() {
        assert_eq!(
            parse_hosts("10.0.0.1        pve1.example.com pve1\n10.0.0.1 other\n"),
            vec!["pve1.example.com", "pve1"]
        );
        assert!(parse_hosts("").is_empty());
    }

    #[test]
    fn nsswitch_sources_skip_actions_and_comments() {
        let conf = "# hosts: dns\npasswd: files\nhosts:  files [NOTFOUND=return] mdns4_minimal [ NOTFOUND=return ] dns # x\n";
        assert_eq!(
            nsswitch_hosts(conf).unwrap(),
            vec!["files", "mdns4_minimal", "dns"]
        );
        assert!(nsswitch_hosts("passwd: files\n").is_none());
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(dns_before_files(&s(&["dns", "files"])));
        assert!(dns_before_files(&s(&["resolve", "files"])));
        assert!(dns_before_files(&s(&["dns"])));
        assert!(!dns_before_files(&s(&["files", "dns"])));
        assert!(!dns_before_files(&s(&["files"])));
    }

    #[test]
    fn file_lookups_follow_the_files_backend() {
        let text = "127.0.0.1 localhost\n127.0.1.1 PVE1.example.com pve1\n10.0.0.1 pve1.example.com pve1 # x\n10.0.0.1 second\n";
        assert_eq!(
            file_addresses(text, "pve1"),
            vec![(2, ip("127.0.1.1")), (3, ip("10.0.0.1"))]
        );
        assert_eq!(
            file_names(text, ip("10.0.0.1")),
            Some((3, vec!["pve1.example.com".into(), "pve1".into()]))
        );
        assert_eq!(file_names(text, ip("10.0.0.9")), None);
    }

    fn setting<'a>(current: &'a str, planned: &'a str, pending: bool) -> Setting<'a> {
        Setting {
            path: "/etc/hosts",
            current,
            planned,
            pending_write: pending,
            nsswitch: None,
        }
    }

    const INSTALLER: &str = "127.0.0.1 localhost\n127.0.1.1 pve1.example.com pve1\n";
    const FIXED: &str = "127.0.0.1 localhost\n10.0.0.1 pve1.example.com pve1\n";

    #[test]
    fn forward_is_ok_when_the_first_address_is_the_node() {
        let check = Check::Forward {
            name: "pve1".into(),
            ip: ip("10.0.0.1"),
        };
        let r = judge(
            &check,
            &Answer::Addresses(vec![ip("10.0.0.1")]),
            &setting(FIXED, FIXED, false),
        );
        assert_eq!((r.status, r.ok, r.hint), (Status::Ok, true, None));
        assert_eq!(r.resolved, vec!["10.0.0.1"]);
    }

    #[test]
    fn a_wrong_answer_the_plan_fixes_is_pending_in_check_mode_only() {
        let check = Check::Forward {
            name: "pve1".into(),
            ip: ip("10.0.0.1"),
        };
        let answer = Answer::Addresses(vec![ip("127.0.1.1")]);
        let r = judge(&check, &answer, &setting(INSTALLER, FIXED, true));
        assert_eq!((r.status, r.ok), (Status::Pending, false));
        assert!(r.hint.unwrap().contains("would map pve1 to 10.0.0.1"));
        let r = judge(&check, &answer, &setting(FIXED, FIXED, false));
        assert_eq!(r.status, Status::Failed);
        // Not what the file says today: some other source answered.
        let r = judge(
            &check,
            &Answer::Addresses(vec![ip("192.0.2.7")]),
            &setting(INSTALLER, FIXED, true),
        );
        assert_eq!(r.status, Status::Failed);
    }

    #[test]
    fn dns_before_files_is_named_in_the_hint() {
        let sources = vec!["dns".to_string(), "files".to_string()];
        let mut s = setting(FIXED, FIXED, false);
        s.nsswitch = Some(&sources);
        let r = judge(
            &Check::Forward {
                name: "pve1".into(),
                ip: ip("10.0.0.1"),
            },
            &Answer::Addresses(vec![ip("192.0.2.7")]),
            &s,
        );
        assert_eq!(r.status, Status::Failed);
        assert_eq!(
            r.hint.unwrap(),
            "/etc/nsswitch.conf has 'hosts: dns files': DNS answers before /etc/hosts and gives 192.0.2.7; fix the DNS record or put 'files' first"
        );
    }

    #[test]
    fn a_kept_loopback_line_is_named_in_the_hint() {
        let r = judge(
            &Check::Local {
                name: "pve1".into(),
            },
            &Answer::Addresses(vec![ip("127.0.1.1"), ip("10.0.0.1")]),
            &setting(
                "127.0.1.1 pve1\n10.0.0.1 pve1\n",
                "127.0.1.1 pve1\n10.0.0.1 pve1\n",
                false,
            ),
        );
        assert_eq!(r.status, Status::Failed);
        let hint = r.hint.unwrap();
        assert!(hint.contains("line 1 of /etc/hosts maps pve1 to 127.0.1.1 (a loopback line, edited only with fix_loopback: true)"), "{hint}");
        assert!(
            hint.contains("pve-cluster (pmxcfs) will not start"),
            "{hint}"
        );
    }

    #[test]
    fn reverse_needs_one_of_the_names() {
        let check = Check::Reverse {
            ip: ip("10.0.0.1"),
            names: vec!["pve1.example.com".into(), "pve1".into()],
        };
        let ok = judge(
            &check,
            &Answer::Names(vec!["PVE1".into()]),
            &setting(FIXED, FIXED, false),
        );
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(ok.expected, "one of: pve1.example.com, pve1");
        let none = judge(
            &check,
            &Answer::Names(vec![]),
            &setting(INSTALLER, FIXED, true),
        );
        assert_eq!(none.status, Status::Pending);
        let none = judge(
            &check,
            &Answer::Names(vec![]),
            &setting(INSTALLER, INSTALLER, false),
        );
        assert_eq!(none.status, Status::Failed);
        assert_eq!(
            none.hint.unwrap(),
            "/etc/hosts has no line for 10.0.0.1; 10.0.0.1 resolves to no name"
        );
    }
}
