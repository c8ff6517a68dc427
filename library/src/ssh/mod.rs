//! The OpenSSH files the cluster's SSH trust lives in, as pure text models:
//! public keys, root's `authorized_keys` and `known_hosts`. Planning takes
//! the file's text and what is wanted, and returns the new text and what
//! changed; reading and writing the files is the module's business.

pub mod digest;
mod known_hosts;

pub use known_hosts::{plan_forget_hosts, plan_known_hosts, HostEntry, KnownHostsPlan};

/// The key types OpenSSH accepts in `authorized_keys` and `known_hosts`.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
];

/// Whether `word` names an SSH public key type.
pub fn is_key_type(word: &str) -> bool {
    KEY_TYPES.contains(&word)
}

/// A public key: `type base64 [comment]`. Two keys are the same key when
/// type and base64 are the same; the comment is only a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key type, such as `ssh-ed25519`.
    pub kind: String,
    /// The key in base64, as written.
    pub blob: String,
    /// The text after the key, trimmed; `None` when there is none.
    pub comment: Option<String>,
}

/// Why a text is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

impl PublicKey {
    /// Parses `type base64 [comment]` and checks that the base64 decodes to
    /// a key blob of that type (the blob starts with its own type name).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let text = text.trim();
        let mut words = text.splitn(3, [' ', '\t']);
        let kind = words.next().unwrap_or_default();
        let rest = words.next().unwrap_or_default();
        let comment = words.next().map(str::trim).filter(|c| !c.is_empty());
        if !is_key_type(kind) {
            return Err(KeyError(format!(
                "'{}' is not an SSH public key: it must start with a key type such as ssh-ed25519, \
                 ecdsa-sha2-nistp256 or ssh-rsa, followed by the key in base64",
                shorten(text)
            )));
        }
        let key = PublicKey {
            kind: kind.to_string(),
            blob: rest.to_string(),
            comment: comment.map(str::to_string),
        };
        if !key.blob_matches_type() {
            return Err(KeyError(format!(
                "'{}' is not a valid {kind} public key: its base64 part does not decode to a {kind} key",
                shorten(text)
            )));
        }
        Ok(key)
    }

    fn blob_matches_type(&self) -> bool {
        let Some(raw) = digest::base64_decode(&self.blob) else {
            return false;
        };
        if raw.len() < 4 {
            return false;
        }
        let len = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        raw.get(4..4 + len) == Some(self.kind.as_bytes())
    }

    /// Same type and key material.
    pub fn same_key(&self, other: &PublicKey) -> bool {
        self.kind == other.kind && self.blob == other.blob
    }

    /// `type base64`, without the comment.
    pub fn bare(&self) -> String {
        format!("{} {}", self.kind, self.blob)
    }

    /// `type base64 [comment]`.
    pub fn line(&self) -> String {
        match &self.comment {
            Some(c) => format!("{} {} {c}", self.kind, self.blob),
            None => self.bare(),
        }
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text.to_string()
    }
}

/// The key of one `authorized_keys` line, past its options
/// (`from="a,b",command="x y" ssh-ed25519 AAAA... comment`); `None` for
/// blank lines, comments and lines that hold no key.
pub fn authorized_key_of(line: &str) -> Option<PublicKey> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if let Ok(key) = PublicKey::parse(line) {
        return Some(key);
    }
    // Skip the options: up to the first blank outside double quotes.
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return PublicKey::parse(line[i..].trim_start()).ok(),
            _ => {}
        }
    }
    None
}

/// What adding keys to an `authorized_keys` file means for its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKeysPlan {
    /// The file's new text (the old one when nothing is missing).
    pub content: String,
    /// The keys added, as written.
    pub added: Vec<String>,
}

/// Adds every wanted key that the file does not hold yet (with any options
/// or comment), at the end, and keeps every other byte.
pub fn plan_authorized_keys(content: &str, wanted: &[PublicKey]) -> AuthorizedKeysPlan {
    let present: Vec<PublicKey> = content.lines().filter_map(authorized_key_of).collect();
    let mut new = content.to_string();
    let mut added: Vec<String> = Vec::new();
    let mut seen: Vec<&PublicKey> = Vec::new();
    for key in wanted {
        if present.iter().any(|p| p.same_key(key)) || seen.iter().any(|s| s.same_key(key)) {
            continue;
        }
        seen.push(key);
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&key.line());
        new.push('\n');
        added.push(key.line());
    }
    AuthorizedKeysPlan {
        content: new,
        added,
    }
}

/// What taking a node's root key out of an `authorized_keys` file means
/// for its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRemovalPlan {
    /// The file's new text (the old one when no line goes).
    pub content: String,
    /// The lines taken out, as they were.
    pub removed: Vec<String>,
}

/// Whether `key` is root's key of `node` by the comment `ssh-keygen` gives
/// it on the node: `root@<node>`, or `root@<node>.<domain>`.
pub fn is_root_key_of(key: &PublicKey, node: &str) -> bool {
    let Some(host) = key.comment.as_deref().and_then(|c| c.strip_prefix("root@")) else {
        return false;
    };
    let short = host.split('.').next().unwrap_or_default();
    !node.is_empty() && short.eq_ignore_ascii_case(node)
}

/// Takes root's key of `node` (see [`is_root_key_of`]) out of an
/// `authorized_keys` file, whatever options its lines have; keeps every
/// other byte.
pub fn plan_forget_root_key(content: &str, node: &str) -> KeyRemovalPlan {
    let mut out = String::with_capacity(content.len());
    let mut removed = Vec::new();
    for raw in content.split_inclusive('\n') {
        match authorized_key_of(raw) {
            Some(key) if is_root_key_of(&key, node) => removed.push(raw.trim_end().to_string()),
            _ => out.push_str(raw),
        }
    }
    KeyRemovalPlan {
        content: out,
        removed,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A syntactically valid key blob of `kind` with `fill` as key material.
    pub fn blob(kind: &str, fill: u8) -> String {
        let mut raw = (kind.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(kind.as_bytes());
        raw.extend_from_slice(&32u32.to_be_bytes());
        raw.extend_from_slice(&[fill; 32]);
        digest::base64_encode(&raw)
    }

    pub fn key(kind: &str, fill: u8, comment: Option<&str>) -> PublicKey {
        PublicKey {
            kind: kind.to_string(),
            blob: blob(kind, fill),
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn a_nodes_root_key_is_known_by_its_comment_and_taken_out_with_its_options() {
        let pve4 = key("ssh-rsa", 4, Some("root@pve4"));
        let pve4_fqdn = key("ssh-ed25519", 5, Some("root@pve4.lab.test"));
        let pve40 = key("ssh-rsa", 6, Some("root@pve40"));
        let plain = key("ssh-rsa", 7, None);
        let text = format!(
            "# cluster keys\n{}\nfrom=\"10.0.0.0/8\" {}\n{}\n{}",
            pve4.line(),
            pve4_fqdn.line(),
            pve40.line(),
            plain.line()
        );
        let plan = plan_forget_root_key(&text, "pve4");
        assert_eq!(
            plan.content,
            format!("# cluster keys\n{}\n{}", pve40.line(), plain.line())
        );
        assert_eq!(plan.removed.len(), 2);
        assert_eq!(
            plan_forget_root_key(&plan.content, "pve4").removed,
            Vec::<String>::new()
        );
        assert!(!is_root_key_of(&plain, "pve4") && !is_root_key_of(&pve40, "pve4"));
    }

    #[test]
    fn parses_keys_and_checks_the_blob_against_the_type() {
        let k = key("ssh-ed25519", 1, Some("root@pve1"));
        assert_eq!(PublicKey::parse(&k.line()), Ok(k.clone()));
        assert_eq!(
            PublicKey::parse(&format!("  {}\n", k.bare()))
                .unwrap()
                .comment,
            None
        );
        let wrong = format!("ssh-rsa {}", blob("ssh-ed25519", 1));
        assert!(PublicKey::parse(&wrong)
            .unwrap_err()
            .0
            .contains("does not decode to a ssh-rsa key"));
        assert!(PublicKey::parse("ssh-ed25519 !!!").is_err());
        assert!(PublicKey::parse("ssh-ed25519").is_err());
        let err = PublicKey::parse("hello world").unwrap_err();
        assert!(err.0.contains("is not an SSH public key"), "{err}");
    }

    #[test]
    fn finds_keys_behind_options() {
        let k = key("ssh-ed25519", 2, Some("c"));
        for line in [
            k.line(),
            format!("no-pty {}", k.line()),
            format!(
                "from=\"10.0.0.1,10.0.0.2\",command=\"echo a b\" {}",
                k.line()
            ),
            format!("command=\"say \\\"hi there\\\"\"\t{}", k.line()),
        ] {
            assert!(authorized_key_of(&line).unwrap().same_key(&k), "{line}");
        }
        assert_eq!(authorized_key_of("# ssh-ed25519 AAAA"), None);
        assert_eq!(authorized_key_of(""), None);
        assert_eq!(authorized_key_of("garbage line here"), None);
    }

    #[test]
    fn adds_only_missing_keys_and_keeps_every_other_byte() {
        let a = key("ssh-ed25519", 1, Some("root@a"));
        let b = key("ssh-rsa", 2, Some("root@b"));
        let content = format!(
            "# mine\nno-pty {} other-comment\nssh-ed25519 broken",
            a.bare()
        );
        let plan = plan_authorized_keys(&content, &[a.clone(), b.clone(), b.clone()]);
        assert_eq!(plan.added, vec![b.line()]);
        assert_eq!(plan.content, format!("{content}\n{}\n", b.line()));
        let again = plan_authorized_keys(&plan.content, &[a, b]);
        assert!(again.added.is_empty());
        assert_eq!(again.content, plan.content);
        assert_eq!(plan_authorized_keys("", &[]).content, "");
    }
}
