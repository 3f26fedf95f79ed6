use kino_core::{Diagnostic, ErrorKind, JobId, JobState};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no job matches `{0}`")]
    NotFound(String),
    #[error("`{prefix}` matches {count} jobs")]
    Ambiguous { prefix: String, count: usize },
    #[error("job {id} is {actual}, not {expected}")]
    Conflict {
        id: JobId,
        actual: JobState,
        expected: String,
    },
    #[error("the ledger at {location} cannot be opened: {message}")]
    Open { location: String, message: String },
    #[error("ledger error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the ledger holds a malformed value in {column}: {message}")]
    Corrupt {
        column: &'static str,
        message: String,
    },
}

impl Diagnostic for LedgerError {
    fn kind(&self) -> ErrorKind {
        match self {
            LedgerError::NotFound(_) | LedgerError::Ambiguous { .. } => ErrorKind::Usage,
            LedgerError::Open { .. } => ErrorKind::Config,
            _ => ErrorKind::Internal,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            LedgerError::NotFound(_) => {
                vec!["`kino list` shows the jobs in this ledger (KINO_HOME)".into()]
            }
            LedgerError::Ambiguous { .. } => vec!["give more characters of the job id".into()],
            LedgerError::Open { .. } => {
                vec!["check KINO_HOME (or KINO_LEDGER) and its permissions".into()]
            }
            _ => Vec::new(),
        }
    }
}
