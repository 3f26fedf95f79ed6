//! `POST …/video-synthesis`: the create (submit) endpoints.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ok_json};
use super::rules::{self, Endpoint};
use super::tasks::{FAIL_MARKER, Task};
use super::{auth, oss};
use crate::faults::FaultTarget;
use crate::state::{Shared, lock};
use crate::{RecordedRequest, ids};

/// Largest submit body read (base64 data URIs can be big).
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(crate) async fn video_generation(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    submit(shared, Endpoint::VideoGeneration, headers, uri, body).await
}

pub(crate) async fn image2video(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    submit(shared, Endpoint::Image2Video, headers, uri, body).await
}

/// Every submit request is recorded (rejected ones with `task_id: None`), so
/// `requests().len() == stats().create_attempts`.
async fn submit(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    shared.bump(|s| s.create_attempts += 1);
    let raw = axum::body::to_bytes(body, MAX_BODY).await;
    let parsed: Option<Value> = raw
        .as_ref()
        .ok()
        .and_then(|b| serde_json::from_slice(b).ok());
    let recorded_body = match (&parsed, &raw) {
        (Some(v), _) => v.clone(),
        (None, Ok(b)) if !b.is_empty() => Value::String(String::from_utf8_lossy(b).into_owned()),
        _ => Value::Null,
    };
    let mut record = RecordedRequest {
        path: uri.path().to_owned(),
        headers: redacted_headers(&headers),
        body: recorded_body,
        task_id: None,
    };
    let outcome = create(&shared, endpoint, &headers, raw.is_ok(), parsed.as_ref());
    match outcome {
        Ok(task_id) => {
            record.task_id = Some(task_id.clone());
            shared.record_request(record);
            let delay = shared.config().submit_delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            ok_json(json!({"output": {"task_id": task_id, "task_status": "PENDING"}}))
        }
        Err(err) => {
            shared.record_request(record);
            err.into_response()
        }
    }
}

fn redacted_headers(headers: &HeaderMap) -> Vec<(String, String)> {
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

fn header_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Validate and create the task; returns its id.
fn create(
    shared: &Shared,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body_read: bool,
    body: Option<&Value>,
) -> Result<String, ApiError> {
    auth::gate(shared, headers, FaultTarget::Submit, false)?;
    if !header_is(headers, "x-dashscope-async", "enable") {
        shared.bump(|s| s.async_header_missing += 1);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "current user api does not support synchronous calls",
        ));
    }
    if !body_read {
        return Err(ApiError::invalid(
            "The request body is too large or could not be read.",
        ));
    }
    let Some(Value::Object(body)) = body else {
        return Err(ApiError::invalid(
            "The request body must be a JSON object with `model` and `input`.",
        ));
    };
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.as_str(),
        _ => return Err(ApiError::invalid("Field required: model")),
    };
    let family = rules::lookup(model).ok_or_else(|| ApiError::invalid("Model not exist."))?;
    if family.endpoint() != endpoint {
        return Err(ApiError::invalid("url error, please check url!"));
    }
    let input = match body.get("input") {
        Some(Value::Object(input)) => input,
        None | Some(Value::Null) => return Err(ApiError::invalid("Field required: input")),
        Some(_) => return Err(ApiError::invalid("input must be an object.")),
    };
    let empty = Map::new();
    let params = match body.get("parameters") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(ApiError::invalid("parameters must be an object.")),
    };
    let accepted = rules::validate(model, family, input, params)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message))?;

    // oss:// inputs need the resolve header and a key uploaded here for this model.
    let mut oss_urls = Vec::new();
    input
        .values()
        .for_each(|v| collect_oss_urls(v, &mut oss_urls));
    if !oss_urls.is_empty() {
        if !header_is(headers, "x-dashscope-ossresourceresolve", "enable") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                rules::BAD_URL_CODE,
                rules::BAD_URL_MESSAGE,
            ));
        }
        let uploads = lock(&shared.dashscope.uploads);
        for url in &oss_urls {
            let key = url.trim_start_matches("oss://");
            if !uploads.has_for_model(key, model) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter.DataInspection",
                    oss::DATA_INSPECTION_MESSAGE,
                ));
            }
        }
    }

    let config = shared.config();
    let task_id = ids::uuid_v4();
    let fail = accepted
        .prompt
        .as_deref()
        .is_some_and(|p| p.contains(FAIL_MARKER));
    let task = Task {
        id: task_id.clone(),
        model: model.to_owned(),
        accepted,
        fail,
        created: Instant::now(),
        submit_time: Utc::now(),
        pending: config.pending,
        running: config.running,
        video_size: config.video_size,
        url_validity: config.url_validity,
        canceled_at: None,
        signature: ids::token(28),
    };
    lock(&shared.dashscope.tasks).insert(task);
    shared.bump(|s| s.creates += 1);
    tracing::debug!(task_id, model, "dashscope task created");
    Ok(task_id)
}

fn collect_oss_urls(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.starts_with("oss://") => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_oss_urls(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_oss_urls(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_oss_urls() {
        let mut out = Vec::new();
        collect_oss_urls(
            &json!({"prompt":"mentions oss://x","media":[{"type":"first_frame","url":"oss://dashscope-instant/a/b.png"}],"img_url":"https://x"}),
            &mut out,
        );
        assert_eq!(out, ["oss://dashscope-instant/a/b.png"]);
    }
}
