//! The stdout of `pvecm`: the walk through its sections.

use super::error::ParseError;
use super::line::{Line, Sect};
use super::report::{ClusterInfo, Membership, QuorumInfo, VotequorumInfo};
use super::sections::{parse_cluster_line, parse_quorum_line, parse_votequorum_line};
use super::table::{parse_member_row, parse_membership_header, Columns};

#[derive(Default)]
pub(super) struct Parsed {
    pub(super) cluster_info: Option<ClusterInfo>,
    pub(super) quorum: Option<QuorumInfo>,
    pub(super) votequorum: Option<VotequorumInfo>,
    pub(super) membership: Option<Membership>,
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
