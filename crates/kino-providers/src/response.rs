//! Shared helpers for reading platform responses without trusting their shape.

use kino_core::ProviderError;
use kino_http::reqwest;

/// Maps a transport error of an idempotent call.
pub(crate) fn network(e: reqwest::Error) -> ProviderError {
    ProviderError::Network {
        message: kino_http::describe_error(e),
    }
}

/// Reads a body as JSON, tolerating an empty or non-JSON body (→ `Value::Null`).
pub(crate) async fn json_body(resp: reqwest::Response) -> Result<serde_json::Value, ProviderError> {
    let bytes = resp.bytes().await.map_err(network)?;
    if bytes.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        )
    }))
}

/// Sends a billable create. A connection that never opened, or a request that could not be
/// built, carried nothing: the platform saw no request. Any other failure may have reached it,
/// so its outcome is unknown (never resent blindly).
pub(crate) async fn send_create(
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, kino_core::SubmitError> {
    match req.send().await {
        Ok(r) => Ok(r),
        Err(e) if e.is_connect() || e.is_builder() => {
            Err(kino_core::SubmitError::NotCreated(network(e)))
        }
        Err(e) => Err(kino_core::SubmitError::OutcomeUnknown(
            kino_http::describe_error(e),
        )),
    }
}
