//! A hosts file as lines that render back to the same bytes.

use std::net::IpAddr;
use std::ops::Range;

/// One line without its terminator, and the terminator (`"\n"`, `"\r\n"`,
/// or `""` for a last line that has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's bytes up to its terminator.
    pub text: String,
    /// The terminator: `"\n"`, `"\r\n"` or `""`.
    pub eol: &'static str,
}

/// The lines of a hosts file. `render(parse(s)) == s` for every `s`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsFile {
    /// Every line of the file, in order.
    pub lines: Vec<Line>,
}

impl HostsFile {
    /// Splits `content` into its lines; never fails.
    pub fn parse(content: &str) -> HostsFile {
        HostsFile {
            lines: split_lines(content)
                .map(|(text, eol)| Line {
                    text: text.to_string(),
                    eol,
                })
                .collect(),
        }
    }

    /// The file's content: every line followed by its terminator.
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

/// The lines of `content` without their terminators, and the terminators.
pub(crate) fn split_lines(content: &str) -> impl Iterator<Item = (&str, &'static str)> {
    let mut rest = content;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (raw, next) = match rest.find('\n') {
            Some(pos) => (rest.get(..pos).unwrap_or(""), rest.get(pos + 1..)),
            None => (rest, None),
        };
        let line = match next {
            None => (raw, ""),
            Some(_) => match raw.strip_suffix('\r') {
                Some(stripped) => (stripped, "\r\n"),
                None => (raw, "\n"),
            },
        };
        rest = next.unwrap_or("");
        Some(line)
    })
}

/// What the resolver sees in a line: an address and names, each with its
/// byte range in the line, and where a `#` comment starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The address in the line's first field.
    pub ip: IpAddr,
    /// Byte range of the address in the line.
    pub ip_span: Range<usize>,
    /// Byte ranges of the names after the address, in order.
    pub names: Vec<Range<usize>>,
    /// Byte offset of the `#`, if the line has a comment.
    pub comment: Option<usize>,
}

/// Field separators as the C library's parser sees them (`isspace`).
pub const fn is_sep(b: u8) -> bool {
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

/// The address of an entry line and the part before any comment, without
/// allocating; `None` where [`parse_entry`] gives `None`.
pub(crate) fn quick_entry(text: &str) -> Option<(IpAddr, &str)> {
    let body = text
        .get(..text.find('#').unwrap_or(text.len()))
        .unwrap_or("");
    let first = token_spans(body).next()?;
    let ip = body.get(first)?.parse::<IpAddr>().ok()?;
    Some((ip, body))
}

/// The name fields of an entry's body (as returned by [`quick_entry`]).
pub(crate) fn name_tokens(body: &str) -> impl Iterator<Item = &str> {
    token_spans(body).skip(1).filter_map(|span| body.get(span))
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
