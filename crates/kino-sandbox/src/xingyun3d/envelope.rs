//! xingyun3d envelopes: `{"error_code":0,"error_reason":"","data":…}` on success; business errors
//! as HTTP 200 with a non-zero `error_code`; signature/timestamp failures as HTTP 401 and injected
//! faults with their own status (`error_code` = that status). Every answer carries a `Date`
//! header from the sandbox's (possibly skewed) clock.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Offset, Utc};
use serde_json::{Value, json};

use crate::faults::{self, Fault};

/// App id unknown / unusable [seed].
pub(crate) const APP_NOT_FOUND: i64 = 20001;
/// `X-TOKEN` mismatch [inferred: only in an unverified third-party rewrite].
pub(crate) const SIGNATURE_INVALID: i64 = 20002;
/// `X-TIMESTAMP` missing, malformed or outside ±60 s [inferred, as above].
pub(crate) const TIMESTAMP_EXPIRED: i64 = 20003;
/// Unknown `parse_ppt_file_name` [seed].
pub(crate) const PPT_NOT_FOUND: i64 = 30002;
/// PPT parse error (not a .pptx) [seed code; trigger inferred].
pub(crate) const PPT_PARSE_ERROR: i64 = 30003;
/// Unknown task [seed].
pub(crate) const TASK_NOT_FOUND: i64 = 30004;
/// Create validation error [seed].
pub(crate) const CREATE_ERROR: i64 = 30005;
/// Cancel refused [seed].
pub(crate) const CANCEL_ERROR: i64 = 30006;

/// The sandbox's xingyun3d clock: now plus the configured skew.
pub(crate) fn now(skew_secs: i64) -> DateTime<Utc> {
    let now = Utc::now();
    chrono::TimeDelta::try_seconds(skew_secs)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

/// UTC+8, the platform's zone.
fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// `2025-07-17T11:30:08.033710+08:00`.
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string()
}

/// `2025-07-17T11:30:08+08:00` (error messages).
pub(crate) fn iso_secs(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `20250717_11_30_07.833` (the default `video_name`).
pub(crate) fn video_name(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y%m%d_%H_%M_%S%.3f")
        .to_string()
}

/// A JSON answer with the `Date` header of the skewed clock.
pub(crate) fn reply(skew_secs: i64, status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    let date = now(skew_secs)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

/// `error_code == 0` with `data`.
pub(crate) fn ok(skew_secs: i64, data: Value) -> Response {
    reply(
        skew_secs,
        StatusCode::OK,
        json!({"error_code": 0, "error_reason": "", "data": data}),
    )
}

/// `{"error_code":0,"error_reason":""}` (no data: cancel).
pub(crate) fn ok_empty(skew_secs: i64) -> Response {
    reply(
        skew_secs,
        StatusCode::OK,
        json!({"error_code": 0, "error_reason": ""}),
    )
}

/// A non-success answer.
#[derive(Debug, Clone)]
pub(crate) struct XyError {
    pub status: StatusCode,
    pub code: i64,
    pub reason: String,
    pub retry_after: Option<u64>,
}

impl XyError {
    /// Business error: HTTP 200.
    pub(crate) fn business(code: i64, reason: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            code,
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// HTTP error whose `error_code` is the status.
    pub(crate) fn http(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            code: i64::from(status.as_u16()),
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub(crate) fn unauthorized(code: i64, reason: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code,
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub(crate) fn from_fault(fault: &Fault) -> Self {
        let (_, message) = faults::code_and_message(fault.status);
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            code: i64::from(fault.status),
            reason: message.to_owned(),
            retry_after: fault.retry_after_secs,
        }
    }

    pub(crate) fn into_response(self, skew_secs: i64) -> Response {
        let mut resp = reply(
            skew_secs,
            self.status,
            json!({"error_code": self.code, "error_reason": self.reason}),
        );
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
    fn times_render_in_china_time() {
        let t = DateTime::parse_from_rfc3339("2025-07-17T03:30:08.033710Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(iso(t), "2025-07-17T11:30:08.033710+08:00");
        assert_eq!(iso_secs(t), "2025-07-17T11:30:08+08:00");
        assert_eq!(video_name(t), "20250717_11_30_08.033");
    }
}
