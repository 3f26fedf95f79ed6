//! Temporary-file upload (contract §1.8) and result files, both on the CDN/OSS host except
//! `getPolicy`, which is an API-host call.
//!
//! Policies are stateless: the base64 policy document carries its expiry, key prefix, size limit
//! and model, and the signature (`hex(sha256(secret ":" policy))`) proves the sandbox issued it.
//! Uploads are streamed: only `key → (model, size, sha256)` is kept.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth::gate;
use super::error::{ApiError, ok_json};
use super::rules;
use super::tasks::Status;
use crate::faults::{self, Fault, FaultTarget};
use crate::files::{self, Blob};
use crate::ids;
use crate::media::VideoLayout;
use crate::state::{Shared, lock};

/// §1.7 message for an `oss://` key the service cannot resolve.
pub(crate) const DATA_INSPECTION_MESSAGE: &str =
    "The media format is not supported or incorrect for the data inspection.";
/// The access key id handed out in policies.
const ACCESS_KEY_ID: &str = "LTAI5tKinoSandboxKey";
const BUCKET: &str = "dashscope-instant";
/// Cap on a non-file form field.
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// How much of an oversized upload is drained (to let the client read the 400) before giving up.
const MAX_DRAIN: u64 = 1 << 30;

/// One uploaded object. Size and digest are kept for debugging (`Debug` output / logs) only.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) struct UploadedObject {
    pub model: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Default)]
pub(crate) struct UploadStore {
    objects: HashMap<String, UploadedObject>,
}

impl UploadStore {
    /// Whether `key` was uploaded with a policy issued for `model`.
    pub(crate) fn has_for_model(&self, key: &str, model: &str) -> bool {
        self.objects.get(key).is_some_and(|o| o.model == model)
    }
}

/// The decoded policy document.
#[derive(Debug, Serialize, Deserialize)]
struct PolicyDoc {
    /// RFC 3339, UTC.
    expiration: String,
    conditions: Vec<serde_json::Value>,
    #[serde(rename = "x-sandbox-model")]
    model: String,
    #[serde(rename = "x-sandbox-upload-dir")]
    upload_dir: String,
    #[serde(rename = "x-sandbox-max-bytes")]
    max_bytes: u64,
}

fn sign(secret: &str, policy_b64: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(b":");
    h.update(policy_b64.as_bytes());
    hex::encode(h.finalize())
}

/// `GET /api/v1/uploads?action=getPolicy&model=<model>`.
pub(crate) async fn get_policy(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    shared.bump(|s| s.policies += 1);
    if let Err(err) = gate(&shared, &headers, FaultTarget::Policy, false) {
        return err.into_response();
    }
    let params = query.map(|Query(q)| q).unwrap_or_default();
    if params.get("action").map(String::as_str) != Some("getPolicy") {
        return ApiError::invalid("Unsupported action; expected action=getPolicy.").into_response();
    }
    let model = params.get("model").map(String::as_str).unwrap_or_default();
    if rules::lookup(model).is_none() {
        return ApiError::invalid("Model not exist.").into_response();
    }
    let config = shared.config();
    let ttl = config.policy_ttl;
    let now = Utc::now();
    let expires = chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let upload_dir = format!(
        "{BUCKET}/{}/{}/{}",
        hex::encode(rand::random::<[u8; 16]>()),
        now.format("%Y-%m-%d"),
        ids::uuid_v4()
    );
    let max_bytes = config.max_file_size_mb.saturating_mul(1024 * 1024);
    let doc = PolicyDoc {
        expiration: expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        conditions: vec![
            json!({"bucket": BUCKET}),
            json!(["starts-with", "$key", upload_dir]),
            json!(["content-length-range", 0, max_bytes]),
            json!({"x-oss-object-acl": "private"}),
            json!({"x-oss-forbid-overwrite": "true"}),
        ],
        model: model.to_owned(),
        upload_dir: upload_dir.clone(),
        max_bytes,
    };
    let policy = match serde_json::to_vec(&doc) {
        Ok(bytes) => BASE64.encode(bytes),
        Err(_) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "policy")
                .into_response();
        }
    };
    let signature = sign(&shared.dashscope.secret, &policy);
    ok_json(json!({"data": {
        "policy": policy,
        "signature": signature,
        "upload_dir": upload_dir,
        "upload_host": format!("http://{}", crate::advertised(shared.cdn_addr)),
        "expire_in_seconds": ttl.as_secs(),
        "max_file_size_mb": config.max_file_size_mb,
        "capacity_limit_mb": 999_999_999u64,
        "oss_access_key_id": ACCESS_KEY_ID,
        "x_oss_object_acl": "private",
        "x_oss_forbid_overwrite": "true",
    }}))
}

// ---------------------------------------------------------------- OSS XML errors

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An OSS-style XML error.
pub(crate) fn oss_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = ids::token(24).to_ascii_uppercase();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>kino-sandbox-oss</HostId>\n</Error>\n",
        xml_escape(code),
        xml_escape(message)
    );
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-oss-request-id", v);
    }
    resp
}

/// An OSS XML error not yet rendered (small, unlike `Response`).
#[derive(Debug)]
struct OssError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl OssError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for OssError {
    fn into_response(self) -> Response {
        oss_error(self.status, self.code, &self.message)
    }
}

fn oss_fault(fault: &Fault) -> Response {
    let (code, message) = faults::code_and_message(fault.status);
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = oss_error(status, code, message);
    if let Some(secs) = fault.retry_after_secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

pub(crate) fn take_cdn_fault(shared: &Shared, target: FaultTarget) -> Option<Response> {
    let fault = shared.faults.take(target)?;
    if fault.status == 429 {
        shared.bump(|s| s.throttled += 1);
    }
    Some(oss_fault(&fault))
}

fn bad_request(message: &str) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
}

// ---------------------------------------------------------------- POST / (PostObject)

/// Read a small text field.
async fn read_text(field: &mut Field<'_>) -> Result<String, OssError> {
    let mut buf = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(bad_request("A form field is too large."));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Err(malformed()),
        }
    }
    String::from_utf8(buf).map_err(|_| bad_request("Form fields must be UTF-8 text."))
}

fn malformed() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )
}

/// What a verified policy allows.
struct Grant {
    model: String,
    key: String,
    max_bytes: u64,
    forbid_overwrite: bool,
    status: StatusCode,
}

/// Check the form fields that must precede `file`.
fn verify_fields(shared: &Shared, fields: &HashMap<String, String>) -> Result<Grant, OssError> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let (Some(key_id), Some(signature), Some(policy), Some(key)) = (
        field("ossaccesskeyid"),
        field("signature"),
        field("policy"),
        field("key"),
    ) else {
        return Err(bad_request(
            "OSSAccessKeyId, Signature, policy and key must precede the file field.",
        ));
    };
    if key_id != ACCESS_KEY_ID {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        ));
    }
    if sign(&shared.dashscope.secret, policy) != signature {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    let doc: PolicyDoc = BASE64
        .decode(policy)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidPolicyDocument",
                "Invalid Policy: Invalid Simple-Json Format.",
            )
        })?;
    let expired = DateTime::parse_from_rfc3339(&doc.expiration)
        .map(|exp| exp <= Utc::now())
        .unwrap_or(true);
    if expired {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid according to Policy: Policy expired.",
        ));
    }
    let prefix = format!("{}/", doc.upload_dir);
    if !key.starts_with(&prefix) || key.len() == prefix.len() {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"{}\"]",
                doc.upload_dir
            ),
        ));
    }
    let status = match field("success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    Ok(Grant {
        model: doc.model,
        key: key.to_owned(),
        max_bytes: doc.max_bytes,
        forbid_overwrite: field("x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        status,
    })
}

fn already_exists() -> OssError {
    OssError::new(
        StatusCode::CONFLICT,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

/// Stream the file part: count and hash, never buffer.
async fn stream_file(field: &mut Field<'_>, max_bytes: u64) -> Result<(u64, String), OssError> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                size = size.saturating_add(chunk.len() as u64);
                if size <= max_bytes {
                    hasher.update(&chunk);
                } else if size > max_bytes.saturating_add(MAX_DRAIN) {
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => return Err(malformed()),
        }
    }
    if size > max_bytes {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        ));
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// `POST /` on the CDN host: OSS PostObject.
pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Some(resp) = take_cdn_fault(&shared, FaultTarget::Upload) {
        return resp;
    }
    let Ok(multipart) = multipart else {
        return malformed().into_response();
    };
    match store_upload(&shared, multipart).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}

async fn store_upload(shared: &Shared, mut multipart: Multipart) -> Result<Response, OssError> {
    let mut fields: HashMap<String, String> = HashMap::new();
    let (grant, size, sha256) = loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Err(bad_request("The file field is missing.")),
            Err(_) => return Err(malformed()),
        };
        let name = field.name().unwrap_or_default().to_ascii_lowercase();
        if name != "file" {
            let value = read_text(&mut field).await?;
            fields.insert(name, value);
            continue;
        }
        let grant = verify_fields(shared, &fields)?;
        if grant.forbid_overwrite
            && lock(&shared.dashscope.uploads)
                .objects
                .contains_key(&grant.key)
        {
            return Err(already_exists());
        }
        let (size, sha256) = stream_file(&mut field, grant.max_bytes).await?;
        break (grant, size, sha256);
    };
    // `file` must be the last field.
    match multipart.next_field().await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(bad_request(
                "The file field must be the last field of the form.",
            ));
        }
        Err(_) => return Err(malformed()),
    }
    {
        let mut uploads = lock(&shared.dashscope.uploads);
        if grant.forbid_overwrite && uploads.objects.contains_key(&grant.key) {
            return Err(already_exists());
        }
        uploads.objects.insert(
            grant.key.clone(),
            UploadedObject {
                model: grant.model,
                size,
                sha256,
            },
        );
    }
    shared.bump(|s| s.uploads += 1);
    tracing::debug!(key = grant.key, size, "oss upload stored");
    if grant.status == StatusCode::CREATED {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>\n  <Bucket>{BUCKET}</Bucket>\n  <Key>{}</Key>\n</PostResponse>\n",
            xml_escape(&grant.key)
        );
        return Ok((
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/xml")],
            body,
        )
            .into_response());
    }
    Ok(grant.status.into_response())
}

// ---------------------------------------------------------------- GET /results/{task_id}.mp4

/// `GET /results/{task_id}.mp4` (query string ignored): the video of a SUCCEEDED task.
pub(crate) async fn result_file(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    shared.bump(|s| {
        s.downloads += 1;
        if range.is_some() {
            s.range_downloads += 1;
        }
    });
    if let Some(resp) = take_cdn_fault(&shared, FaultTarget::Download) {
        return resp;
    }
    let file = path.map(|Path(f)| f).unwrap_or_default();
    let layout = file.strip_suffix(".mp4").and_then(|id| {
        let now = std::time::Instant::now();
        let store = lock(&shared.dashscope.tasks);
        let task = store.get(id, now)?;
        (task.status_at(now) == Status::Succeeded).then(|| VideoLayout::new(task.video_size))
    });
    let Some(layout) = layout else {
        return oss_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    files::serve(
        Blob::Video(layout),
        range.as_deref(),
        shared.config().download_rate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_secret_and_policy() {
        assert_ne!(sign("a", "p"), sign("b", "p"));
        assert_ne!(sign("a", "p"), sign("a", "q"));
        assert_eq!(sign("a", "p").len(), 64);
    }
}
