//! The protocol framework with modules defined here: `no_log` masking over
//! the whole result, and the check-mode skip of a module that does not
//! support check mode. The real modules have neither a secret option nor a
//! lack of check-mode support, so these paths are proven here.

use pve_cluster::ansible::{execute, Context, Failure, Module, Opt, Outcome, Spec, Type};
use pve_cluster::cmd::FakeRunner;
use serde::Deserialize;
use serde_json::{json, Map, Value};

const SECRET: &str = "hunter2-Xq9";

#[derive(Deserialize)]
struct EchoParams {
    user: String,
    password: String,
    fail: bool,
}

/// Echoes its secret everywhere it can: in msg, nested data, lists, numbers-as-text.
struct Echo;

impl Module for Echo {
    type Params = EchoParams;
    const NAME: &'static str = "echo_secret";
    const SUPPORTS_CHECK_MODE: bool = false;

    fn spec() -> Spec {
        Spec::new(vec![
            Opt::new("user", Type::Str).required(),
            Opt::new("password", Type::Str).required().no_log(),
            Opt::new("fail", Type::Bool).default(false),
        ])
    }

    fn run(p: EchoParams, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        ctx.warn(format!("logging in as {} with {}", p.user, p.password));
        let nested = json!({"login": {"password": p.password, "line": format!("user {} pass {}", p.user, p.password)},
                            "list": [p.password, "x", format!("{}!", p.password)], "flag": true, "none": null});
        if p.fail {
            return Err(
                Failure::new(format!("login with '{}' refused", p.password)).with("nested", nested)
            );
        }
        Ok(Outcome {
            changed: true,
            msg: Some(format!("password is {}", p.password)),
            diff: Some(json!({"before": "", "after": p.password})),
            data: Map::from_iter([
                ("echo".to_string(), Value::String(p.password.clone())),
                ("nested".to_string(), nested),
            ]),
        })
    }
}

fn exec(args: Value) -> Value {
    Value::Object(execute::<Echo>(&args.to_string(), &FakeRunner::default()))
}

fn text(v: &Value) -> String {
    serde_json::to_string(v).expect("serialisable")
}

#[test]
fn a_no_log_value_appears_nowhere_in_the_output() {
    let out = exec(json!({"user": "alice", "password": SECRET, "_ansible_diff": true}));
    assert!(!text(&out).contains(SECRET), "{out}");
    assert_eq!(out["failed"], false);
    assert_eq!(out["changed"], true);
    assert_eq!(out["echo"], "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER");
    assert_eq!(out["msg"], "password is ********");
    assert_eq!(
        out["nested"]["login"]["password"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );
    assert_eq!(out["nested"]["login"]["line"], "user alice pass ********");
    assert_eq!(
        out["nested"]["list"],
        json!(["VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", "x", "********!"])
    );
    assert_eq!(out["nested"]["flag"], true);
    assert_eq!(out["nested"]["none"], Value::Null);
    assert_eq!(out["diff"]["after"], "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER");
    assert_eq!(
        out["warnings"],
        json!(["logging in as alice with ********"])
    );
    assert_eq!(
        out["invocation"]["module_args"],
        json!({"user": "alice", "password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", "fail": false})
    );
}

#[test]
fn a_no_log_value_is_masked_in_failures_too() {
    let out = exec(json!({"user": "alice", "password": SECRET, "fail": "yes"}));
    assert!(!text(&out).contains(SECRET), "{out}");
    assert_eq!(out["failed"], true);
    assert_eq!(out["msg"], "login with '********' refused");
    assert_eq!(
        out["nested"]["login"]["password"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );
}

#[test]
fn a_numeric_no_log_value_is_masked_as_text() {
    // type=str turns 4711 into "4711"; every occurrence, numbers included, is masked.
    let out = exec(json!({"user": "u4711", "password": 4711}));
    assert!(!text(&out).contains("4711"), "{out}");
    assert_eq!(out["invocation"]["module_args"]["user"], "u********");
}

#[test]
fn no_check_mode_support_means_skipped_after_validation() {
    let out = exec(json!({"user": "alice", "password": SECRET, "_ansible_check_mode": true}));
    assert_eq!(out["skipped"], true, "{out}");
    assert_eq!(
        out["msg"],
        "remote module (echo_secret) does not support check mode"
    );
    assert_ne!(out["failed"], true);
    assert_ne!(out["changed"], true);
    assert!(!text(&out).contains(SECRET), "{out}");
    // The controller's resolved name is used, as Python does.
    let out = exec(
        json!({"user": "a", "password": "b", "_ansible_check_mode": true, "_ansible_module_name": "ns.coll.echo_secret"}),
    );
    assert_eq!(
        out["msg"],
        "remote module (ns.coll.echo_secret) does not support check mode"
    );
}

#[test]
fn validation_errors_still_fail_in_check_mode() {
    let out = exec(json!({"user": "alice", "_ansible_check_mode": true}));
    assert_eq!(out["failed"], true, "{out}");
    assert_eq!(out["msg"], "missing required arguments: password");
    assert!(out.get("skipped").is_none());
    // A one-letter secret would be masked inside 'bogus' too, as Python masks it.
    let out =
        exec(json!({"user": "a", "password": "pw-1", "bogus": 1, "_ansible_check_mode": true}));
    assert_eq!(out["failed"], true, "{out}");
    assert_eq!(
        out["msg"],
        "Unsupported parameters for (echo_secret) module: bogus. Supported parameters include: fail, password, user."
    );
}

#[test]
fn diff_is_left_out_unless_asked_for() {
    let out = exec(json!({"user": "alice", "password": SECRET}));
    assert!(out.get("diff").is_none(), "{out}");
}
