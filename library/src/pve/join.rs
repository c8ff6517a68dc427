//! Creating a Proxmox VE cluster or joining one: what the node looks like,
//! what may be done, which `pvecm` command does it, and what its output
//! means.
//!
//! `pvecm add` exits 0 even when the join failed, so nothing here trusts an
//! exit status: [`membership`] judges from the cluster state, and
//! [`diagnose`] turns the failure texts of `pvecm create`/`add` into a
//! message and a hint.

use std::fmt;
use std::net::IpAddr;

use super::corosync_conf::{CorosyncConf, CLUSTER_CONF, LOCAL_CONF};

/// Corosync supports link0 to link7.
pub const MAX_LINKS: usize = 8;

/// The corosync authentication key.
pub const AUTHKEY: &str = "/etc/corosync/authkey";

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

/// The parts of a corosync config this module needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ConfSummary {
    /// `totem.cluster_name`.
    pub cluster_name: Option<String>,
    /// `totem.config_version`.
    pub config_version: Option<u64>,
    /// Names of the nodes in the nodelist (`name`, else `ring0_addr`).
    pub nodes: Vec<String>,
}

/// Reads the cluster name, config version and node names (`name`, else
/// `ring0_addr`) from a corosync.conf. An unreadable file names no cluster.
pub fn parse_conf_summary(text: &str) -> ConfSummary {
    let Ok(conf) = CorosyncConf::parse(text) else {
        return ConfSummary::default();
    };
    ConfSummary {
        cluster_name: conf.cluster_name().map(str::to_string),
        config_version: conf.config_version(),
        nodes: conf
            .nodes()
            .iter()
            .filter_map(|n| {
                n.name
                    .clone()
                    .or_else(|| n.ring0_addr().map(str::to_string))
            })
            .collect(),
    }
}

/// Everything read from the node before deciding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// This node's name (short host name).
    pub node: String,
    /// `/etc/pve/corosync.conf`, if present.
    pub cluster_conf: Option<ConfSummary>,
    /// `/etc/corosync/corosync.conf`, if present.
    pub local_conf: Option<ConfSummary>,
    /// `/etc/corosync/authkey` exists.
    pub authkey: bool,
    /// A corosync process runs.
    pub corosync_running: bool,
    /// The cluster is quorate (as `pvecm status` says).
    pub quorate: bool,
    /// Names of the members corosync currently sees.
    pub members: Vec<String>,
    /// Guest configs in `/etc/pve` (`qemu-server/100.conf` for this
    /// node's, `nodes/<node>/lxc/101.conf` for another node's).
    pub guests: Vec<String>,
}

/// Where the node stands with respect to the target cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// In no cluster.
    Standalone,
    /// In the target cluster, corosync running.
    Member {
        /// Config version.
        config_version: Option<u64>,
        /// Configured nodes.
        nodes: Vec<String>,
        /// Quorate now.
        quorate: bool,
    },
    /// In another cluster.
    OtherCluster {
        /// Its name.
        cluster_name: String,
        /// Its config version.
        config_version: Option<u64>,
        /// Its configured nodes.
        nodes: Vec<String>,
    },
    /// Configured for the target (or an unnamed) cluster but not working
    /// as a member: a create or join that stopped halfway, or a stopped
    /// corosync.
    Incomplete {
        /// The state found.
        found: String,
        /// What to do, in order.
        steps: Vec<String>,
    },
}

/// Decides where the node stands. Pure.
pub fn membership(obs: &Observed, target: &str) -> Relation {
    let conf = obs.cluster_conf.as_ref().or(obs.local_conf.as_ref());
    let Some(conf) = conf else {
        return Relation::Standalone;
    };
    let which = if obs.cluster_conf.is_some() {
        CLUSTER_CONF
    } else {
        LOCAL_CONF
    };
    let Some(name) = conf.cluster_name.clone() else {
        return Relation::Incomplete {
            found: format!(
                "{which} exists but names no cluster (unreadable, or no totem.cluster_name)"
            ),
            steps: separate_steps(&obs.node),
        };
    };
    if name != target {
        return Relation::OtherCluster {
            cluster_name: name,
            config_version: conf.config_version,
            nodes: conf.nodes.clone(),
        };
    }
    let version = conf
        .config_version
        .map_or_else(|| "unknown".to_string(), |v| v.to_string());
    if obs.cluster_conf.is_none() {
        return Relation::Incomplete {
            found: format!(
                "{LOCAL_CONF} is set up for cluster '{name}' (config version {version}) but \
                 {CLUSTER_CONF} is missing: the cluster file system (pve-cluster) is not running or \
                 a join stopped before it finished"
            ),
            steps: vec![
                "start the cluster services: 'systemctl start corosync pve-cluster', then check \
                 'journalctl -u corosync -u pve-cluster'"
                    .to_string(),
                format!(
                    "if this node should not be in '{name}', take it out as described under \
                     'Separate a node without reinstalling' in the Proxmox VE admin guide"
                ),
                "run this task again".to_string(),
            ],
        };
    }
    if !conf.nodes.contains(&obs.node) {
        return Relation::Incomplete {
            found: format!(
                "{CLUSTER_CONF} is set up for cluster '{name}' (config version {version}, nodes: {}) \
                 but does not list this node '{}'",
                list_or_none(&conf.nodes),
                obs.node
            ),
            steps: vec![
                format!(
                    "on a member of '{name}', check 'pvecm nodes': if '{}' is missing there too, the \
                     join did not reach the cluster",
                    obs.node
                ),
                format!(
                    "separate this node from the half-joined state ('Separate a node without \
                     reinstalling' in the Proxmox VE admin guide: stop pve-cluster and corosync, \
                     start 'pmxcfs -l', remove {CLUSTER_CONF}, {LOCAL_CONF} and {AUTHKEY}, stop \
                     pmxcfs, start pve-cluster)"
                ),
                "run this task again to join".to_string(),
            ],
        };
    }
    if !obs.corosync_running {
        return Relation::Incomplete {
            found: format!(
                "this node '{}' is configured as a member of cluster '{name}' (config version \
                 {version}, nodes: {}) but corosync is not running",
                obs.node,
                list_or_none(&conf.nodes)
            ),
            steps: vec![
                "start corosync: 'systemctl start corosync'".to_string(),
                "if it does not stay up, read 'journalctl -u corosync' (wrong link address, \
                 missing /etc/corosync/authkey, firewall on UDP 5405)"
                    .to_string(),
                "run this task again: it then reports the membership".to_string(),
            ],
        };
    }
    Relation::Member {
        config_version: conf.config_version,
        nodes: conf.nodes.clone(),
        quorate: obs.quorate,
    }
}

fn separate_steps(node: &str) -> Vec<String> {
    vec![
        format!(
            "if '{node}' should be in no cluster, remove the leftovers as described under \
             'Separate a node without reinstalling' in the Proxmox VE admin guide"
        ),
        "run this task again".to_string(),
    ]
}

/// Whether a create or join has finished: a member of the target cluster,
/// quorate.
pub fn is_done(obs: &Observed, target: &str) -> bool {
    matches!(
        membership(obs, target),
        Relation::Member { quorate: true, .. }
    )
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// The message for a node in another cluster.
pub fn other_cluster_message(
    node: &str,
    target: &str,
    cluster_name: &str,
    config_version: Option<u64>,
    nodes: &[String],
) -> String {
    let version = config_version.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    format!(
        "node '{node}' is a member of cluster '{cluster_name}' (config version {version}, members: {}); \
         refusing to create or join cluster '{target}'. Nothing was changed. A node can be in one \
         cluster only: if it should move, remove it from '{cluster_name}' first (pvecm delnode on \
         another member, then separate it as described in the Proxmox VE admin guide), or fix \
         cluster_name",
        list_or_none(nodes)
    )
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

/// Facts needed for the pre-flight checks, read only when the node is
/// about to create or join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Addresses configured on local interfaces (`ip -o addr`).
    pub local_addresses: Vec<IpAddr>,
    /// What the node name resolves to (`getent ahosts`), or why it does not.
    pub node_addresses: Result<Vec<IpAddr>, String>,
    /// Whether the peer answered on the port of the join path.
    pub peer_reachable: Option<Result<(), String>>,
    /// For an SSH join, whether root logs in to the peer without a
    /// password or a question (`ssh -o BatchMode=yes`, as `pvecm add
    /// --use_ssh` itself calls it after `ssh-copy-id`).
    pub peer_login: Option<Result<(), String>>,
}

/// Something that makes PVE refuse the create or join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Guests exist on this node.
    Guests(Vec<String>),
    /// `/etc/corosync/authkey` exists.
    Authkey,
    /// `/etc/pve/corosync.conf` exists.
    ClusterConf,
    /// `/etc/corosync/corosync.conf` exists.
    LocalConf,
    /// Corosync runs.
    CorosyncRunning,
    /// A link address is not configured on this node.
    LinkNotLocal {
        /// Link number.
        number: u8,
        /// Address.
        address: String,
    },
    /// The node name resolves only to loopback addresses.
    NameLoopback {
        /// Node name.
        node: String,
        /// Addresses found.
        addresses: Vec<IpAddr>,
    },
    /// The node name does not resolve.
    NameUnresolved {
        /// Node name.
        node: String,
        /// Why.
        error: String,
    },
    /// Root cannot log in to the peer over SSH without a prompt.
    PeerLogin {
        /// Peer.
        peer: String,
        /// What ssh said.
        error: String,
    },
    /// The peer does not answer on the port the join path needs.
    PeerUnreachable {
        /// Peer.
        peer: String,
        /// Port.
        port: u16,
        /// Why.
        error: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Guests(guests) => write!(
                f,
                "/etc/pve already holds guests ({}): PVE refuses to join a node whose /etc/pve holds \
                 any guest, its own or another node's, because joining replaces /etc/pve with the \
                 cluster's; back them up (vzdump) and remove them, then restore them after the join",
                guests.join(", ")
            ),
            Problem::Authkey => write!(
                f,
                "authentication key '{AUTHKEY}' already exists: leftovers of an earlier cluster or \
                 join; remove it if this node is in no cluster"
            ),
            Problem::ClusterConf => write!(f, "cluster config '{CLUSTER_CONF}' already exists"),
            Problem::LocalConf => write!(
                f,
                "corosync config '{LOCAL_CONF}' already exists: leftovers of an earlier cluster or \
                 join; remove it if this node is in no cluster"
            ),
            Problem::CorosyncRunning => write!(
                f,
                "corosync is already running: stop it ('systemctl stop corosync') if this node is in \
                 no cluster"
            ),
            Problem::LinkNotLocal { number, address } => write!(
                f,
                "link{number} address '{address}' is not configured on any interface of this node \
                 (see 'ip -o addr'): give an address of this node"
            ),
            Problem::NameLoopback { node, addresses } => write!(
                f,
                "the node name '{node}' resolves only to loopback ({}): PVE needs it to resolve to \
                 the node's cluster address; fix /etc/hosts (replace the 127.0.1.1 line with \
                 '<address> {node}.<domain> {node}')",
                addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Problem::NameUnresolved { node, error } => write!(
                f,
                "the node name '{node}' does not resolve ({error}): add it to /etc/hosts with the \
                 node's cluster address"
            ),
            Problem::PeerLogin { peer, error } => write!(
                f,
                "root cannot log in to peer '{peer}' over SSH without a password or a host key \
                 question ({error}): the SSH join ('pvecm add --use_ssh') needs root's key \
                 authorised on the peer and the peer's host key in root's known_hosts; set up the \
                 SSH trust first (pve_ssh_trust), or join through the API"
            ),
            Problem::PeerUnreachable { peer, port, error } => {
                let what = if *port == 22 {
                    "SSH (use_ssh)"
                } else {
                    "the API (password join)"
                };
                write!(
                    f,
                    "peer '{peer}' is not reachable on TCP port {port}, which {what} needs: {error}; \
                     check the address, that the peer is up, and firewalls"
                )
            }
        }
    }
}

/// What PVE would reject, checked before anything runs. Pure.
pub fn preflight(req: &Request, obs: &Observed, facts: &Facts) -> Vec<Problem> {
    let mut problems = Vec::new();
    let joining = req.peer.is_some();
    if joining && !obs.guests.is_empty() {
        problems.push(Problem::Guests(obs.guests.clone()));
    }
    if joining && obs.authkey {
        problems.push(Problem::Authkey);
    }
    if obs.cluster_conf.is_some() {
        problems.push(Problem::ClusterConf);
    }
    if obs.local_conf.is_some() {
        problems.push(Problem::LocalConf);
    }
    if obs.corosync_running {
        problems.push(Problem::CorosyncRunning);
    }
    for link in &req.links {
        if let Ok(ip) = link.address.parse::<IpAddr>() {
            if !facts.local_addresses.contains(&ip) {
                problems.push(Problem::LinkNotLocal {
                    number: link.number,
                    address: link.address.clone(),
                });
            }
        }
    }
    match &facts.node_addresses {
        Err(error) => problems.push(Problem::NameUnresolved {
            node: obs.node.clone(),
            error: error.clone(),
        }),
        Ok(addresses) if addresses.iter().all(IpAddr::is_loopback) => {
            problems.push(Problem::NameLoopback {
                node: obs.node.clone(),
                addresses: addresses.clone(),
            });
        }
        Ok(_) => {}
    }
    if let (Some(peer), Some(Err(error))) = (&req.peer, &facts.peer_login) {
        problems.push(Problem::PeerLogin {
            peer: peer.clone(),
            error: error.clone(),
        });
    }
    if let (Some(peer), Some(Err(error))) = (&req.peer, &facts.peer_reachable) {
        problems.push(Problem::PeerUnreachable {
            peer: peer.clone(),
            port: req.path.port(),
            error: error.clone(),
        });
    }
    problems
}

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

/// What a failed `pvecm create`/`add` said, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// What went wrong.
    pub reason: String,
    /// What to do.
    pub hint: String,
}

fn diag(reason: impl Into<String>, hint: impl Into<String>) -> Option<Diagnosis> {
    Some(Diagnosis {
        reason: reason.into(),
        hint: hint.into(),
    })
}

/// The line of `text` containing `needle`, trimmed.
fn line_with<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    text.lines().find(|l| l.contains(needle)).map(str::trim)
}

/// Whether `pvecm add` printed its success line.
pub fn reported_join_success(stdout: &str) -> bool {
    stdout.contains("successfully added node")
}

/// Turns the output of a failed `pvecm create`/`add` into a reason and a
/// hint. `None` when the output holds no known failure text.
pub fn diagnose(stdout: &str, stderr: &str) -> Option<Diagnosis> {
    let text = format!("{stdout}\n{stderr}");
    let has = |needle: &str| text.contains(needle);

    if has("detected the following error(s):") {
        let items: Vec<String> = text
            .lines()
            .skip_while(|l| !l.contains("detected the following error(s):"))
            .skip(1)
            .filter_map(|l| l.trim().strip_prefix("* ").map(str::to_string))
            .collect();
        let mut hints = Vec::new();
        if items.iter().any(|i| i.contains("virtual guests")) {
            hints.push(
                "back up (vzdump) and remove the guests of this node, restore them after the join",
            );
        }
        if items
            .iter()
            .any(|i| i.contains("already exists") || i.contains("corosync is already running"))
        {
            hints.push(
                "the node has cluster leftovers: if it is in no cluster, separate it as described in \
                 the Proxmox VE admin guide ('Separate a node without reinstalling')",
            );
        }
        if items.iter().any(|i| i.contains("not found on local node")) {
            hints.push("give link addresses that are configured on this node (ip -o addr)");
        }
        if items.iter().any(|i| i.contains("cannot use '")) {
            hints.push("make the link host names resolve, or give IP addresses");
        }
        if hints.is_empty() {
            hints.push("fix the listed problems and run again");
        }
        return diag(
            format!(
                "pvecm found that this node may not join: {}",
                if items.is_empty() {
                    "(no details printed)".to_string()
                } else {
                    items.join("; ")
                }
            ),
            hints.join("; "),
        );
    }
    if has("EOF while reading password") {
        return diag(
            "pvecm add asked for the peer's root password and got none (EOF while reading password)",
            "give password (with fingerprint) for the API join, or use_ssh: true with root SSH trust \
             to the peer",
        );
    }
    if has("401 ") && (has("authentication failure") || has("401 Unauthorized")) {
        return diag(
            "the peer refused the root password (401 authentication failure)",
            "check password: it is the root@pam password of the peer",
        );
    }
    if let Some(line) = line_with(&text, "not verified, abort!") {
        return if line.starts_with("fingerprint '") {
            diag(
                format!("the peer's certificate does not match the given fingerprint ({line})"),
                "take the fingerprint from the peer: 'pvenode cert info' or 'openssl x509 -in \
                 /etc/pve/local/pve-ssl.pem -noout -fingerprint -sha256'; if the peer's certificate \
                 was replaced, update fingerprint",
            )
        } else {
            diag(
                format!("the peer's certificate is not trusted ({line})"),
                "give fingerprint: the peer's certificate SHA-256 fingerprint",
            )
        };
    }
    if let Some(line) = line_with(&text, "500 Can't connect to") {
        return diag(
            format!("the peer's API cannot be reached ({line})"),
            "check peer (address and name resolution), that pveproxy runs on it, and that TCP port \
             8006 is open",
        );
    }
    if has("TFA-enabled login") {
        return diag(
            "root@pam on the peer has two-factor authentication, which the API join cannot use \
             without a terminal",
            "join over SSH (use_ssh: true)",
        );
    }
    if has("Remote side is not able to use API for Cluster join") {
        return diag(
            "the peer has no API for cluster joins (too old)",
            "join over SSH (use_ssh: true) or update the peer",
        );
    }
    if let Some(line) = line_with(&text, "incompatible join API version") {
        return diag(
            format!("the peer speaks another join API version ({line})"),
            "update all cluster nodes to the same Proxmox VE version",
        );
    }
    if let Some(line) = line_with(&text, "can't add existing node") {
        return diag(
            format!("the cluster already has a node of this name ({line})"),
            "a node of this name was added before (a join that failed halfway, or a reinstalled \
             node): on a member, run 'pvecm delnode <name>', then run this task again",
        );
    }
    if has("no links given but multiple links found on other nodes") {
        return diag(
            "the cluster uses several corosync links, and no links were given for this node",
            "give links: one address of this node for every link number the cluster uses",
        );
    }
    if let Some(line) = line_with(
        &text,
        "exists in cluster config but wasn't specified for new node",
    )
    .or_else(|| {
        line_with(
            &text,
            "specified for new node doesn't exist in cluster config",
        )
    }) {
        return diag(
            format!("the links do not match the cluster's ({line})"),
            "give exactly the link numbers the cluster uses (see the interface sections of \
             /etc/pve/corosync.conf on a member)",
        );
    }
    if let Some(line) = line_with(&text, "already used on link") {
        return diag(
            format!("a link address is already used by another node ({line})"),
            "give this node's own addresses in links",
        );
    }
    if has("cluster not ready - no quorum?") {
        return diag(
            "the cluster has no quorum, so it cannot accept a new node (cluster not ready - no quorum?)",
            "bring enough members online for quorum (pvecm status on a member), then run again",
        );
    }
    if let Some(line) = line_with(&text, "unable to add node: command failed") {
        return diag(
            format!("the peer could not add this node over SSH ({line})"),
            "check that root on this node can run 'ssh root@<peer> pvecm apiver' without a prompt, \
             and the peer's error in its syslog",
        );
    }
    if has("Host key verification failed")
        || has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || has("authenticity of host")
    {
        return diag(
            "SSH to the peer failed on its host key",
            "add the peer's host key to /root/.ssh/known_hosts on this node (ssh-keyscan, checked), \
             or remove the stale entry (ssh-keygen -R <peer>)",
        );
    }
    if has("Permission denied") {
        return diag(
            format!(
                "SSH to the peer was refused ({})",
                line_with(&text, "Permission denied").unwrap_or("Permission denied")
            ),
            "authorize this node's root key on the peer (/root/.ssh/authorized_keys) or join \
             through the API with password and fingerprint",
        );
    }
    if let Some(line) =
        line_with(&text, "unable to copy ssh ID").or_else(|| line_with(&text, "can't rsync data"))
    {
        return diag(
            format!("SSH to the peer failed ({line})"),
            "set up root SSH trust from this node to the peer, or use the API join",
        );
    }
    if let Some(line) = line_with(&text, "Navigate out of /etc/pve") {
        return diag(line.to_string(), "run from another directory");
    }
    if let Some(line) = line_with(&text, "Unknown option:") {
        return diag(
            format!("pvecm does not know an option ({line})"),
            "this Proxmox VE version is too old for the options given (links need PVE 6 or later)",
        );
    }
    if let Some(first) = text
        .lines()
        .position(|l| l.trim_start().starts_with("400 "))
    {
        let lines: Vec<&str> = text
            .lines()
            .skip(first)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("pvecm "))
            .collect();
        return diag(
            format!("pvecm rejected the parameters: {}", lines.join("; ")),
            "check the option values (cluster_name, links, nodeid, votes, fingerprint) against \
             the pvecm documentation of this Proxmox VE version",
        );
    }
    if let Some(line) = line_with(
        &text,
        "cluster config '/etc/pve/corosync.conf' already exists",
    ) {
        return diag(
            line.to_string(),
            "the node is already configured for a cluster: run the task again to see which",
        );
    }
    if has("ipcc_send_rec") || has("Unable to load access control list") || has("not mounted") {
        return diag(
            "the cluster file system (pve-cluster/pmxcfs) is not running on this node",
            "start it ('systemctl start pve-cluster') and read 'journalctl -u pve-cluster': a node \
             name resolving to loopback keeps it from starting",
        );
    }
    if let Some(line) =
        line_with(&text, "address lookup for").or_else(|| line_with(&text, "hostname lookup"))
    {
        return diag(
            format!("the node name does not resolve to a usable address ({line})"),
            "put '<address> <fqdn> <node name>' in /etc/hosts",
        );
    }
    if let Some(line) = line_with(&text, "An error occurred on the cluster node:") {
        return diag(
            format!("the peer refused the join ({line})"),
            "read the details below the message in stdout",
        );
    }
    if let Some(line) = line_with(&text, "Check if node may join a cluster failed") {
        return diag(line.to_string(), "read stdout for the list of problems");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "logging {\n  debug: off\n}\n\nnodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.0.0.1\n  }\n  node {\n    nodeid: 2\n    ring0_addr: 10.0.0.2\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: lab # comment\n  config_version: 3\n  interface {\n    linknumber: 0\n  }\n}\n";

    fn summary(name: &str, nodes: &[&str]) -> ConfSummary {
        ConfSummary {
            cluster_name: Some(name.to_string()),
            config_version: Some(2),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn standalone() -> Observed {
        Observed {
            node: "pve2".into(),
            ..Observed::default()
        }
    }

    fn member(name: &str) -> Observed {
        Observed {
            node: "pve2".into(),
            cluster_conf: Some(summary(name, &["pve1", "pve2"])),
            local_conf: Some(summary(name, &["pve1", "pve2"])),
            authkey: true,
            corosync_running: true,
            quorate: true,
            members: vec!["pve1".into(), "pve2".into()],
            guests: vec![],
        }
    }

    fn request(peer: Option<&str>, path: JoinPath, links: Vec<Link>) -> Request {
        Request {
            cluster_name: "lab".into(),
            peer: peer.map(str::to_string),
            path,
            links,
            nodeid: None,
            votes: None,
            check_ssh_login: true,
        }
    }

    fn facts_ok() -> Facts {
        Facts {
            local_addresses: vec!["10.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            node_addresses: Ok(vec!["10.0.0.2".parse().unwrap()]),
            peer_reachable: Some(Ok(())),
            peer_login: None,
        }
    }

    fn api() -> JoinPath {
        JoinPath::Api {
            fingerprint: ["AB"; 32].join(":"),
        }
    }

    fn link(number: u8, address: &str, priority: Option<u8>) -> Link {
        Link {
            number,
            address: address.into(),
            priority,
        }
    }

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
    fn conf_summary_reads_name_version_and_nodes() {
        let s = parse_conf_summary(CONF);
        assert_eq!(s.cluster_name.as_deref(), Some("lab"));
        assert_eq!(s.config_version, Some(3));
        assert_eq!(s.nodes, vec!["pve1", "10.0.0.2"]);
        assert_eq!(parse_conf_summary(""), ConfSummary::default());
    }

    #[test]
    fn membership_covers_every_state() {
        assert_eq!(membership(&standalone(), "lab"), Relation::Standalone);
        let mut only_key = standalone();
        only_key.authkey = true;
        assert_eq!(membership(&only_key, "lab"), Relation::Standalone);

        assert!(matches!(
            membership(&member("lab"), "lab"),
            Relation::Member { quorate: true, .. }
        ));
        assert!(is_done(&member("lab"), "lab"));

        let mut not_quorate = member("lab");
        not_quorate.quorate = false;
        assert!(matches!(
            membership(&not_quorate, "lab"),
            Relation::Member { quorate: false, .. }
        ));
        assert!(!is_done(&not_quorate, "lab"));

        match membership(&member("prod"), "lab") {
            Relation::OtherCluster {
                cluster_name,
                config_version,
                nodes,
            } => {
                assert_eq!(cluster_name, "prod");
                assert_eq!(config_version, Some(2));
                assert_eq!(nodes, vec!["pve1", "pve2"]);
            }
            other => panic!("{other:?}"),
        }

        let mut down = member("lab");
        down.corosync_running = false;
        match membership(&down, "lab") {
            Relation::Incomplete { found, steps } => {
                assert!(found.contains("corosync is not running"), "{found}");
                assert!(steps[0].contains("systemctl start corosync"));
            }
            other => panic!("{other:?}"),
        }

        let mut down_other = member("prod");
        down_other.corosync_running = false;
        assert!(matches!(
            membership(&down_other, "lab"),
            Relation::OtherCluster { .. }
        ));

        let mut not_listed = member("lab");
        not_listed.cluster_conf = Some(summary("lab", &["pve1"]));
        match membership(&not_listed, "lab") {
            Relation::Incomplete { found, .. } => {
                assert!(found.contains("does not list this node 'pve2'"), "{found}")
            }
            other => panic!("{other:?}"),
        }

        let mut local_only = standalone();
        local_only.local_conf = Some(summary("lab", &["pve1", "pve2"]));
        local_only.authkey = true;
        match membership(&local_only, "lab") {
            Relation::Incomplete { found, .. } => {
                assert!(
                    found.contains("/etc/pve/corosync.conf is missing"),
                    "{found}"
                )
            }
            other => panic!("{other:?}"),
        }

        let mut nameless = standalone();
        nameless.cluster_conf = Some(ConfSummary::default());
        assert!(matches!(
            membership(&nameless, "lab"),
            Relation::Incomplete { .. }
        ));
    }

    #[test]
    fn other_cluster_message_names_cluster_version_members_and_target() {
        let msg = other_cluster_message("pve2", "lab", "prod", Some(7), &["a".into(), "b".into()]);
        for part in [
            "'pve2'",
            "cluster 'prod'",
            "config version 7",
            "members: a, b",
            "refusing to create or join cluster 'lab'",
            "Nothing was changed",
        ] {
            assert!(msg.contains(part), "{part} in {msg}");
        }
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

    #[test]
    fn preflight_passes_a_clean_node() {
        for req in [
            request(None, JoinPath::Ssh, vec![]),
            request(
                Some("10.0.0.1"),
                JoinPath::Ssh,
                vec![link(0, "10.0.0.2", None)],
            ),
            request(Some("10.0.0.1"), api(), vec![]),
        ] {
            assert_eq!(preflight(&req, &standalone(), &facts_ok()), vec![]);
        }
    }

    #[test]
    fn preflight_finds_what_pve_would_reject() {
        let join = request(
            Some("10.0.0.1"),
            api(),
            vec![
                link(0, "10.0.0.2", None),
                link(1, "10.9.9.9", None),
                link(2, "pve2-ring", None),
            ],
        );
        let mut obs = standalone();
        obs.guests = vec!["qemu-server/100.conf".into()];
        obs.authkey = true;
        obs.local_conf = Some(summary("lab", &[]));
        obs.corosync_running = true;
        let facts = Facts {
            node_addresses: Ok(vec!["127.0.1.1".parse().unwrap()]),
            peer_reachable: Some(Err("connection refused".into())),
            peer_login: None,
            ..facts_ok()
        };
        let problems = preflight(&join, &obs, &facts);
        assert_eq!(
            problems,
            vec![
                Problem::Guests(vec!["qemu-server/100.conf".into()]),
                Problem::Authkey,
                Problem::LocalConf,
                Problem::CorosyncRunning,
                Problem::LinkNotLocal {
                    number: 1,
                    address: "10.9.9.9".into()
                },
                Problem::NameLoopback {
                    node: "pve2".into(),
                    addresses: vec!["127.0.1.1".parse().unwrap()]
                },
                Problem::PeerUnreachable {
                    peer: "10.0.0.1".into(),
                    port: 8006,
                    error: "connection refused".into()
                },
            ]
        );
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("guests (qemu-server/100.conf)"));
        assert!(text[5].contains("resolves only to loopback (127.0.1.1)"));
        assert!(text[6].contains("TCP port 8006"));

        // Creating allows guests and an existing authkey, as PVE does.
        let create = request(None, JoinPath::Ssh, vec![]);
        let mut obs = standalone();
        obs.guests = vec!["lxc/101.conf".into()];
        obs.authkey = true;
        assert_eq!(preflight(&create, &obs, &facts_ok()), vec![]);

        let ssh = request(Some("10.0.0.1"), JoinPath::Ssh, vec![]);
        let facts = Facts {
            node_addresses: Err("no such name".into()),
            peer_reachable: Some(Err("timed out".into())),
            peer_login: None,
            ..facts_ok()
        };
        let problems = preflight(&ssh, &standalone(), &facts);
        assert!(matches!(problems[0], Problem::NameUnresolved { .. }));
        assert!(problems[1].to_string().contains("port 22, which SSH"));
    }

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

    fn reason(stdout: &str, stderr: &str) -> String {
        let d = diagnose(stdout, stderr).expect("diagnosed");
        format!("{} | {}", d.reason, d.hint)
    }

    #[test]
    fn failures_are_diagnosed_with_a_hint() {
        let fp = ["AB"; 32].join(":");
        let cases: Vec<(String, String, &str)> = vec![
            (
                "detected the following error(s):\n* this host already contains virtual guests\n".into(),
                "Check if node may join a cluster failed!\n".into(),
                "may not join: this host already contains virtual guests | back up (vzdump)",
            ),
            (
                "detected the following error(s):\n* authentication key '/etc/corosync/authkey' already exists\n* corosync is already running, is this node already in a cluster?!\n".into(),
                "Check if node may join a cluster failed!\n".into(),
                "already exists; corosync is already running",
            ),
            (
                "detected the following error(s):\n* local node address: cannot use IP '10.0.0.9', not found on local node!\n\n".into(),
                String::new(),
                "configured on this node",
            ),
            (
                String::new(),
                "400 Parameter verification failed.\nclustername: invalid format - value does not look like a valid node name\npvecm create <clustername> [OPTIONS]\n".into(),
                "rejected the parameters: 400 Parameter verification failed.; clustername: invalid format",
            ),
            (String::new(), "400 too many arguments\npvecm add <hostname> [OPTIONS]\n".into(), "400 too many arguments | check"),
            ("Please enter superuser (root) password for '10.0.0.1':\n".into(), "EOF while reading password\n".into(), "got none"),
            ("Establishing API connection with host '10.0.0.1'\n".into(), "401 authentication failure\n".into(), "refused the root password"),
            (
                "Establishing API connection with host '10.0.0.1'\n".into(),
                format!("fingerprint '{fp}' not verified, abort!\n"),
                "does not match the given fingerprint",
            ),
            (
                "The authenticity of host '10.0.0.1' can't be established.\n".into(),
                "Fingerprint not verified, abort!\n".into(),
                "not trusted",
            ),
            (
                String::new(),
                "500 Can't connect to 10.0.0.1:8006 (Connection refused)\n".into(),
                "API cannot be reached (500 Can't connect to 10.0.0.1:8006",
            ),
            (
                String::new(),
                "unable to add node: command failed (ssh 10.0.0.1 -o BatchMode=yes pvecm addnode pve2 --force 1)\n".into(),
                "could not add this node over SSH",
            ),
            (String::new(), "root@10.0.0.1: Permission denied (publickey).\n".into(), "SSH to the peer was refused"),
            (String::new(), "Host key verification failed.\n".into(), "host key"),
            (
                "An error occurred on the cluster node: can't add existing node 'pve2'\nCluster join aborted!\n".into(),
                String::new(),
                "already has a node of this name",
            ),
            (
                "An error occurred on the cluster node: no links given but multiple links found on other nodes, fallback only supported on single-link clusters\n".into(),
                String::new(),
                "several corosync links",
            ),
            (
                "An error occurred on the cluster node: corosync: link 1 exists in cluster config but wasn't specified for new node\n".into(),
                String::new(),
                "links do not match",
            ),
            (
                "An error occurred on the cluster node: cluster not ready - no quorum?\n".into(),
                String::new(),
                "no quorum",
            ),
            (
                String::new(),
                "cluster config '/etc/pve/corosync.conf' already exists\n".into(),
                "already exists",
            ),
            (
                String::new(),
                "ipcc_send_rec[1] failed: Connection refused\n".into(),
                "pmxcfs) is not running",
            ),
            (
                String::new(),
                "Unknown option: ring0_addr\n400 unable to parse option\n".into(),
                "does not know an option (Unknown option: ring0_addr)",
            ),
            (
                "An error occurred on the cluster node: something new\n".into(),
                String::new(),
                "refused the join (An error occurred on the cluster node: something new)",
            ),
            (String::new(), "unable to copy ssh ID: exit code 1\n".into(), "SSH to the peer failed"),
            (
                String::new(),
                "Navigate out of /etc/pve before running 'pvecm add', for example by running 'cd'.\n".into(),
                "Navigate out",
            ),
        ];
        for (stdout, stderr, want) in cases {
            let got = reason(&stdout, &stderr);
            assert!(got.contains(want), "want {want:?} in {got:?}");
        }
        assert_eq!(
            diagnose("successfully added node 'pve2' to cluster.\n", ""),
            None
        );
        assert!(reported_join_success(
            "successfully added node 'pve2' to cluster.\n"
        ));
    }
}
