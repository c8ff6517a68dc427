//! `pve_cluster_plan`: the plan for one cluster from every node's state,
//! before anything is changed. Read-only and pure: it reads only its
//! options (the `pve_cluster_status` result of every node and the
//! inventory's view of the group) and runs on any one node.

use serde::Deserialize;
use serde_json::Value;

use crate::ansible::{Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::pve::plan::{self, Input, JoinSettings, NameSource, Play, Report};

/// The module.
pub struct ClusterPlan;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    cluster_name: String,
    group: String,
    hosts: Vec<String>,
    reports: Vec<Value>,
    play_hosts: Vec<String>,
    play_hosts_all: Vec<String>,
    play_batch: Vec<String>,
    nodes: Vec<Value>,
    node_name_source: String,
    domain: String,
    manage_hosts: bool,
    manage_ssh: bool,
    ssh_key_type: String,
    join_use_ssh: bool,
    join_password_given: bool,
    join_fingerprint: String,
    replace_reinstalled: bool,
    qdevice: bool,
    planned_on: String,
}

impl Module for ClusterPlan {
    type Params = Params;
    const NAME: &'static str = "pve_cluster_plan";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        let strings = |name| Opt::new(name, Type::List).elements(Type::Str).required();
        Spec::new(vec![
            Opt::new("cluster_name", Type::Str).required(),
            Opt::new("group", Type::Str).default("proxmox"),
            strings("hosts"),
            Opt::new("reports", Type::List)
                .elements(Type::Raw)
                .required(),
            strings("play_hosts"),
            strings("play_hosts_all"),
            strings("play_batch"),
            Opt::new("nodes", Type::List)
                .elements(Type::Raw)
                .default(Value::Array(Vec::new())),
            Opt::new("node_name_source", Type::Str)
                .choices(&["inventory_hostname", "ansible_hostname"])
                .default("inventory_hostname"),
            Opt::new("domain", Type::Str).default(""),
            Opt::new("manage_hosts", Type::Bool).default(true),
            Opt::new("manage_ssh", Type::Bool).default(true),
            Opt::new("ssh_key_type", Type::Str)
                .choices(&["ed25519", "ecdsa", "rsa"])
                .default("ed25519"),
            Opt::new("join_use_ssh", Type::Bool).default(true),
            Opt::new("join_password_given", Type::Bool).default(false),
            Opt::new("join_fingerprint", Type::Str).default(""),
            Opt::new("replace_reinstalled", Type::Bool).default(false),
            Opt::new("qdevice", Type::Bool).default(false),
            Opt::new("planned_on", Type::Str).default(""),
        ])
    }

    fn run(p: Params, _ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let mut sent: Vec<Report> = Vec::new();
        for raw in p.reports {
            if raw.is_null() {
                continue;
            }
            let report = serde_json::from_value::<Report>(raw)
                .map_err(|e| Failure::new(format!("a report cannot be read: {e}")))?;
            sent.push(report);
        }
        // A host that sent no report is unreachable or not in this run.
        let reports = p
            .hosts
            .iter()
            .map(|h| sent.iter().find(|r| &r.host == h).cloned())
            .collect();
        let input = Input {
            cluster_name: p.cluster_name,
            group: p.group,
            hosts: p.hosts,
            reports,
            play: Play {
                hosts: p.play_hosts,
                hosts_all: p.play_hosts_all,
                batch: p.play_batch,
            },
            nodes: p.nodes,
            name_source: if p.node_name_source == "ansible_hostname" {
                NameSource::Hostname
            } else {
                NameSource::InventoryHostname
            },
            domain: p.domain,
            manage_hosts: p.manage_hosts,
            manage_ssh: p.manage_ssh,
            ssh_key_type: p.ssh_key_type,
            join: JoinSettings {
                use_ssh: p.join_use_ssh,
                password_given: p.join_password_given,
                fingerprint: p.join_fingerprint,
            },
            replace_reinstalled: p.replace_reinstalled,
            qdevice: p.qdevice,
            planned_on: p.planned_on,
        };
        let plan = plan::plan(&input);
        let data = match serde_json::to_value(&plan) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Failure::new("internal error: the plan is not an object")),
        };
        Ok(Outcome {
            changed: false,
            msg: Some(plan.msg),
            diff: None,
            data,
        })
    }
}
