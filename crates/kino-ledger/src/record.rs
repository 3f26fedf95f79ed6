use std::time::Duration;

use serde::{Deserialize, Serialize};

use kino_core::{Artifact, ArtifactKind, DownloadState, Event, Job, JobId, MediaProbe};

/// One job with everything the ledger knows of it: the unit of `kino ledger export` and
/// `import`, so history moves between SQLite and PostgreSQL unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: Job,
    pub events: Vec<Event>,
    pub artifacts: Vec<ArtifactRecord>,
    /// Its estimate and charge; absent in exports made before kino kept them, and for a job
    /// that has neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::CostRecord>,
}

/// An artifact as exported: unlike [`Artifact`]'s own serialisation, it keeps the full URL, which
/// an unfinished download resumes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub index: i64,
    pub url: String,
    pub kind: ArtifactKind,
    pub path: Option<String>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    pub mime: Option<String>,
    pub state: DownloadState,
    pub error: Option<String>,
    /// Absent in exports made before kino probed its downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<MediaProbe>,
}

impl ArtifactRecord {
    pub fn of(a: &Artifact) -> Self {
        Self {
            index: a.index,
            url: a.url.clone(),
            kind: a.kind,
            path: a.path.clone(),
            bytes: a.bytes,
            sha256: a.sha256.clone(),
            mime: a.mime.clone(),
            state: a.state,
            error: a.error.clone(),
            probe: a.probe.clone(),
        }
    }

    pub fn into_artifact(self, job_id: JobId) -> Artifact {
        Artifact {
            job_id,
            index: self.index,
            url: self.url,
            kind: self.kind,
            path: self.path,
            bytes: self.bytes,
            sha256: self.sha256,
            mime: self.mime,
            state: self.state,
            error: self.error,
            probe: self.probe,
        }
    }
}

/// Which ledger this is, for `kino ledger migrate` and `kino doctor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerInfo {
    pub backend: &'static str,
    /// The file, or the URL with its password masked.
    pub location: String,
    /// The newest migration applied.
    pub schema_version: i64,
}

/// How long one succeeded job took: from its (last) create request to the poll that saw it
/// succeed, so the figure includes that poll's lateness. The request tells similar jobs apart
/// (a 10 s video takes longer than a 5 s one).
#[derive(Clone, Debug, PartialEq)]
pub struct RunTime {
    pub took: Duration,
    pub request: serde_json::Value,
}
