//! The SSE create answer: `data: <generation json>` events for IN_QUEUE, IN_PROGRESS and the
//! terminal state (each once reached, in order), `: ping` comments whenever nothing was written
//! for `sv_keepalive`, and a clean end after the terminal event.
//!
//! Frames use `\n` line endings, except for models with `split_frames` (`kling-ai/v3/image`):
//! those use `\r\n` and split the JSON over two `data:` lines (joined with `\n` by the client,
//! which is still the same JSON). `sv_drop_stream_after` aborts the connection instead of
//! sending the next event; `sv_stall_after` goes silent until the client leaves (or the sandbox
//! stops).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::watch;

use super::generations::Status;
use crate::state::{Shared, lock};

/// Frame one event payload.
pub(crate) fn data_frame(json: &str, split: bool) -> String {
    if !split {
        return format!("data: {json}\n\n");
    }
    match split_point(json) {
        Some(i) => format!("data: {}\r\ndata: {}\r\n\r\n", &json[..i], &json[i..]),
        None => format!("data: {json}\r\n\r\n"),
    }
}

fn ping_frame(split: bool) -> &'static str {
    if split {
        ": ping\r\n\r\n"
    } else {
        ": ping\n\n"
    }
}

/// Just after the first `,` outside a string: a token boundary, so a `\n` may go there.
fn split_point(json: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in json.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            return Some(i + 1);
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Run,
    Stalled,
    Done,
}

struct Stream {
    shared: Arc<Shared>,
    id: String,
    split: bool,
    /// Data events sent.
    sent: u32,
    /// Rank of the next stage to announce (0 queued, 1 in progress, 2 terminal).
    next_rank: u8,
    last_write: Instant,
    keepalive: Duration,
    drop_after: Option<u32>,
    stall_after: Option<u32>,
    stop: watch::Receiver<bool>,
    phase: Phase,
}

/// Why the stream yields an error: hyper then aborts the connection (no clean end).
fn abort() -> std::io::Error {
    std::io::Error::other("sandbox: sv_drop_stream_after reached")
}

/// Resolves when the sandbox stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl Stream {
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Stalled => {
                    stopped(&mut self.stop).await;
                    self.phase = Phase::Done;
                    return None;
                }
                Phase::Run if self.stall_after == Some(self.sent) => {
                    self.phase = Phase::Stalled;
                    continue;
                }
                Phase::Run => {}
            }
            let now = Instant::now();
            let legacy = self.shared.config().sv_legacy_status;
            let (due, event) = {
                let store = lock(&self.shared.sv.store);
                let generation = store.get(&self.id)?;
                let due = generation.reaches(self.next_rank);
                let stage = match self.next_rank {
                    0 => Status::InQueue,
                    1 => Status::InProgress,
                    _ => generation.terminal(),
                };
                let event = (generation.status(now).rank() >= self.next_rank)
                    .then(|| generation.to_json_as(stage, legacy).to_string());
                (due, event)
            };
            if let Some(json) = event {
                if self.drop_after == Some(self.sent) {
                    self.phase = Phase::Done;
                    // Let the server flush the events already sent: an abort right behind them
                    // would discard them with the connection. Regression: behind a slow answer
                    // every event was due at once, and the client never saw the first.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Some(Err(abort()));
                }
                self.sent = self.sent.saturating_add(1);
                self.next_rank += 1;
                if self.next_rank > 2 {
                    self.phase = Phase::Done;
                }
                self.last_write = now;
                return Some(Ok(Bytes::from(data_frame(&json, self.split))));
            }
            let ping_at = (!self.keepalive.is_zero())
                .then(|| self.last_write.checked_add(self.keepalive))
                .flatten();
            let wake = match ping_at {
                Some(p) if p < due => p,
                _ => due,
            };
            tokio::select! {
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
                () = stopped(&mut self.stop) => {
                    self.phase = Phase::Done;
                    return None;
                }
            }
            if ping_at.is_some_and(|p| p <= Instant::now() && p < due) {
                self.last_write = Instant::now();
                return Some(Ok(Bytes::from_static(ping_frame(self.split).as_bytes())));
            }
        }
    }
}

/// The `200 text/event-stream` answer for generation `id`.
pub(crate) fn respond(shared: Arc<Shared>, id: String, split: bool) -> Response {
    let config = shared.config();
    shared.bump(|s| s.sv_streams += 1);
    let stop = shared.stop.clone();
    let state = Stream {
        shared,
        id,
        split,
        sent: 0,
        next_rank: 0,
        last_write: Instant::now(),
        keepalive: config.sv_keepalive,
        drop_after: config.sv_drop_stream_after,
        stall_after: config.sv_stall_after,
        stop,
        phase: Phase::Run,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        st.next().await.map(|item| (item, st))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(body)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(data_frame(r#"{"a":1}"#, false), "data: {\"a\":1}\n\n");
        let json = r#"{"id":"g,1","b":[1,2]}"#;
        let framed = data_frame(json, true);
        assert_eq!(
            framed,
            "data: {\"id\":\"g,1\",\r\ndata: \"b\":[1,2]}\r\n\r\n"
        );
        // A client joins the data lines with \n: still the same JSON.
        let joined: Vec<&str> = framed
            .split("\r\n")
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        let v: serde_json::Value = serde_json::from_str(&joined.join("\n")).expect("json");
        assert_eq!(v["id"], "g,1");
        assert_eq!(split_point(r#"{"a":"\",x"}"#), None);
        assert_eq!(data_frame("{}", true), "data: {}\r\n\r\n");
        assert_eq!(ping_frame(false), ": ping\n\n");
    }
}
