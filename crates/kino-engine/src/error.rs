use kino_core::{Diagnostic, ErrorKind, JobId, JobState, ProviderError, ValidationError};
use kino_http::DownloadError;
use kino_ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    OverBudget(#[from] Box<kino_core::cost::OverBudget>),
    #[error("no provider `{0}` is configured")]
    UnknownProvider(String),
    /// A job (or a request) names a kino.toml profile that has no account of its provider, or
    /// is not configured at all (any more).
    #[error("{}", no_account_message(provider, profile, *configured))]
    NoAccount {
        provider: String,
        profile: String,
        /// Whether the profile exists (without an account of this provider).
        configured: bool,
    },
    #[error("job {id} is {state}: {message}")]
    WrongState {
        id: JobId,
        state: JobState,
        message: String,
    },
    #[error(
        "the create request of job {id} was lost and the task list shows {candidates} possible tasks: {list}"
    )]
    Ambiguous {
        id: JobId,
        candidates: usize,
        list: String,
    },
}

impl Diagnostic for EngineError {
    fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Validation(e) => e.kind(),
            EngineError::Provider(e) => e.kind(),
            EngineError::Ledger(e) => e.kind(),
            EngineError::Download(e) => e.kind(),
            EngineError::OverBudget(e) => e.kind(),
            EngineError::UnknownProvider(_) | EngineError::NoAccount { .. } => ErrorKind::Config,
            EngineError::WrongState { .. } => ErrorKind::Usage,
            EngineError::Ambiguous { .. } => ErrorKind::Unavailable,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            EngineError::Validation(e) => e.hints(),
            EngineError::Provider(e) => e.hints(),
            EngineError::Ledger(e) => e.hints(),
            EngineError::Download(e) => e.hints(),
            EngineError::OverBudget(e) => e.hints(),
            EngineError::UnknownProvider(_) => vec!["`kino providers` lists the providers and their credentials".into()],
            EngineError::Ambiguous { .. } => vec![
                "kino will not guess which task is yours and will not submit again; check the platform console".into(),
            ],
            EngineError::NoAccount { provider, profile, .. } => vec![
                format!("add [profiles.{profile}.{provider}] to kino.toml (`kino config` shows the profiles); a recorded job is left as it is, and `kino resume` goes on with it then"),
            ],
            EngineError::WrongState { .. } => Vec::new(),
        }
    }
}

fn no_account_message(provider: &str, profile: &str, configured: bool) -> String {
    if configured {
        format!("profile `{profile}` has no `{provider}` account")
    } else {
        format!("profile `{profile}` is not configured, so its `{provider}` account is unknown")
    }
}
