//! Planning: from the current content and the validated nodes to the new
//! content and a list of what changed. Pure; no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::ops::Range;

use serde::Serialize;

use super::file::{name_tokens, parse_entry, quick_entry, split_lines, Entry};
use super::node::{is_loopback, Node};

/// The `state` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    #[default]
    Present,
    Absent,
}

/// Everything besides the nodes that decides the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub state: State,
    /// Edit loopback lines (127.0.0.0/8, `::1`). When false, loopback lines
    /// are kept byte for byte.
    pub fix_loopback: bool,
    /// The local host name (`uname -n`), short or fully qualified.
    pub local_hostname: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state: State::Present,
            fix_loopback: true,
            local_hostname: None,
        }
    }
}

/// One edit. `line` is 1-based and counts lines of the file as it was,
/// except for `Added`, where it is the line's number in the new file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// A node's canonical line appended at the end of the file.
    Added { line: usize, text: String },
    /// A node's line (the first line with its address) put into canonical form.
    Rewritten {
        line: usize,
        before: String,
        after: String,
    },
    /// Managed names taken off a line that keeps other names.
    NamesRemoved {
        line: usize,
        names: Vec<String>,
        before: String,
        after: String,
    },
    /// A line removed because no name was left on it.
    LineRemoved {
        line: usize,
        names: Vec<String>,
        text: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { line, text } => write!(f, "added '{text}' as line {line}"),
            Change::Rewritten {
                line,
                before,
                after,
            } => write!(f, "line {line}: '{before}' became '{after}'"),
            Change::NamesRemoved {
                line,
                names,
                before,
                after,
            } => write!(
                f,
                "line {line}: removed {} from '{before}', leaving '{after}'",
                names.join(", ")
            ),
            Change::LineRemoved { line, names, text } => write!(
                f,
                "line {line}: removed '{text}' (no name left after removing {})",
                names.join(", ")
            ),
        }
    }
}

/// Facts about the local host name the module should warn or fail on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// The local host name is none of the nodes' names, so its own entries
    /// were not fixed. Only with `state: present`.
    LocalHostNotANode { hostname: String },
    /// In the new file, `name` (the local host name or its first label)
    /// maps to a loopback address on these lines (numbers in the new
    /// file). With `only_loopback`, the file gives it no other address:
    /// pmxcfs will not start unless DNS answers first.
    LocalNameOnLoopback {
        name: String,
        lines: Vec<usize>,
        only_loopback: bool,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::LocalHostNotANode { hostname } => write!(
                f,
                "the local host name '{hostname}' is not among the nodes, so its entries in the hosts file were left alone; add this host to 'nodes' with its cluster address"
            ),
            Notice::LocalNameOnLoopback {
                name,
                lines,
                only_loopback,
            } => {
                let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                write!(
                    f,
                    "the local name '{name}' maps to a loopback address (line {})",
                    lines.join(", ")
                )?;
                if *only_loopback {
                    f.write_str(" and to no other address: pve-cluster (pmxcfs) will not start; list this host in 'nodes' and keep 'fix_loopback' on")
                } else {
                    f.write_str("; set 'fix_loopback' to remove it from there")
                }
            }
        }
    }
}

/// The outcome of planning: the whole new content, what changed, and notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub content: String,
    pub changes: Vec<Change>,
    pub notices: Vec<Notice>,
}

impl Plan {
    /// True when the file must be written. With no change, `content` equals
    /// the input byte for byte.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Computes the new hosts file. See the module documentation for the rules.
/// Runs in time linear in the size of the file.
pub fn plan(content: &str, nodes: &[Node], options: &Options) -> Plan {
    let index = Index::new(nodes);
    let local = options
        .local_hostname
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(|h| LocalHost::new(h, &index));

    // The local host's name as the system knows it may differ from every
    // name the user gave (e.g. `pve1.lan` while the node is `pve1`).
    let mut loopback_extra: Vec<String> = Vec::new();
    if let Some(local) = &local {
        if options.fix_loopback && local.node.is_some() {
            for name in &local.names {
                if !index.by_name.contains_key(&name.to_ascii_lowercase()) {
                    loopback_extra.push(name.clone());
                }
            }
        }
    }

    let present = options.state == State::Present;
    let mut claimed = vec![false; nodes.len()];
    let mut lines: Vec<(Cow<'_, str>, &'static str)> = Vec::new();
    let mut changes = Vec::new();
    let mut key = String::new();
    let mut tracker = local.as_ref().map(LocalTracker::new);

    for (i, (text, eol)) in split_lines(content).enumerate() {
        let number = i + 1;
        let Some((ip, body)) = quick_entry(text) else {
            lines.push((Cow::Borrowed(text), eol));
            continue;
        };
        let target = if present {
            index
                .by_ip
                .get(&ip)
                .copied()
                .filter(|k| claimed.get(*k).is_some_and(|c| !c))
        } else {
            None
        };
        let loopback = is_loopback(ip);
        let mut removable = |name: &str| {
            index.is_managed(name, &mut key)
                || (loopback && loopback_extra.iter().any(|n| n.eq_ignore_ascii_case(name)))
        };
        // One pass over the names decides whether the line is edited and
        // notes where the local names stand, for the common kept line.
        let mut edit = false;
        let mut local_hits = 0u8;
        if target.is_none() {
            let editable = !loopback || options.fix_loopback;
            for name in name_tokens(body) {
                if editable && !edit && removable(name) {
                    edit = true;
                    if tracker.is_none() {
                        break;
                    }
                }
                if let Some(tracker) = &tracker {
                    local_hits |= tracker.matches(name);
                }
            }
        }
        let new_text: Option<Cow<'_, str>> = match (target, target.and_then(|k| nodes.get(k))) {
            (Some(k), Some(node)) => {
                if let Some(c) = claimed.get_mut(k) {
                    *c = true;
                }
                match parse_entry(text).and_then(|entry| canonical_text(text, &entry, node, &index))
                {
                    None => Some(Cow::Borrowed(text)),
                    Some(after) => {
                        changes.push(Change::Rewritten {
                            line: number,
                            before: text.to_string(),
                            after: after.clone(),
                        });
                        Some(Cow::Owned(after))
                    }
                }
            }
            _ if !edit => {
                if let Some(tracker) = tracker.as_mut() {
                    tracker.record(lines.len() + 1, loopback, local_hits);
                }
                lines.push((Cow::Borrowed(text), eol));
                continue;
            }
            _ => {
                let entry = parse_entry(text);
                let all = entry.as_ref().map(|e| e.names.as_slice()).unwrap_or(&[]);
                let removed: Vec<Range<usize>> = all
                    .iter()
                    .filter(|span| removable(text.get((*span).clone()).unwrap_or("")))
                    .cloned()
                    .collect();
                let names: Vec<String> = removed
                    .iter()
                    .map(|s| text.get(s.clone()).unwrap_or("").to_string())
                    .collect();
                match entry {
                    Some(entry) if removed.len() < entry.names.len() => {
                        let after = remove_spans(text, &entry, &removed);
                        changes.push(Change::NamesRemoved {
                            line: number,
                            names,
                            before: text.to_string(),
                            after: after.clone(),
                        });
                        Some(Cow::Owned(after))
                    }
                    _ => {
                        changes.push(Change::LineRemoved {
                            line: number,
                            names,
                            text: text.to_string(),
                        });
                        None
                    }
                }
            }
        };
        if let Some(new_text) = new_text {
            if let Some(tracker) = tracker.as_mut() {
                tracker.observe_text(lines.len() + 1, &new_text);
            }
            lines.push((new_text, eol));
        }
    }

    if present {
        let eol = split_lines(content)
            .next()
            .map(|(_, eol)| eol)
            .filter(|eol| !eol.is_empty())
            .unwrap_or("\n");
        for (node, _) in nodes.iter().zip(&claimed).filter(|(_, c)| !**c) {
            if let Some(last) = lines.last_mut() {
                if last.1.is_empty() {
                    last.1 = eol;
                }
            }
            let text = node.canonical_line();
            if let Some(tracker) = tracker.as_mut() {
                tracker.observe_text(lines.len() + 1, &text);
            }
            changes.push(Change::Added {
                line: lines.len() + 1,
                text: text.clone(),
            });
            lines.push((Cow::Owned(text), eol));
        }
    }

    let mut notices = Vec::new();
    if let (Some(local), Some(tracker)) = (&local, tracker) {
        if present && local.node.is_none() {
            notices.push(Notice::LocalHostNotANode {
                hostname: local.hostname.clone(),
            });
        }
        notices.extend(tracker.notices());
    }
    let content = if changes.is_empty() {
        content.to_string()
    } else {
        let mut out = String::with_capacity(content.len() + 64 * nodes.len());
        for (text, eol) in &lines {
            out.push_str(text);
            out.push_str(eol);
        }
        out
    };
    Plan {
        content,
        changes,
        notices,
    }
}

struct Index {
    /// Lower-cased name to the node it belongs to.
    by_name: HashMap<String, usize, Fnv>,
    by_ip: HashMap<IpAddr, usize, Fnv>,
    /// Lengths and lower-cased first bytes of the names: most names in a
    /// large file are rejected by these without hashing.
    lengths: [bool; 256],
    firsts: [bool; 256],
}

impl Index {
    fn new(nodes: &[Node]) -> Index {
        let mut by_name = HashMap::default();
        let mut by_ip = HashMap::default();
        for (k, node) in nodes.iter().enumerate() {
            for name in node.names() {
                by_name.entry(name.to_ascii_lowercase()).or_insert(k);
            }
            by_ip.entry(node.ip()).or_insert(k);
        }
        let mut lengths = [false; 256];
        let mut firsts = [false; 256];
        for name in by_name.keys() {
            if let Some(slot) = lengths.get_mut(name.len()) {
                *slot = true;
            }
            if let Some(slot) = name
                .bytes()
                .next()
                .and_then(|b| firsts.get_mut(usize::from(b)))
            {
                *slot = true;
            }
        }
        Index {
            by_name,
            by_ip,
            lengths,
            firsts,
        }
    }

    /// Whether `name` belongs to a node, compared without ASCII case.
    fn is_managed(&self, name: &str, key: &mut String) -> bool {
        let first = name.bytes().next().map(|b| b.to_ascii_lowercase());
        if !self.lengths.get(name.len()).copied().unwrap_or(false)
            || !first.is_some_and(|b| self.firsts.get(usize::from(b)).copied().unwrap_or(false))
        {
            return false;
        }
        lower_into(key, name);
        self.by_name.contains_key(key.as_str())
    }
}

/// FNV-1a: the keys are a handful of names and addresses; SipHash's
/// protection against flooding buys nothing here and costs time per line.
type Fnv = BuildHasherDefault<FnvHasher>;

struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn lower_into(buf: &mut String, name: &str) {
    buf.clear();
    buf.push_str(name);
    buf.make_ascii_lowercase();
}

/// The node's line as it should read, or `None` when it already does.
/// Names of other nodes are dropped, the node's own names come first in
/// canonical order, then every unmanaged name of the line in its order.
/// A trailing comment is kept with the spacing before it.
fn canonical_text(text: &str, entry: &Entry, node: &Node, index: &Index) -> Option<String> {
    let mut key = String::new();
    let mut desired: Vec<&str> = node.names().iter().map(String::as_str).collect();
    let mut current: Vec<&str> = Vec::with_capacity(entry.names.len());
    for span in &entry.names {
        let name = text.get(span.clone()).unwrap_or("");
        current.push(name);
        if !index.is_managed(name, &mut key) {
            desired.push(name);
        }
    }
    if current == desired {
        return None;
    }
    let mut out = node.canonical_line();
    for name in desired.iter().skip(node.names().len()) {
        out.push(' ');
        out.push_str(name);
    }
    if let Some(hash) = entry.comment {
        let last_end = entry
            .names
            .last()
            .map(|s| s.end)
            .unwrap_or(entry.ip_span.end);
        if last_end >= hash {
            out.push(' ');
            out.push_str(text.get(hash..).unwrap_or(""));
        } else {
            out.push_str(text.get(last_end..).unwrap_or(""));
        }
    }
    Some(out)
}

/// The line without the given name spans, each taken with the separator
/// before it, so the rest keeps its bytes.
fn remove_spans(text: &str, entry: &Entry, removed: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut prev_end = entry.ip_span.end;
    let mut removed = removed.iter().peekable();
    for span in &entry.names {
        if removed.peek() == Some(&span) {
            removed.next();
            out.push_str(text.get(copied..prev_end).unwrap_or(""));
            copied = span.end;
        }
        prev_end = span.end;
    }
    out.push_str(text.get(copied..).unwrap_or(""));
    out
}

struct LocalHost {
    hostname: String,
    /// The full name and its first label, as given (one entry if equal).
    names: Vec<String>,
    node: Option<usize>,
}

impl LocalHost {
    fn new(hostname: &str, index: &Index) -> LocalHost {
        let short = hostname.split('.').next().unwrap_or("");
        let node = index
            .by_name
            .get(&hostname.to_ascii_lowercase())
            .or_else(|| index.by_name.get(&short.to_ascii_lowercase()))
            .copied();
        let mut names = vec![hostname.to_string()];
        if !short.is_empty() && short.len() != hostname.len() {
            names.push(short.to_string());
        }
        LocalHost {
            hostname: hostname.to_string(),
            names,
            node,
        }
    }
}

/// Where the local host's names stand in the new file.
struct LocalTracker {
    /// Per name: (name, loopback line numbers, has another address).
    names: Vec<(String, Vec<usize>, bool)>,
}

impl LocalTracker {
    fn new(local: &LocalHost) -> LocalTracker {
        LocalTracker {
            names: local
                .names
                .iter()
                .map(|n| (n.clone(), Vec::new(), false))
                .collect(),
        }
    }

    fn observe_text(&mut self, number: usize, text: &str) {
        if let Some((ip, body)) = quick_entry(text) {
            let mut hits = 0;
            for name in name_tokens(body) {
                hits |= self.matches(name);
            }
            self.record(number, is_loopback(ip), hits);
        }
    }

    /// A bit per local name that `name` equals.
    fn matches(&self, name: &str) -> u8 {
        let mut hits = 0;
        for (bit, (local, _, _)) in self.names.iter().enumerate().take(8) {
            if name.eq_ignore_ascii_case(local) {
                hits |= 1 << bit;
            }
        }
        hits
    }

    fn record(&mut self, number: usize, loopback: bool, hits: u8) {
        for (bit, (_, lines, other)) in self.names.iter_mut().enumerate().take(8) {
            if hits & (1 << bit) == 0 {
                continue;
            }
            if !loopback {
                *other = true;
            } else if lines.last() != Some(&number) {
                lines.push(number);
            }
        }
    }

    fn notices(self) -> impl Iterator<Item = Notice> {
        self.names
            .into_iter()
            .filter(|(_, lines, _)| !lines.is_empty())
            .map(|(name, lines, other)| Notice::LocalNameOnLoopback {
                name,
                lines,
                only_loopback: !other,
            })
    }
}
