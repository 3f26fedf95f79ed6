//! Files served by the CDN host for the conversational platforms (Xiaoyunque and LibTV results,
//! LibTV uploads), and the `Range`-aware download response shared with DashScope result videos.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

use crate::dashscope::oss_error;
use crate::media::{CHUNK, SAMPLE_PNG, VideoLayout};

/// The bytes behind one served file.
#[derive(Clone, Debug)]
pub(crate) enum Blob {
    /// A result video (the sample MP4, padded to a configured size).
    Video(VideoLayout),
    /// In-memory bytes (the sample PNG, a retained upload) with their content type.
    Bytes { data: Bytes, content_type: String },
}

impl Blob {
    /// The sample PNG.
    pub(crate) fn png() -> Self {
        Blob::Bytes {
            data: Bytes::from_static(SAMPLE_PNG),
            content_type: "image/png".into(),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Blob::Video(layout) => layout.len(),
            Blob::Bytes { data, .. } => data.len() as u64,
        }
    }

    fn content_type(&self) -> &str {
        match self {
            Blob::Video(_) => "video/mp4",
            Blob::Bytes { content_type, .. } => content_type,
        }
    }

    fn etag(&self) -> String {
        match self {
            Blob::Video(layout) => layout.etag(),
            Blob::Bytes { data, .. } => {
                let digest = Sha256::digest(data);
                format!("\"kino-sandbox-b-{}\"", hex::encode(&digest[..8]))
            }
        }
    }

    /// Bytes `start..=end_inclusive`, chunked and throttled to about `rate` bytes/second.
    fn stream(
        self,
        start: u64,
        end_inclusive: u64,
        rate: Option<u64>,
    ) -> std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>> {
        match self {
            Blob::Video(layout) => Box::pin(layout.stream(start, end_inclusive, rate)),
            Blob::Bytes { data, .. } => {
                let end = end_inclusive.saturating_add(1).min(data.len() as u64);
                Box::pin(futures_util::stream::unfold(start, move |pos| {
                    let data = data.clone();
                    async move {
                        if pos >= end {
                            return None;
                        }
                        let n = (end - pos).min(CHUNK as u64);
                        if let Some(rate) = rate.filter(|r| *r > 0) {
                            let secs = n as f64 / rate as f64;
                            tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
                        }
                        let chunk = data.slice(pos as usize..(pos + n) as usize);
                        Some((Ok(chunk), pos + n))
                    }
                }))
            }
        }
    }
}

/// CDN paths (no query string) → what they serve.
#[derive(Debug, Default)]
pub(crate) struct FileStore {
    files: HashMap<String, Blob>,
    /// Bytes held by `Blob::Bytes` entries that are not the static sample.
    retained: u64,
}

impl FileStore {
    pub(crate) fn insert(&mut self, path: String, blob: Blob) {
        let added = match &blob {
            Blob::Bytes { data, .. } if data.as_ptr() != SAMPLE_PNG.as_ptr() => data.len() as u64,
            _ => 0,
        };
        self.retained = self.retained.saturating_add(added);
        self.files.insert(path, blob);
    }

    /// Bytes of uploads held in memory.
    pub(crate) fn retained_bytes(&self) -> u64 {
        self.retained
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Blob> {
        self.files.get(path)
    }
}

/// The path of a URL (`http://host/path?q` → `/path`); a bare path is returned as is.
pub(crate) fn url_path(url: &str) -> &str {
    let rest = match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        },
        None => url,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// Lowercase hex SHA-256 of a blob (video hashes cached per size by the caller's `video_sha`).
pub(crate) fn blob_sha256(blob: &Blob, video_sha: impl FnOnce(VideoLayout) -> String) -> String {
    match blob {
        Blob::Video(layout) => video_sha(*layout),
        Blob::Bytes { data, .. } => hex::encode(Sha256::digest(data)),
    }
}

/// Parsed `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    Full,
    Part(u64, u64),
    Unsatisfiable,
}

/// `bytes=N-`, `bytes=N-M`, `bytes=-S`; anything else (incl. multi-range) → full body.
pub(crate) fn parse_range(value: &str, total: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(n) if total > 0 => RangeSpec::Part(total.saturating_sub(n), total - 1),
            Ok(_) => RangeSpec::Unsatisfiable,
            Err(_) => RangeSpec::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeSpec::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(end) if end >= start => end,
            _ => return RangeSpec::Full,
        }
    };
    if start >= total {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Part(start, end.min(total - 1))
}

/// A download of `blob` honouring a single-range `Range` header (200, 206 or 416).
pub(crate) fn serve(blob: Blob, range: Option<&str>, rate: Option<u64>) -> Response {
    let total = blob.len();
    if total == 0 {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, blob.content_type().to_owned())],
            Body::empty(),
        )
            .into_response();
    }
    let (status, start, end) = match range.map(|r| parse_range(r, total)) {
        None | Some(RangeSpec::Full) => (StatusCode::OK, 0, total - 1),
        Some(RangeSpec::Part(s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(RangeSpec::Unsatisfiable) => {
            let mut resp = oss_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable.",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return resp;
        }
    };
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(blob.content_type()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&blob.etag()) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    let body = Body::from_stream(blob.stream(start, end, rate));
    (status, h, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn range_parsing() {
        assert_eq!(parse_range("bytes=0-", 100), RangeSpec::Part(0, 99));
        assert_eq!(parse_range("bytes=10-19", 100), RangeSpec::Part(10, 19));
        assert_eq!(parse_range("bytes=10-1000", 100), RangeSpec::Part(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=x-", 100), RangeSpec::Full);
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://h:1/a/b.mp4?x=1"), "/a/b.mp4");
        assert_eq!(url_path("http://h:1"), "/");
        assert_eq!(url_path("/a#f"), "/a");
    }

    #[tokio::test]
    async fn byte_blobs_stream_ranges() {
        let blob = Blob::Bytes {
            data: Bytes::from((0..200_000u32).map(|i| (i % 256) as u8).collect::<Vec<_>>()),
            content_type: "image/png".into(),
        };
        let Blob::Bytes { data, .. } = blob.clone() else {
            unreachable!()
        };
        let mut out = Vec::new();
        let mut s = blob.stream(10, 150_000, None);
        while let Some(Ok(chunk)) = s.next().await {
            out.extend_from_slice(&chunk);
        }
        assert_eq!(out, &data[10..=150_000]);
    }
}
