//! Argument specs and their validation, with `AnsibleModule`'s semantics.
//!
//! The order of the checks, the coercions and the error texts follow
//! ansible-core 2.19's `ArgumentSpecValidator`, because users read these
//! messages next to those of every Python module: aliases, unsupported
//! names (reported last), `mutually_exclusive` (before defaults), defaults,
//! `required`, types and `elements`, `choices`, `required_together`,
//! `required_one_of`, `required_if`, then sub-options. Only the first error
//! is reported, as `AnsibleModule` does.

use serde_json::{Map, Number, Value};

use super::json::{is_integer, py_float, py_repr, py_str, py_type_name};

/// The type of an option, named as in an Ansible argument spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// `str`: anything else is converted with Python's `str()`.
    Str,
    /// `bool`: `yes`, `on`, `1`, `true` and friends.
    Bool,
    /// `int`: `"3"` and `3.0` are accepted, `"1.5"` is not.
    Int,
    /// `float`.
    Float,
    /// `list`: a string is split on commas.
    List,
    /// `dict`: JSON text or `k=v` strings are accepted.
    Dict,
    /// `path`: a string with `~` and `$VARS` expanded.
    Path,
    /// `raw`: left as given.
    Raw,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Str => "str",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::List => "list",
            Type::Dict => "dict",
            Type::Path => "path",
            Type::Raw => "raw",
        }
    }
}

/// One option of a module.
#[derive(Clone, Debug)]
pub struct Opt {
    /// Canonical name.
    pub name: &'static str,
    /// Type the value is coerced to.
    pub ty: Type,
    /// The key must be present.
    pub required: bool,
    /// Value used when the key is absent.
    pub default: Option<Value>,
    /// Allowed values, compared after coercion.
    pub choices: Vec<Value>,
    /// Other names for the option.
    pub aliases: Vec<&'static str>,
    /// The value is a secret: masked everywhere in the output.
    pub no_log: bool,
    /// Type of each element of a `list`.
    pub elements: Option<Type>,
    /// Sub-options of a `dict` or of each element of a `list` of dicts.
    pub options: Option<Box<Spec>>,
}

impl Opt {
    /// A new optional option without default.
    pub fn new(name: &'static str, ty: Type) -> Opt {
        Opt {
            name,
            ty,
            required: false,
            default: None,
            choices: Vec::new(),
            aliases: Vec::new(),
            no_log: false,
            elements: None,
            options: None,
        }
    }
    /// Marks the option required.
    pub fn required(mut self) -> Opt {
        self.required = true;
        self
    }
    /// Sets the default.
    pub fn default(mut self, value: impl Into<Value>) -> Opt {
        self.default = Some(value.into());
        self
    }
    /// Sets the allowed values.
    pub fn choices<V: Into<Value> + Clone>(mut self, choices: &[V]) -> Opt {
        self.choices = choices.iter().cloned().map(Into::into).collect();
        self
    }
    /// Adds aliases.
    pub fn aliases(mut self, aliases: &[&'static str]) -> Opt {
        self.aliases = aliases.to_vec();
        self
    }
    /// Marks the value secret.
    pub fn no_log(mut self) -> Opt {
        self.no_log = true;
        self
    }
    /// Sets the element type of a list.
    pub fn elements(mut self, ty: Type) -> Opt {
        self.elements = Some(ty);
        self
    }
    /// Sets sub-options.
    pub fn options(mut self, spec: Spec) -> Opt {
        self.options = Some(Box::new(spec));
        self
    }
}

/// A `required_if` rule: when `key` equals `value`, the `requirements` must
/// be present (all of them, or any one when `any` is set).
#[derive(Clone, Debug)]
pub struct RequiredIf {
    /// Option whose value triggers the rule.
    pub key: &'static str,
    /// Triggering value.
    pub value: Value,
    /// Options then required.
    pub requirements: Vec<&'static str>,
    /// One of the requirements is enough.
    pub any: bool,
}

/// The argument spec of a module or of a sub-option.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// The options.
    pub options: Vec<Opt>,
    /// Groups of options of which at most one may be given.
    pub mutually_exclusive: Vec<Vec<&'static str>>,
    /// Groups of options that must be given together.
    pub required_together: Vec<Vec<&'static str>>,
    /// Groups of options of which at least one must be given.
    pub required_one_of: Vec<Vec<&'static str>>,
    /// Conditional requirements.
    pub required_if: Vec<RequiredIf>,
}

impl Spec {
    /// A spec with these options and no cross-option rules.
    pub fn new(options: Vec<Opt>) -> Spec {
        Spec {
            options,
            ..Spec::default()
        }
    }
    /// Adds a `mutually_exclusive` group.
    pub fn mutually_exclusive(mut self, group: &[&'static str]) -> Spec {
        self.mutually_exclusive.push(group.to_vec());
        self
    }
    /// Adds a `required_together` group.
    pub fn required_together(mut self, group: &[&'static str]) -> Spec {
        self.required_together.push(group.to_vec());
        self
    }
    /// Adds a `required_one_of` group.
    pub fn required_one_of(mut self, group: &[&'static str]) -> Spec {
        self.required_one_of.push(group.to_vec());
        self
    }
    /// Adds a `required_if` rule.
    pub fn required_if(
        mut self,
        key: &'static str,
        value: impl Into<Value>,
        requirements: &[&'static str],
        any: bool,
    ) -> Spec {
        self.required_if.push(RequiredIf {
            key,
            value: value.into(),
            requirements: requirements.to_vec(),
            any,
        });
        self
    }
}

/// What validation produced.
#[derive(Debug, Default)]
pub struct Validated {
    /// Every option of the spec, coerced, `null` when unset; aliases given
    /// by the user are kept beside their canonical names, as Python does.
    pub params: Map<String, Value>,
    /// Secret values to mask in the output.
    pub no_log_values: Vec<String>,
    /// Warnings to pass on to the user.
    pub warnings: Vec<String>,
}

/// Validates user options against a spec. `module` is the name used in the
/// unsupported-parameters message; `ignore_unknown` mirrors
/// `_ansible_ignore_unknown_opts`.
pub fn validate(
    spec: &Spec,
    raw: Map<String, Value>,
    module: &str,
    ignore_unknown: bool,
) -> Result<Validated, String> {
    let mut state = State::default();
    let mut params = raw;
    validate_level(spec, &mut params, &[], &mut state);
    if !ignore_unknown && !state.unsupported.is_empty() {
        let mut names: Vec<String> = state.unsupported.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        // Python names the parameters supported where an unknown one was
        // found: a sub-option's siblings, not the module's options.
        let supported = state
            .unsupported
            .last()
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| supported_string(spec));
        state.errors.push(format!(
            "Unsupported parameters for ({module}) module: {}. Supported parameters include: {supported}.",
            names.join(", "),
        ));
    }
    match state.errors.into_iter().next() {
        // The message may quote a secret (a bad value, an unknown choice):
        // AnsibleModule masks it like the rest of the result.
        Some(first) => match super::mask::mask(Value::String(first), &state.no_log_values) {
            Value::String(masked) => Err(masked),
            _ => Err("invalid module arguments".to_string()),
        },
        None => Ok(Validated {
            params,
            no_log_values: state.no_log_values,
            warnings: state.warnings,
        }),
    }
}

fn supported_string(spec: &Spec) -> String {
    let mut names: Vec<&str> = spec.options.iter().map(|o| o.name).collect();
    names.sort_unstable();
    let mut aliases: Vec<&str> = spec
        .options
        .iter()
        .flat_map(|o| o.aliases.iter().copied())
        .collect();
    aliases.sort_unstable();
    let mut text = names.join(", ");
    if !aliases.is_empty() {
        text.push_str(&format!(" ({})", aliases.join(", ")));
    }
    text
}

#[derive(Default)]
struct State {
    errors: Vec<String>,
    /// Unknown names, each with the supported names of its level.
    unsupported: Vec<(String, String)>,
    no_log_values: Vec<String>,
    warnings: Vec<String>,
}

fn suffix(context: &[String]) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" found in {}", context.join(" -> "))
    }
}

fn count_present(group: &[&str], params: &Map<String, Value>) -> usize {
    group
        .iter()
        .filter(|name| params.contains_key(**name))
        .count()
}

fn validate_level(
    spec: &Spec,
    params: &mut Map<String, Value>,
    context: &[String],
    st: &mut State,
) {
    resolve_aliases(spec, params, st);
    collect_level_no_log(spec, params, st);
    // AnsibleModule looks for no_log values in suboptions before it checks
    // types, and stops at the first one that is not a dict: that message
    // comes first.
    if context.is_empty() {
        if let Err(e) = sub_options_shape(spec, params) {
            st.errors.push(e);
        }
    }
    note_unsupported(spec, params, context, st);
    check_mutually_exclusive(spec, params, context, st);
    apply_defaults(spec, params);
    check_required(spec, params, context, st);
    coerce_options(spec, params, context, st);
    check_choices(spec, params, context, st);
    check_required_groups(spec, params, context, st);
    check_required_if(spec, params, context, st);
    for opt in &spec.options {
        params.entry(opt.name.to_string()).or_insert(Value::Null);
    }
    validate_sub_options(spec, params, context, st);
}

/// Aliases: the alias wins when both are given.
fn resolve_aliases(spec: &Spec, params: &mut Map<String, Value>, st: &mut State) {
    for opt in &spec.options {
        for alias in &opt.aliases {
            if let Some(value) = params.get(*alias).cloned() {
                if params.contains_key(opt.name) {
                    st.warnings.push(format!(
                        "Both option {} and its alias {} are set.",
                        opt.name, alias
                    ));
                }
                params.insert(opt.name.to_string(), value);
            }
        }
    }
}

fn collect_level_no_log(spec: &Spec, params: &Map<String, Value>, st: &mut State) {
    for opt in &spec.options {
        if opt.no_log {
            if let Some(value) = params.get(opt.name).or(opt.default.as_ref()) {
                collect_no_log(value, &mut st.no_log_values);
            }
        }
    }
}

fn note_unsupported(spec: &Spec, params: &Map<String, Value>, context: &[String], st: &mut State) {
    let known = |key: &str| {
        spec.options
            .iter()
            .any(|o| o.name == key || o.aliases.contains(&key))
    };
    let prefix = context.join(".");
    for key in params.keys() {
        if !known(key) {
            let name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            st.unsupported.push((name, supported_string(spec)));
        }
    }
}

fn check_mutually_exclusive(
    spec: &Spec,
    params: &Map<String, Value>,
    context: &[String],
    st: &mut State,
) {
    let clashes: Vec<String> = spec
        .mutually_exclusive
        .iter()
        .filter(|group| count_present(group, params) > 1)
        .map(|group| group.join("|"))
        .collect();
    if !clashes.is_empty() {
        st.errors.push(format!(
            "parameters are mutually exclusive: {}{}",
            clashes.join(", "),
            suffix(context)
        ));
    }
}

fn apply_defaults(spec: &Spec, params: &mut Map<String, Value>) {
    for opt in &spec.options {
        if let Some(default) = &opt.default {
            if !default.is_null() && !params.contains_key(opt.name) {
                params.insert(opt.name.to_string(), default.clone());
            }
        }
    }
}

fn check_required(spec: &Spec, params: &Map<String, Value>, context: &[String], st: &mut State) {
    let mut missing: Vec<&str> = spec
        .options
        .iter()
        .filter(|o| o.required && !params.contains_key(o.name))
        .map(|o| o.name)
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        st.errors.push(format!(
            "missing required arguments: {}{}",
            missing.join(", "),
            suffix(context)
        ));
    }
}

/// Types and `elements`: each given value is replaced by its coerced form.
fn coerce_options(
    spec: &Spec,
    params: &mut Map<String, Value>,
    context: &[String],
    st: &mut State,
) {
    for opt in &spec.options {
        let Some(value) = params.get(opt.name) else {
            continue;
        };
        let has_default = opt.default.as_ref().is_some_and(|d| !d.is_null());
        if value.is_null() && !opt.required && !has_default {
            continue;
        }
        match coerce(opt.ty, value) {
            Ok(mut coerced) => {
                if let (Some(element_ty), Value::Array(items)) = (opt.elements, &mut coerced) {
                    coerce_elements(opt.name, element_ty, items, context, st);
                }
                params.insert(opt.name.to_string(), coerced);
            }
            Err(err) => {
                let mut msg = format!("argument '{}' is of type {}", opt.name, py_type_name(value));
                if !context.is_empty() {
                    msg.push_str(&format!(" found in '{}'.", context.join(" -> ")));
                }
                msg.push_str(&format!(
                    " and we were unable to convert to {}: {}",
                    opt.ty.name(),
                    err
                ));
                st.errors.push(msg);
            }
        }
    }
}

/// Coerces the elements of a list in place, up to the first that fails.
fn coerce_elements(
    name: &str,
    element_ty: Type,
    items: &mut [Value],
    context: &[String],
    st: &mut State,
) {
    for item in items.iter_mut() {
        match coerce(element_ty, item) {
            Ok(converted) => *item = converted,
            Err(err) => {
                let mut msg = format!("Elements value for option '{name}'");
                if !context.is_empty() {
                    msg.push_str(&format!(" found in '{}'", context.join(" -> ")));
                }
                msg.push_str(&format!(
                    " is of type {} and we were unable to convert to {}: {}",
                    py_type_name(item),
                    element_ty.name(),
                    err
                ));
                st.errors.push(msg);
                break;
            }
        }
    }
}

fn check_choices(spec: &Spec, params: &Map<String, Value>, context: &[String], st: &mut State) {
    for opt in &spec.options {
        if opt.choices.is_empty() {
            continue;
        }
        let Some(value) = params.get(opt.name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let choices_str = opt
            .choices
            .iter()
            .map(py_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Value::Array(items) = value {
            let unknown: Vec<String> = items
                .iter()
                .filter(|v| !opt.choices.contains(v))
                .map(py_str)
                .collect();
            if !unknown.is_empty() {
                st.errors.push(format!(
                    "value of {} must be one or more of: {}. Got no match for: {}{}",
                    opt.name,
                    choices_str,
                    unknown.join(", "),
                    suffix(context)
                ));
            }
        } else if !opt.choices.contains(value) && !choice_matches_boolean_text(value, &opt.choices)
        {
            st.errors.push(format!(
                "value of {} must be one of: {}, got: {}{}",
                opt.name,
                choices_str,
                py_str(value),
                suffix(context)
            ));
        }
    }
}

/// `required_together` and `required_one_of`.
fn check_required_groups(
    spec: &Spec,
    params: &Map<String, Value>,
    context: &[String],
    st: &mut State,
) {
    for group in &spec.required_together {
        let count = count_present(group, params);
        if count != 0 && count != group.len() {
            st.errors.push(format!(
                "parameters are required together: {}{}",
                group.join(", "),
                suffix(context)
            ));
        }
    }
    for group in &spec.required_one_of {
        if count_present(group, params) == 0 {
            st.errors.push(format!(
                "one of the following is required: {}{}",
                group.join(", "),
                suffix(context)
            ));
        }
    }
}

fn check_required_if(spec: &Spec, params: &Map<String, Value>, context: &[String], st: &mut State) {
    for rule in &spec.required_if {
        if params.get(rule.key) != Some(&rule.value) {
            continue;
        }
        let missing: Vec<&str> = rule
            .requirements
            .iter()
            .copied()
            .filter(|r| !params.contains_key(*r))
            .collect();
        let threshold = if rule.any { rule.requirements.len() } else { 1 };
        if !missing.is_empty() && missing.len() >= threshold {
            st.errors.push(format!(
                "{} is {} but {} of the following are missing: {}{}",
                rule.key,
                py_str(&rule.value),
                if rule.any { "any" } else { "all" },
                missing.join(", "),
                suffix(context)
            ));
        }
    }
}

/// Validates each option with sub-options against its own spec: a dict,
/// or each element of a list of dicts.
fn validate_sub_options(
    spec: &Spec,
    params: &mut Map<String, Value>,
    context: &[String],
    st: &mut State,
) {
    for opt in &spec.options {
        let Some(sub) = &opt.options else { continue };
        let mut sub_context = context.to_vec();
        sub_context.push(opt.name.to_string());
        let Some(value) = params.get_mut(opt.name) else {
            continue;
        };
        match value {
            Value::Null => {}
            Value::Object(map) => validate_level(sub, map, &sub_context, st),
            Value::Array(items) => validate_sub_list(sub, opt.name, items, &sub_context, st),
            other => st.errors.push(format!(
                "value of '{}' must be of type dict or list of dicts, got {}",
                opt.name,
                py_type_name(other)
            )),
        }
    }
}

/// A list of sub-option dicts; `k=v` strings are read as dicts.
fn validate_sub_list(
    sub: &Spec,
    name: &str,
    items: &mut [Value],
    sub_context: &[String],
    st: &mut State,
) {
    for item in items.iter_mut() {
        if let Value::String(text) = item {
            match parse_kv_dict(text) {
                Ok(map) => *item = Value::Object(map),
                Err(err) => {
                    st.errors.push(err);
                    continue;
                }
            }
        }
        match item {
            Value::Object(map) => validate_level(sub, map, sub_context, st),
            other => st.errors.push(format!(
                "Value '{}' in the sub parameter field '{}' must be a dict, not '{}'",
                py_str(other),
                name,
                py_type_name(other)
            )),
        }
    }
}

fn choice_matches_boolean_text(value: &Value, choices: &[Value]) -> bool {
    // Python maps the strings 'True'/'False' onto a single boolean-like choice.
    let Value::String(text) = value else {
        return false;
    };
    let lowered = text.to_ascii_lowercase();
    let group: &[&str] = match lowered.as_str() {
        "true" => &["y", "yes", "on", "1", "true", "t"],
        "false" => &["n", "no", "off", "0", "false", "f"],
        _ => return false,
    };
    choices
        .iter()
        .filter(
            |c| matches!(c, Value::String(s) if group.contains(&s.to_ascii_lowercase().as_str())),
        )
        .count()
        == 1
}

fn collect_no_log(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(py_str(&Value::Number(n.clone()))),
        Value::Array(items) => items.iter().for_each(|v| collect_no_log(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_no_log(v, out)),
        _ => {}
    }
}

/// Coerces a value to a type with Python's rules; the error is the text
/// Python's checker raises.
pub fn coerce(ty: Type, value: &Value) -> Result<Value, String> {
    match ty {
        Type::Raw => Ok(value.clone()),
        Type::Str => Ok(Value::String(match value {
            Value::Null => String::new(),
            other => py_str(other),
        })),
        Type::Path => Ok(match value {
            Value::Null => Value::Null,
            other => Value::String(expand_path(&py_str(other))),
        }),
        Type::Bool => coerce_bool(value),
        Type::Int => coerce_int(value),
        Type::Float => coerce_float(value),
        Type::List => match value {
            Value::Array(_) => Ok(value.clone()),
            Value::String(s) => Ok(Value::Array(
                s.split(',').map(|p| Value::String(p.to_string())).collect(),
            )),
            Value::Number(_) => Ok(Value::Array(vec![Value::String(py_str(value))])),
            other => Err(format!(
                "<class '{}'> cannot be converted to a list",
                py_type_name(other)
            )),
        },
        Type::Dict => match value {
            Value::Object(_) => Ok(value.clone()),
            Value::String(s) => coerce_dict_str(s),
            other => Err(format!(
                "<class '{}'> cannot be converted to a dict",
                py_type_name(other)
            )),
        },
    }
}

const BOOLEANS_TRUE: [&str; 6] = ["y", "yes", "on", "1", "true", "t"];
const BOOLEANS_FALSE: [&str; 6] = ["n", "no", "off", "0", "false", "f"];

fn coerce_bool(value: &Value) -> Result<Value, String> {
    let text = match value {
        Value::Bool(b) => return Ok(Value::Bool(*b)),
        Value::String(s) => s.trim().to_lowercase(),
        Value::Number(n) if n.as_f64() == Some(1.0) => return Ok(Value::Bool(true)),
        Value::Number(n) if n.as_f64() == Some(0.0) => return Ok(Value::Bool(false)),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(format!(
                "<class '{}'> cannot be converted to a bool",
                py_type_name(other)
            ))
        }
    };
    if BOOLEANS_TRUE.contains(&text.as_str()) {
        Ok(Value::Bool(true))
    } else if BOOLEANS_FALSE.contains(&text.as_str()) {
        Ok(Value::Bool(false))
    } else {
        Err(format!(
            "The value '{}' is not a valid boolean. Valid booleans include: 'y', 'yes', 'on', '1', 'true', 't', 1, 1.0, 'n', 'no', 'off', '0', 'false', 'f', 0, 0.0",
            py_str(value)
        ))
    }
}

fn coerce_int(value: &Value) -> Result<Value, String> {
    let fail = || format!("\"{}\" cannot be converted to an int", py_repr(value));
    match value {
        Value::Bool(_) => Ok(value.clone()),
        Value::Number(n) if is_integer(n) => Ok(value.clone()),
        Value::Number(n) => {
            let f: f64 = n.to_string().parse().map_err(|_| fail())?;
            float_to_int(f).ok_or_else(fail)
        }
        Value::String(s) => parse_decimal_int(s).ok_or_else(fail),
        _ => Err(fail()),
    }
}

fn float_to_int(f: f64) -> Option<Value> {
    if f.is_finite() && f == f.trunc() && f.abs() < 9.007_199_254_740_992e15 {
        Some(Value::Number(Number::from(f as i64)))
    } else {
        None
    }
}

/// Python's `Decimal(text)` followed by the integrality check.
fn parse_decimal_int(text: &str) -> Option<Value> {
    let t = text.trim().replace('_', "");
    if t.is_empty() {
        return None;
    }
    let digits = t.trim_start_matches(['+', '-']);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // JSON refuses leading zeros and `-0`; Decimal reads `007` as 7.
        let sign = t.get(..t.len() - digits.len()).unwrap_or("");
        let negative = match sign {
            "" | "+" => false,
            "-" => true,
            _ => return None,
        };
        let magnitude = digits.trim_start_matches('0');
        let canonical = match (magnitude.is_empty(), negative) {
            (true, _) => "0".to_string(),
            (false, true) => format!("-{magnitude}"),
            (false, false) => magnitude.to_string(),
        };
        return serde_json::from_str::<Number>(&canonical)
            .ok()
            .map(Value::Number);
    }
    let looks_decimal = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !looks_decimal {
        return None;
    }
    t.parse::<f64>().ok().and_then(float_to_int)
}

fn coerce_float(value: &Value) -> Result<Value, String> {
    let fail = || {
        format!(
            "<class '{}'> cannot be converted to a float",
            py_type_name(value)
        )
    };
    let f = match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().ok_or_else(fail)?,
        Value::String(s) => parse_py_float(s).ok_or_else(fail)?,
        _ => return Err(fail()),
    };
    if f.is_finite() {
        serde_json::from_str::<Number>(&py_float(f).replace("e+", "e"))
            .map(Value::Number)
            .map_err(|_| fail())
    } else {
        // JSON has no infinities; the value travels as Python would print it.
        Ok(Value::String(py_float(f)))
    }
}

fn parse_py_float(text: &str) -> Option<f64> {
    let t = text.trim().replace('_', "");
    match t.to_ascii_lowercase().trim_start_matches('+') {
        "nan" | "-nan" => Some(f64::NAN),
        "inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok(),
    }
}

/// `_list_no_log_values`' walk over suboptions: each value of an option
/// with suboptions (a dict, or a list of dicts) must be a dict or a string
/// that parses as one.
fn sub_options_shape(spec: &Spec, params: &Map<String, Value>) -> Result<(), String> {
    for opt in &spec.options {
        let Some(sub) = &opt.options else { continue };
        let wanted = match opt.ty {
            Type::Dict => "dict",
            Type::List if opt.elements == Some(Type::Dict) => "list",
            _ => continue,
        };
        let items = match params.get(opt.name) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items.clone(),
            Some(other) => vec![other.clone()],
        };
        for item in items {
            let item = match item {
                Value::String(s) => coerce_dict_str(&s)?,
                other => other,
            };
            match &item {
                Value::Object(map) => sub_options_shape(sub, map)?,
                other => {
                    return Err(format!(
                        "Value '{}' in the sub parameter field '{}' must be a {wanted}, not '{}'",
                        py_repr(other),
                        opt.name,
                        py_type_name(other)
                    ))
                }
            }
        }
    }
    Ok(())
}

fn coerce_dict_str(s: &str) -> Result<Value, String> {
    if s.starts_with('{') {
        return serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| "unable to evaluate string as dictionary".to_string());
    }
    if s.contains('=') {
        return parse_kv_dict(s).map(Value::Object);
    }
    Err("dictionary requested, could not parse JSON or key=value".to_string())
}

/// Parses `k1=v1, k2="v 2"` as `check_type_dict` does.
fn parse_kv_dict(s: &str) -> Result<Map<String, Value>, String> {
    if !s.contains('=') {
        return Err("dictionary requested, could not parse JSON or key=value".to_string());
    }
    let bad = || "unable to evaluate string in the \"key=value\" format as dictionary".to_string();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => match chars.next() {
                Some(next) => field.push(next),
                None => return Err(bad()),
            },
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => field.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, ',' | ' ') => {
                if !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                }
            }
            (None, c) => field.push(c),
        }
    }
    if quote.is_some() {
        return Err(bad());
    }
    if !field.is_empty() {
        fields.push(field);
    }
    let mut map = Map::new();
    for f in fields {
        let (k, v) = f.split_once('=').ok_or_else(bad)?;
        map.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(map)
}

fn expand_path(path: &str) -> String {
    let mut expanded = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(pos) = rest.find('$') {
        expanded.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => ("", after),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match std::env::var(name) {
            Ok(value) if !name.is_empty() => expanded.push_str(&value),
            _ => {
                expanded.push('$');
                expanded.push_str(&after[..after.len() - tail.len()]);
            }
        }
        rest = tail;
    }
    expanded.push_str(rest);
    if expanded == "~" || expanded.starts_with("~/") {
        if let Ok(home) = std::env::var("HOME") {
            return format!("{home}{}", &expanded[1..]);
        }
    }
    expanded
}

#[cfg(test)]
mod tests;
