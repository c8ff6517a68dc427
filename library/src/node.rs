//! What the node says about itself: its host name, its addresses and the
//! source address of its default route, as Ansible's network facts define
//! them. Parsing is pure; [`read`] runs `ip` through [`crate::cmd`].

use std::fs;
use std::time::Duration;

use serde::Serialize;

use crate::cmd::{Cmd, CmdError, Runner};

const IP_TIMEOUT: Duration = Duration::from_secs(15);
/// The address Ansible asks the kernel to route (no packet is sent).
const ROUTE_PROBE: &str = "8.8.8.8";

/// The node's identity on the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// The host name up to the first dot: the Proxmox VE node name.
    pub hostname: Option<String>,
    /// Every IPv4 address but 127.0.0.0/8, as Ansible's `all_ipv4_addresses`.
    pub ipv4_addresses: Vec<String>,
    /// Every IPv6 address but `::1`, as Ansible's `all_ipv6_addresses`.
    pub ipv6_addresses: Vec<String>,
    /// The source address of the IPv4 default route (`default_ipv4.address`).
    pub default_ipv4: Option<String>,
}

/// The kernel's host name, short form.
pub fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().split('.').next().unwrap_or_default().to_string())
        .find(|s| !s.is_empty() && s != "(none)")
}

/// Addresses from `ip -o addr show`, in its order.
pub fn parse_addresses(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "inet" || *w == "inet6") else {
            continue;
        };
        // `inet 10.0.0.1/24 ...` or `inet 10.0.0.1 peer 10.0.0.2/32 ...`
        let Some(address) = words.get(at + 1).map(|a| a.split('/').next().unwrap_or(a)) else {
            continue;
        };
        if words[at] == "inet" {
            if !address.starts_with("127.") {
                v4.push(address.to_string());
            }
        } else if address != "::1" {
            v6.push(address.to_string());
        }
    }
    (v4, v6)
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

/// Reads the node's identity. A missing `ip` is an error; a node without a
/// default route simply has no `default_ipv4`.
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
    Ok(NodeInfo {
        hostname: hostname(),
        ipv4_addresses,
        ipv6_addresses,
        default_ipv4: parse_route_source(&route.stdout, ROUTE_PROBE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn addresses_follow_ansibles_all_ipv4_and_all_ipv6() {
        let (v4, v6) = parse_addresses(ADDR);
        assert_eq!(v4, ["192.168.1.11", "192.168.1.50", "10.8.0.1"]);
        assert_eq!(v6, ["fd00::11", "fe80::be24:11ff:fe00:1"]);
        assert_eq!(parse_addresses(""), (vec![], vec![]));
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
