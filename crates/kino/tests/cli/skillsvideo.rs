//! skills.video through the CLI: models from its documents, schema validation, SSE first with
//! polling when the stream drops or stalls, credits.

use std::time::Duration;

use serde_json::{Value, json};

use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, fast_config, run};

use super::{ctx, ctx_with, kino, sha256_file};

fn sv(t: &TestContext, args: &[&str]) -> kino_testkit::Run {
    let mut all = vec!["run", "skillsvideo", "--json"];
    all.extend_from_slice(args);
    kino(t, &all)
}

fn assert_results(out: &Value, kind: &str, count: usize) {
    let artifacts: Vec<&Value> = out["artifacts"].as_array().into_iter().flatten().collect();
    assert_eq!(artifacts.len(), count, "{out}");
    for a in artifacts {
        assert_eq!(
            (a["kind"].as_str(), a["state"].as_str()),
            (Some(kind), Some("done")),
            "{a}"
        );
        let path = std::path::Path::new(a["path"].as_str().unwrap_or_default());
        assert_eq!(a["sha256"].as_str(), Some(sha256_file(path).as_str()));
    }
}

#[test]
fn an_image_and_a_video_job_complete_over_sse() {
    let t = ctx();
    let image = sv(
        &t,
        &[
            "--model",
            "google/nano-banana-pro",
            "a cat",
            "--param",
            "n=2",
        ],
    );
    assert_eq!(image.code, 0, "{}", image.stderr);
    let image = image.json();
    assert_eq!(image["state"], "succeeded");
    assert_results(&image, "image", 2);
    assert_eq!(image["usage"]["total"], 40, "credits used are recorded");
    let video = sv(
        &t,
        &[
            "--model",
            "google/veo-3.1",
            "a dog",
            "--param",
            "duration=4",
        ],
    );
    assert_eq!(video.code, 0, "{}", video.stderr);
    assert_results(&video.json(), "video", 1);
    let s = t.stats();
    assert_eq!((s.sv_creates, s.sv_streams), (2, 2));
    assert_eq!(s.sv_polls, 0, "a live stream answers every poll");
    let body = t.last_create_body();
    assert_eq!(
        body,
        json!({"prompt": "a dog", "duration": 4}),
        "only the fields given, typed by the schema"
    );
}

#[test]
fn a_stream_dropped_after_its_first_event_falls_back_to_polling_with_one_create_each() {
    let t = ctx_with(SandboxConfig {
        sv_drop_stream_after: Some(1),
        ..fast_config()
    });
    for (model, kind) in [
        ("google/nano-banana-pro", "image"),
        ("google/veo-3.1", "video"),
    ] {
        let r = sv(&t, &["--model", model, "dropped"]);
        assert_eq!(r.code, 0, "{model}: {}", r.stderr);
        let out = r.json();
        assert_results(&out, kind, 1);
        let events = kino(
            &t,
            &[
                "events",
                out["job_id"].as_str().unwrap_or_default(),
                "--json",
            ],
        )
        .stdout;
        assert!(events.contains("following by polling"), "{events}");
    }
    let s = t.stats();
    assert_eq!(
        (s.sv_creates, s.sv_create_attempts),
        (2, 2),
        "exactly one create each"
    );
    assert!(s.sv_polls >= 2);
}

#[test]
fn a_stalled_stream_falls_back_to_polling() {
    let t = ctx_with(SandboxConfig {
        sv_stall_after: Some(1),
        ..fast_config()
    });
    let mut cmd = t.kino();
    cmd.env("KINO_SKILLSVIDEO_STALL_SECS", "1").args([
        "run",
        "skillsvideo",
        "--json",
        "--model",
        "openai/gpt-image-1.5",
        "stalled",
    ]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_results(&r.json(), "image", 1);
    assert_eq!(t.stats().sv_creates, 1);
    assert!(t.stats().sv_polls >= 1);
}

#[test]
fn crlf_split_data_and_the_old_status_words_are_understood() {
    let t = ctx_with(SandboxConfig {
        sv_legacy_status: true,
        ..fast_config()
    });
    let r = sv(&t, &["--model", "kling-ai/v3/image", "old words, crlf"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_results(&r.json(), "image", 1);
    assert_eq!(t.stats().sv_polls, 0);
}

#[test]
fn bad_payloads_exit_2_naming_the_field_before_any_request() {
    let t = ctx();
    for (args, field) in [
        (
            vec!["--model", "google/veo-3.1", "p", "--param", "colour=red"],
            "`colour`",
        ),
        (
            vec!["--model", "google/veo-3.1", "p", "--param", "duration=5"],
            "`duration`",
        ),
        (
            vec!["--model", "google/veo-3.1", "--param", "duration=8"],
            "`prompt`",
        ),
        (
            vec![
                "--model",
                "openai/gpt-image-1.5",
                "p",
                "--param",
                "quality=ultra",
            ],
            "`quality`",
        ),
        (vec!["--model", "no/such-model", "p"], "`model`"),
        (vec!["p"], "`model`"),
    ] {
        let r = sv(&t, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(field), "{args:?}: {}", r.stderr);
    }
    assert_eq!(t.stats().sv_create_attempts, 0);
}

#[test]
fn insufficient_credits_give_the_recharge_message_and_exit_3_without_retry() {
    let t = ctx_with(SandboxConfig {
        sv_credits: 10,
        ..fast_config()
    });
    let r = sv(&t, &["--model", "google/nano-banana-pro", "too expensive"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("credits") && r.stderr.contains("https://skills.video/dashboard"),
        "{}",
        r.stderr
    );
    assert_eq!(t.stats().sv_create_attempts, 1, "no retry");
    let c = kino(&t, &["credits", "skillsvideo", "--json"]);
    assert_eq!(
        (c.code, c.json()["total"].clone()),
        (0, json!(10)),
        "{}",
        c.stderr
    );
}

#[test]
fn local_files_go_as_multipart_with_repeated_fields() {
    let t = ctx();
    let a = t.sample_png();
    let b = t.work_path("b.png");
    std::fs::copy(&a, &b).unwrap_or(0);
    let request = json!({"prompt": "two refs", "image_urls": [a.display().to_string(), b.display().to_string()]});
    let r = sv(
        &t,
        &[
            "--model",
            "google/nano-banana-pro",
            "--request",
            &request.to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let body = t.last_create_body();
    let files: Vec<String> = body["image_urls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(files.len(), 2, "{body}");
    assert!(files.iter().all(|f| f.starts_with("<file:")), "{body}");
}

#[test]
fn models_schema_and_a_refresh_of_other_document_layouts() {
    let t = ctx();
    let m = kino(&t, &["models", "skillsvideo", "--json"]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let models = m.json()["models"].clone();
    let veo = models
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["model"] == "google/veo-3.1")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (veo["kind"].as_str(), veo["sse"].as_bool()),
        (Some("video"), Some(true))
    );
    let s = kino(&t, &["schema", "skillsvideo", "google/veo-3.1", "--json"]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert_eq!(s.json()["template"]["duration"], 8);
    assert!(s.json()["template"]["prompt"].is_string());
    t.sandbox.set_config(|c| {
        c.sv_v1_paths = true;
        c.sv_openapi_31 = true;
    });
    let r = kino(&t, &["models", "skillsvideo", "--refresh", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json()["models"].as_array().map(Vec::len),
        models.as_array().map(Vec::len)
    );
    let run = sv(
        &t,
        &[
            "--model",
            "wan/wan-v2.6",
            "after a refresh",
            "--param",
            "duration=5",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::thread::sleep(Duration::from_millis(10));
}
