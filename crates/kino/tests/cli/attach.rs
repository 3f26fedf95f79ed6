//! `kino attach`: jobs another tool submitted are recorded and followed, never paid for again.

use std::path::Path;

use serde_json::{Value, json};

use kino_testkit::{Run, TestContext, run};

use super::{ctx, kino, sha256_file};

/// Everything the sandbox counts as paid, over the five platforms.
pub(super) fn paid(t: &TestContext) -> u64 {
    let s = t.stats();
    s.creates + s.xyq_runs + s.libtv_sends + s.sv_creates + s.xy_creates
}

/// `kino` with a ledger of its own (another KINO_HOME on the same sandbox): the other tool.
fn elsewhere(t: &TestContext, home: &Path, args: &[&str]) -> Run {
    let mut cmd = t.kino();
    cmd.env("KINO_HOME", home).env("HOME", home).args(args);
    run(cmd)
}

/// A KINO_HOME of its own, with a ledger the attaching one has never seen.
pub(super) fn other_home(t: &TestContext) -> std::path::PathBuf {
    let home = t.home.path().join("elsewhere");
    std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{e}"));
    home
}

/// Submits in another ledger and returns the platform's handle.
pub(super) fn submitted_elsewhere(t: &TestContext, home: &Path, args: &[&str]) -> String {
    let r = elsewhere(t, home, args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let handle = r.json()["handle"].as_str().unwrap_or_default().to_string();
    assert!(!handle.is_empty(), "{}", r.stdout);
    handle
}

/// Attaches, follows to success, and checks the results are the platform's bytes and that
/// nothing was created by the attach.
fn attach_to_success(t: &TestContext, provider: &str, handle: &str) -> Value {
    let before = paid(t);
    let out_dir = t.work_path(&format!("out-{provider}"));
    let r = kino(
        t,
        &[
            "attach",
            provider,
            handle,
            "--out",
            out_dir.to_str().unwrap_or_default(),
            "--prefix",
            "adopted",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = r.json();
    assert_eq!(out["state"], "succeeded", "{out}");
    assert_eq!(out["done"], true);
    assert_eq!(out["handle"], handle);
    assert_eq!(out["attempts"], 0, "kino sent no create request");
    assert_eq!(out["mode"], "attached");
    assert_eq!(out["request"], json!({"attached": handle}));
    let artifacts = out["artifacts"].as_array().cloned().unwrap_or_default();
    assert!(!artifacts.is_empty(), "{out}");
    for a in &artifacts {
        assert_eq!(a["state"], "done", "{a}");
        let path = Path::new(a["path"].as_str().unwrap_or_default());
        assert!(path.starts_with(&out_dir), "{}", path.display());
        assert!(
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("adopted")),
            "{}",
            path.display()
        );
        let on_disk = sha256_file(path);
        let served = if provider == "dashscope" {
            t.sandbox.result_sha256(handle)
        } else {
            t.sandbox
                .artifact_sha256(a["url"].as_str().unwrap_or_default())
        };
        assert_eq!(Some(on_disk.clone()), served, "{a}");
        assert_eq!(a["sha256"].as_str(), Some(on_disk.as_str()));
    }
    assert_eq!(paid(t), before, "attaching created nothing on the platform");
    // The ledger tells the truth: submitted elsewhere, attached here.
    let id = out["job_id"].as_str().unwrap_or_default();
    let events = kino(t, &["events", id, "--json"]);
    assert_eq!(events.code, 0, "{}", events.stderr);
    let attached: Vec<Value> = events
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|v| match v {
            Value::Array(a) => a,
            v => vec![v],
        })
        .filter(|e| e["type"] == "submitted")
        .collect();
    assert_eq!(attached.len(), 1, "{}", events.stdout);
    assert_eq!(attached[0]["attached"], true);
    assert_eq!(attached[0]["handle"], handle);
    out
}

#[test]
fn a_dashscope_task_submitted_elsewhere_is_attached_waited_on_and_downloaded() {
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(
        &t,
        &other,
        &["submit", "dashscope", "a lighthouse at dawn", "--json"],
    );
    assert_eq!(paid(&t), 1);
    // --no-wait records it and returns; `kino wait` (like resume, status, list) takes it on.
    let r = kino(&t, &["attach", "dashscope", &handle, "--no-wait", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let receipt = r.json();
    assert_eq!(receipt["handle"], handle.as_str());
    assert_eq!(
        receipt["model"], "unknown",
        "DashScope's task query names no model"
    );
    assert!(
        ["queued", "running"].contains(&receipt["state"].as_str().unwrap_or_default()),
        "{receipt}"
    );
    let id = receipt["job_id"].as_str().unwrap_or_default().to_string();
    let listed = kino(&t, &["list", "--json"]).json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let w = kino(&t, &["wait", &id, "--timeout", "60s", "--json"]);
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, w.stderr);
    let done = w.json();
    assert_eq!(done["state"], "succeeded");
    let path = Path::new(done["artifacts"][0]["path"].as_str().unwrap_or_default());
    assert_eq!(Some(sha256_file(path)), t.sandbox.result_sha256(&handle));
    assert_eq!(paid(&t), 1, "attach and wait created nothing");
    let status = kino(&t, &["status", &id, "--json"]).json();
    assert_eq!(status["attempts"], 0);
}

#[test]
fn a_dashscope_task_is_attached_and_followed_to_its_video() {
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(
        &t,
        &other,
        &["submit", "dashscope", "a red kite over the sea", "--json"],
    );
    attach_to_success(&t, "dashscope", &handle);
}

#[test]
fn a_skillsvideo_generation_is_attached_and_followed_to_its_video() {
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(
        &t,
        &other,
        &[
            "submit",
            "skillsvideo",
            "--model",
            "google/veo-3.1",
            "a dog",
            "--param",
            "duration=4",
            "--json",
        ],
    );
    attach_to_success(&t, "skillsvideo", &handle);
}

#[test]
fn a_xyq_thread_and_run_are_attached_and_followed_to_the_results() {
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(&t, &other, &["submit", "xyq", "做一个小猫的视频", "--json"]);
    assert!(handle.contains('/'), "THREAD_ID/RUN_ID: {handle}");
    attach_to_success(&t, "xyq", &handle);
}

#[test]
fn a_libtv_session_is_attached_and_followed_to_the_results() {
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(
        &t,
        &other,
        &["submit", "libtv", "a cat on a windowsill", "--json"],
    );
    attach_to_success(&t, "libtv", &handle);
}

#[test]
fn a_xingyun3d_render_is_attached_and_followed_to_its_video() {
    let t = ctx();
    let other = other_home(&t);
    let mut args = vec!["submit", "xingyun3d", "--json", "--segment", "大家好"];
    args.extend_from_slice(&super::XY_LOOK);
    let handle = submitted_elsewhere(&t, &other, &args);
    let out = attach_to_success(&t, "xingyun3d", &handle);
    assert!(
        out["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["kind"] == "video"),
        "{out}"
    );
}

fn assert_nothing_recorded(t: &TestContext) {
    let listed = kino(t, &["list", "--json"]);
    assert_eq!(listed.json(), json!([]), "{}", listed.stderr);
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let t = ctx();
    for (args, field, rule) in [
        (
            vec!["attach", "nosuch", "abc"],
            "`provider`",
            "unknown provider",
        ),
        (
            vec!["attach", "dashscope", ""],
            "`handle`",
            "must not be empty",
        ),
        (
            vec!["attach", "dashscope", "  "],
            "`handle`",
            "must not be empty",
        ),
        (
            vec!["attach", "dashscope", "../tasks?x=1"],
            "`handle`",
            "only letters, digits",
        ),
        (
            vec!["attach", "xyq", "thread-only"],
            "`handle`",
            "THREAD_ID/RUN_ID",
        ),
        (
            vec!["attach", "xyq", "thread/"],
            "`handle`",
            "THREAD_ID/RUN_ID",
        ),
        (
            vec!["attach", "libtv", "abc", "--prefix", "a/b"],
            "`prefix`",
            "plain file name",
        ),
        (
            vec!["attach", "dashscope", "abc", "--timeout", "soon"],
            "--timeout",
            "",
        ),
    ] {
        let r = kino(&t, &args);
        assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(field) && r.stderr.contains(rule),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(
        t.sandbox.requests().is_empty(),
        "nothing was sent: {:?}",
        t.sandbox.requests().len()
    );
    let s = t.stats();
    assert_eq!(
        (
            s.queries,
            s.xyq_queries,
            s.libtv_queries,
            s.sv_polls,
            s.xy_gets
        ),
        (0, 0, 0, 0, 0)
    );
    assert_nothing_recorded(&t);
}

#[test]
fn a_handle_the_platform_does_not_know_is_refused_and_nothing_is_recorded() {
    let t = ctx();
    for (provider, handle) in [
        ("dashscope", "0385dc79-5ff8-4d82-bcb6-a2d8ea8b1ae1"),
        ("skillsvideo", "gen-does-not-exist"),
        ("xyq", "no-such-thread/no-such-run"),
        ("libtv", "no-such-session"),
        ("xingyun3d", "999999999"),
    ] {
        let r = kino(&t, &["attach", provider, handle, "--json"]);
        assert_eq!(r.code, 2, "{provider}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("`handle`") && r.stderr.contains("does not know"),
            "{provider}: {}",
            r.stderr
        );
    }
    let s = t.stats();
    assert_eq!(
        (
            s.queries,
            s.xyq_queries,
            s.libtv_queries,
            s.sv_polls,
            s.xy_gets
        ),
        (1, 1, 1, 1, 1),
        "one status query each"
    );
    assert_eq!(paid(&t), 0);
    assert_nothing_recorded(&t);
}

#[test]
fn a_handle_the_ledger_already_follows_is_refused_naming_its_job() {
    let t = ctx();
    // A job of this very ledger …
    let own = kino(&t, &["submit", "dashscope", "mine", "--json"]).json();
    let own_handle = own["handle"].as_str().unwrap_or_default().to_string();
    let own_id = own["job_id"].as_str().unwrap_or_default().to_string();
    let r = kino(&t, &["attach", "dashscope", &own_handle, "--no-wait"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&own_id), "{}", r.stderr);
    // … and one attached before.
    let other = other_home(&t);
    let handle = submitted_elsewhere(&t, &other, &["submit", "xyq", "a story", "--json"]);
    let first = kino(&t, &["attach", "xyq", &handle, "--no-wait", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_id = first.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let again = kino(&t, &["attach", "xyq", &handle, "--no-wait", "--json"]);
    assert_eq!(again.code, 2, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stderr.contains(&first_id), "{}", again.stderr);
    let listed = kino(&t, &["list", "--json"]).json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(paid(&t), 2, "the two submits, nothing more");
}

#[test]
fn an_attached_conversation_that_asks_takes_a_reply() {
    let t = ctx();
    let other = other_home(&t);
    for provider in ["xyq", "libtv"] {
        let handle = submitted_elsewhere(
            &t,
            &other,
            &["submit", provider, "a cat sandbox:question", "--json"],
        );
        let asked = kino(&t, &["attach", provider, &handle, "--json"]);
        assert_eq!(
            asked.code, 6,
            "{provider}: {}\n{}",
            asked.stdout, asked.stderr
        );
        let asked = asked.json();
        assert_eq!(asked["state"], "needs_input", "{asked}");
        let id = asked["job_id"].as_str().unwrap_or_default();
        let before = paid(&t);
        let r = kino(&t, &["reply", id, "yes, 10 seconds", "--json"]);
        assert_eq!(r.code, 0, "{provider}: {}\n{}", r.stdout, r.stderr);
        assert_eq!(r.json()["state"], "succeeded");
        assert_eq!(paid(&t), before + 1, "the reply is the one paid request");
    }
}

#[test]
fn a_task_is_attached_over_rest_and_followed_by_the_service_workers() {
    use super::serve::{post, serve, wait_done};
    let t = ctx();
    let other = other_home(&t);
    let handle = submitted_elsewhere(
        &t,
        &other,
        &["submit", "dashscope", "a kite over REST", "--json"],
    );
    let s = serve(&t, &[]);
    let (status, job) = post(
        &t,
        &format!("{}/attach", s.base),
        json!({"provider": "dashscope", "handle": handle}),
    );
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["attempts"], 0);
    let id = job["job_id"].as_str().unwrap_or_default().to_string();
    let done = wait_done(&t, &s.base, &id);
    assert_eq!(done["state"], "succeeded", "{done}");
    let path = Path::new(done["artifacts"][0]["path"].as_str().unwrap_or_default());
    assert_eq!(Some(sha256_file(path)), t.sandbox.result_sha256(&handle));
    let (status, again) = post(
        &t,
        &format!("{}/attach", s.base),
        json!({"provider": "dashscope", "handle": handle}),
    );
    assert_eq!(status, 400, "{again}");
    assert!(again.to_string().contains(&id), "{again}");
    let (status, unknown) = post(
        &t,
        &format!("{}/attach", s.base),
        json!({"provider": "dashscope", "handle": "no-such-task"}),
    );
    assert_eq!(status, 400, "{unknown}");
    assert_eq!(paid(&t), 1);
}
