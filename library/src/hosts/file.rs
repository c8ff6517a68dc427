//! A hosts file as lines that render back to the same bytes.

use std::net::IpAddr;
use std::ops::Range;

/// One line without its terminator, and the terminator (`"\n"`, `"\r\n"`,
/// or `""` for a last line that has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub eol: &'static str,
}

/// The lines of a hosts file. `render(parse(s)) == s` for every `s`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsFile {
    pub lines: Vec<Line>,
}

impl HostsFile {
    pub fn parse(content: &str) -> HostsFile {
        let mut lines = Vec::new();
        let mut rest = content;
        while !rest.is_empty() {
            let (raw, eol_len, next) = match rest.find('\n') {
                Some(pos) => (rest.get(..pos).unwrap_or(""), 1, rest.get(pos + 1..)),
                None => (rest, 0, None),
            };
            let (text, eol) = if eol_len == 0 {
                (raw, "")
            } else if let Some(stripped) = raw.strip_suffix('\r') {
                (stripped, "\r\n")
            } else {
                (raw, "\n")
            };
            lines.push(Line {
                text: text.to_string(),
                eol,
            });
            rest = next.unwrap_or("");
        }
        HostsFile { lines }
    }

    pub fn render(&self) -> String {
        let len = self.lines.iter().map(|l| l.text.len() + l.eol.len()).sum();
        let mut out = String::with_capacity(len);
        for line in &self.lines {
            out.push_str(&line.text);
            out.push_str(line.eol);
        }
        out
    }
}

/// What the resolver sees in a line: an address and names, each with its
/// byte range in the line, and where a `#` comment starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ip: IpAddr,
    pub ip_span: Range<usize>,
    pub names: Vec<Range<usize>>,
    /// Byte offset of the `#`, if the line has a comment.
    pub comment: Option<usize>,
}

/// Field separators as the C library's parser sees them (`isspace`).
pub fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Parses one line. `None` for blank lines, comments, and lines whose first
/// field is not an address: the resolver ignores those, and so do we.
pub fn parse_entry(text: &str) -> Option<Entry> {
    let comment = text.find('#');
    let body = text.get(..comment.unwrap_or(text.len())).unwrap_or("");
    let mut spans = token_spans(body);
    let first = spans.next()?;
    let ip = body.get(first.clone())?.parse::<IpAddr>().ok()?;
    Some(Entry {
        ip,
        ip_span: first,
        names: spans.collect(),
        comment,
    })
}

fn token_spans(body: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = body.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while bytes.get(pos).is_some_and(|b| is_sep(*b)) {
            pos += 1;
        }
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        while bytes.get(pos).is_some_and(|b| !is_sep(*b)) {
            pos += 1;
        }
        Some(start..pos)
    })
}
