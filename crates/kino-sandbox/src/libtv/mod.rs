//! LibTV agent-im (contracts §4): sessions bound to the key's current project, a scripted agent
//! answering each message (see [`crate::conversation`]), incremental message reads by `afterSeq`,
//! project switching, and uploads at both `/openapi/upload` and `/openapi/file/upload` whose
//! files the CDN host serves under `/claw/<projectUuid>/`.

mod envelope;
mod session_api;
mod sessions;
mod upload;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

use crate::faults::FaultTarget;
use crate::keys;
use crate::state::Shared;
use envelope::LibtvError;

/// LibTV-specific state.
#[derive(Debug, Default)]
pub(crate) struct LibtvState {
    store: Mutex<sessions::SessionStore>,
}

fn with_405(route: MethodRouter<Arc<Shared>>) -> MethodRouter<Arc<Shared>> {
    route.fallback(|| async {
        LibtvError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response()
    })
}

/// Routes on the API host.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    let upload = || with_405(post(upload::upload).layer(DefaultBodyLimit::disable()));
    Router::new()
        .route(
            "/openapi/session",
            with_405(post(session_api::post_session)),
        )
        .route(
            "/openapi/session/change-project",
            with_405(post(session_api::change_project)),
        )
        .route(
            "/openapi/session/{session_id}",
            with_405(get(session_api::get_session)),
        )
        .route("/openapi/upload", upload())
        .route("/openapi/file/upload", upload())
}

/// 404 in the LibTV envelope.
pub(crate) fn not_found() -> Response {
    LibtvError::not_found("not found").into_response()
}

/// Injected fault for `target` (when given), then the bearer key.
fn gate(
    shared: &Shared,
    headers: &HeaderMap,
    target: Option<FaultTarget>,
) -> Result<String, LibtvError> {
    if let Some(fault) = target.and_then(|t| shared.faults.take(t)) {
        if fault.status == 429 {
            shared.bump(|s| s.throttled += 1);
        }
        return Err(LibtvError::from_fault(&fault));
    }
    keys::check(shared, headers).map_err(|_| LibtvError::unauthorized())
}
