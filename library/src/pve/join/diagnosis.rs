//! What the output of a failed `pvecm create`/`add` means, and what to do.

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
    join_check(&text)
        .or_else(|| api_join(&text))
        .or_else(|| cluster_side(&text))
        .or_else(|| ssh_join(&text))
        .or_else(|| command_use(&text))
        .or_else(|| local_and_generic(&text))
}

/// The list `pvecm add` prints when its own checks on this node fail.
fn join_check(text: &str) -> Option<Diagnosis> {
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
    None
}

/// The API join: password, certificate fingerprint, the peer's API.
fn api_join(text: &str) -> Option<Diagnosis> {
    let has = |needle: &str| text.contains(needle);
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
    if let Some(line) = line_with(text, "not verified, abort!") {
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
    if let Some(line) = line_with(text, "500 Can't connect to") {
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
    if let Some(line) = line_with(text, "incompatible join API version") {
        return diag(
            format!("the peer speaks another join API version ({line})"),
            "update all cluster nodes to the same Proxmox VE version",
        );
    }
    None
}

/// What the cluster refused: the node's name, its links, no quorum.
fn cluster_side(text: &str) -> Option<Diagnosis> {
    let has = |needle: &str| text.contains(needle);
    if let Some(line) = line_with(text, "can't add existing node") {
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
        text,
        "exists in cluster config but wasn't specified for new node",
    )
    .or_else(|| {
        line_with(
            text,
            "specified for new node doesn't exist in cluster config",
        )
    }) {
        return diag(
            format!("the links do not match the cluster's ({line})"),
            "give exactly the link numbers the cluster uses (see the interface sections of \
             /etc/pve/corosync.conf on a member)",
        );
    }
    if let Some(line) = line_with(text, "already used on link") {
        return diag(
            format!("a link address is already used by another node ({line})"),
            "give this node's own addresses in links",
        );
    }
    if let Some(line) = line_with(text, "cfs-lock 'file-corosync_conf' error") {
        // PVE::Cluster::cfs_lock on the peer: addnode changed nothing yet.
        return diag(
            format!("the peer could not take the cluster's configuration lock ({line})"),
            "the peer's cluster file system was not ready (just created or restarted, or \
             without quorum), or another change held the lock; nothing was changed on the peer: \
             check 'pvecm status' there, then run this task again",
        );
    }
    if has("cluster not ready - no quorum?") {
        return diag(
            "the cluster has no quorum, so it cannot accept a new node (cluster not ready - no quorum?)",
            "bring enough members online for quorum (pvecm status on a member), then run again",
        );
    }
    None
}

/// The SSH join: the peer's host key, root's login, the copy of the key.
fn ssh_join(text: &str) -> Option<Diagnosis> {
    let has = |needle: &str| text.contains(needle);
    if let Some(line) = line_with(text, "unable to add node: command failed") {
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
                line_with(text, "Permission denied").unwrap_or("Permission denied")
            ),
            "authorize this node's root key on the peer (/root/.ssh/authorized_keys) or join \
             through the API with password and fingerprint",
        );
    }
    if let Some(line) =
        line_with(text, "unable to copy ssh ID").or_else(|| line_with(text, "can't rsync data"))
    {
        return diag(
            format!("SSH to the peer failed ({line})"),
            "set up root SSH trust from this node to the peer, or use the API join",
        );
    }
    None
}

/// How `pvecm` was called: the directory, its options, a config already there.
fn command_use(text: &str) -> Option<Diagnosis> {
    if let Some(line) = line_with(text, "Navigate out of /etc/pve") {
        return diag(line.to_string(), "run from another directory");
    }
    if let Some(line) = line_with(text, "Unknown option:") {
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
        text,
        "cluster config '/etc/pve/corosync.conf' already exists",
    ) {
        return diag(
            line.to_string(),
            "the node is already configured for a cluster: run the task again to see which",
        );
    }
    None
}

/// This node's cluster file system and name, then the generic failure lines.
fn local_and_generic(text: &str) -> Option<Diagnosis> {
    let has = |needle: &str| text.contains(needle);
    if has("ipcc_send_rec") || has("Unable to load access control list") || has("not mounted") {
        return diag(
            "the cluster file system (pve-cluster/pmxcfs) is not running on this node",
            "start it ('systemctl start pve-cluster') and read 'journalctl -u pve-cluster': a node \
             name resolving to loopback keeps it from starting",
        );
    }
    if let Some(line) =
        line_with(text, "address lookup for").or_else(|| line_with(text, "hostname lookup"))
    {
        return diag(
            format!("the node name does not resolve to a usable address ({line})"),
            "put '<address> <fqdn> <node name>' in /etc/hosts",
        );
    }
    if let Some(line) = line_with(text, "An error occurred on the cluster node:") {
        return diag(
            format!("the peer refused the join ({line})"),
            "read the details below the message in stdout",
        );
    }
    if let Some(line) = line_with(text, "Check if node may join a cluster failed") {
        return diag(line.to_string(), "read stdout for the list of problems");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "An error occurred on the cluster node: cfs-lock 'file-corosync_conf' error: pve cluster filesystem not online.\n".into(),
                "Cluster join aborted!\n".into(),
                "could not take the cluster's configuration lock",
            ),
            (
                "An error occurred on the cluster node: cfs-lock 'file-corosync_conf' error: got lock request timeout\n".into(),
                String::new(),
                "another change held the lock",
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
