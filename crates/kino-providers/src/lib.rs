//! Platform adapters. Each implements [`kino_core::Provider`]; auth, wire formats and the
//! platform's quirks stay inside its module.

pub mod dashscope;
mod media_input;
mod response;

pub use media_input::{MediaKind, MediaValue, classify};
