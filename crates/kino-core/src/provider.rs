use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{ArtifactRef, Diagnostic, ErrorKind, JobRequest, Millis};

/// The platform's identifier of a submitted job (DashScope: the task_id).
pub type Handle = String;

/// One platform adapter. Auth lives inside; the engine sees only this surface.
#[async_trait]
pub trait Provider: Send + Sync {
    fn info(&self) -> ProviderInfo;

    /// Validates a request completely (including that local files exist and are of the right
    /// kind) and resolves its mode and model. Sends nothing.
    fn prepare(&self, request: &JobRequest) -> Result<Plan, ValidationError>;

    /// Turns a local file into a reference the platform accepts as input.
    async fn upload(&self, model: &str, input: &LocalInput) -> Result<String, ProviderError>;

    /// The exact body to send, once every local input of the plan has a reference
    /// (`references` pairs a [`LocalInput::pointer`] with its reference).
    fn build(&self, plan: &Plan, references: &[(String, String)])
    -> Result<Value, ValidationError>;

    /// Sends the (billable) create request once. Never retried by the adapter after it may have
    /// reached the platform.
    async fn submit(&self, plan: &Plan, body: &Value) -> Result<Handle, SubmitError>;

    async fn poll(&self, handle: &str) -> Result<PollOutcome, ProviderError>;

    async fn cancel(&self, handle: &str) -> Result<(), ProviderError>;

    /// Looks for the job a lost create response would have made: a task of `model` created
    /// around `sent_at`, other than the handles in `exclude` (which belong to other jobs).
    /// Needs nothing of the request but its model, so it works after the inputs are gone.
    async fn reconcile(
        &self,
        model: &str,
        sent_at: Millis,
        exclude: &[String],
    ) -> Result<Reconciled, ProviderError>;

    fn poll_policy(&self) -> PollPolicy;
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub modes: Vec<ModeInfo>,
    /// Environment variables that configure credentials (names only).
    pub credential_env: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModeInfo {
    pub mode: &'static str,
    pub default_model: &'static str,
    pub models: Vec<&'static str>,
    pub summary: &'static str,
}

/// A validated request: everything needed to upload and submit, and to rebuild the body after
/// a crash.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub mode: String,
    pub model: String,
    pub request: Map<String, Value>,
    pub local_inputs: Vec<LocalInput>,
}

/// A request field whose value is a local file.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalInput {
    /// JSON pointer into the flat request, e.g. `/img_url` or `/reference_urls/1`.
    pub pointer: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub mime: String,
}

/// When to poll: fast at first, backing off to a cap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl PollPolicy {
    /// The delay before poll number `n` (0-based) of a job.
    pub fn delay(&self, n: u32) -> Duration {
        let grown = self.initial.as_secs_f64() * self.factor.powi(n.min(64) as i32);
        Duration::from_secs_f64(grown.min(self.max.as_secs_f64()))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RemoteStatus {
    Queued {
        position: Option<i64>,
    },
    Running {
        percent: Option<f64>,
    },
    Succeeded,
    Failed {
        code: Option<String>,
        message: String,
    },
    Canceled,
    /// The platform no longer knows the job.
    Expired {
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PollOutcome {
    pub status: RemoteStatus,
    /// The platform's own status word, for events.
    pub raw_status: String,
    pub artifacts: Vec<ArtifactRef>,
    pub usage: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reconciled {
    Found(Handle),
    NotFound,
    Ambiguous(Vec<Handle>),
    /// The platform's answer cannot settle it (too many tasks in the window to read them all).
    Inconclusive(String),
}

/// Input that breaks a rule; nothing was sent.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid `{field}`: {rule}")]
pub struct ValidationError {
    pub field: String,
    pub rule: String,
    pub hint: Option<String>,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl Diagnostic for ValidationError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
    fn hints(&self) -> Vec<String> {
        let mut h: Vec<String> = self.hint.iter().cloned().collect();
        h.push("nothing was uploaded or submitted".into());
        h
    }
}

/// A platform call that did not succeed. Messages never carry credentials.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("the platform refused the credentials (HTTP {status} {code}): {message}")]
    Auth {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the platform rejected the request (HTTP {status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("rate limited by the platform (HTTP 429): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("the platform is unavailable (HTTP {status}): {message}")]
    Unavailable { status: u16, message: String },
    #[error("network error: {message}")]
    Network { message: String },
    #[error("unexpected response from the platform: {message}")]
    Protocol { message: String },
    #[error("{message}")]
    NotCancelable { message: String },
    #[error("cannot read {path}: {message}")]
    LocalFile { path: String, message: String },
}

impl ProviderError {
    /// Worth another try later (polls, downloads, uploads; never a create that may have landed).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Unavailable { .. }
                | ProviderError::Network { .. }
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Diagnostic for ProviderError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProviderError::Auth { .. } => ErrorKind::Config,
            ProviderError::Rejected { .. }
            | ProviderError::NotCancelable { .. }
            | ProviderError::LocalFile { .. } => ErrorKind::Usage,
            ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Network { .. }
            | ProviderError::Protocol { .. } => ErrorKind::Unavailable,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            ProviderError::Auth { .. } => vec![
                "check the API key (`kino doctor` shows whether it is set, never its value)".into(),
                "the key, the model and the base URL must belong to the same region".into(),
            ],
            ProviderError::Rejected { .. } => {
                vec!["nothing was charged for a rejected request".into()]
            }
            ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Network { .. } => {
                vec!["the job is kept in the ledger; `kino resume` continues it later".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// A create request that did not yield a handle.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SubmitError {
    /// The platform certainly did not create the job (refused it, or it never left this machine).
    #[error(transparent)]
    NotCreated(ProviderError),
    /// The request may have created a (billable) job, but its response was lost.
    #[error("the create request's outcome is unknown: {0}")]
    OutcomeUnknown(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_policy_backs_off_to_the_cap() {
        let p = PollPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(15),
            factor: 2.0,
        };
        let d: Vec<u64> = (0..6).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 15, 15]);
        assert_eq!(p.delay(u32::MAX).as_secs(), 15);
    }

    #[test]
    fn validation_errors_name_field_and_rule() {
        let e = ValidationError::new("duration", "kf2v supports only 5 seconds");
        assert_eq!(
            e.to_string(),
            "invalid `duration`: kf2v supports only 5 seconds"
        );
        assert_eq!(e.kind().exit_code(), 2);
    }
}
