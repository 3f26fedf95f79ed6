//! Injected faults: the next `times` requests hitting `target` answer `status` instead of being
//! processed.

use std::sync::Mutex;

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

    /// Consume one use of the oldest fault queued for `target`.
    pub(crate) fn take(&self, target: FaultTarget) -> Option<Fault> {
        let mut queue = lock(&self.queue);
        let idx = queue.iter().position(|f| f.target == target)?;
        let fault = queue[idx].clone();
        queue[idx].times -= 1;
        if queue[idx].times == 0 {
            queue.remove(idx);
        }
        Some(fault)
    }
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
