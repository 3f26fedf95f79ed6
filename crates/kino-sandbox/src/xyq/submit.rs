//! `POST /api/biz/v1/skill/submit_run` `{message, thread_id?, asset_ids?}`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::envelope::{self, RET_SUBMIT_FAILED, RET_UNKNOWN_ASSET, XyqError};
use super::gate;
use super::runs::Run;
use crate::conversation::{self, Scenario};
use crate::faults::FaultTarget;
use crate::ids;
use crate::request::{self, JsonBody};
use crate::state::{Shared, lock};

/// Every call is recorded (rejected ones with `task_id: None`).
pub(crate) async fn submit_run(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    shared.bump(|s| s.xyq_submits += 1);
    let body = request::read_json(body).await;
    let mut record = request::record(uri.path(), &headers, &body);
    let outcome = create(&shared, &headers, &body);
    if let Ok((_, run_id)) = &outcome {
        record.task_id = Some(run_id.clone());
    }
    shared.record_request(record);
    match outcome {
        Ok((thread_id, run_id)) => {
            let link = format!(
                "http://{}/thread/{thread_id}",
                crate::advertised(shared.api_addr)
            );
            envelope::ok(json!({
                "run": {"thread_id": thread_id, "run_id": run_id},
                "web_thread_link": link,
            }))
        }
        Err(err) => err.into_response(),
    }
}

/// Validate and create the run; returns `(thread_id, run_id)`.
fn create(
    shared: &Shared,
    headers: &HeaderMap,
    body: &JsonBody,
) -> Result<(String, String), XyqError> {
    gate(shared, headers, FaultTarget::XyqSubmit)?;
    if !body.read_ok {
        return Err(XyqError::invalid("request body too large or unreadable"));
    }
    let Some(Value::Object(obj)) = &body.value else {
        return Err(XyqError::invalid("request body must be a JSON object"));
    };
    let message = match obj.get("message") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.as_str(),
        Some(Value::String(_)) => {
            return Err(XyqError::invalid(
                "invalid param: message must not be empty",
            ));
        }
        None | Some(Value::Null) => {
            return Err(XyqError::invalid("invalid param: message is required"));
        }
        Some(_) => return Err(XyqError::invalid("invalid param: message must be a string")),
    };
    let thread_id = request::opt_str(obj, "thread_id")
        .map_err(|e| XyqError::invalid(format!("invalid param: {e}")))?;
    let asset_ids: Vec<&str> = match obj.get("asset_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| XyqError::invalid("invalid param: asset_ids must be strings"))?,
        Some(_) => {
            return Err(XyqError::invalid(
                "invalid param: asset_ids must be an array",
            ));
        }
    };
    {
        let assets = lock(&shared.xyq.assets);
        if let Some(unknown) = asset_ids.iter().find(|id| !assets.contains(**id)) {
            return Err(XyqError::business(
                RET_UNKNOWN_ASSET,
                format!("asset not found: {unknown}"),
            ));
        }
    }
    if let Some(id) = thread_id
        && !lock(&shared.xyq.threads).contains(id)
    {
        return Err(XyqError::business(
            RET_SUBMIT_FAILED,
            format!("提交Run任务失败: thread {id} not found"),
        ));
    }
    let thread_id = thread_id.map_or_else(ids::uuid_v4, str::to_owned);
    let config = shared.config();
    let results = (Scenario::parse(message) == Scenario::Results).then(|| {
        conversation::register_results(shared, &format!("xyq/{thread_id}"), config.video_size)
    });
    let run = Run::new(message, config.conversation_step, results, Instant::now());
    let run_id = run.id.clone();
    lock(&shared.xyq.threads).push_run(&thread_id, run);
    shared.bump(|s| s.xyq_runs += 1);
    tracing::debug!(thread_id, run_id, "xyq run created");
    Ok((thread_id, run_id))
}
