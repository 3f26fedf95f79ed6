use async_trait::async_trait;

use kino_core::{Artifact, Event, EventKind, Job, JobId, JobState, Millis, NewJob};

use crate::{Change, JobFilter, LedgerError, PollRecord, UploadRecord};

/// The storage every face and worker shares. Every method is one transaction.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records a job as `pending`, with its first event. Happens before anything is sent.
    async fn insert_job(&self, job: &NewJob) -> Result<Job, LedgerError>;

    async fn job(&self, id: JobId) -> Result<Job, LedgerError>;

    /// A job by full id, a unique prefix of it, or its short id (a unique suffix).
    async fn find_job(&self, id_or_prefix: &str) -> Result<Job, LedgerError>;

    /// Newest first.
    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, LedgerError>;

    /// Jobs with work left: not terminal, or succeeded with an artifact not yet on disk
    /// (pending, or failed earlier: its URL may still live).
    async fn unfinished(&self) -> Result<Vec<Job>, LedgerError>;

    /// Moves a job from one of `from` to `to`, writing `change` and the state event (and a
    /// `submitted` event when `change.handle` is set) atomically. A job in another state is left
    /// alone and [`LedgerError::Conflict`] returned.
    async fn transition(
        &self,
        id: JobId,
        from: &[JobState],
        to: JobState,
        change: Change,
    ) -> Result<Job, LedgerError>;

    async fn append_event(&self, id: JobId, kind: &EventKind) -> Result<Event, LedgerError>;

    /// What one poll learned, in one transaction: new results (by URL, numbered after the job's
    /// others), new messages, the cursor past them, and the state move they imply. A crash
    /// repeats or loses none of it.
    async fn record_poll(&self, id: JobId, record: PollRecord) -> Result<(), LedgerError>;

    /// Events with `seq > since`, in order.
    async fn events(&self, id: JobId, since: i64) -> Result<Vec<Event>, LedgerError>;

    /// Takes or renews the job's lease for `owner` until `until`. Succeeds when the lease is
    /// free, expired, already `owner`'s, or held by `breakable` (an owner known to be dead).
    async fn claim(
        &self,
        id: JobId,
        owner: &str,
        until: Millis,
        breakable: Option<&str>,
    ) -> Result<bool, LedgerError>;

    async fn release(&self, id: JobId, owner: &str) -> Result<(), LedgerError>;

    async fn set_next_poll(&self, id: JobId, at: Option<Millis>) -> Result<(), LedgerError>;

    /// Adds an artifact if the job does not have one at that index yet; returns whether it was new.
    async fn add_artifact(&self, artifact: &Artifact) -> Result<bool, LedgerError>;

    /// Writes an artifact's download outcome (path, bytes, sha256, mime, state, error).
    async fn update_artifact(&self, artifact: &Artifact) -> Result<(), LedgerError>;

    async fn artifacts(&self, id: JobId) -> Result<Vec<Artifact>, LedgerError>;

    async fn record_upload(&self, upload: &UploadRecord) -> Result<(), LedgerError>;

    /// A live upload of the same file (path, size and mtime) for the same provider and model.
    async fn find_upload(
        &self,
        provider: &str,
        model: &str,
        local_path: &str,
        bytes: u64,
        modified: Millis,
        now: Millis,
    ) -> Result<Option<UploadRecord>, LedgerError>;

    /// Every handle the ledger knows for a provider (to tell reconciliation which tasks are taken).
    async fn handles(&self, provider: &str) -> Result<Vec<String>, LedgerError>;
}
