//! What the user asked for, its options checked, and the `pvecm create`
//! or `pvecm add` call that does it.

/// Corosync supports link0 to link7.
pub const MAX_LINKS: usize = 8;

/// Checks a certificate fingerprint as `pvecm add --fingerprint` does:
/// 32 colon-separated pairs of hex digits.
pub fn check_fingerprint(fp: &str) -> Result<(), String> {
    let pairs: Vec<&str> = fp.split(':').collect();
    let ok = pairs.len() == 32
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid fingerprint '{fp}': expected the peer certificate's SHA-256 fingerprint as 32 \
             colon-separated hex pairs (AA:BB:...), as shown by \
             'openssl x509 -in /etc/pve/local/pve-ssl.pem -noout -fingerprint -sha256' on the peer"
        ))
    }
}

/// One corosync link of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Link number, 0 to 7.
    pub number: u8,
    /// IP address (or host name) of this node on that link.
    pub address: String,
    /// knet link priority, 0 to 255.
    pub priority: Option<u8>,
}

impl Link {
    /// The value of `--linkN`.
    pub fn arg_value(&self) -> String {
        match self.priority {
            Some(p) => format!("address={},priority={p}", self.address),
            None => format!("address={}", self.address),
        }
    }
}

/// Checks a set of links: at most eight, numbers 0 to 7, each used once.
pub fn check_links(links: &[Link]) -> Result<(), String> {
    if links.len() > MAX_LINKS {
        return Err(format!(
            "{} links given, corosync supports at most {MAX_LINKS} (link0 to link7)",
            links.len()
        ));
    }
    for (i, link) in links.iter().enumerate() {
        if usize::from(link.number) >= MAX_LINKS {
            return Err(format!(
                "link number {} of link '{}' is out of range: use 0 to 7",
                link.number, link.address
            ));
        }
        if link.address.trim().is_empty() {
            return Err(format!("link{} has an empty address", link.number));
        }
        if links.iter().skip(i + 1).any(|l| l.number == link.number) {
            return Err(format!(
                "link number {} is given twice: each link needs its own number",
                link.number
            ));
        }
    }
    Ok(())
}

/// How a join reaches the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinPath {
    /// `pvecm add --use_ssh`: root SSH trust to the peer, port 22.
    Ssh,
    /// The API join on port 8006: root password on stdin, pinned
    /// certificate fingerprint.
    Api {
        /// SHA-256 fingerprint of the peer's certificate.
        fingerprint: String,
    },
}

impl JoinPath {
    /// The TCP port of the peer this path needs.
    pub fn port(&self) -> u16 {
        match self {
            JoinPath::Ssh => 22,
            JoinPath::Api { .. } => 8006,
        }
    }
    /// `ssh` or `api`.
    pub fn name(&self) -> &'static str {
        match self {
            JoinPath::Ssh => "ssh",
            JoinPath::Api { .. } => "api",
        }
    }
}

/// What the user asked for, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The cluster to be in.
    pub cluster_name: String,
    /// Join through this member; `None` creates the cluster.
    pub peer: Option<String>,
    /// How to reach the peer (ignored without one).
    pub path: JoinPath,
    /// Corosync links of this node.
    pub links: Vec<Link>,
    /// `--nodeid`.
    pub nodeid: Option<u32>,
    /// `--votes`.
    pub votes: Option<u32>,
    /// Before an SSH join, try root's login to the peer in batch mode.
    pub check_ssh_login: bool,
}

/// What will be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `pvecm create`.
    Create,
    /// `pvecm add` through the peer.
    Join {
        /// The member to join through.
        peer: String,
        /// How.
        path: JoinPath,
    },
}

impl Action {
    /// `create` or `join`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Join { .. } => "join",
        }
    }
}

/// The action a request implies.
pub fn action(req: &Request) -> Action {
    match &req.peer {
        None => Action::Create,
        Some(peer) => Action::Join {
            peer: peer.clone(),
            path: req.path.clone(),
        },
    }
}

/// A `pvecm` command line, without secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvecmCall {
    /// Arguments after `pvecm`.
    pub args: Vec<String>,
    /// The root password goes on stdin.
    pub password_on_stdin: bool,
}

/// The `pvecm create`/`pvecm add` arguments for a request.
pub fn pvecm_call(req: &Request) -> PvecmCall {
    let mut args = Vec::new();
    let mut password_on_stdin = false;
    match action(req) {
        Action::Create => {
            args.push("create".to_string());
            args.push(req.cluster_name.clone());
        }
        Action::Join { peer, .. } => {
            args.push("add".to_string());
            args.push(peer);
        }
    }
    if let Some(id) = req.nodeid {
        args.push("--nodeid".to_string());
        args.push(id.to_string());
    }
    if let Some(votes) = req.votes {
        args.push("--votes".to_string());
        args.push(votes.to_string());
    }
    let mut links = req.links.clone();
    links.sort_by_key(|l| l.number);
    for link in &links {
        args.push(format!("--link{}", link.number));
        args.push(link.arg_value());
    }
    if let Action::Join { path, .. } = action(req) {
        match path {
            JoinPath::Ssh => args.push("--use_ssh".to_string()),
            JoinPath::Api { fingerprint } => {
                args.push("--fingerprint".to_string());
                args.push(fingerprint);
                password_on_stdin = true;
            }
        }
    }
    PvecmCall {
        args,
        password_on_stdin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::join::fixtures::{api, link, request};

    #[test]
    fn fingerprints_need_32_hex_pairs() {
        assert!(check_fingerprint(&["aB"; 32].join(":")).is_ok());
        assert!(check_fingerprint(&["AB"; 31].join(":")).is_err());
        assert!(check_fingerprint(&["AG"; 32].join(":")).is_err());
        assert!(check_fingerprint("").is_err());
    }

    #[test]
    fn links_are_checked() {
        assert!(check_links(&[link(0, "10.0.0.1", None), link(1, "10.1.0.1", Some(5))]).is_ok());
        assert!(check_links(&[link(0, "a", None), link(0, "b", None)])
            .unwrap_err()
            .contains("twice"));
        assert!(check_links(&[link(8, "a", None)])
            .unwrap_err()
            .contains("out of range"));
        let nine: Vec<Link> = (0..9).map(|i| link(i % 8, "a", None)).collect();
        assert!(check_links(&nine).unwrap_err().contains("at most 8"));
        assert!(check_links(&[link(0, " ", None)]).is_err());
    }

    #[test]
    fn pvecm_calls_for_every_option_combination() {
        let links = vec![link(1, "10.1.0.2", None), link(0, "10.0.0.2", Some(20))];
        let cases: Vec<(Request, &str, bool)> = vec![
            (request(None, JoinPath::Ssh, vec![]), "create lab", false),
            (
                request(None, api(), links.clone()),
                "create lab --link0 address=10.0.0.2,priority=20 --link1 address=10.1.0.2",
                false,
            ),
            (
                request(Some("10.0.0.1"), JoinPath::Ssh, vec![]),
                "add 10.0.0.1 --use_ssh",
                false,
            ),
            (
                request(Some("10.0.0.1"), JoinPath::Ssh, links.clone()),
                "add 10.0.0.1 --link0 address=10.0.0.2,priority=20 --link1 address=10.1.0.2 --use_ssh",
                false,
            ),
            (
                request(Some("pve1"), api(), vec![]),
                &*Box::leak(format!("add pve1 --fingerprint {}", ["AB"; 32].join(":")).into_boxed_str()),
                true,
            ),
        ];
        for (req, want, stdin) in cases {
            let call = pvecm_call(&req);
            assert_eq!(call.args.join(" "), want);
            assert_eq!(call.password_on_stdin, stdin, "{want}");
        }
        let mut with_ids = request(Some("10.0.0.1"), JoinPath::Ssh, vec![]);
        with_ids.nodeid = Some(5);
        with_ids.votes = Some(0);
        assert_eq!(
            pvecm_call(&with_ids).args.join(" "),
            "add 10.0.0.1 --nodeid 5 --votes 0 --use_ssh"
        );
        assert_eq!(action(&with_ids).name(), "join");
        assert_eq!(
            action(&request(None, JoinPath::Ssh, vec![])),
            Action::Create
        );
    }
}
