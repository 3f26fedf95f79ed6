//! Admin endpoints on the API host (no auth), so an out-of-process sandbox is drivable:
//! `GET /_sandbox/stats`, `POST /_sandbox/faults`, `GET /_sandbox/requests`, `POST /_sandbox/config`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::json;

use crate::faults::Fault;
use crate::state::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/faults", post(faults))
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/config", post(config))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": "InvalidParameter", "message": message})),
    )
        .into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.stats()).into_response()
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.requests()).into_response()
}

async fn faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            shared.faults.push(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(format!("invalid fault: {e}")),
    }
}

async fn config(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let patch = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("invalid JSON: {e}")),
    };
    match shared.update_config(|c| c.apply_patch(&patch)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}
