//! Building the one JSON object a module prints, and masking secrets in
//! it as `AnsibleModule` does: a string equal to a `no_log` value becomes
//! `VALUE_SPECIFIED_IN_NO_LOG_PARAMETER`, a string containing one has it
//! replaced by `********`, everywhere in the result, `invocation` included.

use serde_json::{Map, Value};

use super::mask::mask;
use super::spec::Spec;
use super::{Context, Failure, Outcome};

pub(super) fn failed_result(failure: &Failure) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("changed".into(), Value::Bool(failure.changed));
    result.insert("failed".into(), Value::Bool(true));
    result.insert("msg".into(), Value::String(failure.msg.clone()));
    for (k, v) in &failure.data {
        result.entry(k.clone()).or_insert_with(|| v.clone());
    }
    result
}

/// `invocation.module_args`: the validated options. The spec is used only
/// to keep the canonical names first.
pub(super) fn invocation(params: &Map<String, Value>, spec: &Spec) -> Value {
    let mut args = canonical_params(params, spec);
    for (k, v) in params {
        args.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut inv = Map::new();
    inv.insert("module_args".into(), Value::Object(args));
    Value::Object(inv)
}

/// The options under their canonical names only, as typed parameters see
/// them (aliases are already copied onto their canonical names).
pub(super) fn canonical_params(params: &Map<String, Value>, spec: &Spec) -> Map<String, Value> {
    spec.options
        .iter()
        .map(|o| {
            (
                o.name.to_string(),
                params.get(o.name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

pub(super) fn render(
    outcome: Result<Outcome, Failure>,
    ctx: Context<'_>,
    invocation: Value,
    secrets: &[String],
) -> Map<String, Value> {
    let mut result = match outcome {
        Ok(outcome) => {
            let mut result = Map::new();
            result.insert("changed".into(), Value::Bool(outcome.changed));
            result.insert("failed".into(), Value::Bool(false));
            if let Some(msg) = outcome.msg {
                result.insert("msg".into(), Value::String(msg));
            }
            if ctx.internal.diff {
                if let Some(diff) = outcome.diff {
                    result.insert("diff".into(), diff);
                }
            }
            for (k, v) in outcome.data {
                result.entry(k).or_insert(v);
            }
            result
        }
        Err(failure) => failed_result(&failure),
    };
    if !ctx.warnings.is_empty() {
        result.insert(
            "warnings".into(),
            Value::Array(ctx.warnings.into_iter().map(Value::String).collect()),
        );
    }
    result.insert("invocation".into(), invocation);
    masked(result, secrets)
}

pub(super) fn masked(result: Map<String, Value>, secrets: &[String]) -> Map<String, Value> {
    match mask(Value::Object(result), secrets) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
