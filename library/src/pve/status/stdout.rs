//! The stdout of `pvecm`: the walk through its sections, and the value
//! rules the line parsers share.

use super::error::ParseError;
use super::report::{ClusterInfo, Membership, QuorumInfo, VotequorumInfo};
use super::sections::{parse_cluster_line, parse_quorum_line, parse_votequorum_line};
use super::table::{parse_member_row, parse_membership_header, Columns};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Sect {
    Cluster,
    Quorum,
    Votequorum,
    Membership,
}

impl Sect {
    fn from_header(line: &str) -> Option<Sect> {
        match line {
            "Cluster information" => Some(Sect::Cluster),
            "Quorum information" => Some(Sect::Quorum),
            "Votequorum information" => Some(Sect::Votequorum),
            "Membership information" => Some(Sect::Membership),
            _ => None,
        }
    }

    pub(super) fn context(self) -> &'static str {
        match self {
            Sect::Cluster => "in the Cluster information section",
            Sect::Quorum => "in the Quorum information section",
            Sect::Votequorum => "in the Votequorum information section",
            Sect::Membership => "in the Membership information section",
        }
    }
}

#[derive(Default)]
pub(super) struct Parsed {
    pub(super) cluster_info: Option<ClusterInfo>,
    pub(super) quorum: Option<QuorumInfo>,
    pub(super) votequorum: Option<VotequorumInfo>,
    pub(super) membership: Option<Membership>,
}

pub(super) struct Line<'a> {
    pub(super) no: usize,
    pub(super) raw: &'a str,
    /// Without the trailing CR and surrounding whitespace.
    pub(super) text: &'a str,
}

impl Line<'_> {
    pub(super) fn unexpected(&self, context: &str) -> ParseError {
        ParseError::UnexpectedLine {
            line_no: self.no,
            line: self.raw.trim_end_matches('\r').to_string(),
            context: context.to_string(),
        }
    }

    pub(super) fn invalid(&self, field: &'static str) -> ParseError {
        ParseError::InvalidValue {
            line_no: self.no,
            line: self.raw.trim_end_matches('\r').to_string(),
            field,
        }
    }

    /// `Label:   value` → ("Label", "value").
    pub(super) fn label_value(&self) -> Option<(&str, &str)> {
        let (label, value) = self.text.split_once(':')?;
        Some((label.trim_end(), value.trim()))
    }
}

pub(super) fn parse_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A node id as corosync prints it: `0x%08x` with `-H`, else decimal.
pub(super) fn parse_nodeid(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None => parse_u32(text),
    }
}

pub(super) fn is_ring_id(text: &str) -> bool {
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.bytes().all(|b| f(&b));
    if let Some((a, b)) = text.split_once('/') {
        return all(a, u8::is_ascii_digit) && all(b, u8::is_ascii_digit);
    }
    if let Some((a, b)) = text.split_once('.') {
        return all(a, u8::is_ascii_hexdigit) && all(b, u8::is_ascii_hexdigit);
    }
    all(text, u8::is_ascii_digit)
}

pub(super) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    line: &Line<'_>,
    ctx: &str,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(line.unexpected(&format!("(repeated) {ctx}")));
    }
    *slot = Some(value);
    Ok(())
}

impl Parsed {
    /// Starts `sect`, empty.
    fn open(&mut self, sect: Sect) {
        match sect {
            Sect::Cluster => {
                self.cluster_info = Some(ClusterInfo {
                    name: None,
                    config_version: None,
                    transport: None,
                    secure_auth: None,
                })
            }
            Sect::Quorum => {
                self.quorum = Some(QuorumInfo {
                    date: None,
                    provider: None,
                    nodes: None,
                    node_id: None,
                    ring_id: None,
                    quorate: None,
                })
            }
            Sect::Votequorum => {
                self.votequorum = Some(VotequorumInfo {
                    expected_votes: None,
                    highest_expected: None,
                    total_votes: None,
                    quorum: None,
                    activity_blocked: None,
                    flags: None,
                })
            }
            Sect::Membership => {
                self.membership = Some(Membership {
                    members: Vec::new(),
                    qdevice: None,
                    qdevice_column: false,
                })
            }
        }
    }

    /// A line inside `sect`; `columns` is the membership table's header,
    /// once read.
    fn take_line(
        &mut self,
        sect: Sect,
        columns: &mut Option<Columns>,
        line: &Line<'_>,
    ) -> Result<(), ParseError> {
        match sect {
            Sect::Cluster => {
                if let Some(info) = self.cluster_info.as_mut() {
                    parse_cluster_line(info, line)?;
                }
            }
            Sect::Quorum => {
                if let Some(info) = self.quorum.as_mut() {
                    parse_quorum_line(info, line)?;
                }
            }
            Sect::Votequorum => {
                if let Some(info) = self.votequorum.as_mut() {
                    parse_votequorum_line(info, line)?;
                }
            }
            Sect::Membership => {
                let Some(membership) = self.membership.as_mut() else {
                    return Ok(());
                };
                match *columns {
                    None => {
                        let cols = parse_membership_header(line).ok_or_else(|| {
                            line.unexpected("(expected the Nodeid/Votes/Name header)")
                        })?;
                        membership.qdevice_column = cols.qdevice;
                        *columns = Some(cols);
                    }
                    Some(cols) => parse_member_row(membership, cols, line)?,
                }
            }
        }
        Ok(())
    }
}

pub(super) fn parse_stdout(stdout: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut current: Option<Sect> = None;
    let mut last_seen: Option<Sect> = None;
    let mut expect_underline = false;
    let mut columns: Option<Columns> = None;

    for (index, raw) in stdout.split('\n').enumerate() {
        let line = Line {
            no: index + 1,
            raw,
            text: raw.trim_end_matches('\r').trim(),
        };
        if line.text.is_empty() {
            continue;
        }
        if expect_underline {
            expect_underline = false;
            if line.text.bytes().all(|b| b == b'-') {
                continue;
            }
        }
        if let Some(sect) = Sect::from_header(line.text) {
            if last_seen.is_some_and(|prev| prev >= sect) {
                return Err(line.unexpected("(section out of order or repeated)"));
            }
            last_seen = Some(sect);
            current = Some(sect);
            expect_underline = true;
            parsed.open(sect);
            continue;
        }
        let Some(sect) = current else {
            return Err(line.unexpected("before any known section"));
        };
        parsed.take_line(sect, &mut columns, &line)?;
    }
    Ok(parsed)
}
