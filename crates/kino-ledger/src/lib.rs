//! The durable record of every job: written before anything is paid for, read back after any
//! crash. [`Ledger`] is the one storage trait; [`SqliteLedger`] is the embedded implementation
//! (WAL, one file in KINO_HOME) and [`PgLedger`] the shared one a fleet of workers on many
//! machines divides its work through. Both run the same queries (see `sql.rs`) and pass the
//! same story tests.

mod batch;
mod change;
mod claim;
mod cost;
mod error;
mod filter;
mod ledger;
mod migrations;
mod postgres;
mod record;
mod sql;
mod sqlite;
mod upload;
mod wake;

pub use batch::{BatchRecord, BatchRow, NewBatch, NewBatchRow, RowStatus};
pub use change::{Change, PollRecord};
pub use claim::Claim;
pub use cost::{CostFigure, CostRecord, CostRow};
pub use error::LedgerError;
pub use filter::JobFilter;
pub use ledger::Ledger;
pub use postgres::PgLedger;
pub use record::{ArtifactRecord, JobRecord, LedgerInfo, RunTime};
pub use sqlite::SqliteLedger;
pub use upload::UploadRecord;
pub use wake::Wakeups;

/// Opens the ledger `location` names: a `postgres://` or `postgresql://` URL, or an SQLite file.
pub async fn open(location: &str) -> Result<std::sync::Arc<dyn Ledger>, LedgerError> {
    if PgLedger::is_url(location) {
        Ok(std::sync::Arc::new(PgLedger::connect(location).await?))
    } else {
        Ok(std::sync::Arc::new(
            SqliteLedger::open(std::path::Path::new(location)).await?,
        ))
    }
}
