//! `POST /api/biz/v1/skill/upload_file` (multipart `file` + optional `accessKey`) → asset id.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::envelope::{self, RET_BAD_TYPE, RET_TOO_LARGE, XyqError};
use super::gate;
use crate::faults::FaultTarget;
use crate::state::{Shared, lock};
use crate::upload::{self, Policy, UploadError};

/// image/*, video/*, MP3 and WAV.
fn allowed(ct: &str) -> bool {
    let sub = |p: &str| ct.strip_prefix(p).is_some_and(|rest| !rest.is_empty());
    sub("image/")
        || sub("video/")
        || matches!(
            ct,
            "audio/mpeg" | "audio/mp3" | "audio/wav" | "audio/x-wav" | "audio/wave"
        )
}

pub(crate) async fn upload_file(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err(err) = gate(&shared, &headers, FaultTarget::XyqUpload) {
        return err.into_response();
    }
    let Ok(multipart) = multipart else {
        return XyqError::invalid("invalid param: expected multipart/form-data").into_response();
    };
    let config = shared.config();
    let policy = Policy {
        max_bytes: config.xyq_max_upload_mb.saturating_mul(1024 * 1024),
        retain_bytes: 0,
        allowed,
    };
    let file = match upload::receive(multipart, &policy).await {
        Ok(file) => file,
        Err(UploadError::Malformed) => {
            return XyqError::invalid("invalid param: malformed multipart body").into_response();
        }
        Err(UploadError::MissingFile) => {
            return XyqError::invalid("invalid param: file is required").into_response();
        }
        Err(UploadError::EmptyFile) => {
            return XyqError::invalid("invalid param: file is empty").into_response();
        }
        Err(UploadError::UnsupportedType(ct)) => {
            let ct = if ct.is_empty() { "unknown" } else { &ct };
            return XyqError::business(
                RET_BAD_TYPE,
                format!("unsupported file type {ct}: only image, video, mp3 and wav are allowed"),
            )
            .into_response();
        }
        Err(UploadError::TooLarge) => {
            return XyqError::business(
                RET_TOO_LARGE,
                format!("file too large: limit is {} MB", config.xyq_max_upload_mb),
            )
            .into_response();
        }
    };
    let asset_id = crate::ids::uuid_v4().replace('-', "");
    lock(&shared.xyq.assets).insert(asset_id.clone());
    shared.bump(|s| s.xyq_uploads += 1);
    tracing::debug!(
        asset_id,
        size = file.size,
        content_type = file.content_type,
        "xyq upload stored"
    );
    let key = if config.xyq_legacy_asset_id {
        "asset_id"
    } else {
        "pippit_asset_id"
    };
    envelope::ok(json!({ key: asset_id }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn allowed_types() {
        for ok in ["image/png", "video/mp4", "audio/mpeg", "audio/wav"] {
            assert!(super::allowed(ok), "{ok}");
        }
        for bad in ["text/plain", "audio/ogg", "image/", "", "application/pdf"] {
            assert!(!super::allowed(bad), "{bad}");
        }
    }
}
