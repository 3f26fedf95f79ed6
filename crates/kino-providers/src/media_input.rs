use std::path::{Path, PathBuf};

use kino_core::{LocalInput, ValidationError};

/// What a media field holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaValue {
    /// Passed to the platform as is: http(s), oss:// or a data: URI.
    Remote(String),
    /// A local file to upload first (a plain path or a file:// URL).
    Local(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }

    fn of_mime(mime: &str) -> Option<Self> {
        match mime.split('/').next() {
            Some("image") => Some(MediaKind::Image),
            Some("video") => Some(MediaKind::Video),
            Some("audio") => Some(MediaKind::Audio),
            _ => None,
        }
    }

    /// The kind a remote URL names by its extension, if it does.
    pub fn of_url(url: &str) -> Option<Self> {
        if let Some(rest) = url.strip_prefix("data:") {
            return Self::of_mime(rest.split([';', ',']).next().unwrap_or(""));
        }
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let mime = mime_guess::from_path(path).first()?;
        Self::of_mime(mime.essence_str())
    }
}

/// Sorts a field value into a remote reference or a local file.
pub fn classify(value: &str) -> MediaValue {
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    if lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("oss://")
        || lower.starts_with("data:")
    {
        return MediaValue::Remote(value.to_string());
    }
    if let Some(rest) = value.strip_prefix("file://") {
        return MediaValue::Local(PathBuf::from(rest));
    }
    MediaValue::Local(PathBuf::from(value))
}

/// Checks a local file for a field: it exists, is a regular file, is of `expected` kind (sniffed
/// from its bytes, not its name) and within `max_bytes`. Returns the input to upload.
pub fn check_local(
    field: &str,
    pointer: &str,
    path: &Path,
    expected: &[MediaKind],
    max_bytes: u64,
) -> Result<LocalInput, ValidationError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        ValidationError::new(field, format!("local file {shown} cannot be read: {e}"))
            .with_hint("give an existing file path, or an http(s):// or oss:// URL")
    })?;
    if !meta.is_file() {
        return Err(ValidationError::new(
            field,
            format!("{shown} is not a regular file"),
        ));
    }
    if meta.len() == 0 {
        return Err(ValidationError::new(field, format!("{shown} is empty")));
    }
    if meta.len() > max_bytes {
        return Err(ValidationError::new(
            field,
            format!(
                "{shown} is {} bytes; the limit for this input is {} MB",
                meta.len(),
                max_bytes / (1024 * 1024)
            ),
        ));
    }
    let sniffed = infer::get_from_path(path).map_err(|e| {
        ValidationError::new(field, format!("local file {shown} cannot be read: {e}"))
    })?;
    let mime = sniffed.map(|t| t.mime_type().to_string());
    let kind = mime.as_deref().and_then(MediaKind::of_mime);
    let wanted: Vec<&str> = expected.iter().map(|k| k.as_str()).collect();
    match kind {
        Some(k) if expected.contains(&k) => {}
        _ => {
            let found = mime.unwrap_or_else(|| "not a recognised media file".into());
            return Err(ValidationError::new(
                field,
                format!(
                    "{shown} must be {} but its content is {found}",
                    wanted.join(" or ")
                ),
            ));
        }
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(LocalInput {
        pointer: pointer.to_string(),
        path: absolute,
        bytes: meta.len(),
        mime: mime.unwrap_or_else(|| "application/octet-stream".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_values() {
        assert!(matches!(classify("https://x/a.png"), MediaValue::Remote(_)));
        assert!(matches!(
            classify("oss://dashscope-instant/a.png"),
            MediaValue::Remote(_)
        ));
        assert!(matches!(
            classify("data:image/png;base64,AA"),
            MediaValue::Remote(_)
        ));
        assert_eq!(
            classify("file:///tmp/a.png"),
            MediaValue::Local(PathBuf::from("/tmp/a.png"))
        );
        assert_eq!(
            classify("./a.png"),
            MediaValue::Local(PathBuf::from("./a.png"))
        );
    }

    #[test]
    fn url_kinds_by_extension() {
        assert_eq!(
            MediaKind::of_url("https://x/a.MP4?sig=1"),
            Some(MediaKind::Video)
        );
        assert_eq!(MediaKind::of_url("https://x/a.png"), Some(MediaKind::Image));
        assert_eq!(
            MediaKind::of_url("data:audio/mpeg;base64,AA"),
            Some(MediaKind::Audio)
        );
        assert_eq!(MediaKind::of_url("https://x/a"), None);
    }

    #[test]
    fn a_text_file_is_not_an_image() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("notes.png");
        std::fs::write(&p, "hello, not an image")?;
        let err = check_local("img_url", "/img_url", &p, &[MediaKind::Image], 1 << 20).err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("img_url") && err.contains("must be image"),
            "{err}"
        );
        Ok(())
    }
}
