//! The membership table (`Nodeid Votes Qdevice Name`) that both `pvecm
//! status` and `pvecm nodes` print.

use super::error::ParseError;
use super::line::{parse_nodeid, parse_u32, Line, Sect};
use super::report::{MemberRow, Membership, QdeviceRow};

fn is_qdevice_state(text: &str) -> bool {
    if text == "NR" {
        return true;
    }
    let parts: Vec<&str> = text.split(',').collect();
    matches!(
        parts.as_slice(),
        [a, v, m] if matches!(*a, "A" | "NA") && matches!(*v, "V" | "NV") && matches!(*m, "MW" | "NMW")
    )
}

#[derive(Clone, Copy)]
pub(super) struct Columns {
    pub(super) votes: bool,
    pub(super) qdevice: bool,
}

pub(super) fn parse_membership_header(line: &Line<'_>) -> Option<Columns> {
    let words: Vec<&str> = line.text.split_whitespace().collect();
    match words.as_slice() {
        ["Nodeid", "Votes", "Name"] => Some(Columns {
            votes: true,
            qdevice: false,
        }),
        ["Nodeid", "Votes", "Qdevice", "Name"] => Some(Columns {
            votes: true,
            qdevice: true,
        }),
        ["Nodeid", "Name"] => Some(Columns {
            votes: false,
            qdevice: false,
        }),
        _ => None,
    }
}

pub(super) fn parse_member_row(
    membership: &mut Membership,
    columns: Columns,
    line: &Line<'_>,
) -> Result<(), ParseError> {
    let ctx = Sect::Membership.context();
    let words: Vec<&str> = line.text.split_whitespace().collect();
    let Some((first, mut rest)) = words.split_first() else {
        return Err(line.unexpected(ctx));
    };
    let Some(nodeid) = parse_nodeid(first) else {
        return Err(line.unexpected(ctx));
    };
    let mut votes = None;
    if columns.votes {
        let Some((v, r)) = rest.split_first() else {
            return Err(line.invalid("votes"));
        };
        votes = Some(parse_u32(v).ok_or_else(|| line.invalid("votes"))?);
        rest = r;
    }

    if nodeid == 0 {
        // `0x00000000          1            Qdevice` or, when the QDevice does
        // not vote for this node, `...  0            Qdevice (votes 1)`.
        let shown = votes.ok_or_else(|| line.invalid("QDevice votes"))?;
        let (name, casting, total) = match rest {
            [name] => (*name, true, shown),
            [name, "(votes", n] => {
                let n = n
                    .strip_suffix(')')
                    .and_then(parse_u32)
                    .ok_or_else(|| line.invalid("QDevice votes"))?;
                (*name, false, n)
            }
            _ => return Err(line.unexpected(ctx)),
        };
        if membership.qdevice.is_some() {
            return Err(line.unexpected(&format!("(second QDevice row) {ctx}")));
        }
        membership.qdevice = Some(QdeviceRow {
            votes: total,
            casting,
            name: name.to_string(),
        });
        return Ok(());
    }

    let mut qdevice = None;
    if columns.qdevice {
        let Some((q, r)) = rest.split_first() else {
            return Err(line.invalid("QDevice state"));
        };
        if !is_qdevice_state(q) {
            return Err(line.invalid("QDevice state"));
        }
        qdevice = Some(q.to_string());
        rest = r;
    }
    let (name, local) = match rest {
        [] => (None, false),
        ["(local)"] => (None, true),
        [name] => (Some(name.to_string()), false),
        [name, "(local)"] => (Some(name.to_string()), true),
        _ => return Err(line.unexpected(ctx)),
    };
    if membership.members.iter().any(|m| m.nodeid == nodeid) {
        return Err(line.unexpected(&format!("(repeated node id) {ctx}")));
    }
    membership.members.push(MemberRow {
        nodeid,
        votes,
        qdevice,
        name,
        local,
    });
    Ok(())
}
