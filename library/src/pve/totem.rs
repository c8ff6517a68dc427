//! Changing `totem` settings of a `corosync.conf` the way the Proxmox VE
//! documentation says to: edit a copy, raise `config_version` by one, and
//! move the copy into place once. Pure: the module does the reading and the
//! writing; this decides what to write and what to say when writing fails.

use serde_json::{Map, Value};

use super::corosync_conf::{ConfError, CorosyncConf};
use crate::ansible::json::is_integer;
use crate::fsutil::errno::{EACCES, EEXIST, EIO, ENOSPC, EPERM, EROFS};

/// Totem keys that Proxmox VE manages, with the reason given to the user.
const MANAGED: [(&str, &str); 4] = [
    (
        "cluster_name",
        "the cluster name is fixed when the cluster is created and cannot be changed",
    ),
    (
        "config_version",
        "it is raised by one by this module on every change",
    ),
    (
        "interface",
        "the interface sections (one per corosync link) are written by pvecm create and pvecm addnode from their --link options",
    ),
    (
        "version",
        "Proxmox VE writes the totem protocol version, which must stay 2",
    ),
];

/// Keys whose documented boolean spelling is `on`/`off` (corosync.conf(5));
/// every other boolean key is spelled `yes`/`no`.
const ON_OFF_KEYS: [&str; 1] = ["secauth"];

/// One wanted value, before it is spelled for the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// Written as given.
    Text(String),
    /// Spelled like the value already in the file (`on`/`off`, `yes`/`no`,
    /// `true`/`false`, `1`/`0`), else as corosync.conf(5) documents the key.
    Bool(bool),
}

/// Why the settings cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotemError {
    /// `totem` names no setting.
    #[error("totem is empty: give at least one totem setting, e.g. {{token: 10000}}")]
    Empty,
    /// A key that Proxmox VE manages.
    #[error("totem.{key} cannot be set with this module: {reason}")]
    Managed {
        /// The key, as given under `totem`.
        key: String,
        /// Why the module leaves the key alone.
        reason: &'static str,
    },
    /// A value that is not one word: a dict, a list, a float or null.
    #[error("totem.{key} must be a single value (a string, an integer or a boolean), not {kind}")]
    NotAValue {
        /// The key, as given under `totem`.
        key: String,
        /// What was given instead: `"a float"`, `"a dict"`, `"a list"` or `"null"`.
        kind: &'static str,
    },
    /// A key or value that cannot be written as one corosync token.
    #[error("totem.{key}: {error}")]
    Invalid {
        /// The key, as given under `totem`.
        key: String,
        /// The writer's refusal of the key or the value.
        error: ConfError,
    },
    /// The file does not parse.
    #[error("{0}")]
    Parse(ConfError),
    /// The file has no usable `totem.config_version`.
    #[error("{0}")]
    NoConfigVersion(ConfError),
}

/// Reads the module's `totem` option: key → value, in the given order.
pub fn settings_from_json(
    totem: &Map<String, Value>,
) -> Result<Vec<(String, Setting)>, TotemError> {
    if totem.is_empty() {
        return Err(TotemError::Empty);
    }
    let mut settings = Vec::with_capacity(totem.len());
    for (key, value) in totem {
        if let Some((_, reason)) = MANAGED.iter().find(|(k, _)| k == key) {
            return Err(TotemError::Managed {
                key: key.clone(),
                reason,
            });
        }
        let not_a_value = |kind| TotemError::NotAValue {
            key: key.clone(),
            kind,
        };
        let setting = match value {
            Value::String(text) => Setting::Text(text.clone()),
            Value::Bool(flag) => Setting::Bool(*flag),
            Value::Number(n) if is_integer(n) => Setting::Text(n.to_string()),
            Value::Number(_) => return Err(not_a_value("a float")),
            Value::Object(_) => return Err(not_a_value("a dict")),
            Value::Array(_) => return Err(not_a_value("a list")),
            Value::Null => return Err(not_a_value("null")),
        };
        // The writer's own token rules, so that a bad key or value is
        // refused before the file is read.
        let sample = spell(key, &setting, None);
        CorosyncConf::default()
            .set_totem(key, &sample)
            .map_err(|error| TotemError::Invalid {
                key: key.clone(),
                error,
            })?;
        settings.push((key.clone(), setting));
    }
    Ok(settings)
}

/// How a setting is written, given the value the file has now.
pub fn spell(key: &str, setting: &Setting, current: Option<&str>) -> String {
    let flag = match setting {
        Setting::Text(text) => return text.clone(),
        Setting::Bool(flag) => *flag,
    };
    let families: [(&str, &str); 4] = [("yes", "no"), ("on", "off"), ("true", "false"), ("1", "0")];
    let from_file = current.and_then(|value| {
        let lower = value.to_ascii_lowercase();
        families
            .iter()
            .find(|(t, f)| lower == *t || lower == *f)
            .copied()
    });
    let (yes, no) = from_file.unwrap_or(if ON_OFF_KEYS.contains(&key) {
        ("on", "off")
    } else {
        ("yes", "no")
    });
    if flag { yes } else { no }.to_string()
}

/// One key that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The key in the `totem` section.
    pub key: String,
    /// The value in the file now; `None` if the key is absent.
    pub before: Option<String>,
    /// The value written, spelled as [`spell`] gives it.
    pub after: String,
}

/// What applying the settings does to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The keys whose value changes, in the order given.
    pub changes: Vec<Change>,
    /// `totem.config_version` in the file now.
    pub config_version_before: u64,
    /// One more than before if anything changes, else the same.
    pub config_version_after: u64,
    /// The new file text (PVE's writer format); the old text when nothing changes.
    pub after: String,
    /// The plain values of the resulting `totem` section, sorted by key.
    pub totem: Vec<(String, String)>,
}

impl Plan {
    /// Whether the file is to be written.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Plans the settings on the text of a `corosync.conf`.
pub fn plan(text: &str, settings: &[(String, Setting)]) -> Result<Plan, TotemError> {
    let mut conf = CorosyncConf::parse(text).map_err(TotemError::Parse)?;
    let config_version_before = conf
        .config_version()
        .ok_or(TotemError::NoConfigVersion(ConfError::NoConfigVersion))?;
    let mut changes = Vec::new();
    for (key, setting) in settings {
        let before = conf.totem_value(key).map(str::to_string);
        let after = spell(key, setting, before.as_deref());
        if before.as_deref() == Some(after.as_str()) {
            continue;
        }
        conf.set_totem(key, &after)
            .map_err(|error| TotemError::Invalid {
                key: key.clone(),
                error,
            })?;
        changes.push(Change {
            key: key.clone(),
            before,
            after,
        });
    }
    let (config_version_after, after) = if changes.is_empty() {
        (config_version_before, text.to_string())
    } else {
        let next = conf
            .bump_config_version()
            .map_err(TotemError::NoConfigVersion)?;
        (next, conf.render())
    };
    let mut totem: Vec<(String, String)> = conf
        .totem()
        .map(|section| {
            section
                .entries
                .iter()
                .filter_map(|entry| match entry {
                    super::corosync_conf::Entry::Value { key, value } => {
                        Some((key.clone(), value.clone()))
                    }
                    super::corosync_conf::Entry::Section { .. } => None,
                })
                .collect()
        })
        .unwrap_or_default();
    // The order the written file has.
    totem.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Plan {
        changes,
        config_version_before,
        config_version_after,
        after,
        totem,
    })
}

/// The step of writing that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// Creating `<path>.new`.
    Create,
    /// Writing and syncing `<path>.new`.
    Write,
    /// Moving `<path>.new` onto `<path>`.
    Rename,
}

/// The message for a failed write of `path` through `new_path`.
/// `errno` and `error` describe the OS error; `dir_read_only` says whether
/// the directory shows no write permission for its owner, which is how
/// pmxcfs presents `/etc/pve` while the cluster is not quorate.
pub fn write_failure(
    path: &str,
    new_path: &str,
    dir: &str,
    step: WriteStep,
    errno: Option<i32>,
    error: &str,
    dir_read_only: bool,
) -> String {
    let unchanged = format!("{path} was left unchanged");
    let doing = match step {
        WriteStep::Create => format!("cannot create {new_path}"),
        WriteStep::Write => format!("cannot write {new_path}"),
        WriteStep::Rename => format!("cannot move {new_path} onto {path}"),
    };
    match errno {
        Some(EEXIST) if step == WriteStep::Create => format!(
            "{new_path} already exists: someone may be editing the corosync configuration by hand (the documented procedure edits that file); finish that edit or remove {new_path}, then retry. {unchanged}"
        ),
        Some(EACCES | EPERM | EROFS) if dir_read_only || errno == Some(EROFS) => format!(
            "{doing} ({error}): {dir} is read-only: the cluster is not quorate. pmxcfs accepts no writes without quorum; restore quorum (see 'pvecm status') and retry. {unchanged}"
        ),
        Some(EACCES | EPERM) => format!(
            "{doing} ({error}): permission denied; run the module as root (become: true). {unchanged}"
        ),
        Some(EIO) => format!(
            "{doing} ({error}): pmxcfs refused the write; this happens for a while after a node joins a cluster or while it resynchronises. Wait until 'pvecm status' shows the node in a quorate cluster and retry. {unchanged}"
        ),
        Some(ENOSPC) => format!(
            "{doing} ({error}): no space left (pmxcfs also refuses files over its size limit). {unchanged}"
        ),
        _ => format!("{doing}: {error}. {unchanged}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PVE_FILE: &str = "logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 192.168.1.11\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: mycluster\n  config_version: 2\n  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n\n";

    fn settings(value: Value) -> Vec<(String, Setting)> {
        match value {
            Value::Object(map) => settings_from_json(&map).unwrap_or_else(|e| panic!("{e}")),
            _ => panic!("not a map"),
        }
    }

    fn error(value: Value) -> String {
        match value {
            Value::Object(map) => match settings_from_json(&map) {
                Err(e) => e.to_string(),
                Ok(s) => panic!("accepted: {s:?}"),
            },
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn spells_booleans_like_the_file_or_the_manual() {
        let cases: &[(&str, bool, Option<&str>, &str)] = &[
            ("secauth", true, Some("on"), "on"),
            ("secauth", false, Some("on"), "off"),
            ("secauth", false, None, "off"),
            ("block_unlisted_ips", true, None, "yes"),
            ("clear_node_high_bit", false, Some("Yes"), "no"),
            ("x", true, Some("0"), "1"),
            ("x", false, Some("true"), "false"),
            ("x", true, Some("10"), "yes"),
        ];
        for (key, flag, current, want) in cases {
            assert_eq!(
                spell(key, &Setting::Bool(*flag), *current),
                *want,
                "{key} {current:?}"
            );
        }
        assert_eq!(
            spell("token", &Setting::Text("3000".into()), Some("1000")),
            "3000"
        );
    }

    #[test]
    fn reads_strings_integers_and_booleans() {
        assert_eq!(
            settings(json!({"token": 10000, "knet_compression_model": "zlib", "secauth": true})),
            vec![
                ("token".to_string(), Setting::Text("10000".into())),
                (
                    "knet_compression_model".to_string(),
                    Setting::Text("zlib".into())
                ),
                ("secauth".to_string(), Setting::Bool(true)),
            ]
        );
    }

    #[test]
    fn refuses_managed_keys_and_non_values() {
        let cases: &[(Value, &str)] = &[
            (json!({}), "totem is empty: give at least one totem setting, e.g. {token: 10000}"),
            (json!({"cluster_name": "x"}), "totem.cluster_name cannot be set with this module: the cluster name is fixed when the cluster is created and cannot be changed"),
            (json!({"config_version": 9}), "totem.config_version cannot be set with this module: it is raised by one by this module on every change"),
            (json!({"token": 1, "version": 2}), "totem.version cannot be set with this module: Proxmox VE writes the totem protocol version, which must stay 2"),
            (json!({"interface": {"linknumber": 1}}), "totem.interface cannot be set with this module: the interface sections (one per corosync link) are written by pvecm create and pvecm addnode from their --link options"),
            (json!({"token": {"a": 1}}), "totem.token must be a single value (a string, an integer or a boolean), not a dict"),
            (json!({"token": [1]}), "totem.token must be a single value (a string, an integer or a boolean), not a list"),
            (json!({"token": 1.5}), "totem.token must be a single value (a string, an integer or a boolean), not a float"),
            (json!({"token": null}), "totem.token must be a single value (a string, an integer or a boolean), not null"),
            (json!({"token": "1 2"}), "totem.token: invalid corosync.conf value '1 2': it must be one word without whitespace, '{', '}' or '#'"),
            (json!({"token": ""}), "totem.token: invalid corosync.conf value '': it must be one word without whitespace, '{', '}' or '#'"),
            (json!({"to ken": 1}), "totem.to ken: invalid corosync.conf key 'to ken': it must be one word without whitespace, '{', '}' or '#'"),
        ];
        for (input, want) in cases {
            assert_eq!(error(input.clone()), *want, "{input}");
        }
    }

    #[test]
    fn plans_a_change_and_bumps_the_version() {
        let plan = plan(
            PVE_FILE,
            &settings(json!({"token": 10000, "secauth": "on"})),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.changes,
            vec![Change {
                key: "token".into(),
                before: None,
                after: "10000".into()
            }]
        );
        assert_eq!(
            (plan.config_version_before, plan.config_version_after),
            (2, 3)
        );
        let want = PVE_FILE
            .replace("config_version: 2\n", "config_version: 3\n")
            .replace("  secauth: on\n", "  secauth: on\n  token: 10000\n");
        assert_eq!(plan.after, want);
    }

    #[test]
    fn plans_nothing_when_values_match() {
        let plan = plan(
            PVE_FILE,
            &settings(json!({"secauth": true, "link_mode": "passive"})),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!plan.changed());
        assert_eq!(plan.after, PVE_FILE);
        assert_eq!(plan.config_version_after, 2);
    }

    #[test]
    fn refuses_unparseable_files_and_files_without_version() {
        let s = settings(json!({"token": 1}));
        assert_eq!(
            plan("totem {\n  token 1\n}\n", &s).map(|p| p.changed()),
            Err(TotemError::Parse(ConfError::MissingColon {
                line: 2,
                key: "token".into()
            }))
        );
        assert_eq!(
            plan("totem {\n  cluster_name: x\n}\n", &s).map(|p| p.changed()),
            Err(TotemError::NoConfigVersion(ConfError::NoConfigVersion))
        );
    }

    #[test]
    fn names_the_cause_of_write_failures() {
        let msg = |step, errno, ro| {
            write_failure(
                "/etc/pve/corosync.conf",
                "/etc/pve/corosync.conf.new",
                "/etc/pve",
                step,
                errno,
                "Permission denied (os error 13)",
                ro,
            )
        };
        assert_eq!(
            msg(WriteStep::Create, Some(EACCES), true),
            "cannot create /etc/pve/corosync.conf.new (Permission denied (os error 13)): /etc/pve is read-only: the cluster is not quorate. pmxcfs accepts no writes without quorum; restore quorum (see 'pvecm status') and retry. /etc/pve/corosync.conf was left unchanged"
        );
        assert!(msg(WriteStep::Create, Some(EACCES), false)
            .contains("permission denied; run the module as root (become: true)"));
        assert!(msg(WriteStep::Rename, Some(EROFS), false)
            .starts_with("cannot move /etc/pve/corosync.conf.new onto /etc/pve/corosync.conf"));
        assert!(msg(WriteStep::Write, Some(EIO), false).contains("pmxcfs refused the write"));
        assert!(msg(WriteStep::Create, Some(EEXIST), false)
            .starts_with("/etc/pve/corosync.conf.new already exists"));
        assert!(msg(WriteStep::Write, None, false)
            .ends_with("/etc/pve/corosync.conf was left unchanged"));
    }
}
