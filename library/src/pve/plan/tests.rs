//! The planner on whole groups: each operator mistake on one node of many
//! stops the run for every node, with a message naming it.

use serde_json::{json, Value};

use super::*;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake";

/// The `pve_cluster_status` result (with `node_info`) of node K at
/// 10.0.0.K, in no cluster.
fn standalone(k: u32) -> Value {
    json!({
        "changed": false, "failed": false, "reason": "not_in_cluster", "in_cluster": false,
        "corosync_running": false, "quorate": false, "nodes": [], "local_config": null,
        "authkey": false, "guests": [],
        "node": {
            "hostname": format!("pve{k}"), "fqdn": format!("pve{k}.lab.test"),
            "ipv4_addresses": [format!("10.0.0.{k}"), format!("10.1.0.{k}")], "ipv6_addresses": [],
            "default_ipv4": format!("10.0.0.{k}"),
            "ssh_host_keys": {"ed25519": format!("ssh-ed25519 HOSTKEY{k}")},
            "ssh_host_key": format!("ssh-ed25519 HOSTKEY{k}"),
            "root_ssh_keys": {"ed25519": format!("{KEY}{k} root@pve{k}")}
        }
    })
}

/// Node K as a member of `cluster` whose nodes are `members` (all online).
fn member(k: u32, cluster: &str, members: &[&str]) -> Value {
    let mut s = standalone(k);
    s["reason"] = json!("in_cluster");
    s["in_cluster"] = json!(true);
    s["cluster_name"] = json!(cluster);
    s["corosync_running"] = json!(true);
    s["quorate"] = json!(true);
    s["join_complete"] = json!(true);
    s["nodes"] = members
        .iter()
        .map(|m| json!({"name": m, "online": true}))
        .collect();
    s["local_config"] = json!({"cluster_name": cluster, "config_version": 2, "nodes": members});
    s["authkey"] = json!(true);
    s
}

/// Node K while its pmxcfs waits for /etc/hosts (the 127.0.1.1 line).
fn waiting_for_hosts(k: u32) -> Value {
    let mut s = standalone(k);
    // As the role registers it: failed_when false, and no cluster fields.
    s["failed"] = json!(false);
    s.as_object_mut().unwrap().remove("in_cluster");
    s["reason"] = json!("name_not_resolvable");
    s["msg"] = json!("the Proxmox cluster file system is not running");
    s
}

fn input(statuses: Vec<Value>) -> Input {
    let hosts: Vec<String> = (1..=statuses.len()).map(|k| format!("pve{k}")).collect();
    let reports = hosts
        .iter()
        .zip(statuses)
        .map(|(h, status)| {
            Some(
                serde_json::from_value(json!({
                    "host": h, "ansible_host": format!("10.0.0.{}", &h[3..]),
                    "cluster_name": "lab", "group": "proxmox", "status": status
                }))
                .expect("report"),
            )
        })
        .collect();
    Input {
        cluster_name: "lab".into(),
        group: "proxmox".into(),
        play: Play {
            hosts: hosts.clone(),
            hosts_all: hosts.clone(),
            batch: hosts.clone(),
        },
        hosts,
        reports,
        manage_hosts: true,
        manage_ssh: true,
        ssh_key_type: "ed25519".into(),
        join: JoinSettings {
            use_ssh: true,
            ..JoinSettings::default()
        },
        planned_on: "pve1".into(),
        ..Input::default()
    }
}

fn stops_for(plan: &Plan, needle: &str) {
    assert!(plan.stop, "{plan:#?}");
    assert!(plan.msg.contains(needle), "{needle} in {}", plan.msg);
    assert!(
        plan.msg.starts_with("nothing was changed on any node"),
        "{}",
        plan.msg
    );
}

#[test]
fn fresh_nodes_create_on_the_first_and_join_the_others_in_order() {
    let plan = plan(&input(vec![standalone(1), standalone(2), standalone(3)]));
    assert!(!plan.stop, "{plan:#?}");
    assert_eq!(plan.first_node.as_deref(), Some("pve1"));
    assert!(plan.create);
    assert_eq!(plan.joiners, ["pve2", "pve3"]);
    assert_eq!(
        plan.msg,
        "create cluster 'lab' on pve1; join pve2, pve3 through pve1, one at a time"
    );
    let n2 = &plan.by_host["pve2"];
    assert_eq!((n2.name.as_str(), n2.ip.as_str()), ("pve2", "10.0.0.2"));
    // Without a domain, the fqdn is the node's own (the installer's line).
    assert_eq!(n2.fqdn.as_deref(), Some("pve2.lab.test"));
    assert_eq!(n2.links[0].address, "10.0.0.2");
    assert_eq!(plan.hosts_entries.len(), 3);
    assert_eq!(plan.join_args["pve1"].peer, None);
    assert_eq!(plan.join_args["pve1"].use_ssh, None);
    assert_eq!(plan.join_args["pve3"].peer.as_deref(), Some("10.0.0.1"));
    assert_eq!(plan.join_args["pve3"].use_ssh, Some(true));
    assert!(!plan.join_args["pve3"].api);
    assert_eq!(
        plan.known_hosts[2].names,
        ["pve3", "pve3.lab.test", "10.0.0.3"]
    );
    assert!(!plan.healthy_at_start);
    assert!(plan.messages.is_empty());
}

#[test]
fn one_node_in_another_cluster_stops_every_node() {
    let plan = plan(&input(vec![
        standalone(1),
        standalone(2),
        member(3, "prod", &["pve3", "x"]),
    ]));
    stops_for(
        &plan,
        "pve3 was refused (pve3 is a member of cluster 'prod', not 'lab'",
    );
    assert_eq!(plan.refused.keys().collect::<Vec<_>>(), ["pve3"]);
    // Each host of the run gets its message: the refused one what to do,
    // the others what stopped them.
    assert!(plan.messages["pve3"].starts_with(
        "pve3 cannot be part of cluster 'lab': 1) pve3 is a member of cluster 'prod'"
    ));
    assert!(plan.messages["pve3"].contains("take it out of the group 'proxmox'"));
    assert!(plan.messages["pve1"]
        .starts_with("pve1: stopped before any change, because pve3 stopped the run"));
    assert_eq!(plan.messages.len(), 3);
}

#[test]
fn a_refused_first_host_stops_the_others_before_they_trust_it() {
    let mut i = input(vec![standalone(1), standalone(2), standalone(3)]);
    // An inventory name that is not the node's hostname, on the first host.
    i.hosts[0] = "first".into();
    i.play = Play {
        hosts: i.hosts.clone(),
        hosts_all: i.hosts.clone(),
        batch: i.hosts.clone(),
    };
    if let Some(r) = i.reports[0].as_mut() {
        r.host = "first".into();
    }
    let plan = plan(&i);
    stops_for(&plan, "first was refused (first: the node's hostname is 'pve1' and the role would call it 'first'");
}

#[test]
fn an_unreachable_host_or_one_left_out_of_the_run_stops_it() {
    let mut i = input(vec![standalone(1), standalone(2), standalone(3)]);
    // Ansible drops an unreachable host from the play's hosts and batch.
    i.reports[2] = None;
    i.play.hosts.retain(|h| h != "pve3");
    i.play.batch.retain(|h| h != "pve3");
    let plan = plan(&i);
    stops_for(
        &plan,
        "pve3 (unreachable, or failed before the checks ended) is missing",
    );
    assert!(plan.messages["pve1"].contains("every node of the group 'proxmox' is needed"));
    assert!(!plan.messages.contains_key("pve3") || plan.messages.len() == 3);

    let mut i = input(vec![standalone(1), standalone(2), standalone(3)]);
    i.play.hosts_all = vec!["pve1".into(), "pve2".into()];
    i.play.hosts = i.play.hosts_all.clone();
    i.play.batch = i.play.hosts_all.clone();
    i.reports[2] = None;
    stops_for(
        &plan_of(i),
        "pve3 (not in this run (--limit, or the play's hosts leave it out))",
    );

    let mut i = input(vec![standalone(1), standalone(2), standalone(3)]);
    i.play.batch = vec!["pve1".into()];
    stops_for(&plan_of(i), "pve2 (in another batch of the play (serial))");
}

fn plan_of(i: Input) -> Plan {
    plan(&i)
}

#[test]
fn pve_cluster_nodes_must_describe_every_host_once() {
    let mut i = input(vec![standalone(1), standalone(2), standalone(3)]);
    i.nodes = vec![
        json!({"name": "pve1", "ip": "10.0.0.1"}),
        json!({"short_name": "pve2", "ip": "10.0.0.2", "corosync_ip": "10.1.0.2", "nodeid": 7}),
    ];
    let plan = plan(&i);
    stops_for(
        &plan,
        "pve3 was refused (pve_cluster_nodes has no entry for pve3",
    );

    let mut i = input(vec![standalone(1), standalone(2), standalone(3)]);
    i.nodes = vec![
        json!({"name": "pve1", "ip": "10.0.0.1", "nodeid": 7}),
        json!({"name": "pve2", "ip": "10.0.0.2", "links": [{"address": "10.1.0.9"}], "nodeid": "7"}),
        json!({"name": "pve3", "ip": "10.0.0.3", "corosync_ip": "10.1.0.9"}),
        json!({"name": "pve3", "ip": "10.0.0.1"}),
        json!({"name": "pve9", "ip": "10.0.0.9"}),
    ];
    let plan = super::plan(&i);
    for part in [
        "address '10.0.0.1' in entries [0] and [3]",
        "address '10.1.0.9' in entries [1] and [2]",
        "name 'pve3' in entries [2] and [3]",
        "nodeid 7 in entries [0] and [1]",
        "pve_cluster_nodes[4] ('pve9') matches no host of the group 'proxmox'",
    ] {
        assert!(plan.msg.contains(part), "{part} in {}", plan.msg);
    }
    assert!(plan.stop);
}

#[test]
fn an_empty_group_and_a_bad_name_are_refused() {
    let mut i = input(vec![]);
    i.cluster_name = "my.cluster".into();
    let plan = plan(&i);
    stops_for(
        &plan,
        "the inventory group 'proxmox' (pve_cluster_group) has no hosts",
    );
    assert!(
        plan.msg.contains("invalid cluster name 'my.cluster'"),
        "{}",
        plan.msg
    );
}

#[test]
fn api_joins_need_their_settings_before_any_change() {
    let mut i = input(vec![standalone(1), standalone(2)]);
    i.join.use_ssh = false;
    let plan = plan(&i);
    stops_for(&plan, "which needs pve_cluster_join_password");
    i.join.password_given = true;
    // No fingerprint given: the role reads the first node's.
    let plan = super::plan(&i);
    assert!(!plan.stop, "{}", plan.msg);
    assert!(plan.join_args["pve2"].api);
    i.join.fingerprint = "AB:CD".into();
    let plan = super::plan(&i);
    stops_for(&plan, "pve_cluster_join_fingerprint: ");
    i.join.fingerprint = ["AB"; 32].join(":");
    assert!(!super::plan(&i).stop);
}

#[test]
fn a_given_fingerprint_must_be_the_first_nodes() {
    let served = ["AB"; 32].join(":");
    let mut first = standalone(1);
    first["node"]["api_certificate"] = json!("/etc/pve/local/pve-ssl.pem");
    first["node"]["api_fingerprint"] = json!(served);
    let mut i = input(vec![first, standalone(2)]);
    i.join.use_ssh = false;
    i.join.password_given = true;
    i.join.fingerprint = served.to_lowercase();
    assert!(!plan(&i).stop);
    i.join.fingerprint = ["CD"; 32].join(":");
    let plan = plan(&i);
    stops_for(
        &plan,
        &format!(
            "pve_cluster_join_fingerprint is {}, but the API certificate of the first node pve1 \
             (/etc/pve/local/pve-ssl.pem, the one pveproxy serves) has the fingerprint {served}",
            i.join.fingerprint
        ),
    );
    // Over SSH the fingerprint is not used.
    i.join.use_ssh = true;
    assert!(!super::plan(&i).stop);
}

#[test]
fn members_are_left_alone_and_the_others_join_through_a_quorate_member() {
    let mut not_quorate = member(1, "lab", &["pve1", "pve2"]);
    not_quorate["quorate"] = json!(false);
    let plan = plan(&input(vec![
        not_quorate,
        member(2, "lab", &["pve1", "pve2"]),
        standalone(3),
    ]));
    assert!(!plan.stop, "{plan:#?}");
    assert_eq!(plan.first_node.as_deref(), Some("pve2"));
    assert!(!plan.create);
    assert_eq!(plan.members, ["pve1", "pve2"]);
    assert_eq!(plan.joiners, ["pve3"]);
}

#[test]
fn a_member_whose_join_did_not_finish_joins_again() {
    let mut unfinished = member(3, "lab", &["pve1", "pve2", "pve3"]);
    unfinished["join_complete"] = json!(false);
    let all = &["pve1", "pve2", "pve3"];
    let plan = plan(&input(vec![
        member(1, "lab", all),
        member(2, "lab", all),
        unfinished,
    ]));
    assert!(!plan.stop);
    assert_eq!(plan.joiners, ["pve3"]);
    assert!(
        !plan.healthy_at_start,
        "an unfinished join is no healthy member"
    );
}

#[test]
fn two_clusters_of_one_name_are_not_merged() {
    let plan = plan(&input(vec![
        member(1, "lab", &["pve1", "pve2"]),
        member(2, "lab", &["pve1", "pve2"]),
        member(3, "lab", &["pve3"]),
    ]));
    stops_for(
        &plan,
        "pve3 report being in cluster 'lab' but pve1's cluster 'lab' does not list them",
    );
}

#[test]
fn a_node_waiting_for_etc_hosts_is_judged_by_its_own_corosync_config() {
    let plan = plan(&input(vec![standalone(1), waiting_for_hosts(2)]));
    assert!(!plan.stop, "{plan:#?}");
    assert_eq!(plan.deferred, ["pve2"]);
    assert_eq!(plan.joiners, ["pve2"]);

    let mut other = waiting_for_hosts(2);
    other["local_config"] =
        json!({"cluster_name": "prod", "config_version": 4, "nodes": ["pve2", "x"]});
    let plan = super::plan(&input(vec![standalone(1), other]));
    stops_for(
        &plan,
        "pve2 is a member of cluster 'prod', not 'lab' (read from its /etc/corosync/corosync.conf)",
    );

    // Without /etc/hosts management, nothing can fix it.
    let mut i = input(vec![standalone(1), waiting_for_hosts(2)]);
    i.manage_hosts = false;
    stops_for(&super::plan(&i), "pve_cluster_manage_hosts is false");
}

#[test]
fn healthy_at_start_needs_every_node_of_the_table_online() {
    let all = &["pve1", "pve2", "pve3"];
    let plan = plan(&input(vec![
        member(1, "lab", all),
        member(2, "lab", all),
        member(3, "lab", all),
    ]));
    assert!(plan.healthy_at_start);
    assert_eq!(
        plan.msg,
        "every node is a member of cluster 'lab' (pve1, pve2, pve3)"
    );
    let mut offline = member(1, "lab", all);
    offline["nodes"][2]["online"] = json!(false);
    let plan = super::plan(&input(vec![
        offline,
        member(2, "lab", all),
        member(3, "lab", all),
    ]));
    assert!(!plan.healthy_at_start);
}

#[test]
fn names_and_addresses_are_checked_on_the_node_itself() {
    let mut i = input(vec![standalone(1), standalone(2)]);
    i.nodes = vec![
        json!({"name": "pve1", "ip": "10.0.0.1", "links": [{"address": "10.2.0.1"}]}),
        json!({"name": "pve2", "ip": "10.0.0.22"}),
    ];
    let plan = plan(&i);
    stops_for(&plan, "pve1 was refused (pve1 has the addresses 10.0.0.1, 10.1.0.1; its address '10.0.0.1' and the addresses of its corosync links must be among them (not configured: 10.2.0.1)");
    assert!(
        plan.msg.contains(
            "pve2 was refused (pve2 has the addresses 10.0.0.2, 10.1.0.2; its address '10.0.0.22'"
        ),
        "{}",
        plan.msg
    );
}

#[test]
fn joiners_with_guests_or_leftovers_are_refused_but_the_creator_may_have_guests() {
    let mut guests = standalone(1);
    guests["guests"] = json!(["qemu-server/100.conf"]);
    let mut leftovers = standalone(2);
    leftovers["authkey"] = json!(true);
    let mut guest_joiner = standalone(3);
    guest_joiner["guests"] = json!(["lxc/101.conf"]);
    let plan = plan(&input(vec![guests, leftovers, guest_joiner]));
    assert!(!plan.refused.contains_key("pve1"), "{plan:#?}");
    assert!(plan.refused["pve2"][0].contains("leftovers of one (/etc/corosync/authkey)"));
    assert!(plan.refused["pve3"][0].contains("/etc/pve already holds guests (lxc/101.conf)"));
}

#[test]
fn hosts_that_disagree_on_the_cluster_or_are_outside_the_group_stop_the_run() {
    let mut i = input(vec![standalone(1), standalone(2)]);
    if let Some(r) = i.reports[1].as_mut() {
        r.cluster_name = Some("other".into());
    }
    i.play.batch.push("stray".into());
    let plan = plan(&i);
    stops_for(&plan, "pve2 has pve_cluster_name 'other'");
    assert!(plan.refused["stray"][0].contains("stray is not in the group 'proxmox'"));
    assert!(plan.messages.contains_key("stray"));
}

#[test]
fn a_node_that_cannot_be_read_is_refused_with_the_modules_message() {
    let mut broken = standalone(2);
    broken.as_object_mut().unwrap().remove("in_cluster");
    broken["reason"] = json!("pmxcfs_down");
    broken["msg"] =
        json!("the Proxmox cluster file system is not running ('ipcc_send_rec[1] failed')");
    let plan = plan(&input(vec![standalone(1), broken]));
    stops_for(
        &plan,
        "pve2: cannot read the cluster state: the Proxmox cluster file system is not running",
    );
}

/// pve3 was reinstalled: the cluster (pve1's view) lists it, offline, with
/// the RSA host key it had; the node itself is in no cluster and has a new
/// key.
fn reinstalled_third(new_key: &str) -> Input {
    let mut first = member(1, "lab", &["pve1", "pve2", "pve3"]);
    first["nodes"][2]["online"] = json!(false);
    first["member_host_keys"] =
        json!({"pve1": "ssh-rsa RSA1", "pve2": "ssh-rsa RSA2", "pve3": "ssh-rsa RSA3"});
    let mut second = member(2, "lab", &["pve1", "pve2", "pve3"]);
    second["nodes"][2]["online"] = json!(false);
    let mut third = standalone(3);
    third["node"]["ssh_host_keys"]["rsa"] = json!(format!("ssh-rsa {new_key} root@pve3"));
    input(vec![first, second, third])
}

#[test]
fn a_reinstalled_member_is_refused_unless_it_is_to_be_replaced() {
    let mut i = reinstalled_third("NEWKEY");
    let plan = plan(&i);
    stops_for(
        &plan,
        "pve3 is listed as a member of cluster 'lab' (offline), but is itself in no cluster",
    );
    assert!(plan.messages["pve3"].contains("Set pve_cluster_replace_reinstalled: true"));
    assert!(plan.messages["pve3"].contains("'pvecm delnode pve3' on pve1"));
    i.replace_reinstalled = true;
    let plan = super::plan(&i);
    assert!(!plan.stop, "{}", plan.msg);
    assert_eq!(plan.joiners, vec!["pve3"]);
    assert_eq!(plan.replaced, vec!["pve3"]);
}

#[test]
fn a_listed_node_with_its_recorded_key_joins_again_as_a_join_that_stopped() {
    // The cluster added it, then the join stopped before the node wrote its
    // own configuration: same host key, nothing to replace.
    let plan = plan(&reinstalled_third("RSA3"));
    assert!(!plan.stop, "{}", plan.msg);
    assert_eq!(plan.joiners, vec!["pve3"]);
    assert!(plan.replaced.is_empty());
}

#[test]
fn a_node_keeps_the_key_root_has() {
    // pve1: only the id_rsa of a Proxmox VE installation; pve2: ed25519
    // (the wanted type) beside it; pve3: no key yet.
    let mut one = standalone(1);
    one["node"]["root_ssh_keys"] = json!({"rsa": "ssh-rsa RSAKEY1 root@pve1"});
    let mut two = standalone(2);
    two["node"]["root_ssh_keys"]["rsa"] = json!("ssh-rsa RSAKEY2 root@pve2");
    let mut three = standalone(3);
    three["node"]["root_ssh_keys"] = json!({});
    let plan = plan(&input(vec![one, two, three]));
    let key = |h: &str| {
        (
            plan.by_host[h].root_key.clone(),
            plan.by_host[h].root_key_type.clone(),
        )
    };
    assert_eq!(
        key("pve1"),
        (Some("ssh-rsa RSAKEY1 root@pve1".into()), "rsa".into())
    );
    assert_eq!(
        key("pve2"),
        (Some(format!("{KEY}2 root@pve2")), "ed25519".into())
    );
    assert_eq!(key("pve3"), (None, "ed25519".into()));
}

/// Two members with a QDevice, and `extra` nodes in no cluster.
fn with_qdevice(extra: u32) -> Input {
    let mut statuses = Vec::new();
    for k in 1..=2 {
        let mut s = member(k, "lab", &["pve1", "pve2"]);
        s["qdevice"] = json!({"present": true, "votes": 1, "casting": true, "state": "A,V,NMW"});
        statuses.push(s);
    }
    statuses.extend((3..3 + extra).map(standalone));
    input(statuses)
}

#[test]
fn a_qdevice_is_removed_before_nodes_join_only_when_the_role_sets_it_up_again() {
    // pve-docs pvecm.adoc, "Adding/Deleting Nodes After QDevice Setup".
    let plan = plan(&with_qdevice(2));
    stops_for(
        &plan,
        "the cluster has a QDevice, and pve3, pve4 would join it",
    );
    assert!(plan.msg.contains("Set pve_cluster_qdevice"), "{}", plan.msg);
    assert!(!plan.remove_qdevice_first);

    let mut i = with_qdevice(2);
    i.qdevice = true;
    let plan = super::plan(&i);
    assert!(!plan.stop, "{plan:#?}");
    assert!(plan.remove_qdevice_first);
    assert_eq!(plan.joiners, ["pve3", "pve4"]);
    assert!(
        plan.msg.starts_with("remove the QDevice; join pve3, pve4"),
        "{}",
        plan.msg
    );

    // Without joins, the QDevice stays, whether the role sets one up or not.
    for qdevice in [false, true] {
        let mut i = with_qdevice(0);
        i.qdevice = qdevice;
        let plan = super::plan(&i);
        assert!(!plan.stop && !plan.remove_qdevice_first, "{plan:#?}");
    }
}

#[test]
fn a_qdevice_for_an_odd_group_stops_the_run_before_any_change() {
    // pvecm.pm, qdevice setup: "Clusters with an odd node count are not officially supported!"
    let mut i = with_qdevice(1);
    i.qdevice = true;
    let plan = plan(&i);
    stops_for(
        &plan,
        "pve_cluster_qdevice is set, but the group has 3 nodes",
    );
    assert!(!plan.remove_qdevice_first);
    let mut i = input((1..=3).map(standalone).collect());
    i.qdevice = true;
    stops_for(&super::plan(&i), "the group has 3 nodes");
    let mut i = input((1..=4).map(standalone).collect());
    i.qdevice = true;
    assert!(!super::plan(&i).stop);
}
