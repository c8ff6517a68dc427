//! Planning: from the current content and the validated nodes to the new
//! content and a list of what changed. Pure; no I/O.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use serde::Serialize;

use super::file::{parse_entry, Entry, HostsFile, Line};
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
    let file = HostsFile::parse(content);
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
                if !index.by_name.contains_key(name) {
                    loopback_extra.push(name.clone());
                }
            }
        }
    }

    let present = options.state == State::Present;
    let mut claimed = vec![false; nodes.len()];
    let mut lines: Vec<Line> = Vec::with_capacity(file.lines.len() + nodes.len());
    let mut changes = Vec::new();
    let mut key = String::new();

    for (i, line) in file.lines.into_iter().enumerate() {
        let number = i + 1;
        let Some(entry) = parse_entry(&line.text) else {
            lines.push(line);
            continue;
        };
        let target = if present {
            index
                .by_ip
                .get(&entry.ip)
                .copied()
                .filter(|k| claimed.get(*k).is_some_and(|c| !c))
        } else {
            None
        };
        if let (Some(k), Some(node)) = (target, target.and_then(|k| nodes.get(k))) {
            if let Some(c) = claimed.get_mut(k) {
                *c = true;
            }
            match canonical_text(&line.text, &entry, k, node, &index, &mut key) {
                None => lines.push(line),
                Some(after) => {
                    changes.push(Change::Rewritten {
                        line: number,
                        before: line.text.clone(),
                        after: after.clone(),
                    });
                    lines.push(Line {
                        text: after,
                        eol: line.eol,
                    });
                }
            }
            continue;
        }

        let loopback = is_loopback(entry.ip);
        if loopback && !options.fix_loopback {
            lines.push(line);
            continue;
        }
        let removed: Vec<Range<usize>> = entry
            .names
            .iter()
            .filter(|span| {
                let name = line.text.get((*span).clone()).unwrap_or("");
                lower_into(&mut key, name);
                index.by_name.contains_key(key.as_str())
                    || (loopback && loopback_extra.contains(&key))
            })
            .cloned()
            .collect();
        if removed.is_empty() {
            lines.push(line);
            continue;
        }
        let names: Vec<String> = removed
            .iter()
            .map(|s| line.text.get(s.clone()).unwrap_or("").to_string())
            .collect();
        if removed.len() == entry.names.len() {
            changes.push(Change::LineRemoved {
                line: number,
                names,
                text: line.text,
            });
            continue;
        }
        let after = remove_spans(&line.text, &entry, &removed);
        changes.push(Change::NamesRemoved {
            line: number,
            names,
            before: line.text.clone(),
            after: after.clone(),
        });
        lines.push(Line {
            text: after,
            eol: line.eol,
        });
    }

    if present {
        let eol = content
            .find('\n')
            .map(|pos| {
                if pos > 0 && content.as_bytes().get(pos - 1) == Some(&b'\r') {
                    "\r\n"
                } else {
                    "\n"
                }
            })
            .unwrap_or("\n");
        for (node, _) in nodes.iter().zip(&claimed).filter(|(_, c)| !**c) {
            if let Some(last) = lines.last_mut() {
                if last.eol.is_empty() {
                    last.eol = eol;
                }
            }
            let text = node.canonical_line();
            lines.push(Line {
                text: text.clone(),
                eol,
            });
            changes.push(Change::Added {
                line: lines.len(),
                text,
            });
        }
    }

    let notices = local
        .map(|local| local.notices(&lines, present))
        .unwrap_or_default();
    let content = if changes.is_empty() {
        content.to_string()
    } else {
        HostsFile { lines }.render()
    };
    Plan {
        content,
        changes,
        notices,
    }
}

struct Index {
    /// Lower-cased name to the node it belongs to.
    by_name: HashMap<String, usize>,
    by_ip: HashMap<IpAddr, usize>,
}

impl Index {
    fn new(nodes: &[Node]) -> Index {
        let mut by_name = HashMap::new();
        let mut by_ip = HashMap::new();
        for (k, node) in nodes.iter().enumerate() {
            for name in node.names() {
                by_name.entry(name.to_ascii_lowercase()).or_insert(k);
            }
            by_ip.entry(node.ip()).or_insert(k);
        }
        Index { by_name, by_ip }
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
fn canonical_text(
    text: &str,
    entry: &Entry,
    k: usize,
    node: &Node,
    index: &Index,
    key: &mut String,
) -> Option<String> {
    let mut desired: Vec<&str> = node.names().iter().map(String::as_str).collect();
    let mut current: Vec<&str> = Vec::with_capacity(entry.names.len());
    for span in &entry.names {
        let name = text.get(span.clone()).unwrap_or("");
        current.push(name);
        lower_into(key, name);
        if !index.by_name.contains_key(key.as_str()) {
            desired.push(name);
        }
    }
    if current == desired {
        return None;
    }
    debug_assert!(index.by_ip.get(&entry.ip) == Some(&k));
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
    /// Lower-cased full name and first label (one entry if equal).
    names: Vec<String>,
    node: Option<usize>,
}

impl LocalHost {
    fn new(hostname: &str, index: &Index) -> LocalHost {
        let full = hostname.to_ascii_lowercase();
        let short = full.split('.').next().unwrap_or("").to_string();
        let node = index
            .by_name
            .get(&full)
            .or_else(|| index.by_name.get(&short))
            .copied();
        let mut names = vec![full];
        if !short.is_empty() && !names.contains(&short) {
            names.push(short);
        }
        LocalHost {
            hostname: hostname.to_string(),
            names,
            node,
        }
    }

    fn notices(&self, lines: &[Line], present: bool) -> Vec<Notice> {
        let mut notices = Vec::new();
        if present && self.node.is_none() {
            notices.push(Notice::LocalHostNotANode {
                hostname: self.hostname.clone(),
            });
        }
        // (loopback line numbers, has another address) per local name
        let mut found: Vec<(Vec<usize>, bool)> = vec![(Vec::new(), false); self.names.len()];
        let mut key = String::new();
        for (i, line) in lines.iter().enumerate() {
            let Some(entry) = parse_entry(&line.text) else {
                continue;
            };
            let loopback = is_loopback(entry.ip);
            for span in &entry.names {
                lower_into(&mut key, line.text.get(span.clone()).unwrap_or(""));
                for (name, slot) in self.names.iter().zip(found.iter_mut()) {
                    if *name == key {
                        if loopback {
                            if slot.0.last() != Some(&(i + 1)) {
                                slot.0.push(i + 1);
                            }
                        } else {
                            slot.1 = true;
                        }
                    }
                }
            }
        }
        for (name, (loopback_lines, other)) in self.names.iter().zip(found) {
            if !loopback_lines.is_empty() {
                notices.push(Notice::LocalNameOnLoopback {
                    name: name.clone(),
                    lines: loopback_lines,
                    only_loopback: !other,
                });
            }
        }
        notices
    }
}
