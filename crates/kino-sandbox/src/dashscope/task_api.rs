//! `GET /tasks/{id}`, `GET /tasks` (list) and `POST /tasks/{id}/cancel`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::auth::gate;
use super::error::{ApiError, ok_json};
use super::tasks::{CancelOutcome, format_time};
use crate::faults::FaultTarget;
use crate::state::{Shared, lock};

/// `GET /api/v1/tasks/{task_id}`: always 200; unknown ids answer `UNKNOWN`.
pub(crate) async fn query(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    shared.bump(|s| s.queries += 1);
    if let Err(err) = gate(&shared, &headers, FaultTarget::Query, true) {
        return err.into_response();
    }
    let id = path.map(|Path(id)| id).unwrap_or_default();
    let now = Instant::now();
    let body = lock(&shared.dashscope.tasks)
        .get(&id, now)
        .map(|task| task.query_body(now, crate::advertised(shared.cdn_addr)));
    ok_json(body.unwrap_or_else(|| json!({"output": {"task_id": id, "task_status": "UNKNOWN"}})))
}

/// `POST /api/v1/tasks/{task_id}/cancel`: only `PENDING` tasks can be canceled. Other states and
/// unknown ids both answer 400 `UnsupportedOperation` (the real service gives no distinct error
/// for unknown ids).
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    shared.bump(|s| s.cancels += 1);
    if let Err(err) = gate(&shared, &headers, FaultTarget::Cancel, true) {
        return err.into_response();
    }
    let id = path.map(|Path(id)| id).unwrap_or_default();
    let outcome = lock(&shared.dashscope.tasks).cancel(&id, Instant::now());
    match outcome {
        CancelOutcome::Canceled => ok_json(json!({})),
        CancelOutcome::NotPending(status) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperation",
            format!(
                "Failed to cancel the task, please confirm if the task is in PENDING status. (current status: {})",
                status.as_str()
            ),
        )
        .into_response(),
        CancelOutcome::Unknown => ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperation",
            format!("Failed to cancel the task: task {id} does not exist or has expired."),
        )
        .into_response(),
    }
}

/// `GET /api/v1/tasks?page_no&page_size&start_time&end_time&model_name&status`.
///
/// `start_time`/`end_time` are `YYYYMMDDhhmmss` in **UTC** (the sandbox's clock for every time
/// it reports) and bound `submit_time` inclusively. `page_size` is 1..=100 (default 10), `page_no`
/// starts at 1. Results are newest first. `api_key_id`/`region` are accepted and ignored.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    shared.bump(|s| s.lists += 1);
    if let Err(err) = gate(&shared, &headers, FaultTarget::List, true) {
        return err.into_response();
    }
    let Ok(Query(params)) = query else {
        return ApiError::invalid("Malformed query string.").into_response();
    };
    match list_body(&shared, &params) {
        Ok(body) => ok_json(body),
        Err(err) => err.into_response(),
    }
}

fn list_body(shared: &Shared, params: &HashMap<String, String>) -> Result<Value, ApiError> {
    let param = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let page_no = match param("page_no") {
        None => 1,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::invalid("page_no must be a positive integer."))?,
    };
    let page_size = match param("page_size") {
        None => 10,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("page_size must be an integer in [1, 100]."))?,
    };
    let start = param("start_time").map(parse_list_time).transpose()?;
    // `end_time` covers its whole second.
    let end = param("end_time")
        .map(parse_list_time)
        .transpose()?
        .map(|e| e + chrono::Duration::seconds(1));
    let model = param("model_name");
    let status = param("status").map(str::to_ascii_uppercase);

    let now = Instant::now();
    let store = lock(&shared.dashscope.tasks);
    let matching: Vec<Value> = store
        .newest_first(now)
        .filter(|t| model.is_none_or(|m| t.model == m))
        .filter(|t| start.is_none_or(|s| t.submit_time >= s))
        .filter(|t| end.is_none_or(|e| t.submit_time < e))
        .filter_map(|t| {
            let st = t.status_at(now);
            if status.as_deref().is_some_and(|want| want != st.as_str()) {
                return None;
            }
            let mut item = json!({
                "task_id": t.id,
                "task_status": st.as_str(),
                "model_name": t.model,
                "submit_time": format_time(t.submit_time),
            });
            if let (Some(end), Some(obj)) = (t.end_time(st), item.as_object_mut()) {
                obj.insert("end_time".into(), json!(format_time(end)));
            }
            Some(item)
        })
        .collect();
    let total = matching.len();
    let skip = usize::try_from((page_no - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let data: Vec<Value> = matching
        .into_iter()
        .skip(skip)
        .take(page_size as usize)
        .collect();
    Ok(json!({"data": data, "total": total, "page_no": page_no, "page_size": page_size}))
}

/// `YYYYMMDDhhmmss`, interpreted as UTC.
fn parse_list_time(s: &str) -> Result<DateTime<Utc>, ApiError> {
    NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
        .map(|t| t.and_utc())
        .map_err(|_| ApiError::invalid(format!("Invalid time '{s}'; expected YYYYMMDDhhmmss.")))
}
