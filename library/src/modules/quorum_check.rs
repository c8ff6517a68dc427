//! `pve_quorum_check`: waits until the cluster is quorate, is the expected
//! cluster and has the expected members online; otherwise fails with one
//! message a person can act on. Read-only.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::ansible::{Context, Failure, Module, Opt, Outcome, Spec, Type};
use crate::probe::{self, ProbeError};
use crate::pve::corosync_conf::CLUSTER_CONF;
use crate::pve::quorum::{assess, Expectation, Health};
use serde::Deserialize;
use serde_json::Value;

/// The module.
pub struct QuorumCheck;

/// The options, typed.
#[derive(Deserialize)]
pub struct Params {
    cluster_name: Option<String>,
    expected_nodes: Option<i64>,
    expected_members: Option<Vec<String>>,
    require_all_online: bool,
    /// Kept as validated: an int beyond 64 bits or a float Python prints as
    /// `inf`/`nan` must reach the range checks, not fail deserialisation.
    timeout: Value,
    interval: Value,
}

/// Whole seconds from a validated `type=int` value.
fn seconds(value: &Value) -> Result<i64, Failure> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            Failure::new(if n.to_string().starts_with('-') {
                format!("timeout must be 0 or more seconds, got {n}")
            } else {
                format!("timeout must be at most {} seconds, got {n}", i64::MAX)
            })
        }),
        // Python's int check lets a bool through, and True counts as 1.
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(Failure::new(format!(
            "timeout must be a whole number of seconds, got {other}"
        ))),
    }
}

/// Seconds from a validated `type=float` value; non-finite values travel as
/// the strings Python prints (`inf`, `-inf`, `nan`).
fn float_seconds(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

impl Module for QuorumCheck {
    type Params = Params;
    const NAME: &'static str = "pve_quorum_check";
    const SUPPORTS_CHECK_MODE: bool = true;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("cluster_name", Type::Str),
            Opt::new("expected_nodes", Type::Int),
            Opt::new("expected_members", Type::List).elements(Type::Str),
            Opt::new("require_all_online", Type::Bool).default(true),
            Opt::new("timeout", Type::Int).default(60),
            Opt::new("interval", Type::Float).default(1.0),
        ])
    }

    fn run(params: Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let (expectation, timeout, interval) = settings(params)?;
        wait_until_healthy(ctx, &expectation, timeout, interval)
    }
}

/// The expectation, the timeout and the interval, from checked options.
fn settings(params: Params) -> Result<(Expectation, Duration, Duration), Failure> {
    let expected_nodes = match params.expected_nodes {
        None => None,
        Some(n) if n >= 1 => usize::try_from(n).ok(),
        Some(n) => {
            return Err(Failure::new(format!(
                "expected_nodes must be at least 1, got {n}"
            )))
        }
    };
    let timeout = seconds(&params.timeout)?;
    if timeout < 0 {
        return Err(Failure::new(format!(
            "timeout must be 0 or more seconds, got {timeout}"
        )));
    }
    let interval = float_seconds(&params.interval);
    if !(interval > 0.0 && interval <= 60.0) {
        return Err(Failure::new(format!(
            "interval must be more than 0 and at most 60 seconds, got {interval}"
        )));
    }
    let expectation = Expectation {
        cluster_name: params.cluster_name,
        expected_nodes,
        expected_members: params.expected_members.unwrap_or_default(),
        require_all_online: params.require_all_online,
    };
    let timeout = Duration::from_secs(timeout.unsigned_abs());
    let interval = Duration::from_secs_f64(interval);
    Ok((expectation, timeout, interval))
}

/// Reads and assesses the cluster every `interval` until it is healthy or
/// `timeout` has passed.
fn wait_until_healthy(
    ctx: &mut Context<'_>,
    expectation: &Expectation,
    timeout: Duration,
    interval: Duration,
) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let verdict = probe::read(ctx.runner, Path::new(CLUSTER_CONF));
        let waited = started.elapsed();
        // The last check is made at the deadline, not an interval before it.
        let out_of_time = waited >= timeout;
        match verdict {
            Ok(probe) => match assess(&probe.status, expectation) {
                Health::Healthy => {
                    for warning in probe.warnings {
                        ctx.warn(warning);
                    }
                    return Ok(Outcome::unchanged(format!(
                        "{} (checked {attempts} time(s) in {:.1} s)",
                        probe::summary(&probe.status),
                        waited.as_secs_f64()
                    ))
                    .with("healthy", true)
                    .with("waited", round(waited))
                    .with("attempts", attempts)
                    .with("status", &probe.status));
                }
                Health::Unhealthy { reasons, message } if out_of_time => {
                    return Err(Failure::new(format!(
                        "{message} (still so after {:.1} s and {attempts} check(s))",
                        waited.as_secs_f64()
                    ))
                    .with("healthy", false)
                    .with("reasons", reasons)
                    .with("waited", round(waited))
                    .with("attempts", attempts)
                    .with("status", &probe.status));
                }
                Health::Unhealthy { .. } => {}
            },
            // A stopped or restarting corosync or pmxcfs may come back within the timeout.
            Err(err @ (ProbeError::Parse { .. } | ProbeError::Command(_))) if out_of_time => {
                let failure: Failure = err.into();
                return Err(failure
                    .with("healthy", false)
                    .with("waited", round(waited))
                    .with("attempts", attempts));
            }
            Err(ProbeError::Command(err @ crate::cmd::CmdError::NotFound { .. })) => {
                return Err(err.into())
            }
            Err(_) => {}
        }
        std::thread::sleep(interval.min(timeout.saturating_sub(started.elapsed())));
    }
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
