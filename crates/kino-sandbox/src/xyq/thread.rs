//! `POST /api/biz/v1/skill/get_thread` `{thread_id, run_id?, after_seq?}`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::envelope::{self, RET_NOT_FOUND, XyqError};
use super::gate;
use crate::faults::FaultTarget;
use crate::request;
use crate::state::{Shared, lock};

/// With `run_id`, `run_list` holds only that run; without, every run of the thread, newest first.
/// Each run lists only its entries with `seq >= after_seq`.
pub(crate) async fn get_thread(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    shared.bump(|s| s.xyq_queries += 1);
    if let Err(err) = gate(&shared, &headers, FaultTarget::XyqQuery) {
        return err.into_response();
    }
    let body = request::read_json(body).await;
    match thread_json(&shared, body.value.as_ref()) {
        Ok(data) => envelope::ok(data),
        Err(err) => err.into_response(),
    }
}

/// `after_seq` as an integer or a numeric string; negatives count as 0.
fn after_seq(v: Option<&Value>) -> Result<u64, XyqError> {
    let bad = || XyqError::invalid("invalid param: after_seq must be an integer");
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|i| u64::try_from(i).unwrap_or(0))
            .or_else(|| n.as_u64())
            .ok_or_else(bad),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(|i| u64::try_from(i).unwrap_or(0))
            .map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn thread_json(shared: &Shared, body: Option<&Value>) -> Result<Value, XyqError> {
    let Some(Value::Object(obj)) = body else {
        return Err(XyqError::invalid("request body must be a JSON object"));
    };
    let thread_id = request::opt_str(obj, "thread_id")
        .map_err(|e| XyqError::invalid(format!("invalid param: {e}")))?
        .ok_or_else(|| XyqError::invalid("invalid param: thread_id is required"))?;
    let run_id = request::opt_str(obj, "run_id")
        .map_err(|e| XyqError::invalid(format!("invalid param: {e}")))?;
    let after = after_seq(obj.get("after_seq"))?;
    let now = Instant::now();
    let threads = lock(&shared.xyq.threads);
    let thread = threads.get(thread_id).ok_or_else(|| {
        XyqError::business(RET_NOT_FOUND, format!("thread not found: {thread_id}"))
    })?;
    let run_list: Vec<Value> = match run_id {
        Some(id) => {
            let run =
                thread.runs.iter().find(|r| r.id == id).ok_or_else(|| {
                    XyqError::business(RET_NOT_FOUND, format!("run not found: {id}"))
                })?;
            vec![run.to_json(thread_id, after, now)]
        }
        None => thread
            .runs
            .iter()
            .rev()
            .map(|r| r.to_json(thread_id, after, now))
            .collect(),
    };
    Ok(json!({"thread": {"thread_id": thread_id, "run_list": run_list}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_seq_forms() {
        assert_eq!(after_seq(None).ok(), Some(0));
        assert_eq!(after_seq(Some(&json!(3))).ok(), Some(3));
        assert_eq!(after_seq(Some(&json!(-3))).ok(), Some(0));
        assert_eq!(after_seq(Some(&json!("4"))).ok(), Some(4));
        assert!(after_seq(Some(&json!(1.5))).is_err());
        assert!(after_seq(Some(&json!([1]))).is_err());
    }
}
