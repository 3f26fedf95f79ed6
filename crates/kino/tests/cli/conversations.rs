//! The conversational platforms (Xiaoyunque, LibTV) through the CLI: messages sent unmodified,
//! attachments uploaded first, questions and replies, results downloaded, crashes resumed.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use kino_sandbox::{Fault, FaultTarget, SandboxConfig};
use kino_testkit::{TestContext, eventually, fast_config, run, spawn};

use super::{ctx, ctx_with, kino, sha256_file};

fn events(t: &TestContext, id: &str) -> Vec<Value> {
    kino(t, &["events", id, "--json"])
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The two result files are on disk, complete, and are what the sandbox serves.
fn assert_image_and_video(out: &Value) {
    let artifacts = out["artifacts"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = artifacts
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"image") && kinds.contains(&"video"),
        "{out}"
    );
    for a in &artifacts {
        assert_eq!(a["state"], "done", "{a}");
        let path = Path::new(a["path"].as_str().unwrap_or_default());
        let want: &[u8] = if a["kind"] == "video" {
            kino_sandbox::media::SAMPLE_MP4
        } else {
            kino_sandbox::media::SAMPLE_PNG
        };
        assert_eq!(
            std::fs::read(path).unwrap_or_default(),
            want,
            "{}",
            path.display()
        );
        assert_eq!(a["sha256"].as_str(), Some(sha256_file(path).as_str()));
    }
}

/// Upload two references, submit, see progress, answer a question, receive the results.
fn question_then_reply(provider: &str) {
    let t = ctx();
    let png = t.sample_png();
    let mp4 = t.sample_mp4();
    let message = "做一个小猫的视频，参考这两个文件 sandbox:question";
    let r = kino(
        &t,
        &[
            "run",
            provider,
            message,
            "--input",
            png.to_str().unwrap_or_default(),
            "--input",
            mp4.to_str().unwrap_or_default(),
            "--json",
        ],
    );
    assert_eq!(r.code, 6, "a question exits 6: {}\n{}", r.stdout, r.stderr);
    let asked = r.json();
    assert_eq!(asked["state"], "needs_input");
    let question = asked["question"].as_str().unwrap_or_default().to_string();
    assert!(question.contains('?') || question.contains('？'), "{asked}");
    assert!(
        r.stderr.contains("watch it at"),
        "the web link is shown at once: {}",
        r.stderr
    );
    assert!(asked["web_link"].is_string());
    let id = asked["job_id"].as_str().unwrap_or_default().to_string();

    // The user's words went out exactly as written, with the two uploads attached.
    let sent = t.sandbox.requests();
    let first = sent
        .iter()
        .find(|r| r.task_id.is_some())
        .map(|r| r.body.clone())
        .unwrap_or_default();
    let stats = t.stats();
    if provider == "xyq" {
        assert_eq!(first["message"], message);
        assert_eq!(
            first["asset_ids"].as_array().map(Vec::len),
            Some(2),
            "{first}"
        );
        assert_eq!(stats.xyq_uploads, 2);
    } else {
        let text = first["message"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("http")).count(),
            2,
            "{text}"
        );
        assert_eq!(stats.libtv_uploads, 2);
    }

    let reply = kino(
        &t,
        &[
            "reply",
            &id[id.len() - 8..],
            "anime style, please",
            "--json",
        ],
    );
    assert_eq!(reply.code, 0, "{}\n{}", reply.stdout, reply.stderr);
    let done = reply.json();
    assert_eq!(done["state"], "succeeded");
    assert_image_and_video(&done);

    let history = events(&t, &id);
    let texts: Vec<String> = history.iter().map(|e| e.to_string()).collect();
    assert!(
        texts.iter().any(|e| e.contains("needs_input")),
        "the question is in the history"
    );
    assert!(
        texts.iter().any(|e| e.contains("anime style, please")),
        "the reply is in the history"
    );
    assert!(
        history
            .iter()
            .any(|e| e["type"] == "message" && e["role"] == "assistant"),
        "progress text is recorded"
    );
    assert_eq!(t.stats().auth_on_cdn, 0);
}

#[test]
fn xyq_upload_submit_question_reply_and_results() {
    question_then_reply("xyq");
}

#[test]
fn libtv_upload_submit_question_reply_and_results() {
    question_then_reply("libtv");
}

#[test]
fn several_question_rounds_on_one_thread() {
    let t = ctx();
    let r = kino(&t, &["run", "xyq", "first sandbox:question", "--json"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    let id = r.json()["job_id"].as_str().unwrap_or_default().to_string();
    let again = kino(&t, &["reply", &id, "second, and sandbox:hitl ?", "--json"]);
    assert_eq!(again.code, 6, "{}", again.stderr);
    let done = kino(&t, &["reply", &id, "third: go", "--json"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_image_and_video(&done.json());
    let s = t.stats();
    assert_eq!(s.xyq_runs, 3, "one run per message in the same thread");
    let threads: Vec<Value> = t
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.task_id.is_some())
        .map(|r| r.body["thread_id"].clone())
        .collect();
    assert_eq!(threads[0], Value::Null);
    assert!(
        threads[1].is_string() && threads[1] == threads[2],
        "{threads:?}"
    );
}

#[test]
fn kill_during_a_followed_run_then_resume_continues_from_the_cursor() {
    for provider in ["xyq", "libtv"] {
        let t = ctx_with(SandboxConfig {
            conversation_step: Duration::from_millis(400),
            ..fast_config()
        });
        let mut cmd = t.kino();
        cmd.args(["run", provider, "a long conversation", "--json"]);
        let mut child = spawn(cmd);
        let progressed = eventually(Duration::from_secs(30), || {
            let list = kino(&t, &["list", "--json"]).json();
            let Some(id) = list[0]["job_id"].as_str() else {
                return false;
            };
            events(&t, id)
                .iter()
                .filter(|e| e["type"] == "message")
                .count()
                >= 2
        });
        assert!(progressed, "{provider}: no messages arrived");
        child.kill().unwrap_or(());
        let _ = child.wait();
        let r = kino(&t, &["resume", "--json", "--timeout", "60s"]);
        assert_eq!(r.code, 0, "{provider}: {}\n{}", r.stdout, r.stderr);
        let job = &r.json()[0];
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_image_and_video(job);
        let s = t.stats();
        let sends = if provider == "xyq" {
            s.xyq_runs
        } else {
            s.libtv_sends
        };
        assert_eq!(sends, 1, "{provider}: no second submit");
        let id = job["job_id"].as_str().unwrap_or_default();
        let messages: Vec<String> = events(&t, id)
            .iter()
            .filter(|e| e["type"] == "message")
            .map(|e| format!("{}:{}", e["role"], e["text"]))
            .collect();
        let unique: std::collections::HashSet<&String> = messages.iter().collect();
        assert_eq!(
            messages.len(),
            unique.len(),
            "{provider}: a message was recorded twice: {messages:?}"
        );
        assert!(messages.len() >= 3, "{provider}: {messages:?}");
    }
}

#[test]
fn bad_conversation_input_exits_2_and_a_wrong_key_exits_3_before_any_request() {
    let t = ctx_with(SandboxConfig {
        api_keys: vec![kino_testkit::FAKE_KEY.into()],
        ..fast_config()
    });
    let text = t.work_path("notes.txt");
    std::fs::write(&text, "not media").unwrap_or(());
    let big = t.work_path("big.mp4");
    let f = std::fs::File::create(&big).unwrap_or_else(|e| panic!("{e}"));
    f.set_len(250 * 1024 * 1024).unwrap_or(());
    for provider in ["xyq", "libtv"] {
        for args in [
            vec!["run", provider, "   "],
            vec![
                "run",
                provider,
                "a cat",
                "--input",
                text.to_str().unwrap_or_default(),
            ],
            vec![
                "run",
                provider,
                "a cat",
                "--input",
                big.to_str().unwrap_or_default(),
            ],
            vec!["upload", provider, text.to_str().unwrap_or_default()],
        ] {
            let r = kino(&t, &args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("`message`")
                    || r.stderr.contains("`inputs`")
                    || r.stderr.contains("`file`"),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
    let s = t.stats();
    assert_eq!(
        (
            s.xyq_submits,
            s.xyq_uploads,
            s.libtv_session_posts,
            s.libtv_uploads
        ),
        (0, 0, 0, 0)
    );
    for provider in ["xyq", "libtv"] {
        let var = if provider == "xyq" {
            "XYQ_ACCESS_KEY"
        } else {
            "LIBTV_ACCESS_KEY"
        };
        let mut cmd = t.kino();
        cmd.env(var, "sk-wrong-key")
            .args(["run", provider, "a cat", "--json"]);
        let r = run(cmd);
        assert_eq!(r.code, 3, "{provider}: {}", r.stderr);
        assert!(!r.stderr.contains("sk-wrong-key") && !r.stdout.contains("sk-wrong-key"));
    }
}

#[test]
fn failures_cancellations_and_legacy_asset_ids() {
    let t = ctx_with(SandboxConfig {
        xyq_legacy_asset_id: true,
        ..fast_config()
    });
    let r = kino(&t, &["run", "xyq", "please sandbox:fail", "--json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json()["state"], "failed");
    let r = kino(&t, &["run", "xyq", "please sandbox:cancel", "--json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json()["state"], "canceled");
    let r = kino(&t, &["run", "libtv", "please sandbox:fail", "--json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let png = t.sample_png();
    let up = kino(
        &t,
        &["upload", "xyq", png.to_str().unwrap_or_default(), "--json"],
    );
    assert_eq!(up.code, 0, "{}", up.stderr);
    let asset = up.json()["reference"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!asset.is_empty(), "the older `asset_id` answer is read too");
    let r = kino(
        &t,
        &["run", "xyq", "use my asset", "--asset", &asset, "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let body = t.last_create_body();
    assert_eq!(body["asset_ids"], json!([asset]));
}

#[test]
fn a_question_left_unanswered_can_be_canceled_and_a_submit_fault_is_not_resent() {
    let t = ctx();
    let r = kino(&t, &["run", "libtv", "hello sandbox:question", "--json"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    let id = r.json()["job_id"].as_str().unwrap_or_default().to_string();
    let c = kino(&t, &["cancel", &id, "--json"]);
    assert_eq!(
        (c.code, c.json()["state"].clone()),
        (0, json!("canceled")),
        "{}",
        c.stderr
    );
    t.sandbox.inject(Fault {
        target: FaultTarget::XyqSubmit,
        status: 503,
        times: 1,
        retry_after_secs: None,
        kind: Default::default(),
    });
    let r = kino(&t, &["run", "xyq", "busy?", "--json", "--timeout", "2s"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        t.stats().xyq_submits,
        1,
        "a create whose outcome is unknown is never resent"
    );
}

#[test]
fn libtv_switch_project_binds_a_new_project() {
    let t = ctx();
    let a = kino(&t, &["libtv", "switch-project", "--json"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let b = kino(&t, &["libtv", "switch-project", "--json"]);
    assert_ne!(a.json()["projectUuid"], b.json()["projectUuid"]);
    assert!(
        b.json()["projectUrl"]
            .as_str()
            .unwrap_or_default()
            .contains("projectId=")
    );
    let r = kino(&t, &["run", "libtv", "now here", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let link = r.json()["web_link"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        link.ends_with(b.json()["projectUuid"].as_str().unwrap_or("?")),
        "{link}"
    );
    assert_eq!(t.stats().libtv_project_changes, 2);
}

/// Regression (review of the conversation code): a job that continued an existing LibTV session
/// read the whole session history and adopted the earlier job's results as its own.
#[test]
fn continuing_a_libtv_session_does_not_adopt_earlier_results() {
    let t = ctx();
    let first = kino(&t, &["run", "libtv", "first picture", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first = first.json();
    let session = first["handle"].as_str().unwrap_or_default().to_string();
    let second = kino(
        &t,
        &[
            "run",
            "libtv",
            "second picture",
            "--param",
            &format!("session_id={session}"),
            "--json",
        ],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    let second = second.json();
    assert_eq!(second["handle"], first["handle"], "the same session");
    let urls = |j: &Value| -> Vec<String> {
        j["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["url"].as_str().map(str::to_string))
            .collect()
    };
    let (a, b) = (urls(&first), urls(&second));
    assert!(
        !b.is_empty() && b.iter().all(|u| !a.contains(u)),
        "first {a:?}, second {b:?}"
    );
    assert_eq!(t.stats().libtv_sends, 2);
}
