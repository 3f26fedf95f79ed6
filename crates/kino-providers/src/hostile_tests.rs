//! Hostile input for every provider response decoder (issue 8): whatever JSON a platform, a
//! proxy or an attacker answers with, a decoder returns a value or a typed error; it never
//! panics. Objects are built from the platforms' own field names so that the generator reaches
//! the decoders' inner branches, not only their first `get`.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::{dashscope, libtv, skillsvideo, xingyun3d, xyq};

const KEYS: &[&str] = &[
    "output",
    "task_status",
    "task_id",
    "video_url",
    "results",
    "url",
    "code",
    "message",
    "request_id",
    "usage",
    "data",
    "tasks",
    "total",
    "submit_time",
    "model",
    "ret",
    "errmsg",
    "run",
    "thread",
    "run_list",
    "run_id",
    "thread_id",
    "state",
    "entry_list",
    "entry_type",
    "content",
    "seq",
    "messages",
    "role",
    "id",
    "sessionId",
    "projectUuid",
    "task_result",
    "videos",
    "images",
    "previewPath",
    "status",
    "generation_id",
    "result",
    "urls",
    "error",
    "progress",
    "synth_state",
    "render_video_oss",
    "render_image_oss",
    "error_reason",
    "paths",
    "openapi",
    "components",
    "schemas",
    "$ref",
    "properties",
    "required",
    "type",
    "anyOf",
    "oneOf",
    "allOf",
    "requestBody",
    "post",
    "/generation/a/b",
    "/v1/generation/x",
    "navigation",
    "tool_calls",
    "orig_prompt",
    "next_seq",
    "cursor",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("SUCCEEDED"),
            Just("FAILED"),
            Just("RUNNING"),
            Just("PENDING"),
            Just("UNKNOWN"),
            Just("CANCELED"),
            Just("finished"),
            Just("error"),
            Just("processing"),
            Just("0"),
            Just("https://cdn.example/v.mp4"),
            Just("file:///etc/passwd"),
            Just("{\"a\":[1,"),
            Just(""),
            Just("\u{0}\u{ffff}"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
        ".{0,40}".prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn no_decoder_panics_on_any_answer(body in json(), status in 100u16..600, cursor in proptest::option::of("[0-9]{0,4}")) {
        let _ = dashscope::wire::api_error(status, &body, None);
        let _ = dashscope::wire::task_id(&body);
        let _ = dashscope::wire::poll_outcome(&body);
        let _ = dashscope::wire::listed_tasks(&body);
        let _ = libtv::wire::data(status, &body);
        let _ = libtv::wire::page(&body, cursor.as_deref());
        let _ = skillsvideo::wire::generation_id(&body);
        let _ = skillsvideo::wire::status_word(&body);
        let _ = skillsvideo::wire::outcome(&body);
        let _ = skillsvideo::wire::error(status, &body, None);
        let _ = xyq::wire::data(status, &body);
        let _ = xyq::wire::run(&body, cursor.as_deref(), 0);
        let _ = xingyun3d::render_outcome(&body);
    }

    #[test]
    fn the_openapi_loader_refuses_nonsense_without_panicking(openapi in json(), docs in proptest::option::of(json())) {
        let _ = skillsvideo::Catalog::from_documents(&openapi, docs.as_ref());
    }
}

/// A body nested far deeper than any platform answer is refused by the JSON parser's recursion
/// limit (a clear error), before any decoder walks it.
#[test]
fn a_deeply_nested_answer_is_refused_not_overflowed() {
    let depth = 100_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let parsed: Result<Value, _> = serde_json::from_str(&text);
    assert!(parsed.is_err_and(|e| e.to_string().contains("recursion limit")));
}
