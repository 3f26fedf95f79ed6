//! Xiaoyunque 小云雀 ("Pippit" NestAgent, contracts §3): a conversational agent on the API host
//! under `/api/biz/v1/skill/`. All calls are `POST`; `submit_run` starts a scripted run (see
//! [`crate::conversation`]), `get_thread` reveals its entries over time, `upload_file` takes
//! media and returns an asset id. Result files are served by the CDN host.

mod envelope;
mod runs;
mod submit;
mod thread;
mod upload;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

use crate::faults::FaultTarget;
use crate::keys::{self, KeyError};
use crate::state::Shared;
use envelope::XyqError;

/// Path prefix of every Xiaoyunque endpoint.
pub(crate) const PREFIX: &str = "/api/biz/v1/skill";

/// Xiaoyunque-specific state.
#[derive(Debug, Default)]
pub(crate) struct XyqState {
    threads: Mutex<runs::ThreadStore>,
    /// Asset ids handed out by upload_file.
    assets: Mutex<HashSet<String>>,
}

fn post_only(handler: MethodRouter<Arc<Shared>>) -> MethodRouter<Arc<Shared>> {
    handler.fallback(|| async {
        XyqError::with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed; use POST",
        )
        .into_response()
    })
}

/// Routes on the API host.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            &format!("{PREFIX}/submit_run"),
            post_only(post(submit::submit_run)),
        )
        .route(
            &format!("{PREFIX}/get_thread"),
            post_only(post(thread::get_thread)),
        )
        .route(
            &format!("{PREFIX}/upload_file"),
            post_only(post(upload::upload_file).layer(DefaultBodyLimit::disable())),
        )
}

/// 404 in the Xiaoyunque envelope.
pub(crate) fn not_found() -> Response {
    XyqError::with_status(StatusCode::NOT_FOUND, "not found").into_response()
}

/// Injected fault for `target`, then the bearer key.
fn gate(shared: &Shared, headers: &HeaderMap, target: FaultTarget) -> Result<String, XyqError> {
    if let Some(fault) = shared.faults.take(target) {
        if fault.status == 429 {
            shared.bump(|s| s.throttled += 1);
        }
        return Err(XyqError::from_fault(&fault));
    }
    keys::check(shared, headers).map_err(|e| XyqError::unauthorized(e == KeyError::Missing))
}
