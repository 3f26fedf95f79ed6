//! Alibaba DashScope — Wan video synthesis (contracts §1).
//!
//! API host routes live under `/api/v1`; the OSS upload endpoint and the result files are served
//! by the separate CDN host (see [`cdn_routes`]).

mod auth;
mod error;
mod oss;
pub(crate) mod rules;
mod submit;
mod task_api;
mod tasks;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::routing::{get, post};

use crate::media::VideoLayout;
use crate::state::{Shared, lock};

pub(crate) use error::ApiError;
pub(crate) use oss::{oss_error, take_cdn_fault};

/// Submit path for everything but kf2v/animate.
pub(crate) const VIDEO_GENERATION_PATH: &str =
    "/api/v1/services/aigc/video-generation/video-synthesis";
/// Submit path for kf2v/animate.
pub(crate) const IMAGE2VIDEO_PATH: &str = "/api/v1/services/aigc/image2video/video-synthesis";

/// DashScope-specific state.
pub(crate) struct DashScopeState {
    tasks: Mutex<tasks::TaskStore>,
    uploads: Mutex<oss::UploadStore>,
    qps: Mutex<auth::QpsWindow>,
    /// Secret the upload policies are signed with.
    secret: String,
}

impl Default for DashScopeState {
    fn default() -> Self {
        Self {
            tasks: Mutex::default(),
            uploads: Mutex::default(),
            qps: Mutex::default(),
            secret: crate::ids::token(40),
        }
    }
}

/// Routes of the API host.
pub(crate) fn api_routes() -> Router<Arc<Shared>> {
    let vg = post(submit::video_generation);
    let i2v = post(submit::image2video);
    Router::new()
        .route(VIDEO_GENERATION_PATH, vg.clone())
        .route(&format!("{VIDEO_GENERATION_PATH}/"), vg)
        .route(IMAGE2VIDEO_PATH, i2v.clone())
        .route(&format!("{IMAGE2VIDEO_PATH}/"), i2v)
        .route("/api/v1/tasks", get(task_api::list))
        .route("/api/v1/tasks/", get(task_api::list))
        .route("/api/v1/tasks/{task_id}", get(task_api::query))
        .route("/api/v1/tasks/{task_id}/cancel", post(task_api::cancel))
        .route("/api/v1/uploads", get(oss::get_policy))
        .route("/api/v1/uploads/", get(oss::get_policy))
}

/// Routes of the CDN/OSS host: the upload endpoint (`POST /`) and the result files.
pub(crate) fn cdn_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/",
            post(oss::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/results/{file}", get(oss::result_file))
}

/// OSS-style 404 for anything the CDN host does not serve.
pub(crate) fn oss_not_found() -> axum::response::Response {
    oss::oss_error(
        axum::http::StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
    )
}

/// SHA-256 of what a result download of `task_id` serves: `None` for unknown tasks and for tasks
/// that will never succeed (failed or canceled). A task still running gets the hash of the video it
/// will serve once it succeeds.
pub(crate) fn result_sha256(shared: &Shared, task_id: &str) -> Option<String> {
    let layout = {
        let store = lock(&shared.dashscope.tasks);
        let task = store.get(task_id, Instant::now())?;
        if task.fail || task.canceled_at.is_some() {
            return None;
        }
        VideoLayout::new(task.video_size)
    };
    Some(shared.video_sha256(layout))
}

/// The prompt a task was created with (what `orig_prompt` will show).
pub(crate) fn task_prompt(shared: &Shared, task_id: &str) -> Option<String> {
    let store = lock(&shared.dashscope.tasks);
    store.get(task_id, Instant::now())?.accepted.prompt.clone()
}

pub(crate) fn forget_task(shared: &Shared, task_id: &str) -> bool {
    lock(&shared.dashscope.tasks).forget(task_id)
}

/// JSON 404 for unknown API-host paths.
pub(crate) async fn api_not_found() -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "NotFound",
        "The requested URL was not found on this server.",
    )
    .into_response()
}
