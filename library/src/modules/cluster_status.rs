//! `pve_cluster_status`: is this node clustered, in which cluster, who is
//! there, is it quorate. Read-only.

use std::path::Path;

use crate::ansible::{Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::node;
use crate::pve::corosync_conf::CLUSTER_CONF;
use crate::pve::probe;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The module.
pub struct ClusterStatus;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    cluster_name: Option<String>,
    node_info: bool,
}

impl Module for ClusterStatus {
    type Params = Params;
    const NAME: &'static str = "pve_cluster_status";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("cluster_name", Type::Str),
            Opt::new("node_info", Type::Bool).default(false),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        // The node's own identity comes first: it is wanted also when the
        // cluster state cannot be read (pmxcfs waiting for /etc/hosts).
        let node = if params.node_info {
            Some(node::read(ctx.runner).map_err(|e| Failure::new(e.to_string()))?)
        } else {
            None
        };
        let probe = match probe::read(ctx.runner, Path::new(CLUSTER_CONF)) {
            Ok(probe) => probe,
            Err(err) => {
                let failure: Failure = err.into();
                return Err(match node {
                    Some(node) => failure.with("node", node),
                    None => failure,
                });
            }
        };
        for warning in &probe.warnings {
            ctx.warn(warning.clone());
        }
        let status = &probe.status;
        let Value::Object(mut data) = serde_json::to_value(status).unwrap_or_default() else {
            return Err(Failure::new(
                "internal error: the cluster status is not an object",
            ));
        };
        if let Some(target) = &params.cluster_name {
            let in_target =
                status.in_cluster && status.cluster_name.as_deref() == Some(target.as_str());
            data.insert("in_target_cluster".into(), Value::Bool(in_target));
            data.insert(
                "in_other_cluster".into(),
                Value::Bool(status.in_cluster && !in_target),
            );
        }
        if let Some(node) = node {
            data.insert(
                "node".into(),
                serde_json::to_value(node).unwrap_or_default(),
            );
        }
        let mut facts = Map::new();
        facts.insert("pve_cluster".into(), Value::Object(data.clone()));
        data.insert("ansible_facts".into(), Value::Object(facts));
        Ok(Outcome {
            changed: false,
            msg: Some(probe::summary(status)),
            diff: None,
            data,
        })
    }
}
