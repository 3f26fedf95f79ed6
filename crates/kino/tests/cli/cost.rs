//! Cost: estimates before anything is sent (`--dry-run`), limits that refuse a run
//! (`--max-cost`), the charge each platform reports recorded per job, and `kino cost`.

use serde_json::Value;

use super::{ctx, kino};
use kino_testkit::TestContext;

/// HappyHorse at 720P for 5 s: 0.70 CNY by the published per-second price.
const HAPPYHORSE: [&str; 7] = [
    "dashscope",
    "a red fox",
    "--model",
    "happyhorse-1.0-t2v",
    "--param",
    "resolution=720P",
    "--param",
];

fn happyhorse(t: &TestContext, extra: &[&str]) -> kino_testkit::Run {
    let mut args = vec!["run", "--json"];
    args.extend(HAPPYHORSE);
    args.push("duration=5");
    args.extend(extra);
    kino(t, &args)
}

/// wan2.6-t2v, whose price was not published.
fn wan26(t: &TestContext, extra: &[&str]) -> kino_testkit::Run {
    let mut args = vec![
        "run",
        "--json",
        "dashscope",
        "a red fox",
        "--model",
        "wan2.6-t2v",
    ];
    args.extend(extra);
    kino(t, &args)
}

fn cost_doc(t: &TestContext, by: &str) -> Value {
    let r = kino(t, &["cost", "--json", "--by", by]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

#[test]
fn a_dry_run_shows_the_published_price_or_says_unknown_never_zero() {
    let t = ctx();
    let r = happyhorse(&t, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = &r.json()["estimate"];
    assert_eq!(e["cost"], "0.70 CNY");
    assert_eq!(e["amount"], 0.7);
    assert_eq!(e["unit"], "CNY");
    assert!(
        e["basis"]
            .as_str()
            .unwrap()
            .contains("5 s × 0.14 CNY/s at 720P"),
        "{e}"
    );
    // No published price: unknown, with the way to give one.
    let e = &wan26(&t, &["--dry-run"]).json()["estimate"];
    assert_eq!(
        (e["cost"].as_str(), e["amount"].as_f64()),
        (Some("unknown"), None),
        "{e}"
    );
    assert!(e["basis"].as_str().unwrap().contains("[[prices]]"), "{e}");
    // The user's price line fills the gap and names where it came from.
    std::fs::write(
        t.work_path("kino.toml"),
        "[[prices]]\nprovider = \"dashscope\"\nmodel = \"wan2.6-*\"\nresolution = \"720P\"\nprice = \"0.6 CNY\"\n",
    )
    .unwrap();
    let e = &wan26(&t, &["--dry-run"]).json()["estimate"];
    assert_eq!(e["cost"], "3.00 CNY", "{e}");
    assert!(
        e["basis"].as_str().unwrap().contains("[[prices]] line 1"),
        "{e}"
    );
    assert_eq!(t.stats().create_attempts, 0);
}

#[test]
fn a_limit_refuses_a_run_that_would_pass_it_before_anything_is_sent() {
    let t = ctx();
    let r = happyhorse(&t, &["--max-cost", "0.5 CNY"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("would cost 0.70 CNY")
            && r.stderr.contains("over the limit of 0.50 CNY (--max-cost)"),
        "{}",
        r.stderr
    );
    // A cost of unknown amount cannot be kept under a limit, unless the user allows it.
    let r = wan26(&t, &["--max-cost", "5 CNY"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("no known cost") && r.stderr.contains("--allow-unknown-cost"),
        "{}",
        r.stderr
    );
    // A limit without a unit is refused by name.
    let r = happyhorse(&t, &["--max-cost", "5"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid `--max-cost`"), "{}", r.stderr);
    assert_eq!(t.stats().create_attempts, 0, "nothing was sent");
    assert_eq!(
        kino(&t, &["list", "--json"])
            .json()
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // Within the limit it runs; an allowed unknown cost runs too.
    let r = happyhorse(&t, &["--max-cost", "0.70 CNY"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let allowed = wan26(&t, &["--max-cost", "5 CNY", "--allow-unknown-cost"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert_eq!(t.stats().creates, 2);
}

#[test]
fn what_each_job_cost_is_recorded_and_summed_by_day_provider_and_model() {
    let t = ctx();
    let first = happyhorse(&t, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(happyhorse(&t, &[]).code, 0);
    let r = wan26(&t, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Each job carries its own two figures, in the run's answer and in `kino status`.
    let job = first.json();
    assert_eq!(
        (&job["estimate"]["cost"], &job["charged"]["cost"]),
        (&Value::from("0.70 CNY"), &Value::from("0.70 CNY")),
        "{job}"
    );
    let id = job["job_id"].as_str().unwrap();
    let status = kino(&t, &["status", id]).json();
    assert_eq!(status["charged"], job["charged"], "{status}");
    let wan = r.json();
    assert_eq!(
        (&wan["estimate"]["cost"], &wan["charged"]["cost"]),
        (&Value::from("unknown"), &Value::from("unknown")),
        "{wan}"
    );
    let sv = [
        "run",
        "skillsvideo",
        "--json",
        "--model",
        "google/nano-banana-pro",
        "--param",
        "prompt=a red fox",
    ];
    let r = kino(&t, &sv);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = cost_doc(&t, "provider,model");
    let groups = doc["groups"].as_array().unwrap();
    let find = |model: &str| groups.iter().find(|g| g["model"] == model).unwrap().clone();
    let hh = find("happyhorse-1.0-t2v");
    assert_eq!(
        (hh["jobs"].as_u64(), hh["succeeded"].as_u64()),
        (Some(2), Some(2))
    );
    // The charge comes from the usage DashScope reported (5 s at SR 720).
    assert_eq!(hh["charged"][0]["text"], "1.40 CNY", "{hh}");
    let wan = find("wan2.6-t2v");
    assert_eq!(
        (
            wan["unknown"].as_u64(),
            wan["charged"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0)),
        "{wan}"
    );
    let banana = find("google/nano-banana-pro");
    assert_eq!(banana["provider"], "skillsvideo");
    let credits = banana["charged"][0]["text"].as_str().unwrap().to_string();
    assert!(credits.ends_with(" credits"), "{banana}");
    assert_eq!(doc["total"]["jobs"], 4);
    assert_eq!(
        doc["total"]["charged"].as_array().map(Vec::len),
        Some(2),
        "CNY and credits stay apart"
    );
    // By day: one group today.
    let by_day = cost_doc(&t, "day");
    assert_eq!(by_day["groups"].as_array().map(Vec::len), Some(1));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(by_day["groups"][0]["day"], today.as_str());
    // A skills.video model with no price learns what the platform charged last time.
    let mut dry = sv.to_vec();
    dry.push("--dry-run");
    let e = kino(&t, &dry).json()["estimate"].clone();
    assert_eq!(e["cost"].as_str(), Some(credits.as_str()), "{e}");
    assert!(
        e["basis"]
            .as_str()
            .unwrap()
            .contains("the last 1 google/nano-banana-pro job"),
        "{e}"
    );
    // Regression: a request for more than one result was priced as one ordinary job, so a
    // limit let four images through at the price of one. It is unknown instead.
    let mut four = dry.clone();
    four.extend(["--param", "n=4"]);
    let e = kino(&t, &four).json()["estimate"].clone();
    assert_eq!(e["cost"], "unknown", "{e}");
    // The human table names the columns and the unknown one.
    let human = kino(&t, &["cost", "--by", "model"]);
    assert_eq!(human.code, 0);
    assert!(
        human.stdout.contains("charged") && human.stdout.contains("1.40 CNY"),
        "{}",
        human.stdout
    );
    let bad = kino(&t, &["cost", "--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid `--since`"), "{}", bad.stderr);
}

#[test]
fn a_profiles_limit_refuses_a_run_as_the_command_lines_does() {
    let t = ctx();
    std::fs::write(
        t.work_path("kino.toml"),
        "[profiles.cheap]\nmax_cost = \"0.5 CNY\"\n[profiles.cheap.dashscope]\napi_key_env = \"DASHSCOPE_API_KEY\"\n",
    )
    .unwrap();
    let r = happyhorse(&t, &["--profile", "cheap"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("over the limit of 0.50 CNY (profile cheap)"),
        "{}",
        r.stderr
    );
    assert_eq!(t.stats().create_attempts, 0);
    // Outside the profile the limit does not apply.
    assert_eq!(happyhorse(&t, &[]).code, 0);
}

/// The service keeps the same limits: `POST /v1/estimate`, `max_cost` on `POST /v1/jobs`, and
/// the profile it was started with.
#[test]
fn the_service_estimates_and_keeps_the_limits_of_the_call_and_of_its_profile() {
    use super::serve::{post, serve};
    let t = ctx();
    std::fs::write(
        t.work_path("kino.toml"),
        "[profiles.cheap]\nmax_cost = \"1 CNY\"\n[profiles.cheap.dashscope]\napi_key_env = \"DASHSCOPE_API_KEY\"\n",
    )
    .unwrap();
    let s = serve(&t, &[("KINO_PROFILE", "cheap")]);
    let job = |extra: Value| {
        let mut body = serde_json::json!({"provider": "dashscope", "prompt": "a fox",
            "model": "happyhorse-1.0-t2v", "request": {"resolution": "720P", "duration": 5}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let (code, doc) = post(&t, &format!("{}/estimate", s.base), job(Value::Null));
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["estimate"]["cost"], "0.70 CNY", "{doc}");
    let (code, doc) = post(
        &t,
        &format!("{}/jobs", s.base),
        job(serde_json::json!({"max_cost": ["0.5 CNY"]})),
    );
    assert_eq!(code, 400, "{doc}");
    assert!(
        doc.to_string()
            .contains("over the limit of 0.50 CNY (max_cost)"),
        "{doc}"
    );
    let (code, doc) = post(
        &t,
        &format!("{}/jobs", s.base),
        job(serde_json::json!({"max_cost": ["cheap"]})),
    );
    assert_eq!(code, 400, "{doc}");
    assert!(doc.to_string().contains("invalid `max_cost`"), "{doc}");
    // 10 s is 1.40 CNY: over the profile's own limit, with nothing in the call.
    let mut long = job(Value::Null);
    long["request"]["duration"] = serde_json::json!(10);
    let (code, doc) = post(&t, &format!("{}/jobs", s.base), long);
    assert_eq!(code, 400, "{doc}");
    assert!(doc.to_string().contains("(profile cheap)"), "{doc}");
    // Regression: a caller's allow_unknown_cost lifted the profile's limit for a model of
    // unknown cost. The profile's limit is the operator's: it stays.
    let unknown = serde_json::json!({"provider": "dashscope", "prompt": "a fox",
        "model": "wan2.6-t2v", "allow_unknown_cost": true});
    let (code, doc) = post(&t, &format!("{}/jobs", s.base), unknown);
    assert_eq!(code, 400, "{doc}");
    assert!(doc.to_string().contains("unknown"), "{doc}");
    assert_eq!(t.stats().create_attempts, 0);
    let (code, doc) = post(&t, &format!("{}/jobs", s.base), job(Value::Null));
    assert_eq!(code, 201, "{doc}");
}
