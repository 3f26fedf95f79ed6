//! The HTTP layer every provider adapter shares: one place that builds clients (so credentials
//! are only ever attached per request, never to a client that also reaches CDN hosts), retry
//! timing, rate limits, and the streaming download and upload paths that keep memory flat.

mod backoff;
mod client;
mod download;
mod file_part;
#[doc(hidden)]
pub mod fuzz;
mod rate_limiter;
mod sse;

pub use backoff::{Backoff, parse_retry_after};
pub use client::{ClientError, api_client, download_client};
pub use download::{
    DownloadError, Fetched, describe_error, fetch_resumable, finalize_no_overwrite, part_path,
    result_extension,
};
pub use file_part::file_part;
pub use rate_limiter::RateLimiter;
pub use reqwest;
pub use sse::{SseDecoder, SseEvent};
