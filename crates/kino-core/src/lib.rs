//! kino's domain model: what a job is, which states it moves through, what a provider adapter
//! must offer, and how every failure maps to an exit code. Nothing here performs I/O, so the
//! CLI, the service and the tests all share one vocabulary.

mod artifact;
pub mod cost;
mod error_kind;
mod event;
mod job;
mod job_id;
mod poll_plan;
mod provider;
mod redact;
mod secret;
mod state;

pub use artifact::{Artifact, ArtifactKind, ArtifactRef, DownloadState, MediaProbe};
pub use error_kind::{Diagnostic, ErrorKind};
pub use event::{Event, EventKind};
pub use job::{Job, JobRequest, NewJob, RequestDefaults, words};
pub use job_id::JobId;
pub use poll_plan::{EARLY_POLLS, Expected, PollPlan, WINDOW_CADENCE_CAP, Window};
pub use provider::{
    FollowLimits, Handle, LocalInput, LostCreate, ModeInfo, Plan, PollOutcome, PollPolicy,
    Provider, ProviderError, ProviderInfo, Reconciled, RemoteMessage, RemoteStatus, SubmitError,
    Submitted, Turns, Unpaced, ValidationError,
};
pub use redact::{redact_url, redact_urls_in};
pub use secret::Secret;
pub use state::{JobState, UnknownState};

/// Milliseconds since the Unix epoch: the one clock unit stored in the ledger.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}
