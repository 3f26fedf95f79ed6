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

    /// Checks a file to upload on its own (`kino upload`): it exists, and its kind and size suit
    /// the platform. Sends nothing.
    fn upload_input(&self, path: &std::path::Path) -> Result<LocalInput, ValidationError>;

    /// Turns a local file into a reference the platform accepts as input.
    async fn upload(&self, model: &str, input: &LocalInput) -> Result<String, ProviderError>;

    /// The exact body to send, once every local input of the plan has a reference
    /// (`references` pairs a [`LocalInput::pointer`] with its reference).
    fn build(&self, plan: &Plan, references: &[(String, String)])
    -> Result<Value, ValidationError>;

    /// Sends the (billable) create request once. Never retried by the adapter after it may have
    /// reached the platform.
    async fn submit(&self, plan: &Plan, body: &Value) -> Result<Submitted, SubmitError>;

    /// One look at the job. `cursor` is what the previous look returned (conversational
    /// platforms fetch messages incrementally); the new one comes back in the outcome.
    async fn poll(&self, handle: &str, cursor: Option<&str>) -> Result<PollOutcome, ProviderError>;

    /// Answers a question on the same conversation (a billable request, like a submit). The
    /// returned handle replaces the job's (Xiaoyunque starts a new run in the same thread).
    async fn reply(
        &self,
        handle: &str,
        message: &str,
        references: &[String],
    ) -> Result<Submitted, SubmitError> {
        let _ = (handle, message, references);
        Err(SubmitError::NotCreated(ProviderError::Rejected {
            status: 0,
            code: "NotConversational".into(),
            message: format!("{} jobs do not take replies", self.info().id),
        }))
    }

    async fn cancel(&self, handle: &str) -> Result<(), ProviderError>;

    /// Looks for the job a lost create (or reply) response would have made. Needs nothing of
    /// the request but its model, so it works after the inputs are gone.
    async fn reconcile(&self, lost: &LostCreate<'_>) -> Result<Reconciled, ProviderError>;

    fn poll_policy(&self) -> PollPolicy;

    /// Whether jobs of one model and shape take alike times, so that the engine may plan when
    /// to poll from how long recent ones took ([`crate::PollPlan`]). Not for agents that may
    /// ask a question at any moment, nor for streams whose polls cost nothing.
    fn learns_run_times(&self) -> bool {
        false
    }

    /// The request schema of a model, for platforms that publish one.
    fn request_schema(&self, model: &str) -> Option<Value> {
        let _ = model;
        None
    }

    /// What a validated request would be billed on (resolution, seconds, results), for the
    /// price table. By default: one result of its model, nothing more known.
    fn quantity(&self, plan: &Plan) -> crate::cost::Quantity {
        crate::cost::Quantity::job(&plan.mode, &plan.model)
    }

    /// What a finished job was billed, from the `usage` its platform reported; `None` when the
    /// platform reports nothing billable.
    fn billed(&self, mode: &str, model: &str, usage: &Value) -> Option<crate::cost::Billed> {
        let _ = (mode, model, usage);
        None
    }

    fn follow_limits(&self) -> FollowLimits {
        FollowLimits {
            give_up_after: None,
            max_failures: None,
        }
    }
}

/// What a create (or reply) request returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub handle: Handle,
    /// Where a person can watch the job on the platform (Xiaoyunque thread, LibTV canvas).
    pub web_link: Option<String>,
    /// Where the job's own messages begin, when it continues a conversation that already has
    /// some (they belong to earlier jobs).
    pub cursor: Option<String>,
}

impl Submitted {
    pub fn handle(handle: impl Into<Handle>) -> Self {
        Self {
            handle: handle.into(),
            web_link: None,
            cursor: None,
        }
    }
}

/// A platform's request turns, shared by every process of a fleet (its rate limit). A step
/// that sends several requests takes a turn before each one: a reconcile reading list pages and
/// then tasks, sent all on one turn, went past the platform's limit while other processes kept
/// theirs.
#[async_trait]
pub trait Turns: Send + Sync {
    /// Waits for the next turn. An error means the step must stop for a reason of the caller's
    /// (its ledger, its lease), not the platform's.
    async fn next(&self) -> Result<(), ProviderError>;
}

/// Turns at once, for a caller that paces nothing.
pub struct Unpaced;

#[async_trait]
impl Turns for Unpaced {
    async fn next(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// A create or reply whose answer was lost.
#[derive(Clone, Copy)]
pub struct LostCreate<'a> {
    pub model: &'a str,
    pub sent_at: Millis,
    /// Handles other jobs already own.
    pub exclude: &'a [String],
    /// The job's handle before a lost reply (the conversation it continued).
    pub previous: Option<&'a str>,
    /// The body that was sent.
    pub wire: Option<&'a Value>,
    /// Taken before each request the search sends.
    pub turns: &'a dyn Turns,
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
    pub default_model: String,
    /// From a platform's own documents for some providers, hence owned.
    pub models: Vec<String>,
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

impl Plan {
    /// The request with every local input replaced by its uploaded reference (`references` pairs
    /// a [`LocalInput::pointer`] with it). A local file left without one is an error: it must
    /// never be sent as a path.
    pub fn with_references(
        &self,
        references: &[(String, String)],
    ) -> Result<Map<String, Value>, ValidationError> {
        let mut request = Value::Object(self.request.clone());
        for (pointer, reference) in references {
            let slot = request.pointer_mut(pointer).ok_or_else(|| {
                ValidationError::new(
                    pointer.trim_start_matches('/'),
                    "no such field to carry the upload",
                )
            })?;
            *slot = Value::String(reference.clone());
        }
        if let Some(missing) = self
            .local_inputs
            .iter()
            .find(|l| !references.iter().any(|(p, _)| p == &l.pointer))
        {
            return Err(ValidationError::new(
                missing
                    .pointer
                    .trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or("input"),
                format!("{} has not been uploaded", missing.path.display()),
            ));
        }
        match request {
            Value::Object(fields) => Ok(fields),
            _ => Ok(Map::new()),
        }
    }
}

impl LocalInput {
    /// The file's name, as uploads carry it.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload.bin".into())
    }
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

/// How long and how stubbornly a provider's jobs are followed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FollowLimits {
    /// A job still unfinished this long after its submit is given up as `expired`.
    pub give_up_after: Option<Duration>,
    /// Failed polls in a row before a foreground command stops following (exit 7).
    pub max_failures: Option<u32>,
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
    /// The platform's agent asks the user something and waits for `reply`.
    NeedsInput {
        question: String,
    },
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
    /// Conversation messages new since the cursor the poll was given.
    pub messages: Vec<RemoteMessage>,
    /// The cursor for the next poll; `None` keeps the current one.
    pub cursor: Option<String>,
    /// How long the job ran by the platform's own clock (create to end), when it says: the
    /// poll plan learns from it, not from when kino happened to see the end.
    pub ran_for: Option<Duration>,
}

impl PollOutcome {
    /// An outcome with no messages and no cursor (task-polling platforms).
    pub fn status(status: RemoteStatus, raw_status: impl Into<String>) -> Self {
        Self {
            status,
            raw_status: raw_status.into(),
            artifacts: Vec::new(),
            usage: None,
            messages: Vec::new(),
            cursor: None,
            ran_for: None,
        }
    }
}

/// A message of a conversation, as the platform's agent (or the user) wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteMessage {
    /// `user`, `assistant`, `tool`, …
    pub role: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reconciled {
    /// A task in the window that could be this job's (the list does not show requests).
    Found(Handle),
    /// The task whose request is this job's very request: only another job that sent the
    /// same request could be mistaken for it.
    Matched(Handle),
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
    #[error("{}", clock_skew_message(*skew_secs))]
    ClockSkew { skew_secs: Option<i64> },
    #[error("not enough credits on the platform: {message}")]
    InsufficientCredits {
        message: String,
        recharge_url: String,
    },
}

impl ProviderError {
    /// The usual reading of an HTTP error status: 401/403 credentials, 429 rate limit, 5xx
    /// unavailable, any other a rejection of the request.
    pub fn from_status(
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        match status {
            401 | 403 => ProviderError::Auth {
                status,
                code,
                message,
            },
            429 => ProviderError::RateLimited {
                retry_after,
                message: format!("{code}: {message}"),
            },
            500..=599 => ProviderError::Unavailable {
                status,
                message: format!("{code}: {message}"),
            },
            _ => ProviderError::Rejected {
                status,
                code,
                message,
            },
        }
    }

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
            ProviderError::Auth { .. }
            | ProviderError::InsufficientCredits { .. }
            | ProviderError::ClockSkew { .. } => ErrorKind::Config,
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
            ProviderError::ClockSkew { .. } => vec![
                "set the system clock right (for example enable NTP: `timedatectl set-ntp true`), then try again".into(),
            ],
            ProviderError::InsufficientCredits { recharge_url, .. } => vec![format!(
                "recharge at {recharge_url}, then run the job again; nothing was created and nothing is retried"
            )],
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

fn clock_skew_message(skew: Option<i64>) -> String {
    match skew {
        Some(s) => format!("this machine's clock differs from the platform's by {s} s, more than the 60 s the platform allows"),
        None => "the platform refused the request's timestamp: this machine's clock is probably off by more than 60 s".into(),
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
