//! A skills.video request checked against its endpoint's own schema before anything is sent:
//! values take the schema's types, fields the schema does not define are refused (seed 003's
//! rule), and local files in file fields are found for the multipart upload.

use serde_json::{Map, Value, json};

use kino_core::{JobRequest, LocalInput, Plan, ValidationError};

use super::catalog::{Endpoint, Kind};
use crate::media_input::{MediaKind, MediaValue, check_local, classify};

/// What a local file stands in for while the schema is checked: a valid URI.
const FILE_STAND_IN: &str = "https://upload.invalid/local-file";

fn properties(schema: &Value) -> Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The first non-null type a property declares (`"integer"`, or `["integer","null"]`), looking
/// through anyOf/oneOf alternatives too.
fn type_of(prop: &Value) -> Option<String> {
    match prop.get("type") {
        Some(Value::String(t)) => return Some(t.clone()),
        Some(Value::Array(ts)) => {
            return ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .map(str::to_string);
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        for alt in prop
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = type_of(alt).filter(|t| t != "null") {
                return Some(t);
            }
            if let Some(c) = alt.get("const") {
                return Some(match c {
                    Value::Number(n) if n.is_i64() => "integer".into(),
                    Value::Number(_) => "number".into(),
                    Value::Bool(_) => "boolean".into(),
                    _ => "string".into(),
                });
            }
        }
    }
    None
}

/// A file field: a URI or binary string, or an array of them (also as an anyOf/oneOf
/// alternative, as OpenAPI 3.1 generators write optional fields).
fn is_file_field(prop: &Value) -> bool {
    let mut alternatives = ["anyOf", "oneOf"]
        .iter()
        .flat_map(|k| prop.get(*k).and_then(Value::as_array).into_iter().flatten());
    alternatives.any(is_plain_file_field) || is_plain_file_field(prop)
}

fn is_plain_file_field(prop: &Value) -> bool {
    let fmt = |p: &Value| {
        matches!(
            p.get("format").and_then(Value::as_str),
            Some("uri" | "binary" | "uri-reference")
        )
    };
    match type_of(prop).as_deref() {
        Some("array") => prop.get("items").is_some_and(fmt),
        Some("string") => fmt(prop),
        _ => false,
    }
}

/// Gives a value the type its schema declares (`--param n=2` arrives as a number, `--param
/// seed=007` as a string: both become what the schema says).
fn coerce(field: &str, value: Value, prop: &Value) -> Result<Value, ValidationError> {
    let bad = |want: &str| ValidationError::new(field, format!("must be {want} (got {value})"));
    Ok(match (type_of(prop).as_deref(), &value) {
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => value,
        (Some("integer"), Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 => json!(f as i64),
            _ => return Err(bad("a whole number")),
        },
        (Some("integer"), Value::String(s)) => {
            json!(s.trim().parse::<i64>().map_err(|_| bad("a whole number"))?)
        }
        (Some("number"), Value::String(s)) => {
            json!(s.trim().parse::<f64>().map_err(|_| bad("a number"))?)
        }
        (Some("boolean"), Value::String(s)) => match s.as_str() {
            "true" => json!(true),
            "false" => json!(false),
            _ => return Err(bad("true or false")),
        },
        (Some("string"), Value::Number(_) | Value::Bool(_)) => Value::String(value.to_string()),
        (Some("array"), Value::String(s)) => {
            let items: Vec<Value> = match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(a)) => a,
                _ => s
                    .split(',')
                    .map(|p| Value::String(p.trim().to_string()))
                    .filter(|v| v != "")
                    .collect(),
            };
            let item_schema = prop.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(
                items
                    .into_iter()
                    .map(|i| coerce(field, i, &item_schema))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Some("array"), Value::Array(items)) => {
            let item_schema = prop.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(
                items
                    .iter()
                    .cloned()
                    .map(|i| coerce(field, i, &item_schema))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => value,
    })
}

/// Checks the request against the endpoint's schema; returns the plan with local files to send.
pub fn plan(endpoint: &Endpoint, request: &JobRequest) -> Result<Plan, ValidationError> {
    let props = properties(&endpoint.schema);
    let mut fields = Map::new();
    for (key, value) in &request.fields {
        // `model`/`mode` select the endpoint unless the schema defines them (Veo has a `mode`).
        if value.is_null() || ((key == "model" || key == "mode") && !props.contains_key(key)) {
            continue;
        }
        let Some(prop) = props.get(key) else {
            let mut known: Vec<&str> = props.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(ValidationError::new(
                key.as_str(),
                format!(
                    "is not a field of {} (its schema defines: {})",
                    endpoint.model,
                    known.join(", ")
                ),
            )
            .with_hint(format!(
                "`kino schema skillsvideo {}` shows the schema",
                endpoint.model
            )));
        };
        fields.insert(key.clone(), coerce(key, value.clone(), prop)?);
    }
    let kinds = [MediaKind::Image, MediaKind::Video, MediaKind::Audio];
    let mut locals: Vec<LocalInput> = Vec::new();
    let mut checked = fields.clone();
    for (key, value) in &fields {
        if !props.get(key).is_some_and(is_file_field) {
            continue;
        }
        let mut check = |pointer: String, v: &str| -> Result<bool, ValidationError> {
            match classify(v) {
                MediaValue::Local(path) => {
                    locals.push(check_local(key, &pointer, &path, &kinds, 200 << 20)?);
                    Ok(true)
                }
                MediaValue::Remote(_) => Ok(false),
            }
        };
        match value {
            Value::String(s) if check(format!("/{key}"), s)? => {
                checked.insert(key.clone(), json!(FILE_STAND_IN));
            }
            Value::Array(items) => {
                let mut shown = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let local = item
                        .as_str()
                        .map(|s| check(format!("/{key}/{i}"), s))
                        .transpose()?
                        .unwrap_or(false);
                    shown.push(if local {
                        json!(FILE_STAND_IN)
                    } else {
                        item.clone()
                    });
                }
                checked.insert(key.clone(), Value::Array(shown));
            }
            _ => {}
        }
    }
    if !locals.is_empty() && !endpoint.multipart {
        return Err(ValidationError::new(
            locals[0].pointer.trim_start_matches('/'),
            "this endpoint takes URLs only (no file upload)",
        ));
    }
    validate(endpoint, &Value::Object(checked))?;
    let mode = match endpoint.kind {
        Kind::Image => "image",
        Kind::Video => "video",
        Kind::Other => "generate",
    };
    Ok(Plan {
        mode: mode.into(),
        model: endpoint.model.clone(),
        request: fields,
        local_inputs: locals,
    })
}

/// The schema's own verdict, first error first, naming the field.
fn validate(endpoint: &Endpoint, instance: &Value) -> Result<(), ValidationError> {
    // OpenAPI 3.0's `nullable` is not JSON Schema; absent values are simply left out here.
    let validator = jsonschema::validator_for(&endpoint.schema).map_err(|e| {
        ValidationError::new(
            "model",
            format!("{}'s schema cannot be used: {e}", endpoint.model),
        )
    })?;
    let Some(err) = validator.iter_errors(instance).next() else {
        return Ok(());
    };
    let path = err.instance_path().to_string();
    let field = match err.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            property.as_str().unwrap_or("?").to_string()
        }
        jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
            unexpected.first().cloned().unwrap_or_else(|| "?".into())
        }
        _ => path.trim_start_matches('/').replace('/', "."),
    };
    let field = if field.is_empty() {
        "request".to_string()
    } else {
        field
    };
    Err(
        ValidationError::new(field, err.to_string()).with_hint(format!(
            "`kino schema skillsvideo {}` shows the schema",
            endpoint.model
        )),
    )
}

/// A request to start from: the required fields, and the fields with defaults.
pub fn template(endpoint: &Endpoint) -> Value {
    let props = properties(&endpoint.schema);
    let required: Vec<&str> = endpoint
        .schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (key, prop) in &props {
        if let Some(d) = prop.get("default") {
            out.insert(key.clone(), d.clone());
        } else if required.contains(&key.as_str()) {
            let placeholder = match type_of(prop).as_deref() {
                Some("integer") | Some("number") => json!(0),
                Some("boolean") => json!(false),
                Some("array") => json!([]),
                _ => prop
                    .get("enum")
                    .and_then(|e| e.get(0))
                    .cloned()
                    .unwrap_or_else(|| json!(format!("<{key}>"))),
            };
            out.insert(key.clone(), placeholder);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            model: "google/veo-3.1".into(),
            kind: Kind::Video,
            schema: json!({
                "type": "object", "additionalProperties": false, "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string"},
                    "duration": {"type": "integer", "enum": [4, 6, 8], "default": 8},
                    "generate_audio": {"type": "boolean", "default": true},
                    "seed": {"type": ["integer", "null"]},
                    "aspect_ratio": {"anyOf": [{"const": "16:9"}, {"const": "9:16"}]},
                    "reference_image_urls": {"type": "array", "items": {"type": "string", "format": "uri"}}
                }
            }),
            multipart: true,
            sse: true,
            summary: None,
        }
    }

    fn req(v: Value) -> JobRequest {
        JobRequest {
            mode: None,
            model: None,
            fields: v.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn params_take_the_schemas_types() {
        let p = plan(
            &endpoint(),
            &req(
                json!({"prompt": 42, "duration": "6", "generate_audio": "false", "seed": "7", "reference_image_urls": "https://a/x.png,https://b/y.png"}),
            ),
        );
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.request["prompt"], "42");
        assert_eq!(p.request["duration"], 6);
        assert_eq!(p.request["generate_audio"], false);
        assert_eq!(p.request["seed"], 7);
        assert_eq!(
            p.request["reference_image_urls"],
            json!(["https://a/x.png", "https://b/y.png"])
        );
        assert_eq!(p.mode, "video");
    }

    #[test]
    fn unknown_fields_wrong_enums_and_missing_required_fields_name_the_field() {
        for (v, field) in [
            (json!({"prompt": "p", "colour": "red"}), "`colour`"),
            (json!({"prompt": "p", "duration": 5}), "`duration`"),
            (json!({"duration": 8}), "`prompt`"),
            (
                json!({"prompt": "p", "aspect_ratio": "1:1"}),
                "`aspect_ratio`",
            ),
            (json!({"prompt": "p", "duration": "long"}), "`duration`"),
        ] {
            let e = plan(&endpoint(), &req(v.clone()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(field), "{v}: {e}");
        }
    }

    #[test]
    fn local_files_in_file_fields_are_found() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let png = dir.path().join("a.png");
        std::fs::write(
            &png,
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13],
        )?;
        let p = plan(
            &endpoint(),
            &req(
                json!({"prompt": "p", "reference_image_urls": [png.display().to_string(), "https://x/y.png"]}),
            ),
        );
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.local_inputs.len(), 1);
        assert_eq!(p.local_inputs[0].pointer, "/reference_image_urls/0");
        Ok(())
    }

    #[test]
    fn templates_hold_required_and_default_fields() {
        assert_eq!(
            template(&endpoint()),
            json!({"prompt": "<prompt>", "duration": 8, "generate_audio": true})
        );
    }
}
