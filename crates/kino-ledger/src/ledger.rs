use async_trait::async_trait;

use kino_core::cost::Estimate;
use kino_core::{Artifact, Event, EventKind, Job, JobId, JobState, Millis, NewJob};

use crate::{
    ArtifactRecord, Change, Claim, CostFigure, CostRecord, CostRow, JobFilter, JobRecord,
    LedgerError, LedgerInfo, PollRecord, RunTime, UploadRecord, Wakeups,
};

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

    /// Gives the lease back and wakes the fleet: the job is anyone's to continue.
    async fn release(&self, id: JobId, owner: &str) -> Result<(), LedgerError>;

    /// A worker's claim: up to `claim.limit` unfinished jobs (not waiting for an answer) whose
    /// next step is due and whose lease is free, expired or breakable, leased to the claimant
    /// in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE SKIP LOCKED under an
    /// advisory lock, so two workers never take the same job and caps are counted once).
    async fn claim_due(&self, claim: &Claim) -> Result<Vec<Job>, LedgerError>;

    /// Who holds a live lease on an unfinished job (to find dead holders on this host).
    async fn lease_holders(&self, now: Millis) -> Result<Vec<String>, LedgerError>;

    /// When the next job not leased by `owner` becomes claimable (its lease runs out, or its
    /// next poll comes); `now` when one already is; `None` when there is no such job.
    async fn next_due(&self, owner: &str, now: Millis) -> Result<Option<Millis>, LedgerError>;

    /// Takes the next turn of the request pace `key` (one turn per `interval`, shared by every
    /// process of this ledger) and returns how long to wait for it.
    async fn take_turn(
        &self,
        key: &str,
        interval: std::time::Duration,
    ) -> Result<std::time::Duration, LedgerError>;

    /// A subscription that wakes when any process of this ledger records work.
    async fn wakeups(&self) -> Result<Wakeups, LedgerError>;

    /// The backend, where it is, and its schema version.
    async fn describe(&self) -> Result<LedgerInfo, LedgerError>;

    /// Everything the ledger holds of one job (`kino ledger export`).
    async fn export_job(&self, id: JobId) -> Result<JobRecord, LedgerError> {
        Ok(JobRecord {
            job: self.job(id).await?,
            events: self.events(id, 0).await?,
            artifacts: self
                .artifacts(id)
                .await?
                .iter()
                .map(ArtifactRecord::of)
                .collect(),
            cost: self.job_cost(id).await?,
        })
    }

    /// Writes an exported job as it was, without a lease; false (and nothing written) when the
    /// ledger already has a job with its id.
    async fn import_job(&self, record: &JobRecord) -> Result<bool, LedgerError>;

    async fn set_next_poll(&self, id: JobId, at: Option<Millis>) -> Result<(), LedgerError>;

    /// Adds an artifact if the job does not have one at that index yet; returns whether it was new.
    async fn add_artifact(&self, artifact: &Artifact) -> Result<bool, LedgerError>;

    /// Writes an artifact's download outcome (path, bytes, sha256, mime, state, error) and its
    /// probe.
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

    /// How long the `limit` latest succeeded jobs of a provider and model took, newest first
    /// (the poll plan learns when to look from them).
    async fn run_times(
        &self,
        provider: &str,
        model: &str,
        limit: u32,
    ) -> Result<Vec<RunTime>, LedgerError>;

    /// Writes one of a job's cost figures: its estimate when it is recorded, what it was
    /// charged when it has succeeded. A later write of the same figure replaces it.
    async fn set_cost(
        &self,
        id: JobId,
        figure: CostFigure,
        value: &Estimate,
    ) -> Result<(), LedgerError>;

    /// A job's cost figures as stored, if it has any (`kino ledger export`).
    async fn job_cost(&self, id: JobId) -> Result<Option<CostRecord>, LedgerError>;

    /// The latest `limit` known charges (an amount, not `unknown`) of a provider's model
    /// written since `since`, newest first: what an estimate learns from when the table has no
    /// price. Unknown ones are left out before the limit, so they cannot crowd out the rest.
    async fn recent_charges(
        &self,
        provider: &str,
        model: &str,
        since: Millis,
        limit: u32,
    ) -> Result<Vec<Estimate>, LedgerError>;

    /// Every job created at or after `since` with its cost figures (none when it has none),
    /// oldest first.
    async fn costs(&self, since: Millis) -> Result<Vec<CostRow>, LedgerError>;

    /// Records a batch and every one of its rows (`waiting`) in one transaction, before any row
    /// is sent.
    async fn insert_batch(&self, batch: &crate::NewBatch) -> Result<(), LedgerError>;

    /// A batch with its rows, by full id or a unique prefix of it.
    async fn find_batch(&self, id_or_prefix: &str) -> Result<crate::BatchRecord, LedgerError>;

    /// The `limit` latest batches with their rows, newest first.
    async fn batches(&self, limit: u32) -> Result<Vec<crate::BatchRecord>, LedgerError>;

    /// Writes where a row stands: its status, the job it became (kept when `None`), and why it
    /// was skipped or failed. Only from the status it moves from ([`crate::RowStatus::moves_from`]):
    /// false, and nothing written, when another process has moved the row meanwhile.
    async fn set_batch_row(
        &self,
        batch: JobId,
        index: u32,
        status: crate::RowStatus,
        job_id: Option<JobId>,
        reason: Option<&str>,
    ) -> Result<bool, LedgerError>;

    /// Moves a `waiting` row to `dispatched` with the job it is to become; false (and nothing
    /// written) when the row is not waiting any more: another process sends it.
    async fn dispatch_batch_row(
        &self,
        batch: JobId,
        index: u32,
        job_id: JobId,
    ) -> Result<bool, LedgerError>;
}
