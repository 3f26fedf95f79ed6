//! The SSE side of skills.video: a create's event stream is read in the background, and polls
//! of that generation are answered from it while it lives. A stream that ends or stalls before
//! a terminal state is dropped, and polls go to `GET /generation/{id}` instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use kino_http::reqwest;
use kino_http::{SseDecoder, SseEvent};

use super::wire;

/// What the background reader knows of one generation.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// The latest generation object the stream carried.
    pub latest: Option<Value>,
    /// When `latest` last changed.
    pub updated: Option<std::time::Instant>,
    /// The stream is gone (ended, cut, or stalled) without a terminal event.
    pub lost: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct Streams {
    live: Mutex<HashMap<String, Arc<Mutex<Live>>>>,
}

impl Streams {
    pub fn get(&self, id: &str) -> Option<Arc<Mutex<Live>>> {
        self.live.lock().ok().and_then(|m| m.get(id).cloned())
    }

    pub fn forget(&self, id: &str) {
        if let Ok(mut m) = self.live.lock() {
            m.remove(id);
        }
    }

    fn insert(&self, id: &str, live: Arc<Mutex<Live>>) {
        if let Ok(mut m) = self.live.lock() {
            m.insert(id.to_string(), live);
        }
    }
}

/// Reads SSE frames from a response body; each next() waits at most `stall` for any byte,
/// keep-alive comments included.
pub(super) struct Reader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
    pending: std::collections::VecDeque<SseEvent>,
    stall: Duration,
    ended: bool,
}

pub(super) enum Next {
    Event(Value),
    /// The stream ended or broke; the reason.
    Gone(String),
}

impl Reader {
    pub fn new(resp: reqwest::Response, stall: Duration) -> Self {
        Self {
            body: resp.bytes_stream().boxed(),
            decoder: SseDecoder::new(),
            pending: Default::default(),
            stall,
            ended: false,
        }
    }

    /// The next generation object on the stream (events whose data is not JSON are skipped).
    pub async fn next(&mut self) -> Next {
        loop {
            while let Some(e) = self.pending.pop_front() {
                if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
                    return Next::Event(v);
                }
            }
            if self.ended {
                return Next::Gone("the event stream ended before a final state".into());
            }
            match tokio::time::timeout(self.stall, self.body.next()).await {
                Err(_) => {
                    return Next::Gone(format!(
                        "the event stream stalled (nothing for {} s)",
                        self.stall.as_secs()
                    ));
                }
                Ok(Some(Ok(chunk))) => self.pending.extend(self.decoder.feed(&chunk)),
                Ok(Some(Err(e))) => {
                    self.ended = true;
                    self.pending.extend(self.decoder.finish());
                    if self.pending.is_empty() {
                        return Next::Gone(format!(
                            "the event stream broke: {}",
                            kino_http::describe_error(e)
                        ));
                    }
                }
                Ok(None) => {
                    self.ended = true;
                    self.pending.extend(self.decoder.finish());
                }
            }
        }
    }
}

/// Keeps reading a stream whose generation id is known, for polls to read from.
pub(super) fn follow(streams: &Arc<Streams>, id: String, first: Value, mut reader: Reader) {
    let live = Arc::new(Mutex::new(Live {
        latest: Some(first),
        updated: Some(std::time::Instant::now()),
        lost: None,
    }));
    streams.insert(&id, live.clone());
    tokio::spawn(async move {
        loop {
            match reader.next().await {
                Next::Event(v) => {
                    // Only a generation object moves the cell: other frames carry no state.
                    let Some(word) = wire::status_word(&v) else {
                        continue;
                    };
                    let terminal = wire::is_terminal(&word);
                    if let Ok(mut l) = live.lock() {
                        l.latest = Some(v);
                        l.updated = Some(std::time::Instant::now());
                    }
                    if terminal {
                        return;
                    }
                }
                Next::Gone(why) => {
                    if let Ok(mut l) = live.lock() {
                        l.lost = Some(why);
                    }
                    return;
                }
            }
        }
    });
}
