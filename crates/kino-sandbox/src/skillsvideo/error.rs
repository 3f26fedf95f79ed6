//! Error answers: `{"error":"<ERR>","code":"<CODE>","message":"…"}` with the HTTP status.
//! `code` is canonical (`<FAMILY>_<SUB>` for generation errors); `error` is the legacy field.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::Fault;

/// Family used when no model is involved (credits, unknown generation ids).
pub(crate) const GENERIC_FAMILY: &str = "GENERATION";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SvError {
    pub status: StatusCode,
    pub error: String,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl SvError {
    pub(crate) fn new(
        status: StatusCode,
        error: &str,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: error.to_owned(),
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// `error = sub`, `code = <family>_<sub>`.
    pub(crate) fn family(
        status: StatusCode,
        family: &str,
        sub: &str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(status, sub, &format!("{family}_{sub}"), message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "UNAUTHORIZED",
            "Missing or invalid API key. Send `Authorization: Bearer <API_KEY>`.",
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "NOT_FOUND", message)
    }

    pub(crate) fn invalid_input(
        status: StatusCode,
        family: &str,
        message: impl Into<String>,
    ) -> Self {
        Self::family(status, family, "INVALID_INPUT", message)
    }

    /// The answer to an injected fault.
    pub(crate) fn from_fault(fault: &Fault, family: &str) -> Self {
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = match fault.status {
            401 => Self::unauthorized(),
            403 => Self::new(status, "FORBIDDEN", "FORBIDDEN", "Forbidden."),
            404 => Self::not_found("Not found."),
            _ => {
                let (sub, message) = match fault.status {
                    400 => ("INVALID_INPUT", "Invalid input."),
                    402 => (
                        "INSUFFICIENT_CREDITS",
                        "Insufficient credits for this generation.",
                    ),
                    422 => (
                        "CONTENT_REJECTED",
                        "The request was rejected by moderation.",
                    ),
                    429 => ("RATE_LIMITED", "Too many requests, please slow down."),
                    503 => (
                        "PROVIDER_UNAVAILABLE",
                        "The provider is temporarily unavailable, please retry later.",
                    ),
                    504 => ("TIMEOUT", "The provider timed out, please retry."),
                    _ => ("FAILED", "Generation failed."),
                };
                Self::family(status, family, sub, message)
            }
        };
        err.status = status;
        err.retry_after = fault.retry_after_secs;
        err
    }
}

impl IntoResponse for SvError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "code": self.code, "message": self.message});
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
    use crate::faults::FaultTarget;

    #[test]
    fn faults_map_to_family_codes() {
        let fault = |status| Fault {
            target: FaultTarget::SvCreate,
            status,
            times: 1,
            retry_after_secs: Some(2),
            kind: Default::default(),
        };
        let e = SvError::from_fault(&fault(429), "VIDEO_GENERATION");
        assert_eq!(e.code, "VIDEO_GENERATION_RATE_LIMITED");
        assert_eq!(e.error, "RATE_LIMITED");
        assert_eq!(e.retry_after, Some(2));
        assert_eq!(
            SvError::from_fault(&fault(503), "IMAGE_GENERATION").code,
            "IMAGE_GENERATION_PROVIDER_UNAVAILABLE"
        );
        assert_eq!(SvError::from_fault(&fault(401), "X").code, "UNAUTHORIZED");
        let odd = SvError::from_fault(&fault(599), "X");
        assert_eq!(odd.status.as_u16(), 599);
        assert_eq!(odd.code, "X_FAILED");
    }
}
