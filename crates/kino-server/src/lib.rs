//! `kino serve`: the REST API of shared/design.md over the engine the CLI uses. Thin: every
//! handler is a call into the engine or the ledger and a JSON rendering of its answer.

mod api;
mod error;
mod mcp;

pub use api::router;
pub use kino_engine::{WorkerConfig, Workers};
pub use mcp::KinoMcp;
