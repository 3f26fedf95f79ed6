//! What the two conversational platforms (Xiaoyunque, LibTV) share: a request is the user's
//! message, sent exactly as written, plus files to attach.

use serde_json::{Map, Value};

use kino_core::{JobRequest, LocalInput, Plan, ValidationError};

use crate::media_input::{MediaKind, MediaValue, check_local, classify};

/// The rules a platform sets for its conversation requests.
pub(crate) struct ConversationRules {
    pub platform: &'static str,
    pub mode: &'static str,
    pub model: &'static str,
    /// Accepted request keys besides `message`/`prompt` and `inputs`.
    pub keys: &'static [&'static str],
    pub kinds: &'static [MediaKind],
    /// Attachments must be smaller than this.
    pub max_bytes: u64,
    /// Whether an attachment may be a URL (LibTV) or must be a local file (Xiaoyunque assets).
    pub remote_inputs: bool,
}

/// Validates a conversation request. The message is kept byte for byte: kino never rewrites,
/// translates, extends or splits what the user wrote.
pub(crate) fn plan(
    rules: &ConversationRules,
    request: &JobRequest,
) -> Result<Plan, ValidationError> {
    let mut fields: Map<String, Value> = request.fields.clone();
    fields.retain(|_, v| !v.is_null());
    fields.remove("model");
    fields.remove("mode");
    if let Some(m) = request.mode.as_deref().filter(|m| *m != rules.mode) {
        return Err(ValidationError::new(
            "mode",
            format!(
                "{} has one mode, `{}` (got `{m}`)",
                rules.platform, rules.mode
            ),
        ));
    }
    let message = match (fields.remove("message"), fields.remove("prompt")) {
        (Some(_), Some(_)) => {
            return Err(ValidationError::new(
                "message",
                "give the message once (message or prompt, not both)",
            ));
        }
        (Some(m), None) | (None, Some(m)) => m,
        (None, None) => {
            return Err(ValidationError::new(
                "message",
                format!("{} needs a message: what you want made", rules.platform),
            ));
        }
    };
    let Value::String(text) = message else {
        return Err(ValidationError::new("message", "must be a string"));
    };
    if text.trim().is_empty() {
        return Err(ValidationError::new("message", "must not be empty"));
    }
    for key in fields.keys() {
        if key != "inputs" && !rules.keys.contains(&key.as_str()) {
            let mut accepted = vec!["message", "inputs"];
            accepted.extend(rules.keys);
            return Err(ValidationError::new(
                key.as_str(),
                format!(
                    "is not a field of {} requests (accepted: {})",
                    rules.platform,
                    accepted.join(", ")
                ),
            ));
        }
    }
    let inputs: Vec<String> = match fields.get("inputs") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ValidationError::new("inputs", "must be a list of file paths"))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => vec![s.clone()],
        Some(_) => {
            return Err(ValidationError::new(
                "inputs",
                "must be a list of file paths",
            ));
        }
    };
    let mut locals: Vec<LocalInput> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match classify(input) {
            MediaValue::Local(path) => {
                let local = upload_input(rules, &path).map_err(|e| ValidationError {
                    field: "inputs".into(),
                    ..e
                })?;
                locals.push(LocalInput {
                    pointer: format!("/inputs/{i}"),
                    ..local
                });
            }
            MediaValue::Remote(url) if rules.remote_inputs => {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    return Err(ValidationError::new(
                        "inputs",
                        format!("{url} is not an http(s) URL"),
                    ));
                }
            }
            MediaValue::Remote(url) => {
                return Err(ValidationError::new(
                    "inputs",
                    format!(
                        "{} takes local files (uploaded as assets), not URLs ({url})",
                        rules.platform
                    ),
                )
                .with_hint("download the file first, or pass an uploaded asset with --asset ID"));
            }
        }
    }
    if !inputs.is_empty() {
        fields.insert("inputs".into(), Value::from(inputs));
    }
    fields.insert("message".into(), Value::String(text));
    Ok(Plan {
        mode: rules.mode.into(),
        model: rules.model.into(),
        request: fields,
        local_inputs: locals,
    })
}

/// A file to attach: of a kind the platform takes and smaller than its limit.
pub(crate) fn upload_input(
    rules: &ConversationRules,
    path: &std::path::Path,
) -> Result<LocalInput, ValidationError> {
    let local = check_local("file", "", path, rules.kinds, rules.max_bytes)?;
    if local.bytes >= rules.max_bytes {
        return Err(ValidationError::new(
            "file",
            format!(
                "{} must be smaller than {} MB on {}",
                path.display(),
                rules.max_bytes >> 20,
                rules.platform
            ),
        ));
    }
    Ok(local)
}

/// A conversation request ready to send: the message, the other fields, and the attachments
/// (uploaded references and URLs).
pub(crate) struct Resolved {
    pub message: String,
    pub rest: Map<String, Value>,
    pub attachments: Vec<String>,
}

/// The request with each uploaded input replaced by its reference.
pub(crate) fn resolved(
    plan: &Plan,
    references: &[(String, String)],
) -> Result<Resolved, ValidationError> {
    let mut fields = plan.with_references(references)?;
    let message = fields
        .remove("message")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let inputs: Vec<String> = fields
        .remove("inputs")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    Ok(Resolved {
        message,
        rest: fields,
        attachments: inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: ConversationRules = ConversationRules {
        platform: "Test",
        mode: "agent",
        model: "m",
        keys: &["thread_id"],
        kinds: &[MediaKind::Image, MediaKind::Video],
        max_bytes: 200 << 20,
        remote_inputs: false,
    };

    fn req(v: Value) -> JobRequest {
        JobRequest {
            mode: None,
            model: None,
            fields: v.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn the_message_is_kept_exactly() {
        let text = "  做个小猫视频，\n 要 可爱!  ";
        let p = plan(&RULES, &req(json!({"prompt": text}))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.request["message"], text);
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (v, field) in [
            (json!({"message": "   "}), "`message`"),
            (json!({}), "`message`"),
            (json!({"message": "x", "colour": "red"}), "`colour`"),
            (
                json!({"message": "x", "inputs": ["https://e/a.png"]}),
                "`inputs`",
            ),
            (
                json!({"message": "x", "inputs": ["/definitely/missing.png"]}),
                "`inputs`",
            ),
        ] {
            let e = plan(&RULES, &req(v.clone()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(field), "{v}: {e}");
        }
    }
}
