//! The wire body of a submit: the validated flat request split into `input` and `parameters`.

use serde_json::{Map, Value, json};

use kino_core::{Plan, ValidationError};

use super::plan::PARAMETER_KEYS;

/// Builds `{"model", "input", "parameters"}` once every local input has its reference.
pub fn build(plan: &Plan, references: &[(String, String)]) -> Result<Value, ValidationError> {
    let request = plan.with_references(references)?;
    let mut input = Map::new();
    let mut parameters = Map::new();
    for (key, value) in request {
        if let Some(name) = key.strip_prefix("input.") {
            input.insert(name.to_string(), value);
        } else if let Some(name) = key.strip_prefix("parameters.") {
            parameters.insert(name.to_string(), value);
        } else if PARAMETER_KEYS.contains(&key.as_str()) {
            parameters.insert(key, value);
        } else {
            input.insert(key, value);
        }
    }
    let mut body = json!({"model": plan.model, "input": input});
    if !parameters.is_empty() {
        body["parameters"] = Value::Object(parameters);
    }
    Ok(body)
}

/// DashScope resolves `oss://` inputs only when asked to (contracts §1.8 step 3).
pub fn needs_oss_resolve(body: &Value) -> bool {
    match body {
        Value::String(s) => s.starts_with("oss://"),
        Value::Array(items) => items.iter().any(needs_oss_resolve),
        Value::Object(map) => map.values().any(needs_oss_resolve),
        _ => false,
    }
}
