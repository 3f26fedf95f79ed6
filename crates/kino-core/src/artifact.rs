use std::fmt;

use serde::{Deserialize, Serialize};

use crate::JobId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    Video,
    Image,
    Audio,
    Other,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Video => "video",
            ArtifactKind::Image => "image",
            ArtifactKind::Audio => "audio",
            ArtifactKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "video" => ArtifactKind::Video,
            "image" => ArtifactKind::Image,
            "audio" => ArtifactKind::Audio,
            _ => ArtifactKind::Other,
        }
    }

    /// The file extension used when the URL does not name one.
    pub fn default_extension(self) -> &'static str {
        match self {
            ArtifactKind::Video => "mp4",
            ArtifactKind::Image => "png",
            ArtifactKind::Audio => "mp3",
            ArtifactKind::Other => "bin",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A result as a platform reports it, before kino has it on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactRef {
    pub url: String,
    pub kind: ArtifactKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadState {
    /// Known, not (completely) on disk yet.
    Pending,
    Done,
    /// Gave up after retries; `kino download` tries again while the URL lives.
    Failed,
}

impl DownloadState {
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadState::Pending => "pending",
            DownloadState::Done => "done",
            DownloadState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "done" => DownloadState::Done,
            "failed" => DownloadState::Failed,
            _ => DownloadState::Pending,
        }
    }
}

/// A result of a job as the ledger holds it. `url` is the full (possibly signed) URL, needed to
/// resume a download; it is redacted wherever it is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub job_id: JobId,
    pub index: i64,
    #[serde(skip_serializing)]
    pub url: String,
    pub kind: ArtifactKind,
    pub path: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    pub mime: Option<String>,
    pub state: DownloadState,
    pub error: Option<String>,
    /// What ffprobe read of the downloaded file; none when it was not probed (not downloaded
    /// yet, no ffprobe, or a file ffprobe cannot read).
    #[serde(default)]
    pub probe: Option<MediaProbe>,
}

/// A compact ffprobe summary of a downloaded result: the figures a user or an agent asks of a
/// video (length, size, codec, rate, sound), not the whole ffprobe document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaProbe {
    /// The container's name as ffprobe gives it (`mov,mp4,m4a,3gp,3g2,mj2`).
    pub format: Option<String>,
    pub duration_s: Option<f64>,
    /// Bits per second of the whole file.
    pub bit_rate: Option<u64>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub video_codec: Option<String>,
    pub fps: Option<f64>,
    pub has_audio: bool,
    pub audio_codec: Option<String>,
}
