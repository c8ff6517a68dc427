//! `pve_cluster_plan` through its binary, as Ansible runs it: the reports
//! of three fresh nodes make a plan; one node in another cluster stops it.

use serde_json::{json, Value};
use testkit::{assert_documented, Bed};

const BIN: &str = env!("CARGO_BIN_EXE_pve_cluster_plan");

/// A registered `pve_cluster_status` result of node K, in no cluster.
fn status(k: u32) -> Value {
    json!({
        "changed": false, "failed": false, "reason": "not_in_cluster", "in_cluster": false,
        "corosync_running": false, "quorate": false, "nodes": [], "local_config": null,
        "authkey": false, "guests": [],
        "node": {
            "hostname": format!("pve{k}"), "fqdn": null,
            "ipv4_addresses": [format!("10.0.0.{k}")], "ipv6_addresses": [],
            "default_ipv4": format!("10.0.0.{k}"),
            "ssh_host_keys": {"ed25519": format!("ssh-ed25519 HOST{k}")},
            "ssh_host_key": format!("ssh-ed25519 HOST{k}"),
            "root_ssh_keys": {}
        }
    })
}

fn args(statuses: Vec<Value>) -> Value {
    let hosts: Vec<String> = (1..=statuses.len()).map(|k| format!("pve{k}")).collect();
    // Ansible sends the reports of the batch's running hosts, in any order.
    let mut reports: Vec<Value> = hosts
        .iter()
        .zip(statuses)
        .map(|(h, s)| json!({"host": h, "ansible_host": null, "cluster_name": "lab", "group": "proxmox", "status": s}))
        .collect();
    reports.reverse();
    json!({
        "cluster_name": "lab", "hosts": hosts, "reports": reports,
        "play_hosts": hosts, "play_hosts_all": hosts, "play_batch": hosts,
        "planned_on": "pve1", "domain": "lab.test"
    })
}

#[test]
fn three_fresh_nodes_make_a_plan_in_the_groups_order() {
    let bed = Bed::new();
    let run = bed.run(BIN, &args(vec![status(1), status(2), status(3)]));
    run.assert_ok();
    assert_documented("pve_cluster_plan", &run.json);
    assert_eq!(run.json["changed"], false);
    assert_eq!(run.json["stop"], false);
    assert_eq!(run.json["first_node"], "pve1");
    assert_eq!(run.json["joiners"], json!(["pve2", "pve3"]));
    assert_eq!(run.json["planned_on"], "pve1");
    assert_eq!(
        run.json["hosts_entries"][1],
        json!({"ip": "10.0.0.2", "name": "pve2", "fqdn": "pve2.lab.test"})
    );
    assert_eq!(run.json["join_args"]["pve3"]["peer"], "10.0.0.1");
}

#[test]
fn a_node_in_another_cluster_stops_the_plan_for_every_node() {
    let mut other = status(3);
    other["in_cluster"] = json!(true);
    other["cluster_name"] = json!("prod");
    other["corosync_running"] = json!(true);
    let bed = Bed::new();
    let run = bed.run(BIN, &args(vec![status(1), status(2), other]));
    // A stop is a plan, not a failure of the module: the role fails each host.
    run.assert_ok();
    assert_documented("pve_cluster_plan", &run.json);
    assert_eq!(run.json["stop"], true);
    let msg = run.json["messages"]["pve3"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("pve3 cannot be part of cluster 'lab'"),
        "{msg}"
    );
    assert!(run.json["messages"]["pve1"]
        .as_str()
        .is_some_and(|m| m.contains("because pve3 stopped the run")));
}

#[test]
fn a_report_that_is_not_one_fails_clearly() {
    let mut a = args(vec![status(1)]);
    a["reports"] = json!(["not a report"]);
    let bed = Bed::new();
    let run = bed.run(BIN, &a);
    run.assert_failed();
    assert!(
        run.msg().starts_with("a report cannot be read: "),
        "{}",
        run.msg()
    );
}
