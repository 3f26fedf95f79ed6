use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job stands. The names are part of kino's public contract (JSON output, ledger, REST).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Recorded in the ledger; nothing has been sent to the platform.
    Pending,
    /// The create request may be in flight: its outcome is not known yet.
    Submitting,
    /// The platform accepted the job and has not started it.
    Queued,
    Running,
    /// The platform waits for an answer from the user (conversational platforms).
    NeedsInput,
    Succeeded,
    Failed,
    Canceled,
    /// The platform no longer knows the job (DashScope UNKNOWN, or a platform time limit).
    Expired,
    /// The create request's outcome was lost; kino reconciles it instead of sending it again.
    Unknown,
}

impl JobState {
    pub const ALL: [JobState; 10] = [
        JobState::Pending,
        JobState::Submitting,
        JobState::Queued,
        JobState::Running,
        JobState::NeedsInput,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Canceled,
        JobState::Expired,
        JobState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Submitting => "submitting",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::NeedsInput => "needs_input",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
            JobState::Expired => "expired",
            JobState::Unknown => "unknown",
        }
    }

    /// The platform's part is over: no more polling. (A succeeded job may still have artifacts
    /// to download; that is tracked per artifact.)
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Canceled | JobState::Expired
        )
    }

    /// A paid request may exist on the platform for a job in this state.
    pub fn may_have_remote(self) -> bool {
        !matches!(self, JobState::Pending)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown job state `{0}` (expected one of: pending, submitting, queued, running, needs_input, succeeded, failed, canceled, expired, unknown)"
)]
pub struct UnknownState(pub String);

impl FromStr for JobState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for st in JobState::ALL {
            assert_eq!(st.as_str().parse::<JobState>().ok(), Some(st));
            let json = serde_json::to_string(&st).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
        }
        assert!("done".parse::<JobState>().is_err());
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                JobState::Succeeded,
                JobState::Failed,
                JobState::Canceled,
                JobState::Expired
            ]
        );
    }
}
