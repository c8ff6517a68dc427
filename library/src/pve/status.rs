//! Parsers for `pvecm status` and `pvecm nodes`, and their merge into one
//! [`ClusterView`].
//!
//! `pvecm status` prints PVE's "Cluster information" block (PVE ≥ 6.1, values
//! read from `/etc/pve/corosync.conf`) and then execs `corosync-quorumtool
//! -siH`: "Quorum information", "Votequorum information" and "Membership
//! information" with hex node ids and numeric addresses. `pvecm nodes` execs
//! `corosync-quorumtool -l`: the membership table alone, decimal ids, node
//! names. The state is decided from the text only; the exit status of `pvecm`
//! is ambiguous (2 means both "not quorate" and "not in a cluster").
//!
//! The parsers are strict where it matters and lenient where real captures
//! differ: blank lines, CRLF and stripped trailing whitespace are accepted,
//! sections and lines may be missing (partial captures), but a line that is
//! not part of the known layouts fails the parse and is quoted in the error.

use super::corosync_conf::CorosyncConf;
use serde::Serialize;
use std::fmt;

/// Why captured `pvecm` output could not be turned into a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// pmxcfs (the pve-cluster service) is not running, so `pvecm` cannot start.
    PmxcfsDown { line: String },
    /// `/etc/pve` is not mounted.
    PmxcfsNotMounted { line: String },
    /// The node's own name does not resolve to a usable address.
    HostnameResolution { node: Option<String>, line: String },
    /// `corosync-quorumtool` reached corosync but failed (other than "corosync is down").
    Corosync { line: String },
    /// Neither stdout nor stderr had any text.
    Empty,
    /// Stdout had a line that fits no known layout.
    UnexpectedLine {
        line_no: usize,
        line: String,
        context: String,
    },
    /// A known line whose value is not what corosync prints.
    InvalidValue {
        line_no: usize,
        line: String,
        field: &'static str,
    },
    /// The output is too incomplete to decide the state.
    Incomplete { what: String },
    /// Stderr had an error this parser does not know, and stdout had nothing to parse.
    Unrecognized { line: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::PmxcfsDown { line } => write!(
                f,
                "the Proxmox cluster file system is not running ('{line}'): start it with 'systemctl start pve-cluster' and check 'journalctl -u pve-cluster'"
            ),
            ParseError::PmxcfsNotMounted { line } => write!(
                f,
                "/etc/pve is not mounted ('{line}'): start the pve-cluster service and check 'journalctl -u pve-cluster'"
            ),
            ParseError::HostnameResolution { node, line } => {
                let who = match node {
                    Some(n) => format!("the node name '{n}'"),
                    None => "the node name".to_string(),
                };
                write!(
                    f,
                    "{who} does not resolve to a non-loopback IP address ('{line}'): add the node's address to /etc/hosts or DNS"
                )
            }
            ParseError::Corosync { line } => write!(
                f,
                "corosync-quorumtool could not read the cluster state: '{line}' (is corosync starting or restarting?)"
            ),
            ParseError::Empty => write!(f, "pvecm printed nothing on stdout or stderr"),
            ParseError::UnexpectedLine {
                line_no,
                line,
                context,
            } => write!(f, "cannot parse pvecm output: unexpected line {line_no} {context}: '{line}'"),
            ParseError::InvalidValue {
                line_no,
                line,
                field,
            } => write!(f, "cannot parse pvecm output: invalid {field} on line {line_no}: '{line}'"),
            ParseError::Incomplete { what } => write!(f, "cannot parse pvecm output: {what}"),
            ParseError::Unrecognized { line } => {
                write!(f, "pvecm failed with an error this module does not know: '{line}'")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// What the output says about this node's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// No `/etc/pve/corosync.conf`: a standalone node.
    NotInCluster,
    /// Configured as a cluster member, but corosync is not running (`Cannot initialize CMAP service`).
    CorosyncDown,
    /// corosync answered.
    Running,
}

/// PVE's "Cluster information" block (PVE ≥ 6.1), read from corosync.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// `Name:`; PVE prints `UNKOWN?` when the file has no cluster name.
    pub name: Option<String>,
    /// `Config Version:`; PVE prints -1 when the file has none.
    pub config_version: Option<i64>,
    pub transport: Option<String>,
    /// `Secure auth:` on/off.
    pub secure_auth: Option<bool>,
}

/// corosync's "Quorum information" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumInfo {
    pub date: Option<String>,
    pub provider: Option<String>,
    /// `Nodes:`, the members in the current view.
    pub nodes: Option<u32>,
    /// `Node ID:`, this node's id (hex or decimal in the text).
    pub node_id: Option<u32>,
    /// `Ring ID:` as printed (`1/348` or `1.9e1`).
    pub ring_id: Option<String>,
    pub quorate: Option<bool>,
}

/// corosync's "Votequorum information" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VotequorumInfo {
    pub expected_votes: Option<u32>,
    pub highest_expected: Option<u32>,
    pub total_votes: Option<u32>,
    pub quorum: Option<u32>,
    /// `Quorum: N Activity blocked`.
    pub activity_blocked: Option<bool>,
    /// `Flags:` in printed order; `None` when the line is missing, empty when no flag is set.
    pub flags: Option<Vec<String>>,
}

/// One member row of the membership table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRow {
    pub nodeid: u32,
    /// `None` when corosync printed no votes column.
    pub votes: Option<u32>,
    /// The QDevice column (`A,V,NMW`, `NR`, ...) when a QDevice is registered.
    pub qdevice: Option<String>,
    /// The name column: an address for `pvecm status`, a node name for `pvecm nodes`.
    pub name: Option<String>,
    pub local: bool,
}

/// The QDevice pseudo-row (node id 0) of the membership table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QdeviceRow {
    /// The votes the QDevice has, whether or not it casts them now.
    pub votes: u32,
    /// Whether it casts its votes for this node (no ` (votes N)` suffix).
    pub casting: bool,
    pub name: String,
}

/// corosync's "Membership information" section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub members: Vec<MemberRow>,
    pub qdevice: Option<QdeviceRow>,
    /// Whether the table had the `Qdevice` column.
    pub qdevice_column: bool,
}

/// Parsed `pvecm status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub state: NodeState,
    pub cluster_info: Option<ClusterInfo>,
    pub quorum: Option<QuorumInfo>,
    pub votequorum: Option<VotequorumInfo>,
    pub membership: Option<Membership>,
    /// Stderr lines that did not change the outcome (e.g. a warning next to a full status).
    pub warnings: Vec<String>,
}

/// Parsed `pvecm nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodesReport {
    pub state: NodeState,
    pub membership: Option<Membership>,
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------
// stderr

enum StderrKind {
    NotInCluster,
    CmapDown,
    Fatal(ParseError),
    Other(String),
}

fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?;
    let end = rest.find('\'')?;
    rest.get(..end)
}

fn classify_stderr_line(line: &str) -> StderrKind {
    let text = line.trim();
    let body = text.strip_prefix("Error: ").unwrap_or(text);
    if body.starts_with("Corosync config '")
        && body.ends_with("' does not exist - is this node part of a cluster?")
    {
        return StderrKind::NotInCluster;
    }
    if text == "Cannot initialize CMAP service" {
        return StderrKind::CmapDown;
    }
    if text.starts_with("Cannot initialize QUORUM service")
        || text.starts_with("Cannot initialise CFG service")
        || text.starts_with("Cannot initialise VOTEQUORUM service")
        || text.starts_with("Unable to retrieve this_node_id")
        || text.starts_with("Unable to get cluster quorate status")
        || text.starts_with("Unable to start quorum status tracking")
        || text.starts_with("Unable to dispatch quorum status")
    {
        return StderrKind::Fatal(ParseError::Corosync {
            line: text.to_string(),
        });
    }
    if (text.starts_with("ipcc_send_rec[") && text.contains("failed"))
        || text.starts_with("Unable to load access control list")
    {
        return StderrKind::Fatal(ParseError::PmxcfsDown {
            line: text.to_string(),
        });
    }
    if text.contains("pve configuration filesystem (pmxcfs) not mounted")
        || text.contains("pve configuration filesystem not mounted")
    {
        return StderrKind::Fatal(ParseError::PmxcfsNotMounted {
            line: text.to_string(),
        });
    }
    if text.starts_with("address lookup for '") && text.ends_with("did not find any IP address") {
        return StderrKind::Fatal(ParseError::HostnameResolution {
            node: quoted_after(text, "address lookup for '").map(str::to_string),
            line: text.to_string(),
        });
    }
    if text.starts_with("hostname lookup '") {
        return StderrKind::Fatal(ParseError::HostnameResolution {
            node: quoted_after(text, "hostname lookup '").map(str::to_string),
            line: text.to_string(),
        });
    }
    if let Some(rest) = text.strip_prefix("hostname lookup failed - got local IP address (") {
        // PVE 4: `hostname lookup failed - got local IP address (<node> = 127.0.1.1)`
        let node = rest.split(" = ").next().map(str::to_string);
        return StderrKind::Fatal(ParseError::HostnameResolution {
            node,
            line: text.to_string(),
        });
    }
    StderrKind::Other(text.to_string())
}

struct StderrSummary {
    not_in_cluster: bool,
    cmap_down: bool,
    fatal: Option<ParseError>,
    others: Vec<String>,
}

fn scan_stderr(stderr: &str) -> StderrSummary {
    let mut summary = StderrSummary {
        not_in_cluster: false,
        cmap_down: false,
        fatal: None,
        others: Vec::new(),
    };
    for line in stderr.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match classify_stderr_line(line) {
            StderrKind::NotInCluster => summary.not_in_cluster = true,
            StderrKind::CmapDown => summary.cmap_down = true,
            StderrKind::Fatal(e) => {
                // pmxcfs and name-resolution failures happen before anything
                // else runs, so they win over a later corosync complaint.
                let replace = match (&summary.fatal, &e) {
                    (None, _) => true,
                    (Some(ParseError::Corosync { .. }), ParseError::Corosync { .. }) => false,
                    (Some(ParseError::Corosync { .. }), _) => true,
                    _ => false,
                };
                if replace {
                    summary.fatal = Some(e);
                }
            }
            StderrKind::Other(text) => summary.others.push(text),
        }
    }
    summary
}

// ---------------------------------------------------------------------------
// stdout

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sect {
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

    fn context(self) -> &'static str {
        match self {
            Sect::Cluster => "in the Cluster information section",
            Sect::Quorum => "in the Quorum information section",
            Sect::Votequorum => "in the Votequorum information section",
            Sect::Membership => "in the Membership information section",
        }
    }
}

#[derive(Default)]
struct Parsed {
    cluster_info: Option<ClusterInfo>,
    quorum: Option<QuorumInfo>,
    votequorum: Option<VotequorumInfo>,
    membership: Option<Membership>,
}

struct Line<'a> {
    no: usize,
    raw: &'a str,
    /// Without the trailing CR and surrounding whitespace.
    text: &'a str,
}

impl Line<'_> {
    fn unexpected(&self, context: &str) -> ParseError {
        ParseError::UnexpectedLine {
            line_no: self.no,
            line: self.raw.trim_end_matches('\r').to_string(),
            context: context.to_string(),
        }
    }

    fn invalid(&self, field: &'static str) -> ParseError {
        ParseError::InvalidValue {
            line_no: self.no,
            line: self.raw.trim_end_matches('\r').to_string(),
            field,
        }
    }

    /// `Label:   value` → ("Label", "value").
    fn label_value(&self) -> Option<(&str, &str)> {
        let (label, value) = self.text.split_once(':')?;
        Some((label.trim_end(), value.trim()))
    }
}

fn parse_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A node id as corosync prints it: `0x%08x` with `-H`, else decimal.
fn parse_nodeid(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None => parse_u32(text),
    }
}

fn is_ring_id(text: &str) -> bool {
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.bytes().all(|b| f(&b));
    if let Some((a, b)) = text.split_once('/') {
        return all(a, u8::is_ascii_digit) && all(b, u8::is_ascii_digit);
    }
    if let Some((a, b)) = text.split_once('.') {
        return all(a, u8::is_ascii_hexdigit) && all(b, u8::is_ascii_hexdigit);
    }
    all(text, u8::is_ascii_digit)
}

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

fn set_once<T>(
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

fn parse_cluster_line(info: &mut ClusterInfo, line: &Line<'_>) -> Result<(), ParseError> {
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

fn parse_quorum_line(info: &mut QuorumInfo, line: &Line<'_>) -> Result<(), ParseError> {
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

fn parse_votequorum_line(info: &mut VotequorumInfo, line: &Line<'_>) -> Result<(), ParseError> {
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

#[derive(Clone, Copy)]
struct Columns {
    votes: bool,
    qdevice: bool,
}

fn parse_membership_header(line: &Line<'_>) -> Option<Columns> {
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

fn parse_member_row(
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

fn parse_stdout(stdout: &str) -> Result<Parsed, ParseError> {
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
            match sect {
                Sect::Cluster => {
                    parsed.cluster_info = Some(ClusterInfo {
                        name: None,
                        config_version: None,
                        transport: None,
                        secure_auth: None,
                    })
                }
                Sect::Quorum => {
                    parsed.quorum = Some(QuorumInfo {
                        date: None,
                        provider: None,
                        nodes: None,
                        node_id: None,
                        ring_id: None,
                        quorate: None,
                    })
                }
                Sect::Votequorum => {
                    parsed.votequorum = Some(VotequorumInfo {
                        expected_votes: None,
                        highest_expected: None,
                        total_votes: None,
                        quorum: None,
                        activity_blocked: None,
                        flags: None,
                    })
                }
                Sect::Membership => {
                    parsed.membership = Some(Membership {
                        members: Vec::new(),
                        qdevice: None,
                        qdevice_column: false,
                    })
                }
            }
            continue;
        }
        match current {
            None => return Err(line.unexpected("before any known section")),
            Some(Sect::Cluster) => {
                if let Some(info) = parsed.cluster_info.as_mut() {
                    parse_cluster_line(info, &line)?;
                }
            }
            Some(Sect::Quorum) => {
                if let Some(info) = parsed.quorum.as_mut() {
                    parse_quorum_line(info, &line)?;
                }
            }
            Some(Sect::Votequorum) => {
                if let Some(info) = parsed.votequorum.as_mut() {
                    parse_votequorum_line(info, &line)?;
                }
            }
            Some(Sect::Membership) => {
                let Some(membership) = parsed.membership.as_mut() else {
                    continue;
                };
                match columns {
                    None => {
                        let cols = parse_membership_header(&line).ok_or_else(|| {
                            line.unexpected("(expected the Nodeid/Votes/Name header)")
                        })?;
                        membership.qdevice_column = cols.qdevice;
                        columns = Some(cols);
                    }
                    Some(cols) => parse_member_row(membership, cols, &line)?,
                }
            }
        }
    }
    Ok(parsed)
}

fn has_text(s: &str) -> bool {
    !s.trim().is_empty()
}

/// Parses the stdout and stderr of `pvecm status` (never its exit status).
///
/// Not being in a cluster is `Ok` with [`NodeState::NotInCluster`]; a
/// configured node whose corosync is down is `Ok` with
/// [`NodeState::CorosyncDown`]. pmxcfs failures, name-resolution failures,
/// unknown errors and unparsable text are `Err`.
pub fn parse_status(stdout: &str, stderr: &str) -> Result<StatusReport, ParseError> {
    let err = scan_stderr(stderr);
    if let Some(fatal) = err.fatal.clone() {
        if !matches!(fatal, ParseError::Corosync { .. }) {
            return Err(fatal);
        }
    }
    let parsed = parse_stdout(stdout)?;
    let has_corosync_part =
        parsed.quorum.is_some() || parsed.votequorum.is_some() || parsed.membership.is_some();

    let state = if err.not_in_cluster {
        NodeState::NotInCluster
    } else if err.cmap_down && !has_corosync_part {
        NodeState::CorosyncDown
    } else if let Some(fatal) = err.fatal {
        return Err(fatal);
    } else if has_corosync_part {
        NodeState::Running
    } else if let Some(first) = err.others.first() {
        return Err(ParseError::Unrecognized {
            line: first.clone(),
        });
    } else if parsed.cluster_info.is_some() {
        return Err(ParseError::Incomplete {
            what: "the Cluster information block is not followed by corosync's quorum information"
                .to_string(),
        });
    } else {
        // stdout held only blank lines: any other line would have failed above.
        return Err(ParseError::Empty);
    };

    if state == NodeState::Running && quorate_of(&parsed).is_none() {
        return Err(ParseError::Incomplete {
            what: "cannot tell whether the cluster is quorate: neither a 'Quorate:' line nor the votequorum 'Quorum:' or 'Flags:' line is present".to_string(),
        });
    }
    if let Some(what) = quorum_contradiction(&parsed) {
        return Err(ParseError::Incomplete { what });
    }

    Ok(StatusReport {
        state,
        cluster_info: parsed.cluster_info,
        quorum: parsed.quorum,
        votequorum: parsed.votequorum,
        membership: parsed.membership,
        warnings: err.others,
    })
}

/// Parses the stdout and stderr of `pvecm nodes` (never its exit status).
pub fn parse_nodes(stdout: &str, stderr: &str) -> Result<NodesReport, ParseError> {
    let err = scan_stderr(stderr);
    if let Some(fatal) = err.fatal.clone() {
        if !matches!(fatal, ParseError::Corosync { .. }) {
            return Err(fatal);
        }
    }
    let parsed = parse_stdout(stdout)?;
    if parsed.cluster_info.is_some() || parsed.quorum.is_some() || parsed.votequorum.is_some() {
        // `pvecm nodes` prints the membership table only; this is `pvecm status` text.
        let first = stdout
            .split('\n')
            .enumerate()
            .find(|(_, l)| has_text(l))
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r').to_string()))
            .unwrap_or((1, String::new()));
        return Err(ParseError::UnexpectedLine {
            line_no: first.0,
            line: first.1,
            context: "in pvecm nodes output (only the membership table is expected)".to_string(),
        });
    }
    let state = if err.not_in_cluster {
        NodeState::NotInCluster
    } else if err.cmap_down && parsed.membership.is_none() {
        NodeState::CorosyncDown
    } else if let Some(fatal) = err.fatal {
        return Err(fatal);
    } else if parsed.membership.is_some() {
        NodeState::Running
    } else if let Some(first) = err.others.first() {
        return Err(ParseError::Unrecognized {
            line: first.clone(),
        });
    } else {
        return Err(ParseError::Empty);
    };
    Ok(NodesReport {
        state,
        membership: parsed.membership,
        warnings: err.others,
    })
}

/// Quorate from the most direct line present: `Quorate:`, then the
/// `Quorate` flag, then `Quorum: N` vs `Quorum: N Activity blocked` (corosync
/// prints the latter exactly when the votequorum quorate flag is clear).
fn quorate_of(parsed: &Parsed) -> Option<bool> {
    if let Some(q) = parsed.quorum.as_ref().and_then(|q| q.quorate) {
        return Some(q);
    }
    let vq = parsed.votequorum.as_ref()?;
    if let Some(flags) = &vq.flags {
        return Some(flags.iter().any(|f| f == "Quorate"));
    }
    vq.activity_blocked.map(|blocked| !blocked)
}

/// corosync prints `Quorate: Yes`, the `Quorate` flag and a `Quorum:` line
/// without `Activity blocked` together or not at all; text where they
/// disagree is corrupt or mixes two moments, and no answer can be trusted.
fn quorum_contradiction(parsed: &Parsed) -> Option<String> {
    let vq = parsed.votequorum.as_ref();
    let said = [
        ("'Quorate:'", parsed.quorum.as_ref().and_then(|q| q.quorate)),
        (
            "the Quorate flag",
            vq.and_then(|v| v.flags.as_ref())
                .map(|f| f.iter().any(|x| x == "Quorate")),
        ),
        (
            "'Activity blocked'",
            vq.and_then(|v| v.activity_blocked).map(|blocked| !blocked),
        ),
    ];
    let known: Vec<(&str, bool)> = said
        .iter()
        .filter_map(|(what, v)| v.map(|v| (*what, v)))
        .collect();
    let first = known.first()?;
    let other = known.iter().find(|(_, v)| *v != first.1)?;
    let word = |q: bool| if q { "quorate" } else { "not quorate" };
    Some(format!(
        "the quorum lines contradict each other ({} says {}, {} says {}): corosync may have been changing state; run again",
        first.0,
        word(first.1),
        other.0,
        word(other.1)
    ))
}

// ---------------------------------------------------------------------------
// merged view

/// This node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalNode {
    pub name: Option<String>,
    pub nodeid: u32,
}

/// One cluster node (never the QDevice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub nodeid: u32,
    /// From `pvecm nodes` or the corosync.conf nodelist.
    pub name: Option<String>,
    /// The runtime address from `pvecm status` (online nodes only).
    pub address: Option<String>,
    /// Runtime votes for online nodes, `quorum_votes` from corosync.conf for offline ones.
    pub votes: Option<u32>,
    pub local: bool,
    /// The QDevice column for this node (`A,V,NMW`, `NR`, ...), when shown.
    pub qdevice: Option<String>,
    pub online: bool,
}

/// The QDevice, when one is configured or registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QdeviceStatus {
    pub present: bool,
    pub votes: Option<u32>,
    /// This node's QDevice column (`A,V,NMW`, `NR`, ...).
    pub state: Option<String>,
    /// Whether the QDevice casts its votes for this node.
    pub casting: Option<bool>,
}

/// Everything known about the cluster from this node's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    pub in_cluster: bool,
    pub corosync_running: bool,
    pub cluster_name: Option<String>,
    pub config_version: Option<i64>,
    pub transport: Option<String>,
    pub secure_auth: Option<bool>,
    pub quorate: bool,
    pub local_node: Option<LocalNode>,
    pub expected_votes: Option<u32>,
    pub highest_expected: Option<u32>,
    pub total_votes: Option<u32>,
    pub quorum: Option<u32>,
    pub flags: Vec<String>,
    pub activity_blocked: bool,
    pub ring_id: Option<String>,
    /// Online members and, when corosync.conf was given, its offline nodes; by node id.
    pub nodes: Vec<NodeStatus>,
    /// `nodes.len()`: configured nodes when corosync.conf was given, else the members seen.
    pub node_count: usize,
    pub online_count: usize,
    pub qdevice: Option<QdeviceStatus>,
}

impl ClusterView {
    /// Merges what `pvecm status`, optionally `pvecm nodes`, and optionally
    /// `/etc/pve/corosync.conf` say. Names come from `pvecm nodes`, then from
    /// the nodelist; nodes in the nodelist but not in the membership are
    /// added as offline.
    pub fn from_parts(
        status: &StatusReport,
        nodes: Option<&NodesReport>,
        conf: Option<&CorosyncConf>,
    ) -> ClusterView {
        let in_cluster = status.state != NodeState::NotInCluster;
        let corosync_running = status.state == NodeState::Running;
        let info = status.cluster_info.as_ref();
        let quorum = status.quorum.as_ref();
        let vq = status.votequorum.as_ref();
        let conf = conf.filter(|_| in_cluster);
        let conf_nodes = conf.map(CorosyncConf::nodes).unwrap_or_default();

        let cluster_name = info
            .and_then(|i| i.name.clone())
            .or_else(|| conf.and_then(|c| c.cluster_name()).map(str::to_string));
        let config_version = info
            .and_then(|i| i.config_version)
            .filter(|v| *v >= 0)
            .or_else(|| {
                conf.and_then(|c| c.config_version())
                    .and_then(|v| i64::try_from(v).ok())
            });
        let transport = info
            .and_then(|i| i.transport.clone())
            .or_else(|| conf.and_then(|c| c.transport()).map(str::to_string));
        let secure_auth = info.and_then(|i| i.secure_auth).or_else(|| {
            conf.and_then(|c| c.totem_value("secauth"))
                .and_then(|v| match v {
                    "on" | "yes" | "1" => Some(true),
                    "off" | "no" | "0" => Some(false),
                    _ => None,
                })
        });

        let names_by_id = |id: u32| -> Option<String> {
            let from_nodes = nodes
                .and_then(|n| n.membership.as_ref())
                .and_then(|m| m.members.iter().find(|r| r.nodeid == id))
                .and_then(|r| r.name.clone());
            from_nodes.or_else(|| {
                conf_nodes
                    .iter()
                    .find(|n| n.nodeid == Some(id))
                    .and_then(|n| n.name.clone())
            })
        };

        let mut node_list: Vec<NodeStatus> = Vec::new();
        let status_members = if corosync_running {
            status.membership.as_ref()
        } else {
            None
        };
        if let Some(m) = status_members {
            for row in &m.members {
                node_list.push(NodeStatus {
                    nodeid: row.nodeid,
                    name: names_by_id(row.nodeid),
                    address: row.name.clone(),
                    votes: row.votes,
                    local: row.local,
                    qdevice: row.qdevice.clone(),
                    online: true,
                });
            }
        } else if let Some(m) = nodes
            .filter(|_| corosync_running)
            .and_then(|n| n.membership.as_ref())
        {
            for row in &m.members {
                node_list.push(NodeStatus {
                    nodeid: row.nodeid,
                    name: row.name.clone(),
                    address: None,
                    votes: row.votes,
                    local: row.local,
                    qdevice: row.qdevice.clone(),
                    online: true,
                });
            }
        }
        for cn in &conf_nodes {
            let Some(id) = cn.nodeid else { continue };
            if id == 0 || node_list.iter().any(|n| n.nodeid == id) {
                continue;
            }
            node_list.push(NodeStatus {
                nodeid: id,
                name: cn.name.clone(),
                address: None,
                votes: Some(cn.votes()),
                local: false,
                qdevice: None,
                online: false,
            });
        }
        node_list.sort_by_key(|n| n.nodeid);

        let local_id = quorum
            .and_then(|q| q.node_id)
            .or_else(|| node_list.iter().find(|n| n.local).map(|n| n.nodeid));
        if let Some(id) = local_id {
            // `Node ID:` wins over a `(local)` mark of another row, so
            // that one node at most is local.
            for n in &mut node_list {
                n.local = n.nodeid == id && n.online;
            }
        }
        let local_node = local_id.map(|id| LocalNode {
            name: node_list
                .iter()
                .find(|n| n.nodeid == id)
                .and_then(|n| n.name.clone())
                .or_else(|| names_by_id(id)),
            nodeid: id,
        });

        let flags = vq.and_then(|v| v.flags.clone()).unwrap_or_default();
        let quorate = corosync_running
            && match quorum.and_then(|q| q.quorate) {
                Some(q) => q,
                None => {
                    if vq.is_some_and(|v| v.flags.is_some()) {
                        flags.iter().any(|f| f == "Quorate")
                    } else {
                        vq.and_then(|v| v.activity_blocked) == Some(false)
                    }
                }
            };

        let qdevice_row = status_members.and_then(|m| m.qdevice.as_ref()).or_else(|| {
            nodes
                .filter(|_| corosync_running)
                .and_then(|n| n.membership.as_ref())
                .and_then(|m| m.qdevice.as_ref())
        });
        let conf_device = conf.and_then(CorosyncConf::quorum_device);
        let local_qdevice_state = node_list
            .iter()
            .find(|n| n.local)
            .and_then(|n| n.qdevice.clone());
        let qdevice_flag = flags.iter().any(|f| f == "Qdevice");
        let qdevice = if qdevice_row.is_some() || conf_device.is_some() || qdevice_flag {
            Some(QdeviceStatus {
                present: true,
                votes: qdevice_row
                    .map(|r| r.votes)
                    .or_else(|| conf_device.as_ref().and_then(|d| d.votes)),
                casting: qdevice_row.map(|r| r.casting),
                state: local_qdevice_state,
            })
        } else {
            None
        };

        let node_count = node_list.len();
        let online_count = node_list.iter().filter(|n| n.online).count();
        ClusterView {
            in_cluster,
            corosync_running,
            cluster_name,
            config_version,
            transport,
            secure_auth,
            quorate,
            local_node,
            expected_votes: vq.and_then(|v| v.expected_votes),
            highest_expected: vq.and_then(|v| v.highest_expected),
            total_votes: vq.and_then(|v| v.total_votes),
            quorum: vq.and_then(|v| v.quorum),
            flags,
            activity_blocked: vq.and_then(|v| v.activity_blocked).unwrap_or(false),
            ring_id: quorum.and_then(|q| q.ring_id.clone()),
            nodes: node_list,
            node_count,
            online_count,
            qdevice,
        }
    }

    /// Names (or `nodeid N` when unnamed) of the nodes known to be offline.
    pub fn offline_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !n.online)
            .map(NodeStatus::label)
            .collect()
    }
}

impl NodeStatus {
    /// The name, else the address, else `nodeid N`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.address.clone())
            .unwrap_or_else(|| format!("nodeid {}", self.nodeid))
    }
}
