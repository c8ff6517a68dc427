//! Secrets out of every output: the `no_log` values are masked in any value
//! the module prints, as AnsibleModule's `remove_values` masks them. Its own
//! module, so that both the validation (`spec`) and the output (`output`)
//! use it without depending on each other.

use serde_json::Value;

/// What a value that is wholly a secret becomes.
const MASK_WHOLE: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
/// What a secret inside a longer text becomes.
const MASK_PART: &str = "********";

/// Masks every secret anywhere in `value`. Dict keys, booleans and nulls are
/// left alone, as Python's `remove_values` does.
pub fn mask(value: Value, secrets: &[String]) -> Value {
    if secrets.is_empty() {
        return value;
    }
    match value {
        Value::String(s) => Value::String(mask_str(s, secrets)),
        Value::Number(n) => {
            let text = n.to_string();
            if secrets.iter().any(|secret| text.contains(secret.as_str())) {
                Value::String(MASK_WHOLE.to_string())
            } else {
                Value::Number(n)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| mask(v, secrets)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, mask(v, secrets)))
                .collect(),
        ),
        other => other,
    }
}

fn mask_str(s: String, secrets: &[String]) -> String {
    if secrets.contains(&s) {
        return MASK_WHOLE.to_string();
    }
    let mut out = s;
    // Longer secrets first, so that a secret containing another is masked whole.
    let mut ordered: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in ordered {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK_PART);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_whole_and_partial_values_everywhere() {
        let secrets = vec!["hunter2".to_string()];
        let masked = mask(
            json!({"password": "hunter2", "msg": "user hunter2 x", "n": [true, null, "hunter2"], "hunter2": 1}),
            &secrets,
        );
        assert_eq!(
            masked,
            json!({"password": MASK_WHOLE, "msg": "user ******** x", "n": [true, null, MASK_WHOLE], "hunter2": 1})
        );
    }

    #[test]
    fn numbers_containing_a_secret_are_masked() {
        let secrets = vec!["42".to_string()];
        assert_eq!(mask(json!({"a": 1428}), &secrets), json!({"a": MASK_WHOLE}));
    }
}
