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
    #[error("no provider `{0}` is configured")]
    UnknownProvider(String),
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
            EngineError::UnknownProvider(_) => ErrorKind::Config,
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
            EngineError::UnknownProvider(_) => vec!["`kino providers` lists the providers and their credentials".into()],
            EngineError::Ambiguous { .. } => vec![
                "kino will not guess which task is yours and will not submit again; check the platform console".into(),
            ],
            EngineError::WrongState { .. } => Vec::new(),
        }
    }
}
