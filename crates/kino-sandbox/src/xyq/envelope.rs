//! Xiaoyunque envelopes: `{"ret":"0","errmsg":"","log_id","svr_time","data"}` on success,
//! `{"ret":"<code>","errmsg","log_id"}` on errors — business errors inside HTTP 200, auth and
//! injected faults with their HTTP status. `ret` is always a string (contract §3.3).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::faults::{self, Fault};

/// Invalid parameter (empty message, malformed body, …).
pub(crate) const RET_INVALID: &str = "1001";
/// An `asset_ids` entry that upload_file never returned.
pub(crate) const RET_UNKNOWN_ASSET: &str = "1002";
/// upload_file: unsupported media type.
pub(crate) const RET_BAD_TYPE: &str = "1003";
/// upload_file: file too large.
pub(crate) const RET_TOO_LARGE: &str = "1004";
/// get_thread: unknown thread or run.
pub(crate) const RET_NOT_FOUND: &str = "1005";
/// submit_run failed (the official fixture's code; used for an unknown `thread_id`).
pub(crate) const RET_SUBMIT_FAILED: &str = "16008";

/// A ByteDance-style log id: timestamp + random hex.
fn log_id() -> String {
    format!(
        "{}{}",
        Utc::now().format("%Y%m%d%H%M%S"),
        hex::encode_upper(rand::random::<[u8; 9]>())
    )
}

/// `ret == "0"` with `data`.
pub(crate) fn ok(data: Value) -> Response {
    Json(json!({
        "ret": "0",
        "errmsg": "",
        "log_id": log_id(),
        "svr_time": Utc::now().timestamp(),
        "data": data,
    }))
    .into_response()
}

/// A non-success answer.
#[derive(Debug, Clone)]
pub(crate) struct XyqError {
    pub status: StatusCode,
    pub ret: String,
    pub errmsg: String,
    pub retry_after: Option<u64>,
}

impl XyqError {
    /// Business error: HTTP 200 with `ret` ≠ "0".
    pub(crate) fn business(ret: &str, errmsg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            ret: ret.to_owned(),
            errmsg: errmsg.into(),
            retry_after: None,
        }
    }

    pub(crate) fn invalid(errmsg: impl Into<String>) -> Self {
        Self::business(RET_INVALID, errmsg)
    }

    pub(crate) fn with_status(status: StatusCode, errmsg: impl Into<String>) -> Self {
        Self {
            status,
            ret: status.as_u16().to_string(),
            errmsg: errmsg.into(),
            retry_after: None,
        }
    }

    pub(crate) fn unauthorized(missing: bool) -> Self {
        let msg = if missing {
            "unauthorized: missing access key"
        } else {
            "unauthorized: invalid access key"
        };
        Self::with_status(StatusCode::UNAUTHORIZED, msg)
    }

    pub(crate) fn from_fault(fault: &Fault) -> Self {
        let (_, message) = faults::code_and_message(fault.status);
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            ret: fault.status.to_string(),
            errmsg: message.to_owned(),
            retry_after: fault.retry_after_secs,
        }
    }
}

impl IntoResponse for XyqError {
    fn into_response(self) -> Response {
        let body = json!({"ret": self.ret, "errmsg": self.errmsg, "log_id": log_id()});
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_are_timestamped_hex() {
        let id = log_id();
        assert_eq!(id.len(), 14 + 18);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
