use serde::Serialize;

/// The class of a failure, which fixes the process exit code (shared/design.md, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A bug or an unexpected local failure (disk, ledger).
    Internal,
    /// Usage or invalid input; nothing was spent.
    Usage,
    /// Credentials or configuration.
    Config,
    /// The job failed or was canceled on the platform.
    JobFailed,
    /// A bounded wait ran out while the job goes on.
    StillRunning,
    /// The platform asks the user a question.
    NeedsInput,
    /// The network or the platform stayed unavailable after retries.
    Unavailable,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Config => 3,
            ErrorKind::JobFailed => 4,
            ErrorKind::StillRunning => 5,
            ErrorKind::NeedsInput => 6,
            ErrorKind::Unavailable => 7,
        }
    }
}

/// What every kino error offers its face: a kind (hence an exit code) and hints a person can act on.
pub trait Diagnostic: std::error::Error {
    fn kind(&self) -> ErrorKind;
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_design() {
        let codes: Vec<i32> = [
            ErrorKind::Internal,
            ErrorKind::Usage,
            ErrorKind::Config,
            ErrorKind::JobFailed,
            ErrorKind::StillRunning,
            ErrorKind::NeedsInput,
            ErrorKind::Unavailable,
        ]
        .into_iter()
        .map(ErrorKind::exit_code)
        .collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7]);
    }
}
