//! DashScope response bodies: errors are flat `{"request_id","code","message"}` (contract §1.4),
//! successes carry `request_id` first.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::faults::{self, Fault};
use crate::ids;

/// A non-200 DashScope answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `InvalidParameter`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    pub(crate) fn no_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "No API-key provided.",
        )
    }

    pub(crate) fn bad_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "Invalid API-key provided.",
        )
    }

    pub(crate) fn throttled(retry_after: u64) -> Self {
        let (code, message) = faults::code_and_message(429);
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    pub(crate) fn from_fault(fault: &Fault) -> Self {
        let (code, message) = faults::code_and_message(fault.status);
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            retry_after: fault.retry_after_secs,
            ..Self::new(status, code, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "request_id": ids::uuid_v4(),
            "code": self.code,
            "message": self.message,
        });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// 200 with `{"request_id": …}` followed by the fields of `body` (an object).
pub(crate) fn ok_json(body: Value) -> Response {
    let mut out = Map::new();
    out.insert("request_id".into(), Value::String(ids::uuid_v4()));
    if let Value::Object(fields) = body {
        out.extend(fields);
    }
    (StatusCode::OK, Json(Value::Object(out))).into_response()
}
