//! kino's command line against the sandbox: the acceptance points of the foundation issue.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use kino_sandbox::{Fault, FaultTarget, SandboxConfig};
use kino_testkit::{FAKE_KEY, Run, TestContext, eventually, fast_config, run, spawn};

#[path = "cli/attach.rs"]
mod attach;
#[path = "cli/batch.rs"]
mod batch;
#[path = "cli/browser.rs"]
mod browser;
#[path = "cli/chain.rs"]
mod chain;
#[path = "cli/config.rs"]
mod config;
#[path = "cli/conversations.rs"]
mod conversations;
#[path = "cli/cost.rs"]
mod cost;
#[path = "cli/crash.rs"]
mod crash;
#[path = "cli/faults.rs"]
mod faults;
#[path = "cli/fleet.rs"]
mod fleet;
#[path = "cli/mcp.rs"]
mod mcp;
#[path = "cli/media.rs"]
mod media;
#[path = "cli/profiles.rs"]
mod profiles;
#[path = "cli/serve.rs"]
mod serve;
#[path = "cli/skillsvideo.rs"]
mod skillsvideo;
#[path = "cli/xingyun3d.rs"]
mod xingyun3d;

/// The xingyun3d presenter every test renders with (look, voice and studio are required).
pub(crate) const XY_LOOK: [&str; 6] = [
    "--param",
    "look_name=AM054_Jap_9021_new",
    "--param",
    "tts_vcn_name=XMOV_HN_TTS__236",
    "--param",
    "studio_name=youling_2d_v",
];

pub(crate) fn ctx() -> TestContext {
    TestContext::new(env!("CARGO_BIN_EXE_kino"))
}

pub(crate) fn ctx_with(config: SandboxConfig) -> TestContext {
    TestContext::with_config(env!("CARGO_BIN_EXE_kino"), config)
}

pub(crate) fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

pub(crate) fn kino(t: &TestContext, args: &[&str]) -> Run {
    let mut cmd = t.kino();
    cmd.args(args);
    run(cmd)
}

/// Runs a request to success and checks the video on disk is complete and byte-identical.
fn run_to_success(t: &TestContext, request: Value) -> (Value, Value) {
    let r = kino(t, &["run", "--json", "--request", &request.to_string()]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let out = r.json();
    assert_eq!(out["state"], "succeeded");
    assert_eq!(out["done"], true);
    let handle = out["handle"].as_str().unwrap().to_string();
    let path = out["artifacts"][0]["path"].as_str().unwrap();
    assert_eq!(
        Some(sha256_file(Path::new(path))),
        t.sandbox.result_sha256(&handle)
    );
    let sent = t
        .sandbox
        .requests()
        .into_iter()
        .find(|r| r.task_id.as_deref() == Some(&handle))
        .unwrap();
    assert_eq!(sent.header("x-dashscope-async"), Some("enable"));
    assert_eq!(t.stats().async_header_missing, 0);
    (out, sent.body)
}

#[test]
fn t2v_runs_to_a_complete_video_with_the_contract_body() {
    let t = ctx();
    let req = json!({"prompt":"A detective walking through a rainy city at night","size":"1280*720","duration":5,"shot_type":"multi","prompt_extend":true});
    let (out, body) = run_to_success(&t, req);
    assert_eq!(
        body,
        json!({"model":"wan2.6-t2v","input":{"prompt":"A detective walking through a rainy city at night"},"parameters":{"size":"1280*720","duration":5,"shot_type":"multi","prompt_extend":true}})
    );
    assert_eq!(out["mode"], "t2v");
    assert_eq!(t.stats().creates, 1);
}

#[test]
fn i2v_uploads_a_local_image_through_get_policy_and_oss() {
    let t = ctx();
    let png = t.sample_png();
    let (_, body) = run_to_success(
        &t,
        json!({"prompt":"A cat running on grass","img_url": png.display().to_string(),"resolution":"720P","duration":5}),
    );
    let img = body["input"]["img_url"].as_str().unwrap();
    assert!(
        img.starts_with("oss://dashscope-instant/") && img.ends_with("/input.png"),
        "{img}"
    );
    let s = t.stats();
    assert_eq!((s.policies, s.uploads, s.auth_on_cdn), (1, 1, 0));
    let sent = t.sandbox.requests().pop().unwrap();
    assert_eq!(
        sent.header("x-dashscope-ossresourceresolve"),
        Some("enable")
    );
}

#[test]
fn i2v_wan27_media_protocol_with_file_url() {
    let t = ctx();
    let png = t.sample_png();
    let (_, body) = run_to_success(
        &t,
        json!({"model":"wan2.7-i2v","prompt":"p","first_frame_url": format!("file://{}", png.display()),"last_frame_url": t.sample_url("sample.png"),"resolution":"720P","duration":5}),
    );
    assert_eq!(body["input"]["media"][0]["type"], "first_frame");
    assert!(
        body["input"]["media"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("oss://")
    );
    assert_eq!(
        body["input"]["media"][1],
        json!({"type":"last_frame","url": t.sample_url("sample.png")})
    );
}

#[test]
fn kf2v_goes_to_the_image2video_endpoint() {
    let t = ctx();
    let (_, body) = run_to_success(
        &t,
        json!({"prompt":"A cat looks up","first_frame_url": t.sample_url("sample.png"),"last_frame_url": t.sample_url("sample.png")}),
    );
    assert_eq!(
        body["parameters"],
        json!({"resolution":"720P","duration":5})
    );
    let sent = t.sandbox.requests().pop().unwrap();
    assert!(
        sent.path
            .ends_with("/services/aigc/image2video/video-synthesis"),
        "{}",
        sent.path
    );
}

#[test]
fn r2v_with_image_and_video_references() {
    let t = ctx();
    let mp4 = t.sample_mp4();
    let (_, body) = run_to_success(
        &t,
        json!({"prompt":"character1 greets character2","reference_urls":[t.sample_url("sample.png"), mp4.display().to_string()],"size":"1280*720","duration":5}),
    );
    assert_eq!(body["model"], "wan2.6-r2v-flash");
    assert!(
        body["input"]["reference_urls"][1]
            .as_str()
            .unwrap()
            .starts_with("oss://")
    );
}

#[test]
fn vace_all_five_functions() {
    let t = ctx();
    let png = t.sample_url("sample.png");
    let mp4 = t.sample_url("sample.mp4");
    let cases = [
        json!({"function":"image_reference","prompt":"A girl in a forest","ref_images_url":[png, png],"obj_or_bg":["obj","bg"],"size":"1280*720"}),
        json!({"function":"video_repainting","prompt":"p","video_url": mp4,"control_condition":"depth","strength":0.6}),
        json!({"function":"video_edit","prompt":"p","video_url": mp4,"mask_image_url": png,"mask_frame_id":1}),
        json!({"function":"video_extension","prompt":"p","first_clip_url": mp4}),
        json!({"function":"video_outpainting","prompt":"p","video_url": mp4,"top_scale":1.5}),
    ];
    for c in cases {
        let (_, body) = run_to_success(&t, c.clone());
        assert_eq!(body["model"], "wan2.1-vace-plus");
        assert_eq!(body["input"]["function"], c["function"]);
    }
    assert_eq!(t.stats().creates, 5);
}

#[test]
fn videoedit_wan27_and_happyhorse_models() {
    let t = ctx();
    let mp4 = t.sample_url("sample.mp4");
    let png = t.sample_url("sample.png");
    let (_, body) = run_to_success(
        &t,
        json!({"model":"wan2.7-videoedit","prompt":"claymation","video_url": mp4,"reference_urls":[png],"resolution":"720P"}),
    );
    assert_eq!(
        body["input"]["media"],
        json!([{"type":"video","url": mp4},{"type":"reference_image","url": png}])
    );
    for req in [
        json!({"model":"happyhorse-1.0-t2v","prompt":"p","resolution":"720P","ratio":"16:9"}),
        json!({"model":"happyhorse-1.0-i2v","img_url": png}),
        json!({"model":"happyhorse-1.0-r2v","prompt":"[Image 1] waves","reference_urls":[png]}),
        json!({"model":"happyhorse-1.0-video-edit","prompt":"p","video_url": mp4}),
        json!({"model":"wan2.7-t2v","prompt":"p","resolution":"1080P","ratio":"9:16"}),
    ] {
        let (out, _) = run_to_success(&t, req.clone());
        assert_eq!(out["model"], req["model"]);
    }
}

#[test]
fn positional_prompt_and_params_are_shorthands_for_the_request() {
    let t = ctx();
    let r = kino(
        &t,
        &[
            "run",
            "dashscope",
            "a lighthouse",
            "--param",
            "duration=10",
            "--param",
            "prompt_extend=false",
            "--prefix",
            "light",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let body = t.sandbox.requests().pop().unwrap().body;
    assert_eq!(
        body,
        json!({"model":"wan2.6-t2v","input":{"prompt":"a lighthouse"},"parameters":{"duration":10,"prompt_extend":false,"size":"1280*720"}})
    );
    assert!(t.work_path("light.mp4").exists());
}

#[test]
fn invalid_input_exits_2_naming_field_and_rule_before_any_request() {
    let t = ctx();
    let text = t.work_path("notes.txt");
    std::fs::write(&text, "not an image").unwrap();
    let missing = t.work_path("missing.png");
    let six: Vec<String> = (1..=6).map(|i| format!("https://e/{i}.png")).collect();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"first_frame_url":"https://e/a.png","last_frame_url":"https://e/b.png","duration":10}),
            "`duration`",
            "5 seconds",
        ),
        (
            json!({"prompt":"p","resolution":"720P"}),
            "`resolution`",
            "`size`",
        ),
        (
            json!({"model":"wan2.1-vace-plus","prompt":"p"}),
            "`function`",
            "function",
        ),
        (
            json!({"prompt":"p","reference_urls": six}),
            "`reference_urls`",
            "at most 5",
        ),
        (
            json!({"prompt":"p","img_url": missing.display().to_string()}),
            "`img_url`",
            "cannot be read",
        ),
        (
            json!({"prompt":"p","img_url": text.display().to_string()}),
            "`img_url`",
            "must be image",
        ),
        (
            json!({"model":"wan2.7-i2v","media":[{"type":"first_frame","url":"https://e/a.png"},{"type":"first_clip","url":"https://e/c.mp4"}]}),
            "`media`",
            "accepts",
        ),
        (
            json!({"model":"wan2.6-t2v","prompt":"p","ratio":"16:9"}),
            "`ratio`",
            "does not take a ratio",
        ),
    ];
    for (req, field, rule) in cases {
        let r = kino(&t, &["run", "--request", &req.to_string()]);
        assert_eq!(r.code, 2, "{req}: {}", r.stderr);
        assert!(
            r.stderr.contains(field) && r.stderr.contains(rule),
            "{req}: {}",
            r.stderr
        );
    }
    let r = kino(&t, &["run", "x", "--request", "{not json"]);
    assert_eq!(r.code, 2);
    let r = kino(&t, &["wait", "nope", "--timeout", "soon"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let s = t.stats();
    assert_eq!(
        (s.create_attempts, s.policies, s.uploads),
        (0, 0, 0),
        "nothing may be sent"
    );
    let list = kino(&t, &["list", "--json"]).json();
    assert_eq!(list, json!([]), "nothing may be recorded");
}

#[test]
fn dry_run_sends_and_records_nothing() {
    let t = ctx();
    let png = t.sample_png();
    let r = kino(
        &t,
        &[
            "run",
            "--dry-run",
            "--json",
            "--input",
            &format!("img_url={}", png.display()),
            "a cat",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(doc["mode"], "i2v");
    assert!(
        doc["body"]["input"]["img_url"]
            .as_str()
            .unwrap()
            .starts_with("<upload: ")
    );
    assert_eq!(t.stats().create_attempts + t.stats().policies, 0);
    assert_eq!(kino(&t, &["list", "--json"]).json(), json!([]));
}

/// Kills `kino run` once `moment` holds, then resumes; the sandbox must count one create and
/// the video must end complete and byte-identical.
fn kill_then_resume(t: &TestContext, moment: impl FnMut() -> bool, what: &str) {
    let mut cmd = t.kino();
    cmd.args(["run", "--json", "a paid video"]);
    let mut child = spawn(cmd);
    assert!(
        eventually(Duration::from_secs(30), moment),
        "never reached: {what}"
    );
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let r = kino(t, &["resume", "--json", "--timeout", "60s"]);
    assert_eq!(
        r.code, 0,
        "resume after kill {what}: {}\n{}",
        r.stdout, r.stderr
    );
    let jobs = r.json();
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
    let job = &jobs[0];
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(t.stats().creates, 1, "exactly one paid create ({what})");
    let handle = job["handle"].as_str().unwrap();
    let path = job["artifacts"][0]["path"].as_str().unwrap();
    assert_eq!(
        Some(sha256_file(Path::new(path))),
        t.sandbox.result_sha256(handle),
        "{what}"
    );
    let parts: Vec<_> = TestContext::files_under(t.work.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
}

#[test]
fn kill_during_submit_then_resume_reconciles_without_paying_twice() {
    let t = ctx_with(SandboxConfig {
        submit_delay: Duration::from_secs(3),
        ..fast_config()
    });
    kill_then_resume(&t, || t.stats().creates == 1, "during submit");
    let events = kino(&t, &["events", &last_job(&t), "--json"]);
    assert!(
        events.stdout.contains("found in the platform's task list"),
        "{}",
        events.stdout
    );
    assert!(t.stats().lists >= 1);
}

#[test]
fn kill_during_polling_then_resume() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_secs(1),
        running: Duration::from_secs(2),
        ..fast_config()
    });
    kill_then_resume(&t, || t.stats().queries >= 2, "during polling");
}

#[test]
fn kill_during_download_then_resume_continues_with_range() {
    let t = ctx_with(SandboxConfig {
        video_size: Some(8 * 1024 * 1024),
        download_rate: Some(2 * 1024 * 1024),
        ..fast_config()
    });
    let work = t.work.path().to_path_buf();
    let part_started = || {
        TestContext::files_under(&work).iter().any(|p| {
            p.to_string_lossy().ends_with(".part")
                && std::fs::metadata(p)
                    .map(|m| m.len() > 256 * 1024)
                    .unwrap_or(false)
        })
    };
    kill_then_resume(&t, part_started, "during download");
    assert!(
        t.stats().range_downloads >= 1,
        "the download must resume with Range"
    );
}

fn last_job(t: &TestContext) -> String {
    kino(t, &["list", "--json"]).json()[0]["job_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_429_with_retry_after_and_bursts_of_503_while_polling_are_survived() {
    let t = ctx();
    t.sandbox.inject(Fault {
        target: FaultTarget::Query,
        status: 429,
        times: 2,
        retry_after_secs: Some(1),
        kind: Default::default(),
    });
    t.sandbox.inject(Fault {
        target: FaultTarget::Query,
        status: 503,
        times: 4,
        retry_after_secs: None,
        kind: Default::default(),
    });
    t.sandbox.inject(Fault {
        target: FaultTarget::Download,
        status: 503,
        times: 2,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let r = kino(&t, &["run", "--json", "survive"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["state"], "succeeded");
    let s = t.stats();
    assert_eq!(s.creates, 1);
    assert!(s.throttled >= 2);
}

#[test]
fn a_429_on_submit_is_retried_because_nothing_was_created() {
    let t = ctx();
    t.sandbox.inject(Fault {
        target: FaultTarget::Submit,
        status: 429,
        times: 1,
        retry_after_secs: Some(1),
        kind: Default::default(),
    });
    let r = kino(&t, &["run", "--json", "throttled create"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = t.stats();
    assert_eq!((s.create_attempts, s.creates), (2, 1));
}

#[test]
fn a_permanent_401_fails_fast_with_exit_3_and_no_retries() {
    let t = ctx_with(SandboxConfig {
        api_keys: vec!["sk-the-only-valid-key".into()],
        ..fast_config()
    });
    let r = kino(&t, &["run", "--json", "unauthorised"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("401") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    assert_eq!(t.stats().create_attempts, 1);
    let list = kino(&t, &["list", "--json"]).json();
    assert_eq!(list[0]["state"], "failed");
}

#[test]
fn missing_credentials_for_dashscope_exit_3() {
    let t = ctx();
    let mut cmd = t.bare();
    cmd.args(["run", "dashscope", "a cat"]);
    let r = run(cmd);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("DASHSCOPE_API_KEY"), "{}", r.stderr);
}

#[test]
fn without_credentials_run_uses_the_embedded_sandbox_and_says_so() {
    let t = ctx();
    let mut cmd = t.bare();
    cmd.args(["run", "a prompt", "--json"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("embedded sandbox"), "{}", r.stderr);
    let out = r.json();
    assert_eq!(out["provider"], "sandbox");
    let path = out["artifacts"][0]["path"].as_str().unwrap();
    assert_eq!(
        std::fs::read(path).unwrap(),
        kino_sandbox::media::SAMPLE_MP4
    );
}

#[test]
fn a_failed_task_exits_4() {
    let t = ctx();
    let r = kino(&t, &["run", "--json", "please sandbox:fail this"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let out = r.json();
    assert_eq!(out["state"], "failed");
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("DataInspectionFailed")
    );
}

#[test]
fn submit_then_bounded_wait_then_wait() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_millis(300),
        running: Duration::from_secs(3),
        ..fast_config()
    });
    let receipt = kino(&t, &["submit", "--json", "later"]);
    assert_eq!(receipt.code, 0, "{}", receipt.stderr);
    let receipt = receipt.json();
    let id = receipt["job_id"].as_str().unwrap();
    assert!(receipt["handle"].is_string());
    let short = &id[id.len() - 8..];
    let w = kino(&t, &["wait", short, "--timeout", "1s", "--json"]);
    assert_eq!(w.code, 5, "{}", w.stderr);
    let doc = w.json();
    assert_eq!(
        (doc["done"].clone(), doc["job_id"].clone()),
        (json!(false), json!(id))
    );
    let w = kino(&t, &["wait", id, "--json"]);
    assert_eq!(w.code, 0, "{}", w.stderr);
    assert_eq!(w.json()["state"], "succeeded");
    assert_eq!(t.stats().creates, 1);
}

#[test]
fn cancel_works_only_while_pending_and_says_why_otherwise() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_secs(30),
        running: Duration::from_secs(30),
        ..fast_config()
    });
    let id = kino(&t, &["submit", "--json", "cancel me"]).json()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = kino(&t, &["cancel", &id, "--json"]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(c.json()["state"], "canceled");
    t.sandbox
        .set_config(|c| c.pending = Duration::from_millis(10));
    let id = kino(&t, &["submit", "--json", "too late"]).json()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    let c = kino(&t, &["cancel", &id]);
    assert_eq!(c.code, 2, "{}", c.stderr);
    assert!(
        c.stderr.contains("only while it is PENDING"),
        "{}",
        c.stderr
    );
}

#[test]
fn list_status_events_and_download_without_overwriting() {
    let t = ctx();
    let r = kino(&t, &["run", "--json", "--prefix", "clip", "listed"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    let list = kino(&t, &["list", "--json"]).json();
    assert_eq!(
        (list[0]["job_id"].as_str(), list[0]["state"].as_str()),
        (Some(id.as_str()), Some("succeeded"))
    );
    let status = kino(&t, &["status", &id, "--json"]).json();
    assert_eq!(status["artifacts"][0]["state"], "done");
    let events = kino(&t, &["events", &id, "--json"]);
    let kinds: Vec<String> = events
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        kinds.contains(&"submitted".into()) && kinds.contains(&"downloaded".into()),
        "{kinds:?}"
    );
    let d = kino(
        &t,
        &[
            "download",
            &id,
            "--out",
            t.work.path().to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(
        d.json()[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("clip_1.mp4")
    );
    assert_eq!(
        std::fs::read(t.work_path("clip.mp4")).unwrap(),
        std::fs::read(t.work_path("clip_1.mp4")).unwrap()
    );
}

#[test]
fn upload_prints_an_oss_reference() {
    let t = ctx();
    let png = t.sample_png();
    let r = kino(
        &t,
        &["upload", "dashscope", png.to_str().unwrap(), "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.json()["reference"]
            .as_str()
            .unwrap()
            .starts_with("oss://dashscope-instant/")
    );
}

#[test]
fn the_api_key_appears_in_no_output_log_or_ledger_file() {
    let t = ctx();
    let png = t.sample_png();
    let mut outputs = Vec::new();
    for args in [
        vec!["run", "--json", "secret check"],
        vec![
            "run",
            "--request",
            &format!("{{\"prompt\":\"p\",\"img_url\":\"{}\"}}", png.display()),
        ],
        vec!["providers"],
        vec!["doctor"],
        vec!["list"],
        vec!["run", "sandbox:fail please"],
        vec![
            "run",
            "xyq",
            "a conversation",
            "--input",
            png.to_str().unwrap(),
        ],
        vec![
            "run",
            "libtv",
            "a conversation",
            "--input",
            png.to_str().unwrap(),
        ],
    ] {
        let mut cmd = t.kino();
        cmd.env("KINO_LOG", "trace").args(&args);
        let r = run(cmd);
        outputs.push(r.stdout);
        outputs.push(r.stderr);
    }
    let bad = t.sandbox.requests();
    assert!(!bad.is_empty());
    for o in &outputs {
        assert!(!o.contains(FAKE_KEY) && !o.contains("9f8e7d6c5b4a"), "{o}");
    }
    for f in TestContext::files_under(t.home.path())
        .into_iter()
        .chain(TestContext::files_under(t.work.path()))
    {
        let bytes = std::fs::read(&f).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("9f8e7d6c5b4a"),
            "key found in {}",
            f.display()
        );
    }
}

/// Issue 8: every provider's credentials, through every kind of command, with trace logs on:
/// not in stdout, stderr, any file kino wrote, or any request body or header a platform got
/// (the xingyun3d secret only ever signs; keys go only in `Authorization`).
#[test]
fn no_credential_of_any_provider_leaks_through_any_command() {
    let t = ctx();
    let xy_secret = format!("secret-{}", kino_testkit::XY_APP_ID);
    let secrets = ["9f8e7d6c5b4a", xy_secret.as_str()];
    let mut outputs = Vec::new();
    let mut xy = vec!["run", "xingyun3d", "--json", "--segment", "hello"];
    xy.extend_from_slice(&XY_LOOK);
    for args in [
        vec![
            "run",
            "skillsvideo",
            "--json",
            "--model",
            "google/veo-3.1",
            "a dog",
        ],
        vec!["models", "skillsvideo", "--json"],
        vec!["schema", "skillsvideo", "google/veo-3.1"],
        vec!["credits", "skillsvideo", "--json"],
        xy,
        vec!["run", "xyq", "--json", "a film"],
        vec!["run", "libtv", "--json", "a film"],
        vec!["submit", "--json", "a kite"],
        vec!["resume", "--json"],
        vec!["list", "--json"],
        vec!["ledger", "export"],
        vec!["doctor", "--json"],
        vec!["providers", "--json"],
    ] {
        let mut cmd = t.kino();
        cmd.env("KINO_LOG", "trace").args(&args);
        let r = run(cmd);
        outputs.push((args.join(" "), format!("{}{}", r.stdout, r.stderr)));
    }
    for (args, o) in &outputs {
        for s in secrets {
            assert!(!o.contains(s), "`kino {args}` showed a secret: {o}");
        }
    }
    assert!(
        t.sandbox.requests().len() >= 5,
        "a create on every platform was recorded"
    );
    assert_no_secret_left_behind(&t, &secrets);
}

/// No secret in any file kino wrote (its home and the work directory), in any create request a
/// platform received (recorded headers leave out `Authorization`, where keys belong), and no
/// credential sent to a CDN host.
pub(crate) fn assert_no_secret_left_behind(t: &TestContext, secrets: &[&str]) {
    for f in TestContext::files_under(t.home.path())
        .into_iter()
        .chain(TestContext::files_under(t.work.path()))
    {
        // Workers' wake-up sockets live in the home too; they hold no bytes.
        if !std::fs::metadata(&f).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        for s in secrets {
            assert!(!hay.contains(s), "a secret in {}", f.display());
        }
    }
    for r in t.sandbox.requests() {
        let seen = format!("{} {:?} {}", r.path, r.headers, r.body);
        for s in secrets {
            assert!(!seen.contains(s), "a secret sent to {}: {seen}", r.path);
        }
    }
    assert_eq!(t.stats().auth_on_cdn, 0, "no credential to a CDN host");
}

#[test]
fn providers_and_doctor_report_credential_status_only() {
    let t = ctx();
    let p = kino(&t, &["providers", "--json"]).json();
    assert_eq!(p[0]["id"], "dashscope");
    assert_eq!(p[0]["credentials"], "set");
    let d = kino(&t, &["doctor", "--json"]);
    assert_eq!(d.code, 0);
    assert_eq!(d.json()[0]["ok"], true);
    assert_eq!(t.stats().create_attempts, 0);
}

/// Doctor used to check only DashScope: a LibTV key left unset, or a xingyun3d host that did
/// not answer, went unseen until a run failed. Every platform's account is checked now, and
/// the platforms with credentials are asked whether they answer.
#[test]
fn doctor_checks_every_platforms_credentials_and_asks_the_ones_in_use() {
    let t = ctx();
    let mut cmd = t.kino();
    cmd.env_remove("LIBTV_ACCESS_KEY")
        .env("XINGYUN3D_BASE_URL", "http://127.0.0.1:1")
        .args(["doctor", "--json"]);
    let d = run(cmd);
    assert_eq!(d.code, 0, "{}", d.stderr);
    let checks = d.json();
    let check = |name: &str| {
        checks
            .as_array()
            .and_then(|a| a.iter().find(|c| c["check"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no `{name}` check: {checks}"))
    };
    for p in ["dashscope", "skillsvideo", "xyq"] {
        assert_eq!(check(&format!("{p} credentials"))["ok"], true);
        assert_eq!(check(&format!("{p} reachable"))["ok"], true);
    }
    let libtv = check("libtv credentials");
    assert_eq!(libtv["ok"], false);
    assert!(
        libtv["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("LIBTV_ACCESS_KEY not set"),
        "{libtv}"
    );
    assert!(
        !checks.to_string().contains("libtv reachable"),
        "an unused platform is not asked"
    );
    assert_eq!(check("xingyun3d credentials")["ok"], true);
    assert_eq!(check("xingyun3d reachable")["ok"], false);
    assert!(!d.stdout.contains(FAKE_KEY));
}

#[test]
fn refused_creates_leave_the_job_pending_and_a_vanished_input_fails_it_unsent() {
    let t = ctx();
    t.sandbox.inject(Fault {
        target: FaultTarget::Submit,
        status: 503,
        times: 10,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let png = t.sample_png();
    let r = kino(
        &t,
        &[
            "run",
            "--json",
            "--input",
            &format!("img_url={}", png.display()),
            "a cat",
        ],
    );
    assert_eq!(r.code, 7, "{}", r.stderr);
    let s = t.stats();
    assert_eq!(
        (s.create_attempts, s.creates, s.uploads),
        (4, 0, 1),
        "bounded retries of a refused create, one upload"
    );
    assert_eq!(kino(&t, &["list", "--json"]).json()[0]["state"], "pending");
    std::fs::remove_file(&png).unwrap();
    let r = kino(&t, &["resume", "--json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let job = &kino(&t, &["list", "--json"]).json()[0];
    assert_eq!(job["state"], "failed");
    assert!(
        job["error"].as_str().unwrap().contains("nothing was sent"),
        "{job}"
    );
    assert_eq!(t.stats().creates, 0);
}

#[test]
fn a_lost_create_answer_is_never_resent_and_a_missing_task_fails_the_job_uncharged() {
    let t = ctx();
    // A 500 on create: the task may or may not exist, so kino must not send it again.
    t.sandbox.inject(Fault {
        target: FaultTarget::Submit,
        status: 500,
        times: 1,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let r = kino(&t, &["run", "--json", "lost answer"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let job = r.json();
    assert_eq!(job["state"], "failed");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("nothing was charged"),
        "{job}"
    );
    let s = t.stats();
    assert_eq!(
        (s.create_attempts, s.creates),
        (1, 0),
        "one create request, never resent"
    );
    assert!(s.lists >= 2, "reconciled through the task list");

    // The same, cut short: the job stays `unknown`, and the user may abandon it.
    t.sandbox.inject(Fault {
        target: FaultTarget::Submit,
        status: 502,
        times: 1,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let r = kino(&t, &["run", "--json", "--timeout", "1s", "abandon me"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["state"], "unknown");
    let c = kino(&t, &["cancel", &id, "--json"]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(c.json()["state"], "canceled");
    assert_eq!(t.stats().create_attempts, 2);
}

#[test]
fn a_prefix_or_out_that_would_write_elsewhere_is_refused_before_anything_is_sent() {
    let t = ctx();
    let file = t.work_path("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    for args in [
        vec!["run", "--prefix", "../escape", "p"],
        vec!["run", "--prefix", "/tmp/evil", "p"],
        vec!["run", "--out", file.to_str().unwrap(), "p"],
    ] {
        let r = kino(&t, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("`prefix`") || r.stderr.contains("`out`"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(t.stats().create_attempts, 0);
    assert_eq!(kino(&t, &["list", "--json"]).json(), json!([]));
}
