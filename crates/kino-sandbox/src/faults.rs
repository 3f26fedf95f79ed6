//! Injected faults: the next `times` requests hitting `target` answer `status` instead of being
//! processed, or meet a transport fault ([`FaultKind`]): the connection dropped before or after
//! the platform acted, a late answer, a body cut short.
//!
//! Every endpoint takes its fault at the one place where it has not yet acted (its gate). A
//! transport fault is handed from there to [`transport`], the middleware wrapped around each
//! listener, through a task-local slot: the gate decides *whether* the platform acts, the
//! middleware what the client sees of the answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::state::lock;

/// One queued fault.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    pub target: FaultTarget,
    /// HTTP status to answer (429 → `Throttling.RateQuota`, 500 → `InternalError`, 503 →
    /// service-unavailable message, 401 → `InvalidApiKey`, …).
    pub status: u16,
    /// How many matching requests it applies to.
    pub times: u32,
    /// Adds a `Retry-After: <secs>` header when set.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// What the fault does; `status` applies to [`FaultKind::Status`] only.
    #[serde(default)]
    pub kind: FaultKind,
}

impl Fault {
    /// `times` answers of `status` on `target`.
    pub fn status(target: FaultTarget, status: u16, times: u32) -> Self {
        Self {
            target,
            status,
            times,
            retry_after_secs: None,
            kind: FaultKind::Status,
        }
    }

    /// One transport fault of `kind` on `target`.
    pub fn transport(target: FaultTarget, kind: FaultKind) -> Self {
        Self {
            target,
            status: 0,
            times: 1,
            retry_after_secs: None,
            kind,
        }
    }
}

/// How a fault shows itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FaultKind {
    /// Answer `status` without acting.
    #[default]
    Status,
    /// Close the connection without an answer, without acting: the client cannot tell whether
    /// the platform acted.
    Reset,
    /// Act (create the task, record the upload…), then close the connection without an answer.
    ResetAfter,
    /// Act, then hold the answer back this long.
    Slow { ms: u64 },
    /// Act, then send the status line, the headers (with the full `Content-Length`) and only the
    /// first half of the body before closing the connection.
    Truncate,
}

/// Which endpoint a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    Submit,
    Query,
    List,
    Cancel,
    Policy,
    Upload,
    Download,
    /// Xiaoyunque `submit_run` (an injected fault creates nothing).
    XyqSubmit,
    /// Xiaoyunque `get_thread`.
    XyqQuery,
    /// Xiaoyunque `upload_file`.
    XyqUpload,
    /// LibTV `POST /openapi/session` (an injected fault creates nothing).
    LibtvSession,
    /// LibTV `GET /openapi/session/{id}`.
    LibtvQuery,
    /// LibTV upload (both paths).
    LibtvUpload,
    /// skills.video create, SSE or not (an injected fault creates nothing).
    SvCreate,
    /// skills.video `GET /generation/{id}`.
    SvPoll,
    /// skills.video `GET /credits`.
    SvCredits,
    /// xingyun3d `create_render_task` (an injected fault creates nothing).
    XyCreate,
    /// xingyun3d `get_render_task`.
    XyGet,
    /// xingyun3d `cancel_render_task`.
    XyCancel,
    /// xingyun3d `parse_ppt_file`.
    XyParsePpt,
}

/// FIFO of pending faults.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    queue: Mutex<Vec<Fault>>,
}

impl FaultQueue {
    pub(crate) fn push(&self, fault: Fault) {
        if fault.times > 0 {
            lock(&self.queue).push(fault);
        }
    }

    pub(crate) fn pending(&self) -> Vec<Fault> {
        lock(&self.queue).clone()
    }

    /// Consume one use of the oldest fault queued for `target`. Returns the fault when the
    /// endpoint must answer it instead of acting: a status fault, or a reset before acting (whose
    /// answer the middleware then withholds). Faults that let the endpoint act first go to the
    /// request's slot and `None` is returned.
    pub(crate) fn take(&self, target: FaultTarget) -> Option<Fault> {
        let fault = {
            let mut queue = lock(&self.queue);
            let idx = queue.iter().position(|f| f.target == target)?;
            let fault = queue[idx].clone();
            queue[idx].times -= 1;
            if queue[idx].times == 0 {
                queue.remove(idx);
            }
            fault
        };
        match fault.kind {
            FaultKind::Status => Some(fault),
            FaultKind::Reset => {
                hand_to_transport(&fault);
                // The endpoint answers an error without acting; that answer is never sent.
                Some(Fault {
                    status: 500,
                    ..fault
                })
            }
            FaultKind::ResetAfter | FaultKind::Slow { .. } | FaultKind::Truncate => {
                hand_to_transport(&fault);
                None
            }
        }
    }
}

tokio::task_local! {
    /// The transport fault the current request's endpoint took, for [`transport`] to apply.
    static SLOT: Arc<Mutex<Option<FaultKind>>>;
}

fn hand_to_transport(fault: &Fault) {
    let handed = SLOT.try_with(|slot| *lock(slot) = Some(fault.kind));
    if handed.is_err() {
        tracing::warn!(target = ?fault.target, "transport fault taken outside a listener; ignored");
    }
}

/// Middleware around every listener: applies the transport fault the endpoint took, if any.
pub(crate) async fn transport(req: Request, next: Next) -> Response {
    let slot = Arc::new(Mutex::new(None));
    let response = SLOT.scope(slot.clone(), next.run(req)).await;
    let kind = lock(&slot).take();
    match kind {
        None | Some(FaultKind::Status) => response,
        Some(FaultKind::Reset | FaultKind::ResetAfter) => connection_drop(),
        Some(FaultKind::Slow { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response
        }
        Some(FaultKind::Truncate) => truncated(response),
    }
}

fn broken(why: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, why)
}

/// A response whose body fails before its first byte: the server drops the connection without
/// flushing the head, so the client sees the connection close with no answer.
fn connection_drop() -> Response {
    let body = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(broken("injected connection reset"))
    });
    (StatusCode::OK, Body::from_stream(body)).into_response()
}

/// The response with its body cut after half of its announced length (at least one byte less
/// than announced), then the connection closed.
fn truncated(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let half = announced / 2;
    let stream = body
        .into_data_stream()
        .scan(half, |left, chunk| {
            let item = match chunk {
                Ok(_) if *left == 0 => None,
                Ok(chunk) => {
                    let keep = (chunk.len() as u64).min(*left);
                    *left -= keep;
                    Some(Ok(chunk.slice(..keep as usize)))
                }
                Err(_) => Some(Err(broken("body failed"))),
            };
            futures_util::future::ready(item)
        })
        // The pause lets the server flush what was sent before the connection breaks.
        .chain(futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(broken("injected truncation"))
        }));
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Error code and message used for an injected status.
pub(crate) fn code_and_message(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("InvalidParameter", "Injected fault."),
        401 => ("InvalidApiKey", "Invalid API-key provided."),
        403 => ("AccessDenied", "Access denied."),
        404 => ("NotFound", "Not found."),
        429 => (
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        ),
        502..=504 => (
            "ServiceUnavailable",
            "Service temporarily unavailable, possibly overloaded or not ready.",
        ),
        _ => (
            "InternalError",
            "An internal error has occured, please try again later or contact service support.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_per_target() {
        let q = FaultQueue::default();
        let f = |target, status, times| Fault {
            target,
            status,
            times,
            retry_after_secs: None,
            kind: Default::default(),
        };
        q.push(f(FaultTarget::Query, 429, 2));
        q.push(f(FaultTarget::Submit, 500, 1));
        q.push(f(FaultTarget::Query, 503, 1));
        q.push(f(FaultTarget::List, 500, 0));
        assert_eq!(q.take(FaultTarget::List), None);
        assert_eq!(q.take(FaultTarget::Query).map(|f| f.status), Some(429));
        assert_eq!(q.take(FaultTarget::Query).map(|f| f.status), Some(429));
        assert_eq!(q.take(FaultTarget::Query).map(|f| f.status), Some(503));
        assert_eq!(q.take(FaultTarget::Query), None);
        assert_eq!(q.take(FaultTarget::Submit).map(|f| f.status), Some(500));
    }

    #[test]
    fn fault_json_round_trips() {
        let f: Fault = serde_json::from_str(r#"{"target":"download","status":503,"times":1}"#)
            .expect("valid fault json");
        assert_eq!(f.target, FaultTarget::Download);
        assert_eq!(f.retry_after_secs, None);
        let f: Fault = serde_json::from_str(r#"{"target":"xyq_submit","status":503,"times":1}"#)
            .expect("valid fault json");
        assert_eq!(f.target, FaultTarget::XyqSubmit);
        assert_eq!(
            serde_json::to_value(FaultTarget::LibtvUpload).expect("json"),
            "libtv_upload"
        );
        let f: Fault = serde_json::from_str(r#"{"target":"sv_create","status":429,"times":1}"#)
            .expect("valid fault json");
        assert_eq!(f.target, FaultTarget::SvCreate);
        assert_eq!(
            serde_json::to_value(FaultTarget::SvCredits).expect("json"),
            "sv_credits"
        );
        let f: Fault = serde_json::from_str(r#"{"target":"xy_parse_ppt","status":500,"times":1}"#)
            .expect("valid fault json");
        assert_eq!(f.target, FaultTarget::XyParsePpt);
        assert_eq!(
            serde_json::to_value(FaultTarget::XyCreate).expect("json"),
            "xy_create"
        );
    }
}
