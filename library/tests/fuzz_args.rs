//! Property tests of the args reader, the validator and the output masking:
//! whatever the args file holds, `execute` returns one JSON object with a
//! boolean `failed`, a `msg` when it failed, `invocation` when validation
//! passed, and no `no_log` value anywhere.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the defaults.

mod common;
use common::cases;
use proptest::prelude::*;
use pve_cluster::ansible::{execute, Context, Failure, Module, Opt, Outcome, Spec, Type};
use pve_cluster::cmd::FakeRunner;
use serde_json::{json, Map, Value};

/// A module exercising every feature of the spec. It echoes its parameters
/// and the secret in every place a module can put text.
struct Echo<const CHECK: bool>;

fn rich_spec() -> Spec {
    Spec::new(vec![
        Opt::new("name", Type::Str)
            .required()
            .aliases(&["n", "title"]),
        Opt::new("state", Type::Str)
            .choices(&["present", "absent"])
            .default("present"),
        Opt::new("mode", Type::Str).choices(&["yes", "no", "auto"]),
        Opt::new("count", Type::Int).choices(&[1, 2, 3, 42]),
        Opt::new("size", Type::Int).default("5"),
        Opt::new("ratio", Type::Float),
        Opt::new("enabled", Type::Bool).default(false),
        Opt::new("tags", Type::List).elements(Type::Str),
        Opt::new("ports", Type::List).elements(Type::Int),
        Opt::new("flags", Type::List)
            .elements(Type::Str)
            .choices(&["a", "b", "c"]),
        Opt::new("opts", Type::Dict),
        Opt::new("dest", Type::Path).aliases(&["path"]),
        Opt::new("extra", Type::Raw),
        Opt::new("password", Type::Str).no_log().aliases(&["pass"]),
        Opt::new("pin", Type::Int).no_log(),
        Opt::new("fail", Type::Bool).default(false),
        Opt::new("users", Type::List)
            .elements(Type::Dict)
            .options(Spec::new(vec![
                Opt::new("user", Type::Str).required(),
                Opt::new("key", Type::Str).no_log(),
                Opt::new("admin", Type::Bool).default(false),
                Opt::new("uid", Type::Int),
            ])),
        Opt::new("settings", Type::Dict).options(
            Spec::new(vec![
                Opt::new("level", Type::Int).choices(&[1, 2, 3]),
                Opt::new("secret", Type::Str).no_log(),
                Opt::new("color", Type::Str).choices(&["red", "green"]),
            ])
            .required_together(&["level", "color"]),
        ),
    ])
    .mutually_exclusive(&["count", "ratio"])
    .mutually_exclusive(&["tags", "flags"])
    .required_together(&["dest", "extra"])
    .required_one_of(&["name", "tags"])
    .required_if("state", "absent", &["dest", "extra"], true)
    .required_if("mode", "auto", &["count", "ratio"], true)
    .required_if("enabled", true, &["name"], false)
}

impl<const CHECK: bool> Module for Echo<CHECK> {
    type Params = Map<String, Value>;
    const NAME: &'static str = "echo";
    const SUPPORTS_CHECK_MODE: bool = CHECK;

    fn spec() -> Spec {
        rich_spec()
    }

    fn run(params: Self::Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure> {
        let password = params
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        ctx.warn(format!("the password is {password}"));
        if params.get("fail") == Some(&Value::Bool(true)) {
            return Err(Failure::new(format!("failed with password {password}"))
                .with("echo", &params)
                .with("ran", true));
        }
        Ok(Outcome {
            changed: params.get("enabled") == Some(&Value::Bool(true)),
            msg: Some(format!("password={password}")),
            diff: Some(json!({"before": "", "after": password.clone()})),
            data: Map::new(),
        }
        .with("echo", &params)
        .with("ran", true)
        .with(
            "secret_list",
            vec![password.clone(), format!("<{password}>")],
        ))
    }
}

/// A JSON value as a controller (or a broken file) may write it: bare
/// `NaN`/`Infinity` tokens and integers beyond 64 bits included.
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    /// Number text written as is.
    Num(String),
    /// A bare non-finite token.
    Token(&'static str),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Token(t) => out.push_str(t),
            J::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn from_value(value: &Value) -> J {
        match value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(items) => J::Arr(items.iter().map(J::from_value).collect()),
            Value::Object(map) => J::Obj(
                map.iter()
                    .map(|(k, v)| (k.clone(), J::from_value(v)))
                    .collect(),
            ),
        }
    }
}

const KEYS: &[&str] = &[
    "name",
    "n",
    "title",
    "state",
    "mode",
    "count",
    "size",
    "ratio",
    "enabled",
    "tags",
    "ports",
    "flags",
    "opts",
    "dest",
    "path",
    "extra",
    "password",
    "pass",
    "pin",
    "fail",
    "users",
    "settings",
    "user",
    "key",
    "admin",
    "uid",
    "level",
    "secret",
    "color",
    "unknown",
    "",
    "_ansible_check_mode",
    "_ansible_diff",
    "_ansible_no_log",
    "_ansible_verbosity",
    "_ansible_module_name",
    "_ansible_ignore_unknown_opts",
    "_ansible_tracebacks_for",
    "_ansible_brand_new",
];

const WORDS: &[&str] = &[
    "",
    " ",
    "yes",
    "no",
    "True",
    "false",
    "on",
    "0",
    "1",
    "1.0",
    " 7 ",
    "007",
    "-0",
    "1_000",
    "1e3",
    "1.5",
    "0x10",
    "NaN",
    "-inf",
    "Infinity",
    "present",
    "absent",
    "auto",
    "a,b",
    "a,,c",
    "k=v",
    "k1=v1, k2=\"v 2\"",
    "a='x",
    "k=\\",
    "{\"a\": 1}",
    "{bad",
    "[1, 2]",
    "~",
    "~/x",
    "$HOME/x",
    "${HOME}",
    "${",
    "$",
    "$=",
    "${a\u{0}b}",
    "red",
    "user=u, key=k",
    "héllo✓",
    "\u{0}",
    "\u{feff}",
    "'\"\\",
];

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (-5i64..50).prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        "-?[1-9][0-9]{18,40}",
        "-?[0-9]\\.[0-9]{1,5}[eE][+-]?[0-9]{1,4}",
        Just("-0".to_string()),
        Just("0.0".to_string()),
        Just("1e400".to_string()),
        Just("-1e-400".to_string()),
    ]
}

fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[a-z0-9=, '\"{}\\[\\]$~.]{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_]{0,8}",
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number_text().prop_map(J::Num),
        proptest::sample::select(&["NaN", "Infinity", "-Infinity"][..]).prop_map(J::Token),
        string_value().prop_map(J::Str),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            proptest::collection::vec((key(), inner), 0..6).prop_map(J::Obj),
        ]
    })
}

/// Distinct secrets: lower-case letters and digits, long enough that no
/// fixed text of a result contains one by chance.
fn secret() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{9,15}"
}

/// The properties every result must have. `secrets` must be masked.
fn check_result(result: &Map<String, Value>, secrets: &[&str]) -> Result<(), TestCaseError> {
    let failed = result.get("failed");
    prop_assert!(
        matches!(failed, Some(Value::Bool(_))),
        "no boolean 'failed': {result:?}"
    );
    prop_assert!(matches!(result.get("changed"), Some(Value::Bool(_))));
    if failed == Some(&Value::Bool(true)) {
        prop_assert!(
            matches!(result.get("msg"), Some(Value::String(_))),
            "failed without msg: {result:?}"
        );
    }
    let validated = result.contains_key("ran") || result.get("skipped") == Some(&Value::Bool(true));
    if validated {
        let args = result
            .get("invocation")
            .and_then(|i| i.get("module_args"))
            .and_then(Value::as_object);
        prop_assert!(args.is_some(), "no invocation: {result:?}");
        if let Some(args) = args {
            for opt in rich_spec().options {
                prop_assert!(args.contains_key(opt.name), "{} missing", opt.name);
            }
        }
    } else {
        prop_assert_eq!(failed, Some(&Value::Bool(true)), "neither ran nor failed");
    }
    let text = serde_json::to_string(result).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Value =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(back.is_object());
    for secret in secrets {
        prop_assert!(!text.contains(secret), "secret {secret:?} leaked in {text}");
    }
    Ok(())
}

fn run_both(text: &str) -> [Map<String, Value>; 2] {
    let runner = FakeRunner::default();
    [
        execute::<Echo<true>>(text, &runner),
        execute::<Echo<false>>(text, &runner),
    ]
}

/// The args file ansible-core 2.19 writes, for this module.
fn real_args(secrets: &Secrets) -> Map<String, Value> {
    let value = json!({
        "name": "web",
        "state": "present",
        "mode": "auto",
        "count": 2,
        "size": "7",
        "enabled": "yes",
        "tags": "a,b",
        "ports": ["80", 443],
        "opts": "k=v, x=\"y z\"",
        "dest": "/srv/x",
        "extra": {"any": [1, 2.5, null]},
        "password": secrets.password,
        "pin": 12345,
        "users": [
            {"user": "alice", "key": secrets.key, "admin": "on"},
            "user=bob, uid=7"
        ],
        "settings": {"level": "2", "color": "red", "secret": secrets.setting},
        "_ansible_check_mode": false,
        "_ansible_no_log": false,
        "_ansible_debug": false,
        "_ansible_diff": true,
        "_ansible_verbosity": 0,
        "_ansible_version": "2.19.14",
        "_ansible_module_name": "echo",
        "_ansible_syslog_facility": "LOG_USER",
        "_ansible_selinux_special_fs": ["fuse", "nfs", "vboxsf", "ramfs", "9p", "vfat"],
        "_ansible_socket": null,
        "_ansible_shell_executable": "/bin/sh",
        "_ansible_keep_remote_files": false,
        "_ansible_tmpdir": "/root/.ansible/tmp/ansible-tmp-1-2-3/",
        "_ansible_remote_tmp": "~/.ansible/tmp",
        "_ansible_ignore_unknown_opts": false,
        "_ansible_target_log_info": null,
        "_ansible_tracebacks_for": []
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[derive(Clone, Debug)]
struct Secrets {
    password: String,
    key: String,
    setting: String,
}

fn secrets() -> impl Strategy<Value = Secrets> {
    (secret(), secret(), secret()).prop_map(|(password, key, setting)| Secrets {
        password,
        key,
        setting,
    })
}

/// One change to the real args.
#[derive(Clone, Debug)]
enum Mutation {
    Remove(String),
    Set(String, J),
    /// The value of the first key moved under the second.
    Rename(String, String),
    /// One of the secrets copied into the value of another option.
    Plant {
        key: String,
        which: u8,
        how: u8,
    },
    /// The whole password wrapped in a container.
    WrapPassword(u8),
    /// A field of the first user or of the settings replaced.
    SetSub {
        users: bool,
        key: String,
        value: J,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        key().prop_map(Mutation::Remove),
        (key(), json_value()).prop_map(|(k, v)| Mutation::Set(k, v)),
        (key(), key()).prop_map(|(a, b)| Mutation::Rename(a, b)),
        (key(), 0u8..3, 0u8..6).prop_map(|(key, which, how)| Mutation::Plant { key, which, how }),
        (0u8..3).prop_map(Mutation::WrapPassword),
        (any::<bool>(), key(), json_value()).prop_map(|(users, key, value)| Mutation::SetSub {
            users,
            key,
            value
        }),
    ]
}

fn apply(args: &mut Map<String, Value>, m: &Mutation, s: &Secrets) {
    match m {
        Mutation::Remove(k) => {
            args.remove(k);
        }
        Mutation::Set(k, v) => {
            if let Ok(value) = serde_json::from_str::<Value>(&v.text()) {
                args.insert(k.clone(), value);
            }
        }
        Mutation::Rename(a, b) => {
            if let Some(v) = args.remove(a) {
                args.insert(b.clone(), v);
            }
        }
        Mutation::Plant { key, which, how } => {
            let secret = match which {
                0 => &s.password,
                1 => &s.key,
                _ => &s.setting,
            };
            let value = match how {
                0 => json!(secret),
                1 => json!(format!("x{secret}y")),
                2 => json!([secret, 1]),
                3 => json!({"k": secret}),
                4 => json!(format!("k={secret}")),
                _ => json!(format!("{secret},{secret}")),
            };
            // Only into options that are not themselves secret positions.
            if !matches!(key.as_str(), "password" | "pass" | "users" | "settings") {
                args.insert(key.clone(), value);
            }
        }
        Mutation::WrapPassword(how) => {
            if let Some(v) = args.remove("password") {
                let wrapped = match how {
                    0 => json!([v]),
                    1 => json!({"inner": v}),
                    _ => json!([[v], {"x": v}]),
                };
                args.insert("password".into(), wrapped);
            }
        }
        Mutation::SetSub { users, key, value } => {
            let Ok(value) = serde_json::from_str::<Value>(&value.text()) else {
                return;
            };
            if matches!(key.as_str(), "key" | "secret") {
                return;
            }
            let target = if *users {
                args.get_mut("users")
                    .and_then(|u| u.get_mut(0))
                    .and_then(Value::as_object_mut)
            } else {
                args.get_mut("settings").and_then(Value::as_object_mut)
            };
            if let Some(map) = target {
                map.insert(key.clone(), value);
            }
        }
    }
}

fn contains_string(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s == needle,
        Value::Array(items) => items.iter().any(|v| contains_string(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_string(v, needle)),
        _ => false,
    }
}

/// The secrets that still sit where the spec marks a value `no_log`, so
/// that the module must mask them.
fn protected<'a>(args: &Map<String, Value>, s: &'a Secrets) -> Vec<&'a str> {
    let mut out = Vec::new();
    // The alias wins over the canonical name when both are given.
    let password = args.get("pass").or_else(|| args.get("password"));
    if password.is_some_and(|v| contains_string(v, &s.password)) {
        out.push(s.password.as_str());
    }
    let key_kept = args
        .get("users")
        .and_then(Value::as_array)
        .and_then(|users| users.first())
        .and_then(|u| u.get("key"))
        .is_some_and(|k| k == &json!(s.key));
    if key_kept {
        out.push(s.key.as_str());
    }
    let setting_kept = args
        .get("settings")
        .and_then(|x| x.get("secret"))
        .is_some_and(|k| k == &json!(s.setting));
    if setting_kept {
        out.push(s.setting.as_str());
    }
    out
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn arbitrary_bytes_give_one_failed_object(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        for result in run_both(&text) {
            check_result(&result, &[])?;
        }
    }

}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn arbitrary_json_gives_one_object(value in json_value()) {
        for result in run_both(&value.text()) {
            check_result(&result, &[])?;
        }
    }

    #[test]
    fn arbitrary_options_give_one_object(
        members in proptest::collection::vec((key(), json_value()), 0..10),
        password in secret(),
    ) {
        let mut members = members;
        members.push(("password".to_string(), J::Str(password.clone())));
        let text = J::Obj(members.clone()).text();
        // With duplicate keys the last one wins; the password is last.
        let hidden = !members.iter().any(|(k, _)| k == "pass");
        for result in run_both(&text) {
            let secrets: &[&str] = if hidden { &[password.as_str()] } else { &[] };
            check_result(&result, secrets)?;
        }
    }

    #[test]
    fn truncated_and_spliced_args_never_break(
        s in secrets(),
        cut in any::<proptest::sample::Index>(),
        insert in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let text = Value::Object(real_args(&s)).to_string();
        let at = cut.index(text.len() + 1);
        let mut bytes = text.as_bytes()[..at].to_vec();
        bytes.extend_from_slice(&insert);
        bytes.extend_from_slice(&text.as_bytes()[at..]);
        let text = String::from_utf8_lossy(&bytes);
        for result in run_both(&text) {
            check_result(&result, &[])?;
        }
    }

    #[test]
    fn mutated_real_args_keep_every_rule(
        s in secrets(),
        mutations in proptest::collection::vec(mutation(), 0..6),
    ) {
        let mut args = real_args(&s);
        for m in &mutations {
            apply(&mut args, m, &s);
        }
        let text = J::from_value(&Value::Object(args.clone())).text();
        let secrets = protected(&args, &s);
        for result in run_both(&text) {
            check_result(&result, &secrets)?;
        }
    }
}

proptest! {
    #![proptest_config(cases(500))]

    /// `int` takes what Python's `Decimal` takes: leading zeros, a sign,
    /// blanks around.
    #[test]
    fn int_strings_coerce_like_python(n in any::<i64>(), zeros in 0usize..3, plus in any::<bool>(), blank in any::<bool>()) {
        let digits = n.unsigned_abs().to_string();
        let sign = if n < 0 { "-" } else if plus { "+" } else { "" };
        let pad = if blank { " " } else { "" };
        let text = format!("{pad}{sign}{}{digits}{pad}", "0".repeat(zeros));
        let args = json!({"name": "x", "size": text}).to_string();
        let [result, _] = run_both(&args);
        prop_assert_eq!(&result["failed"], &json!(false), "{} gave {:?}", text, result);
        prop_assert_eq!(&result["invocation"]["module_args"]["size"], &json!(n));
    }
}

#[test]
fn the_real_args_run() {
    let s = Secrets {
        password: "pw1234567890".into(),
        key: "key1234567890".into(),
        setting: "set1234567890".into(),
    };
    let text = Value::Object(real_args(&s)).to_string();
    let [result, _] = run_both(&text);
    assert_eq!(result["failed"], false, "{result:?}");
    assert_eq!(result["ran"], true);
    check_result(&result, &["pw1234567890", "key1234567890", "set1234567890"]).unwrap();
}

#[test]
fn secrets_in_validation_errors_are_masked() {
    // Same secret as the password given to an int option: the error quotes it.
    let text = r#"{"name": "x", "password": "hunter2hunter2", "size": "hunter2hunter2"}"#;
    let [result, _] = run_both(text);
    assert_eq!(result["failed"], true);
    let msg = result["msg"].as_str().unwrap_or_default();
    assert!(!msg.contains("hunter2hunter2"), "{msg}");
    assert!(msg.contains("********"), "{msg}");
}

#[test]
fn check_mode_skip_says_not_failed() {
    let text = r#"{"name": "x", "_ansible_check_mode": true}"#;
    let [supported, skipped] = run_both(text);
    assert_eq!(supported["ran"], true);
    assert_eq!(skipped["skipped"], true);
    check_result(&skipped, &[]).unwrap();
}
