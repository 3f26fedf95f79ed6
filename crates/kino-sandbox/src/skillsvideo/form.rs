//! Create bodies: JSON, or `multipart/form-data` with the schema's field names (repeat a field
//! for arrays; file parts count as values). File parts are streamed: each is hashed and counted,
//! and kept in memory only up to [`RETAIN_BYTES`]; the CDN host serves it at the URL that stands
//! for it in the generation's input (the sample image or video when it was not kept).

use std::net::SocketAddr;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use serde_json::{Map, Value};

use super::models::FormValue;
use crate::files::Blob;
use crate::media::VideoLayout;
use crate::request::{self, JsonBody};
use crate::upload::{self, Policy, UploadError};

/// Largest file part kept (and served back exactly).
const RETAIN_BYTES: u64 = 32 * 1024 * 1024;
/// Total bytes of file inputs kept in memory by the CDN host (beyond that, samples are served).
pub(crate) const RETAIN_BUDGET: u64 = 512 * 1024 * 1024;
/// Bytes of file parts one request may keep in memory (later parts are only hashed).
const RETAIN_PER_REQUEST: u64 = 64 * 1024 * 1024;
/// Largest file part accepted.
const MAX_FILE_BYTES: u64 = 200 * 1024 * 1024;
/// Most parts a form may have.
const MAX_PARTS: usize = 256;

/// A parsed multipart body.
#[derive(Debug, Default)]
pub(crate) struct Form {
    /// Fields in order; file parts already carry their URL.
    pub fields: Vec<(String, FormValue)>,
    /// CDN paths of the file parts and what they will serve.
    pub files: Vec<(String, Blob)>,
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Broken multipart, oversized JSON, … → 400.
    Malformed(String),
    /// A file part that cannot be used → 422 naming the field.
    Field(String),
}

/// The body of a create request.
#[derive(Debug)]
pub(crate) enum Payload {
    Json(JsonBody),
    Form(Result<Form, BodyError>),
}

fn allowed(ct: &str) -> bool {
    let sub = |p: &str| ct.strip_prefix(p).is_some_and(|rest| !rest.is_empty());
    sub("image/") || sub("video/")
}

/// Add `value` under `name`, turning repeated names into arrays.
fn push_recorded(recorded: &mut Map<String, Value>, name: &str, value: Value) {
    match recorded.get_mut(name) {
        None => {
            recorded.insert(name.to_owned(), value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// Read the body; returns what [`crate::RecordedRequest::body`] shows and the payload.
pub(crate) async fn read(req: Request, cdn: SocketAddr) -> (Value, Payload) {
    if !is_multipart(&req) {
        let body = request::read_json(req.into_body()).await;
        let recorded = body.recorded().clone();
        return (recorded, Payload::Json(body));
    }
    let mut recorded = Map::new();
    let form = read_form(req, cdn, &mut recorded).await;
    (Value::Object(recorded), Payload::Form(form))
}

async fn read_form(
    req: Request,
    cdn: SocketAddr,
    recorded: &mut Map<String, Value>,
) -> Result<Form, BodyError> {
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| BodyError::Malformed(format!("Malformed multipart body: {e}")))?;
    let mut form = Form::default();
    let mut kept = 0u64;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return Err(BodyError::Malformed(format!(
                    "Malformed multipart body: {e}"
                )));
            }
        };
        if form.fields.len() >= MAX_PARTS {
            return Err(BodyError::Malformed(format!(
                "Too many multipart fields (at most {MAX_PARTS})."
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_none() {
            let text = upload::receive_text(&mut field).await.map_err(|_| {
                BodyError::Malformed(format!(
                    "Multipart field `{name}` is unreadable or too long."
                ))
            })?;
            push_recorded(recorded, &name, Value::from(text.clone()));
            form.fields.push((name, FormValue::Text(text)));
            continue;
        }
        let shown_name = field.file_name().unwrap_or_default().to_owned();
        let policy = Policy {
            max_bytes: MAX_FILE_BYTES,
            retain_bytes: RETAIN_BYTES.min(RETAIN_PER_REQUEST.saturating_sub(kept)),
            allowed,
        };
        let file = match upload::receive_part(&mut field, &policy).await {
            Ok(file) => file,
            Err(e) => {
                push_recorded(
                    recorded,
                    &name,
                    Value::from(format!("<file:{shown_name}:?>")),
                );
                return Err(match e {
                    UploadError::Malformed | UploadError::MissingFile => {
                        BodyError::Malformed("Malformed multipart body.".into())
                    }
                    UploadError::EmptyFile => {
                        BodyError::Field(format!("`{name}`: the file `{shown_name}` is empty."))
                    }
                    UploadError::UnsupportedType(ct) => BodyError::Field(format!(
                        "`{name}`: unsupported file type `{}`; only images and videos are accepted.",
                        if ct.is_empty() { "unknown" } else { &ct }
                    )),
                    UploadError::TooLarge => BodyError::Field(format!(
                        "`{name}`: the file is larger than {} MB.",
                        MAX_FILE_BYTES / (1024 * 1024)
                    )),
                });
            }
        };
        push_recorded(
            recorded,
            &name,
            Value::from(format!("<file:{shown_name}:{}>", file.size)),
        );
        if let Some(data) = &file.data {
            kept = kept.saturating_add(data.len() as u64);
        }
        let ext = upload::extension_for(&file.content_type);
        let path = format!("/files/sv/inputs/{}.{ext}", crate::ids::uuid_v4());
        let blob = match file.data {
            Some(data) => Blob::Bytes {
                data,
                content_type: file.content_type.clone(),
            },
            None if file.content_type.starts_with("video/") => Blob::Video(VideoLayout::new(None)),
            None => Blob::png(),
        };
        tracing::debug!(
            path,
            size = file.size,
            sha256 = file.sha256,
            "skills.video file input"
        );
        let url = format!("http://{}{path}", crate::advertised(cdn));
        form.files.push((path, blob));
        form.fields.push((name, FormValue::File(url)));
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_fields_become_arrays() {
        let mut m = Map::new();
        push_recorded(&mut m, "prompt", json!("a"));
        push_recorded(&mut m, "image_urls", json!("<file:a.png:10>"));
        push_recorded(&mut m, "image_urls", json!("https://x"));
        push_recorded(&mut m, "image_urls", json!("<file:b.png:20>"));
        assert_eq!(
            Value::Object(m),
            json!({"prompt": "a", "image_urls": ["<file:a.png:10>", "https://x", "<file:b.png:20>"]})
        );
    }
}
