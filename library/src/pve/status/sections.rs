//! The `Label: value` lines of the Cluster, Quorum and Votequorum
//! information sections.

use super::error::ParseError;
use super::line::{is_ring_id, parse_nodeid, parse_u32, set_once, Line, Sect};
use super::report::{ClusterInfo, QuorumInfo, VotequorumInfo};

pub(super) fn parse_cluster_line(
    info: &mut ClusterInfo,
    line: &Line<'_>,
) -> Result<(), ParseError> {
    let ctx = Sect::Cluster.context();
    let Some((label, value)) = line.label_value() else {
        return Err(line.unexpected(ctx));
    };
    match label {
        "Name" => {
            // PVE's default for a file without a cluster name (sic).
            let v = (value != "UNKOWN?" && !value.is_empty()).then(|| value.to_string());
            if info.name.is_some() {
                return Err(line.unexpected(&format!("(repeated) {ctx}")));
            }
            info.name = v;
            Ok(())
        }
        "Config Version" => {
            let v: i64 = value.parse().map_err(|_| line.invalid("config version"))?;
            set_once(&mut info.config_version, v, line, ctx)
        }
        "Transport" => {
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(line.invalid("transport"));
            }
            set_once(&mut info.transport, value.to_string(), line, ctx)
        }
        "Secure auth" => {
            let v = match value {
                "on" | "yes" | "1" => true,
                "off" | "no" | "0" => false,
                _ => return Err(line.invalid("secure auth")),
            };
            set_once(&mut info.secure_auth, v, line, ctx)
        }
        _ => Err(line.unexpected(ctx)),
    }
}

pub(super) fn parse_quorum_line(info: &mut QuorumInfo, line: &Line<'_>) -> Result<(), ParseError> {
    let ctx = Sect::Quorum.context();
    let Some((label, value)) = line.label_value() else {
        return Err(line.unexpected(ctx));
    };
    match label {
        "Date" => set_once(&mut info.date, value.to_string(), line, ctx),
        "Quorum provider" => {
            if value.is_empty() {
                return Err(line.invalid("quorum provider"));
            }
            set_once(&mut info.provider, value.to_string(), line, ctx)
        }
        "Nodes" => {
            let v = parse_u32(value).ok_or_else(|| line.invalid("node count"))?;
            set_once(&mut info.nodes, v, line, ctx)
        }
        "Node ID" => {
            let v = parse_nodeid(value).ok_or_else(|| line.invalid("node id"))?;
            set_once(&mut info.node_id, v, line, ctx)
        }
        "Ring ID" => {
            if !is_ring_id(value) {
                return Err(line.invalid("ring id"));
            }
            set_once(&mut info.ring_id, value.to_string(), line, ctx)
        }
        "Quorate" => {
            let v = match value {
                "Yes" => true,
                "No" => false,
                _ => return Err(line.invalid("quorate value")),
            };
            set_once(&mut info.quorate, v, line, ctx)
        }
        _ => Err(line.unexpected(ctx)),
    }
}

pub(super) fn parse_votequorum_line(
    info: &mut VotequorumInfo,
    line: &Line<'_>,
) -> Result<(), ParseError> {
    let ctx = Sect::Votequorum.context();
    let Some((label, value)) = line.label_value() else {
        return Err(line.unexpected(ctx));
    };
    let number = |field: &'static str| parse_u32(value).ok_or_else(|| line.invalid(field));
    match label {
        "Expected votes" => set_once(
            &mut info.expected_votes,
            number("expected votes")?,
            line,
            ctx,
        ),
        "Highest expected" => set_once(
            &mut info.highest_expected,
            number("highest expected votes")?,
            line,
            ctx,
        ),
        "Total votes" => set_once(&mut info.total_votes, number("total votes")?, line, ctx),
        "Quorum" => {
            let mut words = value.split_whitespace();
            let q = words
                .next()
                .and_then(parse_u32)
                .ok_or_else(|| line.invalid("quorum"))?;
            let rest: Vec<&str> = words.collect();
            let blocked = match rest.as_slice() {
                [] => false,
                ["Activity", "blocked"] => true,
                _ => return Err(line.invalid("quorum")),
            };
            set_once(&mut info.quorum, q, line, ctx)?;
            info.activity_blocked = Some(blocked);
            Ok(())
        }
        "Flags" => {
            let flags: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            if flags
                .iter()
                .any(|f| !f.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return Err(line.invalid("flags"));
            }
            set_once(&mut info.flags, flags, line, ctx)
        }
        _ => Err(line.unexpected(ctx)),
    }
}
