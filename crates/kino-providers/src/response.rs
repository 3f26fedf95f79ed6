//! Shared helpers for reading platform responses without trusting their shape.

use kino_core::ProviderError;
use kino_http::reqwest;

/// Maps a transport error of an idempotent call.
pub(crate) fn network(e: reqwest::Error) -> ProviderError {
    ProviderError::Network {
        message: kino_http::describe_error(e),
    }
}

/// The largest answer kino reads from a platform API. Task answers are a few kilobytes and the
/// largest document read (skills.video's OpenAPI file) is about a megabyte; a body beyond this is
/// refused before it is held in memory, whatever its Content-Length says.
pub(crate) const MAX_ANSWER: usize = 32 * 1024 * 1024;

/// Reads a body as JSON, tolerating an empty or non-JSON body (→ `Value::Null` / a string of its
/// start). Bounded: at most [`MAX_ANSWER`] bytes are held.
pub(crate) async fn json_body(
    mut resp: reqwest::Response,
) -> Result<serde_json::Value, ProviderError> {
    let too_big = || ProviderError::Protocol {
        message: format!(
            "the platform's answer is larger than {} MiB; kino refuses to read it",
            MAX_ANSWER / (1024 * 1024)
        ),
    };
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(network)? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(parse_answer(&bytes))
}

pub(crate) fn parse_answer(bytes: &[u8]) -> serde_json::Value {
    if bytes.is_empty() {
        return serde_json::Value::Null;
    }
    // Invalid UTF-8, nesting beyond serde_json's recursion limit, or plain text: kept as the
    // (lossy) start of the text, which the decoders then refuse with a protocol error.
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        serde_json::Value::String(
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_answers_become_short_text_not_panics() {
        assert_eq!(parse_answer(b""), serde_json::Value::Null);
        let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        assert!(
            parse_answer(deep.as_bytes())
                .as_str()
                .is_some_and(|s| s.len() <= 300)
        );
        let invalid = [b'{', 0xff, 0xfe, b'}'];
        assert!(
            parse_answer(&invalid)
                .as_str()
                .is_some_and(|s| s.contains('\u{fffd}'))
        );
    }

    /// A server that streams far more than any answer, with no Content-Length, and one that
    /// announces a huge one: both refused with a clear error, in bounded memory.
    #[tokio::test]
    async fn an_endless_or_huge_answer_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for announce in [false, true] {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                if announce {
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\n{")
                        .await;
                    continue;
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await;
                let chunk = vec![b' '; 1024 * 1024];
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                // 64 MiB of whitespace: twice the limit.
                for _ in 0..64 {
                    if sock.write_all(&framed).await.is_err() {
                        break;
                    }
                }
            }
        });
        let client = kino_http::api_client("kino-test").expect("client");
        for _ in 0..2 {
            let resp = client
                .get(format!("http://{addr}/"))
                .send()
                .await
                .expect("send");
            let got = json_body(resp).await;
            assert!(
                matches!(&got, Err(ProviderError::Protocol { message }) if message.contains("larger than")),
                "{got:?}"
            );
        }
    }
}
