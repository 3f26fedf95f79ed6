//! Batches (issue 9, item 1): a file of rows goes dry-run → review → run against the sandbox;
//! budgets, failures, concurrency and resume.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::{ctx, ctx_with, kino, sha256_file};
use kino_sandbox::SandboxConfig;
use kino_testkit::{TestContext, eventually, fast_config, run, spawn};

fn write_jsonl(t: &TestContext, name: &str, rows: &[Value]) -> String {
    let text: Vec<String> = rows.iter().map(Value::to_string).collect();
    let p = t.work_path(name);
    std::fs::write(&p, text.join("\n") + "\n").unwrap();
    p.display().to_string()
}

fn xy_row(text: &str) -> Value {
    json!({"provider":"xingyun3d","segment":[{"text": text}],"look_name":"AM054_Jap_9021_new","tts_vcn_name":"XMOV_HN_TTS__236","studio_name":"youling_2d_v"})
}

/// Every create any platform of the sandbox accepted.
fn creates(t: &TestContext) -> u64 {
    let s = t.stats();
    s.creates + s.sv_creates + s.xy_creates + s.xyq_runs + s.libtv_sends
}

fn happyhorse(prompt: &str) -> Value {
    json!({"provider":"dashscope","model":"happyhorse-1.0-t2v","prompt": prompt,"resolution":"720P","duration":5})
}

#[test]
fn fifty_rows_over_three_providers_go_dry_run_review_run_and_every_result_is_downloaded() {
    let t = ctx();
    let out = t.work_path("results");
    let rows: Vec<Value> = (1..=50)
        .map(|i| match i % 3 {
            0 => json!({"provider":"dashscope","prompt":"shot {{row}} of a {{animal}}","vars":{"animal":"fox"},"prefix": format!("ds{i}")}),
            1 => json!({"provider":"skillsvideo","model":"google/veo-3.1","prompt": format!("a dog, take {i}")}),
            _ => xy_row(&format!("第 {i} 段")),
        })
        .collect();
    let file = write_jsonl(&t, "fifty.jsonl", &rows);
    let dry = kino(
        &t,
        &["batch", &file, "--dry-run", "--out", out.to_str().unwrap()],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan = dry.json();
    assert_eq!(plan["rows"].as_array().unwrap().len(), 50);
    assert_eq!(plan["rows"][2]["prompt"], "shot 3 of a fox");
    let hash = plan["review"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 16);
    assert!(
        dry.stderr
            .contains(&format!("kino batch {file} --review {hash}")),
        "{}",
        dry.stderr
    );
    assert_eq!(creates(&t), 0, "a dry run sends nothing");
    assert_eq!(kino(&t, &["list", "--json"]).json(), json!([]));

    let r = kino(
        &t,
        &[
            "batch",
            &file,
            "--review",
            &hash[..10],
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["hash"].as_str().unwrap()[..16], hash);
    let done = doc["rows"].as_array().unwrap();
    assert_eq!(done.len(), 50);
    for row in done {
        assert_eq!(row["status"], "succeeded", "{row}");
        assert_eq!(row["state"], "succeeded", "{row}");
        let files = row["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{row}");
        for f in files {
            let path = Path::new(f["path"].as_str().unwrap());
            assert!(path.starts_with(&out), "{}", path.display());
            assert!(std::fs::metadata(path).unwrap().len() > 0);
            assert_eq!(
                Some(sha256_file(path)),
                f["sha256"].as_str().map(str::to_string)
            );
        }
    }
    // DashScope's results are byte for byte the sandbox's.
    for row in done.iter().filter(|r| r["provider"] == "dashscope") {
        let job = kino(&t, &["status", row["job_id"].as_str().unwrap(), "--json"]).json();
        let handle = job["handle"].as_str().unwrap();
        let path = Path::new(job["artifacts"][0]["path"].as_str().unwrap());
        assert_eq!(Some(sha256_file(path)), t.sandbox.result_sha256(handle));
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ds")
        );
    }
    assert_eq!(creates(&t), 50, "one create per row");
    let s = kino(
        &t,
        &[
            "batch",
            "status",
            &doc["batch_id"].as_str().unwrap()[..8],
            "--json",
        ],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    let s = s.json();
    assert_eq!(s["counts"]["succeeded"], 50);
    assert_eq!(s["rows"], doc["rows"]);
    let list = kino(&t, &["batch", "status", "--json"]).json();
    assert_eq!(list[0]["batch_id"], doc["batch_id"]);
    assert_eq!(list[0]["counts"]["succeeded"], 50);
}

#[test]
fn a_budget_stops_the_batch_before_the_row_that_would_pass_it() {
    let t = ctx();
    let rows: Vec<Value> = (1..=4).map(|i| happyhorse(&format!("fox {i}"))).collect();
    let file = write_jsonl(&t, "budget.jsonl", &rows);
    let dry = kino(&t, &["batch", &file, "--dry-run", "--max-cost", "2 CNY"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan = dry.json();
    assert_eq!(plan["budget_stop"]["row"], 3, "{plan}");
    assert_eq!(plan["totals"]["estimated"], json!(["1.40 CNY"]));
    let hash = plan["review"].as_str().unwrap();
    let r = kino(
        &t,
        &["batch", &file, "--max-cost", "2 CNY", "--review", hash],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("row 3 would cost 0.70 CNY"),
        "{}",
        r.stderr
    );
    let doc = r.json();
    let status: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["succeeded", "succeeded", "skipped", "skipped"]);
    assert!(
        doc["rows"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("would pass the budget"),
        "{doc}"
    );
    assert_eq!(
        t.stats().creates,
        2,
        "exactly the two admitted rows were sent"
    );
    assert_eq!(
        kino(&t, &["list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The review covers the budget: the same file under another limit is another plan.
    let other = kino(
        &t,
        &["batch", &file, "--max-cost", "3 CNY", "--review", hash],
    );
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(
        other.stderr.contains("changed since it was reviewed"),
        "{}",
        other.stderr
    );
    assert_eq!(t.stats().creates, 2);
}

#[test]
fn a_plan_edited_after_review_is_refused_with_nothing_sent() {
    let t = ctx();
    let rows = [happyhorse("one"), happyhorse("two")];
    let file = write_jsonl(&t, "edit.jsonl", &rows);
    let dry = kino(&t, &["batch", &file, "--dry-run"]);
    let hash = dry.json()["review"].as_str().unwrap().to_string();
    write_jsonl(&t, "edit.jsonl", &[happyhorse("one"), happyhorse("three")]);
    let r = kino(&t, &["batch", &file, "--review", &hash]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the plan changed since it was reviewed (rows 2 changed)"),
        "{}",
        r.stderr
    );
    let short = kino(&t, &["batch", &file, "--review", "abc"]);
    assert_eq!(short.code, 2, "{}", short.stderr);
    assert_eq!(creates(&t), 0);
    assert_eq!(kino(&t, &["batch", "status", "--json"]).json(), json!([]));
    assert_eq!(kino(&t, &["list", "--json"]).json(), json!([]));
}

#[test]
fn every_invalid_row_is_named_and_nothing_is_recorded() {
    let t = ctx();
    let rows = [
        happyhorse("fine"),
        json!({"provider":"dashscope","prompt":"p","resolution":"720P"}),
        json!({"prompt":"no provider"}),
        json!({"provider":"dashscope","prompt":"a {{missing}}"}),
        happyhorse("fine too"),
    ];
    let file = write_jsonl(&t, "bad.jsonl", &rows);
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["batch", file.as_str()];
        args.extend_from_slice(extra);
        let r = kino(&t, &args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        for needle in [
            "3 of 5 rows cannot run",
            "row 2 (line 2): invalid `resolution`",
            "row 3 (line 3): invalid `provider`",
            "row 4 (line 4): invalid `prompt`: no variable `missing`",
        ] {
            assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
        }
        let errors = r.json()["errors"].as_array().unwrap().clone();
        assert_eq!(errors.len(), 3);
    }
    assert_eq!(creates(&t), 0);
    assert_eq!(kino(&t, &["list", "--json"]).json(), json!([]));
    assert_eq!(kino(&t, &["batch", "status", "--json"]).json(), json!([]));
}

#[test]
fn csv_and_yaml_with_templates_render_the_same_plan_as_jsonl() {
    let t = ctx();
    std::fs::create_dir(t.work_path("in")).unwrap();
    std::fs::write(t.work_path("in/cat.png"), kino_sandbox::media::SAMPLE_PNG).unwrap();
    let jsonl = t.work_path("in/shots.jsonl");
    std::fs::write(
        &jsonl,
        [
            json!({"provider":"dashscope","prompt":"a {{animal}} at {{time}}","vars":{"animal":"fox"},"duration":5}),
            json!({"provider":"dashscope","model":"wan2.6-i2v-flash","prompt":"the {{animal}} runs","vars":{"animal":"cat"},"img_url":"cat.png","prefix":"cat"}),
            json!({"provider":"dashscope","vars":{"animal":"owl"}}),
        ]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n"),
    )
    .unwrap();
    let csv = t.work_path("in/shots.csv");
    std::fs::write(
        &csv,
        "provider,model,prompt,vars.animal,duration,img_url,prefix\n\
         dashscope,,a {{animal}} at {{time}},fox,5,,\n\
         dashscope,wan2.6-i2v-flash,\"the {{animal}} runs\",cat,,cat.png,cat\n\
         dashscope,,,owl,,,\n",
    )
    .unwrap();
    let yaml = t.work_path("in/shots.yaml");
    std::fs::write(
        &yaml,
        "defaults:\n  provider: dashscope\nrows:\n  - prompt: \"a {{animal}} at {{time}}\"\n    vars: {animal: fox}\n    duration: 5\n  - model: wan2.6-i2v-flash\n    prompt: \"the {{animal}} runs\"\n    vars: {animal: cat}\n    img_url: cat.png\n    prefix: cat\n  - vars: {animal: owl}\n",
    )
    .unwrap();
    // Run from another directory: relative inputs are read beside the batch file.
    let elsewhere = t.work_path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let mut plans = Vec::new();
    for f in [&jsonl, &csv, &yaml] {
        let mut cmd = t.kino();
        cmd.current_dir(&elsewhere).args([
            "batch",
            f.to_str().unwrap(),
            "--dry-run",
            "--var",
            "time=dawn",
            "--template",
            "an {{animal}} by night",
        ]);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{}: {}", f.display(), r.stderr);
        plans.push(r.json());
    }
    let p = &plans[0];
    assert_eq!(p["rows"][0]["prompt"], "a fox at dawn");
    assert_eq!(p["rows"][1]["prompt"], "the cat runs");
    assert_eq!(p["rows"][2]["prompt"], "an owl by night");
    assert_eq!(
        p["rows"][1]["request"]["img_url"],
        json!(t.work_path("in/cat.png").display().to_string())
    );
    assert_eq!(
        p["rows"][1]["files"][0]["bytes"],
        kino_sandbox::media::SAMPLE_PNG.len()
    );
    for other in &plans[1..] {
        assert_eq!(other["rows"], p["rows"]);
        assert_eq!(other["hash"], p["hash"]);
    }
}

#[test]
fn a_failing_row_stops_the_batch_unless_keep_going() {
    let t = ctx();
    let rows = [
        json!({"provider":"dashscope","prompt":"please sandbox:fail"}),
        json!({"provider":"dashscope","prompt":"two"}),
        json!({"provider":"dashscope","prompt":"three"}),
    ];
    let file = write_jsonl(&t, "fail.jsonl", &rows);
    let r = kino(&t, &["batch", &file, "--concurrency", "dashscope=1"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("row 1 failed"), "{}", r.stderr);
    let doc = r.json();
    let status: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["failed", "skipped", "skipped"]);
    assert!(
        doc["rows"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("--keep-going")
    );
    assert_eq!(t.stats().creates, 1);

    let r = kino(
        &t,
        &[
            "batch",
            &file,
            "--concurrency",
            "dashscope=1",
            "--keep-going",
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let doc = r.json();
    let status: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["failed", "succeeded", "succeeded"]);
    assert_eq!(t.stats().creates, 4);
}

#[test]
fn per_provider_concurrency_is_kept() {
    let t = ctx();
    let rows: Vec<Value> = (1..=4)
        .map(|i| json!({"provider":"dashscope","prompt": format!("one at a time {i}")}))
        .collect();
    let file = write_jsonl(&t, "serial.jsonl", &rows);
    let r = kino(
        &t,
        &[
            "batch",
            &file,
            "--concurrency",
            "8",
            "--concurrency",
            "dashscope=1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let jobs: Vec<Value> = r.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| kino(&t, &["status", row["job_id"].as_str().unwrap(), "--json"]).json())
        .collect();
    for pair in jobs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert!(
            after["created_at"].as_i64().unwrap() >= before["finished_at"].as_i64().unwrap(),
            "a row was sent while another was in flight: {before} {after}"
        );
    }
    let bad = kino(&t, &["batch", &file, "--concurrency", "dashscope=0"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn resume_finishes_a_killed_batch_without_sending_any_row_twice() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_millis(300),
        running: Duration::from_millis(2500),
        ..fast_config()
    });
    let rows: Vec<Value> = (1..=5)
        .map(|i| json!({"provider":"dashscope","prompt": format!("interrupted {i}")}))
        .collect();
    let file = write_jsonl(&t, "resume.jsonl", &rows);
    let mut cmd = t.kino();
    cmd.args(["batch", &file, "--concurrency", "dashscope=2"]);
    let mut child = spawn(cmd);
    assert!(
        eventually(Duration::from_secs(20), || t.stats().creates >= 2),
        "two rows were sent"
    );
    child.kill().unwrap();
    let _ = child.wait();
    let sent = t.stats().creates;
    assert!(sent < 5, "killed before the end ({sent})");
    let list = kino(&t, &["batch", "status", "--json"]).json();
    let id = list[0]["batch_id"].as_str().unwrap().to_string();
    assert!(
        list[0]["counts"]["waiting"].as_u64().unwrap() >= 1,
        "{list}"
    );
    let r = kino(&t, &["batch", "resume", &id[..12]]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["counts"]["succeeded"], 5, "{doc}");
    assert_eq!(t.stats().creates, 5, "no row was sent twice");
    for row in doc["rows"].as_array().unwrap() {
        assert!(!row["files"].as_array().unwrap().is_empty(), "{row}");
    }
    assert_eq!(
        kino(&t, &["list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn rows_of_a_provider_without_credentials_exit_3_with_nothing_recorded() {
    let t = ctx();
    let file = write_jsonl(&t, "nokey.jsonl", &[happyhorse("a"), happyhorse("b")]);
    let mut cmd = t.bare();
    cmd.args(["batch", &file, "--dry-run"]);
    let r = run(cmd);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("row 1 (line 1): no credentials for `dashscope`"),
        "{}",
        r.stderr
    );
    assert_eq!(creates(&t), 0);
}

#[test]
fn a_timeout_leaves_the_batch_to_resume_and_exits_5() {
    let t = ctx_with(SandboxConfig {
        pending: Duration::from_millis(200),
        running: Duration::from_millis(2500),
        ..fast_config()
    });
    let rows: Vec<Value> = (1..=3)
        .map(|i| json!({"provider":"dashscope","prompt": format!("slow {i}")}))
        .collect();
    let file = write_jsonl(&t, "slow.jsonl", &rows);
    let r = kino(
        &t,
        &["batch", &file, "--concurrency", "2", "--timeout", "1s"],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(doc["counts"]["dispatched"], 2, "{doc}");
    assert_eq!(doc["counts"]["waiting"], 1, "{doc}");
    let id = doc["batch_id"].as_str().unwrap();
    let r = kino(&t, &["batch", "resume", id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["counts"]["succeeded"], 3);
    assert_eq!(t.stats().creates, 3);
}

/// A conversational row whose agent asks a question used to be marked failed, which stopped the
/// batch and left the row failed after `kino reply` had finished its job. It now stays
/// dispatched, the other rows go on, the batch exits 6 naming the job to answer, and going on
/// with the batch after the reply finishes the row. Nothing is sent twice.
#[test]
fn a_row_whose_agent_asks_waits_for_the_reply_and_the_rest_go_on() {
    let t = ctx();
    let rows = [
        json!({"provider":"xyq","prompt":"a cat sandbox:question"}),
        json!({"provider":"libtv","prompt":"a dog"}),
        json!({"provider":"dashscope","prompt":"a fox"}),
    ];
    let file = write_jsonl(&t, "asks.jsonl", &rows);
    let r = kino(&t, &["batch", &file]);
    assert_eq!(r.code, 6, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("row 1's job asks"), "{}", r.stderr);
    let doc = r.json();
    assert_eq!(
        (
            &doc["counts"]["dispatched"],
            &doc["counts"]["succeeded"],
            &doc["counts"]["failed"]
        ),
        (&json!(1), &json!(2), &json!(0)),
        "{doc}"
    );
    let id = doc["batch_id"].as_str().unwrap().to_string();
    let job = doc["rows"][0]["job_id"].as_str().unwrap().to_string();
    assert_eq!(doc["rows"][0]["state"], "needs_input", "{doc}");
    let sent = creates(&t);
    let reply = kino(&t, &["reply", &job, "yes, 10 seconds"]);
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    let r = kino(&t, &["batch", "resume", &id]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["counts"]["succeeded"], 3, "{}", r.stdout);
    assert_eq!(
        creates(&t),
        sent + 1,
        "the reply is the one request sent since"
    );
}
