//! Planning: from the current content and the validated nodes to the new
//! content and a list of what changed. Pure; no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::ops::Range;

use serde::Serialize;

use super::entries::{is_loopback, Node};
use super::file::{is_sep, name_tokens, parse_entry, quick_entry, Entry};

/// The `state` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Every node has its line, and its names appear on no other line.
    #[default]
    Present,
    /// The nodes' names appear on no line; nothing is added.
    Absent,
}

/// Everything besides the nodes that decides the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Whether the nodes' entries are to be there or gone.
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
    Added {
        /// The line's 1-based number in the new file.
        line: usize,
        /// The line as written, without its line end.
        text: String,
    },
    /// A node's line (the first line with its address) put into canonical form.
    Rewritten {
        /// The line's 1-based number in the file as it was.
        line: usize,
        /// The line's old text, without its line end.
        before: String,
        /// The line's new text, without its line end.
        after: String,
    },
    /// Managed names taken off a line that keeps other names.
    NamesRemoved {
        /// The line's 1-based number in the file as it was.
        line: usize,
        /// The names taken off, as the line wrote them.
        names: Vec<String>,
        /// The line's old text, without its line end.
        before: String,
        /// The line's new text, without its line end.
        after: String,
    },
    /// A line removed because no name was left on it.
    LineRemoved {
        /// The line's 1-based number in the file as it was.
        line: usize,
        /// The names the line had, as it wrote them.
        names: Vec<String>,
        /// The removed line's text, without its line end.
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
    LocalHostNotANode {
        /// The local host name, as [`Options::local_hostname`] gives it.
        hostname: String,
    },
    /// In the new file, `name` (the local host name or its first label)
    /// maps to a loopback address on these lines (numbers in the new
    /// file). With `only_loopback`, the file gives it no other address:
    /// pmxcfs will not start unless DNS answers first.
    LocalNameOnLoopback {
        /// The local host name or its first label, as given.
        name: String,
        /// 1-based numbers, in the new file, of the loopback lines with it.
        lines: Vec<usize>,
        /// True when the new file gives the name no other address.
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
    /// The new content of the file; the old one when nothing changed.
    pub content: String,
    /// The edits, in file order, appended lines last.
    pub changes: Vec<Change>,
    /// What the module should warn or fail on about the local host name.
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
    plan_edits(content, nodes, options).into_plan()
}

/// The plan as edits of the content it was made from: what [`plan`]
/// computes, without a copy of the whole file. [`Edits::content`] and
/// [`Edits::pieces`] give the new content when it is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edits<'a> {
    source: &'a str,
    /// Edited and removed lines, in file order.
    edits: Vec<Edit>,
    /// Lines appended at the end, without their line end.
    added: Vec<String>,
    /// The line end of appended lines.
    eol: &'static str,
    /// The file's last line is kept and has no line end: `eol` is written
    /// after it, before the appended lines.
    end_last_line: bool,
    /// The edits, in file order, appended lines last.
    pub changes: Vec<Change>,
    /// What the module should warn or fail on about the local host name.
    pub notices: Vec<Notice>,
}

/// One edited or removed line of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    /// The line's text, without its line end.
    text: Range<usize>,
    /// Where the line's end ends: the start of the next line.
    end: usize,
    /// The new text, followed by the line's old end; `None` removes the
    /// line with its end.
    new: Option<String>,
}

impl<'a> Edits<'a> {
    /// True when the file must be written.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The new content. Borrowed, equal to the input, when nothing changed.
    pub fn content(&self) -> Cow<'a, str> {
        if !self.changed() {
            return Cow::Borrowed(self.source);
        }
        let pieces = self.pieces();
        let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
        for piece in pieces {
            out.push_str(piece);
        }
        Cow::Owned(out)
    }

    /// The new content as pieces to write one after the other: long runs
    /// of the input between the edits, and the edited lines.
    pub fn pieces(&self) -> Vec<&str> {
        let mut pieces = Vec::with_capacity(2 * (self.edits.len() + self.added.len()) + 2);
        let mut copied = 0;
        for edit in &self.edits {
            pieces.push(self.source.get(copied..edit.text.start).unwrap_or(""));
            match &edit.new {
                Some(text) => {
                    pieces.push(text);
                    copied = edit.text.end;
                }
                None => copied = edit.end,
            }
        }
        pieces.push(self.source.get(copied..).unwrap_or(""));
        if self.end_last_line {
            pieces.push(self.eol);
        }
        for text in &self.added {
            pieces.push(text);
            pieces.push(self.eol);
        }
        pieces.retain(|p| !p.is_empty());
        pieces
    }

    /// The whole new content, changes and notices.
    pub fn into_plan(self) -> Plan {
        let content = self.content().into_owned();
        Plan {
            content,
            changes: self.changes,
            notices: self.notices,
        }
    }
}

/// Like [`plan`], but the new content is left as edits of `content`.
pub fn plan_edits<'a>(content: &'a str, nodes: &[Node], options: &Options) -> Edits<'a> {
    plan_lines(content, nodes, options, true)
}

/// The planner. With `quick`, lines the [`Filter`] rejects are kept
/// without being parsed; without, every line is parsed (the tests compare
/// the two).
fn plan_lines<'a>(content: &'a str, nodes: &[Node], options: &Options, quick: bool) -> Edits<'a> {
    let index = Index::new(nodes);
    let local = options
        .local_hostname
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(|h| LocalHost::new(h, &index));
    let loopback_extra = loopback_extra(options, local.as_ref(), &index);
    let present = options.state == State::Present;
    let filter = Filter::new(nodes, present, &index, local.as_ref());
    let mut planner = Planner {
        nodes,
        index: &index,
        fix_loopback: options.fix_loopback,
        present,
        loopback_extra,
        claimed: vec![false; nodes.len()],
        edits: Vec::new(),
        changes: Vec::new(),
        key: String::new(),
        tracker: local.as_ref().map(LocalTracker::new),
        kept: 0,
        last_open: false,
    };
    planner.walk(content, quick.then_some(&filter));

    let eol = first_eol(content.as_bytes());
    let (added, end_last_line) = planner.append_unclaimed();
    let mut notices = Vec::new();
    if let (Some(local), Some(tracker)) = (&local, planner.tracker) {
        if present && local.node.is_none() {
            notices.push(Notice::LocalHostNotANode {
                hostname: local.hostname.clone(),
            });
        }
        notices.extend(tracker.notices());
    }
    Edits {
        source: content,
        edits: planner.edits,
        added,
        eol,
        end_last_line,
        changes: planner.changes,
        notices,
    }
}

/// The local host's name as the system knows it may differ from every
/// name the user gave (e.g. `pve1.lan` while the node is `pve1`): those
/// names are taken off loopback lines too.
fn loopback_extra(options: &Options, local: Option<&LocalHost>, index: &Index) -> Vec<String> {
    let mut extra: Vec<String> = Vec::new();
    if let Some(local) = local {
        if options.fix_loopback && local.node.is_some() {
            for name in &local.names {
                if !index.by_name.contains_key(&name.to_ascii_lowercase()) {
                    extra.push(name.clone());
                }
            }
        }
    }
    extra
}

/// One line of the input, as the walk found it.
struct Line<'a> {
    /// 1-based number in the input.
    number: usize,
    text: &'a str,
    /// Where `text` is in the input.
    start: usize,
    text_end: usize,
    /// Where the line's end ends: the start of the next line.
    end: usize,
    /// The line has no line end (only the input's last line).
    open: bool,
}

/// The state of planning while it walks the lines of the file.
struct Planner<'p> {
    nodes: &'p [Node],
    index: &'p Index,
    fix_loopback: bool,
    present: bool,
    loopback_extra: Vec<String>,
    /// Per node: a line with its address was found and is its line.
    claimed: Vec<bool>,
    edits: Vec<Edit>,
    changes: Vec<Change>,
    /// Buffer for lower-cased names.
    key: String,
    tracker: Option<LocalTracker>,
    /// Lines of the new file so far, and whether the last of them has no
    /// line end (only the input's last line can lack one).
    kept: usize,
    last_open: bool,
}

impl<'p> Planner<'p> {
    /// Plans every line of `content`; with a `filter`, only the lines it
    /// passes are parsed.
    fn walk(&mut self, content: &str, filter: Option<&Filter>) {
        let bytes = content.as_bytes();
        let mut start = 0;
        let mut number = 0;
        while start < bytes.len() {
            number += 1;
            let (newline, wanted) = match filter {
                Some(filter) => filter.scan(bytes, start),
                None => (newline(bytes, start), true),
            };
            let line_start = start;
            let (text_end, open) = match newline {
                Some(nl) => {
                    start = nl + 1;
                    let cr = nl > line_start && bytes.get(nl - 1) == Some(&b'\r');
                    (if cr { nl - 1 } else { nl }, false)
                }
                None => {
                    start = bytes.len();
                    (bytes.len(), true)
                }
            };
            if !wanted {
                self.keep(open);
                continue;
            }
            let text = content.get(line_start..text_end).unwrap_or("");
            let Some((ip, body)) = quick_entry(text) else {
                self.keep(open);
                continue;
            };
            let line = Line {
                number,
                text,
                start: line_start,
                text_end,
                end: start,
                open,
            };
            self.plan_line(&line, ip, body);
        }
    }

    /// A line kept as it is.
    fn keep(&mut self, open: bool) {
        self.kept += 1;
        self.last_open = open;
    }

    /// Whether `name` is taken off lines that are not a node's.
    fn removable(&mut self, name: &str, loopback: bool) -> bool {
        self.index.is_managed(name, &mut self.key)
            || (loopback
                && self
                    .loopback_extra
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Plans one line with an address: a node's line is put into
    /// canonical form, managed names are taken off other lines, and every
    /// other line is kept.
    fn plan_line<'a>(&mut self, line: &Line<'a>, ip: IpAddr, body: &str) {
        let target = if self.present {
            self.index
                .by_ip
                .get(&ip)
                .copied()
                .filter(|k| self.claimed.get(*k).is_some_and(|c| !c))
        } else {
            None
        };
        let loopback = is_loopback(ip);
        let (edit, local_hits) = if target.is_none() {
            self.look_at_names(body, loopback)
        } else {
            (false, 0)
        };
        let nodes = self.nodes;
        let new_text = match (target, target.and_then(|k| nodes.get(k))) {
            (Some(k), Some(node)) => Some(self.rewrite(line, k, node)),
            _ if !edit => {
                if let Some(tracker) = self.tracker.as_mut() {
                    tracker.record(self.kept + 1, loopback, local_hits);
                }
                self.keep(line.open);
                return;
            }
            _ => self.remove_names(line, loopback),
        };
        let Some(new_text) = new_text else {
            // Only the input's last line may lack a line end, so the line
            // kept before this one has one.
            self.edits.push(Edit {
                text: line.start..line.text_end,
                end: line.end,
                new: None,
            });
            self.last_open = false;
            return;
        };
        if let Some(tracker) = self.tracker.as_mut() {
            tracker.observe_text(self.kept + 1, &new_text);
        }
        if let Cow::Owned(after) = new_text {
            self.edits.push(Edit {
                text: line.start..line.text_end,
                end: line.end,
                new: Some(after),
            });
        }
        self.keep(line.open);
    }

    /// One pass over the names decides whether the line is edited and
    /// notes where the local names stand, for the common kept line.
    fn look_at_names(&mut self, body: &str, loopback: bool) -> (bool, u8) {
        let mut edit = false;
        let mut local_hits = 0u8;
        let editable = !loopback || self.fix_loopback;
        for name in name_tokens(body) {
            if editable && !edit && self.removable(name, loopback) {
                edit = true;
                if self.tracker.is_none() {
                    break;
                }
            }
            if let Some(tracker) = &self.tracker {
                local_hits |= tracker.matches(name);
            }
        }
        (edit, local_hits)
    }

    /// The first line with node `k`'s address becomes its line, in
    /// canonical form.
    fn rewrite<'a>(&mut self, line: &Line<'a>, k: usize, node: &Node) -> Cow<'a, str> {
        if let Some(c) = self.claimed.get_mut(k) {
            *c = true;
        }
        let text = line.text;
        match parse_entry(text).and_then(|entry| canonical_text(text, &entry, node, self.index)) {
            None => Cow::Borrowed(text),
            Some(after) => {
                self.changes.push(Change::Rewritten {
                    line: line.number,
                    before: text.to_string(),
                    after: after.clone(),
                });
                Cow::Owned(after)
            }
        }
    }

    /// Takes the managed names off a line; `None` when no name is left.
    fn remove_names<'a>(&mut self, line: &Line<'a>, loopback: bool) -> Option<Cow<'a, str>> {
        let text = line.text;
        let entry = parse_entry(text);
        let all = entry.as_ref().map(|e| e.names.as_slice()).unwrap_or(&[]);
        let removed: Vec<Range<usize>> = all
            .iter()
            .filter(|span| self.removable(text.get((*span).clone()).unwrap_or(""), loopback))
            .cloned()
            .collect();
        let names: Vec<String> = removed
            .iter()
            .map(|s| text.get(s.clone()).unwrap_or("").to_string())
            .collect();
        match entry {
            Some(entry) if removed.len() < entry.names.len() => {
                let after = remove_spans(text, &entry, &removed);
                self.changes.push(Change::NamesRemoved {
                    line: line.number,
                    names,
                    before: text.to_string(),
                    after: after.clone(),
                });
                Some(Cow::Owned(after))
            }
            _ => {
                self.changes.push(Change::LineRemoved {
                    line: line.number,
                    names,
                    text: text.to_string(),
                });
                None
            }
        }
    }

    /// With `state: present`, the canonical line of every node that has
    /// none yet, appended; and whether the file's last line needs a line
    /// end first.
    fn append_unclaimed(&mut self) -> (Vec<String>, bool) {
        let mut added = Vec::new();
        let mut end_last_line = false;
        if !self.present {
            return (added, end_last_line);
        }
        let nodes = self.nodes;
        for (node, _) in nodes.iter().zip(&self.claimed).filter(|(_, c)| !**c) {
            if self.last_open {
                end_last_line = true;
                self.last_open = false;
            }
            let text = node.canonical_line();
            if let Some(tracker) = self.tracker.as_mut() {
                tracker.observe_text(self.kept + 1, &text);
            }
            self.changes.push(Change::Added {
                line: self.kept + 1,
                text: text.clone(),
            });
            added.push(text);
            self.kept += 1;
        }
        (added, end_last_line)
    }
}

/// The line end of the first line (`\n` when it has none): appended lines
/// use it.
fn first_eol(bytes: &[u8]) -> &'static str {
    match newline(bytes, 0) {
        Some(nl) if nl > 0 && bytes.get(nl - 1) == Some(&b'\r') => "\r\n",
        _ => "\n",
    }
}

/// Byte classes for [`Filter::scan`].
const NAME: u8 = 0;
const SEP: u8 = 1;
const STOP: u8 = 2;

static CLASSES: [u8; 256] = {
    let mut classes = [NAME; 256];
    let mut b = 0;
    while b < 256 {
        if is_sep(b as u8) {
            classes[b] = SEP;
        }
        b += 1;
    }
    classes[b'\n' as usize] = STOP;
    classes[b'#' as usize] = STOP;
    classes
};

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

/// A quick look at a line, without parsing it, that passes every line
/// planning may edit or learn from: one whose address may be a node's, or
/// with a name that may be managed or local. Planning keeps the other
/// lines as they are and learns nothing from them; in a large file, that
/// is nearly every line.
struct Filter {
    /// The nodes' IPv4 addresses as text: the parser takes no other
    /// spelling (no leading zeros, no short forms), so a field that is not
    /// one of these is not one of these addresses.
    ipv4: Vec<String>,
    /// Some node has an IPv6 address: fields with a `:` may be it.
    ipv6: bool,
    /// Lengths and lower-cased first bytes of the names to look for;
    /// names of 256 bytes or more always pass.
    lengths: [bool; 256],
    firsts: [bool; 256],
}

impl Filter {
    /// `local`'s names include every name taken off loopback lines besides
    /// the nodes' names.
    fn new(nodes: &[Node], present: bool, index: &Index, local: Option<&LocalHost>) -> Filter {
        let mut filter = Filter {
            ipv4: Vec::new(),
            ipv6: false,
            lengths: [false; 256],
            firsts: [false; 256],
        };
        if present {
            for node in nodes {
                match node.ip() {
                    IpAddr::V4(ip) => filter.ipv4.push(ip.to_string()),
                    IpAddr::V6(_) => filter.ipv6 = true,
                }
            }
        }
        let locals = local.map(|l| l.names.as_slice()).unwrap_or(&[]);
        for name in index.by_name.keys().chain(locals) {
            if let Some(slot) = filter.lengths.get_mut(name.len()) {
                *slot = true;
            }
            if let Some(slot) = name
                .bytes()
                .next()
                .and_then(|b| filter.firsts.get_mut(usize::from(b.to_ascii_lowercase())))
            {
                *slot = true;
            }
        }
        filter
    }

    fn may_be_node_ip(&self, field: &[u8]) -> bool {
        (self.ipv6 && field.contains(&b':')) || self.ipv4.iter().any(|ip| ip.as_bytes() == field)
    }

    fn may_be_name(&self, field: &[u8]) -> bool {
        let Some(first) = field.first() else {
            return false;
        };
        match self.lengths.get(field.len()) {
            Some(length) => *length && self.firsts[usize::from(first.to_ascii_lowercase())],
            None => true,
        }
    }

    /// Looks at the line starting at `start`: where its `\n` is, and
    /// whether it passes. Fields are split as [`super::file::parse_entry`]
    /// does, up to a `#`.
    fn scan(&self, bytes: &[u8], start: usize) -> (Option<usize>, bool) {
        let mut i = start;
        let mut first = true;
        loop {
            while bytes.get(i).is_some_and(|b| class(*b) == SEP) {
                i += 1;
            }
            match bytes.get(i) {
                None => return (None, false),
                Some(b'\n') => return (Some(i), false),
                Some(b'#') => return (newline(bytes, i), false),
                Some(_) => {}
            }
            let field_start = i;
            // The byte at `i` is a field's first.
            i = field_end(bytes, i + 1);
            let field = bytes.get(field_start..i).unwrap_or(&[]);
            let wanted = if first {
                self.may_be_node_ip(field)
            } else {
                self.may_be_name(field)
            };
            if wanted {
                return (newline(bytes, i), true);
            }
            first = false;
        }
    }
}

// Eight bytes at a time: a field or a line is found with one test per
// word instead of one per byte. Bytes are tested in place in a `u64`, by
// arithmetic that never carries from one byte into the next.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The eight bytes at `at`, the first in the lowest bits.
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The high bit of every byte of `word` equal to `b`.
fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    !(((x & LOW_BITS) + LOW_BITS) | x) & HIGH_BITS
}

/// The high bit of every byte of `word` that ends a field: a separator
/// (`\t`, `\v`, `\f`, `\r`, space), `\n` or `#`.
fn field_ends(word: u64) -> u64 {
    let low = word & LOW_BITS;
    // Bytes 0x09 to 0x0d: at least 9, below 14, high bit clear.
    let from_tab = low + ONES * (0x80 - 0x09);
    let from_so = low + ONES * (0x80 - 0x0e);
    (from_tab & !from_so & !word & HIGH_BITS) | bytes_equal(word, b' ') | bytes_equal(word, b'#')
}

/// The end of the field starting at `from`.
fn field_end(bytes: &[u8], mut from: usize) -> usize {
    while let Some(w) = word(bytes, from) {
        let ends = field_ends(w);
        if ends != 0 {
            return from + (ends.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while bytes.get(from).is_some_and(|b| class(*b) == NAME) {
        from += 1;
    }
    from
}

/// The position of the first `\n` at or after `from`.
fn newline(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(w) = word(bytes, from) {
        let found = bytes_equal(w, b'\n');
        if found != 0 {
            return Some(from + (found.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    bytes
        .get(from..)?
        .iter()
        .position(|b| *b == b'\n')
        .map(|p| from + p)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::{validate_nodes, NodeSpec};
    use proptest::prelude::*;
    use proptest::sample::select;

    fn node_set(ips: [&str; 3]) -> Vec<Node> {
        let specs: Vec<NodeSpec> = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| NodeSpec {
                ip: ip.to_string(),
                fqdn: Some(format!("PVE{}.example.com", i + 1)),
                name: Some(format!("pve{}", i + 1)),
                aliases: vec![format!("Alias{}", i + 1)],
            })
            .collect();
        validate_nodes(&specs).unwrap()
    }

    fn fields() -> Vec<String> {
        let mut fields: Vec<String> = [
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.10",
            "127.0.0.1",
            "127.0.1.1",
            "::1",
            "fd00::1",
            "FD00:0::2",
            "fd00::0.0.0.3",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "fe80::1%eth0",
            "pve1",
            "PVE1",
            "pve1.example.com",
            "Pve2.Example.Com",
            "pve3",
            "alias1",
            "ALIAS2",
            "pve1.lan",
            "localhost",
            "other",
            "p",
            "pve1#x",
            "#pve2",
            "é",
            "",
            "#",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        fields.push("p".repeat(300));
        fields.push("q".repeat(256));
        fields.push("v".repeat(255));
        fields
    }

    fn hosts_file() -> impl Strategy<Value = String> {
        let field = select(fields());
        let sep = select(vec![
            " ", "\t", "  ", "\u{b}", "\u{c}", "\r", "\u{a0}", " # ",
        ]);
        let line = proptest::collection::vec((sep, field), 0..6).prop_map(|parts| {
            parts
                .into_iter()
                .enumerate()
                .map(|(i, (sep, field))| {
                    if i == 0 {
                        field
                    } else {
                        format!("{sep}{field}")
                    }
                })
                .collect::<String>()
        });
        let eol = select(vec!["\n", "\n", "\r\n"]);
        (proptest::collection::vec((line, eol), 0..12), any::<bool>()).prop_map(
            |(lines, final_eol)| {
                let count = lines.len();
                let mut text = String::new();
                for (i, (line, eol)) in lines.into_iter().enumerate() {
                    text.push_str(&line);
                    if i + 1 < count || final_eol {
                        text.push_str(eol);
                    }
                }
                text
            },
        )
    }

    fn options() -> impl Strategy<Value = Options> {
        let local = select(vec![
            None,
            Some("pve1".to_string()),
            Some("PVE2.example.com".to_string()),
            Some("pve1.lan".to_string()),
            Some("other".to_string()),
            Some("Other.LAN".to_string()),
            Some("v".repeat(255)),
            Some(format!("{}.pve3", "q".repeat(256))),
        ]);
        (any::<bool>(), any::<bool>(), local).prop_map(|(present, fix_loopback, local)| Options {
            state: if present {
                State::Present
            } else {
                State::Absent
            },
            fix_loopback,
            local_hostname: local,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10000, failure_persistence: None, ..ProptestConfig::default() })]

        /// The quick look at each line leaves out no line that matters.
        #[test]
        fn quick_planning_equals_parsing_every_line(
            content in hosts_file(),
            ips in select(vec![
                ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
                ["fd00::1", "FD00:0::2", "10.0.0.3"],
                ["::ffff:10.0.0.1", "10.0.0.2", "fd00::3"],
            ]),
            options in options(),
        ) {
            let nodes = node_set(ips);
            let quick = plan_lines(&content, &nodes, &options, true);
            let slow = plan_lines(&content, &nodes, &options, false);
            prop_assert_eq!(&quick, &slow);
            let content = quick.content();
            prop_assert_eq!(content.as_ref(), quick.pieces().concat());
            prop_assert_eq!(quick.changed(), matches!(content, Cow::Owned(_)));
        }
    }

    /// The filter compares IPv4 fields as text: no other spelling of an
    /// address may parse.
    #[test]
    fn ipv4_addresses_have_one_spelling() {
        for text in [
            "010.0.0.1",
            "10.0.0.01",
            "10.00.0.1",
            "0x0a.0.0.1",
            "10.0.1",
            "10.1",
        ] {
            assert!(text.parse::<IpAddr>().is_err(), "{text}");
        }
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(ip.to_string(), "10.0.0.1");
    }

    /// Every byte value, at every place in a word, among neighbours of
    /// every kind: the word tests agree with the byte tests.
    #[test]
    fn word_tests_agree_with_byte_tests() {
        let neighbours = [
            b'a', b'\n', b' ', b'#', 0x00, 0x08, 0x0e, 0x7f, 0x80, 0x89, 0xa0, 0xff,
        ];
        for b in 0..=255u8 {
            for at in 0..8 {
                for n in neighbours {
                    let mut bytes = [n; 8];
                    bytes[at] = b;
                    let w = u64::from_le_bytes(bytes);
                    for (k, byte) in bytes.iter().enumerate() {
                        let bit = 0x80u64 << (8 * k);
                        assert_eq!(field_ends(w) & bit != 0, class(*byte) != NAME, "{bytes:?}");
                        assert_eq!(
                            bytes_equal(w, b'\n') & bit != 0,
                            *byte == b'\n',
                            "{bytes:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fields_and_lines_end_where_the_bytes_say() {
        let text = b"10.0.0.1\tpve1.example.com\x0bpve1#c\nlong-name-longer-than-a-word\xc3\xa9 x";
        for from in 0..text.len() {
            let field = (from..text.len())
                .find(|i| class(text[*i]) != NAME)
                .unwrap_or(text.len());
            assert_eq!(field_end(text, from), field, "from {from}");
            let line = (from..text.len()).find(|i| text[*i] == b'\n');
            assert_eq!(newline(text, from), line, "from {from}");
        }
    }

    /// Names of 256 bytes or more are beyond the filter's tables: they
    /// always pass.
    #[test]
    fn long_local_names_are_seen() {
        let nodes = node_set(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        let long = "q".repeat(256);
        let options = Options {
            local_hostname: Some(format!("{long}.pve3")),
            ..Options::default()
        };
        let content = format!("127.0.0.1 localhost {long}\n");
        let quick = plan_lines(&content, &nodes, &options, true);
        assert_eq!(quick, plan_lines(&content, &nodes, &options, false));
        assert!(quick
            .notices
            .iter()
            .any(|n| matches!(n, Notice::LocalNameOnLoopback { lines, .. } if lines == &[1])));
    }

    #[test]
    fn unchanged_content_is_borrowed() {
        let nodes = node_set(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        let text = "127.0.0.1 localhost\n10.0.0.1 PVE1.example.com pve1 Alias1\n\
                    10.0.0.2 PVE2.example.com pve2 Alias2\n10.0.0.3 PVE3.example.com pve3 Alias3";
        let edits = plan_edits(text, &nodes, &Options::default());
        assert!(!edits.changed());
        assert!(matches!(edits.content(), Cow::Borrowed(t) if t == text));
        assert_eq!(edits.pieces(), vec![text]);
    }

    #[test]
    fn pieces_keep_the_untouched_runs_whole() {
        let nodes = node_set(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        let text = "a\r\nb\r\n127.0.1.1 pve1\r\nc\r\nd";
        let edits = plan_edits(text, &nodes, &Options::default());
        assert_eq!(
            edits.pieces(),
            vec![
                "a\r\nb\r\n",
                "c\r\nd",
                "\r\n",
                "10.0.0.1 PVE1.example.com pve1 Alias1",
                "\r\n",
                "10.0.0.2 PVE2.example.com pve2 Alias2",
                "\r\n",
                "10.0.0.3 PVE3.example.com pve3 Alias3",
                "\r\n",
            ]
        );
    }
}
