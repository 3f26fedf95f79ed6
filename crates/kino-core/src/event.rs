use serde::{Deserialize, Serialize};

use crate::{JobId, JobState, Millis};

/// One entry of a job's append-only history. `seq` counts from 1 per job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub job_id: JobId,
    pub seq: i64,
    pub at: Millis,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Every URL in an event is redacted (see [`crate::redact_url`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    State {
        from: Option<JobState>,
        to: JobState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Submitted {
        handle: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        web_link: Option<String>,
        /// Submitted by another tool and attached (`kino attach`): kino sent no create request.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        attached: bool,
    },
    Progress {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    Uploaded {
        file: String,
        reference: String,
        bytes: u64,
    },
    /// An input that named another job's result (`job:ID#N`) and what it was sent as: the
    /// result's platform URL (redacted) while valid, else the local copy, uploaded.
    Chained {
        field: String,
        source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    Artifact {
        index: i64,
        url: String,
        kind: crate::ArtifactKind,
    },
    Downloaded {
        index: i64,
        path: String,
        bytes: u64,
        sha256: String,
    },
    Message {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        text: String,
    },
    Warning {
        message: String,
    },
    Error {
        message: String,
        retryable: bool,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::State { .. } => "state",
            EventKind::Submitted { .. } => "submitted",
            EventKind::Progress { .. } => "progress",
            EventKind::Uploaded { .. } => "uploaded",
            EventKind::Chained { .. } => "chained",
            EventKind::Artifact { .. } => "artifact",
            EventKind::Downloaded { .. } => "downloaded",
            EventKind::Message { .. } => "message",
            EventKind::Warning { .. } => "warning",
            EventKind::Error { .. } => "error",
        }
    }

    /// A one-line human summary.
    pub fn summary(&self) -> String {
        match self {
            EventKind::State { from, to, reason } => {
                let from = from.map(|f| format!("{f} → ")).unwrap_or_default();
                match reason {
                    Some(r) => format!("{from}{to}: {r}"),
                    None => format!("{from}{to}"),
                }
            }
            EventKind::Submitted {
                handle,
                attached: true,
                ..
            } => format!(
                "attached to platform handle {handle}, submitted by another tool (kino sent no create request)"
            ),
            EventKind::Submitted {
                handle,
                web_link: None,
                ..
            } => format!("submitted, platform handle {handle}"),
            EventKind::Submitted {
                handle,
                web_link: Some(link),
                ..
            } => {
                format!("submitted, platform handle {handle}; watch it at {link}")
            }
            EventKind::Progress { percent, status } => match (percent, status) {
                (Some(p), Some(s)) => format!("{s} {p:.0}%"),
                (Some(p), None) => format!("{p:.0}%"),
                (None, Some(s)) => s.clone(),
                (None, None) => "progress".into(),
            },
            EventKind::Uploaded {
                file,
                reference,
                bytes,
            } => {
                format!("uploaded {file} ({bytes} bytes) as {reference}")
            }
            EventKind::Chained {
                field,
                source,
                url,
                file,
            } => match (url, file) {
                (Some(url), _) => format!("{field}: {source} sent as its URL {url}"),
                (None, Some(file)) => {
                    format!("{field}: {source} has expired; its local copy {file} is uploaded")
                }
                (None, None) => format!("{field}: {source}"),
            },
            EventKind::Artifact { index, url, kind } => {
                format!("{kind} #{} ready: {url}", index + 1)
            }
            EventKind::Downloaded {
                index, path, bytes, ..
            } => {
                format!("downloaded #{} to {path} ({bytes} bytes)", index + 1)
            }
            EventKind::Message {
                role: Some(role),
                text,
            } => format!("{role}: {text}"),
            EventKind::Message { role: None, text } => text.clone(),
            EventKind::Warning { message } => format!("warning: {message}"),
            EventKind::Error { message, retryable } => {
                if *retryable {
                    format!("error (will retry): {message}")
                } else {
                    format!("error: {message}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_a_type_tag() {
        let e = Event {
            job_id: JobId::new(),
            seq: 3,
            at: 5,
            kind: EventKind::State {
                from: Some(JobState::Queued),
                to: JobState::Running,
                reason: None,
            },
        };
        let v = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(v["type"], "state");
        assert_eq!(v["to"], "running");
        assert_eq!(v["seq"], 3);
        let back: Event = serde_json::from_value(v).unwrap_or_else(|_| e.clone());
        assert_eq!(back, e);
    }
}
