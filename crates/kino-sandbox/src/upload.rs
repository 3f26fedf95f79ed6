//! Multipart uploads of the conversational platforms (Xiaoyunque `upload_file`, LibTV upload):
//! fields `file` (required) and `accessKey` (optional), in any order. The file part is streamed:
//! only its size and SHA-256 are kept, plus its bytes when they fit the caller's retention cap.

use axum::extract::Multipart;
use axum::extract::multipart::Field;
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

/// Cap on a non-file form field.
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// How much of an oversized or rejected upload is drained (so the client can read the answer)
/// before giving up.
const MAX_DRAIN: u64 = 1 << 30;
/// Bytes looked at to sniff the type.
const SNIFF_LEN: usize = 16;

/// A received file.
#[derive(Debug)]
pub(crate) struct Received {
    pub filename: Option<String>,
    /// The effective MIME type (declared, else guessed from the name, else sniffed).
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// The bytes, when `size` ≤ the retention cap.
    pub data: Option<Bytes>,
    /// Kept for debugging (`Debug` output) only.
    #[allow(dead_code)]
    pub access_key: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadError {
    /// Not multipart/form-data, or a broken body.
    Malformed,
    MissingFile,
    /// The file part has no bytes.
    EmptyFile,
    /// The file's type (declared / guessed / sniffed; empty when unknown) is not accepted.
    UnsupportedType(String),
    TooLarge,
}

/// Limits and policy for one upload endpoint.
pub(crate) struct Policy {
    pub max_bytes: u64,
    /// Keep the bytes of files up to this size (0 = never).
    pub retain_bytes: u64,
    pub allowed: fn(&str) -> bool,
}

/// The MIME type without parameters, lowercased.
fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Type from a file name's extension.
pub(crate) fn type_from_name(name: &str) -> Option<&'static str> {
    let (_, ext) = name.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "heic" => "image/heic",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// Type from the first bytes.
pub(crate) fn sniff(head: &[u8]) -> Option<&'static str> {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    Some(if at(0, b"\x89PNG") {
        "image/png"
    } else if at(0, b"\xFF\xD8\xFF") {
        "image/jpeg"
    } else if at(0, b"GIF8") {
        "image/gif"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        "video/x-msvideo"
    } else if at(4, b"ftyp") {
        if at(8, b"qt") {
            "video/quicktime"
        } else if at(8, b"M4A") {
            "audio/mp4"
        } else if at(8, b"heic") || at(8, b"heix") || at(8, b"mif1") {
            "image/heic"
        } else {
            "video/mp4"
        }
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        "video/webm"
    } else if at(0, b"ID3") || at(0, b"\xFF\xFB") || at(0, b"\xFF\xF3") || at(0, b"\xFF\xF2") {
        "audio/mpeg"
    } else if at(0, b"%PDF") {
        "application/pdf"
    } else {
        return None;
    })
}

/// The type to judge a file by: a declared specific type wins; a missing or generic one
/// (`application/octet-stream`) falls back to the name's extension, then to sniffing.
fn effective_type(declared: Option<&str>, filename: Option<&str>, head: &[u8]) -> String {
    match declared.map(essence) {
        Some(d) if !d.is_empty() && d != "application/octet-stream" => d,
        _ => filename
            .and_then(type_from_name)
            .or_else(|| sniff(head))
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn read_text(field: &mut Field<'_>) -> Result<String, UploadError> {
    let mut buf = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(UploadError::Malformed);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Err(UploadError::Malformed),
        }
    }
    String::from_utf8(buf).map_err(|_| UploadError::Malformed)
}

/// Read the rest of a field, up to `limit` bytes; returns how much was read.
async fn drain(field: &mut Field<'_>, limit: u64) -> Result<u64, UploadError> {
    let mut n = 0u64;
    while n <= limit {
        match field.chunk().await {
            Ok(Some(chunk)) => n = n.saturating_add(chunk.len() as u64),
            Ok(None) => break,
            Err(_) => return Err(UploadError::Malformed),
        }
    }
    Ok(n)
}

/// Stream the file part.
async fn read_file(field: &mut Field<'_>, policy: &Policy) -> Result<Received, UploadError> {
    let filename = field.file_name().map(str::to_owned);
    let declared = field.content_type().map(str::to_owned);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
    let mut kept = Some(BytesMut::new());
    let mut content_type: Option<String> = None;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => return Err(UploadError::Malformed),
        };
        if head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        if content_type.is_none() && head.len() >= SNIFF_LEN {
            let ct = effective_type(declared.as_deref(), filename.as_deref(), &head);
            if !(policy.allowed)(&ct) {
                drain(field, policy.max_bytes.saturating_add(MAX_DRAIN)).await?;
                return Err(UploadError::UnsupportedType(ct));
            }
            content_type = Some(ct);
        }
        size = size.saturating_add(chunk.len() as u64);
        if size > policy.max_bytes {
            drain(field, MAX_DRAIN).await?;
            return Err(UploadError::TooLarge);
        }
        hasher.update(&chunk);
        if size > policy.retain_bytes {
            kept = None;
        } else if let Some(buf) = kept.as_mut() {
            buf.extend_from_slice(&chunk);
        }
    }
    if size == 0 {
        return Err(UploadError::EmptyFile);
    }
    let content_type = match content_type {
        Some(ct) => ct,
        None => {
            let ct = effective_type(declared.as_deref(), filename.as_deref(), &head);
            if !(policy.allowed)(&ct) {
                return Err(UploadError::UnsupportedType(ct));
            }
            ct
        }
    };
    Ok(Received {
        filename,
        content_type,
        size,
        sha256: hex::encode(hasher.finalize()),
        data: kept.map(BytesMut::freeze),
        access_key: None,
    })
}

/// Stream one file part under `policy` (skills.video multipart creates).
pub(crate) async fn receive_part(
    field: &mut Field<'_>,
    policy: &Policy,
) -> Result<Received, UploadError> {
    read_file(field, policy).await
}

/// Read one text part (at most 64 KiB).
pub(crate) async fn receive_text(field: &mut Field<'_>) -> Result<String, UploadError> {
    read_text(field).await
}

/// Read the whole form.
pub(crate) async fn receive(
    mut multipart: Multipart,
    policy: &Policy,
) -> Result<Received, UploadError> {
    let mut file: Option<Received> = None;
    let mut access_key = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(UploadError::Malformed),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" && file.is_none() {
            file = Some(read_file(&mut field, policy).await?);
        } else if name.eq_ignore_ascii_case("accesskey") {
            access_key = Some(read_text(&mut field).await?);
        } else {
            drain(&mut field, MAX_DRAIN).await?;
        }
    }
    let mut file = file.ok_or(UploadError::MissingFile)?;
    file.access_key = access_key;
    Ok(file)
}

/// A file extension for a MIME type (LibTV upload URLs).
pub(crate) fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        "image/heic" => "heic",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "video/x-matroska" => "mkv",
        "video/x-msvideo" => "avi",
        t if t.starts_with("image/") => "img",
        _ => "mp4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{SAMPLE_MP4, SAMPLE_PNG};

    #[test]
    fn sniffs_common_media() {
        assert_eq!(sniff(SAMPLE_PNG), Some("image/png"));
        assert_eq!(sniff(SAMPLE_MP4), Some("video/mp4"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some("audio/wav"));
        assert_eq!(sniff(b"ID3\x04"), Some("audio/mpeg"));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn effective_type_prefers_declared_then_name_then_bytes() {
        assert_eq!(
            effective_type(Some("Image/PNG; x=1"), Some("a.mp4"), b""),
            "image/png"
        );
        assert_eq!(
            effective_type(Some("application/octet-stream"), Some("a.MP4"), b""),
            "video/mp4"
        );
        assert_eq!(effective_type(None, Some("noext"), SAMPLE_PNG), "image/png");
        assert_eq!(effective_type(None, None, b"plain"), "");
        assert_eq!(extension_for("image/jpeg"), "jpg");
        assert_eq!(extension_for("video/mp4"), "mp4");
    }
}
