//! The nodes as the user gives them, and their validation.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// One entry of the `nodes` option, as given by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpec {
    /// IPv4 or IPv6 address, required.
    pub ip: String,
    /// Fully qualified name; must contain a dot.
    pub fqdn: Option<String>,
    /// Short name (one label). Defaults to the first label of `fqdn`.
    pub name: Option<String>,
    /// Further names, written after `fqdn` and `name`.
    pub aliases: Vec<String>,
}

/// A validated node: a non-loopback address and at least one valid name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    ip: IpAddr,
    ip_text: String,
    names: Vec<String>,
}

impl Node {
    /// The node's address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The address as the user wrote it; used when a line is written.
    pub fn ip_text(&self) -> &str {
        &self.ip_text
    }

    /// The names in canonical order: fqdn, short name, aliases.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The node's line in canonical form: `<ip> <fqdn> <name> [aliases]`.
    pub fn canonical_line(&self) -> String {
        let mut line = self.ip_text.clone();
        for name in &self.names {
            line.push(' ');
            line.push_str(name);
        }
        line
    }
}

/// Which option of a node a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The node's `ip`.
    Ip,
    /// The node's `fqdn`.
    Fqdn,
    /// The node's `name`, given or taken from the fqdn's first label.
    Name,
    /// One of the node's `aliases`.
    Alias,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Ip => "ip",
            Field::Fqdn => "fqdn",
            Field::Name => "name",
            Field::Alias => "alias",
        })
    }
}

/// Why a string is not a valid host name (RFC 1123).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// The name is the empty string.
    #[error("it is empty")]
    Empty,
    #[error("it is {len} characters long, the limit is 253")]
    /// The name is longer than 253 characters.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// A dot at the start or end, or two dots in a row.
    #[error("it has an empty label (a leading, trailing or doubled dot)")]
    EmptyLabel,
    /// A label is longer than 63 characters.
    #[error("its label '{label}' is {} characters long, the limit is 63", .label.len())]
    LabelTooLong {
        /// The label that is too long.
        label: String,
    },
    /// A character other than an ASCII letter, digit, hyphen or dot.
    #[error(
        "it contains {ch:?}; only letters a-z, digits, hyphens and dots between labels are allowed"
    )]
    BadChar {
        /// The first character not allowed.
        ch: char,
    },
    /// A label starts or ends with a hyphen.
    #[error("its label '{label}' starts or ends with a hyphen")]
    HyphenAtEdge {
        /// The label with the hyphen.
        label: String,
    },
    /// The name parses as an IPv4 or IPv6 address.
    #[error("it looks like an IP address, not a name")]
    LooksLikeIp,
    /// `fqdn` without a dot.
    #[error(
        "it is not fully qualified: an fqdn must contain a dot (e.g. 'pve1.example.com'); put a short name in 'name'"
    )]
    NotQualified,
    /// `name` with a dot.
    #[error("a short name must not contain a dot; put the full name in 'fqdn'")]
    NotShort,
    /// `localhost` and its variants belong to the loopback lines.
    #[error("'localhost' names are reserved for the loopback lines and never managed")]
    Reserved,
}

/// One problem with the `nodes` option. `index` is the 0-based position in
/// the list, `node` a label for the node (its first name, else its ip).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The list of nodes is empty.
    #[error("'nodes' is empty: give at least one node with 'ip' and 'fqdn' or 'name'")]
    NoNodes,
    /// The ip does not parse as an IPv4 or IPv6 address.
    #[error(
        "nodes[{index}] ({node}): ip '{value}' is not a valid IPv4 or IPv6 address; write it like '192.0.2.10' or '2001:db8::10', without prefix length or brackets"
    )]
    BadIp {
        /// The node's 0-based position in `nodes`.
        index: usize,
        /// The node's label: its first name, else its ip.
        node: String,
        /// The ip as given.
        value: String,
    },
    /// The ip is a loopback or the unspecified address.
    #[error(
        "nodes[{index}] ({node}): ip '{value}' is a loopback or unspecified address; a cluster node needs the address of its cluster network"
    )]
    LoopbackIp {
        /// The node's 0-based position in `nodes`.
        index: usize,
        /// The node's label: its first name, else its ip.
        node: String,
        /// The ip as given.
        value: String,
    },
    /// A name of the node is not a valid host name.
    #[error("nodes[{index}] ({node}): {field} '{value}' is not a valid host name: {problem}")]
    BadName {
        /// The node's 0-based position in `nodes`.
        index: usize,
        /// The node's label: its first name, else its ip.
        node: String,
        /// The option the name was given in.
        field: Field,
        /// The name as given.
        value: String,
        /// What is wrong with the name.
        problem: NameProblem,
    },
    /// The node has neither `fqdn` nor `name`.
    #[error("nodes[{index}] ({node}): no names given; set 'fqdn', 'name' or both")]
    NoNames {
        /// The node's 0-based position in `nodes`.
        index: usize,
        /// The node's label: its first name, else its ip.
        node: String,
    },
    /// A name given twice within one node.
    #[error(
        "nodes[{index}] ({node}): the name '{name}' is given twice (names are compared without case); remove the repetition"
    )]
    RepeatedName {
        /// The node's 0-based position in `nodes`.
        index: usize,
        /// The node's label: its first name, else its ip.
        node: String,
        /// The repeated name, as given the second time.
        name: String,
    },
    /// A name of the node already belongs to an earlier node.
    #[error(
        "nodes[{second}] ({second_node}): the name '{name}' is already used by nodes[{first}] ({first_node}) (names are compared without case); each name may belong to one node only"
    )]
    DuplicateName {
        /// The name, as the later node gives it.
        name: String,
        /// The 0-based position of the earlier node that has it.
        first: usize,
        /// The earlier node's label.
        first_node: String,
        /// The 0-based position of the later node, the one reported.
        second: usize,
        /// The later node's label.
        second_node: String,
    },
    /// The node's address already belongs to an earlier node.
    #[error(
        "nodes[{second}] ({second_node}): the ip '{ip}' is already used by nodes[{first}] ({first_node}); each node needs its own address"
    )]
    DuplicateIp {
        /// The ip, as the later node gives it.
        ip: String,
        /// The 0-based position of the earlier node that has it.
        first: usize,
        /// The earlier node's label.
        first_node: String,
        /// The 0-based position of the later node, the one reported.
        second: usize,
        /// The later node's label.
        second_node: String,
    },
}

/// Every problem found in the `nodes` option, in list order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", joined(.0))]
pub struct InvalidNodes(pub Vec<InputError>);

/// The problems' messages, joined by `; `.
fn joined(errors: &[InputError]) -> String {
    let messages: Vec<String> = errors.iter().map(InputError::to_string).collect();
    messages.join("; ")
}

/// Checks a host name against RFC 1123: labels of 1 to 63 letters, digits
/// and hyphens, not starting or ending with a hyphen, 253 characters at
/// most, no trailing dot. A name that parses as an IP address is refused.
pub fn check_hostname(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.len() > 253 {
        return Err(NameProblem::TooLong { len: name.len() });
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(NameProblem::BadChar { ch });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameProblem::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameProblem::LabelTooLong {
                label: label.to_string(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameProblem::HyphenAtEdge {
                label: label.to_string(),
            });
        }
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err(NameProblem::LooksLikeIp);
    }
    Ok(())
}

/// `localhost`, `localhost.<anything>`, `ip6-localhost`, `ip6-loopback`.
pub fn is_reserved_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "localhost"
        || lower.starts_with("localhost.")
        || lower == "ip6-localhost"
        || lower == "ip6-loopback"
}

/// Validates the user's nodes. Every problem is collected, so one run of
/// the module shows them all. When `name` is missing it is taken from the
/// first label of `fqdn`.
pub fn validate_nodes(specs: &[NodeSpec]) -> Result<Vec<Node>, InvalidNodes> {
    if specs.is_empty() {
        return Err(InvalidNodes(vec![InputError::NoNodes]));
    }
    let mut checker = Checker::default();
    let mut nodes = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        if let Some(node) = checker.node(index, spec) {
            nodes.push(node);
        }
    }
    if checker.errors.is_empty() {
        Ok(nodes)
    } else {
        Err(InvalidNodes(checker.errors))
    }
}

/// What validation has found so far, over the nodes before the current one.
#[derive(Default)]
struct Checker {
    errors: Vec<InputError>,
    /// Lower-cased name, and address, to the index of the first node with it.
    seen_names: HashMap<String, usize>,
    seen_ips: HashMap<IpAddr, usize>,
    /// Every node's label, by index.
    labels: Vec<String>,
}

impl Checker {
    /// Checks one node; the node when it has no problem of its own.
    fn node(&mut self, index: usize, spec: &NodeSpec) -> Option<Node> {
        let label = node_label(spec);
        self.labels.push(label.clone());
        let errors_before = self.errors.len();

        let ip = self.ip(index, spec, &label);
        let names = given_names(spec);
        if names.is_empty() {
            self.errors.push(InputError::NoNames {
                index,
                node: label.clone(),
            });
        }
        let (own, checked) = self.names(index, spec, &label, names);
        self.unique(index, spec, &label, ip, &own, &checked);

        match (ip, self.errors.len() == errors_before) {
            (Some(ip), true) => Some(Node {
                ip,
                ip_text: spec.ip.clone(),
                names: checked,
            }),
            _ => None,
        }
    }

    /// The node's address, unless it is not one or is loopback.
    fn ip(&mut self, index: usize, spec: &NodeSpec, label: &str) -> Option<IpAddr> {
        match spec.ip.parse::<IpAddr>() {
            Ok(ip) if is_loopback(ip) || ip.is_unspecified() => {
                self.errors.push(InputError::LoopbackIp {
                    index,
                    node: label.to_string(),
                    value: spec.ip.clone(),
                });
                None
            }
            Ok(ip) => Some(ip),
            Err(_) => {
                self.errors.push(InputError::BadIp {
                    index,
                    node: label.to_string(),
                    value: spec.ip.clone(),
                });
                None
            }
        }
    }

    /// Checks each name; returns the valid ones, lower-cased and as given.
    fn names(
        &mut self,
        index: usize,
        spec: &NodeSpec,
        label: &str,
        names: Vec<(Field, String)>,
    ) -> (Vec<String>, Vec<String>) {
        let mut own: Vec<String> = Vec::new();
        let mut checked = Vec::with_capacity(names.len());
        for (field, value) in names {
            if let Some(problem) = name_problem(field, &value) {
                // A short name derived from a bad fqdn would only repeat the fqdn's error.
                let derived = field == Field::Name && spec.name.is_none();
                if !derived {
                    self.errors.push(InputError::BadName {
                        index,
                        node: label.to_string(),
                        field,
                        value,
                        problem,
                    });
                }
                continue;
            }
            let key = value.to_ascii_lowercase();
            if own.contains(&key) {
                self.errors.push(InputError::RepeatedName {
                    index,
                    node: label.to_string(),
                    name: value,
                });
                continue;
            }
            own.push(key);
            checked.push(value);
        }
        (own, checked)
    }

    /// Names and the address must not belong to an earlier node.
    fn unique(
        &mut self,
        index: usize,
        spec: &NodeSpec,
        label: &str,
        ip: Option<IpAddr>,
        own: &[String],
        checked: &[String],
    ) {
        for key in own {
            match self.seen_names.get(key) {
                Some(&first) => self.errors.push(InputError::DuplicateName {
                    name: original_case(checked, key),
                    first,
                    first_node: self.labels.get(first).cloned().unwrap_or_default(),
                    second: index,
                    second_node: label.to_string(),
                }),
                None => {
                    self.seen_names.insert(key.clone(), index);
                }
            }
        }
        if let Some(ip) = ip {
            match self.seen_ips.get(&ip) {
                Some(&first) => self.errors.push(InputError::DuplicateIp {
                    ip: spec.ip.clone(),
                    first,
                    first_node: self.labels.get(first).cloned().unwrap_or_default(),
                    second: index,
                    second_node: label.to_string(),
                }),
                None => {
                    self.seen_ips.insert(ip, index);
                }
            }
        }
    }
}

/// The node's names in canonical order: fqdn, name (given, or the fqdn's
/// first label), aliases.
fn given_names(spec: &NodeSpec) -> Vec<(Field, String)> {
    let mut names: Vec<(Field, String)> = Vec::new();
    if let Some(fqdn) = &spec.fqdn {
        names.push((Field::Fqdn, fqdn.clone()));
    }
    match (&spec.name, &spec.fqdn) {
        (Some(name), _) => names.push((Field::Name, name.clone())),
        (None, Some(fqdn)) => {
            if let Some((short, _)) = fqdn.split_once('.') {
                names.push((Field::Name, short.to_string()));
            }
        }
        (None, None) => {}
    }
    for alias in &spec.aliases {
        names.push((Field::Alias, alias.clone()));
    }
    names
}

/// What is wrong with `value` as the node's `field`, if anything.
fn name_problem(field: Field, value: &str) -> Option<NameProblem> {
    match check_hostname(value) {
        Err(problem) => Some(problem),
        Ok(()) if is_reserved_name(value) => Some(NameProblem::Reserved),
        Ok(()) if field == Field::Fqdn && !value.contains('.') => Some(NameProblem::NotQualified),
        Ok(()) if field == Field::Name && value.contains('.') => Some(NameProblem::NotShort),
        Ok(()) => None,
    }
}

fn original_case(names: &[String], key: &str) -> String {
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

fn node_label(spec: &NodeSpec) -> String {
    spec.name
        .as_ref()
        .or(spec.fqdn.as_ref())
        .or(spec.aliases.first())
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            if spec.ip.is_empty() {
                "no name, no ip".to_string()
            } else {
                spec.ip.clone()
            }
        })
}

/// 127.0.0.0/8, `::1`, and IPv4-mapped 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}
