//! Batches as the ledger keeps them: the plan of every row, written before anything is sent,
//! and where each row stands.

use std::fmt;
use std::str::FromStr;

use kino_core::{JobId, Millis};
use serde_json::Value;

/// Where a row of a batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Planned, not dispatched: no job exists for it yet.
    Waiting,
    /// Its job id is chosen and written; the job may or may not have been recorded yet (a crash
    /// in between is settled by looking for a job with that id).
    Dispatched,
    /// Its job ended well and every result is on disk.
    Succeeded,
    /// Its job failed, was canceled or expired, or could not be recorded.
    Failed,
    /// Never dispatched and never will be (an earlier row failed, or the budget stopped it).
    Skipped,
}

impl RowStatus {
    pub const ALL: [RowStatus; 5] = [
        RowStatus::Waiting,
        RowStatus::Dispatched,
        RowStatus::Succeeded,
        RowStatus::Failed,
        RowStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Waiting => "waiting",
            RowStatus::Dispatched => "dispatched",
            RowStatus::Succeeded => "succeeded",
            RowStatus::Failed => "failed",
            RowStatus::Skipped => "skipped",
        }
    }

    /// The status a row must stand at to move to this one. A row sent by another process
    /// going on with the batch is never marked skipped, and an outcome lands only on a row
    /// that was sent; a row written as dispatched without its job (edited by hand) goes back
    /// to waiting.
    pub fn moves_from(self) -> RowStatus {
        match self {
            RowStatus::Dispatched | RowStatus::Skipped => RowStatus::Waiting,
            RowStatus::Succeeded | RowStatus::Failed | RowStatus::Waiting => RowStatus::Dispatched,
        }
    }

    /// Nothing more will happen to the row.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RowStatus::Succeeded | RowStatus::Failed | RowStatus::Skipped
        )
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RowStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RowStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown batch row status `{s}`"))
    }
}

/// A batch to record, with all its rows (`waiting`), in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBatch {
    pub id: JobId,
    /// The batch file as given (for people; the plan is what counts).
    pub file: String,
    /// The review hash of the plan.
    pub hash: String,
    /// The options the batch runs with (concurrency, keep-going, budget), so that
    /// `kino batch resume` goes on exactly as it started.
    pub options: Value,
    pub rows: Vec<NewBatchRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewBatchRow {
    /// 1-based, in file order.
    pub index: u32,
    pub provider: String,
    pub model: String,
    /// Everything the row was planned as: request, out dir, prefix, estimate.
    pub plan: Value,
}

/// A recorded batch and its rows, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRecord {
    pub id: JobId,
    pub file: String,
    pub hash: String,
    pub options: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub rows: Vec<BatchRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BatchRow {
    pub index: u32,
    pub provider: String,
    pub model: String,
    pub plan: Value,
    pub status: RowStatus,
    pub job_id: Option<JobId>,
    /// Why a row was skipped or failed.
    pub reason: Option<String>,
    pub updated_at: Millis,
}

impl BatchRecord {
    /// How many rows stand in each status (every status listed, zeros included).
    pub fn counts(&self) -> Vec<(RowStatus, usize)> {
        RowStatus::ALL
            .into_iter()
            .map(|s| (s, self.rows.iter().filter(|r| r.status == s).count()))
            .collect()
    }
}
