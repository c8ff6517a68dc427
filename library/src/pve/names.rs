//! Name rules for clusters and nodes, as Proxmox VE enforces them.
//!
//! A cluster name uses PVE's `pve-node` format (ASCII letters, digits and
//! hyphens, starting and ending with a letter or digit) and may be at most 15
//! characters long; the format is checked before the length, as PVE does, so
//! the first message matches what `pvecm create` would print.

/// The longest cluster name `pvecm create` accepts.
pub const CLUSTER_NAME_MAX_LEN: usize = 15;

/// The longest host name (RFC 1123, without the trailing dot).
pub const HOSTNAME_MAX_LEN: usize = 253;

const LABEL_MAX_LEN: usize = 63;

/// PVE's `pve-node` format: `^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`.
fn is_pve_node_format(value: &str) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// Checks a cluster name the way `pvecm create` does.
///
/// The error reads like `invalid cluster name 'my.cluster': value does not
/// look like a valid node name` or `invalid cluster name
/// 'averyverylongname': value may only be 15 characters long`.
pub fn validate_cluster_name(name: &str) -> Result<(), String> {
    if !is_pve_node_format(name) {
        return Err(format!(
            "invalid cluster name '{name}': value does not look like a valid node name \
             (use ASCII letters, digits and '-', starting and ending with a letter or digit)"
        ));
    }
    if name.len() > CLUSTER_NAME_MAX_LEN {
        return Err(format!(
            "invalid cluster name '{name}': value may only be {CLUSTER_NAME_MAX_LEN} characters long"
        ));
    }
    Ok(())
}

/// Whether `name` is a valid host name under RFC 1123: dot-separated labels
/// of 1 to 63 ASCII letters, digits or hyphens, no label starting or ending
/// with a hyphen, at most 253 characters in all. A single trailing dot (a
/// fully qualified name) is not accepted.
pub fn is_valid_hostname(name: &str) -> bool {
    if name.is_empty() || name.len() > HOSTNAME_MAX_LEN {
        return false;
    }
    name.split('.')
        .all(|label| label.len() <= LABEL_MAX_LEN && is_pve_node_format(label))
}

/// Checks a Proxmox VE node name: the short host name, one DNS label in
/// PVE's `pve-node` format (no dots, at most 63 characters).
///
/// The error reads like `invalid node name 'pve_1': value does not look like
/// a valid node name`.
pub fn validate_node_name(name: &str) -> Result<(), String> {
    if !is_pve_node_format(name) {
        let hint = if name.contains('.') {
            " (use the short host name, without the domain)"
        } else {
            ""
        };
        return Err(format!(
            "invalid node name '{name}': value does not look like a valid node name{hint}"
        ));
    }
    if name.len() > LABEL_MAX_LEN {
        return Err(format!(
            "invalid node name '{name}': value may only be {LABEL_MAX_LEN} characters long"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        let ok = [
            "a",
            "Matrix",
            "ClusterProxmox",
            "skvPVEclust",
            "pve-1",
            "123456789012345",
            "0",
        ];
        for name in ok {
            assert_eq!(validate_cluster_name(name), Ok(()), "{name}");
        }
        let bad_format = [
            "",
            "-a",
            "a-",
            "my.cluster",
            "Khuleg_Baatar",
            "a b",
            "é",
            "a\n",
        ];
        for name in bad_format {
            let err = validate_cluster_name(name).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "invalid cluster name '{name}': value does not look like a valid node name"
                )),
                "{err}"
            );
        }
        // format is checked before length, like PVE
        let err = validate_cluster_name("a_very_long_cluster_name").unwrap_err();
        assert!(err.contains("does not look like"), "{err}");
        assert_eq!(
            validate_cluster_name("abcdefghijklmnop"),
            Err(
                "invalid cluster name 'abcdefghijklmnop': value may only be 15 characters long"
                    .to_string()
            )
        );
    }

    #[test]
    fn hostnames() {
        assert!(is_valid_hostname("pve1"));
        assert!(is_valid_hostname("pve1.example.com"));
        assert!(is_valid_hostname("1.2.3.4"));
        assert!(!is_valid_hostname(""));
        assert!(!is_valid_hostname("pve1."));
        assert!(!is_valid_hostname(".pve1"));
        assert!(!is_valid_hostname("a..b"));
        assert!(!is_valid_hostname("-a.b"));
        assert!(!is_valid_hostname("a_b"));
        assert!(is_valid_hostname(&"a".repeat(63)));
        assert!(!is_valid_hostname(&"a".repeat(64)));
        let long = vec!["a".repeat(63); 4].join("."); // 255
        assert!(!is_valid_hostname(&long));
        let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "a".repeat(61)); // 253
        assert_eq!(max.len(), 253);
        assert!(is_valid_hostname(&max));
    }

    #[test]
    fn node_names() {
        assert_eq!(validate_node_name("pve1"), Ok(()));
        assert_eq!(validate_node_name("debian-proxmox-01"), Ok(()));
        assert!(validate_node_name("pve1.example.com")
            .unwrap_err()
            .contains("short host name"));
        assert!(validate_node_name("pve_1")
            .unwrap_err()
            .starts_with("invalid node name 'pve_1': value does not look"));
        assert!(validate_node_name(&"a".repeat(64))
            .unwrap_err()
            .contains("63 characters"));
    }
}
