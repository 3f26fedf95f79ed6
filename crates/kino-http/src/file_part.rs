use std::path::Path;

use reqwest::multipart::Part;
use tokio_util::io::ReaderStream;

/// A multipart file part that streams from disk with a known length, so uploads of any size keep
/// memory flat and the server still sees a Content-Length for the part.
pub async fn file_part(path: &Path, file_name: String, mime: &str) -> std::io::Result<Part> {
    let file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let stream = ReaderStream::with_capacity(file, 64 * 1024);
    Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
        .file_name(file_name)
        .mime_str(mime)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}
