use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use kino_core::{Diagnostic, ErrorKind};
use kino_engine::EngineError;
use kino_ledger::LedgerError;

/// An error as the API answers it: an HTTP status from the error's kind, and the same
/// `{kind, message, hints, exit_code}` the CLI prints with `--json`.
pub struct ApiError {
    status: StatusCode,
    kind: ErrorKind,
    message: String,
    hints: Vec<String>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: ErrorKind::Usage,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: ErrorKind::Usage,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: ErrorKind::Internal,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// A request a web page made on someone's behalf (another site, or a rebound DNS name).
    pub fn foreign(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            kind: ErrorKind::Config,
            message: message.into(),
            hints: vec![
                "open the dashboard at http://127.0.0.1:PORT/, or set KINO_SERVE_TOKEN to serve other hosts".into(),
            ],
        }
    }

    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: ErrorKind::Config,
            message: "a bearer token is required".into(),
            hints: vec!["send `Authorization: Bearer <KINO_SERVE_TOKEN>`".into()],
        }
    }
}

fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Usage => StatusCode::BAD_REQUEST,
        ErrorKind::Config => StatusCode::FAILED_DEPENDENCY,
        ErrorKind::JobFailed | ErrorKind::NeedsInput => StatusCode::CONFLICT,
        ErrorKind::StillRunning => StatusCode::ACCEPTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Ledger(LedgerError::NotFound(_)) => StatusCode::NOT_FOUND,
            other => status_of(other.kind()),
        };
        Self {
            status,
            kind: e.kind(),
            message: e.to_string(),
            hints: e.hints(),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        EngineError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = kino_engine::view::error_json(self.kind, &self.message, &self.hints);
        (self.status, Json(body)).into_response()
    }
}
