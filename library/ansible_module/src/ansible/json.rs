//! Reading the args file as ansible-core really writes it.
//!
//! The controller serialises module arguments with Python's `json.dumps`,
//! which writes `NaN`, `Infinity` and `-Infinity` for YAML's `.nan` and
//! `.inf`. Those tokens are not JSON, so a strict parser would reject the
//! whole file. They are rewritten here, outside string literals, into the
//! strings `"NaN"`, `"Infinity"` and `"-Infinity"`, which the `float` type
//! then coerces exactly as Python's `float()` would. Integers wider than 64
//! bits survive because serde_json is built with `arbitrary_precision`.

use serde_json::{Map, Value};

/// Parses the contents of an args file into a JSON object.
pub fn parse_args(text: &str) -> Result<Map<String, Value>, String> {
    let cleaned = rewrite_non_finite(text);
    match serde_json::from_str::<Value>(&cleaned) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the args file must hold a JSON object, found {}",
            kind_of(&other)
        )),
        Err(err) => Err(format!("the args file is not valid JSON: {err}")),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Replaces the bare tokens `NaN`, `Infinity` and `-Infinity` that stand
/// outside string literals by quoted strings.
fn rewrite_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
            rest = &rest[ch.len_utf8()..];
            continue;
        }
        if ch == '"' {
            in_string = true;
            out.push(ch);
            rest = &rest[1..];
            continue;
        }
        let mut replaced = false;
        for token in ["-Infinity", "Infinity", "NaN"] {
            if rest.starts_with(token) {
                out.push('"');
                out.push_str(token);
                out.push('"');
                rest = &rest[token.len()..];
                replaced = true;
                break;
            }
        }
        if !replaced {
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// Python's `repr()` of a JSON value, as `AnsibleModule` prints values in
/// its messages.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::String(s) => py_repr_str(s),
        other => py_str(other),
    }
}

/// Python's `str()` of a JSON value: what `type=str` makes of it.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => py_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn py_number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if text.contains(['.', 'e', 'E']) {
        match text.parse::<f64>() {
            Ok(f) => py_float(f),
            Err(_) => text,
        }
    } else {
        text
    }
}

/// Python's `repr()` of a float.
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        let text = format!("{f:?}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        }
    }
}

fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's type name of a JSON value (`str`, `int`, `NoneType`, ...).
pub fn py_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if is_integer(n) => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Whether a JSON number was written as an integer.
pub fn is_integer(n: &serde_json::Number) -> bool {
    !n.to_string().contains(['.', 'e', 'E'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_tokens_become_strings_outside_literals() {
        let map = parse_args(r#"{"a": NaN, "b": -Infinity, "c": "NaN Infinity", "d": [Infinity]}"#)
            .unwrap();
        assert_eq!(map["a"], "NaN");
        assert_eq!(map["b"], "-Infinity");
        assert_eq!(map["c"], "NaN Infinity");
        assert_eq!(map["d"][0], "Infinity");
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        let map = parse_args(r#"{"a": "x\"NaN", "b": NaN}"#).unwrap();
        assert_eq!(map["a"], "x\"NaN");
        assert_eq!(map["b"], "NaN");
    }

    #[test]
    fn integers_beyond_64_bits_are_kept() {
        let map = parse_args(r#"{"big": 18446744073709551616}"#).unwrap();
        assert_eq!(map["big"].to_string(), "18446744073709551616");
    }

    #[test]
    fn non_objects_are_rejected_with_a_reason() {
        assert_eq!(
            parse_args("[1]").unwrap_err(),
            "the args file must hold a JSON object, found an array"
        );
        assert!(parse_args("{")
            .unwrap_err()
            .starts_with("the args file is not valid JSON"));
    }

    #[test]
    fn python_reprs() {
        let v: Value = serde_json::from_str(r#"[1, 2.5, true, null, "x", {"k": "it's"}]"#).unwrap();
        assert_eq!(py_str(&v), r#"[1, 2.5, True, None, 'x', {'k': "it's"}]"#);
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(1e20), "1e+20");
    }
}
