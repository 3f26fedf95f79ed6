//! `POST /openapi/upload` and `POST /openapi/file/upload`: multipart `accessKey` (optional) +
//! `file` (image/* or video/*) → `data.url` under `/claw/<projectUuid>/` on the CDN host.
//!
//! Files up to [`RETAIN_BYTES`] are kept in memory (while all kept uploads stay within
//! [`RETAIN_BUDGET`]) and served back byte for byte; other ones are only counted and hashed while
//! streaming, and their URL serves the sample image or video.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::envelope::{self, LibtvError};
use super::gate;
use crate::faults::FaultTarget;
use crate::files::Blob;
use crate::media::VideoLayout;
use crate::state::{Shared, lock};
use crate::upload::{self, Policy, UploadError};

/// Largest upload kept (and served back exactly).
pub(crate) const RETAIN_BYTES: u64 = 32 * 1024 * 1024;
/// Total bytes of uploads kept in memory.
pub(crate) const RETAIN_BUDGET: u64 = 512 * 1024 * 1024;

fn allowed(ct: &str) -> bool {
    let sub = |p: &str| ct.strip_prefix(p).is_some_and(|rest| !rest.is_empty());
    sub("image/") || sub("video/")
}

pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let key = match gate(&shared, &headers, Some(FaultTarget::LibtvUpload)) {
        Ok(key) => key,
        Err(err) => return err.into_response(),
    };
    let Ok(multipart) = multipart else {
        return LibtvError::bad_request("expected multipart/form-data").into_response();
    };
    let config = shared.config();
    let policy = Policy {
        max_bytes: config.libtv_max_upload_mb.saturating_mul(1024 * 1024),
        retain_bytes: RETAIN_BYTES,
        allowed,
    };
    let file = match upload::receive(multipart, &policy).await {
        Ok(file) => file,
        Err(UploadError::Malformed) => {
            return LibtvError::bad_request("malformed multipart body").into_response();
        }
        Err(UploadError::MissingFile) => {
            return LibtvError::bad_request("file is required").into_response();
        }
        Err(UploadError::EmptyFile) => {
            return LibtvError::bad_request("file is empty").into_response();
        }
        Err(UploadError::UnsupportedType(ct)) => {
            let ct = if ct.is_empty() { "unknown" } else { &ct };
            return LibtvError::bad_request(format!(
                "unsupported file type {ct}: only image/* and video/* are allowed"
            ))
            .into_response();
        }
        Err(UploadError::TooLarge) => {
            return LibtvError::bad_request(format!(
                "file too large: limit is {} MB",
                config.libtv_max_upload_mb
            ))
            .into_response();
        }
    };
    let project = lock(&shared.libtv.store).project_of(&key);
    let ext = upload::extension_for(&file.content_type);
    let path = format!("/claw/{project}/{}.{ext}", crate::ids::uuid_v4());
    let mut files = lock(&shared.files);
    let data = file
        .data
        .filter(|d| files.retained_bytes().saturating_add(d.len() as u64) <= RETAIN_BUDGET);
    let blob = match data {
        Some(data) => Blob::Bytes {
            data,
            content_type: file.content_type.clone(),
        },
        None if file.content_type.starts_with("video/") => Blob::Video(VideoLayout::new(None)),
        None => Blob::png(),
    };
    files.insert(path.clone(), blob);
    drop(files);
    shared.bump(|s| s.libtv_uploads += 1);
    tracing::debug!(
        path,
        size = file.size,
        sha256 = file.sha256,
        filename = ?file.filename,
        "libtv upload stored"
    );
    let url = format!("http://{}{path}", crate::advertised(shared.cdn_addr));
    envelope::ok(json!({"url": url}))
}
