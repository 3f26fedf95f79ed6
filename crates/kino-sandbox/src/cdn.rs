//! The CDN/OSS host: a separate origin serving uploads, result files and sample inputs
//! (DashScope `/results/…`; Xiaoyunque/LibTV `/files/…`; LibTV uploads `/claw/…`).
//! Requests carrying an `Authorization` header are counted in `Stats::auth_on_cdn` (credentials
//! must never reach it).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::dashscope;
use crate::faults::FaultTarget;
use crate::files;
use crate::media::{SAMPLE_MP4, SAMPLE_PNG};
use crate::state::{Shared, lock};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    dashscope::cdn_routes()
        .route("/samples/sample.png", get(sample_png))
        .route("/samples/sample.mp4", get(sample_mp4))
        .route("/files/{*path}", get(stored_file))
        .route("/claw/{*path}", get(stored_file))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), count_auth))
        .with_state(shared)
}

async fn count_auth(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(header::AUTHORIZATION) {
        shared.bump(|s| s.auth_on_cdn += 1);
        tracing::warn!(path = %req.uri().path(), "Authorization header sent to the CDN host");
    }
    next.run(req).await
}

async fn sample_png() -> Response {
    ([(header::CONTENT_TYPE, "image/png")], SAMPLE_PNG).into_response()
}

async fn sample_mp4() -> Response {
    (
        [
            (header::CONTENT_TYPE, "video/mp4"),
            (header::ACCEPT_RANGES, "none"),
        ],
        SAMPLE_MP4,
    )
        .into_response()
}

/// Xiaoyunque / LibTV result files and LibTV uploads, with `Range` support. Counted in
/// `downloads`/`range_downloads`; `Download` faults apply.
async fn stored_file(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    let range = headers
        .get(header::RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    shared.bump(|s| {
        s.downloads += 1;
        if range.is_some() {
            s.range_downloads += 1;
        }
    });
    if let Some(resp) = dashscope::take_cdn_fault(&shared, FaultTarget::Download) {
        return resp;
    }
    let blob = lock(&shared.files).get(uri.path()).cloned();
    match blob {
        Some(blob) => files::serve(blob, range.as_deref(), shared.config().download_rate),
        None => dashscope::oss_not_found(),
    }
}

async fn not_found() -> Response {
    dashscope::oss_not_found()
}
