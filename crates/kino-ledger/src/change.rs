use serde_json::Value;

use kino_core::Millis;

/// What a state transition writes besides the state, in the same transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    /// The platform handle, learned in this very step.
    pub handle: Option<String>,
    pub error: Option<String>,
    pub usage: Option<Value>,
    /// The exact body about to be sent.
    pub wire: Option<Value>,
    pub reason: Option<String>,
    pub submitted_at: Option<Millis>,
    /// Counts a create request as sent.
    pub count_attempt: bool,
    pub next_poll_at: Option<Millis>,
    /// Where a person can watch the job (learned with the handle).
    pub web_link: Option<String>,
    /// Forget the conversation cursor (a new run starts reading from its beginning).
    pub reset_cursor: bool,
    /// Start the conversation cursor here (a reused conversation's earlier messages are not
    /// this job's).
    pub cursor: Option<String>,
    /// How long the job ran by the platform's own clock, learned with its success.
    pub ran_ms: Option<Millis>,
}

/// Everything one poll learned, written at once (see [`crate::Ledger::record_poll`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PollRecord {
    pub messages: Vec<kino_core::EventKind>,
    pub cursor: Option<String>,
    pub artifacts: Vec<kino_core::ArtifactRef>,
    pub transition: Option<(kino_core::JobState, kino_core::JobState, Change)>,
}
