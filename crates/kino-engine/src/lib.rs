//! The engine turns the ledger's records into finished jobs. It is a library: it never prints
//! and never reads the environment; faces subscribe to its event stream.
//!
//! A job is driven one short step at a time (submit, poll, reconcile, download), each step
//! recorded before the next, so a crash anywhere loses at most the step in flight and a 48-hour
//! job never holds anything but a lease.

mod attach;
pub mod batch;
pub mod chain;
mod config;
mod cost;
mod download;
mod drive;
mod engine;
mod error;
mod history;
pub mod media;
mod owner;
pub mod view;
mod worker;

pub use attach::{ATTACHED_MODE, UNKNOWN_MODEL, check_handle};
pub use config::EngineConfig;
pub use cost::{CostGroup, CostKey, summarize};
pub use engine::{Engine, Outcome, check_prefix};
pub use error::EngineError;
pub use owner::Owner;
pub use worker::{WorkerConfig, Workers};
