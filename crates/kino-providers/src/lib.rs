//! Platform adapters. Each implements [`kino_core::Provider`]; auth, wire formats and the
//! platform's quirks stay inside its module.

mod conversation;
pub mod dashscope;
#[doc(hidden)]
pub mod fuzz;
#[cfg(test)]
mod hostile_tests;
pub mod libtv;
mod media_input;
mod response;
pub mod skillsvideo;
pub mod xingyun3d;
pub mod xyq;

pub use media_input::{MediaKind, MediaValue, classify};
