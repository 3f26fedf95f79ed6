//! The durable record of every job: written before anything is paid for, read back after any
//! crash. [`Ledger`] is the one storage trait; [`SqliteLedger`] is the embedded implementation
//! (WAL, embedded migrations). A PostgreSQL implementation slots in behind the same trait.

mod change;
mod error;
mod filter;
mod ledger;
mod sqlite;
mod upload;

pub use change::{Change, PollRecord};
pub use error::LedgerError;
pub use filter::JobFilter;
pub use ledger::Ledger;
pub use sqlite::SqliteLedger;
pub use upload::UploadRecord;
