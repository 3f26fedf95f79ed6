//! skills.video open platform (contracts §2), served on a listener of its own so its paths sit at
//! the root as on the real host:
//!
//! - `POST /api/v1/generation/{provider}/{model...}` (JSON or multipart) and the SSE twin
//!   `POST /api/v1/generation/sse/{provider}/{model...}` — see [`create`], [`sse`];
//! - `GET /api/v1/generation/{id}`, `GET /api/v1/credits`, `GET /api/v1/generations/running`;
//! - documents (no auth): `GET /openapi.json`, `/api/openapi.json`, `/api/v1/openapi.json`,
//!   `/docs.json`, `/api/docs.json` — see [`openapi`].
//!
//! Result files are served by the CDN host under `/files/sv/<generation id>/`.

mod create;
mod error;
mod form;
mod generations;
mod models;
mod openapi;
mod sse;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::Value;

use crate::faults::FaultTarget;
use crate::keys;
use crate::state::{Shared, lock};
use error::{GENERIC_FAMILY, SvError};

/// Where the create and result routes live.
pub(crate) const GENERATION_PREFIX: &str = "/api/v1/generation/";

/// skills.video-specific state.
#[derive(Debug, Default)]
pub(crate) struct SvState {
    store: Mutex<generations::Store>,
}

fn with_405(route: MethodRouter<Arc<Shared>>) -> MethodRouter<Arc<Shared>> {
    route.fallback(|method: Method| async move {
        SvError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "METHOD_NOT_ALLOWED",
            format!("Method {method} is not allowed here."),
        )
        .into_response()
    })
}

/// The skills.video listener's whole app.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let openapi = || with_405(get(openapi_json));
    let docs = || with_405(get(docs_json));
    Router::new()
        .route("/openapi.json", openapi())
        .route("/api/openapi.json", openapi())
        .route("/api/v1/openapi.json", openapi())
        .route("/docs.json", docs())
        .route("/api/docs.json", docs())
        .route(
            "/api/v1/generation/{*rest}",
            with_405(
                get(get_generation)
                    .post(create::post_generation)
                    .layer(DefaultBodyLimit::disable()),
            ),
        )
        .route("/api/v1/credits", with_405(get(credits)))
        .route("/api/v1/generations/running", with_405(get(running)))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    SvError::not_found(format!("No endpoint for {method} {}.", uri.path())).into_response()
}

/// Injected fault for `target`, then the bearer key.
fn gate(
    shared: &Shared,
    headers: &HeaderMap,
    target: FaultTarget,
    family: &str,
) -> Result<(), SvError> {
    if let Some(fault) = shared.faults.take(target) {
        if fault.status == 429 {
            shared.bump(|s| s.throttled += 1);
        }
        return Err(SvError::from_fault(&fault, family));
    }
    keys::check(shared, headers)
        .map(|_| ())
        .map_err(|_| SvError::unauthorized())
}

fn variant(shared: &Shared) -> openapi::Variant {
    let c = shared.config();
    openapi::Variant {
        v1_paths: c.sv_v1_paths,
        openapi_31: c.sv_openapi_31,
        legacy_status: c.sv_legacy_status,
    }
}

async fn openapi_json(State(shared): State<Arc<Shared>>) -> Response {
    let base = format!("http://{}/api/v1", crate::advertised(shared.sv_addr));
    Json(openapi::openapi(variant(&shared), &base)).into_response()
}

async fn docs_json(State(shared): State<Arc<Shared>>) -> Response {
    Json(openapi::docs(variant(&shared))).into_response()
}

/// `GET /api/v1/generation/{id}`.
async fn get_generation(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    shared.bump(|s| s.sv_polls += 1);
    let id = uri
        .path()
        .strip_prefix(GENERATION_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let now = Instant::now();
    let family = lock(&shared.sv.store)
        .get(&id)
        .map_or(GENERIC_FAMILY, |g| g.model.family.prefix());
    if let Err(err) = gate(&shared, &headers, FaultTarget::SvPoll, family) {
        return err.into_response();
    }
    generations::settle(&shared, now);
    let legacy = shared.config().sv_legacy_status;
    let found = lock(&shared.sv.store)
        .get(&id)
        .map(|g| g.to_json(now, legacy));
    match found {
        Some(v) => Json(v).into_response(),
        None => SvError::not_found(format!("Generation not found: {id}")).into_response(),
    }
}

/// `GET /api/v1/credits` → `{total, subscription, permanent}`.
async fn credits(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.bump(|s| s.sv_credit_queries += 1);
    if let Err(err) = gate(&shared, &headers, FaultTarget::SvCredits, GENERIC_FAMILY) {
        return err.into_response();
    }
    generations::settle(&shared, Instant::now());
    let balance = shared.config().sv_credits;
    Json(serde_json::json!({"total": balance, "subscription": balance, "permanent": 0}))
        .into_response()
}

/// `GET /api/v1/generations/running?workspace=&limit=` → array of `{id, status, usage, input}`,
/// newest first.
async fn running(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    if keys::check(&shared, &headers).is_err() {
        return SvError::unauthorized().into_response();
    }
    let Ok(Query(params)) = query else {
        return SvError::invalid_input(
            StatusCode::BAD_REQUEST,
            GENERIC_FAMILY,
            "Malformed query string.",
        )
        .into_response();
    };
    let limit = match params.get("limit").map(|v| v.trim()) {
        None | Some("") => 50,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return SvError::invalid_input(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    GENERIC_FAMILY,
                    "`limit` must be an integer between 1 and 100.",
                )
                .into_response();
            }
        },
    };
    let now = Instant::now();
    generations::settle(&shared, now);
    let legacy = shared.config().sv_legacy_status;
    let list: Vec<Value> = lock(&shared.sv.store)
        .running(now, limit)
        .into_iter()
        .map(|g| g.summary(now, legacy))
        .collect();
    Json(list).into_response()
}
