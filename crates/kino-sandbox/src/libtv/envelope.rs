//! LibTV envelopes: `{"code":0,"message":"success","data":{…}}` on success,
//! `{"code":<status>,"message":"…","data":null}` with that HTTP status on errors.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::{self, Fault};

pub(crate) fn ok(data: Value) -> Response {
    Json(json!({"code": 0, "message": "success", "data": data})).into_response()
}

#[derive(Debug, Clone)]
pub(crate) struct LibtvError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl LibtvError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }

    pub(crate) fn from_fault(fault: &Fault) -> Self {
        let (_, message) = faults::code_and_message(fault.status);
        Self {
            status: StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.to_owned(),
            retry_after: fault.retry_after_secs,
        }
    }
}

impl IntoResponse for LibtvError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.status.as_u16(), "message": self.message, "data": null});
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
