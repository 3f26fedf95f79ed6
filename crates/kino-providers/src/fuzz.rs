//! Entry points of the fuzz targets under `fuzz/` (issue 8, hostile input), and the table the
//! stable corpus replay (`tests/fuzz_corpus.rs`) runs. Each takes arbitrary bytes, reads them as
//! kino reads a platform's answer (`response::parse_answer`, the bounded body reader's last
//! step), and runs the decoders of one platform on them. A decoder never panics: these
//! functions panic only when a property checked here is broken, which is the bug a fuzzer is
//! looking for.

use std::time::Duration;

use serde_json::{Map, Value};

use kino_core::JobRequest;

use crate::response::parse_answer;
use crate::{dashscope, libtv, skillsvideo, xingyun3d, xyq};

pub use kino_http::fuzz::result_file_name;

/// A target's entry point.
pub type Target = fn(&[u8]);

/// Every target: its name (a directory of `fuzz/corpus` and a file of `fuzz/fuzz_targets`)
/// and its entry point.
pub const TARGETS: &[(&str, Target)] = &[
    ("sse", sse),
    ("dashscope", dashscope),
    ("skillsvideo", skillsvideo),
    ("xyq", xyq),
    ("libtv", libtv),
    ("xingyun3d", xingyun3d),
    ("openapi", openapi),
    ("xingyun3d_json", xingyun3d_json),
    ("result_name", result_file_name),
];

/// The statuses an answer is decoded under: success, the client errors the decoders tell
/// apart, throttling, and the server errors.
const STATUSES: &[u16] = &[200, 202, 400, 401, 402, 403, 404, 422, 429, 500, 503];

const CURSORS: &[Option<&str>] = &[None, Some("0"), Some("3"), Some("id:msg-1"), Some("")];

fn shown<T, E: std::fmt::Display>(r: Result<T, E>) -> Option<T> {
    r.map_err(|e| e.to_string()).ok()
}

/// An event stream, as skills.video's create answers: decoded in any chunking to the same
/// events (`kino_http::fuzz::sse`), each event's JSON then read as a generation object.
pub fn sse(data: &[u8]) {
    kino_http::fuzz::sse(data);
    let mut decoder = kino_http::SseDecoder::new();
    let mut events = decoder.feed(data);
    events.extend(decoder.finish());
    for e in events {
        if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
            skillsvideo_value(&v);
        }
    }
}

/// A DashScope answer: a submit, a task query, a task list, or an error.
pub fn dashscope(data: &[u8]) {
    let body = parse_answer(data);
    for &status in STATUSES {
        let _ = dashscope::wire::api_error(status, &body, None).to_string();
    }
    let _ = dashscope::wire::api_error(429, &body, Some(Duration::from_secs(3)));
    let _ = dashscope::wire::task_id(&body);
    let _ = shown(dashscope::wire::poll_outcome(&body));
    let _ = dashscope::wire::listed_tasks(&body);
}

fn skillsvideo_value(body: &Value) {
    let _ = skillsvideo::wire::generation_id(body);
    if let Some(word) = skillsvideo::wire::status_word(body) {
        let _ = skillsvideo::wire::is_terminal(&word);
    }
    let _ = shown(skillsvideo::wire::outcome(body));
}

/// A skills.video answer: a generation object in either status vocabulary, or an error.
pub fn skillsvideo(data: &[u8]) {
    let body = parse_answer(data);
    skillsvideo_value(&body);
    for &status in STATUSES {
        let _ = skillsvideo::wire::error(status, &body, None).to_string();
    }
}

/// A Xiaoyunque answer: the envelope, then a get_thread `data` read for a run and a sequence.
pub fn xyq(data: &[u8]) {
    let body = parse_answer(data);
    for &status in STATUSES {
        if let Some(d) = shown(xyq::wire::data(status, &body)) {
            for run_id in [None, Some("run_456"), Some("")] {
                for after_seq in [0, 2, i64::MAX] {
                    let _ = shown(xyq::wire::run(&d, run_id, after_seq));
                }
            }
        }
    }
    let _ = shown(xyq::wire::run(&body, None, 0));
}

/// A LibTV answer: the envelope, then a page of session messages after each kind of cursor.
pub fn libtv(data: &[u8]) {
    let body = parse_answer(data);
    for &status in STATUSES {
        if let Some(d) = shown(libtv::wire::data(status, &body)) {
            for &cursor in CURSORS {
                let _ = shown(libtv::wire::page(&d, cursor));
            }
        }
    }
}

/// A xingyun3d get_render_task answer: its `data`, or the whole body taken as one.
pub fn xingyun3d(data: &[u8]) {
    let body = parse_answer(data);
    let _ = shown(xingyun3d::render_outcome(&body));
    if let Some(d) = body.get("data") {
        let _ = shown(xingyun3d::render_outcome(d));
    }
}

/// A skills.video OpenAPI document (also read as its docs.json): the catalog it yields, and for
/// each model the request template and a plan of a plain prompt against its schema.
pub fn openapi(data: &[u8]) {
    let doc = parse_answer(data);
    let request = JobRequest {
        fields: Map::from_iter([("prompt".to_string(), Value::from("a red kite"))]),
        ..JobRequest::default()
    };
    for docs in [None, Some(&doc)] {
        let Some(catalog) = shown(skillsvideo::Catalog::from_documents(&doc, docs)) else {
            continue;
        };
        for endpoint in catalog.endpoints.values() {
            let _ = skillsvideo::template(endpoint);
            let _ = shown(skillsvideo::schema::plan(endpoint, &request));
        }
    }
}

/// xingyun3d signs `py_json` of its body: for any JSON value it is deterministic, ASCII, valid
/// JSON, and reads back as the same value.
pub fn xingyun3d_json(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let once = xingyun3d::py_json(&value);
    assert_eq!(
        once,
        xingyun3d::py_json(&value),
        "py_json is not deterministic"
    );
    assert!(once.is_ascii(), "py_json wrote non-ASCII: {once:?}");
    let back: Value = serde_json::from_str(&once)
        .unwrap_or_else(|e| panic!("py_json wrote invalid JSON ({e}): {once:?}"));
    assert_eq!(back, value, "py_json changed the value: {once:?}");
    let _ = xingyun3d::token(
        "/user/v1/video_synthesis_task/create_render_task",
        "POST",
        &once,
        "secret",
        1_700_000_000,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_takes_empty_and_junk_input() {
        for (_, run) in super::TARGETS {
            run(b"");
            run(b"\xff{\"a\":[1,");
            run(b"{}");
        }
    }
}
