//! `corosync.conf` as Proxmox VE reads and writes it.
//!
//! The reader follows PVE's own parser (`PVE::Corosync::parse_conf`): `#`
//! starts a comment that runs to the end of the line, the rest is split on
//! whitespace into tokens, `name {` opens a section, `}` closes it, and
//! `key: value` sets a value (one token, later keys win). `node` and
//! `interface` sections repeat; any other section given twice replaces the
//! first one, as in PVE. Unlike PVE, an unclosed section is an error, so a
//! truncated file is never rewritten.
//!
//! The writer follows `PVE::Corosync::write_conf`: keys sorted at every level,
//! two-space indent, a blank line after each top-level section, `node`
//! sections sorted by name (or `ring0_addr`), `interface` sections by
//! `linknumber` (or `ringnumber`). A file PVE wrote renders back byte for byte.

use serde::Serialize;

/// Where PVE keeps the cluster-wide corosync config (`pvecm create` writes
/// it; pmxcfs shares it).
pub const CLUSTER_CONF: &str = "/etc/pve/corosync.conf";
/// The node-local copy of the corosync config.
pub const LOCAL_CONF: &str = "/etc/corosync/corosync.conf";

/// Why a `corosync.conf` text could not be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    /// A `}` with no open section.
    #[error("corosync.conf parse error on line {line}: unexpected '}}'")]
    UnexpectedClose {
        /// The 1-based line of the token.
        line: usize,
    },
    /// A key without its `:` (PVE: `missing ':' after key`).
    #[error("corosync.conf parse error on line {line}: missing ':' after key '{key}'")]
    MissingColon {
        /// The 1-based line of the token.
        line: usize,
        /// The token read as a key, as written.
        key: String,
    },
    /// The text ends right after a key.
    #[error("corosync.conf parse error on line {line}: no value for '{key}'")]
    MissingValue {
        /// The 1-based line of the token.
        line: usize,
        /// The key, without its `:`.
        key: String,
    },
    /// The text ends inside a section.
    #[error("corosync.conf parse error: section '{name}' opened on line {line} is never closed")]
    UnclosedSection {
        /// The name of the innermost open section.
        name: String,
        /// The 1-based line the section was opened on.
        line: usize,
    },
    /// `bump_config_version` found no usable `totem.config_version`.
    #[error(
        "invalid corosync config: unable to read config version (totem.config_version missing or not a number)"
    )]
    NoConfigVersion,
    /// A key or value that the writer cannot render so that it reads back the same.
    #[error(
        "invalid corosync.conf {what} '{value}': it must be one word without whitespace, '{{', '}}' or '#'"
    )]
    InvalidToken {
        /// Which part it is: `"key"` or `"value"`.
        what: &'static str,
        /// The key or value as given.
        value: String,
    },
}

/// One item of a section, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// A `key: value` line.
    Value {
        /// The key, without its `:`.
        key: String,
        /// The value: one token.
        value: String,
    },
    /// A `name { ... }` section.
    Section {
        /// The section's name, such as `totem` or `node`.
        name: String,
        /// The section's items.
        section: Section,
    },
}

/// A section: its items in the order they were read or added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Section {
    /// The values and sub-sections, in order.
    pub entries: Vec<Entry>,
}

/// Sections that may appear more than once in their parent.
fn is_repeatable(name: &str) -> bool {
    name == "node" || name == "interface"
}

impl Section {
    /// The value of `key` in this section.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find_map(|e| match e {
            Entry::Value { key: k, value } if k == key => Some(value.as_str()),
            _ => None,
        })
    }

    /// The value of `key` parsed as an unsigned number; `None` if absent or not a number.
    pub fn get_u32(&self, key: &str) -> Option<u32> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// The first sub-section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.entries.iter().find_map(|e| match e {
            Entry::Section { name: n, section } if n == name => Some(section),
            _ => None,
        })
    }

    /// Every sub-section called `name`, in order.
    pub fn sections<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.entries.iter().filter_map(move |e| match e {
            Entry::Section { name: n, section } if n == name => Some(section),
            _ => None,
        })
    }

    fn section_mut(&mut self, name: &str) -> Option<&mut Section> {
        self.entries.iter_mut().find_map(|e| match e {
            Entry::Section { name: n, section } if n == name => Some(section),
            _ => None,
        })
    }

    /// Sets `key` to `value`, replacing an existing value in place.
    pub fn set(&mut self, key: &str, value: &str) {
        for entry in &mut self.entries {
            if let Entry::Value { key: k, value: v } = entry {
                if k == key {
                    *v = value.to_string();
                    return;
                }
            }
        }
        self.entries.push(Entry::Value {
            key: key.to_string(),
            value: value.to_string(),
        });
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|e| !matches!(e, Entry::Value { key: k, .. } if k == key));
        before != self.entries.len()
    }

    /// Adds a section the way PVE's parser stores it: repeatable ones are
    /// appended, any other replaces an existing one of that name.
    fn insert_section(&mut self, name: String, section: Section) {
        if !is_repeatable(&name) {
            for entry in &mut self.entries {
                if let Entry::Section {
                    name: n,
                    section: s,
                } = entry
                {
                    if *n == name {
                        *s = section;
                        return;
                    }
                }
            }
        }
        self.entries.push(Entry::Section { name, section });
    }
}

/// A node of the `nodelist` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfNode {
    /// `name`, or `ring0_addr` when there is no name (as PVE indexes nodes).
    pub name: Option<String>,
    /// `nodeid`; `None` when absent or not a number.
    pub nodeid: Option<u32>,
    /// `quorum_votes`; corosync counts 1 when it is absent.
    pub quorum_votes: Option<u32>,
    /// `ringN_addr` values by link number, ascending.
    pub ring_addrs: Vec<(u32, String)>,
}

impl ConfNode {
    /// The votes corosync gives this node (`quorum_votes`, default 1).
    pub fn votes(&self) -> u32 {
        self.quorum_votes.unwrap_or(1)
    }

    /// The `ring0_addr`, if any.
    pub fn ring0_addr(&self) -> Option<&str> {
        self.ring_addrs
            .iter()
            .find(|(n, _)| *n == 0)
            .map(|(_, a)| a.as_str())
    }
}

/// An `interface` section of `totem`: a knet link (PVE ≥ 6) or a ring (PVE 4/5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfInterface {
    /// `linknumber` (knet); `None` when absent or not a number.
    pub linknumber: Option<u32>,
    /// `ringnumber` (PVE 4/5 files); `None` when absent or not a number.
    pub ringnumber: Option<u32>,
    /// `knet_link_priority`: with several links, the one with the highest
    /// value is used; `None` when absent or not a number.
    pub knet_link_priority: Option<u32>,
    /// `bindnetaddr`, the network the ring binds to (PVE 4/5 files).
    pub bindnetaddr: Option<String>,
    /// Every key of the section, in file order.
    pub keys: Vec<(String, String)>,
}

impl ConfInterface {
    /// `linknumber`, or `ringnumber` for PVE 4/5 files.
    pub fn number(&self) -> Option<u32> {
        self.linknumber.or(self.ringnumber)
    }
}

/// The `quorum.device` section (a QDevice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumDevice {
    /// `model`; PVE sets `net`.
    pub model: Option<String>,
    /// `votes`, the votes the device gives; `None` when absent or not a number.
    pub votes: Option<u32>,
    /// `net.algorithm` (`ffsplit`, `lms`).
    pub algorithm: Option<String>,
    /// `net.host`, the QNetd server.
    pub host: Option<String>,
}

/// A parsed `corosync.conf`: the top-level section plus typed accessors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CorosyncConf {
    /// The file's top level: `totem`, `nodelist`, `quorum`, `logging`.
    pub root: Section,
}

impl CorosyncConf {
    /// Parses the text of a `corosync.conf`.
    pub fn parse(text: &str) -> Result<CorosyncConf, ConfError> {
        let mut tokens: Vec<(usize, &str)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let content = match line.find('#') {
                Some(pos) => line.get(..pos).unwrap_or(""),
                None => line,
            };
            tokens.extend(content.split_whitespace().map(|t| (index + 1, t)));
        }

        // Stack of (name, opened on line, section); the root is the first entry.
        let mut stack: Vec<(String, usize, Section)> = vec![(String::new(), 0, Section::default())];
        let mut iter = tokens.into_iter().peekable();
        while let Some((line, token)) = iter.next() {
            if matches!(iter.peek(), Some((_, "{"))) {
                iter.next();
                stack.push((token.to_string(), line, Section::default()));
                continue;
            }
            if token == "}" {
                if stack.len() < 2 {
                    return Err(ConfError::UnexpectedClose { line });
                }
                if let Some((name, _, section)) = stack.pop() {
                    if let Some((_, _, parent)) = stack.last_mut() {
                        parent.insert_section(name, section);
                    }
                }
                continue;
            }
            let Some(key) = token.strip_suffix(':') else {
                return Err(ConfError::MissingColon {
                    line,
                    key: token.to_string(),
                });
            };
            let Some((_, value)) = iter.next() else {
                return Err(ConfError::MissingValue {
                    line,
                    key: key.to_string(),
                });
            };
            if let Some((_, _, section)) = stack.last_mut() {
                section.set(key, value);
            }
        }
        if stack.len() > 1 {
            if let Some((name, line, _)) = stack.pop() {
                return Err(ConfError::UnclosedSection { name, line });
            }
        }
        let root = stack.pop().map(|(_, _, s)| s).unwrap_or_default();
        Ok(CorosyncConf { root })
    }

    /// The `totem` section.
    pub fn totem(&self) -> Option<&Section> {
        self.root.section("totem")
    }

    /// A value of the `totem` section.
    pub fn totem_value(&self, key: &str) -> Option<&str> {
        self.totem().and_then(|t| t.get(key))
    }

    /// `totem.cluster_name`.
    pub fn cluster_name(&self) -> Option<&str> {
        self.totem_value("cluster_name")
    }

    /// `totem.config_version`, if present and a number.
    pub fn config_version(&self) -> Option<u64> {
        self.totem_value("config_version")
            .and_then(|v| v.parse().ok())
    }

    /// `totem.transport` as written (absent on PVE ≥ 6, where knet is the default).
    pub fn transport(&self) -> Option<&str> {
        self.totem_value("transport")
    }

    /// The nodes of `nodelist`, in file order.
    pub fn nodes(&self) -> Vec<ConfNode> {
        let Some(nodelist) = self.root.section("nodelist") else {
            return Vec::new();
        };
        nodelist
            .sections("node")
            .map(|node| {
                let mut ring_addrs: Vec<(u32, String)> = node
                    .entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Value { key, value } => key
                            .strip_prefix("ring")
                            .and_then(|r| r.strip_suffix("_addr"))
                            .and_then(|n| n.parse().ok())
                            .map(|n| (n, value.clone())),
                        Entry::Section { .. } => None,
                    })
                    .collect();
                ring_addrs.sort();
                ConfNode {
                    name: node
                        .get("name")
                        .or_else(|| node.get("ring0_addr"))
                        .map(str::to_string),
                    nodeid: node.get_u32("nodeid"),
                    quorum_votes: node.get_u32("quorum_votes"),
                    ring_addrs,
                }
            })
            .collect()
    }

    /// The `interface` sections of `totem`, in file order.
    pub fn interfaces(&self) -> Vec<ConfInterface> {
        let Some(totem) = self.totem() else {
            return Vec::new();
        };
        totem
            .sections("interface")
            .map(|s| ConfInterface {
                linknumber: s.get_u32("linknumber"),
                ringnumber: s.get_u32("ringnumber"),
                knet_link_priority: s.get_u32("knet_link_priority"),
                bindnetaddr: s.get("bindnetaddr").map(str::to_string),
                keys: s
                    .entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Value { key, value } => Some((key.clone(), value.clone())),
                        Entry::Section { .. } => None,
                    })
                    .collect(),
            })
            .collect()
    }

    /// The QDevice configured in `quorum.device`, if any.
    pub fn quorum_device(&self) -> Option<QuorumDevice> {
        let device = self.root.section("quorum")?.section("device")?;
        let net = device.section("net");
        Some(QuorumDevice {
            model: device.get("model").map(str::to_string),
            votes: device.get_u32("votes"),
            algorithm: net.and_then(|n| n.get("algorithm")).map(str::to_string),
            host: net.and_then(|n| n.get("host")).map(str::to_string),
        })
    }

    /// Whether `quorum.two_node` is set to 1.
    pub fn two_node(&self) -> bool {
        self.root
            .section("quorum")
            .and_then(|q| q.get("two_node"))
            .is_some_and(|v| v == "1")
    }

    /// Sets a `totem` value (creating the section if needed).
    ///
    /// Both key and value must be single tokens, so the file reads back the same.
    pub fn set_totem(&mut self, key: &str, value: &str) -> Result<(), ConfError> {
        check_token("key", key)?;
        if key.ends_with(':') {
            return Err(ConfError::InvalidToken {
                what: "key",
                value: key.to_string(),
            });
        }
        check_token("value", value)?;
        if self.root.section_mut("totem").is_none() {
            self.root
                .insert_section("totem".to_string(), Section::default());
        }
        if let Some(totem) = self.root.section_mut("totem") {
            totem.set(key, value);
        }
        Ok(())
    }

    /// Increments `totem.config_version` and returns the new value. PVE
    /// refuses to write a config without one, and so does this.
    pub fn bump_config_version(&mut self) -> Result<u64, ConfError> {
        let next = self
            .config_version()
            .and_then(|v| v.checked_add(1))
            .ok_or(ConfError::NoConfigVersion)?;
        self.set_totem("config_version", &next.to_string())?;
        Ok(next)
    }

    /// The text PVE's writer would produce for this configuration.
    pub fn render(&self) -> String {
        let mut out = String::new();
        render_section(&self.root, "", &mut out);
        out
    }
}

fn check_token(what: &'static str, value: &str) -> Result<(), ConfError> {
    let bad = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '{' || c == '}' || c == '#');
    if bad {
        return Err(ConfError::InvalidToken {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// The key PVE sorts repeated sections by: nodes by `name // ring0_addr`,
/// interfaces by `linknumber // ringnumber` (string order, as Perl's `sort`).
fn repeat_sort_key<'a>(name: &str, section: &'a Section) -> &'a str {
    let key = if name == "node" {
        section.get("name").or_else(|| section.get("ring0_addr"))
    } else {
        section
            .get("linknumber")
            .or_else(|| section.get("ringnumber"))
    };
    key.unwrap_or("")
}

fn render_section(section: &Section, prefix: &str, out: &mut String) {
    let mut names: Vec<&str> = section
        .entries
        .iter()
        .map(|e| match e {
            Entry::Value { key, .. } => key.as_str(),
            Entry::Section { name, .. } => name.as_str(),
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let child_prefix = format!("{prefix}  ");
    for name in names {
        for entry in &section.entries {
            if let Entry::Value { key, value } = entry {
                if key == name {
                    out.push_str(&format!("{prefix}{key}: {value}\n"));
                }
            }
        }
        let mut children: Vec<&Section> = section
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Section { name: n, section } if n == name => Some(section),
                _ => None,
            })
            .collect();
        let repeated = is_repeatable(name);
        if repeated {
            children.sort_by(|a, b| repeat_sort_key(name, a).cmp(repeat_sort_key(name, b)));
        }
        for child in children {
            out.push_str(&format!("{prefix}{name} {{\n"));
            render_section(child, &child_prefix, out);
            out.push_str(&format!("{prefix}}}\n"));
            if prefix.is_empty() && !repeated {
                out.push('\n');
            }
        }
    }
}
