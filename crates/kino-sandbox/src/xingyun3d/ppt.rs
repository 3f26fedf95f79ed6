//! `POST parse_ppt_file`: multipart field `ppt_file` (signed data `{}`). The part is streamed —
//! only its name, size and first bytes are looked at; it must be named `*.pptx` and start with the
//! ZIP magic `PK\x03\x04`, else `error_code` 30003. Answers `data.parse_ppt_file_name`, which
//! `create_render_task` then accepts.

use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, Request};
use axum::response::Response;
use serde_json::{Value, json};

use super::envelope::{self, XyError};
use super::tasks::PptFile;
use super::{SignContext, authenticate, take_fault};
use crate::faults::FaultTarget;
use crate::state::{Shared, lock};

/// Largest PPT accepted.
const MAX_PPT_BYTES: u64 = 200 * 1024 * 1024;
/// How much of a rejected part is drained so the client can read the answer.
const MAX_DRAIN: u64 = 1 << 30;
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

fn parse_error(reason: impl std::fmt::Display) -> XyError {
    XyError::business(
        envelope::PPT_PARSE_ERROR,
        format!("ppt parse error: {reason}"),
    )
}

pub(crate) async fn parse(shared: &Shared, req: Request, ctx: &SignContext) -> Response {
    let skew = shared.config().xy_clock_skew;
    match parse_inner(shared, req, ctx).await {
        Ok(name) => envelope::ok(skew, json!({"parse_ppt_file_name": name})),
        Err(err) => err.into_response(skew),
    }
}

async fn parse_inner(shared: &Shared, req: Request, ctx: &SignContext) -> Result<String, XyError> {
    take_fault(shared, Some(FaultTarget::XyParsePpt))?;
    authenticate(shared, req.headers(), ctx, &json!({}))?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|_| parse_error("expected multipart/form-data with a ppt_file part"))?;
    let mut received: Option<PptFile> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(parse_error("malformed multipart body")),
        };
        if field.name() == Some("ppt_file") && received.is_none() {
            received = Some(read_ppt(&mut field).await?);
        } else {
            drain(&mut field, MAX_DRAIN).await?;
        }
    }
    let ppt = received.ok_or_else(|| parse_error("ppt_file is required"))?;
    let name = format!("ppt_{}.pptx", crate::ids::uuid_v4().replace('-', ""));
    tracing::debug!(
        name,
        filename = ppt.filename,
        size = ppt.size,
        "xingyun3d ppt parsed"
    );
    lock(&shared.xingyun3d.store).ppts.insert(name.clone(), ppt);
    shared.bump(|s| s.xy_ppt_parses += 1);
    Ok(name)
}

async fn drain(field: &mut Field<'_>, limit: u64) -> Result<u64, XyError> {
    let mut n = 0u64;
    while n <= limit {
        match field.chunk().await {
            Ok(Some(chunk)) => n = n.saturating_add(chunk.len() as u64),
            Ok(None) => break,
            Err(_) => return Err(parse_error("malformed multipart body")),
        }
    }
    Ok(n)
}

async fn read_ppt(field: &mut Field<'_>) -> Result<PptFile, XyError> {
    let filename = field.file_name().unwrap_or_default().to_owned();
    if !filename.to_lowercase().ends_with(".pptx") {
        drain(field, MAX_DRAIN).await?;
        return Err(parse_error(format!(
            "{} is not a .pptx file",
            Value::String(filename)
        )));
    }
    let mut head: Vec<u8> = Vec::with_capacity(ZIP_MAGIC.len());
    let mut size = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => return Err(parse_error("malformed multipart body")),
        };
        if head.len() < ZIP_MAGIC.len() {
            let take = (ZIP_MAGIC.len() - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == ZIP_MAGIC.len() && head != ZIP_MAGIC {
                drain(field, MAX_DRAIN).await?;
                return Err(parse_error("the file is not a valid .pptx (zip) document"));
            }
        }
        size = size.saturating_add(chunk.len() as u64);
        if size > MAX_PPT_BYTES {
            drain(field, MAX_DRAIN).await?;
            return Err(parse_error(format!(
                "file too large: limit is {} MB",
                MAX_PPT_BYTES / (1024 * 1024)
            )));
        }
    }
    if head != ZIP_MAGIC {
        return Err(parse_error("the file is not a valid .pptx (zip) document"));
    }
    Ok(PptFile { filename, size })
}
