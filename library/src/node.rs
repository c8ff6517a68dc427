//! What the node says about itself: its host name, its addresses and the
//! source address of its default route, as Ansible's network facts define
//! them, and the SSH keys other cluster nodes trust it by (its host keys,
//! root's public keys). Parsing is pure; [`read`] runs `ip` through
//! [`crate::cmd`] and reads the key files.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::cmd::{Cmd, CmdError, Runner};
use crate::ssh::PublicKey;

const IP_TIMEOUT: Duration = Duration::from_secs(15);
/// The address Ansible asks the kernel to route (no packet is sent).
const ROUTE_PROBE: &str = "8.8.8.8";

/// The node's identity on the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeInfo {
    /// The host name up to the first dot: the Proxmox VE node name.
    pub hostname: Option<String>,
    /// The fully qualified name, as Ansible's `ansible_fqdn` finds it: the
    /// first name with a dot among the host name and the names the resolver
    /// gives for it (on a fresh Debian install, the `127.0.1.1` line's).
    pub fqdn: Option<String>,
    /// Every IPv4 address but 127.0.0.0/8, as Ansible's `all_ipv4_addresses`.
    pub ipv4_addresses: Vec<String>,
    /// Every IPv6 address but `::1`, as Ansible's `all_ipv6_addresses`.
    pub ipv6_addresses: Vec<String>,
    /// The source address of the IPv4 default route (`default_ipv4.address`).
    pub default_ipv4: Option<String>,
    /// SSH host keys by type (`ed25519`, `ecdsa`, `rsa`), `type base64`.
    pub ssh_host_keys: BTreeMap<String, String>,
    /// The host key to pin: ed25519, else ecdsa, else rsa.
    pub ssh_host_key: Option<String>,
    /// Root's public keys by type, `type base64 comment`.
    pub root_ssh_keys: BTreeMap<String, String>,
    /// The certificate the API (pveproxy) serves: of [`API_CERTIFICATES`],
    /// the first that exists in the node's own directory of `/etc/pve`.
    pub api_certificate: Option<String>,
    /// Its SHA-256 fingerprint as `pvecm add --fingerprint` takes it
    /// (`AB:CD:...`); `None` when no certificate is readable.
    pub api_fingerprint: Option<String>,
}

/// The certificates pveproxy serves, in its order of preference, in
/// `/etc/pve/local` (pmxcfs's link to `/etc/pve/nodes/<node>`): an
/// uploaded one (`pveproxy-ssl.pem`, as `pvenode cert set` or ACME leave
/// it), else the node's own, signed by the cluster's CA (`pve-ssl.pem`).
pub const API_CERTIFICATES: [&str; 2] = ["pveproxy-ssl.pem", "pve-ssl.pem"];

/// The SHA-256 fingerprint of the first certificate in a PEM text (a chain
/// starts with the server's own), upper-case hex pairs joined by `:`, as
/// `openssl x509 -fingerprint -sha256` and PVE print it. `None` without a
/// well-formed certificate block.
pub fn pem_fingerprint(pem: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN)? + BEGIN.len();
    let end = start + pem[start..].find(END)?;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = crate::ssh::digest::base64_decode(&body)?;
    if der.is_empty() {
        return None;
    }
    let digest = sha2::Sha256::digest(&der);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The certificate pveproxy serves on the node `node` (this node) and its
/// fingerprint, read from `/etc/pve/nodes/<node>`, where `/etc/pve/local`
/// leads.
pub fn api_certificate(node: Option<&str>) -> (Option<String>, Option<String>) {
    let dir = node.map_or_else(
        || "/etc/pve/local".to_string(),
        |n| format!("/etc/pve/nodes/{n}"),
    );
    for name in API_CERTIFICATES {
        let path = format!("{dir}/{name}");
        if let Ok(text) = fs::read_to_string(&path) {
            let fingerprint = pem_fingerprint(&text);
            return (Some(path), fingerprint);
        }
    }
    (None, None)
}

/// SSH key types, in the order host keys are preferred for pinning.
pub const SSH_KEY_TYPES: [&str; 3] = ["ed25519", "ecdsa", "rsa"];
/// Where the host keys are.
pub const HOST_KEY_DIR: &str = "/etc/ssh";
/// Root's SSH directory.
pub const ROOT_SSH_DIR: &str = "/root/.ssh";

/// The public keys `<dir>/<prefix><type><suffix>` that parse, by type;
/// `bare` leaves the comment out.
pub fn read_keys(dir: &Path, prefix: &str, suffix: &str, bare: bool) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    for kind in SSH_KEY_TYPES {
        let path = dir.join(format!("{prefix}{kind}{suffix}"));
        if let Some(key) = fs::read_to_string(path)
            .ok()
            .and_then(|t| PublicKey::parse(&t).ok())
        {
            keys.insert(kind.to_string(), if bare { key.bare() } else { key.line() });
        }
    }
    keys
}

/// The node's SSH host keys in `dir`, by type, `type base64`.
pub fn host_keys(dir: &Path) -> BTreeMap<String, String> {
    read_keys(dir, "ssh_host_", "_key.pub", true)
}

/// The host key to pin among `keys`: ed25519, else ecdsa, else rsa.
pub fn preferred_host_key(keys: &BTreeMap<String, String>) -> Option<String> {
    SSH_KEY_TYPES.iter().find_map(|t| keys.get(*t).cloned())
}

/// The host name as the kernel knows it (what `uname -n` prints), else
/// the one configured in `/etc/hostname`; whole.
pub fn kernel_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .find_map(|s| whole_hostname(&s))
}

/// The host name in the text of `/proc/sys/kernel/hostname` or
/// `/etc/hostname`: trimmed; none when empty or the kernel's `(none)`.
pub fn whole_hostname(text: &str) -> Option<String> {
    let name = text.trim();
    (!name.is_empty() && name != "(none)").then(|| name.to_string())
}

/// The node name Proxmox VE uses for a host name: its first label.
pub fn short_hostname(text: &str) -> Option<String> {
    whole_hostname(text)
        .map(|h| h.split('.').next().unwrap_or_default().to_string())
        .filter(|h| !h.is_empty())
}

/// The host name up to the first dot: the Proxmox VE node name.
pub fn hostname() -> Option<String> {
    kernel_hostname().and_then(|h| short_hostname(&h))
}

/// Every address of `ip -o addr show`, in its order, loopback included:
/// its family word (`inet` or `inet6`) and the address as printed, without
/// the prefix length. The one reading of that output: [`parse_addresses`]
/// and [`local_ips`] are views of it.
fn ip_addr_entries(text: &str) -> Vec<(&str, &str)> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "inet" || *w == "inet6") else {
            continue;
        };
        // `inet 10.0.0.1/24 ...` or `inet 10.0.0.1 peer 10.0.0.2/32 ...`
        let Some(address) = words.get(at + 1).map(|a| a.split('/').next().unwrap_or(a)) else {
            continue;
        };
        entries.push((words[at], address));
    }
    entries
}

/// Addresses from `ip -o addr show`, in its order, as Ansible's
/// `all_ipv4_addresses` and `all_ipv6_addresses`: loopback left out.
pub fn parse_addresses(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (family, address) in ip_addr_entries(text) {
        if family == "inet" {
            if !address.starts_with("127.") {
                v4.push(address.to_string());
            }
        } else if address != "::1" {
            v6.push(address.to_string());
        }
    }
    (v4, v6)
}

/// Every address configured on this node, from `ip -o addr show`, in its
/// order, loopback included: what a corosync link address must be one of.
pub fn local_ips(text: &str) -> Vec<IpAddr> {
    ip_addr_entries(text)
        .into_iter()
        .filter_map(|(_, address)| address.parse().ok())
        .collect()
}

/// The `src` of `ip -4 route get <probe>`, when its first line answers for
/// the probe.
pub fn parse_route_source(text: &str, probe: &str) -> Option<String> {
    let words: Vec<&str> = text.lines().next()?.split_whitespace().collect();
    if words.first() != Some(&probe) {
        return None;
    }
    words
        .windows(2)
        .find(|w| w[0] == "src")
        .map(|w| w[1].to_string())
}

/// The first name with a dot in `getent hosts NAME`'s answer.
pub fn fqdn_of(getent_hosts: &str) -> Option<String> {
    crate::resolve::parse_hosts(getent_hosts)
        .into_iter()
        .find(|n| n.contains('.') && !n.ends_with('.'))
}

/// Reads the node's identity. A missing `ip` is an error; a node without a
/// default route simply has no `default_ipv4`, and missing or unreadable
/// key files are left out.
pub fn read(runner: &dyn Runner) -> Result<NodeInfo, CmdError> {
    let addr = runner.run(
        &Cmd::new("ip")
            .args(["-o", "addr", "show"])
            .timeout(IP_TIMEOUT),
    )?;
    let (ipv4_addresses, ipv6_addresses) = parse_addresses(&addr.stdout);
    let route = runner.run(
        &Cmd::new("ip")
            .args(["-4", "route", "get", ROUTE_PROBE])
            .timeout(IP_TIMEOUT),
    )?;
    let ssh_host_keys = host_keys(Path::new(HOST_KEY_DIR));
    let whole = kernel_hostname();
    let fqdn = match &whole {
        Some(name) if name.contains('.') => Some(name.clone()),
        Some(name) => {
            let out = runner.run(
                &Cmd::new("getent")
                    .args(["hosts", name.as_str()])
                    .timeout(IP_TIMEOUT),
            );
            out.ok().and_then(|o| fqdn_of(&o.stdout))
        }
        None => None,
    };
    let (api_certificate, api_fingerprint) = api_certificate(hostname().as_deref());
    Ok(NodeInfo {
        api_certificate,
        api_fingerprint,
        hostname: hostname(),
        fqdn,
        ipv4_addresses,
        ipv6_addresses,
        default_ipv4: parse_route_source(&route.stdout, ROUTE_PROBE),
        ssh_host_key: preferred_host_key(&ssh_host_keys),
        ssh_host_keys,
        root_ssh_keys: read_keys(Path::new(ROOT_SSH_DIR), "id_", ".pub", false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reading_of_the_host_name_files() {
        assert_eq!(
            whole_hostname("pve1.lab.test\n").as_deref(),
            Some("pve1.lab.test")
        );
        assert_eq!(short_hostname("pve1.lab.test\n").as_deref(), Some("pve1"));
        for nothing in ["", "  \n", "(none)\n", ".lab.test\n"] {
            assert_eq!(short_hostname(nothing), None, "{nothing:?}");
        }
    }

    // `ip -o addr show` of iproute2 6.x (Debian 12, PVE 8) on a node with a
    // bridge, a point-to-point link and IPv6.
    const ADDR: &str = "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
4: vmbr0    inet 192.168.1.11/24 brd 192.168.1.255 scope global vmbr0\\       valid_lft forever preferred_lft forever
4: vmbr0    inet 192.168.1.50/24 scope global secondary vmbr0\\       valid_lft forever preferred_lft forever
5: tun0    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0\\       valid_lft forever preferred_lft forever
4: vmbr0    inet6 fd00::11/64 scope global \\       valid_lft forever preferred_lft forever
4: vmbr0    inet6 fe80::be24:11ff:fe00:1/64 scope link \\       valid_lft forever preferred_lft forever
";

    fn cert(name: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/certs/");
        fs::read_to_string(format!("{path}{name}")).unwrap()
    }

    #[test]
    fn the_api_fingerprint_is_openssls_sha256_of_the_first_certificate() {
        // fingerprints.txt: `openssl x509 -noout -fingerprint -sha256` of
        // the server certificate and of the CA appended after it.
        let expected = cert("fingerprints.txt");
        let server = expected.lines().next().unwrap().rsplit('=').next().unwrap();
        assert_eq!(
            pem_fingerprint(&cert("pve-ssl.pem")).as_deref(),
            Some(server)
        );
        assert_eq!(
            pem_fingerprint(&cert("pveproxy-chain.pem")).as_deref(),
            Some(server)
        );
        assert!(join_fingerprint_ok(server));
    }

    fn join_fingerprint_ok(fp: &str) -> bool {
        crate::pve::join::check_fingerprint(fp).is_ok()
    }

    #[test]
    fn no_certificate_no_fingerprint() {
        assert_eq!(pem_fingerprint(""), None);
        assert_eq!(
            pem_fingerprint("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"),
            None
        );
        assert_eq!(
            pem_fingerprint("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            None
        );
        assert_eq!(pem_fingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n"), None);
    }

    #[test]
    fn the_fqdn_is_the_first_name_with_a_dot_as_ansible_finds_it() {
        // A fresh Debian install: "127.0.1.1 pve1.lab.test pve1".
        assert_eq!(
            fqdn_of("127.0.1.1       pve1.lab.test pve1\n").as_deref(),
            Some("pve1.lab.test")
        );
        assert_eq!(
            fqdn_of("10.0.0.1        pve1 pve1.lab.test\n").as_deref(),
            Some("pve1.lab.test")
        );
        assert_eq!(fqdn_of("10.0.0.1        pve1\n"), None);
        assert_eq!(fqdn_of(""), None);
    }

    #[test]
    fn addresses_follow_ansibles_all_ipv4_and_all_ipv6() {
        let (v4, v6) = parse_addresses(ADDR);
        assert_eq!(v4, ["192.168.1.11", "192.168.1.50", "10.8.0.1"]);
        assert_eq!(v6, ["fd00::11", "fe80::be24:11ff:fe00:1"]);
        assert_eq!(parse_addresses(""), (vec![], vec![]));
    }

    #[test]
    fn local_ips_keep_loopback_and_both_families_in_order() {
        let all: Vec<IpAddr> = [
            "127.0.0.1",
            "::1",
            "192.168.1.11",
            "192.168.1.50",
            "10.8.0.1",
            "fd00::11",
            "fe80::be24:11ff:fe00:1",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(local_ips(ADDR), all);
        let ip = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever\n2: eth0    inet 10.99.0.11/24 brd 10.99.0.255 scope global eth0\\       valid_lft forever\n2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n";
        let addrs = local_ips(ip);
        assert_eq!(addrs.len(), 4);
        assert!(addrs.contains(&"10.99.0.11".parse().unwrap()));
        assert!(local_ips("").is_empty());
    }

    #[test]
    fn default_source_comes_from_the_route_to_the_probe() {
        let out = "8.8.8.8 via 192.168.1.1 dev vmbr0 src 192.168.1.11 uid 0 \n    cache \n";
        assert_eq!(
            parse_route_source(out, "8.8.8.8").as_deref(),
            Some("192.168.1.11")
        );
        assert_eq!(parse_route_source("", "8.8.8.8"), None);
        assert_eq!(
            parse_route_source("RTNETLINK answers: Network is unreachable\n", "8.8.8.8"),
            None
        );
    }
}
