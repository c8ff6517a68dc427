//! The addresses of this node and of its name, from `ip` and `getent`.

use std::net::IpAddr;

/// Addresses in the output of `ip -o addr`.
pub fn parse_ip_addr(stdout: &str) -> Vec<IpAddr> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            fields.find(|f| *f == "inet" || *f == "inet6")?;
            let cidr = fields.next()?;
            cidr.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Addresses in the output of `getent ahosts NAME`, first seen first.
pub fn parse_getent(stdout: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for line in stdout.lines() {
        if let Some(ip) = line
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<IpAddr>().ok())
        {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_and_getent_outputs_are_parsed() {
        let ip = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever\n2: eth0    inet 10.99.0.11/24 brd 10.99.0.255 scope global eth0\\       valid_lft forever\n2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n";
        let addrs = parse_ip_addr(ip);
        assert_eq!(addrs.len(), 4);
        assert!(addrs.contains(&"10.99.0.11".parse().unwrap()));
        let getent = "127.0.1.1       STREAM pve1\n127.0.1.1       DGRAM  \n127.0.1.1       RAW    \n10.0.0.1        STREAM \n";
        assert_eq!(
            parse_getent(getent),
            vec![
                "127.0.1.1".parse::<IpAddr>().unwrap(),
                "10.0.0.1".parse().unwrap()
            ]
        );
    }
}
