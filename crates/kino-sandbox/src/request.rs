//! Reading JSON request bodies and recording create requests for the conversational platforms.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::RecordedRequest;

/// Largest JSON body read.
const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// A request body read as JSON.
#[derive(Debug)]
pub(crate) struct JsonBody {
    /// `false` when the body was too large or broke off.
    pub read_ok: bool,
    /// Whether it was empty (no bytes at all).
    pub empty: bool,
    /// The parsed value, when it was valid JSON.
    pub value: Option<Value>,
    /// What [`RecordedRequest::body`] shows.
    recorded: Value,
}

impl JsonBody {
    /// What [`RecordedRequest::body`] shows for it.
    pub(crate) fn recorded(&self) -> &Value {
        &self.recorded
    }
}

pub(crate) async fn read_json(body: Body) -> JsonBody {
    match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(bytes) => {
            let value: Option<Value> = serde_json::from_slice(&bytes).ok();
            let recorded = match &value {
                Some(v) => v.clone(),
                None if !bytes.is_empty() => {
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }
                None => Value::Null,
            };
            JsonBody {
                read_ok: true,
                empty: bytes.is_empty(),
                value,
                recorded,
            }
        }
        Err(_) => JsonBody {
            read_ok: false,
            empty: false,
            value: None,
            recorded: Value::Null,
        },
    }
}

/// Headers with the `Authorization` value redacted.
pub(crate) fn redacted_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if name == header::AUTHORIZATION {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The record of one create request (`task_id` filled in by the caller on success).
pub(crate) fn record(path: &str, headers: &HeaderMap, body: &JsonBody) -> RecordedRequest {
    RecordedRequest {
        path: path.to_owned(),
        headers: redacted_headers(headers),
        body: body.recorded.clone(),
        task_id: None,
    }
}

/// A trimmed, non-empty string field; `Ok(None)` when absent, `null` or empty.
pub(crate) fn opt_str<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}
