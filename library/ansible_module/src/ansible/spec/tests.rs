//! Expected texts were taken from ansible-core 2.19's `AnsibleModule`
//! run on the same spec and input.

use serde_json::{json, Map, Value};

use super::*;

fn spec() -> Spec {
    Spec::new(vec![
        Opt::new("name", Type::Str).required(),
        Opt::new("count", Type::Int).default(5),
        Opt::new("flag", Type::Bool),
        Opt::new("ratio", Type::Float),
        Opt::new("items", Type::List).elements(Type::Int),
        Opt::new("state", Type::Str)
            .choices(&["present", "absent"])
            .default("present"),
        Opt::new("secret", Type::Str).no_log(),
        Opt::new("opts", Type::Dict).options(Spec::new(vec![
            Opt::new("a", Type::Int).required(),
            Opt::new("b", Type::Str),
        ])),
        Opt::new("short", Type::Str).aliases(&["short_name", "sn"]),
    ])
    .mutually_exclusive(&["flag", "ratio"])
}

fn run(input: Value) -> Result<Validated, String> {
    let Value::Object(map) = input else {
        panic!("test input must be an object")
    };
    validate(&spec(), map, "mymod", false)
}

fn params(input: Value) -> Map<String, Value> {
    run(input).unwrap().params
}

#[test]
fn coercions_follow_python() {
    let p = params(json!({"name": 7, "count": "3", "flag": "yes", "items": "1,2"}));
    assert_eq!(p["name"], "7");
    assert_eq!(p["count"], 3);
    assert_eq!(p["flag"], true);
    assert_eq!(params(json!({"name": "x", "ratio": "1.5"}))["ratio"], 1.5);
    assert_eq!(p["items"], json!([1, 2]));
    assert_eq!(p["state"], "present");
    assert_eq!(p["secret"], Value::Null);
    for (text, expected) in [
        ("on", true),
        ("1", true),
        ("True", true),
        (" off ", false),
        ("n", false),
    ] {
        assert_eq!(
            params(json!({"name": "x", "flag": text}))["flag"],
            expected,
            "{text}"
        );
    }
    for (input, expected) in [
        (json!("1.0"), 1),
        (json!(3.0), 3),
        (json!(" 7 "), 7),
        (json!("1e3"), 1000),
        (json!("1_000"), 1000),
    ] {
        assert_eq!(
            params(json!({"name": "x", "count": input}))["count"],
            expected
        );
    }
}

#[test]
fn type_errors_use_python_texts() {
    let cases = [
        (json!({"name": "x", "count": "abc"}), "argument 'count' is of type str and we were unable to convert to int: \"'abc'\" cannot be converted to an int"),
        (json!({"name": "x", "count": "1.5"}), "argument 'count' is of type str and we were unable to convert to int: \"'1.5'\" cannot be converted to an int"),
        (json!({"name": "x", "ratio": "x"}), "argument 'ratio' is of type str and we were unable to convert to float: <class 'str'> cannot be converted to a float"),
        (json!({"name": "x", "items": {"a": 1}}), "argument 'items' is of type dict and we were unable to convert to list: <class 'dict'> cannot be converted to a list"),
        (json!({"name": "x", "items": ["a"]}), "Elements value for option 'items' is of type str and we were unable to convert to int: \"'a'\" cannot be converted to an int"),
        (json!({"name": "x", "state": "foo"}), "value of state must be one of: present, absent, got: foo"),
        (json!({"count": 1}), "missing required arguments: name"),
        (json!({"name": "x", "flag": true, "ratio": 1}), "parameters are mutually exclusive: flag|ratio"),
        (json!({"name": "x", "opts": {"b": "y"}}), "missing required arguments: a found in opts"),
        (json!({"name": "x", "opts": {"a": "z"}}), "argument 'a' is of type str found in 'opts'. and we were unable to convert to int: \"'z'\" cannot be converted to an int"),
        (json!({"name": "x", "opts": "a=1 c=2"}), "Unsupported parameters for (mymod) module: opts.c. Supported parameters include: a, b."),
        (json!({"name": "x", "nme": 1, "zzz": 2}), "Unsupported parameters for (mymod) module: nme, zzz. Supported parameters include: count, flag, items, name, opts, ratio, secret, short, state (short_name, sn)."),
    ];
    for (input, expected) in cases {
        assert_eq!(run(input.clone()).unwrap_err(), expected, "input {input}");
    }
}

#[test]
fn bool_errors_name_the_value() {
    let err = run(json!({"name": "x", "flag": "maybe"})).unwrap_err();
    assert!(err.starts_with("argument 'flag' is of type str and we were unable to convert to bool: The value 'maybe' is not a valid boolean. Valid booleans include: "), "{err}");
}

#[test]
fn unsupported_is_reported_only_when_nothing_else_is_wrong() {
    let err = run(json!({"zzz": 1})).unwrap_err();
    assert_eq!(err, "missing required arguments: name");
}

#[test]
fn aliases_win_and_warn() {
    let v = run(json!({"name": "x", "short": "a", "sn": "b"})).unwrap();
    assert_eq!(v.params["short"], "b");
    assert_eq!(
        v.warnings,
        vec!["Both option short and its alias sn are set.".to_string()]
    );
}

#[test]
fn no_log_values_are_collected() {
    let v = run(json!({"name": "x", "secret": "hunter2"})).unwrap();
    assert_eq!(v.no_log_values, vec!["hunter2".to_string()]);
}

#[test]
fn dict_strings_are_parsed() {
    assert_eq!(
        coerce(Type::Dict, &json!("k1=v1, k2=\"v 2\"")).unwrap(),
        json!({"k1": "v1", "k2": "v 2"})
    );
    assert_eq!(
        coerce(Type::Dict, &json!("{\"a\": 1}")).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(
        coerce(Type::Dict, &json!("nope")).unwrap_err(),
        "dictionary requested, could not parse JSON or key=value"
    );
    assert_eq!(
        coerce(Type::List, &json!("x,y, z")).unwrap(),
        json!(["x", "y", " z"])
    );
}

#[test]
fn required_rules() {
    let s = Spec::new(vec![
        Opt::new("state", Type::Str),
        Opt::new("path", Type::Str),
        Opt::new("src", Type::Str),
    ])
    .required_if("state", "present", &["path", "src"], false)
    .required_together(&["path", "src"]);
    let map = |v: Value| v.as_object().cloned().unwrap();
    assert_eq!(
        validate(&s, map(json!({"state": "present"})), "m", false).unwrap_err(),
        "state is present but all of the following are missing: path, src"
    );
    assert_eq!(
        validate(&s, map(json!({"path": "a"})), "m", false).unwrap_err(),
        "parameters are required together: path, src"
    );
    let one_of = Spec::new(vec![Opt::new("a", Type::Str), Opt::new("b", Type::Str)])
        .required_one_of(&["a", "b"]);
    assert_eq!(
        validate(&one_of, Map::new(), "m", false).unwrap_err(),
        "one of the following is required: a, b"
    );
}

#[test]
fn secrets_quoted_in_errors_are_masked() {
    assert_eq!(
        run(json!({"name": "x", "secret": "hunter2", "state": "hunter2"})).unwrap_err(),
        "value of state must be one of: present, absent, got: ********"
    );
    assert_eq!(
        run(json!({"name": "x", "secret": "hunter2", "count": "a hunter2"})).unwrap_err(),
        "argument 'count' is of type str and we were unable to convert to int: \"'a ********'\" cannot be converted to an int"
    );
}

#[test]
fn int_strings_with_leading_zeros_or_signs() {
    for (text, expected) in [
        ("007", json!(7)),
        ("-007", json!(-7)),
        ("+0", json!(0)),
        ("-0", json!(0)),
        (" 00 ", json!(0)),
    ] {
        assert_eq!(coerce(Type::Int, &json!(text)), Ok(expected), "{text}");
    }
    assert!(coerce(Type::Int, &json!("+-5")).is_err());
}
