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
